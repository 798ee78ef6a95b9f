//! An engine actor on a `PoolPort` of real HTTP clients, with recording Bridge and Storage.

use engine_actor::{
    ActorError, ChainLine, ChainRequest, EngineActor, EngineActorConfig, EngineArgs, EngineMsg,
    NetworkRequest, QueryMsg,
    heads::ForkchoiceHeads,
    messages::{BuiltPayload, Committed, TxVerdict},
    peers::{ActorAddresses, BurnEventsDetected, PeerRef, StoreExecutionData, Watched},
    port::PoolPort,
    status::{EngineState, EngineStatus},
};
use engine_client::{
    client::ClientConfig,
    eth::{EthApi, EthClient},
    jwt::JwtSecret,
    pool::{ExecutionPool, PoolConfig},
    retry::RetryPolicy,
};
use engine_types::{
    CorrelationId, ForkSchedule, PegIn,
    config::{ChainConfig, RetryConfig, TimeoutConfig},
    primitives::{B256, Bytes},
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, rpc::CallResult};
use std::{path::Path, sync::Arc, time::Duration};
use tokio::sync::mpsc;

pub(crate) const DEADLINE: Duration = Duration::from_secs(20);
const SHORT: Duration = Duration::from_millis(500);

/// Where an execution layer under test listens.
pub(crate) struct ElAddress {
    pub(crate) engine_url: String,
    pub(crate) public_url: String,
    pub(crate) jwt_hex: String,
}

/// Per-request timeout and retry policy of the engine's clients.
pub(crate) struct Timing {
    pub(crate) request: Duration,
    pub(crate) retry: RetryConfig,
}

impl Timing {
    /// For execution layers in this process: answers take milliseconds.
    pub(crate) fn in_process() -> Self {
        Self {
            request: SHORT,
            retry: RetryConfig {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                max_elapsed: Duration::from_secs(2),
                jitter: 0.2,
            },
        }
    }

    /// For a client in a container on a loaded two-core machine: it answers far slower than
    /// the in-process devnet, and a timeout there would be a flake, not a finding.
    #[allow(dead_code)] // only the container tests and the `el_share` bench use it
    pub(crate) fn container() -> Self {
        Self {
            request: Duration::from_secs(10),
            retry: RetryConfig {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
                max_elapsed: Duration::from_secs(15),
                jitter: 0.2,
            },
        }
    }
}

/// A public JSON-RPC client of `url` with `timing`.
pub(crate) fn eth_client(url: &str, timing: &Timing) -> EthClient {
    EthClient::new(url, None, timing.request, RetryPolicy::new(timing.retry), 16 << 20).unwrap()
}

/// A pool port over `els`, best first, with in-process timing.
pub(crate) fn pool_port(els: &[ElAddress], schedule: ForkSchedule) -> PoolPort {
    pool_port_with(els, schedule, &Timing::in_process())
}

/// A pool port over `els`, best first, upchecked every 200 ms.
pub(crate) fn pool_port_with(
    els: &[ElAddress],
    schedule: ForkSchedule,
    timing: &Timing,
) -> PoolPort {
    pool_port_timeouts(els, schedule, uniform_timeouts(timing), timing)
}

/// `timing.request` for every method.
fn uniform_timeouts(timing: &Timing) -> TimeoutConfig {
    TimeoutConfig {
        forkchoice_updated: timing.request,
        get_payload: timing.request,
        new_payload: timing.request,
        exchange_capabilities: timing.request,
        get_client_version: timing.request,
        get_payload_bodies: timing.request,
        eth: timing.request,
    }
}

/// [`pool_port_with`], each public client passed through `wrap` (a bench times them).
#[allow(dead_code)] // the e2e tests include this module too; only the `el_share` bench calls it
pub(crate) fn pool_port_wrapped(
    els: &[ElAddress],
    schedule: ForkSchedule,
    timing: &Timing,
    wrap: impl Fn(EthClient) -> Arc<dyn EthApi>,
) -> PoolPort {
    pool_port_of(els, schedule, uniform_timeouts(timing), timing, wrap)
}

/// A pool port over `els`, best first, upchecked every 200 ms, with a timeout per Engine
/// API method (`timing.request` for the public `eth_*` clients).
pub(crate) fn pool_port_timeouts(
    els: &[ElAddress],
    schedule: ForkSchedule,
    timeouts: TimeoutConfig,
    timing: &Timing,
) -> PoolPort {
    pool_port_of(els, schedule, timeouts, timing, |eth| Arc::new(eth))
}

fn pool_port_of(
    els: &[ElAddress],
    schedule: ForkSchedule,
    timeouts: TimeoutConfig,
    timing: &Timing,
    wrap: impl Fn(EthClient) -> Arc<dyn EthApi>,
) -> PoolPort {
    let clients = els
        .iter()
        .map(|el| {
            let mut c =
                ClientConfig::new(el.engine_url.clone(), JwtSecret::from_hex(&el.jwt_hex).unwrap());
            c.timeouts = timeouts;
            c.retry = timing.retry;
            c
        })
        .collect();
    let mut config = PoolConfig::new(clients, schedule);
    config.upcheck_interval = Duration::from_millis(200);
    let pool = ExecutionPool::start(config).unwrap();
    let eth = els.iter().map(|el| wrap(eth_client(&el.public_url, timing))).collect();
    PoolPort::new(pool, eth).unwrap()
}

/// Forwards every message to a channel.
pub(crate) struct RecorderOf<T>(std::marker::PhantomData<T>);

impl<T: Send + Sync + std::fmt::Debug + 'static> Actor for RecorderOf<T> {
    type Msg = T;
    type State = mpsc::UnboundedSender<T>;
    type Arguments = mpsc::UnboundedSender<T>;

    async fn pre_start(
        &self,
        _: ActorRef<T>,
        tx: Self::State,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle(
        &self,
        _: ActorRef<T>,
        msg: T,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let _ = tx.send(msg);
        Ok(())
    }
}

pub(crate) async fn recorder<T: Send + Sync + std::fmt::Debug + 'static>()
-> (ActorRef<T>, mpsc::UnboundedReceiver<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (actor, _) =
        Actor::spawn(None, RecorderOf::<T>(std::marker::PhantomData), tx).await.unwrap();
    (actor, rx)
}

/// A running engine over real HTTP.
pub(crate) struct Node {
    pub(crate) engine: ActorRef<EngineMsg>,
    pub(crate) bridge_rx: mpsc::UnboundedReceiver<BurnEventsDetected>,
    _storage_rx: mpsc::UnboundedReceiver<StoreExecutionData>,
    _chain: ActorRef<()>,
}

#[path = "../support/failure_watch.rs"]
mod failure_watch;
pub(crate) use failure_watch::{FailureWatch, Failures};

impl Node {
    pub(crate) async fn start(port: PoolPort, chain: ChainConfig, dir: &Path) -> Self {
        Self::start_on(Arc::new(port), chain, dir, None).await
    }

    /// An engine on a shared `port` (as the node's supervisor restarts it: the pool outlives
    /// each incarnation), linked to a [`FailureWatch`] whose reports come back beside it.
    pub(crate) async fn start_watched(
        port: Arc<PoolPort>,
        chain: ChainConfig,
        dir: &Path,
    ) -> (Self, Failures) {
        let (watch, failures) = FailureWatch::start().await;
        (Self::start_on(port, chain, dir, Some(watch)).await, failures)
    }

    async fn start_on(
        port: Arc<PoolPort>,
        chain: ChainConfig,
        dir: &Path,
        supervisor: Option<ractor::ActorCell>,
    ) -> Self {
        let (chain_actor, _) = recorder::<()>().await;
        let (bridge, bridge_rx) = recorder::<BurnEventsDetected>().await;
        let (storage, storage_rx) = recorder::<StoreExecutionData>().await;
        let peers = ActorAddresses {
            chain: Watched::Cell(chain_actor.get_cell()),
            bridge: Some(PeerRef::to(bridge.get_derived())),
            storage: Some(PeerRef::to(storage.get_derived())),
            network: Some(Watched::Cell(chain_actor.get_cell())),
            chain_events: None,
        };
        let mut config = EngineActorConfig::new(chain, dir);
        config.tick_interval = Duration::from_millis(50);
        let args = EngineArgs { config, port, peers, line: ChainLine::default() };
        let (engine, _) = match supervisor {
            Some(cell) => Actor::spawn_linked(None, EngineActor, args, cell).await.unwrap(),
            None => Actor::spawn(None, EngineActor, args).await.unwrap(),
        };
        Self { engine, bridge_rx, _storage_rx: storage_rx, _chain: chain_actor }
    }

    /// Stops the engine and waits until it is gone (its state file stays).
    pub(crate) async fn stop(self) {
        self.engine.stop(None);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.engine.get_status() != ractor::ActorStatus::Stopped {
            assert!(tokio::time::Instant::now() < deadline, "the engine did not stop");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn ask<T: Send + 'static>(&self, msg: impl FnOnce(RpcReplyPort<T>) -> EngineMsg) -> T {
        match self.engine.call(msg, Some(DEADLINE)).await.unwrap() {
            CallResult::Success(v) => v,
            CallResult::Timeout => panic!("no answer within {DEADLINE:?}"),
            CallResult::SenderError => panic!("the engine dropped the request"),
        }
    }

    pub(crate) async fn status(&self) -> EngineStatus {
        self.ask(|reply| QueryMsg::GetStatus { correlation: CorrelationId::new(), reply }.into())
            .await
    }

    /// Polls until the state is one of `states`.
    pub(crate) async fn wait_state(&self, states: &[EngineState]) -> EngineStatus {
        self.wait_for(|s| states.contains(&s.state)).await
    }

    /// Polls the status until `pred` holds, failing after [`DEADLINE`].
    pub(crate) async fn wait_for(&self, pred: impl Fn(&EngineStatus) -> bool) -> EngineStatus {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let s = self.status().await;
            if pred(&s) {
                return s;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting: {s:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) async fn build(
        &self,
        timestamp: u64,
        peg_ins: Vec<PegIn>,
    ) -> Result<BuiltPayload, ActorError> {
        self.build_as(CorrelationId::new(), timestamp, peg_ins).await
    }

    /// [`build`](Self::build) under the given correlation id.
    pub(crate) async fn build_as(
        &self,
        correlation: CorrelationId,
        timestamp: u64,
        peg_ins: Vec<PegIn>,
    ) -> Result<BuiltPayload, ActorError> {
        self.ask(|reply| {
            ChainRequest::BuildPayload {
                correlation,
                parent: None,
                timestamp,
                peg_ins,
                fee_recipient: None,
                prev_randao: None,
                reply,
            }
            .into()
        })
        .await
    }

    /// Commits this node's own build by its payload id, as the Chain actor does.
    pub(crate) async fn commit(&self, built: &BuiltPayload) -> Result<Committed, ActorError> {
        self.commit_as(CorrelationId::new(), built).await
    }

    /// Commits a block another node built: the whole payload, validated in full.
    pub(crate) async fn import(&self, built: &BuiltPayload) -> Result<Committed, ActorError> {
        self.ask(|reply| {
            ChainRequest::CommitPayload {
                correlation: CorrelationId::new(),
                payload: Box::new(built.payload.clone()),
                sidecar: Box::new(built.sidecar.clone()),
                expected_withdrawals: built.withdrawals.clone(),
                peg_ins: built.included.clone(),
                reply,
            }
            .into()
        })
        .await
    }

    /// [`commit`](Self::commit) under the given correlation id.
    pub(crate) async fn commit_as(
        &self,
        correlation: CorrelationId,
        built: &BuiltPayload,
    ) -> Result<Committed, ActorError> {
        self.ask(|reply| {
            ChainRequest::CommitBuilt { correlation, id: built.payload_id, reply }.into()
        })
        .await
    }

    /// One slot as the Chain actor runs it: a build with no peg-ins and its commit, both
    /// under `correlation`.
    pub(crate) async fn slot(&self, correlation: CorrelationId, timestamp: u64) -> Committed {
        let built = self.build_as(correlation, timestamp, vec![]).await.unwrap();
        self.commit_as(correlation, &built).await.unwrap()
    }

    pub(crate) async fn what_landed(
        &self,
        block: B256,
        peg_ins: Vec<PegIn>,
    ) -> Result<engine_actor::messages::Landed, ActorError> {
        self.ask(|reply| {
            ChainRequest::WhatLanded { correlation: CorrelationId::new(), block, peg_ins, reply }
                .into()
        })
        .await
    }

    pub(crate) async fn txpool_status(
        &self,
    ) -> Result<engine_client::eth::TxPoolStatus, ActorError> {
        self.ask(|reply| {
            QueryMsg::GetTxPoolStatus { correlation: CorrelationId::new(), reply }.into()
        })
        .await
    }

    pub(crate) async fn set_finalized(&self, hash: B256) -> Result<ForkchoiceHeads, ActorError> {
        self.ask(|reply| {
            ChainRequest::SetFinalized { correlation: CorrelationId::new(), hash, reply }.into()
        })
        .await
    }

    pub(crate) async fn payload_by_tag(
        &self,
        tag: engine_actor::messages::HeadTag,
    ) -> Result<
        (engine_types::engine::ExecutionPayload, engine_types::engine::ExecutionPayloadSidecar),
        ActorError,
    > {
        self.ask(|reply| {
            QueryMsg::GetPayloadByTag { correlation: CorrelationId::new(), tag, reply }.into()
        })
        .await
    }

    pub(crate) async fn send_tx(&self, raw: Bytes) -> TxVerdict {
        self.ask(|reply| {
            NetworkRequest::ValidateTransaction {
                correlation: CorrelationId::new(),
                raw,
                peer: "peer-1".into(),
                reply,
            }
            .into()
        })
        .await
    }
}
