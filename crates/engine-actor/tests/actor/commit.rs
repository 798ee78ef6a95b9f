//! CommitPayload: local validation, every newPayload / forkchoice answer, peg-outs.

use crate::{
    fake_el::{Call, Fault, Op, pegout_receipt},
    harness::{Harness, ask, commit, import, peg_in},
};
use engine_actor::error::BuildRefusal;
use engine_actor::{
    ActorError, ChainRequest,
    messages::{BuiltPayload, PegOutReport},
    status::EngineState,
};
use engine_types::{
    CorrelationId, PayloadStatus, Satoshis,
    constants::WEI_PER_SAT,
    engine::ExecutionPayload,
    primitives::{Address, U256},
};

fn commits(h: &Harness) -> usize {
    h.el.calls().iter().filter(|c| matches!(c, Call::Commit { .. })).count()
}

/// INVALID from newPayload is a rejection; the head does not move.
#[tokio::test]
async fn invalid_is_rejected_and_head_stays() {
    let h = Harness::ready().await;
    let built = h.build(1, vec![]).await.unwrap();
    let invalid = PayloadStatus::Invalid {
        latest_valid_hash: Some(h.el.genesis()),
        validation_error: Some("bad state root".into()),
    };
    h.el.fault(Op::Commit, Fault::NewPayloadStatus(invalid.clone()));
    let err = h.commit(&built).await.unwrap_err();
    assert_eq!(err, ActorError::Rejected { block: built.payload.block_hash(), status: invalid });
    assert_eq!(h.el.head(), h.el.genesis());
    assert_eq!(h.status().await.heads.head.hash, h.el.genesis());
}

/// SYNCING and ACCEPTED commit nothing to the head and put the engine in Syncing, where
/// builds are refused; a later VALID brings it back.
#[tokio::test]
async fn syncing_and_accepted_do_not_move_the_head() {
    for status in [PayloadStatus::Syncing, PayloadStatus::Accepted] {
        let h = Harness::ready().await;
        let built = h.build(1, vec![]).await.unwrap();
        h.el.fault(Op::Commit, Fault::NewPayloadStatus(status.clone()));
        let committed = h.commit(&built).await.unwrap();
        assert_eq!(committed.status, status);
        assert!(!committed.head);
        assert_eq!(committed.peg_outs, PegOutReport::NotScanned);
        assert_eq!(h.status().await.state, EngineState::Syncing);
        assert!(matches!(
            h.build(2, vec![]).await,
            Err(ActorError::Build(BuildRefusal::NotReady { .. }))
        ));
        // The tick re-sends the forkchoice state; the EL answers VALID again.
        h.wait_state(EngineState::Ready).await;
    }
}

/// A VALID payload whose forkchoice update answers SYNCING is stored but not the head.
#[tokio::test]
async fn forkchoice_syncing_after_valid_payload() {
    let h = Harness::ready().await;
    let built = h.build(1, vec![]).await.unwrap();
    h.el.fault(Op::Commit, Fault::ForkchoiceStatus(PayloadStatus::Syncing));
    let committed = h.commit(&built).await.unwrap();
    assert!(committed.status.is_valid());
    assert!(!committed.head);
    assert_eq!(h.status().await.heads.head.hash, h.el.genesis());
}

/// A payload whose block hash does not match its contents never reaches the EL.
#[tokio::test]
async fn tampered_payload_is_refused_locally() {
    let h = Harness::ready().await;
    let mut built = h.build(1, vec![]).await.unwrap();
    let ExecutionPayload::V2(p) = &mut built.payload else { panic!("expected V2") };
    p.payload_inner.gas_used = 1;
    let err = import(&h.engine, &built).await.unwrap_err();
    assert!(matches!(err, ActorError::InvalidPayload { .. }), "{err}");
    assert_eq!(commits(&h), 0);
}

/// Our build is committed by its payload id; an id the engine never built (or no longer
/// holds) is refused before anything reaches the EL, and the head stays.
#[tokio::test]
async fn commit_by_id_needs_a_build_the_engine_holds() {
    let h = Harness::ready().await;
    let built = h.build(1, vec![peg_in(1, 100)]).await.unwrap();
    let mut stranger = built.clone();
    stranger.payload_id = engine_types::engine::PayloadId::new([9; 8]);
    let err = h.commit(&stranger).await.unwrap_err();
    assert!(matches!(err, ActorError::Build(BuildRefusal::UnknownPayload { .. })), "{err}");
    assert_eq!(commits(&h), 0);
    assert_eq!(h.status().await.heads.head.hash, h.el.genesis());
    let committed = h.commit(&built).await.unwrap();
    assert!(committed.head);
    assert_eq!(h.el.head(), built.payload.block_hash());
}

/// An imported block (built elsewhere) commits when its withdrawals are the expected ones,
/// and is refused when it mints anything else.
#[tokio::test]
async fn imported_block_withdrawals_must_match() {
    let h = Harness::ready().await;
    let genesis = h.el.genesis();
    let withdrawals =
        engine_types::pegin::pack_withdrawals(&[peg_in(4, 100)], 0).unwrap().withdrawals;
    let foreign = h.el.foreign_payload(genesis, 1, withdrawals.clone());
    let import = |expected, peg_ins| {
        let payload = foreign.clone();
        ask(&h.engine, move |reply| {
            ChainRequest::CommitPayload {
                correlation: CorrelationId::new(),
                payload: Box::new(payload),
                sidecar: Box::new(engine_types::engine::ExecutionPayloadSidecar::none()),
                expected_withdrawals: expected,
                peg_ins,
                reply,
            }
            .into()
        })
    };
    let err = import(Vec::new(), Vec::new()).await.unwrap_err();
    assert!(matches!(err, ActorError::InvalidPayload { .. }), "{err}");
    // The peg-ins named must be exactly what the withdrawals mint.
    let err = import(withdrawals.clone(), vec![peg_in(5, 100)]).await.unwrap_err();
    assert!(err.to_string().contains("do not pack into exactly"), "{err}");
    assert_eq!(h.el.head(), genesis);
    let committed = import(withdrawals, vec![peg_in(4, 100)]).await.unwrap();
    assert!(committed.head);
    assert_eq!(h.el.head(), foreign.block_hash());
}

async fn produce_with_receipts(
    h: &Harness,
    timestamp: u64,
    receipts: Vec<alloy_rpc_types_eth::TransactionReceipt>,
) -> (BuiltPayload, engine_actor::messages::Committed) {
    let built = h.build(timestamp, vec![]).await.unwrap();
    h.el.next_block_receipts(receipts);
    let committed = commit(&h.engine, &built).await.unwrap();
    (built, committed)
}

/// A committed block's peg-outs reach the Bridge once, payable and not payable apart, with
/// the right sats; Storage gets the receipts.
#[tokio::test]
async fn peg_outs_reach_the_bridge_once() {
    let mut h = Harness::ready().await;
    let user = Address::repeat_byte(0x42);
    let payable = pegout_receipt(
        1,
        user,
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        U256::from(2_000_000u64) * U256::from(WEI_PER_SAT),
    );
    let dust = pegout_receipt(
        2,
        user,
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        U256::from(10u64) * U256::from(WEI_PER_SAT),
    );
    let (built, committed) = produce_with_receipts(&h, 1, vec![payable, dust]).await;
    assert_eq!(committed.peg_outs, PegOutReport::Queued, "the reply does not wait for the scan");
    let event = h.peers.bridge_rx.recv().await.unwrap();
    assert_eq!(event.block_hash, built.payload.block_hash());
    assert_eq!(event.payable.len(), 1);
    assert_eq!(event.payable[0].amount, Satoshis(2_000_000));
    assert_eq!(event.payable[0].evm_address, user);
    assert_eq!(event.not_payable.len(), 1);
    assert_eq!(event.not_payable[0].request.amount, Satoshis(10));
    let stored = h.peers.storage_rx.recv().await.unwrap();
    assert_eq!(stored.block_hash, built.payload.block_hash());
    assert_eq!(stored.receipts.len(), 2);

    assert_eq!(h.wait_scanned(built.payload.block_hash()).await.heads.head.number, 1);

    // A block without peg-outs tells the Bridge nothing (once scanned).
    let (quiet, committed) = produce_with_receipts(&h, 2, vec![]).await;
    assert_eq!(committed.peg_outs, PegOutReport::Queued);
    h.wait_scanned(quiet.payload.block_hash()).await;
    assert!(h.peers.bridge_rx.try_recv().is_err());
}

/// A burn of 0.02 BTC by `user` in the transaction at `index`.
fn burn(index: u8, user: Address) -> alloy_rpc_types_eth::TransactionReceipt {
    let sats = U256::from(2_000_000u64) * U256::from(WEI_PER_SAT);
    pegout_receipt(index, user, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", sats)
}

/// Receipts that cannot be fetched are a failed scan, never "no peg-outs": the block's burns
/// stay owed, a later block waits behind them, and the tick hands both over again once the
/// EL answers: delivered in block order and once each.
#[tokio::test]
async fn a_failed_scan_stays_owed_and_is_delivered_once_in_order() {
    let mut h = Harness::ready().await;
    let user = Address::repeat_byte(0x42);
    let b1 = h.build(1, vec![]).await.unwrap();
    h.el.next_block_receipts(vec![burn(1, user)]);
    h.el.fault(Op::Receipts, Fault::timeout());
    let committed = h.commit(&b1).await.unwrap();
    assert!(committed.head);
    assert_eq!(committed.peg_outs, PegOutReport::Queued, "the failure comes after the reply");

    let b2 = h.build(2, vec![]).await.unwrap();
    h.el.next_block_receipts(vec![burn(1, user)]);
    let committed = h.commit(&b2).await.unwrap();
    assert!(committed.head);
    // Queued behind block 1 (and skipped with it), or deferred once block 1 failed.
    assert!(
        matches!(committed.peg_outs, PegOutReport::Deferred | PegOutReport::Queued),
        "{:?}",
        committed.peg_outs
    );

    let deadline = crate::harness::DEADLINE;
    let first = tokio::time::timeout(deadline, h.peers.bridge_rx.recv()).await.unwrap().unwrap();
    let second = tokio::time::timeout(deadline, h.peers.bridge_rx.recv()).await.unwrap().unwrap();
    assert_eq!(
        [first.block_hash, second.block_hash],
        [b1.payload.block_hash(), b2.payload.block_hash()],
        "in block order"
    );
    assert_eq!(first.payable.len(), 1);
    // Ticks go on; nothing is owed, so nothing more reaches the Bridge.
    let reads = h.el.endpoint_reads();
    while h.el.endpoint_reads() < reads + 5 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(h.peers.bridge_rx.try_recv().is_err(), "a block's burns are delivered once");
    assert!(!h.status().await.heads.head.is_unset());
}

/// An engine whose scan lane holds 2 blocks, with the EL's receipts held by a gate, after
/// `n` committed blocks that each burn: the blocks, the commits' peg-out reports, and what
/// it takes to go on.
struct GatedScans {
    engine: ractor::ActorRef<engine_actor::EngineMsg>,
    peers: crate::harness::Peers,
    gate: std::sync::Arc<tokio::sync::Notify>,
    blocks: Vec<engine_types::primitives::B256>,
    reports: Vec<PegOutReport>,
    el: std::sync::Arc<crate::fake_el::FakeEl>,
    _dir: tempfile::TempDir,
}

async fn gated_scans(n: u64, tick_interval: std::time::Duration) -> GatedScans {
    let el = std::sync::Arc::new(crate::fake_el::FakeEl::default());
    let dir = tempfile::tempdir().unwrap();
    let peers = crate::harness::Peers::spawn().await;
    let mut config = crate::harness::config(dir.path());
    config.scan_queue = std::num::NonZeroUsize::new(2).unwrap();
    config.tick_interval = tick_interval;
    let engine = crate::harness::spawn_engine(&el, config, peers.addresses()).await.unwrap();
    crate::harness::wait_state(&engine, EngineState::Ready).await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    el.fault(Op::Receipts, Fault::Gate(gate.clone()));
    let user = Address::repeat_byte(0x42);
    let (mut blocks, mut reports) = (Vec::new(), Vec::new());
    for timestamp in 1..=n {
        let built = crate::harness::build(&engine, None, timestamp, vec![]).await.unwrap();
        el.next_block_receipts(vec![burn(1, user)]);
        let committed = commit(&engine, &built).await.unwrap();
        assert!(committed.head);
        blocks.push(committed.hash);
        reports.push(committed.peg_outs);
    }
    GatedScans { engine, peers, gate, blocks, reports, el, _dir: dir }
}

impl GatedScans {
    /// Opens the gate and waits for every block's burns at the Bridge, in block order, once.
    async fn delivered_in_order(&mut self) {
        self.gate.notify_one();
        for &block in &self.blocks {
            let event = tokio::time::timeout(crate::harness::DEADLINE, self.peers.bridge_rx.recv())
                .await
                .expect("delivered")
                .unwrap();
            assert_eq!(event.block_hash, block, "in block order");
        }
        let last = self.blocks[self.blocks.len() - 1];
        crate::harness::wait_for(
            &self.engine,
            |s| s.peg_outs_scanned.is_some_and(|b| b.hash == last),
            "the cursor at the last block",
        )
        .await;
        assert!(self.peers.bridge_rx.try_recv().is_err(), "each block once");
    }
}

/// The scan lane holds `scan_queue` blocks: with the receipts fetch held by a slow EL,
/// commits still answer (the scan is off their path), a block beyond the bound is deferred
/// and so is the one after it (never scanned ahead of an older block), and once the EL
/// answers, every block's burns reach the Bridge once, in block order.
#[tokio::test]
async fn a_full_scan_queue_defers_and_delivers_in_order() {
    let mut run = gated_scans(4, std::time::Duration::from_millis(20)).await;
    use PegOutReport::{Deferred, Queued};
    assert_eq!(run.reports, [Queued, Queued, Deferred, Deferred]);
    assert!(run.peers.bridge_rx.try_recv().is_err(), "block 1's receipts are still held");
    run.delivered_in_order().await;
}

/// Blocks deferred by a full scan lane are handed over as soon as the lane drains, without
/// waiting for a tick (here an hour away): at a slot per millisecond the tick's pace never
/// caught up. Every block's burns reach the Bridge once, in block order.
#[tokio::test]
async fn deferred_blocks_are_caught_up_when_the_lane_drains_not_at_the_tick() {
    let mut run = gated_scans(5, std::time::Duration::from_secs(3600)).await;
    use PegOutReport::{Deferred, Queued};
    assert_eq!(run.reports, [Queued, Queued, Deferred, Deferred, Deferred]);
    run.delivered_in_order().await;
}

/// A backlog far past the engine's header cache (64) is caught up with a number of block
/// reads linear in its length: each catch-up walks down only to the blocks the last one
/// left for later, not again to the scan cursor (which cost the backlog's length per
/// lane-load, thousands of reads here).
#[tokio::test]
async fn a_long_backlog_is_caught_up_with_linear_reads() {
    let n = 200;
    let mut run = gated_scans(n, std::time::Duration::from_secs(3600)).await;
    let before = run.el.block_reads();
    run.delivered_in_order().await;
    let reads = run.el.block_reads() - before;
    assert!(reads < 3 * n as usize, "{reads} block reads to catch up {n} blocks");
}

/// Without a Bridge actor the engine runs Degraded, and a block's burns stay owed (the
/// cursor does not pass them) until a Bridge takes them: none is dropped for want of a
/// receiver. Blocks without burns behind them wait too, so the order holds.
#[tokio::test]
async fn missing_bridge_is_reported_not_fatal() {
    let el = std::sync::Arc::new(crate::fake_el::FakeEl::default());
    let dir = tempfile::tempdir().unwrap();
    let peers = crate::harness::Peers::spawn().await;
    let mut addresses = peers.addresses();
    addresses.bridge = None;
    let engine = crate::harness::spawn_engine(&el, crate::harness::config(dir.path()), addresses)
        .await
        .unwrap();
    let status = crate::harness::wait_state(&engine, EngineState::Degraded).await;
    assert!(!status.peers.bridge);
    let built = crate::harness::build(&engine, None, 1, vec![]).await.unwrap();
    el.next_block_receipts(vec![pegout_receipt(1, Address::ZERO, "x", U256::from(WEI_PER_SAT))]);
    let committed = commit(&engine, &built).await.unwrap();
    assert_eq!(committed.peg_outs, PegOutReport::Queued);
    let quiet = crate::harness::build(&engine, None, 2, vec![]).await.unwrap();
    commit(&engine, &quiet).await.unwrap();
    // The tick retries: let the lane fail on the missing Bridge a few times over.
    let reads = el.endpoint_reads();
    while el.endpoint_reads() < reads + 5 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let status = crate::harness::status(&engine).await;
    assert_eq!(status.heads.head.number, 2);
    assert_eq!(status.peg_outs_scanned.map(|b| b.number), Some(0), "both blocks still owed");
}
