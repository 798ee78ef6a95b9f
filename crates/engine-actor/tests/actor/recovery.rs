//! Crash recovery: a new incarnation on the same state directory resumes where the last one
//! stopped, re-sends the forkchoice state, never regresses finality, never duplicates a block.

use crate::{
    fake_el::{Call, FakeEl, Fault, Op},
    harness::{
        DEADLINE, Harness, Peers, ask_raw, config, eventually, peg_in, set_finalized, spawn_engine,
        wait_state,
    },
};
use engine_actor::{ChainMsg, EngineMsg, persist::STATE_FILE_NAME, status::EngineState};
use engine_types::CorrelationId;
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
/// forkchoice state first, and continues the withdrawal indices.
#[tokio::test]
async fn restart_resumes_from_persisted_state() {
    let h = Harness::ready().await;
    let (_, _) = h.produce(1, vec![peg_in(1, 1)]).await;
    let (b2, _) = h.produce(2, vec![peg_in(2, 1)]).await;
    h.produce(3, vec![]).await;
    set_finalized(&h.engine, b2.payload.block_hash()).await.unwrap();
    let before = h.status().await;
    kill(&h.engine).await;

    let calls_before = h.el.calls().len();
    let engine = spawn_engine(&h.el, config(h.dir.path()), h.peers.addresses()).await.unwrap();
    let after = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(after.heads, before.heads);
    assert_eq!(after.next_withdrawal_index, 2);
    let first = h.el.calls()[calls_before].clone();
    assert_eq!(first, Call::Forkchoice(before.heads.state()));

    let built = crate::harness::build(&engine, None, 4, vec![peg_in(3, 1)]).await.unwrap();
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
            ChainMsg::CommitPayload {
                correlation: CorrelationId::new(),
                payload: Box::new(payload.payload),
                sidecar: Box::new(payload.sidecar),
                expected_withdrawals: payload.withdrawals,
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
    let committed = crate::harness::commit(&engine, &built).await.unwrap();
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
/// engine trusts its own state, brings the EL back to that head, and the chain's re-commit
/// of the block makes it the head again, once.
#[tokio::test]
async fn el_ahead_of_saved_state_is_brought_back() {
    let h = Harness::ready().await;
    h.produce(1, vec![]).await;
    let state_file = h.dir.path().join(STATE_FILE_NAME);
    let saved_at_one = std::fs::read(&state_file).unwrap();
    let (b2, _) = h.produce(2, vec![]).await;
    kill(&h.engine).await;
    std::fs::write(&state_file, saved_at_one).unwrap();
    assert_eq!(h.el.head_number(), 2);

    let engine = spawn_engine(&h.el, config(h.dir.path()), h.peers.addresses()).await.unwrap();
    let status = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(status.heads.head.number, 1);
    assert_eq!(h.el.head_number(), 1, "the EL follows the engine's saved head");
    let committed = crate::harness::commit(&engine, &b2).await.unwrap();
    assert!(committed.head);
    assert_eq!(h.el.head(), b2.payload.block_hash());
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
