//! Logs (text or JSON lines on stdout, filtered by `RUST_LOG`, `info` by default) and, when
//! `--otlp-endpoint` is set, trace export over OTLP/HTTP through `tracing-opentelemetry`.

use crate::{cli::LogFormat, error::NodeError};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use std::io::IsTerminal;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

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
        let fmt = match format {
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(std::io::stdout().is_terminal())
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer().json().flatten_event(true).boxed(),
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
