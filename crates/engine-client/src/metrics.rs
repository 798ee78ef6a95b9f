//! Metric names (one constant each, described once by [`describe`]) and the helpers that
//! record them. This crate installs no exporter: the binary does.

use crate::{breaker::BreakerState, health::EndpointState};
use engine_types::EngineError;
use metrics::{counter, gauge, histogram};
use std::{borrow::Cow, time::Instant};

/// Histogram, seconds: duration of each outbound call, labels `method`, `version`, `endpoint`.
pub const REQUEST_DURATION: &str = "engine_client_request_duration_seconds";
/// Counter: failed calls, labels `method`, `version`, `endpoint`, `class`
/// ([`EngineError::class`]).
pub const REQUEST_ERRORS: &str = "engine_client_request_errors_total";
/// Gauge: breaker state per `endpoint` (0 closed, 1 half-open, 2 open).
pub const BREAKER_STATE: &str = "engine_client_breaker_state";
/// Gauge: health per `endpoint` (0 synced, 1 syncing, 2 offline, 3 auth failed, 4 unknown);
/// see [`EndpointState::gauge`].
pub const ENDPOINT_STATE: &str = "engine_client_endpoint_state";
/// Counter: builds or commits that moved to another endpoint, labels `from`, `to`,
/// `operation`.
pub const FAILOVERS: &str = "engine_client_failovers_total";
/// Counter: upchecks, labels `endpoint`, `result` (`synced`, `syncing`, `unknown`, `offline`,
/// `auth_failed`; see [`EndpointState::label`]).
pub const UPCHECKS: &str = "engine_client_upchecks_total";
/// Counter: payloads replayed to a lagging standby, label `endpoint`.
pub const REPLAYED_PAYLOADS: &str = "engine_client_replayed_payloads_total";
/// Counter: panics of the pool's tasks (a bug in the engine), labels `endpoint`, `task`
/// (`lane`, `upcheck`).
pub const TASK_PANICS: &str = "engine_client_task_panics_total";

/// Describes every metric of this crate to the installed recorder. Call once at startup.
pub fn describe() {
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Duration of calls to execution clients"
    );
    metrics::describe_counter!(REQUEST_ERRORS, "Failed calls to execution clients, by class");
    metrics::describe_gauge!(BREAKER_STATE, "Circuit breaker: 0 closed, 1 half-open, 2 open");
    metrics::describe_gauge!(
        ENDPOINT_STATE,
        "Endpoint health: 0 synced, 1 syncing, 2 offline, 3 auth failed, 4 unknown"
    );
    metrics::describe_counter!(FAILOVERS, "Builds and commits moved to another endpoint");
    metrics::describe_counter!(UPCHECKS, "Endpoint upchecks, by result");
    metrics::describe_counter!(REPLAYED_PAYLOADS, "Payloads replayed to a lagging standby");
    metrics::describe_counter!(TASK_PANICS, "Panics of the pool's tasks (a bug), by task");
}

/// Splits a JSON-RPC method name into its base and version suffix:
/// `engine_newPayloadV3` → (`engine_newPayload`, `V3`); `eth_chainId` → (`eth_chainId`, ``).
pub fn split_method(name: &'static str) -> (&'static str, &'static str) {
    let bytes = name.as_bytes();
    match bytes {
        [.., b'V', d] if d.is_ascii_digit() && name.starts_with("engine_") => {
            name.split_at(name.len() - 2)
        }
        _ => (name, ""),
    }
}

/// Records one call's latency (and its error class if it failed); returns the outcome label
/// (`ok` or the class).
pub fn record_call(
    method: &'static str,
    endpoint: &str,
    started: Instant,
    error: Option<&EngineError>,
) -> Cow<'static, str> {
    let (base, version) = split_method(method);
    let endpoint = endpoint.to_string();
    histogram!(REQUEST_DURATION, "method" => base, "version" => version, "endpoint" => endpoint.clone())
        .record(started.elapsed().as_secs_f64());
    match error {
        None => Cow::Borrowed("ok"),
        Some(e) => {
            let class = e.class();
            counter!(REQUEST_ERRORS, "method" => base, "version" => version, "endpoint" => endpoint, "class" => class.clone())
                .increment(1);
            Cow::Owned(class)
        }
    }
}

/// Publishes an endpoint's health and breaker state.
pub(crate) fn record_state(endpoint: &str, state: EndpointState, breaker: BreakerState) {
    gauge!(ENDPOINT_STATE, "endpoint" => endpoint.to_string()).set(state.gauge());
    gauge!(BREAKER_STATE, "endpoint" => endpoint.to_string()).set(breaker.gauge());
}

/// Counts one failover.
pub(crate) fn record_failover(operation: &'static str, from: &str, to: &str) {
    counter!(FAILOVERS, "operation" => operation, "from" => from.to_string(), "to" => to.to_string())
        .increment(1);
}

/// Counts one upcheck result.
pub(crate) fn record_upcheck(endpoint: &str, result: EndpointState) {
    counter!(UPCHECKS, "endpoint" => endpoint.to_string(), "result" => result.label()).increment(1);
}

/// Counts payloads replayed to a standby.
pub(crate) fn record_replay(endpoint: &str, count: u64) {
    counter!(REPLAYED_PAYLOADS, "endpoint" => endpoint.to_string()).increment(count);
}

/// Counts one panic of a pool `task` for `endpoint`.
pub(crate) fn record_panic(endpoint: &str, task: &'static str) {
    counter!(TASK_PANICS, "endpoint" => endpoint.to_string(), "task" => task).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versioned Engine API names split; eth names and unversioned names do not.
    #[test]
    fn splits_versions() {
        assert_eq!(split_method("engine_newPayloadV3"), ("engine_newPayload", "V3"));
        assert_eq!(split_method("engine_getClientVersionV1"), ("engine_getClientVersion", "V1"));
        assert_eq!(
            split_method("engine_exchangeCapabilities"),
            ("engine_exchangeCapabilities", "")
        );
        assert_eq!(split_method("eth_chainId"), ("eth_chainId", ""));
    }
}
