//! Metrics of the engine actor, read from a thread-local debugging recorder (the tests'
//! runtime is single-threaded, so every task of the actor records on this thread).

use crate::{
    fake_el::{FakeEl, Fault, Op},
    harness::{Harness, peg_in, set_finalized},
};
use engine_actor::{metrics::*, status::EngineState};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::sync::Arc;

type Metrics = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// One snapshot (taking it drains the histograms, so take it once).
fn take(snapshotter: &Snapshotter) -> Metrics {
    snapshotter.snapshot().into_vec()
}

fn value<'a>(snapshot: &'a Metrics, name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    snapshot.iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let matches = key.name() == name
            && labels.iter().all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v));
        matches.then_some(value)
    })
}

fn histogram_len(snapshotter: &Metrics, name: &str) -> usize {
    match value(snapshotter, name, &[]) {
        Some(DebugValue::Histogram(samples)) => samples.len(),
        other => panic!("{name}: {other:?}"),
    }
}

/// Builds and commits feed the latency histograms, outcome counters, head and finalized
/// gauges, cache counters and the state gauge.
#[tokio::test]
async fn handlers_feed_the_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let h = Harness::ready().await;
    let (b1, _) = h.produce(1, vec![peg_in(1, 1)]).await;
    h.produce(2, vec![]).await;
    set_finalized(&h.engine, b1.payload.block_hash()).await.unwrap();
    h.el.fault(Op::Build, Fault::timeout());
    h.build(3, vec![]).await.unwrap_err();
    h.status().await;
    let snapshotter = take(&snapshotter);

    assert_eq!(histogram_len(&snapshotter, BUILD_SECONDS), 3);
    assert_eq!(histogram_len(&snapshotter, COMMIT_SECONDS), 2);
    let ok = [("message", "build_payload"), ("outcome", "ok")];
    assert_eq!(value(&snapshotter, MESSAGES, &ok), Some(&DebugValue::Counter(2)));
    let timeout = [("message", "build_payload"), ("outcome", "timeout")];
    assert_eq!(value(&snapshotter, MESSAGES, &timeout), Some(&DebugValue::Counter(1)));
    assert_eq!(value(&snapshotter, HEAD_NUMBER, &[]), Some(&DebugValue::Gauge(2.0.into())));
    assert_eq!(value(&snapshotter, FINALIZED_NUMBER, &[]), Some(&DebugValue::Gauge(1.0.into())));
    assert_eq!(value(&snapshotter, CACHE_ENTRIES, &[]), Some(&DebugValue::Gauge(2.0.into())));
    assert_eq!(
        value(&snapshotter, STATE, &[]),
        Some(&DebugValue::Gauge(EngineState::Ready.gauge().into()))
    );
}

/// An EL unreachable at start puts the engine in Error; the tick retries and it becomes
/// Ready once the EL answers.
#[tokio::test]
async fn unreachable_el_at_start_recovers() {
    let el = Arc::new(FakeEl::default());
    el.fault(Op::Forkchoice, Fault::timeout());
    let h = Harness::start(el).await;
    let status = h.wait_state(EngineState::Error).await;
    assert!(
        matches!(status.el, engine_actor::status::ElCondition::Unreachable(_)),
        "{:?}",
        status.el
    );
    h.wait_state(EngineState::Ready).await;
}
