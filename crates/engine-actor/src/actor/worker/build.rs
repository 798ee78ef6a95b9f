//! Building a payload: the peg-ins packed as withdrawals on the requested parent, the
//! in-flight record written before the EL may make the block its head, and the built payload
//! validated against the request before the Chain sees it.

use super::*;

impl Worker {
    pub(super) async fn build(
        &mut self,
        correlation: CorrelationId,
        job: BuildJob,
    ) -> Result<BuiltPayload, ActorError> {
        let parent_hash = job.parent.unwrap_or(self.state.heads.head.hash);
        let (parent, parent_header) = self.block_ref(parent_hash).await?;
        let parent_info =
            ParentInfo::from_header(parent_hash, &parent_header).ok_or_else(|| {
                EngineError::bad_response("eth_getBlockByHash", "parent header has no base fee")
            })?;
        let forks = self.core.config.chain.fork_schedule;
        let shanghai = forks.is_active(engine_types::Fork::Shanghai, job.timestamp);
        let cancun = forks.is_active(engine_types::Fork::Cancun, job.timestamp);
        // Building on another block than our head moves the head there: judge mints and
        // indices on that branch.
        let current = self.state.heads.head;
        let mut next = self.state.clone();
        let rebased = self.rebase(&mut next, current, parent).await?;
        // Never mint what the canonical chain minted; a full ledger leaves the rest pending.
        let (fresh, already_minted) = next.minted.partition(&job.peg_ins);
        let unminted = |pending: Vec<PegIn>, next_index| engine_types::WithdrawalBatch {
            pending,
            next_index,
            ..Default::default()
        };
        let index = next.next_withdrawal_index;
        let mut batch =
            if shanghai { pack_withdrawals(&fresh, index)? } else { unminted(fresh, index) };
        // The bound counts what this block would mint, not the whole backlog.
        if next.minted.is_full(batch.included.len(), self.core.config.ledger_capacity) {
            tracing::warn!(
                entries = next.minted.len(),
                pending = batch.included.len() + batch.pending.len(),
                "minted-peg-in ledger full: peg-ins stay pending until finality prunes it"
            );
            let mut pending = std::mem::take(&mut batch.included);
            pending.append(&mut batch.pending);
            batch = unminted(pending, index);
        }
        let attributes = PayloadAttributes {
            timestamp: job.timestamp,
            prev_randao: job.prev_randao.unwrap_or_default(),
            suggested_fee_recipient: job
                .fee_recipient
                .unwrap_or(self.core.config.chain.fee_recipient),
            withdrawals: shanghai.then(|| batch.withdrawals.clone()),
            parent_beacon_block_root: cancun.then_some(B256::ZERO),
            // Amsterdam-era fields: not part of any fork Alys schedules.
            slot_number: None,
            target_gas_limit: None,
        };
        let request = BuildRequest::from_attributes(&attributes);
        let heads = next.heads.with_head(parent);
        let built = match self.core.port.build_payload(heads.state(), attributes).await {
            Ok(built) => built,
            Err(e @ ClientError::BuildSkipped { .. }) => {
                // The EL's head descends from `parent` (Geth and Reth skip an update to an
                // ancestor of their head): adopt its blocks, and have the caller ask again.
                let from = self.state.heads.head;
                self.reconcile(correlation).await?;
                let to = self.state.heads.head;
                return Err(if to == from {
                    ActorError::from_client(e, "build on", parent_hash)
                } else {
                    ActorError::Build(BuildRefusal::HeadMoved { from, to })
                });
            }
            Err(e) => return Err(ActorError::from_client(e, "build on", parent_hash)),
        };
        let response = built.response;
        let sidecar = built.sidecar;
        // The EL applied the forkchoice state (head = parent) before building; what the
        // block mints is remembered until it becomes the head, for a crash in between: the
        // EL may make it its head and the engine die before its commit writes the state, and
        // only this record then tells the adoption which peg-ins the block's withdrawals
        // are. A block that mints nothing needs no record (its adoption loses nothing), so
        // building it on our head writes nothing and the commit is the cycle's one durable
        // write. An earlier record stays: its block may still be committed.
        next.heads = heads;
        if !batch.included.is_empty() {
            next.in_flight = Some(InFlight {
                block: response.payload.block_hash(),
                parent: parent_hash,
                peg_ins: batch.included.clone(),
            });
        }
        self.commit_state(next).await?;
        self.tell_rebased(correlation, HeadChangeCause::Requested, current, parent, rebased);
        let header = self
            .core
            .validator
            .validate(&response.payload, &sidecar, &parent_info, Origin::Built(&request))
            .map_err(|e| ActorError::InvalidPayload { block: e.block_hash, reason: e.to_string() })?
            .header;
        let payload = BuiltPayload {
            payload_id: built.payload_id,
            payload: response.payload,
            sidecar,
            block_value: response.block_value,
            withdrawals: batch.withdrawals,
            included: batch.included,
            pending: batch.pending,
            already_minted,
            endpoint: built.endpoint,
        };
        self.core.cache().insert(
            payload.payload_id,
            Arc::new(CachedBuild { built: payload.clone(), header }),
            Instant::now(),
        );
        Ok(payload)
    }
}
