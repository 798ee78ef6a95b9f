//! The `EngineActor`: owns all execution state and answers the Chain, Bridge, Storage and
//! Network actors.
//!
//! ```text
//!  mailbox ──> handle() ─┬─ BuildPayload / CommitPayload / ForkchoiceUpdate / SetFinalized
//!                        │  / WhatLanded
//!                        │      └─> forkchoice worker (one task, FIFO): the only writer of
//!                        │          head/safe/finalized and of the minted-peg-in ledger;
//!                        │          persists, then replies; a panic in it fails the actor
//!                        ├─ GetBlock / GetReceipts / GetPayloadByTag / ValidateTransaction
//!                        │  / GetTransactionReceipt / ValidatePegOut / GetTxPoolStatus
//!                        │      └─> one task each, replying through its port
//!                        ├─ GetPayload / GetStatus: answered at once (no I/O)
//!                        └─ Tick: peer liveness, state gauge, re-sync of a lagging EL,
//!                                 forkchoice state re-sent to an EL that came back, a
//!                                 pending finality intent sent again
//! ```
//!
//! Handlers never wait on the EL, so the mailbox stays responsive; ordering of forkchoice
//! work comes from the worker's queue. When the actor stops or crashes, its state is dropped,
//! which aborts the worker and the tasks: their reply ports drop, and callers get an error
//! instead of waiting forever. A restarted incarnation reloads the persisted state and
//! re-sends the last forkchoice state.

mod core;
mod queries;
mod worker;

use self::core::Core;
use crate::{
    config::EngineActorConfig,
    error::ActorError,
    messages::{ChainMsg, EngineMsg, NetworkMsg, QueryMsg, TxVerdict},
    metrics,
    peers::ActorAddresses,
    persist::StateStore,
    port::ExecutionPort,
    rate_limit::RateLimiter,
    status::{EngineState, EngineStatus},
};
use engine_types::CorrelationId;
use ractor::{Actor, ActorProcessingErr, ActorRef, concurrency::JoinHandle};
use std::{future::Future, sync::Arc};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};
use tracing::Instrument;
use worker::{BuildJob, Job, Worker};

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

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The engine's state while it runs.
#[derive(Debug)]
pub struct EngineActorState {
    core: Arc<Core>,
    jobs: mpsc::UnboundedSender<(CorrelationId, Job)>,
    tasks: JoinSet<()>,
    limiter: RateLimiter,
    started: Instant,
    /// The endpoints' returns from Offline/AuthFailed seen so far (the sum of their
    /// counters): when it grows, an EL may have restarted, so our forkchoice state is re-sent.
    reconnects: u64,
    _worker: AbortOnDrop<()>,
    _ticker: AbortOnDrop<()>,
}

impl EngineActorState {
    fn enqueue(&self, correlation: CorrelationId, job: Job) {
        self.core.forkchoice_queued();
        if let Err(mpsc::error::SendError((_, job))) = self.jobs.send((correlation, job)) {
            // The worker is gone (it only ends when aborted): dropping the job drops its
            // reply port, so the caller sees an error.
            self.core.forkchoice_done();
            tracing::error!(job = ?std::mem::discriminant(&job), "forkchoice worker is gone");
        }
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

    fn spawn<F>(&mut self, name: &'static str, correlation: CorrelationId, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.reap();
        let span = tracing::info_span!("engine_query", message = name, %correlation);
        self.tasks.spawn(task.instrument(span));
    }

    /// Runs the query `work` as a task that records its outcome under `name` and answers
    /// `reply` with it.
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
        self.spawn(name, correlation, async move {
            let result = work.await;
            Core::record(name, &result);
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
        let EngineArgs { config, port, peers } = args;
        let store = StateStore::new(&config.state_dir, config.start_fresh);
        let persisted = store.load()?.unwrap_or_else(worker::fresh_state);
        tracing::info!(path = %store.path().display(), head = %persisted.heads.head.hash,
            finalized = persisted.heads.finalized.number,
            next_withdrawal_index = persisted.next_withdrawal_index, "engine starting");
        let tick = config.tick_interval;
        let limiter = RateLimiter::new(config.rate_limit);
        let core = Arc::new(Core::new(port, config, peers, worker::initial_view(&persisted)));
        let (jobs, rx) = mpsc::unbounded_channel();
        let worker = tokio::spawn(Worker::new(core.clone(), store, persisted).run(rx));
        let ticker = myself.send_interval(tick, || EngineMsg::Tick);
        let state = EngineActorState {
            reconnects: total_reconnects(core.port.as_ref()),
            core,
            jobs,
            tasks: JoinSet::new(),
            limiter,
            started: Instant::now(),
            _worker: AbortOnDrop(worker),
            _ticker: AbortOnDrop(ticker),
        };
        state.enqueue(CorrelationId::new(), Job::Reconcile);
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
        // port was dropped).
        if state._worker.finished() {
            return Err(
                "the forkchoice worker stopped (a job panicked); restarting the engine".into()
            );
        }
        match msg {
            EngineMsg::Chain(msg) => handle_chain(msg, state),
            EngineMsg::Query(msg) => handle_query(msg, state),
            EngineMsg::Network(msg) => handle_network(msg, state),
            EngineMsg::Tick => return tick(state),
        }
        Ok(())
    }
}

fn handle_chain(msg: ChainMsg, state: &mut EngineActorState) {
    match msg {
        ChainMsg::BuildPayload {
            correlation,
            parent,
            timestamp,
            peg_ins,
            fee_recipient,
            prev_randao,
            reply,
        } => {
            let engine_state = state.core.state();
            if !engine_state.can_build() {
                let result = Err(ActorError::NotReady { state: engine_state });
                Core::record("build_payload", &result);
                tracing::info!(%correlation, state = %engine_state, "build refused: not ready");
                return reply_to(reply, result);
            }
            let job = BuildJob { parent, timestamp, peg_ins, fee_recipient, prev_randao };
            state.enqueue(correlation, Job::Build(job, reply));
        }
        ChainMsg::GetPayload { correlation, id, reply } => {
            let _span = tracing::info_span!("engine_get_payload", %correlation).entered();
            let result = state
                .core
                .cache()
                .get(&id, Instant::now())
                .map(|c| c.built.clone())
                .ok_or(ActorError::UnknownPayload { id });
            Core::record("get_payload", &result);
            reply_to(reply, result);
        }
        ChainMsg::CommitPayload {
            correlation,
            payload,
            sidecar,
            expected_withdrawals,
            peg_ins,
            reply,
        } => {
            state.enqueue(
                correlation,
                Job::Commit { payload, sidecar, expected_withdrawals, peg_ins, reply },
            );
        }
        ChainMsg::WhatLanded { correlation, block, peg_ins, reply } => {
            state.enqueue(correlation, Job::WhatLanded { block, peg_ins, reply });
        }
        ChainMsg::ForkchoiceUpdate { correlation, head, safe, finalized, reply } => {
            state.enqueue(correlation, Job::Forkchoice { head, safe, finalized, reply });
        }
        ChainMsg::SetFinalized { correlation, hash, reply } => {
            state.enqueue(correlation, Job::SetFinalized { hash, reply });
        }
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

fn handle_network(msg: NetworkMsg, state: &mut EngineActorState) {
    match msg {
        NetworkMsg::ValidateTransaction { correlation, raw, peer, reply } => {
            if let Err(retry_after) = state.limiter.check(&peer, Instant::now()) {
                ::metrics::counter!(metrics::RATE_LIMITED).increment(1);
                tracing::debug!(%correlation, %peer, "transaction rate limited");
                return reply_to(reply, TxVerdict::RateLimited { retry_after });
            }
            let core = state.core.clone();
            state.spawn("validate_transaction", correlation, async move {
                let verdict = queries::validate_transaction(core, raw).await;
                reply_to(reply, verdict);
            });
        }
    }
}

fn tick(state: &mut EngineActorState) -> Result<(), ActorProcessingErr> {
    if !state.core.peers.chain.is_alive() {
        // The Chain actor is critical: fail, so that the supervisor decides.
        return Err("the Chain actor is gone".into());
    }
    let engine_state = state.core.state();
    state.publish_gauges(engine_state);
    let reconnects = total_reconnects(state.core.port.as_ref());
    let came_back = reconnects > state.reconnects;
    state.reconnects = reconnects;
    if came_back {
        tracing::info!("an execution client came back: re-sending the forkchoice state");
    }
    let view = state.core.view();
    // A finality intent the EL has not confirmed is sent again, like a lagging EL's state.
    let lagging = !matches!(view.el, crate::status::ElCondition::Synced) || view.finality_pending;
    // A return is reconciled even behind queued work: it re-sends the state that work leaves.
    if came_back || (lagging && state.core.pending_forkchoice() == 0) {
        state.enqueue(CorrelationId::new(), Job::Reconcile);
    }
    Ok(())
}

/// The sum of every endpoint's return counter: it grows whenever any endpoint comes back.
fn total_reconnects(port: &dyn ExecutionPort) -> u64 {
    port.endpoints().iter().map(|e| e.reconnects).sum()
}
