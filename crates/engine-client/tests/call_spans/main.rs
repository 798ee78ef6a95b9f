//! The level of the transport's call spans: info for a call made for someone, debug for a
//! call made for no one.
//!
//! Its own test binary because it reads which spans the calls make through a subscriber
//! set for its thread, while tracing keeps, per callsite, whether any subscriber wants it
//! in one process-wide cache: under `cargo test` (threads in one process) another test's
//! calls, made with no subscriber, could register the debug callsite as unwanted first, and
//! this test then saw no debug span (it failed 3 runs in 5 that way). Nextest (a process per
//! test, which the project's runs use) never showed it. Everything talks to 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_client::transport::HttpTransport;
use std::time::Duration;
use tracing::Instrument;

/// A layer that keeps the level of every `engine_client.call` span (the registry under
/// it tracks the current span, as the node's subscriber does).
#[derive(Clone, Default)]
struct CallLevels(std::sync::Arc<std::sync::Mutex<Vec<tracing::Level>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CallLevels {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() == "engine_client.call" {
            self.0.lock().unwrap().push(*attrs.metadata().level());
        }
    }
}

/// A call made for a correlation id or inside a span is an info span (it goes to the
/// trace exporter); a call made for no one, like the periodic upcheck, is a debug span,
/// so it does not start a trace of its own at the default filter.
#[tokio::test]
async fn call_spans_are_info_for_someone_and_debug_for_no_one() {
    use tracing_subscriber::layer::SubscriberExt;
    let levels = CallLevels::default();
    let subscriber = tracing_subscriber::registry().with(levels.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    // Nothing listens on port 1: each call fails at once, after its span was made.
    let transport = HttpTransport::new("http://127.0.0.1:1", None, None, 1024).unwrap();
    let call =
        || transport.call("eth_syncing", &[(); 0], Duration::from_secs(5), &|_: &str| Ok(()));
    assert!(call().await.is_err());
    let correlation = engine_types::CorrelationId(7);
    assert!(engine_client::traceparent::with_correlation(correlation, call()).await.is_err());
    assert!(call().instrument(tracing::info_span!("slot")).await.is_err());
    let calls = levels.0.lock().unwrap().clone();
    assert_eq!(calls, [tracing::Level::DEBUG, tracing::Level::INFO, tracing::Level::INFO]);
}
