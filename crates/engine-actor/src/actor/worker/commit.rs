//! Committing a payload (ours, named by its payload id, or an import checked in full),
//! and learning what landed when a commit's answer was lost; every mint is checked against
//! the ledger so a peg-in is never minted twice.

use super::*;

impl Worker {
    pub(super) async fn commit(
        &mut self,
        correlation: CorrelationId,
        commit: Commit,
    ) -> Result<Committed, ActorError> {
        match commit {
            Commit::Built(build) => {
                let b = &build.built;
                let (payload, sidecar) = (b.payload.clone(), b.sidecar.clone());
                let known = Some(build.header.clone());
                self.commit_block(correlation, payload, sidecar, &b.withdrawals, &b.included, known)
                    .await
            }
            Commit::Import { payload, sidecar, expected_withdrawals, peg_ins } => {
                let (withdrawals, peg_ins) = (&expected_withdrawals, &peg_ins);
                self.commit_block(correlation, *payload, *sidecar, withdrawals, peg_ins, None).await
            }
        }
    }

    /// Commits `payload`, minting `peg_ins` as `expected_withdrawals`; `known` is its header
    /// when it was validated already (our build), else it is validated here as an import.
    async fn commit_block(
        &mut self,
        correlation: CorrelationId,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
        expected_withdrawals: &[Withdrawal],
        peg_ins: &[PegIn],
        known: Option<Header>,
    ) -> Result<Committed, ActorError> {
        let hash = payload.block_hash();
        let current = self.state.heads.head;
        if hash == current.hash {
            // A repeated commit (its caller timed out, or retried): it landed already; make
            // sure the ledger knows what it minted.
            self.settle_canonical(current, peg_ins).await?;
            return Ok(Committed {
                hash,
                number: current.number,
                status: PayloadStatus::Valid { latest_valid_hash: hash },
                head: true,
                peg_outs: PegOutReport::AlreadyReported,
            });
        }
        // A block on another parent than our head is a reorg: judge its mints and indices
        // against the branch it extends, not against the one it abandons.
        let parent = payload.parent_hash();
        let mut next = self.state.clone();
        let rebased = if parent == current.hash {
            branch::Rebased::default()
        } else {
            let (parent_ref, _) = self.block_ref(parent).await?;
            self.rebase(&mut next, current, parent_ref).await?
        };
        check_mints(&next, hash, expected_withdrawals, peg_ins)?;
        let header = match known {
            Some(header) => header,
            None => self.validate_import(&payload, &sidecar, expected_withdrawals).await?,
        };
        let new_head = BlockRef::new(hash, header.number, header.timestamp);
        let heads = next.heads.with_head(new_head);
        // Saved with the new head: if the scan below never happens (a crash), this block's
        // burns are owed from the file.
        next.peg_outs_scanned.get_or_insert(current);
        let outcome = self
            .core
            .port
            .commit(payload, sidecar, heads.state())
            .await
            .map_err(|e| ActorError::from_client(e, "commit", hash))?;
        let status = outcome.payload_status.clone().ok_or_else(|| {
            EngineError::bad_response("newPayload", "the pool returned no newPayload status")
        })?;
        let not_head = |status| Committed {
            hash,
            number: new_head.number,
            status,
            head: false,
            peg_outs: PegOutReport::NotScanned,
        };
        if status.is_invalid() {
            return Err(ActorError::Rejected { block: hash, status });
        }
        if status.is_undecided() {
            self.set_el(ElCondition::Syncing);
            return Ok(not_head(status));
        }
        match head_verdict(&outcome, "forkchoiceUpdated")? {
            HeadVerdict::Undecided => {
                self.set_el(ElCondition::Syncing);
                Ok(not_head(status))
            }
            HeadVerdict::Invalid(status) => Err(ActorError::Rejected { block: hash, status }),
            HeadVerdict::Applied => {
                self.remember_header(hash, header);
                next.heads = heads;
                next.minted.record(new_head, peg_ins);
                if let Some(last) = expected_withdrawals.last() {
                    next.next_withdrawal_index = last.index.saturating_add(1);
                }
                // Our build of this block landed, or a sibling did: either way it is settled.
                if next.in_flight.as_ref().is_some_and(|f| f.parent == parent) {
                    next.in_flight = None;
                }
                self.commit_state(next).await?;
                self.set_el(ElCondition::Synced);
                self.tell_rebased(
                    correlation,
                    HeadChangeCause::Requested,
                    current,
                    new_head,
                    rebased,
                );
                let peg_outs = self.scan_new_head(correlation, new_head, current);
                Ok(Committed { hash, number: new_head.number, status, head: true, peg_outs })
            }
        }
    }

    /// Checks a block built elsewhere in full: hash, parent, and withdrawals exactly the
    /// expected ones.
    async fn validate_import(
        &mut self,
        payload: &ExecutionPayload,
        sidecar: &ExecutionPayloadSidecar,
        expected_withdrawals: &[Withdrawal],
    ) -> Result<Header, ActorError> {
        let (_, parent_header) = self.block_ref(payload.parent_hash()).await?;
        let parent_info = ParentInfo::from_header(payload.parent_hash(), &parent_header)
            .ok_or_else(|| {
                EngineError::bad_response("eth_getBlockByHash", "parent header has no base fee")
            })?;
        let origin = Origin::Imported { withdrawals: expected_withdrawals };
        self.core
            .validator
            .validate(payload, sidecar, &parent_info, origin)
            .map(|v| v.header)
            .map_err(|e| ActorError::InvalidPayload {
                block: payload.block_hash(),
                reason: e.to_string(),
            })
    }

    /// Where `block` and `peg_ins` stand once every earlier job has finished. A commit
    /// whose reply was lost may have landed at the EL all the same: the EL's head is
    /// reconciled first (adopted when it extends ours), so the answer is the EL's truth; if
    /// that fails, so does the answer (it would not be final).
    pub(super) async fn what_landed(
        &mut self,
        correlation: CorrelationId,
        block: B256,
        peg_ins: &[PegIn],
    ) -> Result<Landed, ActorError> {
        if block != self.state.heads.head.hash {
            self.reconcile(correlation).await?;
        }
        let head = self.state.heads.head;
        let landed_at = if block == head.hash {
            Some(head)
        } else {
            match self.block_ref(block).await {
                Ok((r, _)) if r.number <= head.number && self.is_canonical(r).await? => Some(r),
                Ok(_) | Err(ActorError::UnknownBlock { .. }) => None,
                Err(e) => return Err(e),
            }
        };
        if let Some(at) = landed_at {
            // A canonical block minted exactly the peg-ins that pack into its withdrawals,
            // whether or not this engine saw it become the head.
            self.settle_canonical(at, peg_ins).await?;
            let minted =
                peg_ins.iter().map(|&peg_in| crate::minted::MintedPegIn { peg_in, block: at });
            return Ok(Landed {
                head,
                canonical: true,
                minted: minted.collect(),
                unminted: Vec::new(),
            });
        }
        let (unminted, minted) = self.state.minted.partition(peg_ins);
        Ok(Landed { head, canonical: false, minted, unminted })
    }

    /// `peg_ins` are what the canonical block `at` minted: checks that they pack into its
    /// withdrawals and records any the ledger lacks (a block adopted from the EL, a lost
    /// reply), so that they are never minted again.
    pub(super) async fn settle_canonical(
        &mut self,
        at: BlockRef,
        peg_ins: &[PegIn],
    ) -> Result<(), ActorError> {
        let known = self.state.minted.minted_by(&at.hash);
        let missing: Vec<PegIn> = peg_ins.iter().filter(|p| !known.contains(p)).copied().collect();
        if missing.is_empty() {
            return Ok(());
        }
        let withdrawals = self.branch_withdrawals(at.hash).await?;
        packs_into(at.hash, peg_ins, &withdrawals)?;
        if at.number < self.state.heads.finalized.number {
            // Below finality the ledger keeps nothing: the Chain's records cover it.
            return Ok(());
        }
        let mut next = self.state.clone();
        next.minted.record(at, &missing);
        self.commit_state(next).await
    }
}

/// Refuses a block (extending the head of `state`) whose peg-ins would mint something
/// twice, do not pack into its withdrawals exactly, or whose withdrawal indices do not
/// continue the chain.
fn check_mints(
    state: &PersistedState,
    block: B256,
    expected_withdrawals: &[Withdrawal],
    peg_ins: &[PegIn],
) -> Result<(), ActorError> {
    match state.minted.first_conflict(peg_ins) {
        Some(Conflict::Minted(m)) => {
            return Err(ActorError::Commit(CommitRefusal::AlreadyMinted {
                bitcoin_txid: m.peg_in.bitcoin_txid,
                block: Some(m.block),
            }));
        }
        Some(Conflict::Repeated(bitcoin_txid)) => {
            return Err(ActorError::Commit(CommitRefusal::AlreadyMinted {
                bitcoin_txid,
                block: None,
            }));
        }
        None => {}
    }
    let next_index = state.next_withdrawal_index;
    let start = expected_withdrawals.first().map_or(next_index, |w| w.index);
    if start != next_index {
        return Err(ActorError::InvalidPayload {
            block,
            reason: format!(
                "its first withdrawal index {start} does not continue the chain's {next_index}"
            ),
        });
    }
    packs_into(block, peg_ins, expected_withdrawals)
}

/// Whether `peg_ins` pack into exactly `withdrawals` (from their first index).
fn packs_into(
    block: B256,
    peg_ins: &[PegIn],
    withdrawals: &[Withdrawal],
) -> Result<(), ActorError> {
    let invalid = |reason: String| ActorError::InvalidPayload { block, reason };
    let start = withdrawals.first().map_or(0, |w| w.index);
    // Peer-controlled input: an overflow is a bad block, not a fault of ours.
    let packed = pack_withdrawals(peg_ins, start)
        .map_err(|e| invalid(format!("its peg-ins cannot be packed: {e}")))?;
    if packed.withdrawals != withdrawals || !packed.pending.is_empty() {
        return Err(invalid(format!(
            "its {} peg-in(s) do not pack into exactly its {} withdrawal(s)",
            peg_ins.len(),
            withdrawals.len()
        )));
    }
    Ok(())
}
