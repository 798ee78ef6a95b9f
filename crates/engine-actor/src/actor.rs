//! The `EngineActor`: owns all execution state and answers the Chain, Bridge, Storage and
//! Network actors.
//!
//! ```text
//!  mailbox ──> handle() ─┬─ BuildPayload / CommitBuilt (the build taken from the cache
//!                        │  by id now) / CommitPayload / ForkchoiceUpdate / SetFinalized
//!                        │  / WhatLanded
//!                        │      └─> forkchoice worker (one task, FIFO, `job_queue` jobs
//!                        │          waiting at most, then Busy): the only writer of
//!                        │          head/safe/finalized and of the minted-peg-in ledger;
//!                        │          persists, then replies; a panic in it fails the actor
//!                        │          └─> peg-out scan lane (one task the worker owns,
//!                        │              `scan_queue` blocks): receipts, burns to the
//!                        │              Bridge, after the commit's reply, in block order
//!                        ├─ GetBlock / GetReceipts / GetPayloadByTag / ValidateTransaction
//!                        │  / GetTransactionReceipt / ValidatePegOut / GetTxPoolStatus
//!                        │      └─> one task each (`max_tasks` at most, then Busy),
//!                        │          replying through its port
//!                        ├─ GetPayload / GetStatus: answered at once (no I/O)
//!                        └─ Tick: peer liveness, state gauge, re-sync of a lagging EL,
//!                                 forkchoice state re-sent to an EL that came back, a
//!                                 pending finality intent sent again
//! ```
//!
//! The Chain's requests routed here come through `intake`, which the Chain's direct
//! [`ChainLine`] runs on the Chain's own task: either way they are checked, queued or refused
//! alike, onto the one worker queue.
//!
//! Handlers never wait on the EL, so the mailbox stays responsive; ordering of forkchoice
//! work comes from the worker's queue. Both the queue and the task set are bounded: beyond
//! the bound a request is refused at once with [`ActorError::Busy`], never queued without
//! end nor dropped.
//!
//! Every task has an owner that fails with it: the worker ends when its scan lane ends (a
//! panic), naming it; the actor checks the worker's `JoinHandle` before every message (the
//! tick included) and on every enqueue, and fails with [`ActorError::WorkerStopped`] when it
//! ended; on every tick it checks the execution pool's
//! panic counters and fails with [`ActorError::PoolTaskPanicked`] when one grew. The
//! supervisor then restarts it from the persisted state.
//!
//! One trace per request: a message's handler runs in the span the sender was in (ractor's
//! span propagation), a worker job's span is a child of the span its request arrived in,
//! query tasks too, and every call to the EL they make carries the message's correlation id
//! as its `traceparent` trace id (engine-client's `with_correlation`).
//!
//! When the actor stops or crashes, its state is dropped,
//! which aborts the worker and the tasks: their reply ports drop, and callers get an error
//! instead of waiting forever. A restarted incarnation reloads the persisted state and
//! re-sends the last forkchoice state.

mod core;
pub(crate) mod intake;
mod queries;
mod worker;

use self::{
    core::Core,
    intake::{Intake, QueueClosed},
};
use crate::{
    config::EngineActorConfig,
    error::ActorError,
    line::{ChainLine, LineGuard},
    messages::{ChainRequest, EngineMsg, NetworkRequest, QueryMsg, TxVerdict},
    metrics,
    peers::ActorAddresses,
    persist::StateStore,
    port::ExecutionPort,
    rate_limit::RateLimiter,
    status::{EngineState, EngineStatus},
};
use engine_client::{panic::task_failure, traceparent::with_correlation};
use engine_types::CorrelationId;
use futures::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, concurrency::JoinHandle};
use std::{collections::HashMap, future::Future, sync::Arc};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};
use tracing::Instrument;
use worker::{Job, Worker};

/// The engine actor. Holds nothing: everything lives in its state, built from
/// [`EngineArgs`] at every (re)start.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineActor;

/// What an incarnation of the engine is started with.
#[derive(Debug, Clone)]
pub struct EngineArgs {
    /// Configuration.
    pub config: EngineActorConfig,
    /// The execution layer.
    pub port: Arc<dyn ExecutionPort>,
    /// The peers.
    pub peers: ActorAddresses,
    /// The Chain's direct line to the worker, connected by every incarnation (see
    /// [`ChainLine`]); one nobody else holds just goes unused.
    pub line: ChainLine,
}

/// Aborts a task when dropped (with the actor's state, however the actor ends).
#[derive(Debug)]
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Whether the task ended (returned or panicked).
    fn finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl AbortOnDrop<String> {
    /// Why the task (which returns its reason) ended. Polls the handle: call it once, after
    /// [`finished`](Self::finished) (the actor fails right after, so it never asks twice).
    fn end_reason(&mut self) -> String {
        match (&mut self.0).now_or_never() {
            Some(joined) => ended_because(joined, "a job panicked", |reason| reason),
            None => "it is still running".into(),
        }
    }
}

/// Why a task ended, from its join result: `panicked` and the panic's message, that it was
/// stopped, or what `returned` makes of its output.
fn ended_because<T>(
    joined: Result<T, tokio::task::JoinError>,
    panicked: &str,
    returned: impl FnOnce(T) -> String,
) -> String {
    match joined {
        Err(e) if e.is_panic() => format!("{panicked}: {}", task_failure(e)),
        Err(e) => format!("it was stopped: {e}"),
        Ok(output) => returned(output),
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The engine's state while it runs.
#[derive(Debug)]
pub struct EngineActorState {
    core: Arc<Core>,
    intake: Intake,
    tasks: JoinSet<()>,
    limiter: RateLimiter,
    started: Instant,
    /// The endpoints' returns from Offline/AuthFailed already answered with a queued
    /// reconcile (the sum of their counters): while the counters are ahead of it, an EL may
    /// have restarted and lost our forkchoice state, so each tick tries to queue the
    /// reconcile that re-sends it; it moves up only once one was queued, so a full queue
    /// delays the re-send but never loses it.
    reconnects: u64,
    /// Each endpoint's panic counter when this incarnation started: a panic of a pool task
    /// after that fails the actor.
    panics: HashMap<String, u64>,
    worker: AbortOnDrop<String>,
    _ticker: AbortOnDrop<()>,
    /// Connects the Chain's line once the first reconcile is queued, and disconnects it when
    /// the state drops. Declared after `worker`, so it drops after the worker's abort; a
    /// request between the two is dropped with the worker's queue, and its caller gets
    /// `Stopped`.
    line: LineGuard,
}

impl EngineActorState {
    /// The actor's failure when the forkchoice worker ended before it.
    fn check_worker(&mut self) -> Result<(), ActorError> {
        if self.worker.finished() {
            return Err(ActorError::WorkerStopped { reason: self.worker.end_reason() });
        }
        Ok(())
    }

    /// Queues `job` for the worker in the current span and says whether it was queued. A
    /// full queue answers the job's caller [`ActorError::Busy`] (and gives `false`); a
    /// worker that ended fails the actor (the job's reply port drops with it, so its caller
    /// gets an error too).
    fn enqueue(&mut self, correlation: CorrelationId, job: Job) -> Result<bool, ActorError> {
        self.check_worker()?;
        match self.intake.enqueue(correlation, job) {
            Ok(queued) => Ok(queued),
            Err(QueueClosed) => self.queue_closed(),
        }
    }

    /// The actor's failure when the worker's queue was found closed.
    fn queue_closed(&mut self) -> Result<bool, ActorError> {
        self.check_worker()?;
        Err(ActorError::WorkerStopped { reason: "its queue closed".into() })
    }

    /// [`ActorError::Busy`] when `max_tasks` query tasks run already.
    fn admit_task(&mut self) -> Result<(), ActorError> {
        let limit = self.core.config.max_tasks.get();
        if self.reap() >= limit {
            return Err(ActorError::Busy { queue: "query tasks", limit });
        }
        Ok(())
    }

    /// Collects finished tasks and returns how many still run. A task that panicked dropped
    /// its reply port (its caller got an error); it is logged here.
    fn reap(&mut self) -> usize {
        while let Some(done) = self.tasks.try_join_next() {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!(error = %e, "a query task panicked");
            }
        }
        self.tasks.len()
    }

    /// Runs `task` in a span that is a child of the current one (the sender's), with
    /// `correlation` as the trace id of its calls to the EL. The caller checked
    /// [`admit_task`](Self::admit_task).
    fn spawn<F>(&mut self, name: &'static str, correlation: CorrelationId, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let span = tracing::info_span!("engine_query", message = name, %correlation);
        self.tasks.spawn(with_correlation(correlation, task).instrument(span));
    }

    /// Runs the query `work` as a task that records its outcome under `name` and answers
    /// `reply` with it; over the task limit, answers [`ActorError::Busy`] at once.
    fn answer<T, F>(
        &mut self,
        name: &'static str,
        correlation: CorrelationId,
        reply: ractor::RpcReplyPort<Result<T, ActorError>>,
        work: F,
    ) where
        T: Send + 'static,
        F: Future<Output = Result<T, ActorError>> + Send + 'static,
    {
        if let Err(busy) = self.admit_task() {
            let result = Err(busy);
            self.core.meters.outcome(name, &result);
            tracing::warn!(%correlation, message = name, "query refused: too many tasks");
            return reply_to(reply, result);
        }
        let meters = self.core.meters.clone();
        self.spawn(name, correlation, async move {
            let result = work.await;
            meters.outcome(name, &result);
            reply_to(reply, result);
        });
    }

    fn status(&mut self) -> EngineStatus {
        let running_tasks = self.reap();
        let view = self.core.view();
        let endpoints = self.core.port.endpoints();
        let peers = self.core.peers.presence();
        let state = crate::status::derive_state(&view.el, &endpoints, &peers);
        EngineStatus {
            state,
            el: view.el,
            heads: view.heads,
            next_withdrawal_index: view.next_withdrawal_index,
            peg_outs_scanned: view.peg_outs_scanned,
            endpoints,
            peers,
            cache: self.core.cache().stats(),
            pending_forkchoice: self.core.pending_forkchoice(),
            running_tasks,
            uptime: self.started.elapsed(),
            last_error: view.last_error,
        }
    }

    fn publish_gauges(&mut self, state: EngineState) {
        ::metrics::gauge!(metrics::STATE).set(state.gauge());
        let depth = self.core.pending_forkchoice() + self.reap();
        ::metrics::gauge!(metrics::MAILBOX_DEPTH).set(depth as f64);
        let owed = self.core.view().peg_outs_owed;
        ::metrics::gauge!(metrics::PEG_OUTS_OWED).set(if owed { 1.0 } else { 0.0 });
    }
}

fn reply_to<T>(port: ractor::RpcReplyPort<T>, value: T) {
    if !port.is_closed() {
        // The caller may give up between the check and the send; nothing to do then.
        let _ = port.send(value);
    }
}

impl Actor for EngineActor {
    type Msg = EngineMsg;
    type State = EngineActorState;
    type Arguments = EngineArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<EngineMsg>,
        args: EngineArgs,
    ) -> Result<EngineActorState, ActorProcessingErr> {
        metrics::describe();
        let EngineArgs { config, port, peers, line } = args;
        let store = StateStore::new(&config.state_dir, config.start_fresh);
        let persisted = store.load()?.unwrap_or_else(worker::fresh_state);
        tracing::info!(path = %store.path().display(), head = %persisted.heads.head.hash,
            finalized = persisted.heads.finalized.number,
            next_withdrawal_index = persisted.next_withdrawal_index, "engine starting");
        let tick = config.tick_interval;
        let limiter = RateLimiter::new(config.rate_limit);
        let core = Arc::new(Core::new(port, config, peers, worker::initial_view(&persisted)));
        let (jobs, rx) = mpsc::channel(core.config.job_queue.get());
        let worker = tokio::spawn(Worker::new(core.clone(), store, persisted).run(rx));
        let intake = Intake::new(core.clone(), jobs);
        let ticker = myself.send_interval(tick, || EngineMsg::Tick);
        let endpoints = core.port.endpoints();
        let mut state = EngineActorState {
            reconnects: endpoints.iter().map(|e| e.reconnects).sum(),
            panics: endpoints.iter().map(|e| (e.name.clone(), e.panics)).collect(),
            line: line.guard(intake.clone()),
            core,
            intake,
            tasks: JoinSet::new(),
            limiter,
            started: Instant::now(),
            worker: AbortOnDrop(worker),
            _ticker: AbortOnDrop(ticker),
        };
        // A fresh queue has room: the first reconcile is always queued, and ahead of every
        // request (the mailbox delivers after `pre_start`, the line connects below).
        state.enqueue(CorrelationId::new(), Job::Reconcile)?;
        state.line.connect(myself);
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<EngineMsg>,
        msg: EngineMsg,
        state: &mut EngineActorState,
    ) -> Result<(), ActorProcessingErr> {
        // The worker only ends with the actor: if it ended first (a panic in a job), the
        // engine cannot move its head any more. Fail, so that the supervisor restarts it
        // from the persisted state; the job's caller already got an error (its reply
        // port was dropped), and so does this message's.
        let handled = state.check_worker().and_then(|()| match msg {
            EngineMsg::Chain(msg) => handle_chain(msg, state),
            EngineMsg::Query(msg) => {
                handle_query(msg, state);
                Ok(())
            }
            EngineMsg::Network(msg) => {
                handle_network(msg, state);
                Ok(())
            }
            EngineMsg::Tick => tick(state),
        });
        handled.map_err(|e| {
            tracing::error!(error = %e, "the engine fails");
            Box::new(e) as ActorProcessingErr
        })
    }
}

fn handle_chain(msg: ChainRequest, state: &mut EngineActorState) -> Result<(), ActorError> {
    match state.intake.chain(msg) {
        Ok(()) => Ok(()),
        Err(QueueClosed) => state.queue_closed().map(|_queued| ()),
    }
}

fn handle_query(msg: QueryMsg, state: &mut EngineActorState) {
    let core = state.core.clone();
    match msg {
        QueryMsg::GetBlock { correlation, block, with_txs, reply } => {
            state.answer(
                "get_block",
                correlation,
                reply,
                queries::get_block(core, block, with_txs),
            );
        }
        QueryMsg::GetReceipts { correlation, block, reply } => {
            state.answer("get_receipts", correlation, reply, queries::get_receipts(core, block));
        }
        QueryMsg::GetPayloadByTag { correlation, tag, reply } => {
            state.answer(
                "get_payload_by_tag",
                correlation,
                reply,
                queries::payload_by_tag(core, tag),
            );
        }
        QueryMsg::GetTransactionReceipt { correlation, tx, reply } => {
            let receipt = async move { Ok(core.port.transaction_receipt(tx).await?) };
            state.answer("get_transaction_receipt", correlation, reply, receipt);
        }
        QueryMsg::GetTxPoolStatus { correlation, reply } => {
            let pool = async move { Ok(core.port.txpool_status().await?) };
            state.answer("get_txpool_status", correlation, reply, pool);
        }
        QueryMsg::ValidatePegOut { correlation, tx, reply } => {
            state.answer(
                "validate_peg_out",
                correlation,
                reply,
                queries::validate_peg_out(core, tx),
            );
        }
        QueryMsg::GetStatus { correlation, reply } => {
            let _span = tracing::info_span!("engine_get_status", %correlation).entered();
            let status = state.status();
            state.publish_gauges(status.state);
            reply_to(reply, status);
        }
    }
}

fn handle_network(msg: NetworkRequest, state: &mut EngineActorState) {
    match msg {
        NetworkRequest::ValidateTransaction { correlation, raw, peer, reply } => {
            if let Err(retry_after) = state.limiter.check(&peer, Instant::now()) {
                ::metrics::counter!(metrics::RATE_LIMITED).increment(1);
                tracing::debug!(%correlation, %peer, "transaction rate limited");
                return reply_to(reply, TxVerdict::RateLimited { retry_after });
            }
            if let Err(busy) = state.admit_task() {
                tracing::warn!(%correlation, "transaction refused: too many tasks");
                return reply_to(reply, TxVerdict::Unavailable { reason: busy.to_string() });
            }
            let core = state.core.clone();
            state.spawn("validate_transaction", correlation, async move {
                let verdict = queries::validate_transaction(core, raw).await;
                reply_to(reply, verdict);
            });
        }
    }
}

fn tick(state: &mut EngineActorState) -> Result<(), ActorError> {
    if !state.core.peers.chain.is_alive() {
        // The Chain actor is critical: fail, so that the supervisor decides.
        return Err(ActorError::ChainGone);
    }
    let endpoints = state.core.port.endpoints();
    // A pool task panicked since this incarnation started: its endpoint's state is unknown.
    // Fail; the restart re-sends the forkchoice state, which catches the endpoint up.
    if let Some(e) =
        endpoints.iter().find(|e| e.panics > state.panics.get(&e.name).copied().unwrap_or(0))
    {
        return Err(ActorError::PoolTaskPanicked {
            endpoint: e.name.clone(),
            panics: e.panics,
            last_error: e.last_error.clone(),
        });
    }
    let engine_state = state.core.state();
    state.publish_gauges(engine_state);
    let reconnects = endpoints.iter().map(|e| e.reconnects).sum();
    // Not yet answered with a queued reconcile: a return seen at an earlier tick whose
    // reconcile found the queue full is still due (the EL may report Synced by now, so
    // nothing else would re-send our state to it).
    let came_back = reconnects > state.reconnects;
    let view = state.core.view();
    // A finality intent the EL has not confirmed is sent again, like a lagging EL's state.
    let lagging = !matches!(view.el, crate::status::ElCondition::Synced) || view.finality_pending;
    // Peg-outs owed below the head (a failed scan, a crash after a commit) are delivered
    // when the worker is idle, in block order.
    if view.peg_outs_owed && !lagging && state.core.pending_forkchoice() == 0 {
        state.enqueue(CorrelationId::new(), Job::ScanPegOuts)?;
    }
    // A return is reconciled even behind queued work: it re-sends the state that work leaves.
    if came_back || (lagging && state.core.pending_forkchoice() == 0) {
        let queued = state.enqueue(CorrelationId::new(), Job::Reconcile)?;
        if queued && came_back {
            tracing::info!("an execution client came back: re-sending the forkchoice state");
            state.reconnects = reconnects;
        }
    }
    Ok(())
}
