//! The main job: blocks on the embedded devnet, watched through the operator endpoints.

use crate::harness::{Node, base_args, block_numbers, http_get, metric};
use engine_testkit::ElPorts;
use redb::{ReadableDatabase, ReadableTable};

/// Twenty fast blocks: each has its progress line, /metrics counts them, /status and the
/// health endpoints answer, a peg-out reaches the Bridge actor, the actors run under the V2
/// supervision tree, the data directory holds the engine state and the execution database,
/// and SIGTERM then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_blocks_on_the_devnet() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(
        ["--blocks", "20", "--slot-time", "100ms", "--peg-out-every", "5", "--stay-up"]
            .map(String::from),
    );
    let mut node = Node::spawn(&args);
    let operator = node.logged_addr("operator server listening").await;
    node.wait_for_line("the block limit", |l| l.contains("block limit reached")).await;

    let (code, scrape) = http_get(operator, "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(metric(&scrape, "engine_node_blocks_total"), Some(20.0), "{scrape}");
    assert_eq!(metric(&scrape, "engine_actor_head_number"), Some(20.0), "{scrape}");
    assert!(scrape.contains("# HELP engine_node_blocks_total"), "described: {scrape}");
    assert!(scrape.contains("engine_node_peg_outs_total{kind=\"payable\"}"), "{scrape}");
    assert!(scrape.contains("# HELP engine_supervision_backoff_seconds"), "{scrape}");
    for (supervisor, child) in [
        ("ConsensusSupervisor", "ChainActor"),
        ("ConsensusSupervisor", "EngineActor"),
        ("BridgeSupervisor", "BridgeActor"),
        ("StorageSupervisor", "StorageActor"),
        ("NetworkSupervisor", "NetworkActor"),
    ] {
        let running = format!(
            "engine_supervision_backoff_seconds{{supervisor=\"{supervisor}\",child=\"{child}\"}} 0"
        );
        assert!(scrape.contains(&running), "{child} runs under {supervisor}: {scrape}");
    }
    assert_eq!(http_get(operator, "/healthz").await.0, 200);
    let (ready, why) = http_get(operator, "/readyz").await;
    assert_eq!(ready, 200, "{why}");
    let (code, status) = http_get(operator, "/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["heads"]["head"]["number"], 20, "{status}");
    assert_eq!(status["heads"]["finalized"]["number"], 20, "finalized every 4: {status}");

    node.terminate();
    let (exit, stderr, lines) = node.exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), (1..=20).collect::<Vec<_>>());
    assert!(lines.iter().any(|l| l.contains("peg-out requested")), "a peg-out reached the bridge");
    assert!(lines.iter().any(|l| l.contains("summary: 10 blocks")));
    assert!(lines.iter().any(|l| l.contains("AlysSystem (root)")), "the tree is logged");
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["chain-queue.log", "devnet-journal.redb", "engine-state.log", "execution.redb"]
    );
    // Storage has every block's receipts (the clean stop let the scans reach the head), and
    // the devnet's journal every block.
    let db = redb::Database::open(dir.path().join("execution.redb")).unwrap();
    let read = db.begin_read().unwrap();
    let table = read.open_table(redb::TableDefinition::<u64, &[u8]>::new("receipts")).unwrap();
    let numbers: Vec<u64> = table.iter().unwrap().map(|e| e.unwrap().0.value()).collect();
    assert_eq!(numbers, (1..=20).collect::<Vec<_>>(), "every block's receipts stored");
    let journal = redb::Database::open(dir.path().join("devnet-journal.redb")).unwrap();
    let read = journal.begin_read().unwrap();
    let blocks =
        read.open_table(redb::TableDefinition::<(u64, [u8; 32]), &[u8]>::new("blocks")).unwrap();
    let numbers: Vec<u64> = blocks.iter().unwrap().map(|e| e.unwrap().0.value().0).collect();
    assert_eq!(numbers, (1..=20).collect::<Vec<_>>(), "every block in the devnet's journal");
}

/// The flags that make the node drive `el` (a devnet the test serves, standing in for an
/// external client) with its data in `dir`, then `extra`.
fn driving(
    el: &engine_testkit::devnet::DevnetEl,
    dir: &std::path::Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args = base_args(dir);
    args.extend([
        "--engine-url".to_string(),
        el.engine_url(),
        "--public-url".to_string(),
        el.public_url(),
        "--jwt-secret".to_string(),
        el.jwt_secret_path().display().to_string(),
    ]);
    args.extend(extra.iter().map(|a| (*a).to_string()));
    args
}

/// With --engine-url the node drives an execution client it did not start (here a devnet
/// served by the test, standing in for Geth or Reth), which ends up with the blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drives_an_external_client_by_flag() {
    use engine_testkit::devnet::{DevnetConfig, DevnetEl, dev_genesis};
    let el = DevnetEl::start(DevnetConfig::new(
        dev_genesis(engine_types::ForkSchedule::default()).unwrap(),
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = driving(&el, dir.path(), &["--blocks", "3", "--slot-time", "100ms"]);
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [1, 2, 3]);
    assert!(!lines.iter().any(|l| l.contains("embedded devnet")), "no devnet of its own");
    assert_eq!(el.head().number, 3);
}

/// A client that never goes back to an older head (Geth's rule; Reth's -38006 below its
/// finality; the same with an `eth_syncing` that fails like EthereumJS without peers) got
/// ahead of the node's saved state: the node is restarted on a state file from two blocks
/// earlier, adopts the client's blocks and produces the next ones on top of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produces_after_a_client_that_never_rewinds_got_ahead_of_the_saved_state() {
    use engine_testkit::{
        AncestorPolicy, SyncingProbe,
        devnet::{DevnetConfig, DevnetEl, dev_genesis},
    };
    for (policy, syncing) in [
        (AncestorPolicy::Skip, SyncingProbe::Synced),
        (AncestorPolicy::TooDeepReorg, SyncingProbe::NoPeers),
    ] {
        let genesis = dev_genesis(engine_types::ForkSchedule::default()).unwrap();
        let config =
            DevnetConfig { ancestor_policy: policy, syncing, ..DevnetConfig::new(genesis) };
        let el = DevnetEl::start(config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let run = |blocks: &str| {
            let extra = ["--blocks", blocks, "--slot-time", "100ms", "--finalize-every", "2"];
            Node::spawn(&driving(&el, dir.path(), &extra)).exit()
        };
        let (exit, stderr, lines) = run("2").await;
        assert!(exit.success(), "{policy:?}: {exit}: {stderr}");
        assert_eq!(block_numbers(&lines), [1, 2], "{policy:?}");
        let state = dir.path().join(engine_actor::persist::STATE_FILE_NAME);
        let saved_at_two = std::fs::read(&state).unwrap();
        let (exit, stderr, _) = run("2").await;
        assert!(exit.success(), "{policy:?}: {exit}: {stderr}");
        assert_eq!(el.head().number, 4, "{policy:?}");
        std::fs::write(&state, saved_at_two).unwrap();

        let (exit, stderr, lines) = run("2").await;
        assert!(exit.success(), "{policy:?}: {exit}: {stderr}\n{}", lines.join("\n"));
        assert_eq!(block_numbers(&lines), [5, 6], "{policy:?}: {}", lines.join("\n"));
        assert_eq!(el.head().number, 6, "{policy:?}: the client was never sent back");
    }
}
