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
    status::EngineState,
};
use engine_client::{
    eth::{EthApi, EthClient},
    health::EndpointState,
};
use engine_testkit::{
    ChaosProxy, JwtSecret,
    containers::{ElContainer, EthereumJs},
    devnet::dev_genesis,
    fixtures::keys::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{
    Fork, ForkSchedule, PayloadStatus, PegIn, Satoshis,
    config::{ChainConfig, RetryConfig},
    constants::{CHAIN_ID_DEV, WEI_PER_SAT},
    eips::{BlockId, BlockNumberOrTag},
    engine::ExecutionPayload,
    primitives::{Address, B256, Bytes, U256},
};
use harness::{ElAddress, Node, Timing};
use std::time::Duration;

/// One EthereumJS container and the JWT secret its engine port checks (each container has
/// its own, as separate operators' clients would).
struct El {
    container: ElContainer<EthereumJs>,
    jwt: JwtSecret,
}

impl El {
    /// How an engine reaches it: directly, signing with its secret.
    fn address(&self) -> ElAddress {
        ElAddress {
            engine_url: self.container.engine_url(),
            public_url: self.container.rpc_url(),
            jwt_hex: self.jwt.to_hex(),
        }
    }
}

/// `count` EthereumJS containers on the development genesis (funded dev keys, bridge
/// contract) under `schedule`, and the genesis timestamp; `None` when containers are skipped.
async fn containers(schedule: ForkSchedule, count: usize) -> Option<(u64, Vec<El>)> {
    let genesis = dev_genesis(schedule).unwrap();
    let mut els = Vec::with_capacity(count);
    for _ in 0..count {
        let jwt = JwtSecret::random();
        let container = ElContainer::<EthereumJs>::start_or_skip(&genesis, &jwt).await.unwrap()?;
        els.push(El { container, jwt });
    }
    Some((genesis.timestamp, els))
}

/// Running EthereumJS containers (best first), an engine actor driving them, and a public
/// RPC client of each.
struct Setup {
    node: Node,
    els: Vec<El>,
    eth: Vec<EthClient>,
    genesis_timestamp: u64,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// An engine actor (not yet waited for) reaching `els` through `addresses`, best first.
    async fn drive(
        schedule: ForkSchedule,
        genesis_timestamp: u64,
        els: Vec<El>,
        addresses: &[ElAddress],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainConfig { fork_schedule: schedule, ..ChainConfig::default() };
        let port = harness::pool_port_with(addresses, schedule, &Timing::container());
        let node = Node::start(port, chain, dir.path()).await;
        let eth = els
            .iter()
            .map(|el| harness::eth_client(&el.container.rpc_url(), &Timing::container()))
            .collect();
        Self { node, els, eth, genesis_timestamp, _dir: dir }
    }

    /// EL `i`'s block under `tag`, as (number, hash).
    async fn el_block_of(&self, i: usize, tag: BlockNumberOrTag) -> (u64, B256) {
        let block = self.eth[i].block_by_number(tag, false).await.unwrap();
        let block = block.unwrap_or_else(|| panic!("EL {i} has no {tag} block"));
        (block.header.number, block.header.hash)
    }

    /// The first EL's block under `tag`.
    async fn el_block(&self, tag: BlockNumberOrTag) -> (u64, B256) {
        self.el_block_of(0, tag).await
    }

    /// Polls EL `i` until its latest block is `(number, hash)`.
    async fn wait_el_head(&self, i: usize, head: (u64, B256)) {
        let deadline = tokio::time::Instant::now() + harness::DEADLINE;
        loop {
            // Unanswered while it starts again: keep polling.
            let latest = self.eth[i].block_by_number(BlockNumberOrTag::Latest, false).await;
            let latest = latest.ok().flatten().map(|b| (b.header.number, b.header.hash));
            if latest == Some(head) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "EL {i} never reached block {head:?}: it is at {latest:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn balance(&self, address: Address) -> U256 {
        self.eth[0].balance(address, BlockId::latest()).await.unwrap()
    }
}

/// One EthereumJS driven by a ready engine actor; `None` when containers are skipped.
async fn start(schedule: ForkSchedule) -> Option<Setup> {
    let (genesis_timestamp, els) = containers(schedule, 1).await?;
    let addresses = [els[0].address()];
    let setup = Setup::drive(schedule, genesis_timestamp, els, &addresses).await;
    setup.node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    Some(setup)
}

/// Build block `number` at `timestamp` with `peg_ins` and no transactions, commit it, and
/// check the commit result: locally verified, VALID at the EL, the new head, its receipts
/// scanned after the reply.
async fn build_and_commit(setup: &Setup, number: u64, timestamp: u64, peg_ins: Vec<PegIn>) -> B256 {
    let built = setup.node.build(timestamp, peg_ins).await.unwrap();
    assert!(built.pending.is_empty(), "block {number}: peg-ins left over: {:?}", built.pending);
    assert!(built.payload.as_v1().transactions.is_empty(), "block {number} has transactions");
    let hash = built.payload.block_hash();
    let committed = setup.node.commit(&built).await.unwrap();
    assert_eq!((committed.hash, committed.number), (hash, number));
    assert_eq!(committed.status, PayloadStatus::Valid { latest_valid_hash: hash });
    assert!(committed.head, "block {number} must become the head");
    assert_eq!(committed.peg_outs, PegOutReport::Queued, "block {number}: scanned after the reply");
    // Its receipts scanned (the Bridge told of any burn) once the cursor reaches it.
    setup.node.wait_for(|s| s.peg_outs_scanned.is_some_and(|b| b.hash == hash)).await;
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
    assert_eq!(committed.peg_outs, PegOutReport::Queued);
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
/// through the other actor's import path (a payload it did not build, checked locally
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
        let imported = importer.node.import(&built).await.unwrap();
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
    let Some((genesis_timestamp, els)) = containers(schedule, 1).await else { return };
    let wrong = ElAddress { jwt_hex: JwtSecret::random().to_hex(), ..els[0].address() };
    let setup = Setup::drive(schedule, genesis_timestamp, els, &[wrong]).await;
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

/// How long the engine may take, once a restarted EL answers again, to be Ready and to have
/// sent it our forkchoice state (issue [I1]). The endpoint's circuit breaker, opened while
/// the EL was gone, waits its 5 s cool-down before the probe that finds it back, and
/// upchecks run every 200 ms here.
const RECOVERY: Duration = Duration::from_secs(10);

/// The EL's container is killed mid-run (SIGKILL: a crash, and quicker than EthereumJS's
/// eight-second clean shutdown) and started again on the same chain database and ports:
/// the engine reports the endpoint offline and refuses to build while it is gone; once the
/// EL answers again, the engine is Ready within [`RECOVERY`] and has re-sent its forkchoice
/// state (seen on the wire by a proxy in front of the EL: head, safe and finalized), and it
/// builds on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_restart_mid_run_recovers() {
    let schedule = ForkSchedule::shanghai_from_genesis();
    let Some((genesis_timestamp, els)) = containers(schedule, 1).await else { return };
    let target = format!("127.0.0.1:{}", els[0].container.ports().engine).parse().unwrap();
    let proxy = ChaosProxy::start(target).await.unwrap();
    let via_proxy = ElAddress { engine_url: proxy.url(), ..els[0].address() };
    let setup = Setup::drive(schedule, genesis_timestamp, els, &[via_proxy]).await;
    setup.node.wait_state(&[EngineState::Ready]).await;
    let mut hashes = vec![setup.el_block(BlockNumberOrTag::Number(0)).await.1];
    for i in 1..=5u64 {
        hashes.push(build_and_commit(&setup, i, setup.genesis_timestamp + 2 * i, Vec::new()).await);
    }
    let heads = setup.node.set_finalized(hashes[3]).await.unwrap();

    setup.els[0].container.stop(Duration::ZERO).await.unwrap();
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

    proxy.record_requests(true);
    setup.els[0].container.restart().await.unwrap();
    let answering = tokio::time::Instant::now();
    setup.node.wait_state(&[EngineState::Ready]).await;
    let re_sent = loop {
        let sent = proxy.requests_of("engine_forkchoiceUpdatedV2");
        if let Some(update) = sent.into_iter().find(|r| r.param(1).is_some_and(|a| a.is_null())) {
            break update;
        }
        assert!(
            answering.elapsed() < RECOVERY,
            "no forkchoice state re-sent: {:?}",
            proxy.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let recovered = answering.elapsed();
    assert!(recovered < RECOVERY, "recovered after {recovered:?}");
    let state: engine_types::engine::ForkchoiceState =
        serde_json::from_value(re_sent.param(0).unwrap().clone()).unwrap();
    assert_eq!(state, heads.state(), "our head, safe and finalized");
    eprintln!("recovered {recovered:?} after the EL answered again");

    assert_eq!(setup.el_block(BlockNumberOrTag::Latest).await, (5, hashes[5]));
    assert_eq!(setup.el_block(BlockNumberOrTag::Finalized).await, (3, hashes[3]));
    let sixth = build_and_commit(&setup, 6, setup.genesis_timestamp + 12, Vec::new()).await;
    assert_eq!(setup.el_block(BlockNumberOrTag::Latest).await, (6, sixth));
    assert_eq!(setup.node.status().await.heads.finalized.hash, hashes[3]);
}

/// Builds block `i` (no peg-ins) in its slot, checks `builder` built it, commits it and
/// checks that it is block `i`, VALID and the head; its hash.
async fn produce_on(setup: &Setup, i: u64, builder: &str) -> B256 {
    let built = setup.node.build(setup.genesis_timestamp + 2 * i, Vec::new()).await;
    let built = built.unwrap_or_else(|e| panic!("slot {i}: {e}"));
    assert_eq!(built.endpoint, builder, "block {i} built by the expected endpoint");
    let committed = setup.node.commit(&built).await.unwrap_or_else(|e| panic!("slot {i}: {e}"));
    assert_eq!((committed.number, committed.head), (i, true), "no block lost at slot {i}");
    assert_eq!(committed.status, PayloadStatus::Valid { latest_valid_hash: committed.hash });
    committed.hash
}

/// Two EthereumJS, primary and standby: commits fan out to both; the primary is stopped
/// mid-run (a clean shutdown) and the next slots are built on the standby with no block
/// lost; when the primary is started again it is caught up by replaying the blocks it
/// missed, without waiting for a commit, and builds again. Both end on one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_failover_to_standby_and_back() {
    let schedule = ForkSchedule::shanghai_from_genesis();
    let Some((genesis_timestamp, els)) = containers(schedule, 2).await else { return };
    let addresses: Vec<ElAddress> = els.iter().map(El::address).collect();
    let setup = Setup::drive(schedule, genesis_timestamp, els, &addresses).await;
    let status = setup.node.wait_state(&[EngineState::Ready]).await;
    let (primary, standby) = (status.endpoints[0].name.clone(), status.endpoints[1].name.clone());
    let mut hashes = vec![setup.el_block(BlockNumberOrTag::Number(0)).await.1];
    for i in 1..=4 {
        hashes.push(produce_on(&setup, i, &primary).await);
    }
    setup.wait_el_head(1, (4, hashes[4])).await;

    setup.els[0].container.stop(Duration::from_secs(20)).await.unwrap();
    for i in 5..=8 {
        hashes.push(produce_on(&setup, i, &standby).await);
    }
    assert_eq!(setup.el_block_of(1, BlockNumberOrTag::Latest).await, (8, hashes[8]));
    assert_eq!(setup.node.status().await.state, EngineState::Degraded);

    setup.els[0].container.restart().await.unwrap();
    setup.wait_el_head(0, (8, hashes[8])).await;
    setup.node.wait_state(&[EngineState::Ready]).await;
    for i in 9..=10 {
        hashes.push(produce_on(&setup, i, &primary).await);
    }
    for el in 0..2 {
        setup.wait_el_head(el, (10, hashes[10])).await;
        for (number, hash) in hashes.iter().enumerate() {
            let at = setup.el_block_of(el, BlockNumberOrTag::Number(number as u64)).await;
            assert_eq!(at, (number as u64, *hash), "EL {el} block {number}");
        }
    }
}

/// EthereumJS started the way its README shows (no `--isSingleNode`): its `eth_syncing`
/// fails with -32603, its Engine API works. The engine uses it: the endpoint is never
/// Offline, its breaker stays closed, and blocks with peg-ins are built and committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_as_documented_produces_blocks() {
    use engine_testkit::containers::EthereumJsAsDocumented;
    let schedule = ForkSchedule::shanghai_from_genesis();
    let genesis = dev_genesis(schedule).unwrap();
    let jwt = JwtSecret::random();
    let Some(container) =
        ElContainer::<EthereumJsAsDocumented>::start_or_skip(&genesis, &jwt).await.unwrap()
    else {
        return;
    };
    let eth = harness::eth_client(&container.engine_url(), &Timing::container());
    let probe = eth.syncing().await;
    assert!(probe.is_err(), "EthereumJS without --isSingleNode fails eth_syncing: {probe:?}");
    let address = ElAddress {
        engine_url: container.engine_url(),
        public_url: container.rpc_url(),
        jwt_hex: jwt.to_hex(),
    };
    let dir = tempfile::tempdir().unwrap();
    let port = harness::pool_port_with(&[address], schedule, &Timing::container());
    let chain = ChainConfig { fork_schedule: schedule, ..ChainConfig::default() };
    let node = Node::start(port, chain, dir.path()).await;
    node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    for i in 1..=3u64 {
        let peg_in = PegIn {
            evm_address: Address::repeat_byte(0x44),
            amount: Satoshis(1_000 * i),
            bitcoin_txid: B256::with_last_byte(i as u8),
        };
        let built = node.build(genesis.timestamp + 2 * i, vec![peg_in]).await.unwrap();
        let committed = node.commit(&built).await.unwrap();
        assert!(committed.head && committed.number == i, "block {i}: {committed:?}");
    }
    let status = node.status().await;
    let endpoint = &status.endpoints[0];
    assert_ne!(endpoint.state, EndpointState::Offline, "{endpoint:?}");
    assert_eq!(endpoint.breaker, engine_client::breaker::BreakerState::Closed, "{endpoint:?}");
    assert_eq!(status.heads.head.number, 3);
}

/// A crash between EthereumJS's commits and the engine's state writes: the engine starts
/// again from a state file two blocks behind the EL (as it was after block 2's build). It
/// adopts the EL's blocks 2 and 3 without ever sending the EL an older head (read off the
/// wire), records block 2's peg-in as minted, and builds block 4 on block 3 without
/// minting that peg-in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_ahead_after_a_crash_is_adopted() {
    let schedule = ForkSchedule::shanghai_from_genesis();
    let Some((genesis_timestamp, els)) = containers(schedule, 1).await else { return };
    let target = format!("127.0.0.1:{}", els[0].container.ports().engine).parse().unwrap();
    let proxy = ChaosProxy::start(target).await.unwrap();
    let via_proxy = ElAddress { engine_url: proxy.url(), ..els[0].address() };
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainConfig { fork_schedule: schedule, ..ChainConfig::default() };
    let start = || {
        let port = harness::pool_port_with(
            std::slice::from_ref(&via_proxy),
            schedule,
            &Timing::container(),
        );
        Node::start(port, chain, dir.path())
    };
    let peg_in = |n: u8| PegIn {
        evm_address: Address::repeat_byte(0x55),
        amount: Satoshis(10_000 + u64::from(n)),
        bitcoin_txid: B256::with_last_byte(n),
    };
    let node = start().await;
    node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    let b1 = node.build(genesis_timestamp + 2, vec![peg_in(1)]).await.unwrap();
    node.commit(&b1).await.unwrap();
    let b2 = node.build(genesis_timestamp + 4, vec![peg_in(2)]).await.unwrap();
    let state_file = dir.path().join(engine_actor::persist::STATE_FILE_NAME);
    let saved_at_build = std::fs::read(&state_file).unwrap();
    node.commit(&b2).await.unwrap();
    let b3 = node.build(genesis_timestamp + 6, vec![peg_in(3)]).await.unwrap();
    node.commit(&b3).await.unwrap();
    node.stop().await;
    std::fs::write(&state_file, saved_at_build).unwrap();

    proxy.record_requests(true);
    let node = start().await;
    let status = node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    assert_eq!(status.heads.head.hash, b3.payload.block_hash(), "the EL's blocks adopted");
    let b3_hash = b3.payload.block_hash();
    for sent in proxy.requests_of("engine_forkchoiceUpdatedV2") {
        let state: engine_types::engine::ForkchoiceState =
            serde_json::from_value(sent.param(0).unwrap().clone()).unwrap();
        assert_eq!(state.head_block_hash, b3_hash, "the EL was never sent back");
    }
    let b4 = node.build(genesis_timestamp + 8, vec![peg_in(2), peg_in(4)]).await.unwrap();
    assert_eq!(b4.payload.parent_hash(), b3_hash);
    assert_eq!(b4.included, [peg_in(4)], "block 2's peg-in is not minted again");
    assert!(node.commit(&b4).await.unwrap().head);
    assert_eq!(
        setup_balance(&els[0], Address::repeat_byte(0x55)).await,
        U256::from(10_001u64 + 10_002 + 10_003 + 10_004) * U256::from(WEI_PER_SAT)
    );
}

async fn setup_balance(el: &El, address: Address) -> U256 {
    let eth = harness::eth_client(&el.container.rpc_url(), &Timing::container());
    eth.balance(address, BlockId::latest()).await.unwrap()
}

/// EthereumJS applies a commit whose forkchoiceUpdated replies are lost on the way back
/// (the chaos proxy drops them): the engine's caller gets an error, but asking
/// what landed finds the block at the EL, adopts it, and says its peg-in is minted; the next
/// block does not mint it again and extends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_commit_with_lost_replies_is_found_landed() {
    let schedule = ForkSchedule::shanghai_from_genesis();
    let Some((genesis_timestamp, els)) = containers(schedule, 1).await else { return };
    let target = format!("127.0.0.1:{}", els[0].container.ports().engine).parse().unwrap();
    let proxy = ChaosProxy::start(target).await.unwrap();
    let via_proxy = ElAddress { engine_url: proxy.url(), ..els[0].address() };
    // One attempt per call and a short timeout: the lost replies fail the commit quickly.
    let quick = Timing {
        request: Duration::from_secs(3),
        retry: RetryConfig { max_attempts: 1, ..Timing::container().retry },
    };
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainConfig { fork_schedule: schedule, ..ChainConfig::default() };
    let node =
        Node::start(harness::pool_port_with(&[via_proxy], schedule, &quick), chain, dir.path())
            .await;
    node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    let peg_in = |n: u8| PegIn {
        evm_address: Address::repeat_byte(0x66),
        amount: Satoshis(20_000 + u64::from(n)),
        bitcoin_txid: B256::with_last_byte(n),
    };
    let b1 = node.build(genesis_timestamp + 2, vec![peg_in(1)]).await.unwrap();
    proxy.set_lose_replies_to(Some("engine_forkchoiceUpdatedV2"));
    let lost = node.commit(&b1).await;
    assert!(lost.is_err(), "the caller never heard back: {lost:?}");
    proxy.set_lose_replies_to(None);
    let eth = harness::eth_client(&els[0].container.rpc_url(), &Timing::container());
    let latest = eth.block_by_number(BlockNumberOrTag::Latest, false).await.unwrap().unwrap();
    assert_eq!(latest.header.hash, b1.payload.block_hash(), "EthereumJS applied the commit");

    let landed = node.what_landed(b1.payload.block_hash(), vec![peg_in(1)]).await.unwrap();
    assert!(landed.canonical, "{landed:?}");
    assert!(landed.unminted.is_empty(), "{landed:?}");
    assert_eq!(landed.head.hash, b1.payload.block_hash());
    let b2 = node.build(genesis_timestamp + 4, vec![peg_in(1), peg_in(2)]).await.unwrap();
    assert_eq!(b2.payload.parent_hash(), b1.payload.block_hash());
    assert_eq!(b2.included, [peg_in(2)], "block 1's peg-in is not minted again");
    assert!(node.commit(&b2).await.unwrap().head);
}
