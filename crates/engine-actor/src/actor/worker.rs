//! The forkchoice worker: the single writer of head, safe and finalized.
//!
//! Every request that moves the forkchoice state (reconcile, build, commit, forkchoice
//! update, finality) is a [`Job`] on one channel, run to completion one at a time, so the EL
//! sees forkchoice updates in the order the engine received them while the actor's mailbox
//! stays free for queries. Each change is persisted before it is replied.

use super::core::{CachedBuild, Core, View};
use crate::{
    error::ActorError,
    heads::{BlockRef, ForkchoiceHeads},
    messages::{BuiltPayload, Committed, PegOutReport, Reply},
    metrics,
    peers::{BurnEventsDetected, StoreExecutionData},
    persist::{LastBuilt, PersistedState, StateStore},
    status::ElCondition,
};
use alloy_consensus::Header;
use engine_client::pool::CommitOutcome;
use engine_types::{
    CorrelationId, EngineError, PayloadStatus, PegIn,
    eips::{BlockId, BlockNumHash, eip4895::Withdrawal},
    engine::{ExecutionPayload, ExecutionPayloadSidecar, PayloadAttributes},
    pegin::pack_withdrawals,
    primitives::{Address, B256},
};
use engine_validation::{BuildRequest, Origin, ParentInfo, ReceiptWithContext};
use std::{collections::VecDeque, sync::Arc};
use tokio::{sync::mpsc, time::Instant};
use tracing::Instrument;

/// Headers of recent blocks kept to validate children without a round trip.
const HEADER_CACHE: usize = 64;

/// A build request as the worker runs it.
#[derive(Debug)]
pub(crate) struct BuildJob {
    pub(crate) parent: Option<B256>,
    pub(crate) timestamp: u64,
    pub(crate) peg_ins: Vec<PegIn>,
    pub(crate) fee_recipient: Option<Address>,
    pub(crate) prev_randao: Option<B256>,
}

/// Forkchoice-affecting work, in arrival order.
#[derive(Debug)]
pub(crate) enum Job {
    /// Load the EL's view, reconcile with ours, re-send our forkchoice state.
    Reconcile,
    Build(BuildJob, Reply<BuiltPayload>),
    Commit {
        payload: Box<ExecutionPayload>,
        sidecar: Box<ExecutionPayloadSidecar>,
        expected_withdrawals: Vec<Withdrawal>,
        reply: Reply<Committed>,
    },
    Forkchoice {
        head: B256,
        safe: B256,
        finalized: B256,
        reply: Reply<ForkchoiceHeads>,
    },
    SetFinalized {
        hash: B256,
        reply: Reply<ForkchoiceHeads>,
    },
}

impl Job {
    const fn name(&self) -> &'static str {
        match self {
            Self::Reconcile => "reconcile",
            Self::Build(..) => "build_payload",
            Self::Commit { .. } => "commit_payload",
            Self::Forkchoice { .. } => "forkchoice_update",
            Self::SetFinalized { .. } => "set_finalized",
        }
    }
}

pub(crate) struct Worker {
    core: Arc<Core>,
    store: StateStore,
    state: PersistedState,
    headers: VecDeque<(B256, Header)>,
}

impl Worker {
    pub(crate) fn new(core: Arc<Core>, store: StateStore, state: PersistedState) -> Self {
        Self { core, store, state, headers: VecDeque::new() }
    }

    /// Runs jobs until the channel closes (the actor stopped) or the task is aborted.
    pub(crate) async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<(CorrelationId, Job)>) {
        while let Some((correlation, job)) = jobs.recv().await {
            let span = tracing::info_span!("engine_forkchoice", message = job.name(), %correlation);
            self.handle(correlation, job).instrument(span).await;
            self.core.forkchoice_done();
        }
    }

    async fn handle(&mut self, correlation: CorrelationId, job: Job) {
        let started = Instant::now();
        match job {
            Job::Reconcile => {
                if let Err(e) = self.reconcile().await {
                    let condition = ElCondition::Unreachable(e.to_string());
                    // Retried on every tick: log the first failure and changes, not each retry.
                    if self.core.view().el != condition {
                        tracing::warn!(error = %e, "reconcile with the execution client failed");
                    }
                    self.set_el(condition);
                }
            }
            Job::Build(job, reply) => {
                let result = self.build(job).await;
                Core::record("build_payload", &result);
                ::metrics::histogram!(metrics::BUILD_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                self.note(&result);
                answer(reply, result);
            }
            Job::Commit { payload, sidecar, expected_withdrawals, reply } => {
                let result =
                    self.commit(correlation, *payload, *sidecar, expected_withdrawals).await;
                Core::record("commit_payload", &result);
                ::metrics::histogram!(metrics::COMMIT_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                self.note(&result);
                answer(reply, result);
            }
            Job::Forkchoice { head, safe, finalized, reply } => {
                let result = self.forkchoice(head, safe, finalized).await;
                Core::record("forkchoice_update", &result);
                self.note(&result);
                answer(reply, result);
            }
            Job::SetFinalized { hash, reply } => {
                let result = self.set_finalized(hash).await;
                Core::record("set_finalized", &result);
                self.note(&result);
                answer(reply, result);
            }
        }
    }
}

fn answer<T>(reply: Reply<T>, result: Result<T, ActorError>) {
    if reply.is_closed() {
        tracing::debug!("caller gave up before the answer");
        return;
    }
    // The caller may time out between the check and the send; nothing else to do then.
    let _ = reply.send(result);
}

/// What a commit's or forkchoice update's verdict means for the head.
enum HeadVerdict {
    /// The EL made the new state its own.
    Applied,
    /// The EL is syncing: state not applied, try again later.
    Undecided,
}

fn head_verdict(
    outcome: &CommitOutcome,
    method: &str,
    block: B256,
) -> Result<HeadVerdict, ActorError> {
    let Some(forkchoice) = &outcome.forkchoice else {
        return Err(EngineError::bad_response(method, "no forkchoiceUpdated answer").into());
    };
    match &forkchoice.status {
        PayloadStatus::Valid { .. } => Ok(HeadVerdict::Applied),
        s if s.is_undecided() => Ok(HeadVerdict::Undecided),
        s => Err(ActorError::Rejected { block, status: s.clone() }),
    }
}

impl Worker {
    fn set_el(&self, el: ElCondition) {
        self.core.publish(|v| v.el = el);
    }

    fn note<T>(&self, result: &Result<T, ActorError>) {
        let error = result.as_ref().err().map(ToString::to_string);
        if let Some(e) = &error {
            tracing::warn!(error = %e, "request failed");
        }
        self.core.publish(|v| v.last_error = error);
    }

    /// Persists `next` and publishes it; on a write error the old state stays in memory,
    /// so the engine never acts on state it could not save.
    async fn commit_state(&mut self, next: PersistedState) -> Result<(), ActorError> {
        // The write (with its fsyncs) blocks; on a multi-threaded runtime `block_in_place`
        // hands this thread's other tasks to the rest of the pool and avoids the hop to the
        // blocking pool, which costs more than the write itself on a fast disk.
        if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(|| self.store.save(&next))?;
        } else {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || store.save(&next)).await.map_err(|e| {
                ActorError::StateFile {
                    path: self.store.path(),
                    reason: format!("the writer task failed: {e}"),
                }
            })??;
        }
        self.state = next;
        let gas_limit = self.header(&next.heads.head.hash).map(|h| h.gas_limit);
        self.core.publish(|v| {
            v.heads = next.heads;
            v.next_withdrawal_index = next.next_withdrawal_index;
            if gas_limit.is_some() {
                v.head_gas_limit = gas_limit;
            }
        });
        ::metrics::gauge!(metrics::HEAD_NUMBER).set(next.heads.head.number as f64);
        ::metrics::gauge!(metrics::SAFE_NUMBER).set(next.heads.safe.number as f64);
        ::metrics::gauge!(metrics::FINALIZED_NUMBER).set(next.heads.finalized.number as f64);
        Ok(())
    }

    fn header(&self, hash: &B256) -> Option<&Header> {
        self.headers.iter().find(|(h, _)| h == hash).map(|(_, header)| header)
    }

    fn remember_header(&mut self, hash: B256, header: Header) {
        if self.header(&hash).is_none() {
            if self.headers.len() >= HEADER_CACHE {
                self.headers.pop_front();
            }
            self.headers.push_back((hash, header));
        }
    }

    /// The block `hash` as a reference plus its header, from the cache or the EL.
    async fn block_ref(&mut self, hash: B256) -> Result<(BlockRef, Header), ActorError> {
        if let Some(header) = self.header(&hash) {
            return Ok((BlockRef::new(hash, header.number, header.timestamp), header.clone()));
        }
        let block = self
            .core
            .port
            .block(BlockId::hash(hash), false)
            .await?
            .ok_or_else(|| ActorError::UnknownBlock { block: hash.to_string() })?;
        let header = block.header.inner;
        self.remember_header(hash, header.clone());
        Ok((BlockRef::new(hash, header.number, header.timestamp), header))
    }

    /// A zero hash stays "none"; any other is looked up.
    async fn optional_ref(&mut self, hash: B256) -> Result<BlockRef, ActorError> {
        if hash.is_zero() { Ok(BlockRef::default()) } else { Ok(self.block_ref(hash).await?.0) }
    }

    /// Compares our persisted head with the EL's and re-sends our forkchoice state: the
    /// chain's view wins (an EL ahead of us, e.g. after a crash between its commit and our
    /// write, is brought back to our head, and the chain re-commits what follows).
    async fn reconcile(&mut self) -> Result<(), ActorError> {
        let mut heads = self.state.heads;
        let latest = self
            .core
            .port
            .block(BlockId::latest(), false)
            .await?
            .ok_or_else(|| ActorError::UnknownBlock { block: "latest".into() })?;
        let el_head =
            BlockRef::new(latest.header.hash, latest.header.number, latest.header.timestamp);
        // Reconcile repeats on every tick while the EL lags: say things once.
        let first = matches!(self.core.view().el, ElCondition::Unknown);
        if heads.head.is_unset() {
            heads.head = el_head;
            self.remember_header(el_head.hash, latest.header.inner);
            tracing::info!(head = %el_head.hash, number = el_head.number,
                "no engine state: starting from the EL's head");
        } else if el_head.hash != heads.head.hash {
            if let Err(e) = self.block_ref(heads.head.hash).await
                && first
            {
                // The EL lacks our head (e.g. a fresh EL): the forkchoice update below tells
                // it to sync to it.
                tracing::warn!(head = %heads.head.hash, error = %e, "the EL does not know our head yet");
            }
            if first {
                tracing::info!(
                    ours = heads.head.number,
                    el = el_head.number,
                    "the EL's head differs from ours; re-sending ours"
                );
            }
        }
        let outcome = self
            .core
            .port
            .forkchoice_updated(heads.state(), heads.head.timestamp)
            .await
            .map_err(|e| ActorError::from_client(e, "set head to", heads.head.hash))?;
        match head_verdict(&outcome, "forkchoiceUpdated", heads.head.hash)? {
            HeadVerdict::Applied => {
                let next = PersistedState { heads, ..self.state };
                self.commit_state(next).await?;
                self.set_el(ElCondition::Synced);
                tracing::info!(head = %heads.head.hash, number = heads.head.number,
                    finalized = heads.finalized.number, "forkchoice state re-sent and accepted");
            }
            HeadVerdict::Undecided => {
                let next = PersistedState { heads, ..self.state };
                self.commit_state(next).await?;
                self.set_el(ElCondition::Syncing);
            }
        }
        Ok(())
    }

    async fn build(&mut self, job: BuildJob) -> Result<BuiltPayload, ActorError> {
        let parent_hash = job.parent.unwrap_or(self.state.heads.head.hash);
        let (parent, parent_header) = self.block_ref(parent_hash).await?;
        let parent_info =
            ParentInfo::from_header(parent_hash, &parent_header).ok_or_else(|| {
                EngineError::bad_response("eth_getBlockByHash", "parent header has no base fee")
            })?;
        let forks = self.core.config.chain.fork_schedule;
        let shanghai = forks.is_active(engine_types::Fork::Shanghai, job.timestamp);
        let cancun = forks.is_active(engine_types::Fork::Cancun, job.timestamp);
        let batch = if shanghai {
            pack_withdrawals(&job.peg_ins, self.state.next_withdrawal_index)?
        } else {
            engine_types::WithdrawalBatch {
                pending: job.peg_ins.clone(),
                next_index: self.state.next_withdrawal_index,
                ..Default::default()
            }
        };
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
        let heads = self.state.heads.with_head(parent);
        let built = self
            .core
            .port
            .build_payload(heads.state(), attributes)
            .await
            .map_err(|e| ActorError::from_client(e, "build on", parent_hash))?;
        // The EL applied the forkchoice state (head = parent) before building.
        let next = PersistedState {
            heads,
            next_withdrawal_index: batch.next_index,
            last_built: Some(LastBuilt { payload_id: built.payload_id, parent: parent_hash }),
            ..self.state
        };
        self.commit_state(next).await?;
        let response = built.response;
        let sidecar = built.sidecar;
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
            endpoint: built.endpoint,
        };
        self.core.cache().insert(
            payload.payload_id,
            Arc::new(CachedBuild { built: payload.clone(), request, header }),
            Instant::now(),
        );
        Ok(payload)
    }

    async fn commit(
        &mut self,
        correlation: CorrelationId,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
        expected_withdrawals: Vec<Withdrawal>,
    ) -> Result<Committed, ActorError> {
        let hash = payload.block_hash();
        let ours = self.find_built(hash);
        let header = match ours.as_deref() {
            // Our own payload, unchanged since it was validated when built.
            Some(c)
                if c.built.payload == payload
                    && same_sidecar(&c.built.sidecar, &sidecar)
                    && c.built.withdrawals == expected_withdrawals =>
            {
                c.header.clone()
            }
            _ => {
                self.validate_import(&payload, &sidecar, ours.as_deref(), &expected_withdrawals)
                    .await?
            }
        };
        let new_head = BlockRef::new(hash, header.number, header.timestamp);
        let heads = self.state.heads.with_head(new_head);
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
        match head_verdict(&outcome, "forkchoiceUpdated", hash)? {
            HeadVerdict::Undecided => {
                self.set_el(ElCondition::Syncing);
                Ok(not_head(status))
            }
            HeadVerdict::Applied => {
                self.remember_header(hash, header);
                self.commit_state(PersistedState { heads, ..self.state }).await?;
                self.set_el(ElCondition::Synced);
                let peg_outs = self.report_peg_outs(correlation, new_head).await;
                Ok(Committed { hash, number: new_head.number, status, head: true, peg_outs })
            }
        }
    }

    /// Checks a payload that is not exactly one we built: against our request if it claims
    /// to be ours, otherwise as an import whose withdrawals must be the expected ones.
    async fn validate_import(
        &mut self,
        payload: &ExecutionPayload,
        sidecar: &ExecutionPayloadSidecar,
        ours: Option<&CachedBuild>,
        expected_withdrawals: &[Withdrawal],
    ) -> Result<Header, ActorError> {
        let (_, parent_header) = self.block_ref(payload.parent_hash()).await?;
        let parent_info = ParentInfo::from_header(payload.parent_hash(), &parent_header)
            .ok_or_else(|| {
                EngineError::bad_response("eth_getBlockByHash", "parent header has no base fee")
            })?;
        let origin = match ours {
            Some(cached) if cached.built.withdrawals == expected_withdrawals => {
                Origin::Built(&cached.request)
            }
            _ => Origin::Imported { withdrawals: expected_withdrawals },
        };
        self.core
            .validator
            .validate(payload, sidecar, &parent_info, origin)
            .map(|v| v.header)
            .map_err(|e| ActorError::InvalidPayload {
                block: payload.block_hash(),
                reason: e.to_string(),
            })
    }

    fn find_built(&self, hash: B256) -> Option<Arc<CachedBuild>> {
        self.core.cache().find(Instant::now(), |c| c.built.payload.block_hash() == hash)
    }

    /// Fetches the block's receipts, scans them for peg-outs and tells the Bridge (and hands
    /// the receipts to Storage). Never silent: the outcome goes back in the reply.
    async fn report_peg_outs(&self, correlation: CorrelationId, block: BlockRef) -> PegOutReport {
        let receipts = match self.core.port.block_receipts(block.hash).await {
            Ok(Some(receipts)) => receipts,
            Ok(None) => {
                return failed(block, "the EL does not know the block's receipts".into());
            }
            Err(e) => return failed(block, e.to_string()),
        };
        let indexed = ReceiptWithContext::index_block(
            receipts
                .iter()
                .map(|r| (r.transaction_hash, r.inner.clone().into_primitives_receipt())),
        );
        let scan =
            match self.core.scanner.scan(BlockNumHash::new(block.number, block.hash), &indexed) {
                Ok(scan) => scan,
                Err(e) => return failed(block, e.to_string()),
            };
        for (kind, n) in [
            ("payable", scan.payable.len()),
            ("not_payable", scan.unpayable.len()),
            ("malformed", scan.malformed.len()),
        ] {
            if n > 0 {
                ::metrics::counter!(metrics::BURN_EVENTS, "kind" => kind).increment(n as u64);
            }
        }
        let (payable, not_payable, malformed) =
            (scan.payable.len(), scan.unpayable.len(), scan.malformed.len());
        let any = payable + not_payable + malformed > 0;
        let delivered = any
            && self.core.peers.bridge.as_ref().is_some_and(|bridge| {
                bridge.send(BurnEventsDetected {
                    correlation,
                    block_hash: block.hash,
                    block_number: block.number,
                    payable: scan.payable,
                    not_payable: scan.unpayable,
                    malformed: scan.malformed,
                })
            });
        if any && !delivered {
            tracing::error!(block = %block.hash, payable, not_payable, malformed,
                "peg-outs found but no Bridge actor took them");
        }
        if let Some(storage) = &self.core.peers.storage
            && !storage.send(StoreExecutionData {
                correlation,
                block_hash: block.hash,
                block_number: block.number,
                receipts,
            })
        {
            tracing::warn!(block = %block.hash, "no Storage actor took the receipts");
        }
        PegOutReport::Scanned { payable, not_payable, malformed, delivered }
    }

    async fn forkchoice(
        &mut self,
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
        self.send_forkchoice(heads).await?;
        self.remember_header(head.hash, header);
        Ok(heads)
    }

    async fn set_finalized(&mut self, hash: B256) -> Result<ForkchoiceHeads, ActorError> {
        let finalized = self.optional_ref(hash).await?;
        let current = self.state.heads;
        if finalized == current.finalized {
            return Ok(current);
        }
        let mut heads = ForkchoiceHeads { finalized, ..current };
        if heads.safe.number < finalized.number || heads.safe.is_unset() {
            heads.safe = finalized;
        }
        self.check_finality(&heads)?;
        self.send_forkchoice(heads).await?;
        Ok(heads)
    }

    fn check_finality(&self, heads: &ForkchoiceHeads) -> Result<(), ActorError> {
        let current = self.state.heads.finalized;
        // Once something is final, "nothing final" is a regression too.
        let regresses = !current.is_unset()
            && (heads.finalized.is_unset() || heads.finalized.number < current.number);
        if regresses {
            return Err(ActorError::FinalizedRegression {
                current: current.number,
                requested: heads.finalized.number,
            });
        }
        Ok(())
    }

    /// Sends `heads` to the EL; persists and publishes them when it applies them.
    async fn send_forkchoice(&mut self, heads: ForkchoiceHeads) -> Result<(), ActorError> {
        let outcome = self
            .core
            .port
            .forkchoice_updated(heads.state(), heads.head.timestamp)
            .await
            .map_err(|e| ActorError::from_client(e, "set head to", heads.head.hash))?;
        match head_verdict(&outcome, "forkchoiceUpdated", heads.head.hash)? {
            HeadVerdict::Applied => {
                self.commit_state(PersistedState { heads, ..self.state }).await?;
                self.set_el(ElCondition::Synced);
                Ok(())
            }
            HeadVerdict::Undecided => {
                self.set_el(ElCondition::Syncing);
                Err(ActorError::Syncing { action: "set head to", block: heads.head.hash })
            }
        }
    }
}

/// Whether two sidecars carry the same `newPayload` extras (alloy's type has no `PartialEq`).
fn same_sidecar(a: &ExecutionPayloadSidecar, b: &ExecutionPayloadSidecar) -> bool {
    a.parent_beacon_block_root() == b.parent_beacon_block_root()
        && a.versioned_hashes() == b.versioned_hashes()
        && a.requests() == b.requests()
}

fn failed(block: BlockRef, reason: String) -> PegOutReport {
    tracing::error!(block = %block.hash, %reason, "peg-out scan failed: the chain must retry");
    PegOutReport::Failed { reason }
}

/// The persisted state of a fresh engine.
pub(crate) fn fresh_state() -> PersistedState {
    PersistedState::new(ForkchoiceHeads::default())
}

/// The view published before the worker's first job.
pub(crate) fn initial_view(state: &PersistedState) -> View {
    View {
        el: ElCondition::Unknown,
        heads: state.heads,
        head_gas_limit: None,
        next_withdrawal_index: state.next_withdrawal_index,
        last_error: None,
    }
}
