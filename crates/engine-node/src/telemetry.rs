//! Logs (text or JSON lines on stdout, filtered by `RUST_LOG`, `info` by default) and, when
//! `--otlp-endpoint` is set, trace export over OTLP/HTTP through `tracing-opentelemetry`.

use crate::{cli::LogFormat, error::NodeError};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use std::io::IsTerminal;
use tracing::{Metadata, level_filters::LevelFilter};
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, layer::SubscriberExt, util::SubscriberInitExt,
};

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes it.
#[derive(Debug)]
pub(crate) struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber. Call once, before anything logs.
    pub(crate) fn init(format: LogFormat, otlp: Option<&str>) -> Result<Self, NodeError> {
        let error = |reason: String| NodeError::Telemetry { reason };
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let debug = filter.max_level_hint().is_none_or(|level| level >= LevelFilter::DEBUG);
        let console = filter_fn(move |meta| console_takes(meta, debug));
        let fmt = match format {
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(std::io::stdout().is_terminal())
                .with_filter(console)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_filter(console)
                .boxed(),
        };
        let provider = otlp
            .map(|endpoint| {
                url::Url::parse(endpoint).map_err(|e| {
                    error(format!("--otlp-endpoint `{endpoint}` is not a URL: {e}"))
                })?;
                let exporter = SpanExporter::builder()
                    .with_http()
                    .with_endpoint(endpoint)
                    .build()
                    .map_err(|e| error(format!("the OTLP exporter for {endpoint}: {e}")))?;
                Ok::<_, NodeError>(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(exporter)
                        .with_resource(Resource::builder().with_service_name("engine-node").build())
                        .build(),
                )
            })
            .transpose()?;
        let otel = provider
            .as_ref()
            .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("engine-node")).boxed());
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .with(otel)
            .try_init()
            .map_err(|e| error(format!("a log subscriber is already installed: {e}")))?;
        if let Some(endpoint) = otlp {
            tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
        }
        Ok(Self { provider })
    }

    /// Flushes and stops the trace exporter (blocking: call outside the async runtime).
    pub(crate) fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: flushing traces at exit failed: {e}");
        }
    }
}

/// Whether the console (the log lines) takes what `meta` describes, when the filter lets
/// `debug` through or not. Everything but the Engine API call spans
/// ([`engine_actor::client::transport::CALL_SPAN`]): those are for the trace exporter, and below
/// `debug` no console line is written inside one (a failed call's line is `debug`; the
/// failure reaches the console through its caller). The console layer formats every span's
/// fields when it opens (as JSON, and again in full when a field is recorded later, as each
/// call's outcome is): for four to six calls a block, that was 3.7 % of the node's CPU in a
/// soak, for lines never written.
fn console_takes(meta: &Metadata<'_>, debug: bool) -> bool {
    debug || !(meta.is_span() && meta.name() == engine_actor::client::transport::CALL_SPAN)
}

/// What a log layer wrote, for tests: every clone appends to the same bytes.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl LogBuffer {
    /// The bytes written so far.
    pub(crate) fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under an `info` filter the console leaves the call spans out (a line inside one shows
    /// the spans around it, not the call's) and keeps every other span; when `debug` is let
    /// through it keeps the call spans too, so a failed call's `debug` line names its call.
    #[test]
    fn the_console_takes_call_spans_only_at_debug() {
        for debug in [false, true] {
            let lines = LogBuffer::default();
            let writer = lines.clone();
            let console = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(move || writer.clone())
                .with_filter(filter_fn(move |meta| console_takes(meta, debug)));
            let subscriber = tracing_subscriber::registry().with(console);
            tracing::subscriber::with_default(subscriber, || {
                let slot = tracing::info_span!("slot", slot = 7);
                let _slot = slot.enter();
                let call = tracing::info_span!(
                    engine_actor::client::transport::CALL_SPAN,
                    method = "engine_newPayload",
                    outcome = tracing::field::Empty,
                );
                let _call = call.enter();
                call.record("outcome", "ok");
                tracing::info!("inside the call");
            });
            let text = String::from_utf8(lines.bytes().clone()).unwrap();
            assert!(text.contains("inside the call") && text.contains(r#""slot":7"#), "{text}");
            assert_eq!(text.contains("engine_newPayload"), debug, "debug {debug}: {text}");
        }
    }
}
