//! One trace per slot: a build and a commit sent in a slot's span, with the slot's
//! correlation id, produce spans that all carry the trace id of that correlation id, and the
//! execution layer receives it in the `traceparent` of its forkchoiceUpdated, getPayload and
//! newPayload calls.
//!
//! The slot's root span is set up here the way the node's Chain actor must: its OpenTelemetry
//! parent is a remote context whose trace id is the correlation id (engine-client's mapping,
//! `traceparent.rs`), so the exporter's trace and the EL's `traceparent` agree.

use crate::harness::{ElAddress, Node, pool_port};
use engine_actor::status::EngineState;
use engine_testkit::ElPorts;
use engine_testkit::{MockEl, MockElConfig};
use engine_types::{CorrelationId, ForkSchedule, config::ChainConfig};
use opentelemetry::{
    Context,
    trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
    },
};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SdkTracerProvider, SpanData, SpanExporter},
};
use std::sync::{Arc, Mutex};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Keeps every exported span in memory.
#[derive(Debug, Clone, Default)]
struct Captured(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Captured {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// The W3C trace id of a correlation id, as engine-client puts it in `traceparent`.
fn trace_id_of(correlation: CorrelationId) -> TraceId {
    TraceId::from(u128::from(correlation.0))
}

/// A build and a commit in one slot span: one trace, whose id is the correlation id, from the
/// engine's handler down to the EL's `traceparent`.
// One thread: the capturing subscriber is this thread's default, and every task of the
// engine, its pool and the mock EL runs on it.
#[tokio::test(flavor = "current_thread")]
async fn a_slot_is_one_trace_down_to_the_el() {
    let exporter = Captured::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let address = ElAddress {
        engine_url: el.engine_url(),
        public_url: el.public_url(),
        jwt_hex: el.jwt_secret_hex(),
    };
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        pool_port(&[address], ForkSchedule::default()),
        ChainConfig::default(),
        dir.path(),
    )
    .await;
    node.wait_state(&[EngineState::Ready]).await;
    el.clear_calls();

    // The slot's root span, as the Chain actor makes it.
    let correlation = CorrelationId::new();
    let slot = tracing::info_span!("slot", %correlation);
    let remote = SpanContext::new(
        trace_id_of(correlation),
        SpanId::from(0x5107u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    slot.set_parent(Context::new().with_remote_span_context(remote)).unwrap();
    let timestamp = el.genesis().header.timestamp + 2;
    let committed = node.slot(correlation, timestamp).instrument(slot).await;
    assert!(committed.head);

    // The EL saw the correlation id as the trace id of every call of the slot.
    let expected = format!("00-{:032x}-", u128::from(correlation.0));
    let mut methods = Vec::new();
    for call in el.all_calls().iter().filter(|c| c.method.starts_with("engine_")) {
        let traceparent =
            call.headers.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if traceparent.starts_with(&expected) {
            methods.push(call.method.clone());
        }
    }
    for method in ["engine_forkchoiceUpdated", "engine_getPayload", "engine_newPayload"] {
        assert!(
            methods.iter().any(|m| m.starts_with(method)),
            "no {method} with the slot's trace id {expected}: {methods:?}"
        );
    }

    // Every span of the slot (the engine's jobs and each call to the EL) is in its trace.
    node.stop().await;
    provider.force_flush().unwrap();
    let spans = exporter.0.lock().unwrap().clone();
    let in_slot: Vec<&SpanData> =
        spans.iter().filter(|s| s.span_context.trace_id() == trace_id_of(correlation)).collect();
    let names: Vec<String> = in_slot.iter().map(|s| s.name.to_string()).collect();
    assert!(names.iter().any(|n| n == "slot"), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| *n == "engine_forkchoice").count(),
        2,
        "the build and the commit jobs: {names:?}"
    );
    let calls: Vec<String> = in_slot
        .iter()
        .filter(|s| s.name == "engine_client.call")
        .filter_map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "method")
                .map(|kv| kv.value.to_string())
        })
        .collect();
    for method in ["engine_forkchoiceUpdated", "engine_getPayload", "engine_newPayload"] {
        assert!(calls.iter().any(|m| m == method), "no {method} span in the slot: {calls:?}");
    }
    // And no call the slot caused went to another trace.
    let elsewhere: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "engine_forkchoice")
        .filter(|s| s.span_context.trace_id() != trace_id_of(correlation))
        .filter(|s| {
            s.attributes.iter().any(|kv| {
                kv.key.as_str() == "correlation" && kv.value.to_string() == correlation.to_string()
            })
        })
        .collect();
    assert!(elsewhere.is_empty(), "slot jobs outside its trace: {elsewhere:?}");
}
