//! The W3C `traceparent` header sent with every request, so an execution client's traces can
//! be joined to ours.
//!
//! This crate carries no OpenTelemetry context (pulling `opentelemetry` in would double a
//! downstream user's tree for one header). Instead:
//!
//! - the **trace id** is the caller's [`CorrelationId`], left-padded with zeros to 128 bits —
//!   the usual mapping of a 64-bit trace id to W3C's 128 bits — so every call made for one
//!   block shares a trace id that equals the correlation id in our logs. The caller sets it
//!   for a future with [`with_correlation`]; without one, each request gets a random trace id;
//! - the **parent id** (span id) is random per request, and recorded on the request's span;
//! - the flags are `01` (sampled).

use engine_types::CorrelationId;
use std::future::Future;

tokio::task_local! {
    static CORRELATION: CorrelationId;
}

/// Runs `fut` with `id` as the correlation id of every request it sends.
pub async fn with_correlation<F: Future>(id: CorrelationId, fut: F) -> F::Output {
    CORRELATION.scope(id, fut).await
}

/// Runs `fut` with `id` as its correlation id when there is one (a task that hands work to
/// another task carries its [`current_correlation`] along this way).
pub(crate) async fn scoped<F: Future>(id: Option<CorrelationId>, fut: F) -> F::Output {
    match id {
        Some(id) => with_correlation(id, fut).await,
        None => fut.await,
    }
}

/// The correlation id set by [`with_correlation`] for the current task, if any.
pub fn current_correlation() -> Option<CorrelationId> {
    CORRELATION.try_with(|id| *id).ok()
}

/// One request's trace context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// 128-bit trace id.
    pub trace_id: u128,
    /// 64-bit id of the request's span.
    pub span_id: u64,
}

impl TraceParent {
    /// A context for a new request: the current correlation id (or a random trace id) and a
    /// random span id.
    pub fn for_request() -> Self {
        Self::new(current_correlation(), rand::random())
    }

    /// A context from a correlation id (or a random trace id when `None`) and a span id.
    /// Zero ids are invalid in W3C and replaced by random ones.
    pub fn new(correlation: Option<CorrelationId>, span_id: u64) -> Self {
        let trace_id = match correlation {
            Some(CorrelationId(id)) if id != 0 => u128::from(id),
            _ => nonzero(rand::random::<u128>()),
        };
        Self { trace_id, span_id: nonzero(span_id) }
    }

    /// The header value: `00-{trace id}-{span id}-01`.
    pub fn header_value(&self) -> String {
        format!("00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }
}

fn nonzero<T: PartialEq + From<u8>>(v: T) -> T {
    if v == T::from(0) { T::from(1) } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header has the W3C layout, with the correlation id as the low half of the trace id.
    #[test]
    fn header_layout() {
        let tp = TraceParent::new(Some(CorrelationId(0xabc)), 0x1234);
        assert_eq!(tp.header_value(), "00-00000000000000000000000000000abc-0000000000001234-01");
        let zero = TraceParent::new(Some(CorrelationId(0)), 0);
        assert_ne!(zero.trace_id, 0);
        assert_ne!(zero.span_id, 0);
        assert_eq!(zero.header_value().len(), 55);
    }

    /// Inside `with_correlation` the trace id follows the scope; outside it is random.
    #[tokio::test]
    async fn correlation_scope() {
        assert_eq!(current_correlation(), None);
        let tp = with_correlation(CorrelationId(7), async { TraceParent::for_request() }).await;
        assert_eq!(tp.trace_id, 7);
        let a = TraceParent::for_request();
        let b = TraceParent::for_request();
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.span_id, b.span_id);
    }
}
