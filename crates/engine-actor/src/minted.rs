//! The minted-peg-in ledger: which bitcoin txids the canonical chain has minted, and in
//! which block, so that no path (a retried build, a commit whose caller timed out, an
//! imported block, a restart) mints one twice.
//!
//! It lives in the persisted state and changes only with the head: a block's peg-ins are
//! recorded when it becomes the head, removed when it leaves the canonical chain (an
//! INVALID walk-back), and pruned once they are below the finalized block, where nothing
//! can take them back. Its size is bounded ([`MintLedger::is_full`]): a full ledger makes
//! builds leave new peg-ins pending (never dropped) until finality prunes it.

use crate::heads::BlockRef;
use engine_types::{PegIn, primitives::B256};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Default number of minted peg-ins kept above the finalized block.
pub const DEFAULT_LEDGER_CAPACITY: usize = 4096;

/// A peg-in the canonical chain minted, and the block that minted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintedPegIn {
    /// The peg-in.
    pub peg_in: PegIn,
    /// The block whose withdrawals minted it.
    pub block: BlockRef,
}

/// Minted peg-ins above the finalized block, oldest block first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MintLedger(pub(crate) Vec<MintedPegIn>);

impl MintLedger {
    /// How many peg-ins are recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `more` peg-ins would pass `capacity`.
    pub fn is_full(&self, more: usize, capacity: usize) -> bool {
        self.0.len().saturating_add(more) > capacity
    }

    /// Every recorded peg-in, oldest block first.
    pub fn entries(&self) -> &[MintedPegIn] {
        &self.0
    }

    /// The record of `bitcoin_txid`, if the canonical chain minted it.
    pub fn find(&self, bitcoin_txid: &B256) -> Option<&MintedPegIn> {
        self.0.iter().find(|m| m.peg_in.bitcoin_txid == *bitcoin_txid)
    }

    /// Splits `peg_ins` into those not minted yet (duplicates within the list dropped, first
    /// kept) and those the canonical chain already minted, in input order.
    pub fn partition(&self, peg_ins: &[PegIn]) -> (Vec<PegIn>, Vec<MintedPegIn>) {
        let mut seen = HashSet::with_capacity(peg_ins.len());
        let mut fresh = Vec::with_capacity(peg_ins.len());
        let mut minted = Vec::new();
        for p in peg_ins {
            if let Some(m) = self.find(&p.bitcoin_txid) {
                minted.push(*m);
            } else if seen.insert(p.bitcoin_txid) {
                fresh.push(*p);
            }
        }
        (fresh, minted)
    }

    /// The first of `peg_ins` already minted, or the first txid that appears twice in the
    /// list (which would mint it twice in one block).
    pub fn first_conflict(&self, peg_ins: &[PegIn]) -> Option<Conflict> {
        let mut seen = HashSet::with_capacity(peg_ins.len());
        for p in peg_ins {
            if let Some(m) = self.find(&p.bitcoin_txid) {
                return Some(Conflict::Minted(*m));
            }
            if !seen.insert(p.bitcoin_txid) {
                return Some(Conflict::Repeated(p.bitcoin_txid));
            }
        }
        None
    }

    /// Records `peg_ins` as minted by `block`.
    pub fn record(&mut self, block: BlockRef, peg_ins: &[PegIn]) {
        self.0.extend(peg_ins.iter().map(|&peg_in| MintedPegIn { peg_in, block }));
    }

    /// Removes what blocks above `number` minted (they left the canonical chain) and
    /// returns it, oldest first.
    pub fn discard_above(&mut self, number: u64) -> Vec<MintedPegIn> {
        let (gone, kept) = self.0.iter().partition(|m| m.block.number > number);
        self.0 = kept;
        gone
    }

    /// Forgets what blocks below `finalized` minted: finality means nothing can take those
    /// mints back, and the Chain's own records cover them from there.
    pub fn prune_below(&mut self, finalized: u64) {
        self.0.retain(|m| m.block.number >= finalized);
    }
}

/// Why a list of peg-ins cannot be minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The canonical chain minted it already.
    Minted(MintedPegIn),
    /// It appears twice in the list.
    Repeated(B256),
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::{Satoshis, primitives::Address};

    fn peg_in(n: u8) -> PegIn {
        PegIn {
            evm_address: Address::repeat_byte(n),
            amount: Satoshis(u64::from(n)),
            bitcoin_txid: B256::repeat_byte(n),
        }
    }

    fn block(n: u64) -> BlockRef {
        BlockRef::new(B256::with_last_byte(n as u8), n, n * 2)
    }

    /// Minted peg-ins are set apart with their block; a txid repeated in the request is
    /// kept once.
    #[test]
    fn partition_sets_minted_apart_and_drops_repeats() {
        let mut ledger = MintLedger::default();
        ledger.record(block(5), &[peg_in(1)]);
        let (fresh, minted) = ledger.partition(&[peg_in(2), peg_in(1), peg_in(2), peg_in(3)]);
        assert_eq!(fresh, [peg_in(2), peg_in(3)]);
        assert_eq!(minted, [MintedPegIn { peg_in: peg_in(1), block: block(5) }]);
        assert_eq!(
            ledger.first_conflict(&[peg_in(3), peg_in(1)]),
            Some(Conflict::Minted(MintedPegIn { peg_in: peg_in(1), block: block(5) }))
        );
        assert_eq!(
            ledger.first_conflict(&[peg_in(3), peg_in(3)]),
            Some(Conflict::Repeated(B256::repeat_byte(3)))
        );
        assert_eq!(ledger.first_conflict(&[peg_in(3)]), None);
    }

    /// Discarding returns exactly what blocks above the cut minted; pruning forgets only
    /// what lies below finality; the bound counts what is about to be added.
    #[test]
    fn discard_prune_and_bound() {
        let mut ledger = MintLedger::default();
        for n in 1..=4u8 {
            ledger.record(block(u64::from(n)), &[peg_in(n)]);
        }
        let gone = ledger.discard_above(2);
        assert_eq!(gone.iter().map(|m| m.block.number).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(ledger.len(), 2);
        ledger.prune_below(2);
        assert_eq!(ledger.entries()[0].block.number, 2);
        assert_eq!(ledger.len(), 1);
        assert!(!ledger.is_full(1, 2));
        assert!(ledger.is_full(2, 2));
    }
}
