//! Every task has an owner that fails with it: a panic in the forkchoice worker or in a task
//! of the execution pool fails the engine with a typed reason, and an engine restarted from
//! the persisted state (what the supervisor does) produces blocks again.

use crate::{
    fake_el::{FakeEl, endpoint},
    harness::{Peers, ask_raw, config, failure, spawn_watched, wait_state},
};
use engine_actor::{ActorError, ChainRequest, status::EngineState};
use engine_client::{breaker::BreakerState, health::EndpointState};
use engine_types::{CorrelationId, Severity};
use ractor::rpc::CallResult;
use std::sync::Arc;

/// A worker job that panics fails the engine with `WorkerStopped` naming the panic; its
/// caller gets an error rather than waiting; a new incarnation on the same state directory
/// resumes from the persisted head and produces the next block.
#[tokio::test]
async fn worker_panic_fails_the_engine_with_a_typed_reason() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(FakeEl::default());
    let peers = Peers::spawn().await;
    let (engine, mut failed) =
        spawn_watched(el.clone(), config(dir.path()), peers.addresses()).await;
    wait_state(&engine, EngineState::Ready).await;
    let built = crate::harness::build(&engine, None, 1, vec![]).await.unwrap();
    let committed = crate::harness::commit(&engine, &built).await.unwrap();

    el.panic_on_next_forkchoice();
    let finalize = ask_raw(&engine, |reply| {
        ChainRequest::SetFinalized {
            correlation: CorrelationId::new(),
            hash: committed.hash,
            reply,
        }
        .into()
    })
    .await;
    assert!(matches!(finalize, CallResult::SenderError), "the caller must get an error");
    let reason = failure(&mut failed).await;
    assert!(
        matches!(&reason, ActorError::WorkerStopped { reason }
            if reason.contains("scripted panic inside a forkchoice worker job")),
        "{reason:?}"
    );
    assert_eq!(reason.severity(), Severity::Reset);

    let (engine, _failed) = spawn_watched(el.clone(), config(dir.path()), peers.addresses()).await;
    let status = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(status.heads.head.hash, committed.hash, "resumed from the persisted state");
    let built = crate::harness::build(&engine, None, 2, vec![]).await.unwrap();
    let committed = crate::harness::commit(&engine, &built).await.unwrap();
    assert!(committed.head && committed.number == 2, "{committed:?}");
}

/// The peg-out scan lane belongs to the forkchoice worker: a panic in it ends the worker,
/// which fails the engine with `WorkerStopped` naming the lane and the panic; the commit had
/// answered already, and the restarted engine delivers the block's burns (still owed in the
/// persisted state) to the Bridge.
#[tokio::test]
async fn scan_lane_panic_fails_the_engine_and_the_burns_stay_owed() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(FakeEl::default());
    let mut peers = Peers::spawn().await;
    let (engine, mut failed) =
        spawn_watched(el.clone(), config(dir.path()), peers.addresses()).await;
    wait_state(&engine, EngineState::Ready).await;
    let built = crate::harness::build(&engine, None, 1, vec![]).await.unwrap();
    let sats = engine_types::primitives::U256::from(2_000_000u64)
        * engine_types::primitives::U256::from(engine_types::constants::WEI_PER_SAT);
    let address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let user = engine_types::primitives::Address::repeat_byte(0x42);
    el.next_block_receipts(vec![crate::fake_el::pegout_receipt(1, user, address, sats)]);
    el.panic_on_next_receipts();
    let committed = crate::harness::commit(&engine, &built).await.unwrap();
    assert!(committed.head);
    let reason = failure(&mut failed).await;
    assert!(
        matches!(&reason, ActorError::WorkerStopped { reason }
            if reason.contains("peg-out scan lane")
                && reason.contains("scripted panic inside the peg-out scan lane")),
        "{reason:?}"
    );
    assert!(peers.bridge_rx.try_recv().is_err(), "nothing was delivered");

    let (engine, _failed) = spawn_watched(el.clone(), config(dir.path()), peers.addresses()).await;
    wait_state(&engine, EngineState::Ready).await;
    let event = tokio::time::timeout(crate::harness::DEADLINE, peers.bridge_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.block_hash, committed.hash);
    assert_eq!(event.payable.len(), 1);
}

/// A pool task that panics (its endpoint's panic counter grows) fails the engine at its next
/// tick with `PoolTaskPanicked` naming the endpoint; a new incarnation takes the counter as
/// it finds it and produces blocks.
#[tokio::test]
async fn pool_task_panic_fails_the_engine_with_a_typed_reason() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(FakeEl::default());
    let peers = Peers::spawn().await;
    let (engine, mut failed) =
        spawn_watched(el.clone(), config(dir.path()), peers.addresses()).await;
    wait_state(&engine, EngineState::Ready).await;

    let mut panicked = endpoint("fake", EndpointState::Synced, BreakerState::Closed);
    panicked.panics = 1;
    panicked.last_error = Some("a lane task panicked: boom".into());
    el.set_endpoints(vec![panicked]);
    let reason = failure(&mut failed).await;
    assert!(
        matches!(&reason, ActorError::PoolTaskPanicked { endpoint, panics: 1, .. }
            if endpoint == "fake"),
        "{reason:?}"
    );
    assert!(reason.to_string().contains("boom"), "{reason}");
    assert_eq!(reason.severity(), Severity::Reset);

    let (engine, mut failed) =
        spawn_watched(el.clone(), config(dir.path()), peers.addresses()).await;
    wait_state(&engine, EngineState::Ready).await;
    let built = crate::harness::build(&engine, None, 1, vec![]).await.unwrap();
    assert!(crate::harness::commit(&engine, &built).await.unwrap().head);
    assert!(failed.try_recv().is_err(), "the new incarnation must not fail on an old panic");
}
