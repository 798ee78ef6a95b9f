//! The engine over real HTTP against execution layers as strict as the real clients: an EL
//! that never rewinds (Geth up to 1.17.2), one that rewinds a bounded depth (Geth 1.17.3+),
//! one that refuses below its finality (Reth 2.5), one that rewinds (EthereumJS), and one
//! whose `eth_syncing` fails (EthereumJS without `--isSingleNode`).

use crate::harness::{ElAddress, Node, pool_port};
use engine_actor::{persist::STATE_FILE_NAME, status::EngineState};
use engine_client::health::EndpointState;
use engine_testkit::ElPorts;
use engine_testkit::{
    AncestorPolicy, SyncingProbe,
    devnet::{DevnetConfig, DevnetEl, dev_genesis},
};
use engine_types::{
    ForkSchedule, PegIn, Satoshis,
    config::ChainConfig,
    primitives::{Address, B256},
};

fn address_of(el: &DevnetEl) -> ElAddress {
    ElAddress {
        engine_url: el.engine_url(),
        public_url: el.public_url(),
        jwt_hex: el.jwt_secret_hex(),
    }
}

async fn devnet(policy: AncestorPolicy, syncing: SyncingProbe) -> DevnetEl {
    let genesis = dev_genesis(ForkSchedule::default()).unwrap();
    let config = DevnetConfig { ancestor_policy: policy, syncing, ..DevnetConfig::new(genesis) };
    DevnetEl::start(config).await.unwrap()
}

fn peg_in(n: u8) -> PegIn {
    PegIn {
        evm_address: Address::with_last_byte(n),
        amount: Satoshis(1_000 * u64::from(n)),
        bitcoin_txid: B256::with_last_byte(n),
    }
}

const READY: [EngineState; 2] = [EngineState::Ready, EngineState::Degraded];

/// An EL that answers the Engine API but fails every `eth_syncing` is used: the endpoint is
/// never Offline, its breaker never opens, and blocks are built and committed on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_el_whose_eth_syncing_fails_still_produces() {
    let el = devnet(AncestorPolicy::default(), SyncingProbe::NoPeers).await;
    let dir = tempfile::tempdir().unwrap();
    let schedule = ForkSchedule::default();
    let node =
        Node::start(pool_port(&[address_of(&el)], schedule), ChainConfig::default(), dir.path())
            .await;
    node.wait_state(&READY).await;
    let genesis_ts = el.head().timestamp;
    for i in 1..=3u64 {
        let built = node.build(genesis_ts + i, vec![peg_in(i as u8)]).await.unwrap();
        assert!(node.commit(&built).await.unwrap().head);
    }
    assert_eq!(el.head().number, 3);
    let status = node.status().await;
    let endpoint = &status.endpoints[0];
    assert_eq!(endpoint.state, EndpointState::Synced, "learned from VALID verdicts: {endpoint:?}");
    assert_eq!(endpoint.breaker, engine_client::breaker::BreakerState::Closed);
}

/// After a crash between the EL's commits and the engine's state writes (the state file as
/// it was after the build of block 2: head 1, block 2 in flight; the EL at block 3), the
/// engine adopts the EL's two blocks under every client behaviour and never asks the EL to
/// go back. The in-flight block's peg-in is recorded as minted (block 3's peg-ins were
/// minted by a build this state never saw: only the Chain can name them), the withdrawal
/// index continues after block 3, and block 4 extends block 3 without minting block 2's
/// peg-in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_el_ahead_of_the_saved_state_is_adopted_under_every_client_behaviour() {
    for policy in [
        AncestorPolicy::Skip,
        AncestorPolicy::GETH,
        AncestorPolicy::TooDeepReorg,
        AncestorPolicy::Rewind,
    ] {
        let el = devnet(policy, SyncingProbe::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let schedule = ForkSchedule::default();
        let start = || {
            Node::start(pool_port(&[address_of(&el)], schedule), ChainConfig::default(), dir.path())
        };
        let node = start().await;
        node.wait_state(&READY).await;
        let ts = el.head().timestamp;
        let b1 = node.build(ts + 1, vec![peg_in(1)]).await.unwrap();
        node.commit(&b1).await.unwrap();
        let b2 = node.build(ts + 2, vec![peg_in(2)]).await.unwrap();
        let state_file = dir.path().join(STATE_FILE_NAME);
        let saved_at_build = std::fs::read(&state_file).unwrap();
        node.commit(&b2).await.unwrap();
        let b3 = node.build(ts + 3, vec![peg_in(3)]).await.unwrap();
        node.commit(&b3).await.unwrap();
        node.set_finalized(b2.payload.block_hash()).await.unwrap();
        node.stop().await;
        std::fs::write(&state_file, saved_at_build).unwrap();

        let node = start().await;
        let status = node.wait_state(&READY).await;
        assert_eq!(status.heads.head.hash, b3.payload.block_hash(), "{policy:?}");
        assert_eq!(el.head().number, 3, "{policy:?}: the EL never went back");
        assert_eq!(status.next_withdrawal_index, 3, "{policy:?}");
        let b4 = node.build(ts + 4, vec![peg_in(2), peg_in(4)]).await.unwrap();
        assert_eq!(b4.payload.parent_hash(), b3.payload.block_hash(), "{policy:?}");
        assert_eq!(b4.included, [peg_in(4)], "{policy:?}: block 2's peg-in is not minted again");
        assert_eq!(b4.already_minted.len(), 1, "{policy:?}");
        assert_eq!(b4.already_minted[0].block.hash, b2.payload.block_hash(), "{policy:?}");
        assert_eq!(b4.withdrawals[0].index, 3, "{policy:?}");
        assert!(node.commit(&b4).await.unwrap().head, "{policy:?}");
        node.stop().await;
    }
}

/// The devnet (Geth's rules) applies a commit whose forkchoiceUpdated replies the chaos
/// proxy drops: the
/// caller gets an error, asking what landed finds the block canonical with its peg-in
/// minted, and the next block extends it without minting that peg-in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_replies_are_lost_is_found_landed() {
    let el = devnet(AncestorPolicy::default(), SyncingProbe::default()).await;
    let proxy = engine_testkit::ChaosProxy::start(el.engine_addr()).await.unwrap();
    let via_proxy = ElAddress { engine_url: proxy.url(), ..address_of(&el) };
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        pool_port(&[via_proxy], ForkSchedule::default()),
        ChainConfig::default(),
        dir.path(),
    )
    .await;
    node.wait_state(&READY).await;
    let ts = el.head().timestamp;
    let b1 = node.build(ts + 1, vec![peg_in(1)]).await.unwrap();
    proxy.set_lose_replies_to(Some("engine_forkchoiceUpdatedV2"));
    assert!(node.commit(&b1).await.is_err(), "the caller never heard back");
    proxy.set_lose_replies_to(None);
    assert_eq!(el.head().hash(), b1.payload.block_hash(), "the EL applied it");
    let landed = node.what_landed(b1.payload.block_hash(), vec![peg_in(1)]).await.unwrap();
    assert!(landed.canonical, "{landed:?}");
    assert!(landed.unminted.is_empty());
    let b2 = node.build(ts + 2, vec![peg_in(1), peg_in(2)]).await.unwrap();
    assert_eq!(b2.payload.parent_hash(), b1.payload.block_hash());
    assert_eq!(b2.included, [peg_in(2)]);
    assert!(node.commit(&b2).await.unwrap().head);
}
