//! Moving the head to another branch: every head change that is not "one block on top"
//! goes through [`Worker::rebase`], so the mint ledger and the withdrawal index always
//! describe the chain the head is on.
//!
//! ```text
//!        from (old head)              to (new head)
//!          │ abandoned: their mints        │ joined: their former mints (if they
//!          │ move to the orphans and       │ had been canonical before) count again
//!          │ go back to the Chain          │
//!          └──────────── fork point ───────┘
//!  next withdrawal index = index at the fork point + the joined blocks' withdrawals
//! ```
//!
//! Both sides are walked by parent hash from the EL, at most `adopt_limit` blocks in all;
//! a deeper reorg is an [`ReconcileRefusal::Unreconcilable`] for the operator.

use super::Worker;
use crate::{
    error::{ActorError, ReconcileRefusal},
    heads::BlockRef,
    minted::MintedPegIn,
    persist::PersistedState,
};
use engine_types::{
    eips::{BlockId, eip4895::Withdrawal},
    primitives::B256,
};

/// One block of a branch, as the rebase needs it.
struct BranchBlock {
    at: BlockRef,
    parent: B256,
    withdrawals: Vec<Withdrawal>,
}

/// What a rebase changed.
#[derive(Debug, Default)]
pub(super) struct Rebased {
    /// Blocks that left the canonical chain, newest first.
    pub(super) abandoned: Vec<BlockRef>,
    /// Blocks that joined it, oldest first.
    pub(super) joined: Vec<BlockRef>,
    /// What the abandoned blocks had minted: no longer minted, for the Chain to queue again.
    pub(super) returned: Vec<MintedPegIn>,
}

impl Worker {
    async fn branch_block(&self, hash: B256) -> Result<BranchBlock, ActorError> {
        let block = self.core.known_block(BlockId::hash(hash), false).await?;
        Ok(BranchBlock {
            at: BlockRef::of(&block.header),
            parent: block.header.parent_hash,
            withdrawals: block.withdrawals.map(|w| w.into_inner()).unwrap_or_default(),
        })
    }

    /// The withdrawals of the block `hash` as the EL holds it.
    pub(super) async fn branch_withdrawals(
        &self,
        hash: B256,
    ) -> Result<Vec<Withdrawal>, ActorError> {
        Ok(self.branch_block(hash).await?.withdrawals)
    }

    /// Updates `next` (ledger, withdrawal index, in-flight build) for a head that moved
    /// from `from` to `to`, both known to the EL.
    pub(super) async fn rebase(
        &mut self,
        next: &mut PersistedState,
        from: BlockRef,
        to: BlockRef,
    ) -> Result<Rebased, ActorError> {
        let mut rebased = Rebased::default();
        if from.hash == to.hash || from.is_unset() {
            return Ok(rebased);
        }
        let limit = self.core.config.adopt_limit;
        let too_deep = |reason: String| {
            ActorError::Reconcile(ReconcileRefusal::Unreconcilable { ours: from, el: to, reason })
        };
        let (mut a, mut b) =
            (self.branch_block(from.hash).await?, self.branch_block(to.hash).await?);
        let mut abandoned: Vec<BranchBlock> = Vec::new();
        let mut joined: Vec<BranchBlock> = Vec::new();
        while a.at.hash != b.at.hash {
            if (abandoned.len() + joined.len()) as u64 > limit {
                return Err(too_deep(format!(
                    "the branches meet more than {limit} blocks back (adopt_limit)"
                )));
            }
            if a.at.number >= b.at.number {
                let parent = self.branch_block(a.parent).await?;
                abandoned.push(std::mem::replace(&mut a, parent));
            } else {
                let parent = self.branch_block(b.parent).await?;
                joined.push(std::mem::replace(&mut b, parent));
            }
        }
        joined.reverse();
        // The index at the fork point: the first withdrawal an abandoned block made, or the
        // index the old head had when none made any.
        let mut index = abandoned
            .iter()
            .rev()
            .find_map(|blk| blk.withdrawals.first().map(|w| w.index))
            .unwrap_or(next.next_withdrawal_index);
        let hashes: Vec<B256> = abandoned.iter().map(|blk| blk.at.hash).collect();
        rebased.returned = next.minted.orphan(&hashes);
        for blk in &joined {
            next.minted.restore(&blk.at);
            if let Some(last) = blk.withdrawals.last() {
                index = last.index.saturating_add(1);
            }
        }
        next.next_withdrawal_index = index;
        // A peg-in both branches minted stays minted: it does not go back to the Chain.
        rebased.returned.retain(|m| next.minted.find(&m.peg_in.bitcoin_txid).is_none());
        if next.in_flight.as_ref().is_some_and(|f| f.parent != to.hash) {
            next.in_flight = None;
        }
        rebased.abandoned = abandoned.iter().map(|blk| blk.at).collect();
        rebased.joined = joined.iter().map(|blk| blk.at).collect();
        Ok(rebased)
    }
}
