//! Forkchoice heads as the engine tracks them: each hash with the number and timestamp the
//! engine needs for metrics, version choice and the "finalized never regresses" rule.

use engine_types::{engine::ForkchoiceState, primitives::B256};
use serde::{Deserialize, Serialize};

/// A block the engine refers to: hash, number and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct BlockRef {
    /// The block hash (zero for "none yet", as the Engine API spells it).
    pub hash: B256,
    /// The block number.
    pub number: u64,
    /// The block timestamp (selects the Engine API version of calls about it).
    pub timestamp: u64,
}

impl BlockRef {
    /// A block reference.
    pub const fn new(hash: B256, number: u64, timestamp: u64) -> Self {
        Self { hash, number, timestamp }
    }

    /// The block an EL's header describes.
    pub const fn of(header: &alloy_rpc_types_eth::Header) -> Self {
        Self::new(header.hash, header.inner.number, header.inner.timestamp)
    }

    /// Whether this is the zero hash ("no block yet").
    pub fn is_unset(&self) -> bool {
        self.hash.is_zero()
    }
}

/// Head, safe and finalized: the forkchoice state the engine alone writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ForkchoiceHeads {
    /// The canonical head.
    pub head: BlockRef,
    /// The safe block (zero before the chain has one).
    pub safe: BlockRef,
    /// The finalized block (zero before the chain has one).
    pub finalized: BlockRef,
}

impl ForkchoiceHeads {
    /// The Engine API forkchoice state for these heads.
    pub const fn state(&self) -> ForkchoiceState {
        ForkchoiceState {
            head_block_hash: self.head.hash,
            safe_block_hash: self.safe.hash,
            finalized_block_hash: self.finalized.hash,
        }
    }

    /// These heads with a different head block.
    #[must_use]
    pub const fn with_head(mut self, head: BlockRef) -> Self {
        self.head = head;
        self
    }

    /// These heads with a newer finalized block; the safe block follows it when it was
    /// older (safe is never behind finalized).
    #[must_use]
    pub fn with_finalized(mut self, finalized: BlockRef) -> Self {
        self.finalized = finalized;
        if self.safe.is_unset() || self.safe.number < finalized.number {
            self.safe = finalized;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forkchoice state sent to the EL carries exactly the three tracked hashes.
    #[test]
    fn state_carries_the_three_hashes() {
        let heads = ForkchoiceHeads {
            head: BlockRef::new(B256::repeat_byte(3), 3, 30),
            safe: BlockRef::new(B256::repeat_byte(2), 2, 20),
            finalized: BlockRef::new(B256::repeat_byte(1), 1, 10),
        };
        let state = heads.state();
        assert_eq!(state.head_block_hash, B256::repeat_byte(3));
        assert_eq!(state.safe_block_hash, B256::repeat_byte(2));
        assert_eq!(state.finalized_block_hash, B256::repeat_byte(1));
        assert!(BlockRef::default().is_unset());
    }
}
