//! Backoff between restarts, observed on a crash-looping child with tokio's clock paused.

use std::time::Duration;

use engine_supervision::{
    backoff::BackoffPolicy,
    intensity::IntensityLimit,
    policy::{ChildPolicy, Strategy, SupervisorPolicy},
    supervisor::{ChildSpec, ChildState},
    tree::SupervisorSpec,
};

use crate::harness::{Behavior, Log, eventually, eventually_status, spawn, toy};

/// Delays between restarts double from `initial` and stop growing at `max`; while waiting, the
/// child shows as in backoff with the chosen delay.
#[tokio::test(start_paused = true)]
async fn restart_delays_grow_and_are_capped() {
    let log = Log::default();
    let policy = SupervisorPolicy {
        strategy: Strategy::OneForOne,
        intensity: IntensityLimit { max_restarts: 100, within: Duration::from_secs(3600) },
        backoff: BackoffPolicy {
            initial: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_millis(400),
            jitter: 0.0,
            reset_after: Duration::from_secs(3600),
        },
    };
    let spec = SupervisorSpec::new("backoff.sup", policy).child(ChildSpec::actor(
        "backoff.child",
        ChildPolicy::default(),
        toy(&log, Behavior::crash_on_start(5)),
    ));
    let (sup, _join, _events) = spawn(spec).await;

    eventually_status(&sup, "first backoff", |s| {
        s.children[0].state == ChildState::Backoff { delay: Duration::from_millis(100) }
    })
    .await;
    eventually("six starts", || log.count("start:backoff.child") == 6).await;

    let starts = log.times("start:backoff.child");
    let gaps: Vec<u128> = starts.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    let expected = [100, 200, 400, 400, 400];
    for (gap, want) in gaps.iter().zip(expected) {
        // Paused time: the only slack is the 2 ms polling of `eventually`, which never
        // advances the clock past a pending restart timer.
        assert!((want..want + 10).contains(gap), "gaps {gaps:?}, expected {expected:?}");
    }
    sup.stop_and_wait(None, None).await.unwrap();
}

/// A child that ran longer than `reset_after` starts its backoff over from `initial`.
#[tokio::test(start_paused = true)]
async fn backoff_resets_after_a_long_run() {
    let log = Log::default();
    let policy = SupervisorPolicy {
        strategy: Strategy::OneForOne,
        intensity: IntensityLimit { max_restarts: 100, within: Duration::from_secs(3600) },
        backoff: BackoffPolicy {
            initial: Duration::from_millis(100),
            factor: 10.0,
            max: Duration::from_secs(60),
            jitter: 0.0,
            reset_after: Duration::from_secs(5),
        },
    };
    let name = "reset.child";
    let spec = SupervisorSpec::new("reset.sup", policy).child(ChildSpec::actor(
        name,
        ChildPolicy::default(),
        toy(&log, Behavior::crash_on_start(1)),
    ));
    let (sup, _join, _events) = spawn(spec).await;
    // First crash: 100 ms, then the child runs.
    eventually("restarted once", || log.count(&format!("start:{name}")) == 2).await;

    tokio::time::advance(Duration::from_secs(10)).await;
    crate::harness::toy_ref(name).cast(crate::harness::ToyMsg::Panic).unwrap();
    let s = eventually_status(&sup, "in backoff", |s| {
        matches!(s.children[0].state, ChildState::Backoff { .. })
    })
    .await;
    // Without the reset this would be 1 s (second attempt, factor 10).
    assert_eq!(s.children[0].state, ChildState::Backoff { delay: Duration::from_millis(100) });
    sup.stop_and_wait(None, None).await.unwrap();
}
