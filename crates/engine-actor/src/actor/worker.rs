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
//!
//! One module per operation, each an `impl Worker` block: [`build`], [`commit`] (with
//! what-landed), [`forkchoice`] (requested heads and finality), [`peg_outs`] (a new head's
//! receipts scanned by a lane task the worker owns, off the commit's path, and the owed
//! blocks behind a persisted cursor), [`reconcile`] (with the EL's head; [`branch`] walks a
//! fork); this module holds the job queue, the dispatch and the state and header helpers
//! they share.

mod branch;
mod build;
mod commit;
mod forkchoice;
mod peg_outs;
mod reconcile;

use super::core::{CachedBuild, Core, View};
use crate::{
    error::{ActorError, BuildRefusal, CommitRefusal, ForkchoiceRefusal},
    heads::{BlockRef, ForkchoiceHeads},
    messages::{BuiltPayload, Committed, Landed, PegOutReport, Reply},
    metrics::Meters,
    minted::Conflict,
    peers::{HeadChangeCause, HeadChanged},
    persist::{InFlight, PersistedState, StateStore},
    status::ElCondition,
};
use alloy_consensus::Header;
use engine_client::{error::ClientError, pool::CommitOutcome, traceparent::with_correlation};
use engine_types::{
    CorrelationId, EngineError, PayloadStatus, PegIn, Severity,
    eips::{BlockId, eip4895::Withdrawal},
    engine::{ExecutionPayload, ExecutionPayloadSidecar, PayloadAttributes},
    pegin::pack_withdrawals,
    primitives::{Address, B256},
};
use engine_validation::{BuildRequest, Origin, ParentInfo};
use std::{collections::VecDeque, sync::Arc};
use tokio::{sync::mpsc, time::Instant};
use tracing::Instrument;

/// Headers of recent blocks kept to validate children without a round trip.
const HEADER_CACHE: usize = 64;

/// The longest a state save may have taken for the next to run on the worker's thread:
/// tokio's guidance for work between two `.await`s is 10 to 100 µs. An append to the state
/// log on tmpfs takes about 5 µs, on this machine's disk about 150 µs.
const INLINE_SAVE: std::time::Duration = std::time::Duration::from_micros(50);

/// A build request as the worker runs it.
#[derive(Debug)]
pub(crate) struct BuildJob {
    pub(crate) parent: Option<B256>,
    pub(crate) timestamp: u64,
    pub(crate) peg_ins: Vec<PegIn>,
    pub(crate) fee_recipient: Option<Address>,
    pub(crate) prev_randao: Option<B256>,
}

/// What a commit job commits.
#[derive(Debug)]
pub(crate) enum Commit {
    /// Our own build, taken from the cache by its payload id: validated when built.
    Built(Arc<CachedBuild>),
    /// A block built elsewhere, validated in full against the withdrawals expected in it.
    Import {
        payload: Box<ExecutionPayload>,
        sidecar: Box<ExecutionPayloadSidecar>,
        expected_withdrawals: Vec<Withdrawal>,
        peg_ins: Vec<PegIn>,
    },
}

/// Forkchoice-affecting work, in arrival order.
#[derive(Debug)]
pub(crate) enum Job {
    /// Load the EL's view, reconcile with ours, re-send our forkchoice state.
    Reconcile,
    Build(BuildJob, Reply<BuiltPayload>),
    Commit(Commit, Reply<Committed>),
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
    /// Deliver the peg-outs owed for blocks below the head (queued by the tick).
    ScanPegOuts,
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
    pub(crate) fn refuse(self, error: ActorError, meters: &Meters) {
        if !matches!(self, Self::Reconcile | Self::ScanPegOuts) {
            meters.outcome(self.name(), &Err::<(), _>(error.clone()));
        }
        match self {
            Self::Reconcile | Self::ScanPegOuts => {}
            Self::Build(_, reply) => answer(reply, Err(error)),
            Self::Commit(_, reply) => answer(reply, Err(error)),
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
            Self::ScanPegOuts => "scan_peg_outs",
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
    /// How long the last state save took: [`save`](Self::save) runs the next one on this
    /// thread when it was short.
    last_save: std::time::Duration,
    /// The peg-out scan lane: its task ends with the worker.
    lane: peg_outs::Lane,
    /// Owed blocks the last catch-up could not hand over (the lane was full).
    owed: Option<peg_outs::OwedTail>,
}

impl Worker {
    /// `state` is what the store loaded (or a fresh state where there was no file: loading
    /// nothing again gives the same).
    pub(crate) fn new(core: Arc<Core>, store: StateStore, mut state: PersistedState) -> Self {
        // A file from before the scan cursor: its head's peg-outs were reported by the
        // commit that made it the head.
        let mut on_disk = true;
        if state.peg_outs_scanned.is_none() && !state.heads.head.is_unset() {
            state.peg_outs_scanned = Some(state.heads.head);
            on_disk = false;
        }
        let lane = peg_outs::Lane::start(core.clone(), core.config.scan_queue.get());
        // Unknown until the first save: that one blocks off the worker's thread.
        let last_save = std::time::Duration::MAX;
        Self { core, store, state, on_disk, headers: VecDeque::new(), last_save, lane, owed: None }
    }

    /// Runs jobs until the channel closes (the actor stopped) or the task is aborted, and
    /// takes the scan lane's answers between jobs; returns why it stopped. Peg-ins handed
    /// back before a restart and not minted since are handed back again first.
    ///
    /// Each job runs in a span that is a child of the span its request arrived in, with its
    /// correlation id as the trace id of every request it sends to the EL (`traceparent`).
    pub(crate) async fn run(mut self, mut jobs: mpsc::Receiver<Queued>) -> String {
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
        enum Next {
            Scanned(Result<peg_outs::Outcome, String>),
            Job(Option<Queued>),
        }
        loop {
            // The lane's answers first: each moves the cursor the next job may read.
            let next = tokio::select! {
                biased;
                outcome = self.lane.next_outcome() => Next::Scanned(outcome),
                queued = jobs.recv() => Next::Job(queued),
            };
            match next {
                Next::Scanned(Ok(outcome)) => self.scanned(outcome).await,
                // The lane only ends by a panic: this worker cannot deliver peg-outs any
                // more, so it ends too and the actor fails with the reason.
                Next::Scanned(Err(reason)) => {
                    return format!("its peg-out scan lane ended: {reason}");
                }
                Next::Job(None) => return "its job queue closed".into(),
                Next::Job(Some(Queued { correlation, span: caller, job })) => {
                    let span = tracing::info_span!(parent: &caller, "engine_forkchoice",
                        message = job.name(), %correlation);
                    with_correlation(correlation, self.handle(correlation, job))
                        .instrument(span)
                        .await;
                    self.core.forkchoice_done();
                }
            }
        }
    }

    async fn handle(&mut self, correlation: CorrelationId, job: Job) {
        let started = Instant::now();
        match job {
            Job::ScanPegOuts => {
                // Retried at the next tick while owed: log the failure, the metric counts it.
                if let Err(e) = self.scan_owed(correlation).await {
                    tracing::warn!(error = %e, "owed peg-outs not delivered yet");
                }
            }
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
                self.core.meters.outcome("build_payload", &result);
                self.core.meters.build_seconds.record(started.elapsed().as_secs_f64());
                self.note(&result);
                answer(reply, result);
            }
            Job::Commit(commit, reply) => {
                let result = self.commit(correlation, commit).await;
                self.core.meters.outcome("commit_payload", &result);
                self.core.meters.commit_seconds.record(started.elapsed().as_secs_f64());
                self.note(&result);
                answer(reply, result);
                // After the reply: the caller does not wait for the owed blocks' walk.
                self.catch_up().await;
            }
            Job::Forkchoice { head, safe, finalized, reply } => {
                let result = self.forkchoice(correlation, head, safe, finalized).await;
                self.core.meters.outcome("forkchoice_update", &result);
                self.note(&result);
                answer(reply, result);
            }
            Job::SetFinalized { hash, reply } => {
                let result = self.set_finalized(correlation, hash).await;
                self.core.meters.outcome("set_finalized", &result);
                self.note(&result);
                answer(reply, result);
            }
            Job::WhatLanded { block, peg_ins, reply } => {
                let result = self.what_landed(correlation, block, &peg_ins).await;
                self.core.meters.outcome("what_landed", &result);
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

    /// Writes `next` durably: on the worker's own thread while the last save took at most
    /// [`INLINE_SAVE`] (tmpfs, or a disk with a fast sync), else where blocking does not
    /// hold up the runtime's other tasks. Handing the thread over costs about as much as a
    /// save on a fast device (`cargo bench -p engine-actor --bench cycle`: `state/save_*`
    /// against the actor's overhead), so paying it only for slow saves is what keeps the
    /// commit's one durable write cheap.
    async fn save(&mut self, next: &PersistedState) -> Result<(), ActorError> {
        let started = std::time::Instant::now();
        let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
        let saved = if self.last_save <= INLINE_SAVE {
            self.store.save(next)
        } else if multi_thread {
            // The other workers take this thread's tasks while the save blocks; no hop to
            // the blocking pool and back.
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
        };
        self.last_save = started.elapsed();
        saved
    }

    /// Makes `next` (saved) the state in memory and publishes it.
    fn adopt_state(&mut self, next: PersistedState) {
        let gas_limit = self.header(&next.heads.head.hash).map(|h| h.gas_limit);
        let (heads, index) = (next.heads, next.next_withdrawal_index);
        let finality_pending = next.finality_intent.is_some();
        self.state = next;
        let (peg_outs_scanned, peg_outs_owed) = (self.state.peg_outs_scanned, self.peg_outs_owed());
        self.core.publish(|v| {
            v.heads = heads;
            v.next_withdrawal_index = index;
            v.finality_pending = finality_pending;
            v.peg_outs_scanned = peg_outs_scanned;
            v.peg_outs_owed = peg_outs_owed;
            if gas_limit.is_some() {
                v.head_gas_limit = gas_limit;
            }
        });
        let meters = &self.core.meters;
        meters.head.set(heads.head.number as f64);
        meters.safe.set(heads.safe.number as f64);
        meters.finalized.set(heads.finalized.number as f64);
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

/// Whether `state` owes the Bridge the peg-outs of blocks between its scan cursor and its
/// head (handed to the scan lane or not).
pub(crate) fn owes_peg_outs(state: &PersistedState) -> bool {
    state.peg_outs_scanned.is_some_and(|scanned| scanned != state.heads.head)
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
        peg_outs_scanned: state.peg_outs_scanned,
        peg_outs_owed: owes_peg_outs(state),
        last_error: None,
    }
}
