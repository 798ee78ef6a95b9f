//! One trace per slot: the OpenTelemetry parent that makes a correlation id the trace id of
//! a span and of everything under it.
//!
//! engine-client sends the correlation id to the execution client as the trace id of each
//! request's `traceparent` (`engine_client::traceparent::TraceParent`: the id, left-padded to
//! 128 bits) and carries no OpenTelemetry (it stays light). Here, where the exporter lives,
//! a slot's root span is given a *remote* parent with that same trace id, so the spans the
//! node exports for the slot and the `traceparent` the execution client receives name one
//! trace.

use engine_actor::client::traceparent::TraceParent;
use engine_types::CorrelationId;
use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};

/// The remote parent context of `correlation`'s trace: trace id = the correlation id (as
/// engine-client maps it into `traceparent`), a random non-zero span id, sampled.
pub(crate) fn remote_parent(correlation: CorrelationId) -> Context {
    let ids = TraceParent::new(Some(correlation), rand::random());
    let remote = SpanContext::new(
        TraceId::from(ids.trace_id),
        SpanId::from(ids.span_id),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    Context::new().with_remote_span_context(remote)
}

/// Puts `span` (not entered yet) in `correlation`'s trace ([`remote_parent`]). Without an
/// OpenTelemetry layer (no `--otlp-endpoint`) or with the span filtered out there is no
/// trace to join, which is fine; a span already started is a bug of the caller, logged.
pub(crate) fn follow_correlation(span: &tracing::Span, correlation: CorrelationId) {
    match span.set_parent(remote_parent(correlation)) {
        Ok(()) | Err(SetParentError::LayerNotFound | SetParentError::SpanDisabled) => {}
        Err(e) => tracing::debug!(error = %e, %correlation, "span not joined to its trace"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_actor::client::traceparent::with_correlation;

    /// The parent's trace id is the one engine-client sends in `traceparent` for the same
    /// correlation id; its span id is not zero, and it is remote and sampled.
    #[tokio::test]
    async fn the_parent_is_the_traceparent_trace() {
        let correlation = CorrelationId(0x00c0_ffee);
        let cx = remote_parent(correlation);
        let parent = cx.span().span_context().clone();
        let header = with_correlation(correlation, async { TraceParent::for_request() }).await;
        assert_eq!(parent.trace_id(), TraceId::from(header.trace_id));
        assert_eq!(format!("{:032x}", header.trace_id), format!("{}", parent.trace_id()));
        assert_ne!(parent.span_id(), SpanId::INVALID);
        assert!(parent.is_remote() && parent.is_sampled() && parent.is_valid());
        assert_ne!(remote_parent(correlation).span().span_context().span_id(), parent.span_id());
    }
}
