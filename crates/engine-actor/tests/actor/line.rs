//! The Chain's direct line to the forkchoice worker: requests sent down it are routed as
//! through the mailbox, it reaches whichever incarnation runs, and a worker that stopped
//! still fails the actor, at once.

use crate::{
    fake_el::FakeEl,
    harness::{DEADLINE, Peers, config, eventually, failure, spawn_on_line, wait_state},
};
use engine_actor::{
    ActorError, ChainLine, ChainRequest,
    line::LineError,
    messages::{BuiltPayload, Committed},
    status::EngineState,
};
use engine_types::{CorrelationId, Severity, primitives::B256};
use std::{sync::Arc, time::Duration};

async fn build(line: &ChainLine, timestamp: u64) -> Result<BuiltPayload, LineError> {
    let request = |reply| ChainRequest::BuildPayload {
        correlation: CorrelationId::new(),
        parent: None,
        timestamp,
        peg_ins: Vec::new(),
        fee_recipient: None,
        prev_randao: None,
        reply,
    };
    line.call(request, DEADLINE).await.map(|answer| answer.expect("the build succeeds"))
}

async fn commit(line: &ChainLine, built: &BuiltPayload) -> Committed {
    let id = built.payload_id;
    let request =
        |reply| ChainRequest::CommitBuilt { correlation: CorrelationId::new(), id, reply };
    line.call(request, DEADLINE).await.expect("answered").expect("the commit succeeds")
}

async fn finalize(line: &ChainLine, hash: B256) -> Result<(), LineError> {
    let request =
        |reply| ChainRequest::SetFinalized { correlation: CorrelationId::new(), hash, reply };
    line.call(request, DEADLINE).await.map(|_answer| ())
}

/// No engine yet: `NotConnected` at once. Connected: a build and its commit down the line
/// move the head the mailbox reports. A job that panics: its caller gets `Stopped`, the
/// engine fails with `WorkerStopped`, and the line is free again (`NotConnected`). The next
/// incarnation, given the same line, reconnects it and builds on the persisted head.
#[tokio::test]
async fn the_line_reaches_each_incarnation_and_never_a_dead_one() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(FakeEl::default());
    let peers = Peers::spawn().await;
    let line = ChainLine::new();
    assert_eq!(build(&line, 1).await.unwrap_err(), LineError::NotConnected);
    assert_eq!(LineError::NotConnected.severity(), Severity::Retry);

    let (engine, mut failed) =
        spawn_on_line(el.clone(), config(dir.path()), peers.addresses(), line.clone()).await;
    assert!(line.is_connected());
    wait_state(&engine, EngineState::Ready).await;
    let built = build(&line, 1).await.unwrap();
    let committed = commit(&line, &built).await;
    assert!(committed.head && committed.number == 1, "{committed:?}");
    let status = crate::harness::status(&engine).await;
    assert_eq!(status.heads.head.hash, committed.hash, "the mailbox sees what the line did");

    el.panic_on_next_forkchoice();
    assert_eq!(finalize(&line, committed.hash).await.unwrap_err(), LineError::Stopped);
    let reason = failure(&mut failed).await;
    assert!(matches!(reason, ActorError::WorkerStopped { .. }), "{reason:?}");
    eventually("the failed engine to leave the line", || {
        let connected = line.is_connected();
        async move { !connected }
    })
    .await;
    assert_eq!(build(&line, 2).await.unwrap_err(), LineError::NotConnected);

    let (engine, _failed) =
        spawn_on_line(el.clone(), config(dir.path()), peers.addresses(), line.clone()).await;
    let status = wait_state(&engine, EngineState::Ready).await;
    assert_eq!(status.heads.head.hash, committed.hash, "resumed from the persisted state");
    let built = build(&line, 2).await.unwrap();
    let committed = commit(&line, &built).await;
    assert!(committed.head && committed.number == 2, "{committed:?}");
}

/// With ticks an hour apart, nothing but the line's nudge makes the actor look at its worker:
/// a request that finds the queue of a worker that ended gets `Stopped` and the engine fails
/// with `WorkerStopped` at once.
#[tokio::test]
async fn a_closed_queue_met_down_the_line_fails_the_engine_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(FakeEl::default());
    let peers = Peers::spawn().await;
    let line = ChainLine::new();
    let mut config = config(dir.path());
    config.tick_interval = Duration::from_secs(3600);
    let (engine, mut failed) =
        spawn_on_line(el.clone(), config, peers.addresses(), line.clone()).await;
    wait_state(&engine, EngineState::Ready).await;
    let built = build(&line, 1).await.unwrap();
    let committed = commit(&line, &built).await;

    el.panic_on_next_forkchoice();
    assert_eq!(finalize(&line, committed.hash).await.unwrap_err(), LineError::Stopped);
    // The answer was dropped while the worker unwound; its queue closes in the same unwind.
    // Each further request finds it closed (or, in that instant, is dropped with it).
    let mut reason = None;
    for _ in 0..50 {
        assert_eq!(finalize(&line, committed.hash).await.unwrap_err(), LineError::Stopped);
        if let Ok(Some(Some(failure))) =
            tokio::time::timeout(Duration::from_millis(100), failed.recv()).await
        {
            reason = Some(failure);
            break;
        }
    }
    let reason = reason.expect("the engine failed after a request met the closed queue");
    assert!(matches!(reason, ActorError::WorkerStopped { .. }), "{reason:?}");
}
