//! Endpoint URLs carry credentials in the wild (`user:password@`, `?token=`): the node
//! shows them only redacted, in its log, its errors and `/status`.

use crate::harness::{Node, assert_failed, base_args, http_get};
use engine_testkit::ElPorts;
use engine_testkit::{
    devnet::{DevnetConfig, DevnetEl, dev_genesis},
    fixtures::JwtFiles,
};
use engine_types::ForkSchedule;

/// The password every URL below carries.
const SECRET: &str = "hunter2";

/// A node driving a client whose URL has a secret in its query logs the endpoint by its
/// redacted URL at start ("execution client reachable"), and neither its log nor its
/// `/status` contain the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_log_hide_url_secrets() {
    let el = DevnetEl::start(DevnetConfig::new(dev_genesis(ForkSchedule::default()).unwrap()))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/?token={SECRET}", el.engine_url().trim_end_matches('/'));
    let mut args = base_args(dir.path());
    args.extend([
        "--engine-url".to_string(),
        url,
        "--public-url".to_string(),
        el.public_url(),
        "--jwt-secret".to_string(),
        el.jwt_secret_path().display().to_string(),
        "--slot-time".to_string(),
        "100ms".to_string(),
        "--blocks".to_string(),
        "2".to_string(),
        "--stay-up".to_string(),
    ]);
    let mut node = Node::spawn(&args);
    let operator = node.logged_addr("operator server listening").await;
    let reachable =
        node.wait_for_line("the start-up probe", |l| l.contains("client reachable")).await;
    assert!(reachable.contains("?***"), "the endpoint named by its redacted URL: {reachable}");
    node.wait_for_line("the block limit", |l| l.contains("block limit reached")).await;
    let (code, status) = http_get(operator, "/status").await;
    assert_eq!(code, 200, "{status}");
    assert!(status.contains("\"endpoints\""), "{status}");
    assert!(!status.contains(SECRET), "/status shows the secret: {status}");
    node.terminate();
    let (exit, stderr, lines) = node.exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    let leaked: Vec<_> = lines.iter().filter(|l| l.contains(SECRET)).collect();
    assert!(leaked.is_empty(), "log lines with the secret: {leaked:?}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

/// An unreachable client's `user:password@` URL is redacted in the retry warning and in the
/// `--fail-fast` error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_url_credentials_are_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let files = JwtFiles::random().unwrap();
    // Bound, not listening: connections are refused while it lives.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let url = format!("http://alys:{SECRET}@127.0.0.1:{port}/?key={SECRET}");
    let mut args = base_args(dir.path());
    args.extend([
        "--engine-url".to_string(),
        url,
        "--jwt-secret".to_string(),
        files.valid().display().to_string(),
    ]);
    let mut node = Node::spawn(&args);
    let warning = node.wait_for_line("the retry warning", |l| l.contains("unreachable")).await;
    assert!(warning.contains(&format!("http://***@127.0.0.1:{port}/?***")), "{warning}");
    node.terminate();
    let (exit, stderr, lines) = node.exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert!(!lines.iter().any(|l| l.contains(SECRET)), "{lines:?}");
    args.push("--fail-fast".to_string());
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert_failed(exit, &stderr, &["unreachable", "http://***@127.0.0.1"]);
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert!(!lines.iter().any(|l| l.contains(SECRET)), "{lines:?}");
}
