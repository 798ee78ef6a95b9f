//! The bounded buffer of recently committed payloads, replayed to a standby that missed them.

use engine_types::{
    engine::{ExecutionPayload, ExecutionPayloadSidecar},
    primitives::B256,
};
use std::{collections::VecDeque, sync::Arc};

/// A committed payload and the fields that travel beside it.
#[derive(Debug, Clone)]
pub struct RecentPayload {
    /// The payload.
    pub payload: ExecutionPayload,
    /// Its Cancun/Prague sidecar.
    pub sidecar: ExecutionPayloadSidecar,
}

impl RecentPayload {
    fn hash(&self) -> B256 {
        self.payload.block_hash()
    }
}

/// The last `capacity` committed payloads, oldest first.
#[derive(Debug)]
pub(crate) struct RecentPayloads {
    capacity: usize,
    entries: VecDeque<Arc<RecentPayload>>,
}

impl RecentPayloads {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: VecDeque::new() }
    }

    /// Remembers a payload (once), evicting the oldest beyond the capacity.
    pub(crate) fn push(&mut self, entry: RecentPayload) {
        let hash = entry.hash();
        if self.entries.iter().any(|e| e.hash() == hash) {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(Arc::new(entry));
    }

    /// The chain of remembered ancestors ending at `tip`, oldest first, stopping after
    /// `known` (a block the standby already has) or where the buffer runs out.
    pub(crate) fn chain_to(&self, tip: B256, known: Option<B256>) -> Vec<Arc<RecentPayload>> {
        let mut chain = Vec::new();
        let mut next = tip;
        while Some(next) != known {
            let Some(entry) = self.entries.iter().rev().find(|e| e.hash() == next) else { break };
            chain.push(Arc::clone(entry));
            next = entry.payload.parent_hash();
            if chain.len() >= self.capacity {
                break;
            }
        }
        chain.reverse();
        chain
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::engine::ExecutionPayloadV1;

    fn block(n: u8) -> RecentPayload {
        let mut p = ExecutionPayloadV1 {
            parent_hash: B256::repeat_byte(n.wrapping_sub(1)),
            fee_recipient: Default::default(),
            state_root: B256::ZERO,
            receipts_root: B256::ZERO,
            logs_bloom: Default::default(),
            prev_randao: B256::ZERO,
            block_number: u64::from(n),
            gas_limit: 0,
            gas_used: 0,
            timestamp: u64::from(n),
            extra_data: Default::default(),
            base_fee_per_gas: Default::default(),
            block_hash: B256::repeat_byte(n),
            transactions: vec![],
        };
        p.block_hash = B256::repeat_byte(n);
        RecentPayload { payload: ExecutionPayload::V1(p), sidecar: ExecutionPayloadSidecar::none() }
    }

    fn numbers(chain: &[Arc<RecentPayload>]) -> Vec<u64> {
        chain.iter().map(|e| e.payload.block_number()).collect()
    }

    /// The chain walks parent links back to the standby's head, oldest first.
    #[test]
    fn chain_stops_at_the_known_head() {
        let mut r = RecentPayloads::new(8);
        for n in 1..=5 {
            r.push(block(n));
        }
        assert_eq!(
            numbers(&r.chain_to(B256::repeat_byte(5), Some(B256::repeat_byte(2)))),
            [3, 4, 5]
        );
        assert_eq!(numbers(&r.chain_to(B256::repeat_byte(4), None)), [1, 2, 3, 4]);
        assert!(r.chain_to(B256::repeat_byte(9), None).is_empty());
    }

    /// The buffer keeps only the newest `capacity` payloads, and each once.
    #[test]
    fn bounded_and_deduplicated() {
        let mut r = RecentPayloads::new(3);
        for n in 1..=5 {
            r.push(block(n));
            r.push(block(n));
        }
        assert_eq!(r.len(), 3);
        assert_eq!(numbers(&r.chain_to(B256::repeat_byte(5), None)), [3, 4, 5]);
    }
}
