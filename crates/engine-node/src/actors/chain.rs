//! The Chain actor: the slot timer that produces blocks, and the keeper of the peg-in queue.
//!
//! ```text
//!  Tick{generation} ─ stale generation or a slot running? ─> ignored / counted as skipped
//!        │
//!        └─> slot task: GetStatus
//!              ─> settle: WhatLanded for every block left unsettled (none: go on)
//!              ─> BuildPayload{head, timestamp, pending peg-ins}
//!              ─> check the payload against the head and the request
//!              ─> queue: its peg-ins unsettled with the block (persisted)
//!              ─> store the block (durably, before any EL hears of it)
//!              ─> CommitPayload{payload, peg_ins}
//!                   head ──────────────────────> settled: minted
//!                   timeout / error / not head ─> WhatLanded{block, peg_ins}
//!                        canonical ───> produced (the block landed after all)
//!                        not ─────────> only the unminted peg-ins go back to the queue
//!                        no answer ───> held unsettled; the next slot asks first
//!              ─> SetFinalized every K blocks
//!              ─> SlotDone{outcomes} back to the actor (progress lines, block limit)
//!  HeadChanged (from the engine) ─> returned peg-ins back at the front of the queue
//! ```
//!
//! The slot runs as a task so the mailbox stays free (a `Stop` is seen at once); only one
//! slot runs at a time. Ticks carry the generation they were armed with: `Stop` (or the
//! block limit) bumps it, so a tick already queued never starts another slot.
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

pub(crate) mod queue;

use crate::{
    actors::{STATUS_TIMEOUT, call_engine, engine_status, storage::StorageMsg},
    metrics,
    progress::{BlockLine, Progress},
    sim::Simulator,
    store::StoredBlock,
};
use engine_actor::{
    ActorError, ChainMsg,
    heads::BlockRef,
    messages::{BuiltPayload, Committed, Landed, PegOutReport},
    peers::HeadChanged,
    supervision::tree::names::STORAGE_ACTOR,
};
use engine_types::{CorrelationId, config::EngineConfig, primitives::B256};
use queue::{PegInQueue, QueueError, Unsettled};
use ractor::{
    Actor, ActorProcessingErr, ActorRef, RpcReplyPort, concurrency::JoinHandle, registry,
    rpc::CallResult,
};
use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::watch;
#[cfg(test)]
use {engine_types::PegIn, queue::Admitted};

/// How long a slot waits for the Storage actor to write a block (a local, durable write).
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a stop waits for the slot in flight. Abandoning a slot is safe (its block
/// is stored and its peg-ins recorded unsettled before the commit; the next start settles
/// them), so a stop need not wait out a hung execution client's whole budget.
const MAX_STOP_WAIT: Duration = Duration::from_secs(60);

/// How long the Chain waits for each kind of engine request: the engine's worst case with
/// its configured timeouts, retries and endpoints (`EngineConfig::build_budget` and the
/// like), so the Chain never gives up on work the engine is still doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainTimeouts {
    /// `BuildPayload` (`EngineConfig::build_budget`).
    pub(crate) build: Duration,
    /// `CommitPayload` (`EngineConfig::commit_budget`).
    pub(crate) commit: Duration,
    /// `WhatLanded`, which waits behind the commit it asks about
    /// (`EngineConfig::what_landed_budget`).
    pub(crate) what_landed: Duration,
    /// `SetFinalized` (`EngineConfig::forkchoice_budget`).
    pub(crate) finalize: Duration,
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
        })
    }

    /// How long a stop waits for the slot in flight: the whole slot ([`Self::slot`]), at
    /// most [`MAX_STOP_WAIT`].
    pub(crate) fn stop_wait(&self) -> Duration {
        self.slot().min(MAX_STOP_WAIT)
    }

    /// The longest one slot can take: two status queries, asking what landed (settling),
    /// the build, the store write, the commit, asking what landed again, finality.
    pub(crate) fn slot(&self) -> Duration {
        [
            STATUS_TIMEOUT,
            STATUS_TIMEOUT,
            self.what_landed,
            self.build,
            STORE_TIMEOUT,
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
pub(crate) struct ChainConfig {
    /// Time between slots.
    pub(crate) slot: Duration,
    /// Stop producing after this many blocks.
    pub(crate) blocks: Option<u64>,
    /// Finalize the head every this many blocks (0: never).
    pub(crate) finalize_every: u64,
    /// How long each engine request may take.
    pub(crate) timeouts: ChainTimeouts,
    /// A block must be durably stored before it is committed (the embedded devnet is
    /// rebuilt from the stored blocks; a block it held but the store lacks would be lost at
    /// a restart). Without it a failed store write is logged and the slot goes on.
    pub(crate) durable_blocks: bool,
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
    config: ChainConfig,
    queue: Mutex<PegInQueue>,
    progress: watch::Sender<ChainProgress>,
    lines: Mutex<Progress>,
    /// Why the last slot waited, so that a long wait is logged once, not every slot.
    waiting: Mutex<Option<String>>,
    sim: Option<Arc<Simulator>>,
    /// Set by `ChainCmd::Stop`, so that an incarnation restarted by the supervision tree
    /// while the node stops does not produce again.
    stopped: AtomicBool,
    /// Tests: the next slot task panics (a bug inside a slot).
    #[cfg(test)]
    panic_next_slot: AtomicBool,
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
        config: ChainConfig,
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
            #[cfg(test)]
            panic_next_slot: AtomicBool::new(false),
        })
    }

    /// The configuration.
    pub(crate) const fn config(&self) -> &ChainConfig {
        &self.config
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

    /// [`Self::update_queue`], returning the write's outcome for a caller that must not go
    /// on without it.
    fn update_queue_checked<T>(
        &self,
        f: impl FnOnce(&mut PegInQueue) -> T,
    ) -> (T, Result<(), QueueError>) {
        blocking(|| {
            let mut queue = self.queue();
            let out = f(&mut queue);
            ::metrics::gauge!(metrics::PEG_INS_PENDING).set(queue.pending_len() as f64);
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
    fn admit_simulated(&self, sim: &Simulator) {
        let per_slot = sim.peg_ins_per_slot() as usize;
        let (admitted, not_created) = self.update_queue(|q| {
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
}

/// What the Chain actor accepts.
#[derive(Debug)]
pub(crate) enum ChainCmd {
    /// The slot timer fired.
    Tick {
        /// The generation the timer was armed with.
        generation: u64,
    },
    /// A slot task finished.
    SlotDone {
        /// What it did, in order (blocks it learned had landed, then its own block).
        outcomes: Vec<SlotOutcome>,
    },
    /// A slot task panicked or was cancelled: the Chain fails, so that its supervisor
    /// restarts it (and the engine, one-for-all) from persisted state, instead of waiting
    /// forever for a slot that will never report.
    SlotFailed {
        /// The task's panic or cancellation.
        reason: String,
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
        /// `engine`, `settle`, `build`, `validate`, `queue`, `store` or `commit`.
        stage: &'static str,
        /// Why.
        reason: String,
    },
}

/// The Chain actor.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChainActor;

/// The Chain actor's state.
#[derive(Debug)]
pub(crate) struct ChainState {
    shared: Arc<ChainShared>,
    generation: u64,
    running: bool,
    stopped: bool,
    waiters: Vec<RpcReplyPort<u64>>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for ChainState {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
    }
}

impl ChainState {
    fn stop_ticking(&mut self) {
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
        let mut state = ChainState {
            shared,
            generation: 0,
            running: false,
            stopped: finished,
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
        myself: ActorRef<ChainCmd>,
        msg: ChainCmd,
        state: &mut ChainState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ChainCmd::Tick { generation } => {
                if generation != state.generation || state.stopped {
                    return Ok(());
                }
                if state.running {
                    ::metrics::counter!(metrics::SLOTS_SKIPPED).increment(1);
                    tracing::debug!("slot skipped: the previous one is still running");
                    return Ok(());
                }
                state.running = true;
                let shared = Arc::clone(&state.shared);
                // Owned by the actor through `running`: the next slot starts only once this
                // one reported back; it ends by itself within `ChainTimeouts::slot`. The slot
                // runs in its own task so that a panic in it is caught by its JoinHandle; the
                // watcher that awaits the handle cannot panic (it only awaits and sends one
                // message, both answered as `Result`s), and reports the panic as
                // `SlotFailed`, which fails this actor, so `running` never stays set.
                let slot = tokio::spawn(async move { run_slot(&shared).await });
                tokio::spawn(async move {
                    let report = match slot.await {
                        Ok(outcomes) => ChainCmd::SlotDone { outcomes },
                        Err(e) => ChainCmd::SlotFailed { reason: e.to_string() },
                    };
                    // The actor may be gone (stopping); the slot's effects are done either way.
                    let _ = myself.send_message(report);
                });
            }
            ChainCmd::SlotFailed { reason } => {
                tracing::error!(%reason, "a slot task failed; the Chain actor stops so that its supervisor restarts it");
                return Err(format!("the slot task failed: {reason}").into());
            }
            ChainCmd::SlotDone { outcomes } => {
                state.running = false;
                for outcome in outcomes {
                    record(&state.shared, outcome);
                }
                let progress = *state.shared.progress.borrow();
                if !state.stopped
                    && state.shared.config.blocks.is_some_and(|n| progress.produced >= n)
                {
                    tracing::info!(
                        blocks = progress.produced,
                        "block limit reached; production stopped"
                    );
                    state.stop_ticking();
                    state.shared.progress.send_modify(|p| p.finished = true);
                }
                if !state.running {
                    state.answer_waiters();
                }
            }
            ChainCmd::Stop { reply } => {
                state.stop_ticking();
                state.waiters.push(reply);
                if !state.running {
                    state.answer_waiters();
                }
            }
            ChainCmd::HeadChanged(change) => head_changed(&state.shared, &change),
        }
        Ok(())
    }
}

/// The engine moved its head by itself: what discarded blocks had minted goes back to the
/// front of the queue (a txid still held is kept once).
fn head_changed(shared: &ChainShared, change: &HeadChanged) {
    let returned = change.returned_peg_ins.len();
    let requeued = shared.update_queue(|q| q.admit_back(change.returned_peg_ins.iter().copied()));
    tracing::warn!(cause = ?change.cause, from = change.from.number, to = change.to.number,
        to_hash = %change.to.hash, adopted = change.adopted.len(),
        discarded = change.discarded.len(), returned, requeued,
        "the engine moved its head; returned peg-ins are queued again first");
}

fn record(shared: &ChainShared, outcome: SlotOutcome) {
    let mut waiting = shared.waiting.lock().unwrap_or_else(PoisonError::into_inner);
    match &outcome {
        SlotOutcome::Waiting(why) if waiting.as_ref() == Some(why) => return,
        SlotOutcome::Waiting(why) => *waiting = Some(why.clone()),
        SlotOutcome::Produced(_) if waiting.take().is_some() => {
            tracing::info!("the engine is ready again");
        }
        _ => {}
    }
    drop(waiting);
    match outcome {
        SlotOutcome::Produced(line) => {
            ::metrics::counter!(metrics::BLOCKS).increment(1);
            ::metrics::histogram!(metrics::SLOT_SECONDS)
                .record((line.build + line.commit).as_secs_f64());
            ::metrics::counter!(metrics::PEG_INS_MINTED).increment(line.peg_ins as u64);
            shared.progress.send_modify(|p| p.produced += 1);
            let pending = shared.pending_len();
            shared.lines.lock().unwrap_or_else(PoisonError::into_inner).block(&line, pending);
        }
        SlotOutcome::Waiting(why) => tracing::info!("waiting for the engine: {why}"),
        SlotOutcome::Failed { stage, reason } => {
            ::metrics::counter!(metrics::SLOT_FAILURES, "stage" => stage).increment(1);
            shared.lines.lock().unwrap_or_else(PoisonError::into_inner).failure();
            tracing::warn!(stage, %reason, "slot produced no block");
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn flatten<T>(result: Result<Result<T, ActorError>, String>) -> Result<T, String> {
    result.and_then(|r| r.map_err(|e| e.to_string()))
}

/// The checks the chain makes on a payload before committing it: it extends the head, at
/// the slot's timestamp, with exactly the withdrawals the engine packed.
pub(crate) fn check_built(
    built: &BuiltPayload,
    head: &BlockRef,
    timestamp: u64,
) -> Result<(), String> {
    let p = &built.payload;
    let mut problems = Vec::new();
    if p.parent_hash() != head.hash {
        problems.push(format!("parent {} is not the head {}", p.parent_hash(), head.hash));
    }
    if p.block_number() != head.number + 1 {
        problems.push(format!(
            "number {} does not follow the head {}",
            p.block_number(),
            head.number
        ));
    }
    if p.timestamp() != timestamp {
        problems.push(format!("timestamp {} is not the slot's {timestamp}", p.timestamp()));
    }
    if p.withdrawals().map(Vec::as_slice) != Some(built.withdrawals.as_slice()) {
        problems.push("withdrawals differ from the packed peg-ins".into());
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

fn peg_outs(report: &PegOutReport) -> Option<usize> {
    match report {
        PegOutReport::Scanned { payable, not_payable, malformed, .. } => {
            Some(payable + not_payable + malformed)
        }
        PegOutReport::NotScanned | PegOutReport::AlreadyReported | PegOutReport::Failed { .. } => {
            None
        }
    }
}

/// One slot: settle what earlier slots left unsettled, then (unless the block limit is
/// reached) produce a block.
async fn run_slot(shared: &ChainShared) -> Vec<SlotOutcome> {
    #[cfg(test)]
    assert!(!shared.panic_next_slot.swap(false, Ordering::SeqCst), "scripted panic in a slot");
    let status = match engine_status().await {
        Ok(status) => status,
        Err(reason) => return vec![SlotOutcome::Failed { stage: "engine", reason }],
    };
    if !status.state.can_build() {
        let why = status.last_error.map_or_else(String::new, |e| format!(" ({e})"));
        return vec![SlotOutcome::Waiting(format!("it is {}{why}", status.state))];
    }
    let mut outcomes = Vec::new();
    let unsettled = shared.queue().unsettled().to_vec();
    for entry in &unsettled {
        match what_landed(shared, entry).await {
            Ok(Some(mut line)) => {
                line.finalized = finalize(shared, line.number, line.hash).await;
                outcomes.push(SlotOutcome::Produced(line));
            }
            Ok(None) => {}
            Err(reason) => {
                // Nothing is built while a block's fate is unknown: it may be the head.
                outcomes.push(SlotOutcome::Failed { stage: "settle", reason });
                return outcomes;
            }
        }
    }
    let produced = shared.progress.borrow().produced + outcomes.len() as u64;
    if shared.config.blocks.is_some_and(|n| produced >= n) {
        return outcomes;
    }
    let head = if unsettled.is_empty() {
        status.heads.head
    } else {
        // Settling may have found a block that became the head.
        match engine_status().await {
            Ok(status) => status.heads.head,
            Err(reason) => {
                outcomes.push(SlotOutcome::Failed { stage: "engine", reason });
                return outcomes;
            }
        }
    };
    outcomes.push(produce(shared, head).await);
    outcomes
}

/// Asks the engine what became of `entry`'s block and settles its peg-ins: the minted ones
/// are done, the unminted ones go back to the queue. The block's progress line when it is
/// canonical (it landed); `Err` when the engine did not answer (the entry stays
/// unsettled).
async fn what_landed(shared: &ChainShared, entry: &Unsettled) -> Result<Option<BlockLine>, String> {
    let landed: Landed = flatten(
        call_engine(
            |reply| {
                ChainMsg::WhatLanded {
                    correlation: CorrelationId::new(),
                    block: entry.block,
                    peg_ins: entry.peg_ins.clone(),
                    reply,
                }
                .into()
            },
            shared.config.timeouts.what_landed,
        )
        .await,
    )
    .map_err(|e| format!("what became of block {} is unknown: {e}", entry.number))?;
    let requeued = shared.update_queue(|q| {
        let before = q.pending_len();
        q.settle(&entry.block, &landed);
        q.pending_len() - before
    });
    tracing::info!(block = entry.number, hash = %entry.block, canonical = landed.canonical,
        head = landed.head.number, minted = landed.minted.len(), requeued,
        "settled: {}", if landed.canonical { "the block landed" } else { "the block did not land" });
    Ok(landed.canonical.then_some(BlockLine {
        number: entry.number,
        hash: entry.block,
        txs: entry.txs,
        peg_ins: entry.peg_ins.len(),
        peg_outs: None,
        build: Duration::ZERO,
        commit: Duration::ZERO,
        finalized: false,
    }))
}

/// Builds, stores and commits one block on `head`.
async fn produce(shared: &ChainShared, head: BlockRef) -> SlotOutcome {
    let started = Instant::now();
    if let Some(sim) = &shared.sim {
        shared.admit_simulated(sim);
    }
    let peg_ins = shared.update_queue(PegInQueue::take_for_build);
    let timestamp = unix_now().max(head.timestamp + 1);
    let correlation = CorrelationId::new();
    let built = flatten(
        call_engine(
            |reply| {
                ChainMsg::BuildPayload {
                    correlation,
                    parent: Some(head.hash),
                    timestamp,
                    peg_ins,
                    fee_recipient: None,
                    prev_randao: None,
                    reply,
                }
                .into()
            },
            shared.config.timeouts.build,
        )
        .await,
    );
    let built = match built {
        Ok(built) => built,
        Err(reason) => {
            shared.update_queue(PegInQueue::build_failed);
            return SlotOutcome::Failed { stage: "build", reason };
        }
    };
    let build_time = started.elapsed();
    if !built.already_minted.is_empty() {
        let txids: Vec<B256> = built.already_minted.iter().map(|m| m.peg_in.bitcoin_txid).collect();
        tracing::info!(
            count = txids.len(),
            ?txids,
            "peg-ins the canonical chain already minted: dropped from the queue"
        );
    }
    let number = built.payload.block_number();
    let entry = Unsettled {
        block: built.payload.block_hash(),
        number,
        txs: built.payload.as_v1().transactions.len(),
        peg_ins: built.included.clone(),
    };
    if let Err(reason) = check_built(&built, &head, timestamp) {
        // Refused: nothing commits this block, so everything it was given goes back (the
        // already minted ones are set apart again by the next build).
        shared.update_queue(PegInQueue::build_failed);
        return SlotOutcome::Failed { stage: "validate", reason };
    }
    // The peg-ins are recorded as unsettled with the block before anyone can mint them.
    let ((), saved) = shared
        .update_queue_checked(|q| q.built(entry.clone(), &built.pending, &built.already_minted));
    let stored = if saved.is_ok() { store_block(&built).await } else { Ok(()) };
    let not_committed = match (saved, stored) {
        (Err(e), _) => Some(("queue", e.to_string())),
        (Ok(()), Err(reason)) if shared.config.durable_blocks => Some(("store", reason)),
        (Ok(()), Err(reason)) => {
            tracing::warn!(block = number, %reason, "block not persisted");
            None
        }
        (Ok(()), Ok(())) => None,
    };
    if let Some((stage, reason)) = not_committed {
        // Never committed: its peg-ins go straight back.
        shared.update_queue(|q| {
            if let Some(e) = q.landed(&entry.block) {
                q.admit_back(e.peg_ins);
            }
        });
        return SlotOutcome::Failed { stage, reason };
    }
    let commit_started = Instant::now();
    let answer = call_engine(
        |reply| {
            ChainMsg::CommitPayload {
                correlation,
                payload: Box::new(built.payload.clone()),
                sidecar: Box::new(built.sidecar.clone()),
                expected_withdrawals: built.withdrawals.clone(),
                peg_ins: built.included.clone(),
                reply,
            }
            .into()
        },
        shared.config.timeouts.commit,
    )
    .await;
    let committed: Result<Committed, String> = match answer {
        Ok(Ok(c)) if c.head => Ok(c),
        Ok(Ok(c)) => {
            Err(format!("block {} was not made the head (status {:?})", c.number, c.status))
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e),
    };
    let mut line = match committed {
        Ok(c) => {
            shared.update_queue(|q| {
                q.landed(&entry.block);
            });
            BlockLine {
                number: c.number,
                hash: c.hash,
                txs: entry.txs,
                peg_ins: built.included.len(),
                peg_outs: peg_outs(&c.peg_outs),
                build: build_time,
                commit: commit_started.elapsed(),
                finalized: false,
            }
        }
        Err(reason) => {
            // The engine may still be finishing the commit: ask, never assume.
            tracing::info!(block = number, %reason, "commit not confirmed; asking what landed");
            match what_landed(shared, &entry).await {
                Ok(Some(line)) => {
                    BlockLine { build: build_time, commit: commit_started.elapsed(), ..line }
                }
                Ok(None) => return SlotOutcome::Failed { stage: "commit", reason },
                Err(unknown) => {
                    let reason = format!(
                        "{reason}; {unknown}: its {} peg-in(s) are held until a later slot \
                         settles them",
                        entry.peg_ins.len()
                    );
                    return SlotOutcome::Failed { stage: "commit", reason };
                }
            }
        }
    };
    line.finalized = finalize(shared, line.number, line.hash).await;
    // After the last block of a bounded run no block would carry a peg-out: send none.
    let last = shared.config.blocks.is_some_and(|n| shared.progress.borrow().produced + 1 >= n);
    if let Some(sim) = shared.sim.as_ref().filter(|s| !last && s.peg_out_due(line.number)) {
        let sim = Arc::clone(sim);
        // Ends by itself within the RPC clients' timeouts; nothing waits for it.
        tokio::spawn(async move {
            match sim.send_peg_out().await {
                Ok(hash) => tracing::info!(tx = %hash, "peg-out transaction sent to the bridge"),
                Err(e) => tracing::warn!(error = %e, "peg-out transaction not sent"),
            }
        });
    }
    SlotOutcome::Produced(line)
}

/// Hands the block to the Storage actor and waits for the durable write.
async fn store_block(built: &BuiltPayload) -> Result<(), String> {
    let Some(storage) = registry::where_is(STORAGE_ACTOR).map(ActorRef::<StorageMsg>::from) else {
        return Err("no storage actor".into());
    };
    let block = Box::new(StoredBlock::new(built.payload.clone(), &built.sidecar));
    match storage.call(|reply| StorageMsg::Block(block, reply), Some(STORE_TIMEOUT)).await {
        Ok(CallResult::Success(written)) => written,
        Ok(CallResult::Timeout) => Err(format!("not written within {STORE_TIMEOUT:?}")),
        Ok(CallResult::SenderError) => Err("the storage actor stopped before writing".into()),
        Err(e) => Err(format!("the storage actor's mailbox is closed: {e}")),
    }
}

/// Finalizes block `number` every `finalize_every` blocks; whether it did.
async fn finalize(shared: &ChainShared, number: u64, hash: B256) -> bool {
    let k = shared.config.finalize_every;
    if k == 0 || !number.is_multiple_of(k) {
        return false;
    }
    let result = flatten(
        call_engine(
            |reply| {
                ChainMsg::SetFinalized { correlation: CorrelationId::new(), hash, reply }.into()
            },
            shared.config.timeouts.finalize,
        )
        .await,
    );
    match result {
        Ok(_) => true,
        Err(reason) => {
            ::metrics::counter!(metrics::SLOT_FAILURES, "stage" => "finalize").increment(1);
            tracing::warn!(block = number, %reason, "finalization not recorded");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_actor::{
        EngineActor, EngineActorConfig, EngineArgs, EngineMsg, QueryMsg,
        peers::{BurnEventsDetected, StoreExecutionData},
        port::PoolPort,
        supervision::tree::names::{CHAIN_ACTOR, ENGINE_ACTOR},
        tree::{registry_addresses, registry_chain_events},
    };
    use engine_testkit::{Fault, MockEl, MockElConfig};
    use engine_types::{
        PayloadStatusWire, Satoshis,
        config::{EndpointConfig, TimeoutConfig},
        eips::{BlockId, eip4895::Withdrawal},
        engine::{
            ExecutionPayload, ExecutionPayloadSidecar, ExecutionPayloadV1, ExecutionPayloadV2,
            PayloadId,
        },
        primitives::{Address, Bloom, Bytes, U256},
    };

    fn peg_in(n: u8) -> PegIn {
        PegIn {
            evm_address: Address::repeat_byte(n),
            amount: Satoshis(u64::from(n) * 1000),
            bitcoin_txid: B256::repeat_byte(n),
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    fn config(slot: Duration, commit: Duration) -> ChainConfig {
        ChainConfig {
            slot,
            blocks: None,
            finalize_every: 0,
            timeouts: ChainTimeouts {
                build: 10 * SECOND,
                commit,
                what_landed: 20 * SECOND,
                finalize: 10 * SECOND,
            },
            durable_blocks: false,
        }
    }

    fn built(
        parent: B256,
        number: u64,
        timestamp: u64,
        withdrawals: Vec<Withdrawal>,
    ) -> BuiltPayload {
        let payload = ExecutionPayload::V2(ExecutionPayloadV2 {
            payload_inner: ExecutionPayloadV1 {
                parent_hash: parent,
                fee_recipient: Address::ZERO,
                state_root: B256::ZERO,
                receipts_root: B256::ZERO,
                logs_bloom: Bloom::default(),
                prev_randao: B256::ZERO,
                block_number: number,
                gas_limit: 30_000_000,
                gas_used: 0,
                timestamp,
                extra_data: Bytes::new(),
                base_fee_per_gas: U256::from(7),
                block_hash: B256::repeat_byte(0xbb),
                transactions: Vec::new(),
            },
            withdrawals: withdrawals.clone(),
        });
        BuiltPayload {
            payload_id: PayloadId::new([1; 8]),
            payload,
            sidecar: ExecutionPayloadSidecar::none(),
            block_value: U256::ZERO,
            withdrawals,
            included: Vec::new(),
            pending: Vec::new(),
            already_minted: Vec::new(),
            endpoint: "el".into(),
        }
    }

    /// The tests below register the engine and the Chain under their V2 names, and a
    /// process has one registry: they take turns (nextest runs each test in its own
    /// process; `cargo test` runs them as threads of one).
    static REGISTRY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// A real engine over HTTP to a MockEl, and the Chain actor (with a slot so long it
    /// never ticks: the tests run the slots themselves), each under its V2 name.
    struct Rig {
        el: MockEl,
        shared: Arc<ChainShared>,
        engine: ActorRef<EngineMsg>,
        chain: ActorRef<ChainCmd>,
        _dir: tempfile::TempDir,
        _turn: tokio::sync::MutexGuard<'static, ()>,
    }

    impl Rig {
        /// The Chain gives up on a commit after `commit`.
        async fn start(commit: Duration) -> Self {
            let turn = REGISTRY.lock().await;
            let el = MockEl::start(MockElConfig::default()).await.unwrap();
            let dir = tempfile::tempdir().unwrap();
            let mut engine_config = EngineConfig {
                endpoints: vec![EndpointConfig {
                    name: Some("mock".into()),
                    engine_url: el.engine_url(),
                    public_url: Some(el.public_url()),
                    jwt_secret_file: Some(el.jwt_secret_path()),
                    jwt_id: None,
                    ..EndpointConfig::default()
                }],
                timeouts: TimeoutConfig {
                    forkchoice_updated: 5 * SECOND,
                    get_payload: 5 * SECOND,
                    new_payload: 5 * SECOND,
                    eth: 5 * SECOND,
                    ..TimeoutConfig::default()
                },
                ..EngineConfig::default()
            };
            engine_config.retry.max_attempts = 1;
            let chain_config = engine_types::config::ChainConfig::default();
            let port = PoolPort::from_config(&engine_config, chain_config.fork_schedule).unwrap();
            let shared = ChainShared::new(
                config(Duration::from_secs(3600), commit),
                None,
                0,
                PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
            );
            let (chain, _) =
                Actor::spawn(Some(CHAIN_ACTOR.into()), ChainActor, Arc::clone(&shared))
                    .await
                    .unwrap();
            let mut peers =
                registry_addresses::<BurnEventsDetected, StoreExecutionData>(false, false, false);
            peers.chain_events = Some(registry_chain_events::<ChainCmd>());
            let mut config = EngineActorConfig::new(chain_config, dir.path());
            config.tick_interval = Duration::from_millis(50);
            let args = EngineArgs { config, port: Arc::new(port), peers };
            let (engine, _) =
                Actor::spawn(Some(ENGINE_ACTOR.into()), EngineActor, args).await.unwrap();
            let rig = Self { el, shared, engine, chain, _dir: dir, _turn: turn };
            rig.until_ready().await;
            rig
        }

        /// Waits until the engine can build.
        async fn until_ready(&self) {
            for _ in 0..400 {
                if engine_status().await.is_ok_and(|s| s.state.can_build()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("the engine never became ready: {:?}", engine_status().await);
        }

        /// The withdrawals of canonical block `number`, as the engine reads it from the EL.
        async fn withdrawals(&self, number: u64) -> Vec<Withdrawal> {
            let block = call_engine(
                |reply| {
                    QueryMsg::GetBlock {
                        correlation: CorrelationId::new(),
                        block: BlockId::number(number),
                        with_txs: false,
                        reply,
                    }
                    .into()
                },
                10 * SECOND,
            )
            .await
            .unwrap()
            .unwrap()
            .unwrap_or_else(|| panic!("no block {number}"));
            block.withdrawals.map(|w| w.to_vec()).unwrap_or_default()
        }

        fn pending(&self) -> Vec<PegIn> {
            let mut queue = self.shared.queue();
            let all = queue.take_for_build();
            queue.build_failed();
            all
        }

        async fn finish(self) {
            self.engine.stop_and_wait(None, None).await.unwrap();
            self.chain.stop_and_wait(None, None).await.unwrap();
        }
    }

    /// The addresses minted by `withdrawals`.
    fn minted(withdrawals: &[Withdrawal]) -> Vec<Address> {
        withdrawals.iter().map(|w| w.address).collect()
    }

    /// Peg-ins handed back go before the ones that arrived since, in their original order.
    #[test]
    fn requeued_peg_ins_keep_their_place() {
        let shared = ChainShared::new(
            config(SECOND, SECOND),
            None,
            0,
            PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
        );
        shared.queue_peg_ins([peg_in(1), peg_in(2)]);
        shared.update_queue(PegInQueue::take_for_build);
        shared.queue_peg_ins([peg_in(3)]);
        shared.update_queue(PegInQueue::build_failed);
        assert_eq!(
            shared.update_queue(PegInQueue::take_for_build),
            [peg_in(1), peg_in(2), peg_in(3)]
        );
    }

    /// A commit the Chain gave up on (its budget is shorter than the EL's newPayload) is
    /// finished by the engine's worker: the Chain asks what landed, counts the block as
    /// produced, queues nothing again, and the next block mints only new peg-ins. Every
    /// peg-in is minted exactly once and the block is committed once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_that_outlives_its_caller_is_learned_not_repeated() {
        let budget = Duration::from_millis(200);
        let rig = Rig::start(budget).await;
        rig.el.fail_next("engine_newPayloadV2", Fault::Delay(SECOND), 1);
        rig.shared.queue_peg_ins([peg_in(1), peg_in(2)]);
        let outcomes = run_slot(&rig.shared).await;
        let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
        assert_eq!((line.number, line.peg_ins), (1, 2), "{line}");
        // Not a speed check: the answer came from WhatLanded, asked once the budget ran out.
        assert!(line.commit >= budget, "{line}");
        assert_eq!(rig.el.head().hash, line.hash);
        assert_eq!(rig.el.calls("engine_newPayloadV2").len(), 1, "committed once");
        assert!(rig.pending().is_empty() && rig.shared.queue().unsettled().is_empty());

        rig.shared.queue_peg_ins([peg_in(3)]);
        let outcomes = run_slot(&rig.shared).await;
        let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
        assert_eq!((line.number, line.peg_ins), (2, 1), "{line}");
        let mut all = minted(&rig.withdrawals(1).await);
        all.extend(minted(&rig.withdrawals(2).await));
        assert_eq!(all, [peg_in(1), peg_in(2), peg_in(3)].map(|p| p.evm_address));
        rig.finish().await;
    }

    /// A commit answered SYNCING is not the head: the Chain asks what landed and queues the
    /// unminted peg-ins again (here all of them, first, in order); once the EL is in sync
    /// they are minted once, in the next block.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_syncing_commit_requeues_only_what_did_not_land() {
        let rig = Rig::start(10 * SECOND).await;
        rig.el.fail_next("engine_newPayloadV2", Fault::Status(PayloadStatusWire::syncing()), 1);
        rig.shared.queue_peg_ins([peg_in(1), peg_in(2)]);
        let outcomes = run_slot(&rig.shared).await;
        let [SlotOutcome::Failed { stage: "commit", reason }] = outcomes.as_slice() else {
            panic!("{outcomes:?}")
        };
        assert!(reason.contains("was not made the head"), "{reason}");
        assert_eq!(rig.pending(), [peg_in(1), peg_in(2)]);
        assert!(rig.shared.queue().unsettled().is_empty());
        assert_eq!(rig.el.head().header.number, 0, "the EL never imported it");

        rig.until_ready().await;
        let outcomes = run_slot(&rig.shared).await;
        let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
        assert_eq!((line.number, line.peg_ins), (1, 2), "{line}");
        assert_eq!(
            minted(&rig.withdrawals(1).await),
            [peg_in(1), peg_in(2)].map(|p| p.evm_address)
        );
        assert!(rig.pending().is_empty());
        rig.finish().await;
    }

    /// When the engine walks its head back (the EL declared it INVALID), the peg-ins the
    /// discarded block minted reach the Chain (`HeadChanged` through the registry) and go
    /// back to the front of its queue, before the ones waiting.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn peg_ins_of_a_discarded_block_come_back_first() {
        let rig = Rig::start(10 * SECOND).await;
        rig.shared.queue_peg_ins([peg_in(1), peg_in(2)]);
        let outcomes = run_slot(&rig.shared).await;
        let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
        let head = line.hash;
        rig.shared.queue_peg_ins([peg_in(3)]);
        let genesis = rig.el.genesis().hash;
        rig.el.fail_next(
            "engine_forkchoiceUpdatedV2",
            Fault::Status(PayloadStatusWire::invalid(
                Some(genesis),
                "declared invalid by the test",
            )),
            1,
        );
        let answer = call_engine(
            |reply| {
                ChainMsg::ForkchoiceUpdate {
                    correlation: CorrelationId::new(),
                    head,
                    safe: B256::ZERO,
                    finalized: B256::ZERO,
                    reply,
                }
                .into()
            },
            10 * SECOND,
        )
        .await
        .unwrap();
        assert!(matches!(answer, Err(ActorError::Rejected { .. })), "{answer:?}");
        let mut pending = Vec::new();
        for _ in 0..400 {
            pending = rig.pending();
            if pending.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(pending, [peg_in(1), peg_in(2), peg_in(3)]);
        rig.finish().await;
    }

    /// A Chain incarnation started after the node asked for the stop (a restart by the
    /// supervision tree while the node shuts down) does not run slots again.
    #[tokio::test]
    async fn an_incarnation_after_stop_stays_stopped() {
        let shared = ChainShared::new(
            config(Duration::from_secs(3600), SECOND),
            None,
            0,
            PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
        );
        let timeout = Some(Duration::from_secs(10));
        let (first, first_join) =
            Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
        let stopped = first.call(|reply| ChainCmd::Stop { reply }, timeout).await.unwrap();
        assert!(matches!(stopped, ractor::rpc::CallResult::Success(0)));
        first.stop(None);
        first_join.await.unwrap();

        let (second, second_join) =
            Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
        // A tick of the new incarnation's generation; a running slot would fail (no engine)
        // and be counted before the stop is answered.
        second.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
        let stopped = second.call(|reply| ChainCmd::Stop { reply }, timeout).await.unwrap();
        assert!(matches!(stopped, ractor::rpc::CallResult::Success(0)));
        assert_eq!(shared.lines.lock().unwrap().failures(), 0, "no slot ran");
        second.stop(None);
        second_join.await.unwrap();
    }

    /// A slot task that panics makes the Chain actor fail with the panic named, instead of
    /// leaving it waiting forever for a slot that never reports (production would stop).
    #[tokio::test]
    async fn a_panicking_slot_fails_the_chain() {
        let shared = ChainShared::new(
            config(Duration::from_secs(3600), SECOND),
            None,
            0,
            PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
        );
        shared.panic_next_slot.store(true, Ordering::SeqCst);
        let (chain, join) = Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
        chain.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
        tokio::time::timeout(Duration::from_secs(10), join).await.unwrap().unwrap();
        assert_eq!(chain.get_status(), ractor::ActorStatus::Stopped);
    }

    /// The Chain's timeouts are the engine's budgets, and a stop waits for a whole slot.
    #[test]
    fn timeouts_come_from_the_engine_budgets() {
        let engine = EngineConfig::default();
        let t = ChainTimeouts::from_engine(&engine).unwrap();
        assert_eq!(t.build, engine.build_budget().unwrap());
        assert_eq!(t.commit, engine.commit_budget().unwrap());
        assert_eq!(t.what_landed, engine.what_landed_budget().unwrap());
        assert_eq!(t.finalize, engine.forkchoice_budget().unwrap());
        assert!(t.slot() > t.build + t.commit + 2 * t.what_landed);
        assert_eq!(t.stop_wait(), MAX_STOP_WAIT, "the defaults' slot is longer");
        let fast =
            ChainTimeouts { build: SECOND, commit: SECOND, what_landed: SECOND, finalize: SECOND };
        assert_eq!(fast.stop_wait(), fast.slot());
    }

    /// A payload on the head, at the slot's time, with the packed withdrawals passes; any
    /// other parent, number, timestamp or withdrawal list is named.
    #[test]
    fn built_payloads_are_checked_against_the_request() {
        let head = BlockRef::new(B256::repeat_byte(0xaa), 7, 100);
        let w = Withdrawal {
            index: 0,
            validator_index: 0,
            address: Address::repeat_byte(1),
            amount: 10,
        };
        let good = built(head.hash, 8, 102, vec![w]);
        assert_eq!(check_built(&good, &head, 102), Ok(()));
        let err = check_built(&built(B256::ZERO, 9, 103, vec![w]), &head, 102).unwrap_err();
        assert!(err.contains("is not the head") && err.contains("does not follow"), "{err}");
        assert!(err.contains("timestamp 103 is not the slot's 102"), "{err}");
        let mut extra = good;
        extra.withdrawals.push(w);
        let err = check_built(&extra, &head, 102).unwrap_err();
        assert_eq!(err, "withdrawals differ from the packed peg-ins");
    }
}
