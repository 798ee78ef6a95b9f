//! Moving the forkchoice state on request and finality: the head asked of the EL, its
//! verdict applied, the Chain told when the head moved.

use super::*;

impl Worker {
    pub(super) async fn forkchoice(
        &mut self,
        correlation: CorrelationId,
        head: B256,
        safe: B256,
        finalized: B256,
    ) -> Result<ForkchoiceHeads, ActorError> {
        let (head, header) = self.block_ref(head).await?;
        let heads = ForkchoiceHeads {
            head,
            safe: self.optional_ref(safe).await?,
            finalized: self.optional_ref(finalized).await?,
        };
        self.check_finality(&heads)?;
        let from = self.state.heads.head;
        match self.ask_head(heads).await? {
            HeadVerdict::Applied => {}
            HeadVerdict::Undecided => {
                self.set_el(ElCondition::Syncing);
                return Err(ActorError::Syncing { action: "set head to", block: head.hash });
            }
            HeadVerdict::Invalid(status) => {
                if head == from {
                    self.walk_back(correlation, &status).await?;
                }
                return Err(ActorError::Rejected { block: head.hash, status });
            }
        }
        if head != from {
            // Geth and Reth answer VALID to a head that is an ancestor of theirs without
            // going back to it: believe the chain the EL holds, not the answer.
            let el = self.el_head().await?;
            if el.hash != head.hash {
                return Err(ActorError::Forkchoice(ForkchoiceRefusal::WouldRewind {
                    requested: head,
                    el,
                }));
            }
        }
        let mut next = self.state.clone();
        let rebased = self.rebase(&mut next, from, head).await?;
        next.apply(heads);
        self.remember_header(head.hash, header);
        self.commit_state(next).await?;
        self.set_el(ElCondition::Synced);
        self.tell_rebased(correlation, HeadChangeCause::Requested, from, head, rebased);
        Ok(self.state.heads)
    }

    /// The EL's head block.
    pub(super) async fn el_head(&self) -> Result<BlockRef, ActorError> {
        Ok(BlockRef::of(&self.core.known_block(BlockId::latest(), false).await?.header))
    }

    /// Tells the Chain about a rebase that returned peg-ins (or moved the head by itself).
    pub(super) fn tell_rebased(
        &self,
        correlation: CorrelationId,
        cause: HeadChangeCause,
        from: BlockRef,
        to: BlockRef,
        rebased: branch::Rebased,
    ) {
        if rebased.returned.is_empty() && cause == HeadChangeCause::Requested {
            return;
        }
        self.tell_chain(HeadChanged {
            correlation,
            cause,
            from,
            to,
            adopted: rebased.joined,
            discarded: rebased.abandoned,
            returned_peg_ins: rebased.returned.iter().map(|m| m.peg_in).collect(),
        });
    }

    pub(super) async fn set_finalized(
        &mut self,
        correlation: CorrelationId,
        hash: B256,
    ) -> Result<ForkchoiceHeads, ActorError> {
        let finalized = self.optional_ref(hash).await?;
        let current = self.state.heads;
        if finalized == current.finalized {
            return Ok(current);
        }
        let heads = current.with_finalized(finalized);
        self.check_finality(&heads)?;
        // Finality must lie on the head's chain, or every later update would be -38002.
        if finalized.number > current.head.number || !self.is_canonical(finalized).await? {
            return Err(ActorError::Forkchoice(ForkchoiceRefusal::NotOnChain {
                block: finalized,
                head: current.head,
            }));
        }
        // The intent is durable before the EL hears of it: a SYNCING answer or a crash
        // leaves it to be sent again on every tick until a VALID answer.
        let mut next = self.state.clone();
        next.finality_intent = Some(finalized);
        self.commit_state(next).await?;
        self.send_forkchoice(correlation, heads).await?;
        Ok(self.state.heads)
    }

    /// Finality never goes back: not below the finalized block, nor below a finality the
    /// engine already promised to send.
    pub(super) fn check_finality(&self, heads: &ForkchoiceHeads) -> Result<(), ActorError> {
        let current = self.state.finality_intent.unwrap_or(self.state.heads.finalized);
        let current = if current.number < self.state.heads.finalized.number {
            self.state.heads.finalized
        } else {
            current
        };
        // Once something is final, "nothing final" is a regression too.
        let regresses = !current.is_unset()
            && (heads.finalized.is_unset() || heads.finalized.number < current.number);
        if regresses {
            return Err(ActorError::Forkchoice(ForkchoiceRefusal::FinalizedRegression {
                current: current.number,
                requested: heads.finalized.number,
            }));
        }
        Ok(())
    }

    /// Sends `heads` (no attributes) to every endpoint and returns the EL's verdict on them.
    pub(super) async fn ask_head(&self, heads: ForkchoiceHeads) -> Result<HeadVerdict, ActorError> {
        let outcome = self
            .core
            .port
            .forkchoice_updated(heads.state(), heads.head.timestamp)
            .await
            .map_err(|e| ActorError::from_client(e, "set head to", heads.head.hash))?;
        head_verdict(&outcome, "forkchoiceUpdated")
    }

    /// Sends `heads` to the EL; persists and publishes them when it applies them. INVALID
    /// for our own head walks the head back (see [`reconcile`]).
    pub(super) async fn send_forkchoice(
        &mut self,
        correlation: CorrelationId,
        heads: ForkchoiceHeads,
    ) -> Result<(), ActorError> {
        match self.ask_head(heads).await? {
            HeadVerdict::Applied => {
                let mut next = self.state.clone();
                next.apply(heads);
                self.commit_state(next).await?;
                self.set_el(ElCondition::Synced);
                Ok(())
            }
            HeadVerdict::Undecided => {
                self.set_el(ElCondition::Syncing);
                Err(ActorError::Syncing { action: "set head to", block: heads.head.hash })
            }
            HeadVerdict::Invalid(status) if heads.head == self.state.heads.head => {
                self.walk_back(correlation, &status).await?;
                Err(ActorError::Rejected { block: heads.head.hash, status })
            }
            HeadVerdict::Invalid(status) => {
                Err(ActorError::Rejected { block: heads.head.hash, status })
            }
        }
    }
}
