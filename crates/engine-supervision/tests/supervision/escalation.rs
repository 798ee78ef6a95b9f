//! The intensity limit: past it a supervisor fails itself, once, and its parent decides.

use std::time::Duration;

use engine_supervision::{
    intensity::IntensityLimit,
    policy::{ChildPolicy, Strategy, SupervisorPolicy},
    supervisor::{ChildSpec, ChildState},
    tree::SupervisorSpec,
};
use ractor::Actor;

use crate::harness::{Behavior, Log, Parent, eventually, eventually_status, fast, spawn, toy};

fn limited(max_restarts: u32) -> SupervisorPolicy {
    SupervisorPolicy {
        intensity: IntensityLimit { max_restarts, within: Duration::from_secs(3600) },
        ..fast(Strategy::OneForOne)
    }
}

/// A crash-looping child exhausts the limit; the supervisor fails exactly once, with the
/// intensity error, after the allowed restarts.
#[tokio::test]
async fn intensity_limit_escalates_to_parent_once() {
    let log = Log::default();
    let child = "esc.child";
    let spec = SupervisorSpec::new("esc.sup", limited(3)).child(ChildSpec::actor(
        child,
        ChildPolicy::default(),
        toy(&log, Behavior::crash_on_start(u32::MAX)),
    ));
    let (parent, _join) = Actor::spawn(None, Parent, (spec, log.clone())).await.unwrap();

    eventually("supervisor failed", || log.entries().iter().any(|e| e.starts_with("parent:")))
        .await;

    let reports: Vec<_> = log.entries().into_iter().filter(|e| e.starts_with("parent:")).collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("parent:failed:esc.sup:"), "{reports:?}");
    assert!(reports[0].contains("exceeded its restart intensity"), "{reports:?}");
    // The first start plus the three restarts the limit allows.
    assert_eq!(log.count(&format!("start:{child}")), 4);
    assert!(ractor::registry::where_is("esc.sup").is_none());
    parent.stop(None);
}

/// A nested supervisor that escalates is restarted by its parent supervisor, and the subtree
/// recovers once its child stops crashing.
#[tokio::test]
async fn parent_supervisor_restarts_an_escalated_subtree() {
    let log = Log::default();
    let inner = SupervisorSpec::new("nest.inner", limited(1)).child(ChildSpec::actor(
        "nest.child",
        ChildPolicy::default(),
        // Two crashes exhaust the inner limit (1); the third incarnation is stable.
        toy(&log, Behavior::crash_on_start(2)),
    ));
    let outer = SupervisorSpec::new("nest.outer", fast(Strategy::OneForOne))
        .child(ChildSpec::supervisor(inner, ChildPolicy::default()));
    let (sup, _join, _events) = spawn(outer).await;

    let s = eventually_status(&sup, "inner restarted and running", |s| {
        s.children[0].restarts == 1 && s.children[0].state == ChildState::Running
    })
    .await;
    assert_eq!(s.restarts_in_window, 1);
    assert_eq!(log.count("start:nest.child"), 3);
    sup.stop_and_wait(None, None).await.unwrap();
}

/// Tolerating restarts up to the limit does not escalate.
#[tokio::test]
async fn restarts_within_the_limit_do_not_escalate() {
    let log = Log::default();
    let spec = SupervisorSpec::new("within.sup", limited(3)).child(ChildSpec::actor(
        "within.child",
        ChildPolicy::default(),
        toy(&log, Behavior::crash_on_start(3)),
    ));
    let (sup, _join, _events) = spawn(spec).await;
    let s = eventually_status(&sup, "stable after 3 restarts", |s| {
        s.children[0].restarts == 3 && s.children[0].state == ChildState::Running
    })
    .await;
    assert_eq!(s.restarts_in_window, 3);
    sup.stop_and_wait(None, None).await.unwrap();
}
