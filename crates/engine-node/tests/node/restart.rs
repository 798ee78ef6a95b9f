//! Stopping and starting again on the same data directory.

use crate::harness::{Node, base_args, block_numbers, terminate_cleanly};

/// SIGTERM in the middle of a run exits 0 after the slot in flight; a restart on the same
/// data directory continues with the next block, and `--blocks` alone ends a run with 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_then_restart_continues_from_the_next_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(["--slot-time", "100ms"].map(String::from));
    let mut node = Node::spawn(&args);
    node.wait_for_line("block 3", |l| block_numbers(&[l.to_string()]) == [3]).await;
    let (produced, lines) = terminate_cleanly(node).await;
    let last = *produced.last().unwrap();
    assert!(lines.iter().any(|l| l.contains("stopping") && l.contains("SIGTERM")));

    args.extend(["--blocks", "2"].map(String::from));
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [last + 1, last + 2]);
    assert!(lines.iter().any(|l| l.contains("devnet rebuilt from the stored blocks")));
}

/// Engine state ahead of the stored blocks (a stop between a commit and its write) is named
/// at start; --start-fresh sets the engine state aside and production restarts from what is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_state_ahead_of_the_stored_blocks() {
    let first = tempfile::tempdir().unwrap();
    let mut args = base_args(first.path());
    args.extend(["--slot-time", "100ms", "--blocks", "3"].map(String::from));
    let (exit, stderr, _) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");

    let second = tempfile::tempdir().unwrap();
    std::fs::copy(first.path().join("engine-state.json"), second.path().join("engine-state.json"))
        .unwrap();
    let mut args = base_args(second.path());
    args.extend(["--slot-time", "100ms", "--blocks", "1"].map(String::from));
    let (exit, stderr, _) = Node::spawn(&args).exit().await;
    crate::harness::assert_failed(
        exit,
        &stderr,
        &["is at block 3", "holds blocks up to 0", "--start-fresh"],
    );

    args.push("--start-fresh".into());
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [1]);
}
