//! Execution clients going away while the node runs.

use crate::harness::{
    Node, base_args, block_numbers, devnet, scripted_devnet, stop_cleanly, terminate_cleanly,
};
use engine_testkit::ElPorts;
use engine_testkit::{Recording, Restart, devnet::DevnetEl};

fn flags(els: &[&DevnetEl]) -> Vec<String> {
    let join =
        |f: &dyn Fn(&DevnetEl) -> String| els.iter().map(|e| f(e)).collect::<Vec<_>>().join(",");
    vec![
        "--engine-url".into(),
        join(&|e| e.engine_url()),
        "--public-url".into(),
        join(&|e| e.public_url()),
        "--jwt-secret".into(),
        join(&|e| e.jwt_secret_path().display().to_string()),
        "--slot-time".into(),
        "100ms".into(),
    ]
}

/// The only client goes down: slots produce nothing (and say so) without the node exiting;
/// when it comes back, production resumes with the next block, no number skipped or repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_pauses_while_the_client_is_down() {
    let el = devnet().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(flags(&[&el]));
    let mut node = Node::spawn(&args);
    node.wait_for_line("block 2", |l| block_numbers(&[l.to_string()]) == [2]).await;
    el.server().go_down().await;
    node.wait_for_line("a slot without a block", |l| {
        l.contains("slot produced no block") || l.contains("waiting for the engine")
    })
    .await;
    let down_at = el.head().number;
    el.server().come_back(Restart::KeepChain).await.unwrap();
    node.wait_for_line("a block after the outage", |l| {
        block_numbers(&[l.to_string()]).first().is_some_and(|n| *n > down_at + 1)
    })
    .await;
    terminate_cleanly(node).await;
}

/// Two clients, best first: when the primary goes down the standby, kept on the same head by
/// the commit fan-out, takes over and blocks keep coming; Ctrl-C (SIGINT) then stops the
/// node cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over() {
    let (primary, standby) = (devnet().await, devnet().await);
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(flags(&[&primary, &standby]));
    let mut node = Node::spawn(&args);
    node.wait_for_line("block 3", |l| block_numbers(&[l.to_string()]) == [3]).await;
    primary.server().go_down().await;
    let down_at = primary.head().number;
    node.wait_for_line("blocks from the standby", |l| {
        block_numbers(&[l.to_string()]).first().is_some_and(|n| *n >= down_at + 3)
    })
    .await;
    let (_, lines) = stop_cleanly(node, "INT").await;
    assert!(lines.iter().any(|l| l.contains("SIGINT")), "Ctrl-C stops it like SIGTERM");
    assert!(standby.head().number >= down_at + 3);
}

/// Errors worth retrying (HTTP 503 from getPayload, beyond the client's own retries) cost
/// slots, not the Chain actor: nothing is restarted and blocks keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_errors_keep_producing() {
    let (el, script) = scripted_devnet(Recording::Off).await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(flags(&[&el]));
    let mut node = Node::spawn(&args);
    node.wait_for_line("block 2", |l| block_numbers(&[l.to_string()]) == [2]).await;
    script.fail_next("engine_getPayloadV2", engine_testkit::Fault::HttpStatus(503), 5);
    node.wait_for_line("a slot failed with a retry error", |l| {
        l.contains("slot produced no block") && l.contains("severity=Retry")
    })
    .await;
    let failed_at = el.head().number;
    node.wait_for_line("blocks after the errors", |l| {
        block_numbers(&[l.to_string()]).first().is_some_and(|n| *n >= failed_at + 2)
    })
    .await;
    let (_, lines) = terminate_cleanly(node).await;
    assert!(!lines.iter().any(|l| l.contains("restarting it")), "no actor restarted");
}
