//! The embedded devnet execution layer: the testkit's revm devnet served on loopback ports
//! with a fresh JWT secret, rebuilt at start from the blocks the Storage actor persisted, so
//! that a restarted node continues from the next block with the same data directory.

use crate::{
    error::NodeError,
    store::{ExecutionStore, StoredBlock},
};
use alloy_genesis::Genesis;
use engine_testkit::devnet::{DevnetConfig, DevnetEl};
use engine_types::{EngineMethod, ForkSchedule, StatusKind, engine::ForkchoiceState};
use std::path::Path;

/// Starts the devnet on `genesis` and replays the stored blocks into it.
pub(crate) async fn start(
    genesis: Genesis,
    forks: ForkSchedule,
    store: &ExecutionStore,
    data_dir: &Path,
) -> Result<DevnetEl, NodeError> {
    let el = DevnetEl::start(DevnetConfig::new(genesis))
        .await
        .map_err(|e| NodeError::Devnet { reason: e.to_string() })?;
    let blocks = store.blocks()?;
    if !blocks.is_empty() {
        replay(&el, &blocks, forks).map_err(|reason| NodeError::CorruptState {
            dir: data_dir.to_path_buf(),
            reason: format!("{}: {reason}", store.path().display()),
        })?;
        tracing::info!(blocks = blocks.len(), "devnet rebuilt from the stored blocks");
    }
    tracing::info!(
        engine = %el.engine_url(),
        public = %el.public_url(),
        chain_id = el.chain_id(),
        genesis = %el.genesis_hash(),
        "embedded devnet execution layer started"
    );
    Ok(el)
}

/// Re-executes `blocks` (numbers 1, 2, … in order, each on the previous) and makes the
/// last one the devnet's head.
fn replay(el: &DevnetEl, blocks: &[StoredBlock], forks: ForkSchedule) -> Result<(), String> {
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
            let version = forks.version_for(EngineMethod::NewPayload, block.payload.timestamp());
            let status = devnet
                .new_payload(version, block.payload.clone(), block.sidecar())
                .map_err(|e| format!("block {} was refused: {e:?}", block.number))?;
            if status.status != StatusKind::Valid {
                return Err(format!(
                    "block {} does not re-execute: {:?} {}",
                    block.number,
                    status.status,
                    status.validation_error.unwrap_or_default()
                ));
            }
            parent = block.hash;
        }
        let last = blocks.last().map(|b| (b.hash, b.payload.timestamp())).unwrap_or_default();
        let state = ForkchoiceState {
            head_block_hash: last.0,
            safe_block_hash: Default::default(),
            finalized_block_hash: Default::default(),
        };
        let version = forks.version_for(EngineMethod::ForkchoiceUpdated, last.1);
        let answer = devnet
            .forkchoice_updated(version, state, None)
            .map_err(|e| format!("forkchoice to the last block refused: {e:?}"))?;
        if answer.payload_status.status == StatusKind::Valid {
            Ok(())
        } else {
            Err(format!("forkchoice to the last block answered {:?}", answer.payload_status.status))
        }
    })
}
