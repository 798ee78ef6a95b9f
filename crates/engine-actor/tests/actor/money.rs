//! Peg-ins exactly once: whatever the timeouts, repeats, imports and restarts, no bitcoin
//! txid is minted twice, and a caller that gave up can learn what landed.

use crate::{
    fake_el::{Fault, Op},
    harness::{Harness, ask, build, config, peg_in, spawn_engine, wait_state},
};
use engine_actor::error::CommitRefusal;
use engine_actor::{
    ActorError, ChainRequest,
    messages::{Landed, PegOutReport},
    persist::{PersistedState, StateStore},
    status::EngineState,
};
use engine_types::{CorrelationId, PegIn, pegin::pack_withdrawals};
use ractor::rpc::CallResult;
use std::time::Duration;

async fn what_landed(
    h: &Harness,
    block: engine_types::primitives::B256,
    peg_ins: Vec<PegIn>,
) -> Landed {
    ask(&h.engine, |reply| {
        ChainRequest::WhatLanded { correlation: CorrelationId::new(), block, peg_ins, reply }.into()
    })
    .await
    .unwrap()
}

/// The Chain's commit times out while the worker still finishes it (a slow EL): asking
/// what landed, queued behind that commit, says the block is canonical and its peg-ins
/// minted; a rebuild with the same peg-ins mints nothing; a repeated commit is answered as
/// landed without a second report.
#[tokio::test]
async fn a_commit_whose_caller_timed_out_lands_once_and_is_reported() {
    let h = Harness::ready().await;
    let peg_ins = vec![peg_in(1, 5), peg_in(2, 7)];
    let built = h.build(1, peg_ins.clone()).await.unwrap();
    h.el.fault(Op::Commit, Fault::Delay(Duration::from_millis(300)));
    let payload = built.clone();
    let gave_up = h
        .engine
        .call(
            move |reply| {
                ChainRequest::CommitPayload {
                    correlation: CorrelationId::new(),
                    payload: Box::new(payload.payload),
                    sidecar: Box::new(payload.sidecar),
                    expected_withdrawals: payload.withdrawals,
                    peg_ins: payload.included,
                    reply,
                }
                .into()
            },
            Some(Duration::from_millis(20)),
        )
        .await
        .unwrap();
    assert!(matches!(gave_up, CallResult::Timeout), "the caller gave up first");

    let landed = what_landed(&h, built.payload.block_hash(), peg_ins.clone()).await;
    assert_eq!(landed.head.hash, built.payload.block_hash(), "the worker finished the commit");
    assert!(landed.canonical);
    assert!(landed.unminted.is_empty());
    assert_eq!(landed.minted.iter().map(|m| m.peg_in).collect::<Vec<_>>(), peg_ins);

    let again = h.build(2, peg_ins.clone()).await.unwrap();
    assert!(again.withdrawals.is_empty(), "nothing minted twice");
    assert_eq!(again.already_minted.len(), 2);
    let repeated = h.commit(&built).await.unwrap();
    assert!(repeated.head);
    assert_eq!(repeated.peg_outs, PegOutReport::AlreadyReported);
    assert_eq!(h.status().await.next_withdrawal_index, 2);
}

/// The EL applied a commit whose reply was lost (the caller got a timeout): asking what
/// landed finds the block at the EL, adopts it as ours, and says its peg-ins are minted;
/// the next build does not mint them again.
#[tokio::test]
async fn a_commit_whose_reply_was_lost_is_found_landed() {
    let h = Harness::ready().await;
    let peg_ins = vec![peg_in(7, 70)];
    let built = h.build(1, peg_ins.clone()).await.unwrap();
    h.el.fault(Op::Commit, Fault::LoseReply);
    let err = h.commit(&built).await.unwrap_err();
    assert_eq!(err.severity(), engine_types::Severity::Retry, "{err}");
    assert_eq!(h.el.head(), built.payload.block_hash(), "the EL applied it");
    let landed = what_landed(&h, built.payload.block_hash(), peg_ins.clone()).await;
    assert!(landed.canonical);
    assert_eq!(landed.head.hash, built.payload.block_hash());
    assert!(landed.unminted.is_empty());
    let next = h.build(2, peg_ins).await.unwrap();
    assert!(next.withdrawals.is_empty());
    assert_eq!(next.payload.parent_hash(), built.payload.block_hash());
}

/// An imported block (built elsewhere, so the engine has no in-flight record of it) whose
/// commit reply was lost: asking what landed adopts it, records the peg-ins its
/// withdrawals minted, and a later build does not mint them again. Peg-ins that do not
/// pack into its withdrawals are refused rather than believed.
#[tokio::test]
async fn an_import_whose_reply_was_lost_is_found_landed_with_its_mints() {
    let h = Harness::ready().await;
    let genesis = h.el.genesis();
    let peg_ins = vec![peg_in(8, 80)];
    let withdrawals = pack_withdrawals(&peg_ins, 0).unwrap().withdrawals;
    let foreign = h.el.foreign_payload(genesis, 1, withdrawals.clone());
    h.el.fault(Op::Commit, Fault::LoseReply);
    let payload = foreign.clone();
    let (expected, minting) = (withdrawals.clone(), peg_ins.clone());
    let err = ask(&h.engine, move |reply| {
        ChainRequest::CommitPayload {
            correlation: CorrelationId::new(),
            payload: Box::new(payload),
            sidecar: Box::new(engine_types::engine::ExecutionPayloadSidecar::none()),
            expected_withdrawals: expected,
            peg_ins: minting,
            reply,
        }
        .into()
    })
    .await
    .unwrap_err();
    assert_eq!(err.severity(), engine_types::Severity::Retry, "{err}");
    let wrong = ask(&h.engine, |reply| {
        ChainRequest::WhatLanded {
            correlation: CorrelationId::new(),
            block: foreign.block_hash(),
            peg_ins: vec![peg_in(9, 1)],
            reply,
        }
        .into()
    })
    .await
    .unwrap_err();
    assert!(matches!(wrong, ActorError::InvalidPayload { .. }), "{wrong}");
    let landed = what_landed(&h, foreign.block_hash(), peg_ins.clone()).await;
    assert!(landed.canonical);
    assert!(landed.unminted.is_empty());
    let next = h.build(2, peg_ins).await.unwrap();
    assert!(next.included.is_empty(), "minted once");
    assert_eq!(next.already_minted[0].block.hash, foreign.block_hash());
}

/// A commit answered "not the head" (SYNCING) leaves its peg-ins unminted: asking what
/// landed gives them all back, so the Chain queues them again, and they mint once later.
#[tokio::test]
async fn a_block_that_did_not_become_the_head_minted_nothing() {
    let h = Harness::ready().await;
    let peg_ins = vec![peg_in(3, 9)];
    let built = h.build(1, peg_ins.clone()).await.unwrap();
    h.el.fault(Op::Commit, Fault::ForkchoiceStatus(engine_types::PayloadStatus::Syncing));
    let committed = h.commit(&built).await.unwrap();
    assert!(!committed.head);
    let landed = what_landed(&h, built.payload.block_hash(), peg_ins.clone()).await;
    assert!(!landed.canonical);
    assert_eq!(landed.unminted, peg_ins);
    assert!(landed.minted.is_empty());
}

/// An imported block that mints a peg-in the canonical chain already minted is refused
/// before it reaches the EL, with the block that minted it named; so is one listing a txid
/// twice.
#[tokio::test]
async fn an_import_cannot_mint_a_peg_in_twice() {
    let h = Harness::ready().await;
    let (b1, _) = h.produce(1, vec![peg_in(4, 100)]).await;
    let head = b1.payload.block_hash();
    let commit_import = |peg_ins: Vec<PegIn>| {
        let withdrawals = pack_withdrawals(&peg_ins, 1).unwrap().withdrawals;
        let foreign = h.el.foreign_payload(head, 2, withdrawals.clone());
        ask(&h.engine, move |reply| {
            ChainRequest::CommitPayload {
                correlation: CorrelationId::new(),
                payload: Box::new(foreign),
                sidecar: Box::new(engine_types::engine::ExecutionPayloadSidecar::none()),
                expected_withdrawals: withdrawals,
                peg_ins,
                reply,
            }
            .into()
        })
    };
    let err = commit_import(vec![peg_in(4, 100)]).await.unwrap_err();
    let ActorError::Commit(CommitRefusal::AlreadyMinted { bitcoin_txid, block: Some(block) }) =
        err.clone()
    else {
        panic!("{err}")
    };
    assert_eq!(bitcoin_txid, peg_in(4, 100).bitcoin_txid);
    assert_eq!(block.hash, head);
    assert_eq!(err.severity(), engine_types::Severity::Reset);
    let twice = commit_import(vec![peg_in(5, 1), peg_in(5, 1)]).await.unwrap_err();
    assert!(
        matches!(twice, ActorError::Commit(CommitRefusal::AlreadyMinted { block: None, .. })),
        "{twice}"
    );
    assert_eq!(h.el.head(), head, "nothing reached the EL");
    assert!(commit_import(vec![peg_in(6, 1)]).await.unwrap().head);
}

/// With a fresh state on a chain that already minted, the next withdrawal index is
/// recovered from the EL's chain (not restarted at 0), so indices are never reused.
#[tokio::test]
async fn a_fresh_state_recovers_the_withdrawal_index_from_the_chain() {
    let h = Harness::ready().await;
    h.produce(1, vec![peg_in(1, 1), peg_in(2, 1)]).await;
    h.produce(2, vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn_engine(&h.el, config(dir.path()), h.peers.addresses()).await.unwrap();
    let status = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(status.heads.head.number, 2);
    assert_eq!(status.next_withdrawal_index, 2, "after the last withdrawal, in block 1");
    let next = build(&engine, None, 3, vec![peg_in(3, 1)]).await.unwrap();
    assert_eq!(next.withdrawals[0].index, 2);
}

/// The ledger is bounded: when it is full, a build leaves new peg-ins pending (never
/// dropped) and still produces a block; finality prunes it and minting resumes.
#[tokio::test]
async fn a_full_ledger_leaves_peg_ins_pending_until_finality_prunes_it() {
    let h = Harness::ready().await;
    engine_actor_kill(&h).await;
    let mut cfg = config(h.dir.path());
    cfg.ledger_capacity = 2;
    let engine = spawn_engine(&h.el, cfg, h.peers.addresses()).await.unwrap();
    wait_state(&engine, EngineState::Ready).await;
    let produce = |t: u64, peg_ins: Vec<PegIn>| {
        let engine = engine.clone();
        async move {
            let built = build(&engine, None, t, peg_ins).await.unwrap();
            crate::harness::commit(&engine, &built).await.unwrap();
            built
        }
    };
    let b1 = produce(1, vec![peg_in(1, 1), peg_in(2, 1)]).await;
    assert_eq!(b1.included.len(), 2);
    let b2 = produce(2, vec![peg_in(3, 1)]).await;
    assert!(b2.withdrawals.is_empty());
    assert_eq!(b2.pending, [peg_in(3, 1)], "kept pending, not dropped");
    crate::harness::set_finalized(&engine, b2.payload.block_hash()).await.unwrap();
    let saved: PersistedState = StateStore::new(h.dir.path(), false).load().unwrap().unwrap();
    assert!(saved.minted.is_empty(), "pruned below finality");
    let b3 = produce(3, vec![peg_in(3, 1)]).await;
    assert_eq!(b3.included, [peg_in(3, 1)]);
    assert_eq!(b3.withdrawals[0].index, 2);
}

async fn engine_actor_kill(h: &Harness) {
    h.engine.kill();
    let cell = h.engine.get_cell();
    crate::harness::eventually("the engine to stop", || {
        let stopped = cell.get_status() == ractor::ActorStatus::Stopped;
        async move { stopped }
    })
    .await;
}
