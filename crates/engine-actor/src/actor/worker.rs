//! The forkchoice worker: the single writer of head, safe and finalized.
//!
//! Every request that moves the forkchoice state (reconcile, build, commit, forkchoice
//! update, finality) is a [`Job`] on one channel, run to completion one at a time, so the EL
//! sees forkchoice updates in the order the engine received them while the actor's mailbox
//! stays free for queries. Each change is persisted before it is replied.
//!
//! The engine never relies on the EL going back to an older head (Geth and Reth skip or
//! refuse such an update): an EL found ahead of us on a descendant chain is validated and
//! adopted ([`reconcile`]), an EL that declares our head INVALID makes the head walk back to
//! the newest valid ancestor it names, and money is minted once: the
//! [`MintLedger`](crate::minted::MintLedger) in the persisted state says which peg-ins the
//! canonical chain minted.

mod branch;
mod reconcile;

use super::core::{CachedBuild, Core, View};
use crate::{
    error::ActorError,
    heads::{BlockRef, ForkchoiceHeads},
    messages::{BuiltPayload, Committed, Landed, PegOutReport, Reply},
    metrics,
    minted::Conflict,
    peers::{BurnEventsDetected, HeadChangeCause, HeadChanged, StoreExecutionData},
    persist::{InFlight, PersistedState, StateStore},
    status::ElCondition,
};
use alloy_consensus::Header;
use engine_client::{error::ClientError, pool::CommitOutcome, traceparent::with_correlation};
use engine_types::{
    CorrelationId, EngineError, PayloadStatus, PegIn, Severity,
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
        peg_ins: Vec<PegIn>,
        reply: Reply<Committed>,
    },
    WhatLanded {
        block: B256,
        peg_ins: Vec<PegIn>,
        reply: Reply<Landed>,
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

/// A job as queued for the worker: with the correlation id of the request and the span it
/// arrived in, so the job's spans and its calls to the EL join the caller's trace.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) correlation: CorrelationId,
    pub(crate) span: tracing::Span,
    pub(crate) job: Job,
}

impl Job {
    /// Answers the job's caller with `error` instead of running it (a reconcile has no
    /// caller: the tick that queued it sees it refused and tries again at the next tick,
    /// see `tick` in actor.rs).
    pub(crate) fn refuse(self, error: ActorError) {
        if !matches!(self, Self::Reconcile) {
            Core::record(self.name(), &Err::<(), _>(error.clone()));
        }
        match self {
            Self::Reconcile => {}
            Self::Build(_, reply) => answer(reply, Err(error)),
            Self::Commit { reply, .. } => answer(reply, Err(error)),
            Self::WhatLanded { reply, .. } => answer(reply, Err(error)),
            Self::Forkchoice { reply, .. } | Self::SetFinalized { reply, .. } => {
                answer(reply, Err(error));
            }
        }
    }

    pub(crate) const fn name(&self) -> &'static str {
        match self {
            Self::Reconcile => "reconcile",
            Self::Build(..) => "build_payload",
            Self::Commit { .. } => "commit_payload",
            Self::Forkchoice { .. } => "forkchoice_update",
            Self::SetFinalized { .. } => "set_finalized",
            Self::WhatLanded { .. } => "what_landed",
        }
    }
}

pub(crate) struct Worker {
    core: Arc<Core>,
    store: StateStore,
    state: PersistedState,
    /// Whether the state file is known to hold `state`. A failed save may still have
    /// replaced the file (the rename done, the directory's fsync failed): until a save
    /// succeeds, nothing is taken to be on disk.
    on_disk: bool,
    headers: VecDeque<(B256, Header)>,
}

impl Worker {
    /// `state` is what the store loaded (or a fresh state where there was no file: loading
    /// nothing again gives the same).
    pub(crate) fn new(core: Arc<Core>, store: StateStore, state: PersistedState) -> Self {
        Self { core, store, state, on_disk: true, headers: VecDeque::new() }
    }

    /// Runs jobs until the channel closes (the actor stopped) or the task is aborted. Peg-ins
    /// handed back before a restart and not minted since are handed back again first.
    ///
    /// Each job runs in a span that is a child of the span its request arrived in, with its
    /// correlation id as the trace id of every request it sends to the EL (`traceparent`).
    pub(crate) async fn run(mut self, mut jobs: mpsc::Receiver<Queued>) {
        let returned = self.state.minted.returned().to_vec();
        if !returned.is_empty() {
            let head = self.state.heads.head;
            self.tell_chain(HeadChanged {
                correlation: CorrelationId::new(),
                cause: HeadChangeCause::Redelivered,
                from: head,
                to: head,
                adopted: Vec::new(),
                discarded: Vec::new(),
                returned_peg_ins: returned,
            });
        }
        while let Some(Queued { correlation, span: caller, job }) = jobs.recv().await {
            let span = tracing::info_span!(parent: &caller, "engine_forkchoice",
                message = job.name(), %correlation);
            with_correlation(correlation, self.handle(correlation, job)).instrument(span).await;
            self.core.forkchoice_done();
        }
    }

    async fn handle(&mut self, correlation: CorrelationId, job: Job) {
        let started = Instant::now();
        match job {
            Job::Reconcile => {
                if let Err(e) = self.reconcile(correlation).await {
                    let condition = if e.severity() == Severity::Fatal {
                        ElCondition::Diverged(e.to_string())
                    } else {
                        ElCondition::Unreachable(e.to_string())
                    };
                    // Retried on every tick: log the first failure and changes, not each retry.
                    if self.core.view().el != condition {
                        tracing::warn!(error = %e, "reconcile with the execution client failed");
                    }
                    self.set_el(condition);
                }
            }
            Job::Build(job, reply) => {
                let result = self.build(correlation, job).await;
                Core::record("build_payload", &result);
                ::metrics::histogram!(metrics::BUILD_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                self.note(&result);
                answer(reply, result);
            }
            Job::Commit { payload, sidecar, expected_withdrawals, peg_ins, reply } => {
                let result = self
                    .commit(correlation, *payload, *sidecar, &expected_withdrawals, &peg_ins)
                    .await;
                Core::record("commit_payload", &result);
                ::metrics::histogram!(metrics::COMMIT_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                self.note(&result);
                answer(reply, result);
            }
            Job::Forkchoice { head, safe, finalized, reply } => {
                let result = self.forkchoice(correlation, head, safe, finalized).await;
                Core::record("forkchoice_update", &result);
                self.note(&result);
                answer(reply, result);
            }
            Job::SetFinalized { hash, reply } => {
                let result = self.set_finalized(correlation, hash).await;
                Core::record("set_finalized", &result);
                self.note(&result);
                answer(reply, result);
            }
            Job::WhatLanded { block, peg_ins, reply } => {
                let result = self.what_landed(correlation, block, &peg_ins).await;
                Core::record("what_landed", &result);
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
    /// The EL declared the head INVALID (with the newest valid ancestor it named, if any).
    Invalid(PayloadStatus),
}

fn head_verdict(outcome: &CommitOutcome, method: &str) -> Result<HeadVerdict, ActorError> {
    let Some(forkchoice) = &outcome.forkchoice else {
        return Err(EngineError::bad_response(method, "no forkchoiceUpdated answer").into());
    };
    Ok(match &forkchoice.status {
        PayloadStatus::Valid { .. } => HeadVerdict::Applied,
        s if s.is_undecided() => HeadVerdict::Undecided,
        s => HeadVerdict::Invalid(s.clone()),
    })
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
    /// so the engine never acts on state it could not save. A `next` equal to the state the
    /// file is known to hold is not written again (a reconcile that found nothing new, a
    /// SYNCING answer re-sent every tick): the file already says it, and the write costs two
    /// fsyncs.
    async fn commit_state(&mut self, next: PersistedState) -> Result<(), ActorError> {
        if !(self.on_disk && next == self.state) {
            let saved = self.save(&next).await;
            self.on_disk = saved.is_ok();
            saved?;
        }
        self.adopt_state(next);
        Ok(())
    }

    /// Writes `next` durably.
    async fn save(&self, next: &PersistedState) -> Result<(), ActorError> {
        // The write (with its fsyncs) blocks; on a multi-threaded runtime `block_in_place`
        // hands this thread's other tasks to the rest of the pool and avoids the hop to the
        // blocking pool, which costs more than the write itself on a fast disk.
        if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(|| self.store.save(next))
        } else {
            let store = self.store.clone();
            let to_save = next.clone();
            tokio::task::spawn_blocking(move || store.save(&to_save)).await.map_err(|e| {
                ActorError::StateFile {
                    path: self.store.path(),
                    reason: format!("the writer task failed: {e}"),
                }
            })?
        }
    }

    /// Makes `next` (saved) the state in memory and publishes it.
    fn adopt_state(&mut self, next: PersistedState) {
        let gas_limit = self.header(&next.heads.head.hash).map(|h| h.gas_limit);
        let (heads, index) = (next.heads, next.next_withdrawal_index);
        let finality_pending = next.finality_intent.is_some();
        self.state = next;
        self.core.publish(|v| {
            v.heads = heads;
            v.next_withdrawal_index = index;
            v.finality_pending = finality_pending;
            if gas_limit.is_some() {
                v.head_gas_limit = gas_limit;
            }
        });
        ::metrics::gauge!(metrics::HEAD_NUMBER).set(heads.head.number as f64);
        ::metrics::gauge!(metrics::SAFE_NUMBER).set(heads.safe.number as f64);
        ::metrics::gauge!(metrics::FINALIZED_NUMBER).set(heads.finalized.number as f64);
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
        let header = self.core.known_block(BlockId::hash(hash), false).await?.header.inner;
        self.remember_header(hash, header.clone());
        Ok((BlockRef::new(hash, header.number, header.timestamp), header))
    }

    /// A zero hash stays "none"; any other is looked up.
    async fn optional_ref(&mut self, hash: B256) -> Result<BlockRef, ActorError> {
        if hash.is_zero() { Ok(BlockRef::default()) } else { Ok(self.block_ref(hash).await?.0) }
    }

    /// Whether `block` is on the EL's canonical chain (its hash is the one at its number).
    async fn is_canonical(&self, block: BlockRef) -> Result<bool, ActorError> {
        let at = self.core.port.block(BlockId::number(block.number), false).await?;
        Ok(at.is_some_and(|b| b.header.hash == block.hash))
    }

    /// Tells the Chain that the head moved by itself; without a receiver, says so loudly
    /// with every returned peg-in, so that nothing is lost silently.
    fn tell_chain(&self, change: HeadChanged) {
        tracing::warn!(cause = ?change.cause, from = change.from.number, to = change.to.number,
            adopted = change.adopted.len(), discarded = change.discarded.len(),
            returned_peg_ins = change.returned_peg_ins.len(), "the engine moved its head");
        let returned: Vec<B256> = change.returned_peg_ins.iter().map(|p| p.bitcoin_txid).collect();
        let delivered = self.core.peers.chain_events.as_ref().is_some_and(|c| c.send(change));
        if !delivered && !returned.is_empty() {
            tracing::error!(
                ?returned,
                "no Chain receiver took the returned peg-ins: queue them again by hand"
            );
        }
    }

    async fn build(
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
                    ActorError::HeadMoved { from, to }
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
        expected_withdrawals: &[Withdrawal],
        peg_ins: &[PegIn],
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
                self.validate_import(&payload, &sidecar, ours.as_deref(), expected_withdrawals)
                    .await?
            }
        };
        let new_head = BlockRef::new(hash, header.number, header.timestamp);
        let heads = next.heads.with_head(new_head);
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

    /// Where `block` and `peg_ins` stand once every earlier job has finished. A commit
    /// whose reply was lost may have landed at the EL all the same: the EL's head is
    /// reconciled first (adopted when it extends ours), so the answer is the EL's truth; if
    /// that fails, so does the answer (it would not be final).
    async fn what_landed(
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
    async fn settle_canonical(
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
                return Err(ActorError::WouldRewind { requested: head, el });
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
    async fn el_head(&self) -> Result<BlockRef, ActorError> {
        Ok(BlockRef::of(&self.core.known_block(BlockId::latest(), false).await?.header))
    }

    /// Tells the Chain about a rebase that returned peg-ins (or moved the head by itself).
    fn tell_rebased(
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

    async fn set_finalized(
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
            return Err(ActorError::NotOnChain { block: finalized, head: current.head });
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
    fn check_finality(&self, heads: &ForkchoiceHeads) -> Result<(), ActorError> {
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
            return Err(ActorError::FinalizedRegression {
                current: current.number,
                requested: heads.finalized.number,
            });
        }
        Ok(())
    }

    /// Sends `heads` (no attributes) to every endpoint and returns the EL's verdict on them.
    async fn ask_head(&self, heads: ForkchoiceHeads) -> Result<HeadVerdict, ActorError> {
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
    async fn send_forkchoice(
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

impl PersistedState {
    /// Takes `heads` as applied by the EL: a finality intent they reach is fulfilled, and
    /// the ledger forgets what lies below finality.
    fn apply(&mut self, heads: ForkchoiceHeads) {
        self.heads = heads;
        if self.finality_intent.is_some_and(|i| i.number <= heads.finalized.number) {
            self.finality_intent = None;
        }
        if !heads.finalized.is_unset() {
            self.minted.prune_below(heads.finalized.number);
        }
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
            return Err(ActorError::AlreadyMinted {
                bitcoin_txid: m.peg_in.bitcoin_txid,
                block: Some(m.block),
            });
        }
        Some(Conflict::Repeated(bitcoin_txid)) => {
            return Err(ActorError::AlreadyMinted { bitcoin_txid, block: None });
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
        finality_pending: state.finality_intent.is_some(),
        last_error: None,
    }
}
