//! Each fault the mock can inject comes back as the right typed error, within the method's
//! timeout, and leaves the client usable.

use crate::harness::{ANSWERED, SHORT, config, eventually, mock};
use engine_client::{breaker::BreakerState, client::EngineClient, health::EndpointState};
use engine_testkit::{Fault, Restart};
use engine_types::{
    EngineError, Fork, RpcErrorCode, Severity, TransportError, config::RetryConfig,
};
use std::time::Duration;

const METHOD: &str = "engine_getPayloadBodiesByRangeV1";

/// A client that makes one attempt per call, so each fault is seen exactly once.
async fn once() -> (engine_testkit::MockEl, EngineClient) {
    once_within(SHORT).await
}

/// [`once`], with `timeout` for the call under test.
async fn once_within(timeout: Duration) -> (engine_testkit::MockEl, EngineClient) {
    let el = mock(Fork::Shanghai).await;
    let mut cfg = config(&el);
    cfg.retry = RetryConfig { max_attempts: 1, ..cfg.retry };
    cfg.max_response_bytes = 1024 * 1024;
    cfg.timeouts.get_payload_bodies = timeout;
    let c = EngineClient::new(cfg).unwrap();
    // Learn the capabilities first so that faults hit only the call under test.
    c.refresh_capabilities().await.unwrap();
    (el, c)
}

async fn fault(fault: Fault) -> EngineError {
    let (el, c) = once().await;
    el.fail_next(METHOD, fault, 1);
    let err = c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    // The next call is answered normally: the fault did not wedge the client.
    c.get_payload_bodies_by_range(1, 1).await.unwrap();
    err
}

/// A JSON-RPC error keeps its code, message and data.
#[tokio::test]
async fn rpc_error() {
    let err = fault(Fault::rpc_error(-38004, "too many")).await;
    assert!(
        matches!(err, EngineError::Rpc { code: RpcErrorCode::TooLargeRequest, ref message, .. } if message == "too many"),
        "{err}"
    );
}

/// HTTP 5xx is a retryable transport error; 4xx other than auth is fatal.
#[tokio::test]
async fn http_status() {
    let err = fault(Fault::HttpStatus(503)).await;
    assert!(
        matches!(err, EngineError::Transport(TransportError::HttpStatus { status: 503, .. })),
        "{err}"
    );
    assert_eq!(err.severity(), Severity::Retry);
    let err = fault(Fault::HttpStatus(404)).await;
    assert_eq!(err.severity(), Severity::Fatal, "{err}");
}

/// Malformed JSON is a bad response.
#[tokio::test]
async fn malformed_json() {
    let err = fault(Fault::MalformedJson).await;
    assert!(matches!(err, EngineError::BadResponse { .. }), "{err}");
}

/// A body cut short (connection closed before Content-Length bytes) is a transport error.
#[tokio::test]
async fn truncated_body() {
    let err = fault(Fault::TruncatedBody).await;
    assert!(matches!(err, EngineError::Transport(TransportError::Connect { .. })), "{err}");
}

/// A body over the limit is refused while reading, with the limit named.
#[tokio::test]
async fn oversized_body() {
    // The body limit, not the clock, must end this call: reading 1 MiB can take longer than
    // the harness's short timeout on a loaded machine, so this call gets a generous one.
    let (el, c) = once_within(Duration::from_secs(30)).await;
    el.fail_next(METHOD, Fault::oversized_mb(2), 1);
    let err = c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    c.get_payload_bodies_by_range(1, 1).await.unwrap();
    assert_eq!(err, EngineError::Transport(TransportError::BodyTooLarge { limit: 1024 * 1024 }));
}

/// A connection closed without an answer is a transport error.
#[tokio::test]
async fn closed_connection() {
    let err = fault(Fault::CloseConnection).await;
    assert!(matches!(err, EngineError::Transport(TransportError::Connect { .. })), "{err}");
}

/// A hung EL, or one slower than the timeout, gives a timeout naming the method and the
/// configured timeout.
#[tokio::test]
async fn hang_and_delay_time_out() {
    for f in [Fault::Hang, Fault::Delay(SHORT * 3)] {
        let err = fault(f).await;
        assert_eq!(
            err,
            EngineError::Transport(TransportError::Timeout { method: METHOD.into(), after: SHORT })
        );
    }
}

/// A delay within the timeout is just a slow answer.
#[tokio::test]
async fn delay_within_the_timeout_succeeds() {
    let (el, c) = once_within(ANSWERED).await;
    el.fail_next(METHOD, Fault::Delay(SHORT), 1);
    c.get_payload_bodies_by_range(1, 1).await.unwrap();
}

/// An EL that goes down is unreachable (and offline) until it comes back on the same port.
#[tokio::test]
async fn down_and_back() {
    let el = mock(Fork::Shanghai).await;
    let mut cfg = config(&el);
    cfg.health.cooldown = Duration::from_millis(50);
    let c = EngineClient::new(cfg).unwrap();
    assert_eq!(c.upcheck().await, EndpointState::Synced);
    el.go_down().await;
    // Three attempts (the retry bound) fail: the breaker opens.
    let err = c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    assert!(matches!(err, EngineError::Transport(TransportError::Connect { .. })), "{err}");
    assert_eq!(c.status().state, EndpointState::Offline);
    assert_eq!(c.status().breaker, BreakerState::Open);
    el.come_back(Restart::KeepChain).await.unwrap();
    // After the cool-down the upcheck is the half-open probe that closes it.
    eventually(Duration::from_secs(5), "the upcheck to find the EL back", || async {
        c.upcheck().await == EndpointState::Synced
    })
    .await;
    assert_eq!(c.status().breaker, BreakerState::Closed);
    c.get_payload_bodies_by_range(1, 1).await.unwrap();
}

/// After K consecutive failures the breaker refuses calls without sending them.
#[tokio::test]
async fn breaker_opens_after_consecutive_failures() {
    let (el, c) = once().await;
    el.fail_always(METHOD, Fault::HttpStatus(500));
    for _ in 0..3 {
        c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    }
    let sent = el.calls(METHOD).len();
    let err = c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    assert!(matches!(err, EngineError::NoUsableEndpoint { .. }), "{err}");
    assert_eq!(el.calls(METHOD).len(), sent, "an open breaker sends nothing");
    assert_eq!(c.status().breaker, BreakerState::Open);
}
