//! The engine actor against a real EthereumJS in a container (issue [I1]): blocks with
//! peg-ins built and committed through the actor, a peg-out through the genesis bridge
//! contract reported once to the Bridge, and finality the EL itself reports.
//!
//! Runs only with the `container-tests` feature, from the `containers` CI stage:
//! `cargo nextest run -p engine-actor --features container-tests -E 'test(/container_/)'`.
//! Outside CI a missing daemon or image skips each test with one line; with `CI` set it fails.
#![cfg(feature = "container-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "e2e/harness.rs"]
mod harness;

use engine_actor::{
    messages::{PegOutReport, TxVerdict},
    port::PoolPort,
    status::EngineState,
};
use engine_client::{
    client::ClientConfig,
    eth::{EthApi, EthClient},
    health::EndpointState,
    pool::{ExecutionPool, PoolConfig},
    retry::RetryPolicy,
};
use engine_testkit::{
    JwtSecret,
    containers::{ElContainer, EthereumJs},
    devnet::dev_genesis,
    fixtures::keys::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{
    Fork, ForkSchedule, PayloadStatus, PegIn, Satoshis,
    config::{ChainConfig, RetryConfig, TimeoutConfig},
    constants::{CHAIN_ID_DEV, WEI_PER_SAT},
    eips::{BlockId, BlockNumberOrTag},
    engine::ExecutionPayload,
    primitives::{Address, B256, Bytes, U256},
};
use harness::Node;
use std::{sync::Arc, time::Duration};

/// Per-request timeout: a container on a loaded two-core machine answers far slower than the
/// in-process devnet, and a timeout here would be a flake, not a finding.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A running EthereumJS, the actor's view of it, and a public RPC client to check it with.
struct Setup {
    node: Node,
    eth: EthClient,
    genesis_timestamp: u64,
    el: ElContainer<EthereumJs>,
    _dir: tempfile::TempDir,
}

fn retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_elapsed: Duration::from_secs(15),
        jitter: 0.2,
    }
}

fn eth_client(url: &str) -> EthClient {
    EthClient::new(url, None, REQUEST_TIMEOUT, RetryPolicy::new(retry()), 16 << 20).unwrap()
}

/// A pool port over one container, with timeouts fit for a container.
fn pool_port(el: &ElContainer<EthereumJs>, jwt: &JwtSecret, schedule: ForkSchedule) -> PoolPort {
    let mut client = ClientConfig::new(el.engine_url(), jwt.clone());
    client.timeouts = TimeoutConfig {
        forkchoice_updated: REQUEST_TIMEOUT,
        get_payload: REQUEST_TIMEOUT,
        new_payload: REQUEST_TIMEOUT,
        exchange_capabilities: REQUEST_TIMEOUT,
        get_client_version: REQUEST_TIMEOUT,
        get_payload_bodies: REQUEST_TIMEOUT,
        eth: REQUEST_TIMEOUT,
    };
    client.retry = retry();
    let mut config = PoolConfig::new(vec![client], schedule);
    config.upcheck_interval = Duration::from_millis(200);
    let pool = ExecutionPool::start(config).unwrap();
    let eth = vec![Arc::new(eth_client(&el.rpc_url())) as Arc<dyn EthApi>];
    PoolPort::new(pool, eth).unwrap()
}

/// EthereumJS on the development genesis (funded dev keys, bridge contract) under
/// `schedule`, driven by a ready engine actor; `None` when containers are skipped.
async fn start(schedule: ForkSchedule) -> Option<Setup> {
    let jwt = JwtSecret::random();
    let setup = start_with(schedule, &jwt, &jwt).await?;
    setup.node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    Some(setup)
}

/// EthereumJS authenticating its engine port with `el_jwt`, and an engine actor (not yet
/// waited for) signing with `engine_jwt`.
async fn start_with(
    schedule: ForkSchedule,
    el_jwt: &JwtSecret,
    engine_jwt: &JwtSecret,
) -> Option<Setup> {
    let genesis = dev_genesis(schedule).unwrap();
    let el = ElContainer::<EthereumJs>::start_or_skip(&genesis, el_jwt).await.unwrap()?;
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainConfig { fork_schedule: schedule, ..ChainConfig::default() };
    let node = Node::start(pool_port(&el, engine_jwt, schedule), chain, dir.path()).await;
    let eth = eth_client(&el.rpc_url());
    Some(Setup { node, eth, genesis_timestamp: genesis.timestamp, el, _dir: dir })
}

impl Setup {
    /// The EL's block under `tag`, as (number, hash).
    async fn el_block(&self, tag: BlockNumberOrTag) -> (u64, B256) {
        let block = self.eth.block_by_number(tag, false).await.unwrap();
        let block = block.unwrap_or_else(|| panic!("the EL has no {tag} block"));
        (block.header.number, block.header.hash)
    }

    async fn balance(&self, address: Address) -> U256 {
        self.eth.balance(address, BlockId::latest()).await.unwrap()
    }
}

/// Build block `number` at `timestamp` with `peg_ins` and no transactions, commit it, and
/// check the commit result: locally verified, VALID at the EL, the new head, its receipts
/// scanned and free of peg-outs.
async fn build_and_commit(setup: &Setup, number: u64, timestamp: u64, peg_ins: Vec<PegIn>) -> B256 {
    let built = setup.node.build(timestamp, peg_ins).await.unwrap();
    assert!(built.pending.is_empty(), "block {number}: peg-ins left over: {:?}", built.pending);
    assert!(built.payload.as_v1().transactions.is_empty(), "block {number} has transactions");
    let hash = built.payload.block_hash();
    let committed = setup.node.commit(&built).await.unwrap();
    assert_eq!((committed.hash, committed.number), (hash, number));
    assert_eq!(committed.status, PayloadStatus::Valid { latest_valid_hash: hash });
    assert!(committed.head, "block {number} must become the head");
    assert!(
        matches!(
            committed.peg_outs,
            PegOutReport::Scanned { payable: 0, not_payable: 0, malformed: 0, .. }
        ),
        "block {number} carries no peg-out: {:?}",
        committed.peg_outs
    );
    hash
}

/// Fifty Shanghai blocks through the actor, each with a peg-in: every commit is locally
/// verified and VALID, every peg-in is credited to the wei at the EL, and each finality
/// step is what the EL then reports as finalized and safe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_fifty_blocks_with_peg_ins_and_finality() {
    let Some(setup) = start(ForkSchedule::shanghai_from_genesis()).await else { return };
    let users =
        [Address::repeat_byte(0x11), Address::repeat_byte(0x22), Address::repeat_byte(0x33)];
    let mut minted = [0u64; 3];
    let mut canonical = vec![setup.el_block(BlockNumberOrTag::Number(0)).await.1];
    for i in 1..=50u64 {
        let user = (i % 3) as usize;
        let amount = 1_000 * i + 7;
        let peg_in = PegIn {
            evm_address: users[user],
            amount: Satoshis(amount),
            bitcoin_txid: B256::with_last_byte(i as u8),
        };
        let hash = build_and_commit(&setup, i, setup.genesis_timestamp + 2 * i, vec![peg_in]).await;
        minted[user] += amount;
        canonical.push(hash);
        if i % 10 == 0 {
            let target = canonical[(i - 5) as usize];
            let heads = setup.node.set_finalized(target).await.unwrap();
            assert_eq!((heads.finalized.hash, heads.finalized.number), (target, i - 5));
            let reported = (i - 5, target);
            assert_eq!(setup.el_block(BlockNumberOrTag::Finalized).await, reported);
            assert_eq!(setup.el_block(BlockNumberOrTag::Safe).await, reported);
        }
    }
    assert_eq!(setup.el_block(BlockNumberOrTag::Latest).await, (50, canonical[50]));
    for (user, sats) in users.iter().zip(minted) {
        assert_eq!(setup.balance(*user).await, U256::from(sats) * U256::from(WEI_PER_SAT));
    }
    let status = setup.node.status().await;
    assert_eq!(status.heads.head.hash, canonical[50]);
    assert_eq!(status.heads.finalized.number, 45);
}

const PEGOUT_SATS: u64 = 2_000_000;
const BTC_ADDRESS: &[u8] = b"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// A peg-out: development key 0 calls the bridge with `PEGOUT_SATS` worth of wei.
fn peg_out_tx(nonce: u64) -> Bytes {
    let peg_out = Transfer::peg_out(CHAIN_ID_DEV, nonce, Satoshis(PEGOUT_SATS), BTC_ADDRESS);
    sign_transfer(&dev_signer(0).unwrap(), &peg_out).unwrap()
}

/// On Cancun from genesis (V3 methods), a signed peg-out gossiped to the actor lands in the
/// next block EthereumJS builds, and the Bridge hears of exactly one payable burn with the
/// right sats and sender; later blocks report nothing more, and finality reaches the EL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_cancun_peg_out_reported_once() {
    let Some(mut setup) = start(ForkSchedule::all_from_genesis(Fork::Cancun)).await else {
        return;
    };
    let first = build_and_commit(&setup, 1, setup.genesis_timestamp + 2, Vec::new()).await;

    let verdict = setup.node.send_tx(peg_out_tx(0)).await;
    assert!(matches!(verdict, TxVerdict::Accepted { .. }), "{verdict:?}");
    let built = setup.node.build(setup.genesis_timestamp + 4, Vec::new()).await.unwrap();
    assert!(matches!(built.payload, ExecutionPayload::V3(_)), "Cancun builds V3 payloads");
    assert_eq!(built.payload.as_v1().transactions.len(), 1, "the peg-out is in block 2");
    let committed = setup.node.commit(&built).await.unwrap();
    assert!(committed.head);
    assert!(
        matches!(
            committed.peg_outs,
            PegOutReport::Scanned { payable: 1, not_payable: 0, malformed: 0, delivered: true }
        ),
        "{:?}",
        committed.peg_outs
    );
    let event = setup.node.bridge_rx.recv().await.unwrap();
    assert_eq!(event.block_number, 2);
    assert_eq!(event.payable.len(), 1);
    assert_eq!(event.payable[0].amount, Satoshis(PEGOUT_SATS));
    assert_eq!(event.payable[0].evm_address, dev_signer(0).unwrap().address());
    assert!(event.not_payable.is_empty());

    for i in 3..=5u64 {
        build_and_commit(&setup, i, setup.genesis_timestamp + 2 * i, Vec::new()).await;
    }
    assert!(setup.node.bridge_rx.try_recv().is_err(), "exactly one peg-out event");
    setup.node.set_finalized(first).await.unwrap();
    assert_eq!(setup.el_block(BlockNumberOrTag::Finalized).await, (1, first));
}

/// Blocks built by one EthereumJS through its actor are imported by a second EthereumJS
/// through the other actor's commit path (a payload it did not build, checked locally
/// against the expected peg-ins), on Cancun: both ELs end on the same head with the same
/// minted balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_imports_blocks_built_by_another() {
    let schedule = ForkSchedule::all_from_genesis(Fork::Cancun);
    let Some(builder) = start(schedule).await else { return };
    let Some(importer) = start(schedule).await else { return };
    let user = Address::repeat_byte(0x44);
    for i in 1..=10u64 {
        let peg_in = PegIn {
            evm_address: user,
            amount: Satoshis(i),
            bitcoin_txid: B256::with_last_byte(i as u8),
        };
        let built =
            builder.node.build(builder.genesis_timestamp + 2 * i, vec![peg_in]).await.unwrap();
        let hash = built.payload.block_hash();
        assert!(builder.node.commit(&built).await.unwrap().head);
        let imported = importer.node.commit(&built).await.unwrap();
        assert_eq!((imported.hash, imported.number), (hash, i));
        assert_eq!(imported.status, PayloadStatus::Valid { latest_valid_hash: hash });
        assert!(imported.head, "the importer adopts block {i}");
    }
    let head = builder.el_block(BlockNumberOrTag::Latest).await;
    assert_eq!(head.0, 10);
    assert_eq!(importer.el_block(BlockNumberOrTag::Latest).await, head);
    let minted = U256::from((1..=10u64).sum::<u64>()) * U256::from(WEI_PER_SAT);
    assert_eq!(importer.balance(user).await, minted);
    assert_eq!(builder.balance(user).await, minted);
}

/// An engine holding the wrong JWT secret marks the endpoint AuthFailed with a message
/// naming the cause, and builds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_wrong_jwt_is_auth_failed() {
    let schedule = ForkSchedule::shanghai_from_genesis();
    let Some(setup) = start_with(schedule, &JwtSecret::random(), &JwtSecret::random()).await else {
        return;
    };
    let deadline = tokio::time::Instant::now() + harness::DEADLINE;
    let endpoint = loop {
        let status = setup.node.status().await;
        let endpoint = status.endpoints[0].clone();
        if endpoint.state == EndpointState::AuthFailed {
            break endpoint;
        }
        assert!(tokio::time::Instant::now() < deadline, "never AuthFailed: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let message = endpoint.last_error.expect("the endpoint says why");
    assert!(message.contains("refused authentication (HTTP 401)"), "{message}");
    assert!(message.contains("JWT secrets differ"), "{message}");
    let refused = setup.node.build(setup.genesis_timestamp + 2, Vec::new()).await;
    assert!(refused.is_err(), "built without authentication: {refused:?}");
}

/// `docker <verb> <id>`, failing the test if docker does.
async fn docker(verb: &'static str, id: &str) {
    let id = id.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("docker").args([verb, &id]).output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "docker {verb}: {out:?}");
}

/// The EL's container is killed mid-run (SIGKILL: a crash, and quicker than EthereumJS's
/// eight-second clean shutdown) and started again on the same chain database and ports: the
/// engine reports the endpoint offline and refuses to build while it is gone, comes back to
/// Ready on its own, finds the EL on its head and finalized block, and builds on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_restart_mid_run_recovers() {
    let Some(setup) = start(ForkSchedule::shanghai_from_genesis()).await else { return };
    let mut hashes = vec![setup.el_block(BlockNumberOrTag::Number(0)).await.1];
    for i in 1..=5u64 {
        hashes.push(build_and_commit(&setup, i, setup.genesis_timestamp + 2 * i, Vec::new()).await);
    }
    setup.node.set_finalized(hashes[3]).await.unwrap();

    docker("kill", setup.el.id()).await;
    let deadline = tokio::time::Instant::now() + harness::DEADLINE;
    loop {
        let status = setup.node.status().await;
        if status.endpoints[0].state == EndpointState::Offline {
            assert!(!status.state.can_build(), "builds allowed with the EL gone: {status:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never saw the EL go: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(setup.node.build(setup.genesis_timestamp + 12, Vec::new()).await.is_err());

    docker("start", setup.el.id()).await;
    setup.node.wait_state(&[EngineState::Ready]).await;
    assert_eq!(setup.el_block(BlockNumberOrTag::Latest).await, (5, hashes[5]));
    assert_eq!(setup.el_block(BlockNumberOrTag::Finalized).await, (3, hashes[3]));
    let sixth = build_and_commit(&setup, 6, setup.genesis_timestamp + 12, Vec::new()).await;
    assert_eq!(setup.el_block(BlockNumberOrTag::Latest).await, (6, sixth));
    assert_eq!(setup.node.status().await.heads.finalized.hash, hashes[3]);
}
