//! Retries: only idempotent calls, only transient errors, and never past the bounds.

use crate::harness::{config, forkchoice, mock};
use engine_client::client::EngineClient;
use engine_testkit::Fault;
use engine_types::{
    ApiVersion, EngineError, Fork, ForkSchedule, TransportError, config::RetryConfig,
};
use std::time::Duration;

const METHOD: &str = "engine_getPayloadBodiesByRangeV1";

async fn setup(retry: RetryConfig) -> (engine_testkit::MockEl, EngineClient) {
    let el = mock(Fork::Shanghai).await;
    let mut cfg = config(&el);
    cfg.retry = retry;
    cfg.health.failure_threshold = 1000; // keep the breaker out of these counts
    let c = EngineClient::new(cfg).unwrap();
    c.refresh_capabilities().await.unwrap();
    (el, c)
}

fn retry(max_attempts: u32) -> RetryConfig {
    RetryConfig {
        max_attempts,
        initial_backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(10),
        max_elapsed: Duration::from_secs(10),
        jitter: 0.5,
    }
}

/// A transient failure is retried up to the attempt bound and the last error returned.
#[tokio::test]
async fn stops_at_the_attempt_bound() {
    let (el, c) = setup(retry(3)).await;
    el.fail_next(METHOD, Fault::HttpStatus(503), 10);
    let err = c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    assert!(matches!(err, EngineError::Transport(TransportError::HttpStatus { status: 503, .. })));
    assert_eq!(el.calls(METHOD).len(), 3);
}

/// A transient failure followed by success is invisible to the caller.
#[tokio::test]
async fn recovers_within_the_bound() {
    let (el, c) = setup(retry(3)).await;
    el.fail_sequence(METHOD, [Fault::CloseConnection, Fault::HttpStatus(502)]);
    c.get_payload_bodies_by_range(1, 1).await.unwrap();
    assert_eq!(el.calls(METHOD).len(), 3);
}

/// No retry starts after the time bound, however many attempts are allowed.
#[tokio::test]
async fn stops_at_the_time_bound() {
    let (el, c) = setup(RetryConfig {
        max_attempts: 1000,
        // Backoffs long beside a local round trip, so that a slow answer on a loaded host
        // does not leave the budget without room for the second attempt.
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_millis(200),
        max_elapsed: Duration::from_millis(1000),
        jitter: 0.0,
    })
    .await;
    el.fail_always(METHOD, Fault::HttpStatus(503));
    c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    let n = el.calls(METHOD).len();
    assert!((2..=6).contains(&n), "{n} attempts in a 1 s budget of 200 ms backoffs");
}

/// Fatal and reset-class errors are never retried.
#[tokio::test]
async fn non_transient_errors_are_not_retried() {
    let (el, c) = setup(retry(5)).await;
    for f in [Fault::rpc_error(-32602, "bad params"), Fault::MalformedJson, Fault::HttpStatus(400)]
    {
        el.clear_calls();
        el.fail_next(METHOD, f.clone(), 1);
        c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
        assert_eq!(el.calls(METHOD).len(), 1, "{f:?}");
    }
}

/// A forkchoice update that starts a build is never repeated (a repeat starts another
/// build); one without attributes is.
#[tokio::test]
async fn builds_are_not_retried() {
    let (el, c) = setup(retry(3)).await;
    let genesis = el.genesis();
    let attrs = crate::harness::attributes(&ForkSchedule::default(), genesis.header.timestamp);
    let method = "engine_forkchoiceUpdatedV2";
    el.fail_next(method, Fault::HttpStatus(503), 10);
    c.forkchoice_updated(ApiVersion::V2, forkchoice(genesis.hash), Some(attrs)).await.unwrap_err();
    assert_eq!(el.calls(method).len(), 1);
    el.clear_faults(method);
    el.fail_next(method, Fault::HttpStatus(503), 2);
    c.forkchoice_updated(ApiVersion::V2, forkchoice(genesis.hash), None).await.unwrap();
    assert_eq!(el.calls(method).len(), 4);
}
