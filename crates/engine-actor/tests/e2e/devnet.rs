//! 200 blocks through the actor on the devnet EL (real EVM): peg-ins minted to the wei, a
//! peg-out through the bridge contract reported once with the right sats, finality advancing,
//! every block imported by a second node, and a reorg to a block built elsewhere.

use crate::harness::{ElAddress, Node, pool_port};
use engine_actor::{
    messages::{PegOutReport, TxVerdict},
    status::EngineState,
};
use engine_testkit::ElPorts;
use engine_testkit::{
    devnet::{DevnetConfig, DevnetEl, dev_genesis},
    fixtures::keys::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{
    ForkSchedule, PegIn, Satoshis,
    config::ChainConfig,
    constants::{CHAIN_ID_DEV, WEI_PER_SAT},
    primitives::{Address, B256, Bytes, U256},
};

fn address_of(el: &DevnetEl) -> ElAddress {
    ElAddress {
        engine_url: el.engine_url(),
        public_url: el.public_url(),
        jwt_hex: el.jwt_secret_hex(),
    }
}

const PEGOUT_SATS: u64 = 2_000_000;
const BTC_ADDRESS: &[u8] = b"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

fn peg_out_tx(nonce: u64) -> Bytes {
    let peg_out = Transfer::peg_out(CHAIN_ID_DEV, nonce, Satoshis(PEGOUT_SATS), BTC_ADDRESS);
    sign_transfer(&dev_signer(0).unwrap(), &peg_out).unwrap()
}

/// The whole seed scenario on a real EVM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_blocks_with_peg_ins_peg_out_finality_import_and_reorg() {
    let genesis = dev_genesis(ForkSchedule::default()).unwrap();
    let el = DevnetEl::start(DevnetConfig::new(genesis.clone())).await.unwrap();
    let other = DevnetEl::start(DevnetConfig::new(genesis)).await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let schedule = ForkSchedule::default();
    let mut main =
        Node::start(pool_port(&[address_of(&el)], schedule), ChainConfig::default(), dir_a.path())
            .await;
    let follower = Node::start(
        pool_port(&[address_of(&other)], schedule),
        ChainConfig::default(),
        dir_b.path(),
    )
    .await;
    let ready = [EngineState::Ready, EngineState::Degraded];
    main.wait_state(&ready).await;
    follower.wait_state(&ready).await;

    let user = Address::repeat_byte(0x11);
    let genesis_ts = el.head().timestamp;
    let mut minted_sats = 0u64;
    let mut canonical = vec![el.genesis_hash()];
    for i in 1..=200u64 {
        let ts = genesis_ts + 2 * i;
        let peg_ins = if i % 10 == 1 {
            vec![PegIn {
                evm_address: user,
                amount: Satoshis(1_000 * i),
                bitcoin_txid: B256::with_last_byte(i as u8),
            }]
        } else {
            Vec::new()
        };
        if i == 50 {
            let verdict = main.send_tx(peg_out_tx(0)).await;
            assert!(matches!(verdict, TxVerdict::Accepted { .. }), "{verdict:?}");
            let pool = main.txpool_status().await.unwrap();
            assert_eq!((pool.pending, pool.queued), (1, 0), "the peg-out waits in the pool");
        }
        let built = main.build(ts, peg_ins.clone()).await.unwrap();
        assert!(built.pending.is_empty());
        let committed = main.commit(&built).await.unwrap();
        assert!(committed.head, "block {i} must become the head");
        minted_sats += peg_ins.iter().map(|p| p.amount.0).sum::<u64>();
        assert_eq!(committed.peg_outs, PegOutReport::Queued, "block {i}: scanned after the reply");
        let mut head = built.clone();
        if i == 100 {
            // The follower builds its own block 100 (a second later) and the main node
            // switches to it: a reorg to a block built elsewhere.
            let theirs = follower.build(ts + 1, Vec::new()).await.unwrap();
            assert_ne!(theirs.payload.block_hash(), built.payload.block_hash());
            follower.commit(&theirs).await.unwrap();
            let imported = main.import(&theirs).await.unwrap();
            assert!(imported.head);
            assert_eq!(el.head().hash(), theirs.payload.block_hash());
            head = theirs;
        } else {
            let imported = follower.import(&built).await.unwrap();
            assert!(imported.head, "the follower imports block {i}");
        }
        canonical.push(head.payload.block_hash());
        if i % 10 == 0 && i >= 20 {
            let f = canonical[(i - 10) as usize];
            main.set_finalized(f).await.unwrap();
            follower.set_finalized(f).await.unwrap();
        }
    }

    assert_eq!(el.head().number, 200);
    assert_eq!(el.head().hash(), other.head().hash(), "both ELs on the same head");
    assert_eq!(el.balance(&user), U256::from(minted_sats) * U256::from(WEI_PER_SAT));
    let event = main.bridge_rx.recv().await.unwrap();
    assert_eq!(event.block_number, 50);
    assert_eq!(event.payable.len(), 1);
    assert_eq!(event.payable[0].amount, Satoshis(PEGOUT_SATS));
    assert_eq!(event.payable[0].evm_address, dev_signer(0).unwrap().address());
    assert!(event.not_payable.is_empty());
    let head = el.head().hash();
    let status = main.wait_for(|s| s.peg_outs_scanned.is_some_and(|b| b.hash == head)).await;
    assert!(main.bridge_rx.try_recv().is_err(), "exactly one peg-out event");
    assert_eq!(status.heads.finalized.number, 190);
    assert_eq!(el.with(|d| d.finalized().map(|h| h.number)), Some(190));
}

/// The same flow on Cancun from genesis (V3 methods, parent beacon root in the sidecar):
/// blocks commit, peg-ins mint, and the head comes back by tag as a V3 payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancun_blocks_commit_and_read_back() {
    let schedule = ForkSchedule::all_from_genesis(engine_types::Fork::Cancun);
    let el = DevnetEl::start(DevnetConfig::new(dev_genesis(schedule).unwrap())).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainConfig { fork_schedule: schedule, ..ChainConfig::default() };
    let node = Node::start(pool_port(&[address_of(&el)], schedule), chain, dir.path()).await;
    node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    let user = Address::repeat_byte(0x22);
    let genesis_ts = el.head().timestamp;
    let mut last = None;
    for i in 1..=20u64 {
        let peg_ins = vec![PegIn {
            evm_address: user,
            amount: Satoshis(i),
            bitcoin_txid: B256::with_last_byte(i as u8),
        }];
        let built = node.build(genesis_ts + 2 * i, peg_ins).await.unwrap();
        assert!(matches!(built.payload, engine_types::engine::ExecutionPayload::V3(_)));
        assert!(node.commit(&built).await.unwrap().head);
        last = Some(built.payload);
    }
    assert_eq!(el.balance(&user), U256::from((1..=20u64).sum::<u64>()) * U256::from(WEI_PER_SAT));
    let (latest, sidecar) =
        node.payload_by_tag(engine_actor::messages::HeadTag::Latest).await.unwrap();
    assert_eq!(Some(latest), last);
    assert_eq!(sidecar.parent_beacon_block_root(), Some(B256::ZERO));
}
