//! The Alys V2 tree: its declared shape and its live status, as text.

use std::{sync::Arc, time::Duration};

use engine_supervision::{
    supervisor::{ChildState, collect_status},
    tree::{V2Factories, alys_v2_tree, names},
};

use crate::harness::{Log, ToyMsg, eventually, toy, toy_ref};

fn factories(log: &Log) -> V2Factories {
    V2Factories {
        chain: toy(log, Arc::default()),
        engine: toy(log, Arc::default()),
        bridge: Some(toy(log, Arc::default())),
        storage: Some(toy(log, Arc::default())),
        network: Some(toy(log, Arc::default())),
    }
}

/// The declared V2 tree renders like the design's picture.
#[test]
fn v2_tree_renders_as_text() {
    let tree = alys_v2_tree(factories(&Log::default()));
    insta::assert_snapshot!("v2_tree", tree.to_string());
}

/// The live V2 tree starts consensus first, restarts chain and engine together (one-for-all)
/// when the chain panics, and renders its status with restart counts.
#[tokio::test]
async fn v2_tree_runs_and_renders_live_status() {
    let log = Log::default();
    let tree = alys_v2_tree(factories(&log));
    let (root, join) = tree.spawn().await.unwrap();
    assert_eq!(
        log.entries(),
        vec![
            format!("start:{}", names::CHAIN_ACTOR),
            format!("start:{}", names::ENGINE_ACTOR),
            format!("start:{}", names::BRIDGE_ACTOR),
            format!("start:{}", names::STORAGE_ACTOR),
            format!("start:{}", names::NETWORK_ACTOR),
        ]
    );

    toy_ref(names::CHAIN_ACTOR).cast(ToyMsg::Panic).unwrap();
    eventually("engine restarted with chain", || {
        log.count(&format!("start:{}", names::ENGINE_ACTOR)) == 2
    })
    .await;

    let status = collect_status(&root, Duration::from_secs(5)).await.unwrap();
    let consensus = status.children[0].supervisor.as_ref().unwrap();
    assert!(consensus.children.iter().all(|c| c.state == ChildState::Running && c.restarts == 1));
    insta::assert_snapshot!("v2_tree_live", status.to_string());

    let mark = log.len();
    ractor::call_t!(root, engine_supervision::supervisor::SupervisorMsg::Shutdown, 30_000).unwrap();
    join.await.unwrap();
    let stops: Vec<_> = log.since(mark).into_iter().filter(|e| e.starts_with("stop:")).collect();
    assert_eq!(
        stops,
        vec![
            format!("stop:{}", names::NETWORK_ACTOR),
            format!("stop:{}", names::STORAGE_ACTOR),
            format!("stop:{}", names::BRIDGE_ACTOR),
            format!("stop:{}", names::ENGINE_ACTOR),
            format!("stop:{}", names::CHAIN_ACTOR),
        ]
    );
}
