//! Restarts, escalations and backoff show up in the metrics under their documented names.

use std::time::Duration;

use engine_supervision::{
    intensity::IntensityLimit,
    metrics::{BACKOFF_SECONDS, ESCALATIONS_TOTAL, RESTARTS_TOTAL},
    policy::{ChildPolicy, Strategy, SupervisorPolicy},
    supervisor::ChildSpec,
    tree::SupervisorSpec,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use ractor::Actor;

use crate::harness::{Behavior, Log, Parent, ToyMsg, child, eventually, fast, spawn, toy, toy_ref};

/// The value of metric `name` whose labels include all of `labels`.
fn value(snapshotter: &Snapshotter, name: &str, labels: &[(&str, &str)]) -> Option<DebugValue> {
    snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let matches = key.name() == name
            && labels.iter().all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v));
        matches.then_some(value)
    })
}

/// A restart counts by child and reason, resets the backoff gauge, and an escalation counts
/// once. The recorder is thread-local, which covers every actor of this single-threaded
/// runtime.
#[tokio::test]
async fn restarts_and_escalations_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    engine_supervision::metrics::describe();

    let log = Log::default();
    let spec = SupervisorSpec::new("metrics.sup", fast(Strategy::OneForOne))
        .child(child("metrics.child", &log));
    let (sup, _join, _events) = spawn(spec).await;
    toy_ref("metrics.child").cast(ToyMsg::Panic).unwrap();
    eventually("restarted", || log.count("start:metrics.child") == 2).await;

    let restart = [("supervisor", "metrics.sup"), ("child", "metrics.child"), ("reason", "failed")];
    assert_eq!(value(&snapshotter, RESTARTS_TOTAL, &restart), Some(DebugValue::Counter(1)));
    let gauge = value(&snapshotter, BACKOFF_SECONDS, &[("child", "metrics.child")]);
    assert_eq!(gauge, Some(DebugValue::Gauge(0.0.into())));
    sup.stop_and_wait(None, None).await.unwrap();

    let policy = SupervisorPolicy {
        intensity: IntensityLimit { max_restarts: 0, within: Duration::from_secs(60) },
        ..fast(Strategy::OneForOne)
    };
    let spec = SupervisorSpec::new("metrics.esc", policy).child(ChildSpec::actor(
        "metrics.crasher",
        ChildPolicy::default(),
        toy(&log, Behavior::crash_on_start(u32::MAX)),
    ));
    let (parent, _) = Actor::spawn(None, Parent, (spec, log.clone())).await.unwrap();
    eventually("escalated", || log.entries().iter().any(|e| e.starts_with("parent:failed"))).await;

    let esc = value(&snapshotter, ESCALATIONS_TOTAL, &[("supervisor", "metrics.esc")]);
    assert_eq!(esc, Some(DebugValue::Counter(1)));
    parent.stop(None);
}
