//! Clock skew between the engine and its execution client, as Hive's `engine-auth` suite
//! tests it: a token whose `iat` is 59 s off the EL's clock, either way, is accepted; 62 s
//! off (61 s when the EL's clock is the one ahead) is refused with HTTP 401, and the
//! engine's error names the clocks (the gap read off the EL's `Date` header) rather than
//! leaving the operator to guess between a wrong secret and a wrong clock. Against the mock EL, whose JWT check models Geth's
//! node/jwt_handler.go; `container_chaos.rs` repeats the first test against EthereumJS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "e2e/harness.rs"]
mod harness;
#[path = "chaos/skew.rs"]
mod skew;

use engine_actor::status::EngineState;
use engine_client::{health::EndpointState, jwt::JwtAuth};
use engine_testkit::ElPorts;
use engine_testkit::{MockEl, MockElConfig};
use engine_types::{
    ForkSchedule, PegIn, Satoshis,
    config::ChainConfig,
    primitives::{Address, B256},
};
use harness::{ElAddress, Node};
use std::time::Duration;

/// A client clock 59 s off the mock EL's, either way, is accepted; 62 s off is refused
/// with a 401 naming the clocks (the mock dates its answers, as Geth does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_clock_59_s_off_is_accepted_62_s_off_is_refused_naming_the_clock() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let jwt = JwtAuth::new(el.jwt_secret(), None, None);
    skew::skewed_clients_accepted_within_62_s_refused_naming_the_clock(&el.engine_url(), &jwt, 59)
        .await;
}

/// Polls the engine until its one endpoint is in `state`; its status.
async fn wait_endpoint(node: &Node, state: EndpointState) -> engine_client::health::EndpointStatus {
    let deadline = tokio::time::Instant::now() + harness::DEADLINE;
    loop {
        let status = node.status().await;
        let endpoint = status.endpoints[0].clone();
        if endpoint.state == state {
            return endpoint;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {state:?}: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The mock EL's clock drifts 59 s ahead: the engine keeps producing. At 61 s ahead the
/// endpoint is AuthFailed with a message naming the EL's clock as 61 s ahead of ours, and
/// nothing is built; once the clock is right again, the endpoint comes back and the next
/// slot lands its block with its peg-in, once. 61 s is enough here, unlike for a client
/// clock ahead: the EL's clock ahead is read after we signed, so any second boundary
/// between signing and checking only widens the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_el_clock_61_s_ahead_is_auth_failed_naming_the_clock_and_recovers_once_fixed() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let address = ElAddress {
        engine_url: el.engine_url(),
        public_url: el.public_url(),
        jwt_hex: el.jwt_secret_hex(),
    };
    let dir = tempfile::tempdir().unwrap();
    let port = harness::pool_port(&[address], ForkSchedule::default());
    let node = Node::start(port, ChainConfig::default(), dir.path()).await;
    node.wait_state(&[EngineState::Ready]).await;
    let genesis = el.genesis().header.timestamp;
    let peg_in = |n: u8| PegIn {
        evm_address: Address::with_last_byte(n),
        amount: Satoshis(1_000 * u64::from(n)),
        bitcoin_txid: B256::with_last_byte(n),
    };

    el.script().set_clock_offset(59);
    let b1 = node.build(genesis + 2, vec![peg_in(1)]).await.unwrap();
    assert!(node.commit(&b1).await.unwrap().head, "59 s of skew is within the window");

    el.script().set_clock_offset(61);
    let endpoint = wait_endpoint(&node, EndpointState::AuthFailed).await;
    let message = endpoint.last_error.expect("the endpoint says why");
    assert!(message.contains("refused authentication (HTTP 401)"), "{message}");
    assert!(
        ["60", "61", "62"]
            .iter()
            .any(|s| message.contains(&format!("clock is {s} s ahead of ours"))),
        "{message}"
    );
    assert!(node.build(genesis + 4, vec![peg_in(2)]).await.is_err(), "nothing is built");
    assert_eq!(el.head().hash, b1.payload.block_hash());

    el.script().set_clock_offset(0);
    wait_endpoint(&node, EndpointState::Synced).await;
    node.wait_state(&[EngineState::Ready]).await;
    let b2 = node.build(genesis + 6, vec![peg_in(1), peg_in(2)]).await.unwrap();
    assert_eq!(b2.included, [peg_in(2)], "block 1's peg-in is not minted again");
    assert_eq!(b2.payload.parent_hash(), b1.payload.block_hash());
    assert!(node.commit(&b2).await.unwrap().head);
    assert_eq!(el.head().hash, b2.payload.block_hash());
}
