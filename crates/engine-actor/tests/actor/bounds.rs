//! The engine's queues are bounded and say so: a full forkchoice queue or a full set of
//! query tasks refuses the next request at once with `ActorError::Busy` (Retry), and the
//! work ahead of it is not disturbed; a re-send of the forkchoice state refused by a full
//! queue is not lost.

use crate::{
    fake_el::{Fault, Op},
    harness::{DEADLINE, Peers, ask, config, spawn_engine, wait_for, wait_state},
};
use engine_actor::{ActorError, NetworkRequest, QueryMsg, messages::TxVerdict};
use engine_types::{CorrelationId, Severity, eips::BlockId, primitives::Bytes};
use std::{num::NonZeroUsize, sync::Arc};

/// With the worker held by a slow build and `job_queue` jobs waiting, the next build and
/// the next forkchoice update are refused with Busy at once, naming the bound; the queued
/// builds are not disturbed and all answer once the EL does.
#[tokio::test]
async fn full_forkchoice_queue_refuses_with_busy() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(crate::fake_el::FakeEl::default());
    let peers = Peers::spawn().await;
    let mut config = config(dir.path());
    config.job_queue = NonZeroUsize::new(2).unwrap();
    let engine = spawn_engine(&el, config, peers.addresses()).await.unwrap();
    wait_state(&engine, engine_actor::status::EngineState::Ready).await;

    // The worker takes the first build and waits for the EL.
    let gate = Arc::new(tokio::sync::Notify::new());
    el.fault(Op::Build, Fault::Gate(gate.clone()));
    let mut waiting = Vec::new();
    let spawn_build = |timestamp| {
        let engine = engine.clone();
        tokio::spawn(async move { crate::harness::build(&engine, None, timestamp, vec![]).await })
    };
    waiting.push(spawn_build(1));
    crate::harness::eventually("the worker to run the hung build", || {
        let building = el.calls().iter().any(|c| matches!(c, crate::fake_el::Call::Build { .. }));
        async move { building }
    })
    .await;
    // Two more wait in the queue: it is full.
    waiting.push(spawn_build(2));
    waiting.push(spawn_build(3));
    wait_for(&engine, |s| s.pending_forkchoice == 3, "three forkchoice jobs").await;

    let refused = tokio::time::timeout(DEADLINE, crate::harness::build(&engine, None, 4, vec![]))
        .await
        .expect("a full queue answers at once");
    let busy = ActorError::Busy { queue: "forkchoice queue", limit: 2 };
    assert_eq!(refused.unwrap_err(), busy);
    assert_eq!(busy.severity(), Severity::Retry);
    let genesis = el.genesis();
    let refused = crate::harness::forkchoice(&engine, genesis, genesis, genesis).await;
    assert_eq!(refused.unwrap_err(), busy);
    // The refused requests were not queued: the three before them still wait, and all
    // three are built once the EL answers.
    assert_eq!(crate::harness::status(&engine).await.pending_forkchoice, 3);
    assert!(waiting.iter().all(|w| !w.is_finished()));
    gate.notify_one();
    for w in waiting {
        let built = tokio::time::timeout(DEADLINE, w).await.unwrap().unwrap().unwrap();
        assert_eq!(built.payload.block_number(), 1);
    }
    assert_eq!(crate::harness::status(&engine).await.pending_forkchoice, 0);
}

/// With `max_tasks` queries hung in the EL, the next query is refused with Busy and the next
/// transaction with an Unavailable verdict that says so; the status query (no task) answers.
#[tokio::test]
async fn full_task_set_refuses_with_busy() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(crate::fake_el::FakeEl::default());
    let peers = Peers::spawn().await;
    let mut config = config(dir.path());
    config.max_tasks = NonZeroUsize::new(2).unwrap();
    let engine = spawn_engine(&el, config, peers.addresses()).await.unwrap();
    wait_state(&engine, engine_actor::status::EngineState::Ready).await;

    let get_block = |engine: ractor::ActorRef<engine_actor::EngineMsg>| async move {
        ask(&engine, |reply| {
            QueryMsg::GetBlock {
                correlation: CorrelationId::new(),
                block: BlockId::number(0),
                with_txs: false,
                reply,
            }
            .into()
        })
        .await
    };
    el.fault(Op::Block, Fault::Hang);
    el.fault(Op::Block, Fault::Hang);
    let hung: Vec<_> = (0..2).map(|_| tokio::spawn(get_block(engine.clone()))).collect();
    wait_for(&engine, |s| s.running_tasks == 2, "two hung queries").await;

    let refused = get_block(engine.clone()).await;
    assert_eq!(refused.unwrap_err(), ActorError::Busy { queue: "query tasks", limit: 2 });
    let verdict = ask(&engine, |reply| {
        NetworkRequest::ValidateTransaction {
            correlation: CorrelationId::new(),
            raw: Bytes::from_static(&[0x02, 0x01]),
            peer: "p".into(),
            reply,
        }
        .into()
    })
    .await;
    assert!(
        matches!(&verdict, TxVerdict::Unavailable { reason } if reason.contains("busy")),
        "{verdict:?}"
    );
    // Nothing was added to the set, and the hung ones still run.
    assert_eq!(crate::harness::status(&engine).await.running_tasks, 2);
    assert!(hung.iter().all(|h| !h.is_finished()));
}

/// An endpoint comes back (its return counter grows) while the forkchoice queue is full and
/// reports Synced all along, so the engine never sees it lagging: the reconcile each tick
/// tries to queue is refused, but not forgotten; once the queue frees, the forkchoice state
/// is re-sent, once.
#[tokio::test]
async fn a_return_seen_while_the_queue_is_full_is_re_sent_once_it_frees() {
    use crate::fake_el::{Call, endpoint};
    use engine_client::{breaker::BreakerState, health::EndpointState};
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(crate::fake_el::FakeEl::default());
    let peers = Peers::spawn().await;
    let mut config = config(dir.path());
    config.job_queue = NonZeroUsize::new(1).unwrap();
    let tick = config.tick_interval;
    let engine = spawn_engine(&el, config, peers.addresses()).await.unwrap();
    let heads = wait_state(&engine, engine_actor::status::EngineState::Ready).await.heads;
    let forkchoices =
        || el.calls().into_iter().filter(|c| matches!(c, Call::Forkchoice(_))).collect::<Vec<_>>();
    let before = forkchoices().len();

    // The worker holds a build, and one more waits: the queue is full.
    let gate = Arc::new(tokio::sync::Notify::new());
    el.fault(Op::Build, Fault::Gate(gate.clone()));
    let spawn_build = |timestamp| {
        let engine = engine.clone();
        tokio::spawn(async move { crate::harness::build(&engine, None, timestamp, vec![]).await })
    };
    let first = spawn_build(1);
    crate::harness::eventually("the worker to run the held build", || {
        let building = el.calls().iter().any(|c| matches!(c, Call::Build { .. }));
        async move { building }
    })
    .await;
    let second = spawn_build(2);
    wait_for(&engine, |s| s.pending_forkchoice == 2, "a full queue").await;

    // The EL restarts behind a Synced endpoint; several ticks see the return while the
    // queue is full (each tick reads the endpoints once).
    let mut back = endpoint("fake", EndpointState::Synced, BreakerState::Closed);
    back.reconnects = 1;
    let reads = el.endpoint_reads();
    el.set_endpoints(vec![back]);
    crate::harness::eventually("three ticks to see the return", || {
        let ticked = el.endpoint_reads() >= reads + 3;
        async move { ticked }
    })
    .await;
    assert_eq!(forkchoices().len(), before, "nothing could be queued yet");
    assert!(!first.is_finished() && !second.is_finished());

    // The queue frees: the return is reconciled, and the forkchoice state re-sent.
    gate.notify_one();
    for built in [first, second] {
        tokio::time::timeout(DEADLINE, built).await.unwrap().unwrap().unwrap();
    }
    crate::harness::eventually("the forkchoice state to be re-sent", || {
        let sent = forkchoices().len() > before;
        async move { sent }
    })
    .await;
    assert_eq!(forkchoices()[before..], [Call::Forkchoice(heads.state())]);
    // Once per return: later ticks send nothing more.
    tokio::time::sleep(tick * 10).await;
    assert_eq!(forkchoices().len(), before + 1, "once per return");
}
