//! What the devnet keeps of its past, and the pruning that enforces it.
//!
//! ```text
//!  number:  genesis … │ pruned │ blocks kept (history_blocks below the tip) ……… tip
//!                                          │ states kept ………………………………… tip
//!                                          └ the later of: max_states heights below
//!                                            the tip, states_below_finalized below
//!                                            the finalized block
//! ```
//!
//! - **Post-states** are the expensive part (each is a map of every account). A state is
//!   kept while its block is among the `max_states` highest heights *and* no more than
//!   `states_below_finalized` below the finalized block; so with finality the window
//!   follows the finalized block, and without it (a node that never finalizes) it still
//!   stops at `max_states`. The head's state is always kept. A pruned state reads as
//!   [`StateError::Pruned`](super::StateError::Pruned) (JSON-RPC -32000 with Reth's
//!   message), a payload on a parent without state is ACCEPTED and not executed (Geth's
//!   `newPayload`: "State not available, ignoring new payload"), and a forkchoice to a
//!   block without state is SYNCING.
//! - **Blocks** (header, transactions, receipts, withdrawals) are kept for `history_blocks`
//!   heights below the tip, on every branch: what `eth_getBlockBy*`, receipts, logs,
//!   `engine_getPayloadBodies*` and `BLOCKHASH` (256 back) read. The genesis block and the
//!   head are always kept.
//!
//! The window follows the *tip*, the highest block ever stored, rather than the head: a
//! client that imports payloads without ever moving the head (the node's replay at start)
//! must stay bounded too.

use super::Chain;
use crate::DevnetError;

/// How much of its past the devnet keeps in memory (see the module docs of `chain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// States kept below the finalized block (default 64: a reorg never reaches below the
    /// finalized block, so this is only slack).
    pub states_below_finalized: u64,
    /// Most heights with a state, counted down from the tip, finalized or not (default 128,
    /// Geth's `TriesInMemory`: the states a non-archive Geth keeps in memory).
    pub max_states: u64,
    /// Heights of blocks kept below the tip (default 8448: the engine's index recovery
    /// walks up to 8192 blocks back from its head, `engine-actor`'s
    /// `DEFAULT_INDEX_RECOVERY_DEPTH`, plus 256 for a head behind the tip). At least 256
    /// (the `BLOCKHASH` window) and at least `max_states`.
    ///
    /// With a disk it also bounds the journal: a checkpoint of the finalized block every
    /// `history_blocks` finalized blocks, and the blocks below the one before it deleted,
    /// so the journal holds, and a restart re-executes, about twice this many blocks plus
    /// those above the finalized block (the `journal` module's docs).
    pub history_blocks: u64,
}

/// The fewest heights of blocks a devnet may keep: what `BLOCKHASH` reads.
const MIN_HISTORY_BLOCKS: u64 = super::BLOCKHASH_WINDOW;

impl Default for Retention {
    fn default() -> Self {
        Self { states_below_finalized: 64, max_states: 128, history_blocks: 8192 + 256 }
    }
}

impl Retention {
    /// Refuses a retention the devnet cannot run with.
    pub fn validate(&self) -> Result<(), DevnetError> {
        let bad = |reason: String| Err(DevnetError::Limits { reason });
        if self.max_states == 0 {
            return bad("retention.max_states must be at least 1 (the head's state)".into());
        }
        if self.history_blocks < MIN_HISTORY_BLOCKS.max(self.max_states) {
            return bad(format!(
                "retention.history_blocks is {}, it must be at least {MIN_HISTORY_BLOCKS} \
                 (the BLOCKHASH window) and at least max_states ({})",
                self.history_blocks, self.max_states
            ));
        }
        Ok(())
    }

    /// The lowest height whose blocks are kept, with the tip at `tip`.
    const fn block_floor(&self, tip: u64) -> u64 {
        tip.saturating_sub(self.history_blocks)
    }

    /// The lowest height whose states are kept.
    fn state_floor(&self, tip: u64, finalized: Option<u64>) -> u64 {
        let by_count = (tip + 1).saturating_sub(self.max_states);
        let by_finality = finalized.map_or(0, |f| f.saturating_sub(self.states_below_finalized));
        by_count.max(by_finality)
    }
}

impl Chain {
    /// Drops the blocks and states the retention no longer keeps.
    pub(crate) fn prune(&mut self) {
        let head_number = self.head().number();
        let finalized = self.finalized().map(|b| b.number());
        let state_floor = self.retention.state_floor(self.tip, finalized);
        let head = self.head;
        self.states.retain(|hash, (number, _)| *number >= state_floor || *hash == head);

        let block_floor = self.retention.block_floor(self.tip);
        let kept = self.by_number.split_off(&block_floor);
        let below = std::mem::replace(&mut self.by_number, kept);
        for (number, hashes) in below {
            for hash in hashes {
                if hash == self.genesis || hash == self.head {
                    self.by_number.entry(number).or_default().push(hash);
                } else {
                    self.forget(hash);
                }
            }
        }
        // The canonical index never drops the head.
        while self.canonical_start < block_floor.min(head_number) && self.canonical.len() > 1 {
            self.canonical.pop_front();
            self.canonical_start += 1;
        }
    }

    /// Removes a block, its state and its transactions from the index.
    fn forget(&mut self, hash: alloy_primitives::B256) {
        self.states.remove(&hash);
        let Some(block) = self.blocks.remove(&hash) else { return };
        for t in &block.txs {
            let tx_hash = *t.tx.tx_hash();
            if let Some(at) = self.tx_index.get_mut(&tx_hash) {
                at.retain(|(b, _)| *b != hash);
                if at.is_empty() {
                    self.tx_index.remove(&tx_hash);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Devnet, PoolLimits,
        chain::MAX_INVALID,
        testing::{ETH, attributes, build, genesis, import, key, transfer, two_children},
    };
    use alloy_primitives::{Address, B256};
    use alloy_rpc_types_engine::ForkchoiceState;
    use engine_types::{ApiVersion, PayloadStatusWire, StatusKind};
    use serde_json::json;

    const SMALL: Retention =
        Retention { states_below_finalized: 2, max_states: 8, history_blocks: 256 };

    fn devnet(retention: Retention) -> Devnet {
        Devnet::with_limits(&genesis(None), retention, PoolLimits::default()).unwrap()
    }

    /// `n` blocks, each made head without naming a safe or finalized block (the testing
    /// helpers' `produce` finalizes every head).
    fn blocks(d: &mut Devnet, n: u64) {
        for _ in 0..n {
            let unfinalized = |head| ForkchoiceState {
                head_block_hash: head,
                safe_block_hash: B256::ZERO,
                finalized_block_hash: B256::ZERO,
            };
            let attrs = attributes(d, vec![]);
            let fcu =
                d.forkchoice_updated(ApiVersion::V2, unfinalized(d.head().hash()), Some(attrs));
            let id = fcu.unwrap().payload_id.unwrap();
            let payload = d.get_payload(ApiVersion::V2, id).unwrap().payload;
            let hash = payload.block_hash();
            assert_eq!(import(d, payload, None).status, StatusKind::Valid);
            let fcu = d.forkchoice_updated(ApiVersion::V2, unfinalized(hash), None).unwrap();
            assert_eq!(fcu.payload_status.status, StatusKind::Valid);
        }
    }

    /// `eth_getBalance` at block `number`: the balance, or the error message.
    fn balance_at(d: &mut Devnet, number: u64) -> Result<serde_json::Value, String> {
        let at = format!("{number:#x}");
        d.handle("eth_getBalance", &json!([key(0).address(), at])).map_err(|e| e.message)
    }

    fn finalize(d: &mut Devnet, number: u64) {
        let hash = d.canonical_hash(number).unwrap();
        let state = ForkchoiceState {
            head_block_hash: d.head().hash(),
            safe_block_hash: hash,
            finalized_block_hash: hash,
        };
        let answer = d.forkchoice_updated(ApiVersion::V2, state, None).unwrap();
        assert_eq!(answer.payload_status.status, StatusKind::Valid);
    }

    /// Without finality the last `max_states` heights keep their state; with it, those
    /// down to `states_below_finalized` under the finalized block (when that is fewer).
    /// A pruned state is a typed -32000 error naming the block; the block itself stays.
    #[test]
    fn states_follow_the_tip_and_finality() {
        let mut d = devnet(SMALL);
        blocks(&mut d, 20);
        assert_eq!((d.head().number, d.finalized()), (20, None));
        assert_eq!(balance_at(&mut d, 12), Err("state at block #12 is pruned".into()));
        assert!(balance_at(&mut d, 13).is_ok(), "the 8 highest heights: 13 to 20");
        assert!(d.chain.states.len() <= 8, "{}", d.chain.states.len());
        assert!(d.canonical_hash(12).is_some(), "the block outlives its state");
        finalize(&mut d, 18);
        assert_eq!(balance_at(&mut d, 15), Err("state at block #15 is pruned".into()));
        assert!(balance_at(&mut d, 16).is_ok(), "2 below the finalized block");
        assert!(balance_at(&mut d, 0).unwrap_err().contains("#0 is pruned"), "genesis too");
        assert_eq!(
            d.handle("eth_getBalance", &json!([Address::ZERO, "0x99"])).unwrap_err().message,
            "header not found"
        );
    }

    /// Blocks are kept for `history_blocks` heights below the tip, with their transactions
    /// and receipts; below that they are gone, except the genesis.
    #[test]
    fn blocks_follow_the_tip() {
        let mut d = devnet(SMALL);
        let hash = d.send_raw_transaction(&transfer(&key(0), 0, key(1).address(), ETH)).unwrap();
        blocks(&mut d, 300);
        let tip = d.head().number;
        let floor = tip - SMALL.history_blocks;
        assert_eq!(d.canonical_hash(floor - 1), None);
        assert!(d.canonical_hash(floor).is_some());
        assert!(d.block(&d.genesis_hash()).is_some(), "the genesis block stays");
        assert_eq!(d.canonical_hash(0), Some(d.genesis_hash()));
        let tx = d.handle("eth_getTransactionByHash", &json!([hash])).unwrap();
        assert_eq!(tx, serde_json::Value::Null, "block 1 and its transaction are pruned");
        assert!(d.chain.tx_index.is_empty());
        assert_eq!(d.chain.blocks.len() as u64, SMALL.history_blocks + 2, "window + genesis");
        assert_eq!(d.chain.canonical.len() as u64, SMALL.history_blocks + 1);
    }

    /// A client that imports payloads without moving the head (the node's replay) stays
    /// bounded too: the window follows the highest block stored.
    #[test]
    fn imports_without_a_head_stay_bounded() {
        let mut source = devnet(SMALL);
        let mut payloads = Vec::new();
        for _ in 0..300 {
            let attrs = attributes(&source, vec![]);
            let built = build(&mut source, attrs);
            let hash = built.payload.block_hash();
            import(&mut source, built.payload.clone(), None);
            crate::testing::set_head(&mut source, hash);
            payloads.push(built.payload);
        }
        let mut d = devnet(SMALL);
        for payload in payloads {
            let status = import(&mut d, payload, None);
            assert_eq!(status.status, StatusKind::Valid, "{status:?}");
        }
        assert_eq!(d.head().number, 0);
        assert!(d.chain.states.len() <= 9, "8 heights and the head's: {}", d.chain.states.len());
        assert!(d.chain.blocks.len() as u64 <= SMALL.history_blocks + 2);
        let tip = d.chain.by_number.keys().next_back().copied();
        assert_eq!(tip, Some(300));
    }

    /// A payload on a parent whose state was pruned is ACCEPTED and not executed (as Geth);
    /// a forkchoice to a block whose state was pruned is SYNCING and moves nothing.
    #[test]
    fn pruned_states_are_not_built_on() {
        let mut d = devnet(SMALL);
        blocks(&mut d, 2);
        let (_, sibling) =
            two_children(&mut d, vec![], vec![crate::testing::peg_in(0, key(3).address(), 1)]);
        let attrs = attributes(&d, vec![crate::testing::peg_in(1, key(2).address(), 1)]);
        let late = build(&mut d, attrs);
        blocks(&mut d, 20);
        let head = d.head().hash();
        assert_eq!(import(&mut d, late.payload, None), PayloadStatusWire::accepted());
        let to_sibling = ForkchoiceState::same_hash(sibling);
        let answer = d.forkchoice_updated(ApiVersion::V2, to_sibling, None).unwrap();
        assert_eq!(answer.payload_status, PayloadStatusWire::syncing());
        assert_eq!(d.head().hash(), head);
        blocks(&mut d, 1);
    }

    /// Invalid verdicts are remembered up to Geth's cap, the oldest forgotten first.
    #[test]
    fn invalid_verdicts_are_bounded() {
        let mut d = devnet(Retention::default());
        for i in 0..=MAX_INVALID as u64 {
            d.chain.mark_invalid(B256::from(alloy_primitives::U256::from(i + 1)), None);
        }
        assert_eq!(d.chain.invalid.len(), MAX_INVALID);
        assert_eq!(d.chain.invalid(&B256::from(alloy_primitives::U256::from(1))), None);
        let newest = B256::from(alloy_primitives::U256::from(MAX_INVALID as u64 + 1));
        assert_eq!(d.chain.invalid(&newest), Some(None));
    }

    /// A retention the devnet cannot run with is refused at start.
    #[test]
    fn unusable_retention_is_refused() {
        let refuse = |r: Retention| {
            let err = Devnet::with_limits(&genesis(None), r, PoolLimits::default()).unwrap_err();
            assert!(matches!(err, DevnetError::Limits { .. }), "{err}");
            assert_eq!(err.severity(), engine_types::Severity::Fatal);
        };
        refuse(Retention { max_states: 0, ..SMALL });
        refuse(Retention { history_blocks: 255, ..SMALL });
        refuse(Retention { max_states: 300, ..SMALL });
        assert!(Retention::default().validate().is_ok());
        let pool = PoolLimits { total: 0, ..PoolLimits::default() };
        assert!(Devnet::with_limits(&genesis(None), SMALL, pool).is_err());
    }
}
