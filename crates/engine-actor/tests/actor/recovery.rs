//! Crash recovery: a new incarnation on the same state directory resumes where the last one
//! stopped, re-sends the forkchoice state, never regresses finality, never duplicates a block.

use crate::{
    fake_el::{Call, FakeEl, Fault, Op},
    harness::{
        DEADLINE, Harness, Peers, ask_raw, config, eventually, peg_in, set_finalized, spawn_engine,
        wait_state,
    },
};
use engine_actor::error::{BuildRefusal, ReconcileRefusal};
use engine_actor::{
    ActorError, ChainRequest, EngineMsg,
    peers::HeadChangeCause,
    persist::{PersistedState, STATE_FILE_NAME, StateStore},
    status::EngineState,
};
use engine_types::{CorrelationId, PayloadStatus};
use ractor::{ActorRef, ActorStatus, rpc::CallResult};
use std::sync::Arc;

async fn kill(engine: &ActorRef<EngineMsg>) {
    engine.kill();
    let cell = engine.get_cell();
    eventually("the engine to stop", || {
        let stopped = cell.get_status() == ActorStatus::Stopped;
        async move { stopped }
    })
    .await;
}

/// After an abrupt stop, a new engine resumes at the same heads, re-sends exactly the last
/// forkchoice state first, and continues the withdrawal indices. Its start-up reconcile
/// changes nothing durable, so it leaves the state file as it found it (no write, no fsync);
/// the next build writes again.
#[tokio::test]
async fn restart_resumes_from_persisted_state() {
    let h = Harness::ready().await;
    let (_, _) = h.produce(1, vec![peg_in(1, 1)]).await;
    let (b2, _) = h.produce(2, vec![peg_in(2, 1)]).await;
    h.produce(3, vec![]).await;
    set_finalized(&h.engine, b2.payload.block_hash()).await.unwrap();
    let before = h.status().await;
    kill(&h.engine).await;

    // Any save changes the log's bytes (a record over its zeros, or a fresh log).
    let file = StateStore::new(h.dir.path(), false).path();
    let marked = std::fs::read(&file).unwrap();

    let calls_before = h.el.calls().len();
    let engine = spawn_engine(&h.el, config(h.dir.path()), h.peers.addresses()).await.unwrap();
    let after = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(after.heads, before.heads);
    assert_eq!(after.next_withdrawal_index, 2);
    let first = h.el.calls()[calls_before].clone();
    assert_eq!(first, Call::Forkchoice(before.heads.state()));
    assert_eq!(std::fs::read(&file).unwrap(), marked, "nothing changed: no write");

    let built = crate::harness::build(&engine, None, 4, vec![peg_in(3, 1)]).await.unwrap();
    assert_ne!(std::fs::read(&file).unwrap(), marked, "a build records its intent");
    assert_eq!(built.withdrawals[0].index, 2);
    crate::harness::commit(&engine, &built).await.unwrap();
    assert_eq!(h.el.head_number(), 4);
    assert_eq!(crate::harness::status(&engine).await.heads.finalized.number, 2);
}

/// Stopped mid-commit: the caller gets an error (not a hang); the new engine is still at the
/// old head, and committing the same block again yields exactly one block at that height.
#[tokio::test]
async fn crash_mid_commit_then_recommit_once() {
    let h = Harness::ready().await;
    h.produce(1, vec![]).await;
    let built = h.build(2, vec![]).await.unwrap();
    h.el.fault(Op::Commit, Fault::Hang);
    let engine = h.engine.clone();
    let payload = built.clone();
    let caller = tokio::spawn(async move {
        ask_raw(&engine, |reply| {
            ChainRequest::CommitPayload {
                correlation: CorrelationId::new(),
                payload: Box::new(payload.payload),
                sidecar: Box::new(payload.sidecar),
                expected_withdrawals: payload.withdrawals,
                peg_ins: payload.included,
                reply,
            }
            .into()
        })
        .await
    });
    crate::harness::wait_for(&h.engine, |s| s.pending_forkchoice == 1, "the commit in flight")
        .await;
    kill(&h.engine).await;
    let answer = tokio::time::timeout(DEADLINE, caller).await.unwrap().unwrap();
    assert!(matches!(answer, CallResult::SenderError), "the caller must get an error");

    let engine = spawn_engine(&h.el, config(h.dir.path()), h.peers.addresses()).await.unwrap();
    let status = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(status.heads.head.number, 1);
    let committed = crate::harness::import(&engine, &built).await.unwrap();
    assert!(committed.head);
    assert_eq!(h.el.head_number(), 2);
    assert_eq!(h.el.head(), built.payload.block_hash());
}

/// A corrupt state file stops the start with an error naming the file; with start_fresh the
/// engine sets it aside and starts from the EL's head.
#[tokio::test]
async fn corrupt_state_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(STATE_FILE_NAME), b"not json").unwrap();
    let el = Arc::new(FakeEl::default());
    let peers = Peers::spawn().await;
    let err = spawn_engine(&el, config(dir.path()), peers.addresses()).await.unwrap_err();
    assert!(err.to_string().contains(STATE_FILE_NAME), "{err}");

    let mut fresh = config(dir.path());
    fresh.start_fresh = true;
    let engine = spawn_engine(&el, fresh, peers.addresses()).await.unwrap();
    let status = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(status.heads.head.hash, el.genesis());
}

/// Crash after the EL committed a block but before the engine saved it: the restarted
/// engine finds the EL ahead on a descendant of its saved head, validates and adopts the
/// block (its peg-ins recorded as minted from the in-flight build, its withdrawal index
/// counted), tells the Chain, and a repeated commit of that block is answered as landed,
/// without minting again. The EL is never asked to go back.
#[tokio::test]
async fn el_ahead_of_saved_state_is_adopted() {
    let mut h = Harness::ready().await;
    h.produce(1, vec![peg_in(1, 5)]).await;
    let state_file = h.dir.path().join(STATE_FILE_NAME);
    let b2 = h.build(2, vec![peg_in(2, 7)]).await.unwrap();
    // The state as the build left it: head 1, block 2 in flight with its peg-in.
    let saved_at_build = std::fs::read(&state_file).unwrap();
    h.commit(&b2).await.unwrap();
    kill(&h.engine).await;
    std::fs::write(&state_file, saved_at_build).unwrap();
    assert_eq!(h.el.head_number(), 2);
    let sent_before = h.el.calls().len();

    let engine = spawn_engine(&h.el, config(h.dir.path()), h.peers.addresses()).await.unwrap();
    let status = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(status.heads.head.hash, b2.payload.block_hash(), "the EL's block adopted");
    assert_eq!(status.next_withdrawal_index, 2);
    assert_eq!(h.el.head_number(), 2, "the EL was never sent back");
    assert!(
        h.el.calls()[sent_before..].iter().all(|c| match c {
            Call::Forkchoice(s) => s.head_block_hash == b2.payload.block_hash(),
            _ => true,
        }),
        "only the EL's own head was sent"
    );
    let saved = StateStore::new(h.dir.path(), false).load().unwrap().unwrap();
    assert!(saved.minted.find(&peg_in(2, 7).bitcoin_txid).is_some(), "{saved:?}");
    assert!(saved.in_flight.is_none());
    let change = tokio::time::timeout(DEADLINE, h.peers.chain_events_rx.recv()).await.unwrap();
    let change = change.unwrap();
    assert_eq!(change.cause, HeadChangeCause::AdoptedFromEl);
    assert_eq!(change.adopted.iter().map(|b| b.number).collect::<Vec<_>>(), [2]);

    // The restarted engine no longer holds the build: committing it by id is refused
    // before anything is sent, and the whole block sent again landed, once.
    let err = crate::harness::commit(&engine, &b2).await.unwrap_err();
    assert!(
        matches!(err, ActorError::Build(BuildRefusal::UnknownPayload { id }) if id == b2.payload_id),
        "{err}"
    );
    let committed = crate::harness::import(&engine, &b2).await.unwrap();
    assert!(committed.head);
    assert_eq!(committed.peg_outs, engine_actor::messages::PegOutReport::AlreadyReported);
    // And a rebuild with the same peg-in does not mint it again.
    let again = crate::harness::build(&engine, None, 3, vec![peg_in(2, 7)]).await.unwrap();
    assert!(again.withdrawals.is_empty());
    assert_eq!(again.already_minted.len(), 1);
    assert_eq!(again.already_minted[0].block.number, 2);
}

/// The EL ahead on another branch, or further ahead than the adopt limit, cannot be
/// followed by the engine alone: a fatal error names both heads and the fix, the engine
/// reports Error with it, and nothing is sent that would move the EL.
#[tokio::test]
async fn el_on_another_branch_or_too_far_ahead_is_fatal_and_named() {
    for too_far in [false, true] {
        let h = Harness::ready().await;
        let (b1, _) = h.produce(1, vec![]).await;
        kill(&h.engine).await;
        // Behind the engine's back: the EL goes on from genesis on another branch, or far
        // ahead on ours.
        if too_far {
            for t in 2..=5 {
                h.el.extend(t, vec![]);
            }
        } else {
            h.el.advance_to(h.el.genesis());
            h.el.extend(10, vec![]);
            h.el.extend(11, vec![]);
        }
        let mut cfg = config(h.dir.path());
        cfg.adopt_limit = 3;
        let sent_before = h.el.calls().len();
        let engine = spawn_engine(&h.el, cfg, h.peers.addresses()).await.unwrap();
        let status = wait_state(&engine, EngineState::Error).await;
        let text = format!("{:?}", status.el);
        assert!(matches!(status.el, engine_actor::status::ElCondition::Diverged(_)), "{text}");
        assert!(text.contains(&b1.payload.block_hash().to_string()), "names ours: {text}");
        assert!(text.contains(&h.el.head().to_string()), "names the EL's: {text}");
        let why = if too_far { "adopt_limit" } else { "another branch" };
        assert!(text.contains(why), "{text}");
        assert!(text.contains("state file aside"), "the operator's fix: {text}");
        assert!(
            !h.el.calls()[sent_before..].iter().any(|c| matches!(c, Call::Forkchoice(_))),
            "nothing sent to move the EL"
        );
        assert_eq!(status.heads.head.hash, b1.payload.block_hash());
    }
}

/// The EL declares our head INVALID with an older latest valid hash: the head walks back
/// to it, what the discarded blocks minted is returned to the Chain and forgotten by the
/// ledger, the withdrawal index follows, and production resumes on the valid ancestor. A
/// latest valid hash below the finalized block is a fatal error instead.
#[tokio::test]
async fn invalid_head_walks_back_to_latest_valid() {
    // An EL that found block 2 invalid no longer holds it as its head: the rewinding fake
    // follows the engine back to block 1 as such an EL would.
    let mut h = Harness::start(Arc::new(FakeEl::rewinding())).await;
    h.wait_state(EngineState::Ready).await;
    let (b1, _) = h.produce(1, vec![peg_in(1, 5)]).await;
    h.produce(2, vec![peg_in(2, 7)]).await;
    let (b3, _) = h.produce(3, vec![peg_in(3, 9)]).await;
    set_finalized(&h.engine, b1.payload.block_hash()).await.unwrap();
    h.el.fault(
        Op::Forkchoice,
        Fault::ForkchoiceStatus(PayloadStatus::Invalid {
            latest_valid_hash: Some(b1.payload.block_hash()),
            validation_error: Some("bad state root".into()),
        }),
    );
    let err = crate::harness::forkchoice(
        &h.engine,
        b3.payload.block_hash(),
        b1.payload.block_hash(),
        b1.payload.block_hash(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ActorError::Rejected { .. }), "{err}");
    let status = h.status().await;
    assert_eq!(status.heads.head.hash, b1.payload.block_hash());
    assert_eq!(status.next_withdrawal_index, 1);
    let change = tokio::time::timeout(DEADLINE, h.peers.chain_events_rx.recv()).await.unwrap();
    let change = change.unwrap();
    assert_eq!(change.cause, HeadChangeCause::InvalidHead);
    assert_eq!(change.from.number, 3);
    assert_eq!(change.to.number, 1);
    let mut returned = change.returned_peg_ins.clone();
    returned.sort_by_key(|p| p.amount.0);
    assert_eq!(returned, [peg_in(2, 7), peg_in(3, 9)]);
    let saved = StateStore::new(h.dir.path(), false).load().unwrap().unwrap();
    assert!(saved.minted.find(&peg_in(1, 5).bitcoin_txid).is_some());
    assert!(saved.minted.find(&peg_in(2, 7).bitcoin_txid).is_none());
    // The returned peg-ins can be minted again, on the valid branch, at the right index.
    let built = crate::harness::build(&h.engine, None, 10, returned).await.unwrap();
    assert_eq!(built.payload.parent_hash(), b1.payload.block_hash());
    assert_eq!(built.withdrawals[0].index, 1);

    // Below finality: fatal, and the head stays.
    h.el.fault(
        Op::Forkchoice,
        Fault::ForkchoiceStatus(PayloadStatus::Invalid {
            latest_valid_hash: Some(h.el.genesis()),
            validation_error: None,
        }),
    );
    let err = crate::harness::forkchoice(
        &h.engine,
        b1.payload.block_hash(),
        b1.payload.block_hash(),
        b1.payload.block_hash(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ActorError::Reconcile(ReconcileRefusal::InvalidBelowFinalized { .. })),
        "{err}"
    );
    assert_eq!(err.severity(), engine_types::Severity::Fatal);
    assert_eq!(h.status().await.heads.head.hash, b1.payload.block_hash());
}

/// An endpoint that comes back (its return counter grows: it was Offline, and the EL behind
/// it may have restarted and lost its forkchoice state) is sent the engine's forkchoice
/// state again, once per return, though the engine itself never stopped; an endpoint
/// merely going down re-sends nothing.
#[tokio::test]
async fn forkchoice_state_re_sent_when_an_endpoint_comes_back() {
    use crate::fake_el::endpoint;
    use engine_client::{breaker::BreakerState, health::EndpointState};
    let h = Harness::ready().await;
    h.produce(1, vec![]).await;
    let (b2, _) = h.produce(2, vec![]).await;
    set_finalized(&h.engine, b2.payload.block_hash()).await.unwrap();
    let heads = h.status().await.heads;
    let forkchoices = || {
        h.el.calls().into_iter().filter(|c| matches!(c, Call::Forkchoice(_))).collect::<Vec<_>>()
    };
    let before = forkchoices().len();

    let mut down = endpoint("fake", EndpointState::Offline, BreakerState::Closed);
    h.el.set_endpoints(vec![down.clone()]);
    h.wait_state(EngineState::Error).await;
    down.state = EndpointState::Synced;
    down.reconnects = 1;
    h.el.set_endpoints(vec![down.clone()]);
    eventually("the forkchoice state to be re-sent", || {
        let sent = forkchoices().len() > before;
        async move { sent }
    })
    .await;
    assert_eq!(forkchoices()[before..], [Call::Forkchoice(heads.state())]);
    assert_eq!(h.wait_state(EngineState::Ready).await.heads, heads, "nothing moved");

    // Ticks go on; without another return nothing more is sent.
    let ticks = crate::harness::config(h.dir.path()).tick_interval * 10;
    tokio::time::sleep(ticks).await;
    assert_eq!(forkchoices().len(), before + 1, "once per return");
}

/// INVALID for our head without a latest valid hash (null, or zero): the head alone is
/// invalid (Lighthouse's `InvalidateOne`), so the engine goes back to its parent and returns
/// only the head's peg-ins.
#[tokio::test]
async fn invalid_head_without_latest_valid_hash_drops_the_head_alone() {
    for latest_valid_hash in [None, Some(engine_types::primitives::B256::ZERO)] {
        let mut h = Harness::start(Arc::new(FakeEl::rewinding())).await;
        h.wait_state(EngineState::Ready).await;
        let (b1, _) = h.produce(1, vec![peg_in(1, 5)]).await;
        let (b2, _) = h.produce(2, vec![peg_in(2, 7)]).await;
        h.el.fault(
            Op::Forkchoice,
            Fault::ForkchoiceStatus(PayloadStatus::Invalid {
                latest_valid_hash,
                validation_error: None,
            }),
        );
        let zero = engine_types::primitives::B256::ZERO;
        let err = crate::harness::forkchoice(&h.engine, b2.payload.block_hash(), zero, zero)
            .await
            .unwrap_err();
        assert!(matches!(err, ActorError::Rejected { .. }), "{err}");
        let status = h.status().await;
        assert_eq!(status.heads.head.hash, b1.payload.block_hash(), "{latest_valid_hash:?}");
        assert_eq!(status.next_withdrawal_index, 1);
        let change = tokio::time::timeout(DEADLINE, h.peers.chain_events_rx.recv()).await;
        let change = change.unwrap().unwrap();
        assert_eq!(change.returned_peg_ins, [peg_in(2, 7)]);
    }
}

/// Peg-ins handed back while no Chain took them (it was restarting, say) are kept in the
/// persisted state and handed back again when the engine starts, until they are minted
/// again: a crash or an absent Chain loses none.
#[tokio::test]
async fn returned_peg_ins_survive_an_absent_chain_and_a_restart() {
    let el = Arc::new(FakeEl::rewinding());
    let dir = tempfile::tempdir().unwrap();
    let mut peers = Peers::spawn().await;
    let mut deaf = peers.addresses();
    deaf.chain_events = None;
    let engine = spawn_engine(&el, config(dir.path()), deaf).await.unwrap();
    wait_state(&engine, EngineState::Ready).await;
    let built = crate::harness::build(&engine, None, 1, vec![peg_in(1, 5)]).await.unwrap();
    crate::harness::commit(&engine, &built).await.unwrap();
    let zero = engine_types::primitives::B256::ZERO;
    crate::harness::forkchoice(&engine, el.genesis(), zero, zero).await.unwrap();
    kill(&engine).await;
    let saved = StateStore::new(dir.path(), false).load().unwrap().unwrap();
    assert_eq!(saved.minted.returned(), [peg_in(1, 5)]);

    let engine = spawn_engine(&el, config(dir.path()), peers.addresses()).await.unwrap();
    let change = tokio::time::timeout(DEADLINE, peers.chain_events_rx.recv()).await.unwrap();
    let change = change.unwrap();
    assert_eq!(change.cause, HeadChangeCause::Redelivered);
    assert_eq!(change.returned_peg_ins, [peg_in(1, 5)]);
    wait_state(&engine, EngineState::Ready).await;
    let again = crate::harness::build(&engine, None, 2, vec![peg_in(1, 5)]).await.unwrap();
    crate::harness::commit(&engine, &again).await.unwrap();
    let saved = StateStore::new(dir.path(), false).load().unwrap().unwrap();
    assert!(saved.minted.returned().is_empty(), "minted again: handed back no more");
}

/// A build that mints nothing is not recorded: on our head it leaves the state file as it
/// was, and its commit is the cycle's one durable write. A crash after the EL made that block
/// its head and before the commit's write loses nothing: the restarted engine adopts it
/// with the withdrawal index unchanged, and what earlier blocks minted stays minted.
#[tokio::test]
async fn empty_build_writes_nothing_and_its_adoption_loses_nothing() {
    let h = Harness::ready().await;
    h.produce(1, vec![peg_in(1, 5)]).await;
    // Any save changes the log's bytes (a record over its zeros, or a fresh log).
    let file = StateStore::new(h.dir.path(), false).path();
    let read = || std::fs::read(&file).unwrap();
    let marked = read();

    let b2 = h.build(2, vec![]).await.unwrap();
    assert_eq!(read(), marked, "a build minting nothing writes nothing");
    h.commit(&b2).await.unwrap();
    assert_ne!(read(), marked, "the commit writes the new head");
    let saved = StateStore::new(h.dir.path(), false).load().unwrap().unwrap();
    assert_eq!(saved.heads.head.hash, b2.payload.block_hash());

    // The crash: the EL holds block 2 as its head, the file still says block 1.
    kill(&h.engine).await;
    std::fs::write(&file, &marked).unwrap();
    let engine = spawn_engine(&h.el, config(h.dir.path()), h.peers.addresses()).await.unwrap();
    let status = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(status.heads.head.hash, b2.payload.block_hash(), "the EL's block adopted");
    assert_eq!(status.next_withdrawal_index, 1, "block 2 minted nothing");
    let again = crate::harness::build(&engine, None, 3, vec![peg_in(1, 5)]).await.unwrap();
    assert!(again.withdrawals.is_empty(), "block 1's peg-in is still known as minted");
    assert_eq!(again.already_minted.len(), 1);
}

/// A crash between a commit's state write and its scan leaves the block's burns owed: the
/// file's scan cursor is below the head, and the restarted engine delivers them.
#[tokio::test]
async fn burns_a_crash_cut_off_are_delivered_after_the_restart() {
    let mut h = Harness::ready().await;
    let genesis = StateStore::new(h.dir.path(), false).load().unwrap().unwrap().heads.head;
    let built = h.build(1, vec![]).await.unwrap();
    h.el.next_block_receipts(vec![crate::fake_el::pegout_receipt(
        1,
        engine_types::primitives::Address::repeat_byte(0x42),
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        engine_types::primitives::U256::from(2_000_000u64)
            * engine_types::primitives::U256::from(engine_types::constants::WEI_PER_SAT),
    )]);
    let committed = h.commit(&built).await.unwrap();
    assert!(committed.head);
    let delivered = h.peers.bridge_rx.recv().await.unwrap();
    assert_eq!(delivered.block_hash, built.payload.block_hash());
    // The cursor is saved once the lane's answer reaches the worker, after the delivery.
    let store = StateStore::new(h.dir.path(), false);
    let cursor = || store.load().unwrap().unwrap().peg_outs_scanned.map(|b| b.hash);
    let until_cursor = |block| async move {
        tokio::time::timeout(DEADLINE, async {
            while cursor() != Some(block) {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the scan cursor saved");
    };
    until_cursor(built.payload.block_hash()).await;
    let saved = store.load().unwrap().unwrap();

    // The crash: the file says block 1 is the head, and that its scan never happened.
    kill(&h.engine).await;
    store.save(&PersistedState { peg_outs_scanned: Some(genesis), ..saved }).unwrap();
    let engine = spawn_engine(&h.el, config(h.dir.path()), h.peers.addresses()).await.unwrap();
    wait_state(&engine, EngineState::Ready).await;
    let again = tokio::time::timeout(DEADLINE, h.peers.bridge_rx.recv()).await.unwrap().unwrap();
    assert_eq!(again.block_hash, built.payload.block_hash());
    assert_eq!(again.payable.len(), 1);
    until_cursor(built.payload.block_hash()).await;
}
