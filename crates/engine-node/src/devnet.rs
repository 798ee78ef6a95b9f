//! The embedded devnet execution layer: engine-devnet's revm devnet served on loopback ports
//! with a fresh JWT secret, keeping its own journal in the data directory
//! ([`JOURNAL_FILE_NAME`]): like a real client, it writes every block it accepts before it
//! answers `newPayload`, and a restarted node finds it at the block and head it had, so the
//! engine never needs it to go back (which it would refuse, as Geth does).
//!
//! A data directory from before the journal holds the devnet's blocks in the node's store
//! (the Chain stored each before committing it). At the first start on it they move into
//! the journal, once, keeping what the engine may have seen:
//!
//! ```text
//!  stored 1 … h (h = the engine's head)  ──> replayed (the engine committed them)
//!  stored h+1 = the engine's in-flight build ──> replayed too: the crash may have come
//!        after the devnet made it its head and before the engine wrote its state; the
//!        engine finds the devnet ahead and adopts it, recording the peg-ins it minted
//!  anything else above h ───────────────> dropped (no commit of it finished)
//! ```
//!
//! and then leave the store, which keeps only receipts summaries from then on.

use crate::{
    error::NodeError,
    store::{ExecutionStore, StoredBlock},
};
use alloy_genesis::Genesis;
use engine_actor::persist::PersistedState;
use engine_devnet::rpc_server::ElPorts;
use engine_devnet::{DevnetConfig, DevnetEl, JOURNAL_FILE_NAME, Retention};
use engine_types::engine::ForkchoiceState;
use std::path::Path;

/// Blocks a head may lag the devnet's tip (a branch being imported) on top of what the
/// index recovery reads.
const HEAD_LAG_BLOCKS: u64 = 256;

/// What the devnet keeps of its past when the engine searches `index_recovery_depth` blocks
/// back for the withdrawal index, the furthest the engine reads: that many blocks plus
/// [`HEAD_LAG_BLOCKS`], and the devnet's default states.
pub(crate) fn retention(index_recovery_depth: u64) -> Retention {
    Retention {
        history_blocks: index_recovery_depth.saturating_add(HEAD_LAG_BLOCKS),
        ..Retention::default()
    }
}

/// Starts the devnet on `genesis` with its journal in `data_dir`, keeping history for an
/// engine whose index recovery searches `index_recovery_depth` blocks back; blocks a data
/// directory from before the journal holds in `store` move into it (see the module docs;
/// `engine` is the engine's persisted state, if any).
pub(crate) async fn start(
    genesis: Genesis,
    index_recovery_depth: u64,
    store: &ExecutionStore,
    data_dir: &Path,
    engine: Option<&PersistedState>,
) -> Result<DevnetEl, NodeError> {
    let mut config = DevnetConfig::new(genesis);
    config.retention = retention(index_recovery_depth);
    config.data_dir = Some(data_dir.to_path_buf());
    let el = DevnetEl::start(config).await.map_err(|e| match e {
        engine_devnet::DevnetError::Journal { .. } => {
            NodeError::CorruptState { dir: data_dir.to_path_buf(), reason: e.to_string() }
        }
        other => NodeError::Devnet { reason: other.to_string() },
    })?;
    let mut blocks = store.legacy_blocks()?;
    if !blocks.is_empty() {
        blocks.truncate(replayable(&blocks, engine));
        if !blocks.is_empty() {
            replay(&el, &blocks).map_err(|reason| NodeError::CorruptState {
                dir: data_dir.to_path_buf(),
                reason: format!("{}: {reason}", store.path().display()),
            })?;
        }
        let dropped = store.drop_legacy_blocks()?;
        tracing::warn!(
            moved = blocks.len(),
            dropped = dropped - blocks.len(),
            journal = JOURNAL_FILE_NAME,
            "blocks of an earlier version moved into the devnet's journal"
        );
    }
    tracing::info!(
        engine = %el.engine_url(),
        public = %el.public_url(),
        chain_id = el.chain_id(),
        genesis = %el.genesis_hash(),
        head = el.head().number,
        "embedded devnet execution layer started"
    );
    Ok(el)
}

/// How many of the stored `blocks` (numbers 1, 2, …) to replay: all of them without engine
/// state; otherwise those up to the engine's head, and the block above it when it is the
/// engine's in-flight build (see the module docs).
fn replayable(blocks: &[StoredBlock], engine: Option<&PersistedState>) -> usize {
    let Some(state) = engine.filter(|s| !s.heads.head.is_unset()) else { return blocks.len() };
    let head = state.heads.head.number;
    let in_flight = state.in_flight.as_ref().map(|f| f.block);
    blocks.iter().take_while(|b| b.number <= head || Some(b.hash) == in_flight).count()
}

/// Re-executes `blocks` (numbers 1, 2, … in order, each on the previous; the devnet writes
/// each to its journal) and makes the last one the devnet's head.
fn replay(el: &DevnetEl, blocks: &[StoredBlock]) -> Result<(), String> {
    el.with_mut(|devnet| {
        let mut parent = devnet.genesis_hash();
        for (i, block) in blocks.iter().enumerate() {
            let expected = i as u64 + 1;
            if block.number != expected {
                return Err(format!(
                    "block {expected} is missing (found {} instead)",
                    block.number
                ));
            }
            if block.payload.parent_hash() != parent {
                return Err(format!(
                    "block {} does not extend {parent} (stored for another genesis?)",
                    block.number
                ));
            }
            devnet
                .reimport(block.payload.clone(), block.parent_beacon_block_root)
                .map_err(|why| format!("block {} {why}", block.number))?;
            parent = block.hash;
        }
        devnet.reapply_forkchoice(ForkchoiceState {
            head_block_hash: parent,
            safe_block_hash: Default::default(),
            finalized_block_hash: Default::default(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_actor::{
        heads::{BlockRef, ForkchoiceHeads},
        persist::InFlight,
    };
    use engine_types::{
        engine::{ExecutionPayload, ExecutionPayloadV1, ExecutionPayloadV2},
        primitives::{Address, B256, Bloom, Bytes, U256},
    };

    fn hash(n: u64) -> B256 {
        B256::with_last_byte(n as u8)
    }

    fn stored(n: u64) -> StoredBlock {
        let payload = ExecutionPayload::V2(ExecutionPayloadV2 {
            payload_inner: ExecutionPayloadV1 {
                parent_hash: hash(n - 1),
                fee_recipient: Address::ZERO,
                state_root: B256::ZERO,
                receipts_root: B256::ZERO,
                logs_bloom: Bloom::default(),
                prev_randao: B256::ZERO,
                block_number: n,
                gas_limit: 30_000_000,
                gas_used: 0,
                timestamp: n,
                extra_data: Bytes::new(),
                base_fee_per_gas: U256::from(7),
                block_hash: hash(n),
                transactions: Vec::new(),
            },
            withdrawals: Vec::new(),
        });
        StoredBlock::new(payload, &engine_types::engine::ExecutionPayloadSidecar::none())
    }

    /// Without engine state every stored block is replayed; with it, those up to its head
    /// and, above, only its in-flight build (it may have reached the devnet before the
    /// crash); another block above the head never reached anyone.
    #[test]
    fn replays_what_the_engine_may_have_seen() {
        let blocks: Vec<StoredBlock> = (1..=4).map(stored).collect();
        assert_eq!(replayable(&blocks, None), 4);
        let mut state = PersistedState::new(ForkchoiceHeads {
            head: BlockRef::new(hash(2), 2, 2),
            ..ForkchoiceHeads::default()
        });
        assert_eq!(replayable(&blocks, Some(&state)), 2);
        let in_flight = |block| Some(InFlight { block, parent: hash(2), peg_ins: Vec::new() });
        state.in_flight = in_flight(hash(3));
        assert_eq!(replayable(&blocks, Some(&state)), 3);
        state.in_flight = in_flight(B256::repeat_byte(0x33));
        assert_eq!(replayable(&blocks, Some(&state)), 2, "a later build, never stored");
        state.heads.head = BlockRef::default();
        assert_eq!(replayable(&blocks, Some(&state)), 4, "no head yet: a fresh engine");
    }

    /// The devnet keeps every block the engine's index recovery reads, plus the head's lag,
    /// and any depth the settings accept gives a retention the devnet runs with.
    #[test]
    fn keeps_what_the_index_recovery_reads() {
        use crate::settings::{DEVNET_INDEX_RECOVERY_DEPTH, MAX_INDEX_RECOVERY_DEPTH};
        for depth in [0, DEVNET_INDEX_RECOVERY_DEPTH, MAX_INDEX_RECOVERY_DEPTH] {
            let kept = retention(depth);
            assert_eq!(kept.history_blocks, depth + HEAD_LAG_BLOCKS);
            assert!(kept.validate().is_ok(), "depth {depth}");
        }
    }
}
