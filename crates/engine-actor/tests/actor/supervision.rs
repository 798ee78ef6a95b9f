//! The engine under the V2 supervision tree: a panicking handler, or a panicking job of its
//! forkchoice worker, is restarted with its state intact and its pending callers answered
//! with an error; a dead Chain peer fails it.

use crate::{
    fake_el::{FakeEl, Fault, Op},
    harness::{DEADLINE, Peers, ask_raw, config, eventually, spawn_engine, wait_state},
};
use engine_actor::{
    ChainLine, ChainRequest, EngineArgs, EngineMsg, QueryMsg,
    peers::{BurnEventsDetected, StoreExecutionData},
    status::EngineState,
    tree::{PeerFactories, engine_v2_tree, registry_addresses},
};
use engine_supervision::{supervisor::ChildFactory, tree::names};
use engine_types::CorrelationId;
use ractor::{ActorRef, ActorStatus, registry, rpc::CallResult};
use std::sync::Arc;

fn engine_ref() -> Option<ActorRef<EngineMsg>> {
    registry::where_is(names::ENGINE_ACTOR).map(ActorRef::from)
}

/// A handler that panics takes the engine down; the supervisor restarts it from its
/// persisted state, and the callers waiting on the dead incarnation get an error. Peg-outs
/// reach the Bridge through the registry, before and after the engine's restart and after
/// the Bridge's own. (One test: the tree registers process-wide names.)
#[tokio::test]
async fn panicking_handler_is_restarted_with_state_intact() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(FakeEl::default());
    let chain = ChildFactory::new(|ctx| async move {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        ctx.spawn(crate::harness::RecorderOf::<()>::default(), tx).await
    });
    let (bridge_tx, mut bridge_rx) = tokio::sync::mpsc::unbounded_channel::<BurnEventsDetected>();
    let bridge = ChildFactory::new(move |ctx| {
        let tx = bridge_tx.clone();
        async move { ctx.spawn(crate::harness::RecorderOf::<BurnEventsDetected>::default(), tx).await }
    });
    let state_dir = dir.path().to_path_buf();
    let port = el.clone();
    let tree = engine_v2_tree(
        PeerFactories { chain, bridge: Some(bridge), storage: None, network: None },
        move |_ctx| EngineArgs {
            config: config(&state_dir),
            port: port.clone(),
            peers: registry_addresses::<BurnEventsDetected, StoreExecutionData>(true, false, false),
            line: ChainLine::default(),
        },
    );
    let peg_out = || {
        crate::fake_el::pegout_receipt(
            1,
            engine_types::primitives::Address::repeat_byte(1),
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            engine_types::primitives::U256::from(2_000_000u64)
                * engine_types::primitives::U256::from(engine_types::constants::WEI_PER_SAT),
        )
    };
    let (root, _join) = tree.spawn().await.unwrap();
    let engine = engine_ref().unwrap();
    wait_state(&engine, EngineState::Degraded).await;
    let built = crate::harness::build(&engine, None, 1, vec![]).await.unwrap();
    el.next_block_receipts(vec![peg_out()]);
    crate::harness::commit(&engine, &built).await.unwrap();
    assert_eq!(bridge_rx.recv().await.unwrap().block_number, 1);
    let before = crate::harness::status(&engine).await;
    assert_eq!(before.heads.head.number, 1);

    // A build hangs in the EL, then a handler panics.
    el.fault(Op::Build, Fault::Hang);
    let pending_engine = engine.clone();
    let pending = tokio::spawn(async move {
        ask_raw(&pending_engine, |reply| {
            ChainRequest::BuildPayload {
                correlation: CorrelationId::new(),
                parent: None,
                timestamp: 2,
                peg_ins: vec![],
                fee_recipient: None,
                prev_randao: None,
                reply,
            }
            .into()
        })
        .await
    });
    crate::harness::wait_for(&engine, |s| s.pending_forkchoice == 1, "the hung build").await;
    el.panic_on_next_status();
    let _ = ask_raw(&engine, |reply| {
        QueryMsg::GetStatus { correlation: CorrelationId::new(), reply }.into()
    })
    .await;
    let answer = tokio::time::timeout(DEADLINE, pending).await.unwrap().unwrap();
    assert!(matches!(answer, CallResult::SenderError), "the pending caller must get an error");

    let old = engine.get_id();
    eventually("a new engine incarnation", || {
        let restarted = engine_ref().is_some_and(|e| e.get_id() != old);
        async move { restarted }
    })
    .await;
    let engine = engine_ref().unwrap();
    let after = wait_state(&engine, EngineState::Degraded).await;
    assert_eq!(after.heads, before.heads);

    // The Bridge dies and is restarted by its own supervisor; the next peg-out finds it.
    let bridge = registry::where_is(names::BRIDGE_ACTOR).unwrap();
    let old_bridge = bridge.get_id();
    bridge.kill();
    eventually("a new bridge incarnation", || {
        let restarted =
            registry::where_is(names::BRIDGE_ACTOR).is_some_and(|b| b.get_id() != old_bridge);
        async move { restarted }
    })
    .await;
    let built = crate::harness::build(&engine, None, 2, vec![]).await.unwrap();
    el.next_block_receipts(vec![peg_out()]);
    let committed = crate::harness::commit(&engine, &built).await.unwrap();
    assert_eq!(committed.peg_outs, engine_actor::messages::PegOutReport::Queued);
    assert_eq!(bridge_rx.recv().await.unwrap().block_number, 2);

    // A job of the forkchoice worker panics (not a handler): its caller gets an error, the
    // engine fails at its next message or tick, and the supervisor restarts it from the
    // persisted state, which production continues from.
    let heads = crate::harness::status(&engine).await.heads;
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
    let old = engine.get_id();
    eventually("a new engine incarnation after the worker died", || {
        let restarted = engine_ref().is_some_and(|e| e.get_id() != old);
        async move { restarted }
    })
    .await;
    let engine = engine_ref().unwrap();
    let after = wait_state(&engine, EngineState::Degraded).await;
    assert_eq!(after.heads.head, heads.head, "resumed from the persisted state");
    let built = crate::harness::build(&engine, None, 3, vec![]).await.unwrap();
    assert!(crate::harness::commit(&engine, &built).await.unwrap().head);
    root.stop(None);
}

/// The Chain actor is critical: when it dies, the engine fails (so its supervisor decides).
#[tokio::test]
async fn dead_chain_fails_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let el = Arc::new(FakeEl::default());
    let peers = Peers::spawn().await;
    let engine = spawn_engine(&el, config(dir.path()), peers.addresses()).await.unwrap();
    wait_state(&engine, EngineState::Ready).await;
    peers.chain.stop(None);
    let cell = engine.get_cell();
    eventually("the engine to fail", || {
        let stopped = cell.get_status() == ActorStatus::Stopped;
        async move { stopped }
    })
    .await;
}
