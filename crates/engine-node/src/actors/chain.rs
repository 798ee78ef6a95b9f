//! The Chain actor: the slot timer that produces blocks, and the keeper of the peg-in queue.
//!
//! ```text
//!  Tick{generation} ─ stale generation or a slot running? ─> ignored / counted as skipped
//!        │
//!        └─> slot task (in the slot's trace: [`trace`]):
//!              the last slot committed its block as the head, and since then no failure,
//!              re-sync, unsettled block or HeadChanged ─> build on that block at once
//!              otherwise: GetStatus (not ready: wait)
//!              ─> re-sync (ForkchoiceUpdate) when an earlier slot met a Reset error
//!              ─> settle: WhatLanded for every block left unsettled (none: go on)
//!              ─> BuildPayload{head, timestamp, pending peg-ins} (NotReady: wait; the
//!                 engine has checked the payload against the head and the request)
//!              ─> queue: its peg-ins unsettled with the block (persisted)
//!              ─> CommitBuilt{payload id} (the engine holds the payload it checked)
//!                   head ──────────────────────> settled: minted
//!                   timeout / error / not head ─> WhatLanded{block, peg_ins}
//!                        canonical ───> produced (the block landed after all)
//!                        not ─────────> only the unminted peg-ins go back to the queue
//!                        no answer ───> held unsettled; the next slot asks first
//!              ─> SetFinalized every K blocks
//!              ─> SlotEnded{slot} to the running incarnation, which collects the outcomes
//!                 from the task's handle (progress lines, block limit, each error's
//!                 severity, failures in a row: [`outcome`])
//!  HeadChanged (from the engine) ─> returned peg-ins back at the front of the queue
//! ```
//!
//! The slot runs as a task so the mailbox stays free (a `Stop` is seen at once); only one
//! slot runs at a time, under a `slot` span whose OpenTelemetry trace id is the correlation
//! id its engine requests share (and send to the execution client in `traceparent`). The
//! task's handle lives in [`ChainShared`], not in one incarnation's state: every message
//! checks it, a slot that ended is collected then, and a panic or a fatal error stops the
//! actor with a [`ChainFailure`] so that its supervisor restarts it. **A restart does not
//! start a second slot beside a running one**: the new incarnation finds the previous
//! incarnation's slot there and starts none until it has collected it (its block recorded,
//! its peg-ins settled by the slot itself), so no two slots ever share the peg-in queue.
//! Waiting (rather than aborting at the stop) keeps the accounting exact: a slot aborted
//! between its commit and its report would leave a block that landed uncounted. Only a slot
//! still running [`ChainTimeouts::stop_wait`] after the restart is aborted, which the queue
//! survives (see [`MAX_STOP_WAIT`]). Ticks carry the generation they were armed with:
//! `Stop` (or the block limit) bumps it, so a tick already queued never starts another slot.
//! The simulator's peg-out is a task owned the same way (`ChainShared::peg_out`).
//!
//! **No peg-in minted twice.** A caller that timed out must not assume its commit failed:
//! the engine's worker may still finish it. So a commit that times out, fails, or does not
//! make the block the head leaves the block's peg-ins *unsettled* until the engine answers
//! `WhatLanded` (which waits behind every forkchoice job already accepted, so a commit
//! still running finishes first); only the peg-ins no canonical block minted are queued
//! again. The queue keeps each bitcoin txid once, is bounded, and is persisted in the data
//! directory ([`queue`]), so a crash at any moment neither loses nor repeats a peg-in.
//! The Chain waits for each request as long as the engine may legitimately take with its
//! configured timeouts and retries ([`ChainTimeouts`]).
//!
//! The actor stays alive after it stops producing: the engine watches it, and a missing
//! Chain actor would make the engine fail.

mod finality;
pub(crate) mod outcome;
pub(crate) mod queue;
mod simulator;
mod slot;

use crate::{
    actors::{CallError, STATUS_TIMEOUT, ask_status, trace},
    metrics,
    progress::{BlockLine, Progress},
    sim::Simulator,
};
use engine_actor::{
    ActorError, ChainLine, ChainRequest,
    error::BuildRefusal,
    heads::BlockRef,
    line::LineError,
    messages::{Committed, Landed, Reply},
    peers::HeadChanged,
};
use engine_types::{CorrelationId, config::EngineConfig, primitives::B256};
use outcome::{ChainFailure, SlotError, record, resync};
use queue::{PegInQueue, QueueError, Unsettled};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, concurrency::JoinHandle};
use slot::{flatten, run_slot};
use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;
use tracing::Instrument;
#[cfg(test)]
use {engine_types::PegIn, queue::Admitted};

/// The longest a stop waits for the slot in flight. Abandoning a slot is safe (its peg-ins
/// are recorded unsettled with its block before the commit; the next start settles them), so a stop need not wait out a hung execution client's whole budget.
const MAX_STOP_WAIT: Duration = Duration::from_secs(60);

/// How long the Chain waits for each kind of engine request: the engine's worst case with
/// its configured timeouts, retries and endpoints (`EngineConfig::build_budget` and the
/// like), so the Chain never gives up on work the engine is still doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainTimeouts {
    /// `BuildPayload` (`EngineConfig::build_budget`).
    pub(crate) build: Duration,
    /// `CommitBuilt` (`EngineConfig::commit_budget`).
    pub(crate) commit: Duration,
    /// `WhatLanded`, which waits behind the commit it asks about
    /// (`EngineConfig::what_landed_budget`).
    pub(crate) what_landed: Duration,
    /// `SetFinalized` (`EngineConfig::forkchoice_budget`).
    pub(crate) finalize: Duration,
    /// `ForkchoiceUpdate`, the re-sync after a `Reset` error
    /// (`EngineConfig::forkchoice_budget`).
    pub(crate) forkchoice: Duration,
}

impl ChainTimeouts {
    /// The budgets of `engine`; `None` when one overflows (`Config::validate` refuses such a
    /// configuration first).
    pub(crate) fn from_engine(engine: &EngineConfig) -> Option<Self> {
        Some(Self {
            build: engine.build_budget()?,
            commit: engine.commit_budget()?,
            what_landed: engine.what_landed_budget()?,
            finalize: engine.forkchoice_budget()?,
            forkchoice: engine.forkchoice_budget()?,
        })
    }

    /// How long a stop waits for the slot in flight: the whole slot ([`Self::slot`]), at
    /// most [`MAX_STOP_WAIT`].
    pub(crate) fn stop_wait(&self) -> Duration {
        self.slot().min(MAX_STOP_WAIT)
    }

    /// The longest one slot can take: two status queries, the re-sync, asking what landed
    /// (settling), the build, the commit, asking what landed again, finality.
    pub(crate) fn slot(&self) -> Duration {
        [
            STATUS_TIMEOUT,
            STATUS_TIMEOUT,
            self.forkchoice,
            self.what_landed,
            self.build,
            self.commit,
            self.what_landed,
            self.finalize,
        ]
        .into_iter()
        .fold(Duration::ZERO, Duration::saturating_add)
    }
}

/// How the Chain actor produces blocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProductionConfig {
    /// Time between slots.
    pub(crate) slot: Duration,
    /// Stop producing after this many blocks.
    pub(crate) blocks: Option<u64>,
    /// Finalize the head every this many blocks (0: never).
    pub(crate) finalize_every: u64,
    /// How long each engine request may take.
    pub(crate) timeouts: ChainTimeouts,
    /// How long the engine waits between starting a build and collecting it
    /// (`engine.build_lookahead`): a block is collected that much after its slot's tick, so
    /// it carries that time as its timestamp, as Lighthouse's attributes carry the start of
    /// the slot they are prepared ahead of.
    pub(crate) build_lookahead: Duration,
}

/// Where the Chain actor is, for whoever waits on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ChainProgress {
    /// Blocks produced in this run.
    pub(crate) produced: u64,
    /// The block limit was reached: production stopped.
    pub(crate) finished: bool,
}

/// What outlives a Chain actor incarnation: configuration, the peg-in queue, the progress
/// counters and the simulated users.
#[derive(Debug)]
pub(crate) struct ChainShared {
    config: ProductionConfig,
    queue: Mutex<PegInQueue>,
    progress: watch::Sender<ChainProgress>,
    lines: Mutex<Progress>,
    /// Why the last slot waited, so that a long wait is logged once, not every slot.
    waiting: Mutex<Option<String>>,
    sim: Option<Arc<Simulator>>,
    /// Set by `ChainCmd::Stop`, so that an incarnation restarted by the supervision tree
    /// while the node stops does not produce again.
    stopped: AtomicBool,
    /// A slot failed with a `Reset` error: the next one re-syncs with the engine first.
    resync: AtomicBool,
    /// The block the last slot committed as the head, while nothing since says the head may
    /// have moved: the next slot builds on it without asking the engine for its status (see
    /// [`run_slot`]). Taken by every slot, set again only by a commit the engine answered
    /// as the head; a `HeadChanged` from the engine clears it.
    committed_head: Mutex<Option<BlockRef>>,
    /// The slot task in flight, whichever incarnation started it: a restarted Chain finds
    /// the previous incarnation's slot here and starts none of its own until that one is
    /// collected (its outcomes recorded), so two slots never share the peg-in queue.
    slot: Mutex<Option<InFlight>>,
    /// Slot numbers, unique over incarnations (so a `SlotEnded` names one slot only).
    slots: AtomicU64,
    /// The running incarnation, to which a slot's `SlotEnded` goes (the one that started
    /// it may be gone).
    actor: Mutex<Option<ActorRef<ChainCmd>>>,
    /// The simulator's peg-out transaction in flight (at most one), reaped by the actor.
    peg_out: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The line to the engine's forkchoice worker its Chain requests take: the engine's
    /// every incarnation connects it (see [`engine_actor::line`]).
    line: ChainLine,
    /// Tests: the next slot task panics (a bug inside a slot).
    #[cfg(test)]
    panic_next_slot: AtomicBool,
    /// Tests: the next slot task never ends (a bug that blocks a slot).
    #[cfg(test)]
    hang_next_slot: AtomicBool,
    /// Tests: how many times slots asked the engine for its status.
    #[cfg(test)]
    status_asks: AtomicU64,
}

/// Runs `f`, which blocks on a file write, without stalling the runtime's other tasks on a
/// multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl ChainShared {
    /// Shared state for a run; `sim` adds simulated peg-ins and peg-outs; `queue` is the
    /// peg-in queue (loaded from the data directory, or in memory).
    pub(crate) fn new(
        config: ProductionConfig,
        sim: Option<Simulator>,
        summary_every: u64,
        queue: PegInQueue,
    ) -> Arc<Self> {
        ::metrics::gauge!(metrics::PEG_INS_PENDING).set(queue.pending_len() as f64);
        Arc::new(Self {
            config,
            queue: Mutex::new(queue),
            progress: watch::Sender::new(ChainProgress::default()),
            lines: Mutex::new(Progress::new(summary_every)),
            waiting: Mutex::new(None),
            sim: sim.map(Arc::new),
            stopped: AtomicBool::new(false),
            resync: AtomicBool::new(false),
            committed_head: Mutex::new(None),
            slot: Mutex::new(None),
            slots: AtomicU64::new(0),
            actor: Mutex::new(None),
            peg_out: Mutex::new(None),
            line: ChainLine::new(),
            #[cfg(test)]
            panic_next_slot: AtomicBool::new(false),
            #[cfg(test)]
            hang_next_slot: AtomicBool::new(false),
            #[cfg(test)]
            status_asks: AtomicU64::new(0),
        })
    }

    /// The configuration.
    pub(crate) const fn config(&self) -> &ProductionConfig {
        &self.config
    }

    /// The line the engine is to connect: give it to the engine's arguments
    /// ([`EngineArgs::line`](engine_actor::EngineArgs::line)).
    pub(crate) fn line(&self) -> ChainLine {
        self.line.clone()
    }

    /// Sends the Chain request `build` makes down the line and waits at most `timeout` for
    /// the engine's answer; no answer is a [`CallError`], as through the engine's mailbox.
    async fn ask_engine<T: Send + 'static>(
        &self,
        build: impl FnOnce(Reply<T>) -> ChainRequest,
        timeout: Duration,
    ) -> Result<Result<T, ActorError>, CallError> {
        self.line.call(build, timeout).await.map_err(|e| match e {
            LineError::NotConnected => CallError::NotRunning,
            LineError::Stopped => CallError::Stopped,
            LineError::Timeout(waited) => CallError::Timeout(waited),
        })
    }

    /// Follows the progress.
    pub(crate) fn subscribe(&self) -> watch::Receiver<ChainProgress> {
        self.progress.subscribe()
    }

    fn queue(&self) -> MutexGuard<'_, PegInQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the queue with `f` and persists it; the change stands in memory even when
    /// the write fails (the error is logged and counted: the next change writes it all).
    fn update_queue<T>(&self, f: impl FnOnce(&mut PegInQueue) -> T) -> T {
        self.update_queue_checked(f).0
    }

    /// Changes the queue with `f` without writing it: for a change that a write would not
    /// alter (a build taking its peg-ins: the file holds them as pending either way), or one
    /// a restart recovers without it, as each caller says. The next write carries it.
    fn update_queue_unsaved<T>(&self, f: impl FnOnce(&mut PegInQueue) -> T) -> T {
        change_queue(&mut self.queue(), f)
    }

    /// Writes what [`Self::update_queue_unsaved`] changed, so that a stopped node's file
    /// holds the queue as it is.
    fn flush_queue(&self) {
        self.update_queue(|_| ());
    }

    /// [`Self::update_queue`], returning the write's outcome for a caller that must not go
    /// on without it.
    fn update_queue_checked<T>(
        &self,
        f: impl FnOnce(&mut PegInQueue) -> T,
    ) -> (T, Result<(), QueueError>) {
        blocking(|| {
            let mut queue = self.queue();
            let out = change_queue(&mut queue, f);
            let saved = queue.persist();
            if let Err(e) = &saved {
                ::metrics::counter!(metrics::SLOT_FAILURES, "stage" => "queue").increment(1);
                tracing::error!(error = %e, severity = ?e.severity(),
                    "the peg-in queue could not be saved");
            }
            (out, saved)
        })
    }

    /// Queues new peg-ins behind the waiting ones (a txid already held is queued once);
    /// beyond the queue's bound they are refused, loudly, and returned for the source to
    /// keep. (The simulator goes through [`Self::admit_simulated`], which does not create
    /// what would be refused.)
    #[cfg(test)]
    pub(crate) fn queue_peg_ins(&self, peg_ins: impl IntoIterator<Item = PegIn>) -> Admitted {
        let admitted = self.update_queue(|q| q.admit(peg_ins));
        if admitted.duplicates > 0 {
            tracing::info!(duplicates = admitted.duplicates, "peg-ins already queued: kept once");
        }
        if !admitted.refused.is_empty() {
            self.refused(admitted.refused.len());
        }
        admitted
    }

    fn refused(&self, n: usize) {
        ::metrics::counter!(metrics::SLOT_FAILURES, "stage" => "queue_full").increment(1);
        tracing::error!(
            refused = n,
            capacity = self.queue().capacity(),
            "the peg-in queue is full: {n} new peg-in(s) refused; the source keeps them and \
             offers them again once blocks have minted the waiting ones"
        );
    }

    /// The simulator's peg-ins of this slot, as many as the queue has room for: the others
    /// are not created (the counter does not advance), so nothing is dropped.
    ///
    /// Not written here: a simulated peg-in is a function of the counter, so a crash before
    /// the next write (the build's, before anything can mint them) forgets them together
    /// with the counter, and the next slot creates the same ones again.
    fn admit_simulated(&self, sim: &Simulator) {
        let per_slot = sim.peg_ins_per_slot() as usize;
        let (admitted, not_created) = self.update_queue_unsaved(|q| {
            let room = q.room().min(per_slot);
            let first = q.next_simulated();
            let next = first.saturating_add(room as u64);
            q.set_next_simulated(next);
            (q.admit((first..next).map(Simulator::peg_in)), per_slot - room)
        });
        let refused = not_created + admitted.refused.len();
        if refused > 0 {
            self.refused(refused);
        }
    }

    fn pending_len(&self) -> usize {
        self.queue().pending_len()
    }

    fn committed_head(&self) -> MutexGuard<'_, Option<BlockRef>> {
        self.committed_head.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the run's block limit is reached, counting `more` blocks produced by the slot
    /// running.
    fn limit_reached(&self, more: usize) -> bool {
        let produced = self.progress.borrow().produced + more as u64;
        self.config.blocks.is_some_and(|n| produced >= n)
    }

    fn in_flight(&self) -> MutexGuard<'_, Option<InFlight>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a slot task is in flight.
    fn slot_running(&self) -> bool {
        self.in_flight().is_some()
    }

    /// Tests: the next slot task panics.
    #[cfg(test)]
    pub(crate) fn panic_next_slot(&self) {
        self.panic_next_slot.store(true, Ordering::SeqCst);
    }
}

/// What the Chain actor accepts.
#[derive(Debug)]
pub(crate) enum ChainCmd {
    /// The slot timer fired.
    Tick {
        /// The generation the timer was armed with.
        generation: u64,
    },
    /// Slot task number `slot` ended, however it ended (sent as the task unwinds too): the
    /// actor collects its outcomes, or its panic, from the task's handle.
    SlotEnded {
        /// The slot's number (unique over incarnations).
        slot: u64,
    },
    /// Stop producing; answered (with the blocks produced) once no slot is running.
    Stop {
        /// Answer.
        reply: RpcReplyPort<u64>,
    },
    /// The engine moved its head by itself (from `ActorAddresses::chain_events`).
    HeadChanged(Box<HeadChanged>),
}

impl From<HeadChanged> for ChainCmd {
    fn from(change: HeadChanged) -> Self {
        Self::HeadChanged(Box::new(change))
    }
}

impl TryFrom<ChainCmd> for HeadChanged {
    type Error = ChainCmd;

    fn try_from(cmd: ChainCmd) -> Result<Self, ChainCmd> {
        match cmd {
            ChainCmd::HeadChanged(change) => Ok(*change),
            other => Err(other),
        }
    }
}

/// What one slot did.
#[derive(Debug)]
pub(crate) enum SlotOutcome {
    /// A block was produced and committed (or found to have landed).
    Produced(BlockLine),
    /// The engine cannot build yet (initializing, syncing, no usable client).
    Waiting(String),
    /// The slot failed at `stage`.
    Failed {
        /// `engine`, `settle`, `resync`, `build`, `queue` or `commit`.
        stage: &'static str,
        /// Why; its severity decides what the Chain does next ([`outcome`]).
        error: SlotError,
    },
}

/// The Chain actor.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChainActor;

/// How many slots in a row may fail with a `Retry` or `Reset` error, no block between them,
/// before the Chain stops with [`ChainFailure::NoProgress`] and lets its supervisor decide.
/// A `Waiting` slot (the engine says it cannot build) neither counts nor resets: the engine
/// is the one waiting then. A constant, not a setting: it is a count of slots, so it scales
/// with the configured slot time already, and the supervisor's `[supervision]` intensity
/// is the operator's knob for how many such restarts are tolerated before the node exits.
/// Five: a transient fault (one lost payload, one timed-out call) clears in a slot or two,
/// and a re-sync is tried at the first `Reset`, so five failures in a row mean that retrying
/// in this incarnation is not helping.
pub(crate) const MAX_FAILED_SLOTS: u32 = 5;

/// A slot task in flight.
#[derive(Debug)]
struct InFlight {
    /// Its number (unique over incarnations).
    number: u64,
    /// Its task; its outcomes are collected by whichever incarnation is running.
    task: tokio::task::JoinHandle<Vec<SlotOutcome>>,
}

/// The Chain actor's state.
#[derive(Debug)]
pub(crate) struct ChainState {
    shared: Arc<ChainShared>,
    generation: u64,
    /// When this incarnation started.
    started: Instant,
    /// The slot a previous incarnation left in flight, until it is collected: waited for at
    /// most [`ChainTimeouts::stop_wait`] from [`Self::started`], then aborted.
    inherited: Option<u64>,
    /// Slots in a row that failed without a block ([`MAX_FAILED_SLOTS`]).
    failed_in_a_row: u32,
    stopped: bool,
    /// A tick came while a slot ran: the next slot starts as soon as that one is collected,
    /// not a whole slot time later. So a slot that overruns delays the next one instead of
    /// dropping it, and at `--slot-time 1ms` slots follow each other back to back.
    tick_missed: bool,
    /// The actor's own span, the parent of every slot's: a message's handler runs in the
    /// span of its sender, and a slot started on `SlotEnded` would otherwise open inside the
    /// slot before it, a chain of spans as long as the run.
    span: tracing::Span,
    waiters: Vec<RpcReplyPort<u64>>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for ChainState {
    fn drop(&mut self) {
        // The slot in flight is not aborted here: it stays in `ChainShared::slot`, and the
        // next incarnation collects it before it starts a slot of its own.
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
    }
}

impl ChainState {
    fn stop_ticking(&mut self) {
        if !self.stopped {
            self.shared.flush_queue();
        }
        self.stopped = true;
        self.shared.stopped.store(true, Ordering::Release);
        self.generation += 1;
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
    }

    fn answer_waiters(&mut self) {
        let produced = self.shared.progress.borrow().produced;
        for reply in self.waiters.drain(..) {
            if !reply.is_closed() {
                // The caller may give up between the check and the send; nothing to do then.
                let _ = reply.send(produced);
            }
        }
    }

    /// Starts the next slot's task under its `slot` span, whose trace id is the slot's
    /// correlation id ([`trace`]). It answers any tick missed meanwhile.
    fn start_slot(&mut self) {
        self.tick_missed = false;
        let number = self.shared.slots.fetch_add(1, Ordering::AcqRel) + 1;
        let shared = Arc::clone(&self.shared);
        let correlation = CorrelationId::new();
        let span = tracing::info_span!(parent: &self.span, "slot", slot = number, %correlation);
        trace::follow_correlation(&span, correlation);
        // Owned through `ChainShared::slot`: no slot starts before this one is collected;
        // it ends by itself within `ChainTimeouts::slot`.
        let task = tokio::spawn(
            async move {
                let _ended = SlotEnded { shared: Arc::clone(&shared), slot: number };
                run_slot(&shared, correlation).await
            }
            .instrument(span),
        );
        *self.shared.in_flight() = Some(InFlight { number, task });
    }
}

impl Actor for ChainActor {
    type Msg = ChainCmd;
    type State = ChainState;
    type Arguments = Arc<ChainShared>;

    async fn pre_start(
        &self,
        myself: ActorRef<ChainCmd>,
        shared: Arc<ChainShared>,
    ) -> Result<ChainState, ActorProcessingErr> {
        let finished = shared.progress.borrow().finished || shared.stopped.load(Ordering::Acquire);
        *shared.actor.lock().unwrap_or_else(PoisonError::into_inner) = Some(myself.clone());
        let inherited = shared.in_flight().as_ref().map(|s| s.number);
        if let Some(slot) = inherited {
            tracing::info!(
                slot,
                "a slot of the previous incarnation is still running; \
                it is collected before the next slot starts"
            );
        }
        let mut state = ChainState {
            shared,
            generation: 0,
            started: Instant::now(),
            inherited,
            failed_in_a_row: 0,
            stopped: finished,
            tick_missed: false,
            span: tracing::Span::current(),
            waiters: Vec::new(),
            ticker: None,
        };
        if !finished {
            let generation = state.generation;
            let slot = state.shared.config.slot;
            state.ticker = Some(myself.send_interval(slot, move || ChainCmd::Tick { generation }));
            tracing::info!(slot = ?slot, "producing a block every slot");
        }
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<ChainCmd>,
        msg: ChainCmd,
        state: &mut ChainState,
    ) -> Result<(), ActorProcessingErr> {
        let msg = match msg {
            // Registered first, so that a slot collected below answers it even when the
            // actor stops on that slot's failure.
            ChainCmd::Stop { reply } => {
                state.stop_ticking();
                state.waiters.push(reply);
                None
            }
            other => Some(other),
        };
        // Every message checks the tasks first: a slot (or peg-out) that ended is collected
        // here even if its `SlotEnded` has not arrived (or went to a previous incarnation).
        state.reap_peg_out().await?;
        if state.shared.in_flight().as_ref().is_some_and(|s| s.task.is_finished()) {
            state.collect_slot().await?;
        }
        let Some(msg) = msg else {
            if !state.shared.slot_running() {
                state.answer_waiters();
            }
            return Ok(());
        };
        match msg {
            ChainCmd::Tick { generation } => {
                if generation != state.generation || state.stopped {
                    return Ok(());
                }
                if state.shared.slot_running() {
                    state.abandon_inherited().await?;
                }
                if state.shared.slot_running() {
                    ::metrics::counter!(metrics::SLOTS_SKIPPED).increment(1);
                    tracing::debug!("slot deferred: the previous one is still running");
                    state.tick_missed = true;
                    return Ok(());
                }
                if !state.stopped {
                    state.start_slot();
                }
            }
            ChainCmd::SlotEnded { slot } => {
                if state.shared.in_flight().as_ref().is_some_and(|s| s.number == slot) {
                    state.collect_slot().await?;
                }
                if state.tick_missed && !state.stopped && !state.shared.slot_running() {
                    state.start_slot();
                }
            }
            // Never here: a `Stop` was taken (and its reply kept) above.
            ChainCmd::Stop { .. } => {}
            ChainCmd::HeadChanged(change) => head_changed(&state.shared, &change),
        }
        Ok(())
    }
}

/// Sends `SlotEnded` to the running incarnation when dropped: at the end of the slot's task,
/// or as a panic unwinds it.
struct SlotEnded {
    shared: Arc<ChainShared>,
    slot: u64,
}

impl Drop for SlotEnded {
    fn drop(&mut self) {
        let actor = self.shared.actor.lock().unwrap_or_else(PoisonError::into_inner).clone();
        // No incarnation may be running (a restart under way): the next one checks the slot
        // on its first message.
        if let Some(actor) = actor {
            let _ = actor.send_message(ChainCmd::SlotEnded { slot: self.slot });
        }
    }
}

impl ChainState {
    /// Takes the slot in flight's result: its outcomes are recorded; a panic, a
    /// cancellation, a fatal error or too many failed slots in a row stop the actor with the
    /// reason. The `Stop` callers waiting for the slot are answered in every case.
    async fn collect_slot(&mut self) -> Result<(), ChainFailure> {
        let taken = self.shared.in_flight().take();
        let Some(InFlight { number, task }) = taken else { return Ok(()) };
        if self.inherited == Some(number) {
            self.inherited = None;
        }
        // The task has ended or is ending (its `SlotEnded` guard is its last step).
        let result = match task.await {
            Ok(outcomes) => self.record_all(outcomes),
            Err(e) => Err(ChainFailure::of_join(&e)),
        };
        self.slot_collected(result)
    }

    /// A slot a previous incarnation left running past [`ChainTimeouts::stop_wait`] is
    /// aborted, and awaited. Safe for the peg-ins (the module docs, [`MAX_STOP_WAIT`]): a
    /// build it was waiting for is never committed and its peg-ins go back with the next
    /// build; a block it stored is unsettled and the next slot asks what landed. Only a
    /// block line it had not reported yet is not logged.
    async fn abandon_inherited(&mut self) -> Result<(), ChainFailure> {
        let Some(number) = self.inherited else { return Ok(()) };
        let wait = self.shared.config.timeouts.stop_wait();
        if self.started.elapsed() < wait {
            return Ok(());
        }
        self.inherited = None;
        let taken = {
            let mut slot = self.shared.in_flight();
            if slot.as_ref().is_some_and(|s| s.number == number) { slot.take() } else { None }
        };
        let Some(InFlight { task, .. }) = taken else { return Ok(()) };
        task.abort();
        let result = match task.await {
            // It ended before the abort took effect.
            Ok(outcomes) => self.record_all(outcomes),
            Err(e) if e.is_cancelled() => {
                ::metrics::counter!(metrics::SLOT_FAILURES, "stage" => "abandoned").increment(1);
                tracing::warn!(
                    slot = number,
                    ?wait,
                    "the previous incarnation's slot did not end \
                    within the stop wait: abandoned; the next slot settles what it left"
                );
                Ok(())
            }
            Err(e) => Err(ChainFailure::of_join(&e)),
        };
        self.slot_collected(result)
    }

    /// Records a slot's outcomes ([`record`]); the first reason to stop, if any.
    fn record_all(&mut self, outcomes: Vec<SlotOutcome>) -> Result<(), ChainFailure> {
        let mut failure = None;
        for outcome in outcomes {
            let stop = record(&self.shared, outcome, &mut self.failed_in_a_row);
            failure = failure.or(stop);
        }
        failure.map_or(Ok(()), Err)
    }

    /// After a slot was collected: the block limit, and the `Stop` callers' answers (before
    /// the actor stops on a failure too).
    fn slot_collected(&mut self, result: Result<(), ChainFailure>) -> Result<(), ChainFailure> {
        let progress = *self.shared.progress.borrow();
        if self.stopped {
            // The slot a stop waited for may have left changes unwritten.
            self.shared.flush_queue();
        } else if result.is_ok()
            && self.shared.config.blocks.is_some_and(|n| progress.produced >= n)
        {
            self.stop_ticking();
            tracing::info!(blocks = progress.produced, "block limit reached; production stopped");
            self.shared.progress.send_modify(|p| p.finished = true);
        }
        self.answer_waiters();
        result
    }

    /// Reaps the simulator's peg-out task once it ended; a panic stops the actor.
    async fn reap_peg_out(&self) -> Result<(), ChainFailure> {
        let ended = {
            let mut peg_out = self.shared.peg_out.lock().unwrap_or_else(PoisonError::into_inner);
            if peg_out.as_ref().is_some_and(tokio::task::JoinHandle::is_finished) {
                peg_out.take()
            } else {
                None
            }
        };
        match ended {
            Some(task) => task.await.map_err(|e| ChainFailure::PegOutPanicked(e.to_string())),
            None => Ok(()),
        }
    }
}

/// The engine moved its head by itself: what discarded blocks had minted goes back to the
/// front of the queue (a txid still held is kept once).
fn head_changed(shared: &ChainShared, change: &HeadChanged) {
    *shared.committed_head() = None;
    let returned = change.returned_peg_ins.len();
    let requeued = shared.update_queue(|q| q.admit_back(change.returned_peg_ins.iter().copied()));
    tracing::warn!(cause = ?change.cause, from = change.from.number, to = change.to.number,
        to_hash = %change.to.hash, adopted = change.adopted.len(),
        discarded = change.discarded.len(), returned, requeued,
        "the engine moved its head; returned peg-ins are queued again first");
}

/// Applies `f` to the queue and publishes how many peg-ins wait.
fn change_queue<T>(queue: &mut PegInQueue, f: impl FnOnce(&mut PegInQueue) -> T) -> T {
    let out = f(queue);
    ::metrics::gauge!(metrics::PEG_INS_PENDING).set(queue.pending_len() as f64);
    out
}

#[cfg(test)]
mod tests;
