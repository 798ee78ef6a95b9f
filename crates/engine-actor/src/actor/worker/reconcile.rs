//! Reconciling the engine's head with the execution client's, without ever asking the EL
//! to go back.
//!
//! ```text
//!  EL head == ours ───────────────> re-send our state (and a pending finality intent)
//!  no state of ours ──────────────> start from the EL's head, withdrawal index recovered
//!  EL ahead, descends from ours ──> fetch each block in between (≤ adopt_limit), validate
//!                                   it, record what it mints, adopt, tell the Chain
//!  EL ahead on another branch,
//!  or further than adopt_limit ───> ActorError::Reconcile(ReconcileRefusal::Unreconcilable (fatal, names both heads))
//!  EL behind / lacks our head ────> re-send our state: it moves forward or syncs
//!  INVALID for our head ──────────> walk back to latestValidHash (never below finalized)
//! ```
//!
//! Geth skips a forkchoiceUpdated whose head is a canonical ancestor of its own (or, since
//! v1.17.3, rewinds at most 32 blocks); Reth refuses one below its finalized block with
//! -38006. An engine that "brings the EL back to our head" stalls on both, so the head
//! the EL holds wins whenever it extends ours and passes our checks.

use super::{HeadVerdict, Worker};
use crate::{
    error::{ActorError, ReconcileRefusal},
    heads::BlockRef,
    peers::{HeadChangeCause, HeadChanged},
    persist::PersistedState,
    status::ElCondition,
};
use engine_types::{
    CorrelationId, EngineError, PayloadStatus, eips::BlockId, engine::ExecutionPayload,
    primitives::B256,
};
use engine_validation::{Origin, ParentInfo};

impl Worker {
    /// Compares our persisted head with the EL's, adopts the EL's blocks when they extend
    /// ours, and re-sends our forkchoice state (carrying a pending finality intent).
    pub(super) async fn reconcile(&mut self, correlation: CorrelationId) -> Result<(), ActorError> {
        let latest = self.core.known_block(BlockId::latest(), false).await?;
        let el_head = BlockRef::of(&latest.header);
        let ours = self.state.heads.head;
        let mut next = self.state.clone();
        let mut adopted = Vec::new();
        if ours.is_unset() {
            self.remember_header(el_head.hash, latest.header.inner);
            next.heads.head = el_head;
            next.next_withdrawal_index = self.index_after(el_head).await?;
            tracing::info!(head = %el_head.hash, number = el_head.number,
                next_withdrawal_index = next.next_withdrawal_index,
                "no engine state: starting from the EL's head");
        } else if el_head.hash != ours.hash && el_head.number > ours.number {
            // The adopted blocks' burns are owed from our head on.
            next.peg_outs_scanned.get_or_insert(ours);
            adopted = self.adopt(&mut next, el_head).await?;
        } else if el_head.hash != ours.hash && matches!(self.core.view().el, ElCondition::Unknown) {
            tracing::info!(
                ours = ours.number,
                el = el_head.number,
                "the EL is behind our head or on a shorter branch; sending ours"
            );
        }
        let mut heads = next.heads;
        if let Some(intent) = next.finality_intent {
            heads = heads.with_finalized(intent);
        }
        let verdict = self.ask_head(heads).await?;
        if let HeadVerdict::Invalid(status) = &verdict {
            // Adopted blocks were validated by us; an INVALID here is about our own head.
            self.commit_state(next).await?;
            return self.walk_back(correlation, status).await;
        }
        let applied = matches!(verdict, HeadVerdict::Applied);
        if applied {
            next.apply(heads);
        }
        self.commit_state(next).await?;
        // The adopted blocks' burns were never scanned: they go to the scan lane now (what
        // it cannot hand over or scan stays owed, for the tick).
        if !adopted.is_empty()
            && let Err(e) = self.scan_owed(correlation).await
        {
            tracing::warn!(error = %e, "peg-outs of adopted blocks not delivered yet");
        }
        if !adopted.is_empty() {
            self.tell_chain(HeadChanged {
                correlation,
                cause: HeadChangeCause::AdoptedFromEl,
                from: ours,
                to: el_head,
                adopted,
                discarded: Vec::new(),
                returned_peg_ins: Vec::new(),
            });
        }
        if applied {
            self.set_el(ElCondition::Synced);
            tracing::info!(head = %heads.head.hash, number = heads.head.number,
                finalized = heads.finalized.number, "forkchoice state re-sent and accepted");
        } else {
            self.set_el(ElCondition::Syncing);
        }
        Ok(())
    }

    /// Validates and adopts the EL's blocks between our head and `el_head` into `next`:
    /// they must descend from our head, be at most `adopt_limit` blocks, pass the payload
    /// checks, and continue the withdrawal indices. Returns the adopted blocks, oldest first.
    async fn adopt(
        &mut self,
        next: &mut PersistedState,
        el_head: BlockRef,
    ) -> Result<Vec<BlockRef>, ActorError> {
        let ours = next.heads.head;
        let limit = self.core.config.adopt_limit;
        let gap = el_head.number - ours.number;
        let refuse = |reason: String| {
            ActorError::Reconcile(ReconcileRefusal::Unreconcilable { ours, el: el_head, reason })
        };
        if gap > limit {
            return Err(refuse(format!(
                "it is {gap} blocks ahead, more than the {limit} the engine adopts by itself \
                 (adopt_limit)"
            )));
        }
        let mut blocks = Vec::with_capacity(gap as usize);
        let mut cursor = el_head.hash;
        for _ in 0..gap {
            let block = self.core.known_block(BlockId::hash(cursor), true).await?;
            cursor = block.header.parent_hash;
            blocks.push(block);
        }
        if cursor != ours.hash {
            return Err(refuse(format!(
                "its block {} is {cursor}, not the engine's head: it follows another branch",
                ours.number
            )));
        }
        let (_, mut parent_header) = self.block_ref(ours.hash).await?;
        let mut parent_hash = ours.hash;
        let mut adopted = Vec::with_capacity(blocks.len());
        for block in blocks.into_iter().rev() {
            let hash = block.header.hash;
            let number = block.header.number;
            let block = block.into_consensus().map_transactions(|tx| tx.into_inner());
            let (payload, sidecar) = ExecutionPayload::from_block_unchecked(hash, &block);
            let withdrawals = payload.withdrawals().cloned().unwrap_or_default();
            let expected = next.next_withdrawal_index;
            for (i, w) in withdrawals.iter().enumerate() {
                if w.index != expected.saturating_add(i as u64) {
                    return Err(refuse(format!(
                        "its block {number} has withdrawal index {} where {} continues the \
                         engine's chain",
                        w.index,
                        expected.saturating_add(i as u64)
                    )));
                }
            }
            let parent = ParentInfo::from_header(parent_hash, &parent_header).ok_or_else(|| {
                EngineError::bad_response("eth_getBlockByHash", "parent header has no base fee")
            })?;
            let header = self
                .core
                .validator
                .validate(
                    &payload,
                    &sidecar,
                    &parent,
                    Origin::Imported { withdrawals: &withdrawals },
                )
                .map_err(|e| refuse(format!("its block {number} fails validation: {e}")))?
                .header;
            let adopted_ref = BlockRef::new(hash, header.number, header.timestamp);
            let restored = next.minted.restore(&adopted_ref);
            match next.in_flight.take_if(|f| f.block == hash) {
                Some(ours) => next.minted.record(adopted_ref, &ours.peg_ins),
                None if !restored.is_empty() => {}
                None if !withdrawals.is_empty() => tracing::warn!(block = number, %hash,
                    withdrawals = withdrawals.len(),
                    "adopted a block this engine did not build: its withdrawals are counted, \
                     but the bitcoin txids of its peg-ins are unknown here"),
                None => {}
            }
            if let Some(last) = withdrawals.last() {
                next.next_withdrawal_index = last.index.saturating_add(1);
            }
            self.remember_header(hash, header.clone());
            parent_header = header;
            parent_hash = hash;
            adopted.push(adopted_ref);
        }
        next.heads.head = el_head;
        tracing::warn!(
            from = ours.number,
            to = el_head.number,
            blocks = adopted.len(),
            "the EL was ahead of the engine's saved head: its blocks were validated and adopted"
        );
        Ok(adopted)
    }

    /// The index the next withdrawal on top of `head` gets: one past the newest withdrawal
    /// on its chain, searched at most `index_recovery_depth` blocks back (0 at genesis).
    pub(super) async fn index_after(&mut self, head: BlockRef) -> Result<u64, ActorError> {
        let depth = self.core.config.index_recovery_depth;
        let mut cursor = head.hash;
        for _ in 0..=depth {
            let block = self.core.known_block(BlockId::hash(cursor), false).await?;
            if let Some(last) = block.withdrawals.as_ref().and_then(|w| w.last()) {
                return Ok(last.index.saturating_add(1));
            }
            if block.header.number == 0 {
                return Ok(0);
            }
            cursor = block.header.parent_hash;
        }
        Err(ActorError::Reconcile(ReconcileRefusal::Unreconcilable {
            ours: self.state.heads.head,
            el: head,
            reason: format!(
                "no withdrawal in the last {depth} blocks of its chain, so the next \
                 withdrawal index cannot be recovered (raise index_recovery_depth)"
            ),
        }))
    }

    /// The EL declared our head INVALID: moves the head back to the newest valid ancestor it
    /// named, never below the finalized block, returns what the discarded blocks minted to
    /// the Chain, and re-sends the state.
    pub(super) async fn walk_back(
        &mut self,
        correlation: CorrelationId,
        status: &PayloadStatus,
    ) -> Result<(), ActorError> {
        let from = self.state.heads.head;
        let finalized = self.state.heads.finalized;
        // A named ancestor invalidates everything above it; no name (null, or the zero hash
        // that only a pre-merge ancestor could mean) invalidates the head alone, as
        // Lighthouse does (`InvalidationOperation::InvalidateOne`): back to its parent.
        let named = match status {
            PayloadStatus::Invalid { latest_valid_hash: Some(h), .. } if !h.is_zero() => Some(*h),
            _ => None,
        };
        let latest_valid = match named {
            Some(h) => h,
            None => match self.block_ref(from.hash).await {
                Ok((_, header)) => header.parent_hash,
                Err(ActorError::UnknownBlock { .. }) => B256::ZERO,
                Err(e) => return Err(e),
            },
        };
        let below = || {
            ActorError::Reconcile(ReconcileRefusal::InvalidBelowFinalized {
                head: from.hash,
                latest_valid,
                finalized,
            })
        };
        if latest_valid.is_zero() {
            return Err(below());
        }
        let (target, header) = match self.block_ref(latest_valid).await {
            Ok(found) => found,
            Err(ActorError::UnknownBlock { .. }) => return Err(below()),
            Err(e) => return Err(e),
        };
        if target.number >= from.number || !self.descends_from(target, finalized).await? {
            return Err(below());
        }
        self.remember_header(target.hash, header);
        let mut next = self.state.clone();
        let rebased = match self.rebase(&mut next, from, target).await {
            Ok(rebased) => rebased,
            // The EL no longer serves the invalid blocks: what the ledger says they minted
            // goes back, and the index is read from the valid chain.
            Err(ActorError::UnknownBlock { .. }) => {
                next = self.state.clone();
                let returned = next.minted.discard_above(target.number);
                next.next_withdrawal_index = self.index_after(target).await?;
                let mut abandoned = vec![from];
                for m in &returned {
                    if !abandoned.contains(&m.block) {
                        abandoned.push(m.block);
                    }
                }
                super::branch::Rebased { abandoned, joined: Vec::new(), returned }
            }
            Err(e) => return Err(e),
        };
        next.heads.head = target;
        if next.heads.safe.number > target.number {
            next.heads.safe = finalized;
        }
        next.in_flight = None;
        self.commit_state(next).await?;
        tracing::error!(invalid = %from.hash, number = from.number, latest_valid = %target.hash,
            back_to = target.number, returned = rebased.returned.len(),
            "the EL declared our head INVALID: walked back to its latest valid ancestor");
        self.tell_rebased(correlation, HeadChangeCause::InvalidHead, from, target, rebased);
        let heads = self.state.heads;
        match self.ask_head(heads).await? {
            HeadVerdict::Applied => self.set_el(ElCondition::Synced),
            HeadVerdict::Undecided => self.set_el(ElCondition::Syncing),
            HeadVerdict::Invalid(status) => {
                return Err(ActorError::Rejected { block: heads.head.hash, status });
            }
        }
        Ok(())
    }

    /// Whether `block` is `ancestor` or descends from it on the EL's chain (walked by parent
    /// hash, at most `index_recovery_depth` blocks).
    async fn descends_from(
        &mut self,
        block: BlockRef,
        ancestor: BlockRef,
    ) -> Result<bool, ActorError> {
        if ancestor.is_unset() {
            return Ok(true);
        }
        if block.number < ancestor.number
            || block.number - ancestor.number > self.core.config.index_recovery_depth
        {
            return Ok(false);
        }
        let mut cursor = block.hash;
        for _ in ancestor.number..block.number {
            let (_, header) = self.block_ref(cursor).await?;
            cursor = header.parent_hash;
        }
        Ok(cursor == ancestor.hash)
    }
}
