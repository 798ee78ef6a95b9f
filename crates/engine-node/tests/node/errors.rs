//! The errors a user hits, each one paragraph on stderr with the fix, exit code ≠ 0, no
//! panic and no backtrace.

use crate::harness::{Node, assert_failed, base_args, devnet, http_get, scripted_devnet};
use engine_testkit::ElPorts;
use engine_testkit::{
    Recording,
    fixtures::{GenesisBuilder, JwtFiles},
};
use engine_types::constants::CHAIN_ID_MAIN;
use std::path::Path;

fn external(dir: &Path, url: &str, jwt: &Path) -> Vec<String> {
    let mut args = base_args(dir);
    args.extend([
        "--engine-url".to_string(),
        url.to_string(),
        "--jwt-secret".to_string(),
        jwt.display().to_string(),
    ]);
    args
}

/// A loopback URL that refuses connections: its port is bound but not listening, and stays
/// reserved (no other test can take it) while the returned socket lives.
fn closed_url() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (format!("http://{}", socket.local_addr().unwrap()), socket)
}

/// A JWT secret file that is missing, too short or not hex is named with its problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jwt_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = JwtFiles::random().unwrap();
    let cases = [
        (files.dir().join("missing.hex"), vec!["does not exist", "--jwt-secret"]),
        (files.short(), vec!["62 hex characters", "exactly 64 hex characters"]),
        (files.non_hex(), vec!["non-hex characters", "openssl rand -hex 32"]),
    ];
    for (path, words) in cases {
        let (status, stderr, _) =
            Node::spawn(&external(dir.path(), "http://127.0.0.1:8551", &path)).exit().await;
        assert_failed(status, &stderr, &words);
        assert_eq!(status.code(), Some(2));
    }
}

/// An unreachable client fails at once with --fail-fast, and without it is retried with a
/// countdown until Ctrl-C/SIGTERM, which exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_client() {
    let dir = tempfile::tempdir().unwrap();
    let files = JwtFiles::random().unwrap();
    let (url, _reserved) = closed_url();
    let mut args = external(dir.path(), &url, &files.valid());
    args.push("--fail-fast".into());
    let (status, stderr, _) = Node::spawn(&args).exit().await;
    assert_failed(status, &stderr, &["unreachable", &url, "Connection refused"]);

    let mut node = Node::spawn(&external(dir.path(), &url, &files.valid()));
    let operator = node.logged_addr("operator server listening").await;
    node.wait_for_line("a countdown", |l| l.contains("retrying in")).await;
    assert_eq!(http_get(operator, "/healthz").await.0, 200, "the process is up");
    let (code, why) = http_get(operator, "/readyz").await;
    assert_eq!(code, 503, "{why}");
    assert!(why.contains("not ready"), "{why}");
    node.terminate();
    let (status, stderr, _) = node.exit().await;
    assert!(status.success(), "{status}: {stderr}");
}

/// A client that refuses our JWT is reported as a secret mismatch (its `Date` header shows
/// the clocks agree, so the secrets are the cause).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_with_another_secret() {
    let el = devnet().await;
    let dir = tempfile::tempdir().unwrap();
    let other = JwtFiles::random().unwrap();
    let (status, stderr, _) =
        Node::spawn(&external(dir.path(), &el.engine_url(), &other.valid())).exit().await;
    assert_failed(status, &stderr, &["HTTP 401", "the JWT secrets differ (the clocks agree"]);
}

/// A client on another chain than the genesis says is refused with both chain ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_on_another_chain() {
    let el = devnet().await;
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    GenesisBuilder::new(CHAIN_ID_MAIN).write(&genesis).unwrap();
    let mut args = external(&dir.path().join("data"), &el.engine_url(), &el.jwt_secret_path());
    args.extend(["--genesis".to_string(), genesis.display().to_string()]);
    let (status, stderr, _) = Node::spawn(&args).exit().await;
    assert_failed(status, &stderr, &["runs chain id 121212", "says 727272", "--genesis"]);
}

/// A port in use is named with the flag that moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr, _) = Node::spawn(&[
        "--metrics-addr",
        &addr,
        "--tx-addr",
        "127.0.0.1:0",
        "--data-dir",
        &dir.path().display().to_string(),
    ])
    .exit()
    .await;
    assert_failed(status, &stderr, &["already in use", &addr, "--metrics-addr"]);
}

/// A corrupt state file stops the start with the way out; --start-fresh takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = engine_actor::persist::STATE_FILE_NAME;
    std::fs::write(dir.path().join(state), "AESTLOG1RCRD\x05").unwrap();
    let args = base_args(dir.path());
    let (status, stderr, _) = Node::spawn(&args).exit().await;
    assert_failed(status, &stderr, &["is corrupt", state, "--start-fresh"]);

    let mut fresh = args;
    fresh.extend(["--start-fresh", "--blocks", "1", "--slot-time", "100ms"].map(String::from));
    let (status, stderr, _) = Node::spawn(&fresh).exit().await;
    assert!(status.success(), "{status}: {stderr}");
    assert!(dir.path().join(format!("{state}.corrupt")).exists());
}

/// The client starts refusing the JWT on every getPayload (`EngineError::Auth`). For the
/// Chain a refusal is not fatal (a flapping clock must not restart the tree at every slot):
/// each slot fails and the next tries again, until `MAX_FAILED_SLOTS` (5) slots in a row
/// produced no block; then the Chain actor stops with that, naming the last error. Its
/// supervisor restarts it with the engine (one-for-all) until the `[supervision]` limit,
/// the root gives up, and the node exits 3 with one paragraph naming the actor and the
/// cause. (Upchecks every 200 ms: the pool finds the endpoint answering again sooner, so
/// the next slot meets the refusal sooner.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_that_keep_failing_exit_past_the_restart_limit() {
    let (el, script) = scripted_devnet(Recording::Off).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("engine.toml");
    std::fs::write(
        &config,
        "[supervision.intensity]\nmax_restarts = 1\nwithin = \"1m\"\n\
         [supervision.backoff]\ninitial = \"10ms\"\n\
         [engine.health]\nupcheck_interval = \"200ms\"\n",
    )
    .unwrap();
    let mut args = external(&dir.path().join("data"), &el.engine_url(), &el.jwt_secret_path());
    args.extend(
        ["--slot-time", "100ms", "--config", &config.display().to_string()].map(String::from),
    );
    let mut node = Node::spawn(&args);
    node.wait_for_line("block 2", |l| crate::harness::block_numbers(&[l.to_string()]) == [2]).await;
    script.fail_next("engine_getPayloadV2", engine_testkit::Fault::HttpStatus(401), 100_000);
    let (status, stderr, lines) = node.exit().await;
    assert_failed(
        status,
        &stderr,
        &[
            "the ChainActor kept failing past the restart limits",
            "5 slots in a row produced no block",
            "the last failed at stage build",
            "refused authentication",
            "[supervision]",
        ],
    );
    assert_eq!(status.code(), Some(3), "{stderr}");
    let restarts = lines.iter().filter(|l| l.contains("ChainActor failed; restarting it")).count();
    assert!(restarts >= 1, "restarted before giving up: {lines:#?}");
}
