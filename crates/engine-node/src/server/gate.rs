//! The transaction endpoint's global admission, in front of each client's own limit (the
//! engine's per-peer token buckets, `engine_actor::rate_limit`): at most `tx_max_in_flight`
//! transactions in flight over all clients (one more is answered `503`), and a token bucket
//! over all of them (past it, `429`). Both answers carry `Retry-After` and a JSON-RPC error
//! (`-32005`, Geth's "limit exceeded"), so a client backs off instead of seeing a drop.

use super::limits::ServerLimits;
use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use engine_actor::rate_limit::{RateLimitConfig, RateLimiter};
use serde_json::json;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::Semaphore;

/// The one key of the global bucket.
const ALL: &str = "all";

/// JSON-RPC "limit exceeded" (Geth): the code of both rate refusals, this gate's and the
/// per-client one the endpoint answers; the simulator recognises its pacing by it.
pub(crate) const LIMIT: i64 = -32005;

/// Why a transaction was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// As many transactions as allowed are in flight.
    #[error("busy: {limit} transactions in flight; retry shortly")]
    Busy {
        /// The in-flight limit.
        limit: usize,
    },
    /// The global rate is spent.
    #[error("rate limited (all clients): retry after {} ms", retry_after.as_millis())]
    RateLimited {
        /// When a token is back.
        retry_after: Duration,
    },
}

impl Refusal {
    /// The HTTP status it is answered with.
    pub(crate) const fn status(&self) -> StatusCode {
        match self {
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Whole seconds to wait, at least 1 (`Retry-After` has no finer unit).
    fn retry_after_secs(&self) -> u64 {
        match self {
            Self::Busy { .. } => 1,
            Self::RateLimited { retry_after } => retry_after
                .as_secs()
                .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
                .max(1),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": LIMIT, "message": self.to_string() },
        });
        let mut response = (self.status(), Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after_secs()));
        response
    }
}

/// The shared admission state of the endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    in_flight: Arc<Semaphore>,
    limit: usize,
    bucket: Arc<Mutex<RateLimiter>>,
}

impl Gate {
    /// A gate with `limits`' in-flight bound and global rate.
    pub(crate) fn new(limits: &ServerLimits) -> Self {
        let config = RateLimitConfig {
            burst: limits.tx_rate_burst,
            per_second: limits.tx_rate_per_second,
            max_peers: 1,
        };
        Self {
            // `ServerLimits::problems` bounds it by `MAX_IN_FLIGHT`; the clamp only keeps an
            // unvalidated value from panicking in `Semaphore::new`.
            in_flight: Arc::new(Semaphore::new(
                limits.tx_max_in_flight.min(Semaphore::MAX_PERMITS),
            )),
            limit: limits.tx_max_in_flight,
            bucket: Arc::new(Mutex::new(RateLimiter::new(config))),
        }
    }
}

/// Admits the request (holding its in-flight place until the answer is ready) or answers
/// the [`Refusal`]. Runs before the body is read.
pub(crate) async fn admit(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let Ok(_place) = gate.in_flight.try_acquire() else {
        return Refusal::Busy { limit: gate.limit }.into_response();
    };
    let checked = match gate.bucket.lock() {
        Ok(mut bucket) => bucket.check(ALL, tokio::time::Instant::now()),
        // A panic while holding the lock cannot leave the bucket inconsistent (`check` only
        // writes plain numbers); keep using it.
        Err(poisoned) => poisoned.into_inner().check(ALL, tokio::time::Instant::now()),
    };
    if let Err(retry_after) = checked {
        return Refusal::RateLimited { retry_after }.into_response();
    }
    next.run(request).await
}
