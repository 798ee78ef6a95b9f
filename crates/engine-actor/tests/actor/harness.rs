//! Spawns an engine actor on a [`FakeEl`] with recording peers, and talks to it.

use crate::fake_el::FakeEl;
use engine_actor::{
    ActorError, ChainLine, ChainRequest, EngineActor, EngineActorConfig, EngineArgs, EngineMsg,
    QueryMsg,
    heads::ForkchoiceHeads,
    messages::{BuiltPayload, Committed},
    peers::{
        ActorAddresses, BurnEventsDetected, HeadChanged, PeerRef, StoreExecutionData, Watched,
    },
    status::{EngineState, EngineStatus},
};
use engine_types::{
    CorrelationId, PegIn, Satoshis,
    config::ChainConfig,
    primitives::{Address, B256},
};
use ractor::{Actor, ActorProcessingErr, ActorRef, rpc::CallResult};
use std::{future::Future, path::Path, sync::Arc, time::Duration};
use tokio::sync::mpsc;

/// How long a test waits for any answer or condition.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

impl<T: Send + Sync + std::fmt::Debug + 'static> Actor for RecorderOf<T> {
    type Msg = T;
    type State = mpsc::UnboundedSender<T>;
    type Arguments = mpsc::UnboundedSender<T>;

    async fn pre_start(
        &self,
        _myself: ActorRef<T>,
        tx: mpsc::UnboundedSender<T>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle(
        &self,
        _myself: ActorRef<T>,
        msg: T,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let _ = tx.send(msg);
        Ok(())
    }
}

/// A [`Recorder`] for messages of type `T`.
#[derive(Debug)]
pub(crate) struct RecorderOf<T>(std::marker::PhantomData<T>);

impl<T> Default for RecorderOf<T> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

/// Spawns a recorder of `T`.
pub(crate) async fn recorder<T: Send + Sync + std::fmt::Debug + 'static>()
-> (ActorRef<T>, mpsc::UnboundedReceiver<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (actor, _) = Actor::spawn(None, RecorderOf::<T>::default(), tx).await.unwrap();
    (actor, rx)
}

/// The peers of a test engine.
pub(crate) struct Peers {
    pub(crate) chain: ActorRef<()>,
    pub(crate) chain_events: ActorRef<HeadChanged>,
    pub(crate) chain_events_rx: mpsc::UnboundedReceiver<HeadChanged>,
    pub(crate) bridge: ActorRef<BurnEventsDetected>,
    pub(crate) bridge_rx: mpsc::UnboundedReceiver<BurnEventsDetected>,
    pub(crate) storage: ActorRef<StoreExecutionData>,
    pub(crate) storage_rx: mpsc::UnboundedReceiver<StoreExecutionData>,
}

impl Peers {
    pub(crate) async fn spawn() -> Self {
        let (chain, _) = recorder::<()>().await;
        let (chain_events, chain_events_rx) = recorder::<HeadChanged>().await;
        let (bridge, bridge_rx) = recorder::<BurnEventsDetected>().await;
        let (storage, storage_rx) = recorder::<StoreExecutionData>().await;
        Self { chain, chain_events, chain_events_rx, bridge, bridge_rx, storage, storage_rx }
    }

    pub(crate) fn addresses(&self) -> ActorAddresses {
        ActorAddresses {
            chain: Watched::Cell(self.chain.get_cell()),
            bridge: Some(PeerRef::to(self.bridge.get_derived())),
            storage: Some(PeerRef::to(self.storage.get_derived())),
            network: Some(Watched::Cell(self.chain.get_cell())),
            chain_events: Some(PeerRef::to(self.chain_events.get_derived())),
        }
    }
}

pub(crate) fn config(dir: &Path) -> EngineActorConfig {
    let mut config = EngineActorConfig::new(ChainConfig::default(), dir);
    config.tick_interval = Duration::from_millis(20);
    config
}

/// Spawns an engine (unsupervised) on `el` with `config` and `addresses`.
pub(crate) async fn spawn_engine(
    el: &Arc<FakeEl>,
    config: EngineActorConfig,
    addresses: ActorAddresses,
) -> Result<ActorRef<EngineMsg>, ractor::SpawnErr> {
    let args =
        EngineArgs { config, port: el.clone(), peers: addresses, line: ChainLine::default() };
    Actor::spawn(None, EngineActor, args).await.map(|(actor, _)| actor)
}

/// A running engine with its fake EL, peers and state directory.
pub(crate) struct Harness {
    pub(crate) el: Arc<FakeEl>,
    pub(crate) engine: ActorRef<EngineMsg>,
    pub(crate) peers: Peers,
    pub(crate) dir: tempfile::TempDir,
}

impl Harness {
    /// An engine on a fresh fake EL, waited until Ready.
    pub(crate) async fn ready() -> Self {
        let h = Self::start(Arc::new(FakeEl::default())).await;
        h.wait_state(EngineState::Ready).await;
        h
    }

    /// An engine on `el`, not waited for.
    pub(crate) async fn start(el: Arc<FakeEl>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let peers = Peers::spawn().await;
        let engine = spawn_engine(&el, config(dir.path()), peers.addresses()).await.unwrap();
        Self { el, engine, peers, dir }
    }

    /// Polls the status until `state`, failing after [`DEADLINE`].
    pub(crate) async fn wait_state(&self, state: EngineState) -> EngineStatus {
        wait_state(&self.engine, state).await
    }

    pub(crate) async fn status(&self) -> EngineStatus {
        status(&self.engine).await
    }

    /// Polls until the peg-outs of `block` (and so of every block before it) were taken by
    /// the Bridge: the scan lane answers after the commit's reply.
    pub(crate) async fn wait_scanned(&self, block: B256) -> EngineStatus {
        wait_for(
            &self.engine,
            |s| s.peg_outs_scanned.is_some_and(|b| b.hash == block),
            &format!("the peg-out scan of {block}"),
        )
        .await
    }

    pub(crate) async fn build(
        &self,
        timestamp: u64,
        peg_ins: Vec<PegIn>,
    ) -> Result<BuiltPayload, ActorError> {
        build(&self.engine, None, timestamp, peg_ins).await
    }

    pub(crate) async fn commit(&self, built: &BuiltPayload) -> Result<Committed, ActorError> {
        commit(&self.engine, built).await
    }

    /// Builds and commits one block on the head.
    pub(crate) async fn produce(
        &self,
        timestamp: u64,
        peg_ins: Vec<PegIn>,
    ) -> (BuiltPayload, Committed) {
        let built = self.build(timestamp, peg_ins).await.unwrap();
        let committed = self.commit(&built).await.unwrap();
        (built, committed)
    }
}

pub(crate) async fn ask<T: Send + 'static>(
    engine: &ActorRef<EngineMsg>,
    msg: impl FnOnce(ractor::RpcReplyPort<T>) -> EngineMsg,
) -> T {
    match engine.call(msg, Some(DEADLINE)).await.unwrap() {
        CallResult::Success(v) => v,
        CallResult::Timeout => panic!("the engine did not answer within {DEADLINE:?}"),
        CallResult::SenderError => panic!("the engine dropped the request"),
    }
}

/// Asks, and returns the raw call result (for tests about callers whose engine dies).
pub(crate) async fn ask_raw<T: Send + 'static>(
    engine: &ActorRef<EngineMsg>,
    msg: impl FnOnce(ractor::RpcReplyPort<T>) -> EngineMsg,
) -> CallResult<T> {
    engine.call(msg, Some(DEADLINE)).await.unwrap()
}

pub(crate) async fn status(engine: &ActorRef<EngineMsg>) -> EngineStatus {
    ask(engine, |reply| QueryMsg::GetStatus { correlation: CorrelationId::new(), reply }.into())
        .await
}

pub(crate) async fn wait_state(engine: &ActorRef<EngineMsg>, state: EngineState) -> EngineStatus {
    wait_for(engine, |s| s.state == state, &format!("state {state}")).await
}

/// Polls the status until `pred` holds, failing after [`DEADLINE`].
pub(crate) async fn wait_for(
    engine: &ActorRef<EngineMsg>,
    pred: impl Fn(&EngineStatus) -> bool,
    what: &str,
) -> EngineStatus {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let s = status(engine).await;
        if pred(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls `cond` until true, failing after [`DEADLINE`].
pub(crate) async fn eventually<F: Future<Output = bool>>(what: &str, cond: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(crate) async fn build(
    engine: &ActorRef<EngineMsg>,
    parent: Option<B256>,
    timestamp: u64,
    peg_ins: Vec<PegIn>,
) -> Result<BuiltPayload, ActorError> {
    ask(engine, |reply| {
        ChainRequest::BuildPayload {
            correlation: CorrelationId::new(),
            parent,
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

/// Commits our own build by its payload id, as the Chain actor does.
pub(crate) async fn commit(
    engine: &ActorRef<EngineMsg>,
    built: &BuiltPayload,
) -> Result<Committed, ActorError> {
    ask(engine, |reply| {
        ChainRequest::CommitBuilt { correlation: CorrelationId::new(), id: built.payload_id, reply }
            .into()
    })
    .await
}

/// Commits `built` as an import: the whole payload sent and validated in full.
pub(crate) async fn import(
    engine: &ActorRef<EngineMsg>,
    built: &BuiltPayload,
) -> Result<Committed, ActorError> {
    ask(engine, |reply| {
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

pub(crate) async fn set_finalized(
    engine: &ActorRef<EngineMsg>,
    hash: B256,
) -> Result<ForkchoiceHeads, ActorError> {
    ask(engine, |reply| {
        ChainRequest::SetFinalized { correlation: CorrelationId::new(), hash, reply }.into()
    })
    .await
}

pub(crate) async fn forkchoice(
    engine: &ActorRef<EngineMsg>,
    head: B256,
    safe: B256,
    finalized: B256,
) -> Result<ForkchoiceHeads, ActorError> {
    ask(engine, |reply| {
        ChainRequest::ForkchoiceUpdate {
            correlation: CorrelationId::new(),
            head,
            safe,
            finalized,
            reply,
        }
        .into()
    })
    .await
}

/// A peg-in of `sats` to the address ending in `address`; its bitcoin txid is derived from
/// both, so two peg-ins to one address are two deposits.
pub(crate) fn peg_in(address: u8, sats: u64) -> PegIn {
    let mut txid = [0u8; 32];
    txid[0] = address;
    txid[24..].copy_from_slice(&sats.to_be_bytes());
    PegIn {
        evm_address: Address::with_last_byte(address),
        amount: Satoshis(sats),
        bitcoin_txid: B256::from(txid),
    }
}

#[path = "../support/failure_watch.rs"]
mod failure_watch;
pub(crate) use failure_watch::{FailureWatch, Failures};

/// Spawns an engine on `port` linked to a [`FailureWatch`]; the receiver gets the reason
/// of its failure.
pub(crate) async fn spawn_watched(
    port: Arc<dyn engine_actor::port::ExecutionPort>,
    config: EngineActorConfig,
    addresses: ActorAddresses,
) -> (ActorRef<EngineMsg>, Failures) {
    spawn_on_line(port, config, addresses, ChainLine::default()).await
}

/// [`spawn_watched`], connecting `line`.
pub(crate) async fn spawn_on_line(
    port: Arc<dyn engine_actor::port::ExecutionPort>,
    config: EngineActorConfig,
    addresses: ActorAddresses,
    line: ChainLine,
) -> (ActorRef<EngineMsg>, Failures) {
    let (watch, rx) = FailureWatch::start().await;
    let args = EngineArgs { config, port, peers: addresses, line };
    let (engine, _) = Actor::spawn_linked(None, EngineActor, args, watch).await.unwrap();
    (engine, rx)
}

/// The reason the watched engine failed with, waited for up to [`DEADLINE`].
pub(crate) async fn failure(rx: &mut Failures) -> ActorError {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("the engine did not fail in time")
        .expect("the watch stopped")
        .expect("the engine failed with a reason that is not an ActorError")
}
