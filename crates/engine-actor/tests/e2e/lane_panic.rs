//! A call that panics in an endpoint's lane of the real pool: the lane goes on, the
//! endpoint's panic counter tells the engine, which fails with a typed reason; an engine
//! restarted on the same pool and state directory produces blocks again.

use crate::harness::{DEADLINE, ElAddress, pool_port, recorder};
use engine_actor::{
    ActorError, ChainMsg, EngineActor, EngineActorConfig, EngineArgs, EngineMsg, QueryMsg,
    messages::{BuiltPayload, Committed},
    peers::{ActorAddresses, Watched},
    port::{ExecutionPort, PoolPort},
    status::{EngineState, EngineStatus},
};
use engine_testkit::{MockEl, MockElConfig};
use engine_types::{CorrelationId, ForkSchedule, Severity, config::ChainConfig};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::{path::Path, sync::Arc, time::Duration};
use tokio::sync::mpsc;

/// Records why its linked child failed.
struct FailureWatch;

impl Actor for FailureWatch {
    type Msg = ();
    type State = mpsc::UnboundedSender<Option<ActorError>>;
    type Arguments = mpsc::UnboundedSender<Option<ActorError>>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        tx: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        event: SupervisionEvent,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, reason) = event {
            let _ = tx.send(reason.downcast_ref::<ActorError>().cloned());
        }
        Ok(())
    }
}

/// An engine on `port` linked to a [`FailureWatch`], waited until Ready.
async fn start(
    port: &Arc<PoolPort>,
    chain: &ActorRef<()>,
    dir: &Path,
) -> (ActorRef<EngineMsg>, mpsc::UnboundedReceiver<Option<ActorError>>) {
    let (tx, failed) = mpsc::unbounded_channel();
    let (watch, _) = Actor::spawn(None, FailureWatch, tx).await.unwrap();
    let mut config = EngineActorConfig::new(ChainConfig::default(), dir);
    config.tick_interval = Duration::from_millis(50);
    let peers = ActorAddresses {
        chain: Watched::Cell(chain.get_cell()),
        bridge: None,
        storage: None,
        network: None,
        chain_events: None,
    };
    let args = EngineArgs { config, port: port.clone() as Arc<dyn ExecutionPort>, peers };
    let (engine, _) = Actor::spawn_linked(None, EngineActor, args, watch.get_cell()).await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status: EngineStatus = ask(&engine, |reply| {
            QueryMsg::GetStatus { correlation: CorrelationId::new(), reply }.into()
        })
        .await;
        if status.state == EngineState::Degraded || status.state == EngineState::Ready {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not ready: {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (engine, failed)
}

async fn ask<T: Send + 'static>(
    engine: &ActorRef<EngineMsg>,
    msg: impl FnOnce(RpcReplyPort<T>) -> EngineMsg,
) -> T {
    match engine.call(msg, Some(DEADLINE)).await.unwrap() {
        ractor::rpc::CallResult::Success(v) => v,
        _ => panic!("the engine did not answer"),
    }
}

/// Builds and commits the next block.
async fn produce(engine: &ActorRef<EngineMsg>, timestamp: u64) -> Committed {
    let built: BuiltPayload = ask(engine, |reply| {
        ChainMsg::BuildPayload {
            correlation: CorrelationId::new(),
            parent: None,
            timestamp,
            peg_ins: vec![],
            fee_recipient: None,
            prev_randao: None,
            reply,
        }
        .into()
    })
    .await
    .unwrap();
    ask(engine, |reply| {
        ChainMsg::CommitPayload {
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
    .unwrap()
}

/// The lane's call panics: the engine fails with `PoolTaskPanicked` naming the endpoint;
/// the lane still runs calls, and the next incarnation on the same pool produces blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_panic_fails_the_engine_and_a_restart_produces_again() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let address = ElAddress {
        engine_url: el.engine_url(),
        public_url: el.public_url(),
        jwt_hex: el.jwt_secret_hex(),
    };
    let port = Arc::new(pool_port(&[address], ForkSchedule::default()));
    let (chain, _chain_rx) = recorder::<()>().await;
    let dir = tempfile::tempdir().unwrap();
    let genesis_ts = el.genesis().header.timestamp;

    let (engine, mut failed) = start(&port, &chain, dir.path()).await;
    assert!(produce(&engine, genesis_ts + 2).await.head);
    let endpoint = port.endpoints()[0].name.clone();

    assert!(port.pool().inject_lane_panic(0), "the lane must take the call");
    let reason = tokio::time::timeout(DEADLINE, failed.recv())
        .await
        .expect("the engine must fail")
        .unwrap()
        .expect("with an ActorError");
    assert!(
        matches!(&reason, ActorError::PoolTaskPanicked { endpoint: e, panics: 1, .. }
            if *e == endpoint),
        "{reason:?}"
    );
    assert!(reason.to_string().contains("injected panic"), "{reason}");
    assert_eq!(reason.severity(), Severity::Reset);
    let status = &port.endpoints()[0];
    assert_eq!(status.panics, 1);

    // The supervisor's restart: a new incarnation on the same pool and state.
    let (engine, mut failed) = start(&port, &chain, dir.path()).await;
    let committed = produce(&engine, genesis_ts + 4).await;
    assert!(committed.head && committed.number == 2, "{committed:?}");
    assert_eq!(el.head().hash, committed.hash);
    assert!(failed.try_recv().is_err(), "the new incarnation must not fail on an old panic");
}
