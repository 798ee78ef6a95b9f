//! The minted-peg-in ledger: which bitcoin txids the canonical chain has minted, and in
//! which block, so that no path (a retried build, a commit whose caller timed out, an
//! imported block, a restart) mints one twice.
//!
//! It lives in the persisted state and changes only with the head: a block's peg-ins are
//! recorded when it becomes the head; when the block leaves the canonical chain (a reorg,
//! an INVALID walk-back) they move to the orphans (and go back to the Chain), and when the
//! block becomes canonical again they move back (so a branch that returns does not mint
//! twice); both lists are pruned once below the finalized block, where nothing can take
//! a mint back. Its size is bounded ([`MintLedger::is_full`]): a full ledger makes builds
//! leave new peg-ins pending (never dropped) until finality prunes it.

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

/// Minted peg-ins above the finalized block: those of the canonical chain, oldest block
/// first, and those of blocks that left it (which may come back).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MintLedger {
    /// Minted by canonical blocks.
    #[serde(default)]
    pub(crate) canonical: Vec<MintedPegIn>,
    /// Minted by blocks that left the canonical chain: not minted now, minted again if
    /// their block comes back.
    #[serde(default)]
    pub(crate) orphaned: Vec<MintedPegIn>,
    /// Handed back to the Chain and not minted again yet: sent again after a restart, so a
    /// crash or an absent Chain cannot lose them.
    #[serde(default)]
    pub(crate) returned: Vec<PegIn>,
}

impl MintLedger {
    /// How many peg-ins the canonical chain minted (above finality).
    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    /// Whether the canonical chain minted nothing (above finality).
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }

    /// Whether `more` peg-ins would pass `capacity` (orphans count: they are kept too).
    pub fn is_full(&self, more: usize, capacity: usize) -> bool {
        self.canonical.len().saturating_add(self.orphaned.len()).saturating_add(more) > capacity
    }

    /// Every peg-in the canonical chain minted, oldest block first.
    pub fn entries(&self) -> &[MintedPegIn] {
        &self.canonical
    }

    /// Peg-ins of blocks that left the canonical chain.
    pub fn orphaned(&self) -> &[MintedPegIn] {
        &self.orphaned
    }

    /// The record of `bitcoin_txid`, if the canonical chain minted it.
    pub fn find(&self, bitcoin_txid: &B256) -> Option<&MintedPegIn> {
        self.canonical.iter().find(|m| m.peg_in.bitcoin_txid == *bitcoin_txid)
    }

    /// What the canonical block `block` minted.
    pub fn minted_by(&self, block: &B256) -> Vec<PegIn> {
        self.canonical.iter().filter(|m| m.block.hash == *block).map(|m| m.peg_in).collect()
    }

    /// The blocks `hashes` left the canonical chain: what they minted moves to the orphans
    /// and to the hand-back list, and is returned, oldest first.
    pub fn orphan(&mut self, hashes: &[B256]) -> Vec<MintedPegIn> {
        let (gone, kept): (Vec<_>, Vec<_>) =
            self.canonical.iter().partition(|m| hashes.contains(&m.block.hash));
        self.canonical = kept;
        self.orphaned.extend(gone.iter().copied());
        for m in &gone {
            if !self.returned.iter().any(|p| p.bitcoin_txid == m.peg_in.bitcoin_txid) {
                self.returned.push(m.peg_in);
            }
        }
        gone
    }

    /// Peg-ins handed back to the Chain and not minted again yet.
    pub fn returned(&self) -> &[PegIn] {
        &self.returned
    }

    fn minted_again(&mut self) {
        let canonical = &self.canonical;
        self.returned
            .retain(|p| !canonical.iter().any(|m| m.peg_in.bitcoin_txid == p.bitcoin_txid));
    }

    /// The block `block` is canonical again: what it minted before counts again. Returns
    /// those peg-ins.
    pub fn restore(&mut self, block: &BlockRef) -> Vec<PegIn> {
        let (back, kept): (Vec<_>, Vec<_>) =
            self.orphaned.iter().partition(|m| m.block.hash == block.hash);
        self.orphaned = kept;
        self.canonical.extend(back.iter().copied());
        self.minted_again();
        back.iter().map(|m| m.peg_in).collect()
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
        self.canonical.extend(peg_ins.iter().map(|&peg_in| MintedPegIn { peg_in, block }));
        if !peg_ins.is_empty() {
            self.minted_again();
        }
    }

    /// Moves what canonical blocks above `number` minted to the orphans (they left the
    /// canonical chain) and returns it, oldest first.
    pub fn discard_above(&mut self, number: u64) -> Vec<MintedPegIn> {
        let hashes: Vec<B256> = self
            .canonical
            .iter()
            .filter(|m| m.block.number > number)
            .map(|m| m.block.hash)
            .collect();
        self.orphan(&hashes)
    }

    /// Forgets what blocks below `finalized` minted, orphans included: finality means
    /// nothing can take those mints back (or bring an orphan back), and the Chain's own
    /// records cover them from there.
    pub fn prune_below(&mut self, finalized: u64) {
        self.canonical.retain(|m| m.block.number >= finalized);
        self.orphaned.retain(|m| m.block.number >= finalized);
        // A hand-back is kept while its orphan is: the bound of the orphans bounds it.
        let orphaned = &self.orphaned;
        self.returned.retain(|p| orphaned.iter().any(|m| m.peg_in.bitcoin_txid == p.bitcoin_txid));
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
        assert!(ledger.find(&peg_in(3).bitcoin_txid).is_none(), "no longer minted");
        // Block 3 comes back: its peg-in is minted again, block 4's is not.
        assert_eq!(ledger.restore(&block(3)), [peg_in(3)]);
        assert!(ledger.find(&peg_in(3).bitcoin_txid).is_some());
        assert_eq!(ledger.orphaned().len(), 1);
        ledger.prune_below(4);
        assert_eq!(ledger.len(), 0, "{ledger:?}");
        assert_eq!(ledger.orphaned().len(), 1, "block 4's orphan is not below finality");
        assert!(!ledger.is_full(1, 2));
        assert!(ledger.is_full(2, 2), "orphans count toward the bound");
        assert_eq!(ledger.returned(), [peg_in(4)], "block 3's came back, block 4's waits");
        ledger.record(block(5), &[peg_in(4)]);
        assert!(ledger.returned().is_empty(), "minted again: no longer handed back");
    }
}
