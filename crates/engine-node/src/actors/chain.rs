//! The Chain actor: the slot timer that produces blocks.
//!
//! ```text
//!  Tick{generation} ─ stale generation or a slot running? ─> ignored / counted as skipped
//!        │
//!        └─> slot task: GetStatus ─> BuildPayload{head, timestamp, pending peg-ins}
//!                       ─> check the payload against the head and the request
//!                       ─> CommitPayload ─> store the block ─> SetFinalized every K blocks
//!                       ─> SlotDone{generation, outcome} back to the actor (progress line)
//! ```
//!
//! The slot runs as a task so the mailbox stays free (a `Stop` is seen at once); only one
//! slot runs at a time. Ticks carry the generation they were armed with: `Stop` (or the
//! block limit) bumps it, so a tick already queued never starts another slot. Peg-ins that
//! did not fit in a block, or whose block failed, go back to the front of the queue, which
//! lives outside the actor so that a restart does not lose them.
//!
//! The actor stays alive after it stops producing: the engine watches it, and a missing
//! Chain actor would make the engine fail.

use crate::{
    actors::{call_engine, engine_status, storage::StorageMsg},
    metrics,
    progress::{BlockLine, Progress},
    sim::Simulator,
    store::StoredBlock,
};
use engine_actor::{
    ActorError, ChainMsg,
    heads::BlockRef,
    messages::{BuiltPayload, Committed, PegOutReport},
    supervision::tree::names::STORAGE_ACTOR,
};
use engine_types::{CorrelationId, PegIn, engine::ExecutionPayload};
use ractor::{
    Actor, ActorProcessingErr, ActorRef, RpcReplyPort, concurrency::JoinHandle, registry,
};
use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::watch;

/// How long a slot waits for a build (forkchoiceUpdated + getPayload, failover included).
const BUILD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a slot waits for a commit (newPayload + forkchoiceUpdated on every client).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a slot waits for finality to be recorded.
const FINALIZE_TIMEOUT: Duration = Duration::from_secs(15);

/// How the Chain actor produces blocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainConfig {
    /// Time between slots.
    pub(crate) slot: Duration,
    /// Stop producing after this many blocks.
    pub(crate) blocks: Option<u64>,
    /// Finalize the head every this many blocks (0: never).
    pub(crate) finalize_every: u64,
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
    pending: Mutex<VecDeque<PegIn>>,
    progress: watch::Sender<ChainProgress>,
    lines: Mutex<Progress>,
    /// Why the last slot waited, so that a long wait is logged once, not every slot.
    waiting: Mutex<Option<String>>,
    sim: Option<Arc<Simulator>>,
    /// Set by `ChainCmd::Stop`, so that an incarnation restarted by the supervision tree
    /// while the node stops does not produce again.
    stopped: AtomicBool,
}

impl ChainShared {
    /// Shared state for a run; `sim` adds simulated peg-ins and peg-outs.
    pub(crate) fn new(
        config: ChainConfig,
        sim: Option<Simulator>,
        summary_every: u64,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            pending: Mutex::new(VecDeque::new()),
            progress: watch::Sender::new(ChainProgress::default()),
            lines: Mutex::new(Progress::new(summary_every)),
            waiting: Mutex::new(None),
            sim: sim.map(Arc::new),
            stopped: AtomicBool::new(false),
        })
    }

    /// Follows the progress.
    pub(crate) fn subscribe(&self) -> watch::Receiver<ChainProgress> {
        self.progress.subscribe()
    }

    /// Queues peg-ins behind the waiting ones.
    pub(crate) fn queue_peg_ins(&self, peg_ins: impl IntoIterator<Item = PegIn>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.extend(peg_ins);
        ::metrics::gauge!(metrics::PEG_INS_PENDING).set(pending.len() as f64);
    }

    /// Puts peg-ins back at the front of the queue (they were there first).
    fn requeue(&self, peg_ins: Vec<PegIn>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for p in peg_ins.into_iter().rev() {
            pending.push_front(p);
        }
        ::metrics::gauge!(metrics::PEG_INS_PENDING).set(pending.len() as f64);
    }

    fn take_pending(&self) -> Vec<PegIn> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let all = pending.drain(..).collect();
        ::metrics::gauge!(metrics::PEG_INS_PENDING).set(0.0);
        all
    }

    fn pending_len(&self) -> usize {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).len()
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
        /// What it did.
        outcome: Box<SlotOutcome>,
    },
    /// Stop producing; answered (with the blocks produced) once no slot is running.
    Stop {
        /// Answer.
        reply: RpcReplyPort<u64>,
    },
}

/// What one slot did.
#[derive(Debug)]
pub(crate) enum SlotOutcome {
    /// A block was produced and committed.
    Produced(BlockLine),
    /// The engine cannot build yet (initializing, syncing, no usable client).
    Waiting(String),
    /// The slot failed at `stage`.
    Failed {
        /// `engine`, `build`, `validate` or `commit`.
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
                tokio::spawn(async move {
                    let outcome = Box::new(run_slot(&shared).await);
                    // The actor may be gone (stopping); the slot's effects are done either way.
                    let _ = myself.send_message(ChainCmd::SlotDone { outcome });
                });
            }
            ChainCmd::SlotDone { outcome } => {
                state.running = false;
                record(&state.shared, *outcome);
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
        }
        Ok(())
    }
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
        PegOutReport::NotScanned | PegOutReport::Failed { .. } => None,
    }
}

async fn run_slot(shared: &ChainShared) -> SlotOutcome {
    let started = Instant::now();
    let status = match engine_status().await {
        Ok(status) => status,
        Err(reason) => return SlotOutcome::Failed { stage: "engine", reason },
    };
    if !status.state.can_build() {
        let why = status.last_error.map_or_else(String::new, |e| format!(" ({e})"));
        return SlotOutcome::Waiting(format!("it is {}{why}", status.state));
    }
    let head = status.heads.head;
    if let Some(sim) = &shared.sim {
        shared.queue_peg_ins(sim.peg_ins());
    }
    let peg_ins = shared.take_pending();
    let timestamp = unix_now().max(head.timestamp + 1);
    let correlation = CorrelationId::new();
    let built = flatten(
        call_engine(
            |reply| {
                ChainMsg::BuildPayload {
                    correlation,
                    parent: Some(head.hash),
                    timestamp,
                    peg_ins: peg_ins.clone(),
                    fee_recipient: None,
                    prev_randao: None,
                    reply,
                }
                .into()
            },
            BUILD_TIMEOUT,
        )
        .await,
    );
    let built = match built {
        Ok(built) => built,
        Err(reason) => {
            shared.requeue(peg_ins);
            return SlotOutcome::Failed { stage: "build", reason };
        }
    };
    let build_time = started.elapsed();
    shared.requeue(built.pending.clone());
    if let Err(reason) = check_built(&built, &head, timestamp) {
        shared.requeue(built.included.clone());
        return SlotOutcome::Failed { stage: "validate", reason };
    }
    let commit_started = Instant::now();
    let payload: ExecutionPayload = built.payload.clone();
    let committed = flatten(
        call_engine(
            |reply| {
                ChainMsg::CommitPayload {
                    correlation,
                    payload: Box::new(payload),
                    sidecar: Box::new(built.sidecar.clone()),
                    expected_withdrawals: built.withdrawals.clone(),
                    reply,
                }
                .into()
            },
            COMMIT_TIMEOUT,
        )
        .await,
    );
    let committed: Committed = match committed {
        Ok(c) if c.head => c,
        Ok(c) => {
            shared.requeue(built.included.clone());
            let reason =
                format!("block {} was not made the head (status {:?})", c.number, c.status);
            return SlotOutcome::Failed { stage: "commit", reason };
        }
        Err(reason) => {
            shared.requeue(built.included.clone());
            return SlotOutcome::Failed { stage: "commit", reason };
        }
    };
    let commit_time = commit_started.elapsed();
    store_block(&built);
    let finalized = finalize(shared, &committed).await;
    // After the last block of a bounded run no block would carry a peg-out: send none.
    let last = shared.config.blocks.is_some_and(|n| shared.progress.borrow().produced + 1 >= n);
    if let Some(sim) = shared.sim.as_ref().filter(|s| !last && s.peg_out_due(committed.number)) {
        let sim = Arc::clone(sim);
        tokio::spawn(async move {
            match sim.send_peg_out().await {
                Ok(hash) => tracing::info!(tx = %hash, "peg-out transaction sent to the bridge"),
                Err(e) => tracing::warn!(error = %e, "peg-out transaction not sent"),
            }
        });
    }
    if let PegOutReport::Failed { reason } = &committed.peg_outs {
        tracing::warn!(block = committed.number, %reason, "peg-outs of this block not scanned");
    }
    SlotOutcome::Produced(BlockLine {
        number: committed.number,
        hash: committed.hash,
        txs: built.payload.as_v1().transactions.len(),
        peg_ins: built.included.len(),
        peg_outs: peg_outs(&committed.peg_outs),
        build: build_time,
        commit: commit_time,
        finalized,
    })
}

fn store_block(built: &BuiltPayload) {
    let Some(storage) = registry::where_is(STORAGE_ACTOR).map(ActorRef::<StorageMsg>::from) else {
        tracing::warn!("no storage actor: block not persisted");
        return;
    };
    let block = StoredBlock::new(built.payload.clone(), &built.sidecar);
    if storage.send_message(StorageMsg::Block(Box::new(block))).is_err() {
        tracing::warn!("the storage actor stopped: block not persisted");
    }
}

/// Finalizes the new head every `finalize_every` blocks; whether it did.
async fn finalize(shared: &ChainShared, committed: &Committed) -> bool {
    let k = shared.config.finalize_every;
    if k == 0 || !committed.number.is_multiple_of(k) {
        return false;
    }
    let hash = committed.hash;
    let result = flatten(
        call_engine(
            |reply| {
                ChainMsg::SetFinalized { correlation: CorrelationId::new(), hash, reply }.into()
            },
            FINALIZE_TIMEOUT,
        )
        .await,
    );
    match result {
        Ok(_) => true,
        Err(reason) => {
            ::metrics::counter!(metrics::SLOT_FAILURES, "stage" => "finalize").increment(1);
            tracing::warn!(block = committed.number, %reason, "finalization not recorded");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::{
        Satoshis,
        eips::eip4895::Withdrawal,
        engine::{ExecutionPayloadSidecar, ExecutionPayloadV1, ExecutionPayloadV2, PayloadId},
        primitives::{Address, B256, Bloom, Bytes, U256},
    };

    fn peg_in(n: u8) -> PegIn {
        PegIn {
            evm_address: Address::repeat_byte(n),
            amount: Satoshis(u64::from(n) * 1000),
            bitcoin_txid: B256::repeat_byte(n),
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
            endpoint: "el".into(),
        }
    }

    /// Peg-ins handed back go before the ones that arrived since, in their original order.
    #[test]
    fn requeued_peg_ins_keep_their_place() {
        let config = ChainConfig { slot: Duration::from_secs(1), blocks: None, finalize_every: 0 };
        let shared = ChainShared::new(config, None, 0);
        shared.queue_peg_ins([peg_in(1), peg_in(2)]);
        let taken = shared.take_pending();
        shared.queue_peg_ins([peg_in(3)]);
        shared.requeue(taken);
        assert_eq!(shared.take_pending(), [peg_in(1), peg_in(2), peg_in(3)]);
        assert_eq!(shared.pending_len(), 0);
    }

    /// A Chain incarnation started after the node asked for the stop (a restart by the
    /// supervision tree while the node shuts down) does not run slots again.
    #[tokio::test]
    async fn an_incarnation_after_stop_stays_stopped() {
        let config =
            ChainConfig { slot: Duration::from_secs(3600), blocks: None, finalize_every: 0 };
        let shared = ChainShared::new(config, None, 0);
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
