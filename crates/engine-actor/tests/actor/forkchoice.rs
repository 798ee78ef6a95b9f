//! ForkchoiceUpdate and SetFinalized: ordering, persistence, regressions, EL errors.

use crate::{
    fake_el::{Call, FakeEl, Fault, Op},
    harness::{Harness, forkchoice, peg_in, set_finalized},
};
use engine_actor::error::ForkchoiceRefusal;
use engine_actor::{ActorError, persist::StateStore};
use engine_types::{EngineError, PayloadStatus, RpcErrorCode, primitives::B256};

fn forkchoice_calls(h: &Harness) -> Vec<engine_types::engine::ForkchoiceState> {
    h.el.calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Forkchoice(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Finality is sent to the EL at once, persisted, carried by later updates, and never
/// goes back.
#[tokio::test]
async fn set_finalized_sends_persists_and_never_regresses() {
    let h = Harness::ready().await;
    let (b1, _) = h.produce(1, vec![]).await;
    let (b2, _) = h.produce(2, vec![]).await;
    let f2 = b2.payload.block_hash();
    let heads = set_finalized(&h.engine, f2).await.unwrap();
    assert_eq!(heads.finalized.number, 2);
    let last = *forkchoice_calls(&h).last().unwrap();
    assert_eq!(last.finalized_block_hash, f2);
    assert_eq!(last.safe_block_hash, f2);
    let saved = StateStore::new(h.dir.path(), false).load().unwrap().unwrap();
    assert_eq!(saved.heads.finalized.hash, f2);

    let sent = forkchoice_calls(&h).len();
    let err = set_finalized(&h.engine, b1.payload.block_hash()).await.unwrap_err();
    assert_eq!(
        err,
        ActorError::Forkchoice(ForkchoiceRefusal::FinalizedRegression { current: 2, requested: 1 })
    );
    assert_eq!(forkchoice_calls(&h).len(), sent, "a regression must not reach the EL");

    // The next commit carries the finalized hash.
    let built = h.build(3, vec![]).await.unwrap();
    h.commit(&built).await.unwrap();
    let Some(Call::Commit { forkchoice, .. }) =
        h.el.calls().into_iter().rev().find(|c| matches!(c, Call::Commit { .. }))
    else {
        panic!()
    };
    assert_eq!(forkchoice.finalized_block_hash, f2);
}

/// A forkchoice update to an earlier block (a reorg decided by consensus) moves the head
/// back on an EL that rewinds (EthereumJS); -38002 and SYNCING come back typed and change
/// nothing.
#[tokio::test]
async fn forkchoice_update_reorgs_and_reports_errors() {
    let h = Harness::start(std::sync::Arc::new(FakeEl::rewinding())).await;
    h.wait_state(engine_actor::status::EngineState::Ready).await;
    let (b1, _) = h.produce(1, vec![]).await;
    h.produce(2, vec![]).await;
    let target = b1.payload.block_hash();
    let heads = forkchoice(&h.engine, target, B256::ZERO, B256::ZERO).await.unwrap();
    assert_eq!(heads.head.number, 1);
    assert_eq!(h.el.head(), target);

    h.el.fault(Op::Forkchoice, Fault::rpc(-38002));
    let err = forkchoice(&h.engine, h.el.genesis(), B256::ZERO, B256::ZERO).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ActorError::Engine(EngineError::Rpc { code: RpcErrorCode::InvalidForkchoiceState, .. })
        ),
        "{err}"
    );
    h.el.fault(Op::Forkchoice, Fault::ForkchoiceStatus(PayloadStatus::Syncing));
    let err = forkchoice(&h.engine, h.el.genesis(), B256::ZERO, B256::ZERO).await.unwrap_err();
    assert!(matches!(err, ActorError::Syncing { .. }), "{err}");
    assert_eq!(h.status().await.heads.head.hash, target);

    let err =
        forkchoice(&h.engine, B256::repeat_byte(0xee), B256::ZERO, B256::ZERO).await.unwrap_err();
    assert!(matches!(err, ActorError::UnknownBlock { .. }), "{err}");
}

/// Forkchoice updates reach the EL strictly in the order they were sent (on an EL that
/// rewinds, so that every one of them moves its head).
#[tokio::test]
async fn forkchoice_updates_keep_their_order() {
    let h = Harness::start(std::sync::Arc::new(FakeEl::rewinding())).await;
    h.wait_state(engine_actor::status::EngineState::Ready).await;
    let mut hashes = vec![h.el.genesis()];
    for t in 1..=3 {
        hashes.push(h.produce(t, vec![]).await.0.payload.block_hash());
    }
    let before = forkchoice_calls(&h).len();
    let order = [hashes[1], hashes[3], hashes[0], hashes[2]];
    let (a, b, c, d) = tokio::join!(
        forkchoice(&h.engine, order[0], B256::ZERO, B256::ZERO),
        forkchoice(&h.engine, order[1], B256::ZERO, B256::ZERO),
        forkchoice(&h.engine, order[2], B256::ZERO, B256::ZERO),
        forkchoice(&h.engine, order[3], B256::ZERO, B256::ZERO),
    );
    for r in [a, b, c, d] {
        r.unwrap();
    }
    let sent: Vec<_> = forkchoice_calls(&h)[before..].iter().map(|s| s.head_block_hash).collect();
    assert_eq!(sent, order);
    assert_eq!(h.el.head(), order[3]);
}

/// Geth skips a forkchoice update to a canonical ancestor of its head (VALID, no rewind).
/// The engine believes the chain the EL holds, not the answer: the update is refused as
/// `WouldRewind` (Reset) and nothing moves, so block 2's peg-in is not handed back and is
/// never minted again.
#[tokio::test]
async fn an_update_to_an_ancestor_that_the_el_skips_moves_nothing() {
    let mut h = Harness::ready().await;
    let (b1, _) = h.produce(1, vec![]).await;
    let (b2, _) = h.produce(2, vec![peg_in(2, 7)]).await;
    let err =
        forkchoice(&h.engine, b1.payload.block_hash(), B256::ZERO, B256::ZERO).await.unwrap_err();
    let ActorError::Forkchoice(ForkchoiceRefusal::WouldRewind { requested, el }) = &err else {
        panic!("{err}")
    };
    assert_eq!((requested.number, el.number), (1, 2));
    assert_eq!(err.severity(), engine_types::Severity::Reset);
    assert_eq!(h.el.head(), b2.payload.block_hash(), "Geth did not go back");
    let status = h.status().await;
    assert_eq!(status.heads.head.hash, b2.payload.block_hash(), "nor did the engine");
    assert_eq!(status.next_withdrawal_index, 1);
    assert!(h.peers.chain_events_rx.try_recv().is_err(), "no peg-in handed back");
    let b3 = h.build(3, vec![peg_in(2, 7), peg_in(3, 9)]).await.unwrap();
    assert_eq!(b3.included, [peg_in(3, 9)], "block 2's peg-in is not minted again");
    assert_eq!(b3.payload.parent_hash(), b2.payload.block_hash());
}

/// A reorg away from a branch and back (on an EL that follows, like EthereumJS), with a
/// peg-in minted on both: leaving a branch hands its mints back to the Chain, the other
/// branch may mint them, and coming back counts the first branch's mints again, so the
/// peg-in is minted once on whichever chain is canonical and the index follows the branch.
#[tokio::test]
async fn a_reorg_and_back_keeps_every_peg_in_minted_once() {
    let mut h = Harness::start(std::sync::Arc::new(FakeEl::rewinding())).await;
    h.wait_state(engine_actor::status::EngineState::Ready).await;
    let genesis = h.el.genesis();
    let (a1, _) = h.produce(1, vec![peg_in(1, 5)]).await;
    forkchoice(&h.engine, genesis, B256::ZERO, B256::ZERO).await.unwrap();
    let change = h.peers.chain_events_rx.recv().await.unwrap();
    assert_eq!(change.returned_peg_ins, [peg_in(1, 5)], "leaving a1 hands its peg-in back");
    assert_eq!(h.status().await.next_withdrawal_index, 0);
    // The other branch mints it (and another one).
    let (b1, _) = h.produce(2, vec![peg_in(1, 5), peg_in(2, 6)]).await;
    assert_eq!(b1.included.len(), 2);
    assert_eq!(b1.withdrawals[0].index, 0, "the index followed the branch");
    // Back to a1: b1's mints go back except the one a1 minted too.
    forkchoice(&h.engine, a1.payload.block_hash(), B256::ZERO, B256::ZERO).await.unwrap();
    let change = h.peers.chain_events_rx.recv().await.unwrap();
    assert_eq!(change.returned_peg_ins, [peg_in(2, 6)]);
    let saved = StateStore::new(h.dir.path(), false).load().unwrap().unwrap();
    let minted = saved.minted.find(&peg_in(1, 5).bitcoin_txid).unwrap();
    assert_eq!(minted.block.hash, a1.payload.block_hash(), "a1's mint counts again");
    assert_eq!(saved.next_withdrawal_index, 1);
    let next = h.build(3, vec![peg_in(1, 5), peg_in(2, 6)]).await.unwrap();
    assert_eq!(next.included, [peg_in(2, 6)]);
    assert_eq!(next.withdrawals[0].index, 1);
}

/// Finality must lie on the head's chain: a block of another branch is refused before the
/// EL hears of it, and nothing is persisted.
#[tokio::test]
async fn finality_off_the_heads_chain_is_refused() {
    let h = Harness::start(std::sync::Arc::new(FakeEl::rewinding())).await;
    h.wait_state(engine_actor::status::EngineState::Ready).await;
    let (a1, _) = h.produce(1, vec![]).await;
    forkchoice(&h.engine, h.el.genesis(), B256::ZERO, B256::ZERO).await.unwrap();
    h.produce(2, vec![]).await;
    let sent = forkchoice_calls(&h).len();
    let err = set_finalized(&h.engine, a1.payload.block_hash()).await.unwrap_err();
    assert!(matches!(err, ActorError::Forkchoice(ForkchoiceRefusal::NotOnChain { .. })), "{err}");
    assert_eq!(forkchoice_calls(&h).len(), sent);
    let saved = StateStore::new(h.dir.path(), false).load().unwrap().unwrap();
    assert_eq!(saved.finality_intent, None);
}

/// SetFinalized is persisted before the EL hears of it; a SYNCING answer leaves it as an
/// intent that the tick sends again until the EL takes it; it never goes back meanwhile.
#[tokio::test]
async fn finality_is_a_persisted_intent_until_the_el_takes_it() {
    let h = Harness::ready().await;
    let (b1, _) = h.produce(1, vec![]).await;
    let (b2, _) = h.produce(2, vec![]).await;
    let f2 = b2.payload.block_hash();
    h.el.fault(Op::Forkchoice, Fault::ForkchoiceStatus(PayloadStatus::Syncing));
    let err = set_finalized(&h.engine, f2).await.unwrap_err();
    assert!(matches!(err, ActorError::Syncing { .. }), "{err}");
    // Whatever the tick did meanwhile, the intent was durable first, and it cannot regress.
    let err = set_finalized(&h.engine, b1.payload.block_hash()).await.unwrap_err();
    assert_eq!(
        err,
        ActorError::Forkchoice(ForkchoiceRefusal::FinalizedRegression { current: 2, requested: 1 })
    );
    let status = crate::harness::wait_for(
        &h.engine,
        |s| s.heads.finalized.number == 2,
        "the intent to be taken by the EL",
    )
    .await;
    assert_eq!(status.heads.finalized.hash, f2);
    let saved = StateStore::new(h.dir.path(), false).load().unwrap().unwrap();
    assert_eq!(saved.heads.finalized.hash, f2);
    assert_eq!(saved.finality_intent, None);
    let last = *forkchoice_calls(&h).last().unwrap();
    assert_eq!(last.finalized_block_hash, f2);
}
