//! Permanent, transient and temporary children.

use std::sync::Arc;

use engine_supervision::{
    policy::{ChildPolicy, RestartKind, Strategy},
    supervisor::{ChildSpec, ChildState},
    tree::SupervisorSpec,
};

use crate::harness::{Log, ToyMsg, eventually, eventually_status, fast, spawn, toy, toy_ref};

fn spec(prefix: &str, restart: RestartKind, log: &Log) -> (SupervisorSpec, String) {
    let name = format!("{prefix}.child");
    let policy = ChildPolicy::default().with_restart(restart);
    let spec = SupervisorSpec::new(format!("{prefix}.sup"), fast(Strategy::OneForOne))
        .child(ChildSpec::actor(&name, policy, toy(log, Arc::default())));
    (spec, name)
}

fn exited(state: &ChildState) -> bool {
    matches!(state, ChildState::Exited { .. })
}

/// A transient child that stops cleanly stays stopped.
#[tokio::test]
async fn transient_clean_stop_is_final() {
    let log = Log::default();
    let (spec, name) = spec("transient-stop", RestartKind::Transient, &log);
    let (sup, _join, _events) = spawn(spec).await;

    toy_ref(&name).cast(ToyMsg::Stop).unwrap();
    let s = eventually_status(&sup, "child exited", |s| exited(&s.children[0].state)).await;

    assert_eq!(s.children[0].restarts, 0);
    assert_eq!(log.count(&format!("start:{name}")), 1);
    assert!(ractor::registry::where_is(name).is_none());
    sup.stop_and_wait(None, None).await.unwrap();
}

/// A transient child that fails is restarted.
#[tokio::test]
async fn transient_failure_is_restarted() {
    let log = Log::default();
    let (spec, name) = spec("transient-fail", RestartKind::Transient, &log);
    let (sup, _join, _events) = spawn(spec).await;

    toy_ref(&name).cast(ToyMsg::Panic).unwrap();
    eventually("restarted", || log.count(&format!("start:{name}")) == 2).await;
    sup.stop_and_wait(None, None).await.unwrap();
}

/// A temporary child is never restarted, even after a failure.
#[tokio::test]
async fn temporary_is_never_restarted() {
    let log = Log::default();
    let (spec, name) = spec("temporary", RestartKind::Temporary, &log);
    let (sup, _join, _events) = spawn(spec).await;

    toy_ref(&name).cast(ToyMsg::Panic).unwrap();
    let s = eventually_status(&sup, "child exited", |s| exited(&s.children[0].state)).await;

    assert_eq!(s.children[0].restarts, 0);
    assert_eq!(log.count(&format!("start:{name}")), 1);
    sup.stop_and_wait(None, None).await.unwrap();
}

/// A permanent child that stops cleanly is restarted all the same.
#[tokio::test]
async fn permanent_clean_stop_is_restarted() {
    let log = Log::default();
    let (spec, name) = spec("permanent-stop", RestartKind::Permanent, &log);
    let (sup, _join, _events) = spawn(spec).await;

    toy_ref(&name).cast(ToyMsg::Stop).unwrap();
    eventually("restarted", || log.count(&format!("start:{name}")) == 2).await;
    sup.stop_and_wait(None, None).await.unwrap();
}
