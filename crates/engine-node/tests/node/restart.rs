//! Stopping and starting again on the same data directory.

use crate::harness::{Node, base_args, block_numbers, terminate_cleanly};
use redb::{ReadableDatabase, ReadableTable};

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
    assert!(
        lines.iter().any(|l| l.contains("embedded devnet execution layer started")
            && l.contains(&format!("head={last}"))),
        "the devnet came back from its journal at block {last}"
    );
}

/// A restart after more blocks than the devnet keeps in memory: its journal's checkpoint
/// took over from the genesis, the devnet comes back at its head, and production goes on.
/// (Before the checkpoints, the devnet re-executed every block with its head at the
/// genesis, pruning cut the head off, and the node refused to start past about
/// `index_recovery_depth + 256` blocks.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_more_blocks_than_the_devnet_keeps() {
    let dir = tempfile::tempdir().unwrap();
    // The devnet keeps index_recovery_depth + 256 blocks: 257 here.
    let config = dir.path().join("engine.toml");
    std::fs::write(&config, "[engine_actor]\nindex_recovery_depth = 1\n").unwrap();
    let mut args = base_args(&dir.path().join("data"));
    let config = config.display().to_string();
    args.extend(["--config", &config, "--slot-time", "1ms"].map(String::from));
    let first = [args.clone(), ["--blocks", "700"].map(String::from).to_vec()].concat();
    let (exit, stderr, _) = Node::spawn(&first).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");

    args.extend(["--blocks", "2"].map(String::from));
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [701, 702]);
    assert!(
        lines.iter().any(
            |l| l.contains("embedded devnet execution layer started") && l.contains("head=700")
        ),
        "the devnet came back from its checkpoint at block 700"
    );
}

/// Engine state ahead of the devnet's journal (files from different moments: a crash
/// cannot cause it) is named at start; --start-fresh sets the engine state aside and
/// production restarts from the devnet's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_state_ahead_of_the_devnet_journal() {
    let first = tempfile::tempdir().unwrap();
    let mut args = base_args(first.path());
    args.extend(["--slot-time", "100ms", "--blocks", "3"].map(String::from));
    let (exit, stderr, _) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");

    let second = tempfile::tempdir().unwrap();
    let state = engine_actor::persist::STATE_FILE_NAME;
    std::fs::copy(first.path().join(state), second.path().join(state)).unwrap();
    let mut args = base_args(second.path());
    args.extend(["--slot-time", "100ms", "--blocks", "1"].map(String::from));
    let (exit, stderr, _) = Node::spawn(&args).exit().await;
    crate::harness::assert_failed(
        exit,
        &stderr,
        &["is at block 3", "devnet-journal.redb", "comes back at block 0", "--start-fresh"],
    );

    args.push("--start-fresh".into());
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [1]);
    assert!(second.path().join(format!("{state}.corrupt")).exists(), "set aside by its name");
}

/// A data directory from before the devnet's journal (its blocks in `execution.redb`, no
/// journal) keeps its chain: the first start moves the blocks into the journal and goes on
/// with the next block; the store keeps no block afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_of_an_earlier_version_move_into_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(["--slot-time", "100ms", "--blocks", "3"].map(String::from));
    let (exit, stderr, _) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");

    // Rewrite the directory as the earlier version left it: the blocks in the store's
    // `blocks` table (by number, with hash and number beside the payload), no journal.
    let journal_path = dir.path().join("devnet-journal.redb");
    let blocks: Vec<(u64, [u8; 32], Vec<u8>)> = {
        let journal = redb::Database::open(&journal_path).unwrap();
        let read = journal.begin_read().unwrap();
        let table = read
            .open_table(redb::TableDefinition::<(u64, [u8; 32]), &[u8]>::new("blocks"))
            .unwrap();
        table
            .iter()
            .unwrap()
            .map(|e| {
                let (key, value) = e.unwrap();
                let (number, hash) = key.value();
                (number, hash, value.value().to_vec())
            })
            .collect()
    };
    assert_eq!(blocks.len(), 3);
    std::fs::remove_file(&journal_path).unwrap();
    {
        let store = redb::Database::create(dir.path().join("execution.redb")).unwrap();
        let write = store.begin_write().unwrap();
        {
            let mut table =
                write.open_table(redb::TableDefinition::<u64, &[u8]>::new("blocks")).unwrap();
            for (number, hash, journal_entry) in &blocks {
                let mut entry: serde_json::Value = serde_json::from_slice(journal_entry).unwrap();
                entry["hash"] = serde_json::json!(engine_types::primitives::B256::from(*hash));
                entry["number"] = serde_json::json!(number);
                table.insert(number, serde_json::to_vec(&entry).unwrap().as_slice()).unwrap();
            }
        }
        write.commit().unwrap();
    }

    args.pop();
    args.push("2".into());
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [4, 5], "the chain went on from block 3");
    assert!(lines.iter().any(|l| l.contains("moved into the devnet's journal")), "{lines:?}");
    let store = redb::Database::open(dir.path().join("execution.redb")).unwrap();
    let read = store.begin_read().unwrap();
    let table = read.open_table(redb::TableDefinition::<u64, &[u8]>::new("blocks")).unwrap();
    assert_eq!(redb::ReadableTableMetadata::len(&table).unwrap(), 0, "the store keeps no block");
}
