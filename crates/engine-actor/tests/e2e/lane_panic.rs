//! A call that panics in an endpoint's lane of the real pool: the lane goes on, the
//! endpoint's panic counter tells the engine, which fails with a typed reason; an engine
//! restarted on the same pool and state directory produces blocks again.

use crate::harness::{DEADLINE, ElAddress, Failures, Node, pool_port};
use engine_actor::{
    ActorError,
    port::{ExecutionPort, PoolPort},
    status::EngineState,
};
use engine_testkit::ElPorts;
use engine_testkit::{MockEl, MockElConfig};
use engine_types::{CorrelationId, ForkSchedule, Severity, config::ChainConfig};
use std::{path::Path, sync::Arc};

/// An engine on the shared `port`, linked to a failure watch, waited until it can build.
async fn start(port: &Arc<PoolPort>, dir: &Path) -> (Node, Failures) {
    let (node, failed) = Node::start_watched(port.clone(), ChainConfig::default(), dir).await;
    node.wait_state(&[EngineState::Degraded, EngineState::Ready]).await;
    (node, failed)
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
    let dir = tempfile::tempdir().unwrap();
    let genesis_ts = el.genesis().header.timestamp;

    let (node, mut failed) = start(&port, dir.path()).await;
    assert!(node.slot(CorrelationId::new(), genesis_ts + 2).await.head);
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
    let (node, mut failed) = start(&port, dir.path()).await;
    let committed = node.slot(CorrelationId::new(), genesis_ts + 4).await;
    assert!(committed.head && committed.number == 2, "{committed:?}");
    assert_eq!(el.head().hash, committed.hash);
    assert!(failed.try_recv().is_err(), "the new incarnation must not fail on an old panic");
}
