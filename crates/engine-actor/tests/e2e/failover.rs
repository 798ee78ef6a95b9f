//! Two mock ELs: the primary dies mid-run and production continues on the standby.

use crate::harness::{ElAddress, Node, pool_port};
use engine_actor::status::EngineState;
use engine_testkit::ElPorts;
use engine_testkit::{MockEl, MockElConfig};
use engine_types::{ForkSchedule, config::ChainConfig};

fn address_of(el: &MockEl) -> ElAddress {
    ElAddress {
        engine_url: el.engine_url(),
        public_url: el.public_url(),
        jwt_hex: el.jwt_secret_hex(),
    }
}

/// Every slot produces a block: before, during and after the primary's death; the standby
/// ends on the last block and the engine reports itself degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_killed_production_continues_on_standby() {
    let primary = MockEl::start(MockElConfig::default()).await.unwrap();
    let standby = MockEl::start(MockElConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = pool_port(&[address_of(&primary), address_of(&standby)], ForkSchedule::default());
    let node = Node::start(port, ChainConfig::default(), dir.path()).await;
    node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    let genesis_ts = primary.genesis().header.timestamp;
    let mut last = None;
    for i in 1..=20u64 {
        if i == 8 {
            primary.go_down().await;
        }
        let built = node
            .build(genesis_ts + 2 * i, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("slot {i}: {e}"));
        let committed = node.commit(&built).await.unwrap_or_else(|e| panic!("slot {i}: {e}"));
        assert!(committed.head, "slot {i}");
        assert_eq!(committed.number, i, "no missed block");
        last = Some(built.payload.block_hash());
    }
    assert_eq!(standby.head().hash, last.unwrap());
    let status = node.wait_state(&[EngineState::Degraded]).await;
    assert_eq!(status.heads.head.number, 20);
}
