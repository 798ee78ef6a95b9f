//! Every request the server received, with what it answered.

use super::{PortKind, fault::Fault};
use crate::error::TestkitError;
use hyper::HeaderMap;
use serde_json::Value;
use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, SystemTime},
};
use tokio::sync::watch;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// Arrival order, from 0, across both ports.
    pub seq: u64,
    /// Which port it came in on.
    pub port: PortKind,
    /// The JSON-RPC method (empty when the body was not a JSON-RPC request).
    pub method: String,
    /// The `params` (`[]` when absent, `null` when the body could not be parsed).
    pub params: Value,
    /// The request `id`.
    pub id: Value,
    /// The HTTP headers (the `Authorization` value is marked sensitive, so `Debug` hides it).
    pub headers: HeaderMap,
    /// When the request arrived (its body fully read).
    pub arrived_at: SystemTime,
    /// The scripted fault applied to it, if any.
    pub fault: Option<Fault>,
    /// What the server answered.
    pub outcome: Outcome,
}

impl RecordedCall {
    /// The `i`-th param.
    pub fn param(&self, i: usize) -> Option<&Value> {
        self.params.get(i)
    }

    /// The `result` member of the answer, when the answer was a JSON-RPC success.
    pub fn result(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Json { body, .. } => body.get("result"),
            _ => None,
        }
    }

    /// The `error` member of the answer, when the answer was a JSON-RPC error.
    pub fn error(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Json { body, .. } => body.get("error"),
            _ => None,
        }
    }

    /// The `Authorization` header, if sent.
    pub fn authorization(&self) -> Option<&str> {
        self.headers.get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
    }
}

/// What the server did with a request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// A JSON-RPC answer (success or error) with this HTTP status.
    Json {
        /// HTTP status.
        status: u16,
        /// The whole response object.
        body: Value,
    },
    /// HTTP 401: the JWT was refused.
    Unauthorized {
        /// Why.
        reason: String,
    },
    /// An injected HTTP status.
    Http {
        /// HTTP status.
        status: u16,
    },
    /// An HTTP 200 with a body that is not JSON.
    MalformedJson,
    /// A body cut short: `sent` of the `declared` bytes, then the connection closed.
    Truncated {
        /// `Content-Length` announced.
        declared: usize,
        /// Bytes actually sent.
        sent: usize,
    },
    /// A well-formed answer of this many bytes.
    Oversized {
        /// Body size.
        bytes: usize,
    },
    /// The connection was closed without an answer.
    Closed,
    /// No answer was ever sent.
    Hung,
}

/// The log of calls, with a change signal for waiting on it.
#[derive(Debug)]
pub(super) struct CallLog {
    calls: Mutex<Vec<RecordedCall>>,
    count: watch::Sender<u64>,
}

impl Default for CallLog {
    fn default() -> Self {
        Self { calls: Mutex::default(), count: watch::Sender::new(0) }
    }
}

impl CallLog {
    pub(super) fn next_seq(&self) -> u64 {
        let mut seq = 0;
        self.count.send_modify(|n| {
            seq = *n;
            *n += 1;
        });
        seq
    }

    pub(super) fn push(&self, call: RecordedCall) {
        self.lock().push(call);
        // Wake waiters only once the call is visible.
        self.count.send_modify(|_| {});
    }

    pub(super) fn all(&self) -> Vec<RecordedCall> {
        let mut calls = self.lock().clone();
        calls.sort_by_key(|c| c.seq);
        calls
    }

    pub(super) fn of(&self, method: &str) -> Vec<RecordedCall> {
        let mut calls: Vec<_> =
            self.lock().iter().filter(|c| c.method == method).cloned().collect();
        calls.sort_by_key(|c| c.seq);
        calls
    }

    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// Wait until at least `n` calls of `method` are recorded.
    pub(super) async fn wait_for(
        &self,
        method: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedCall>, TestkitError> {
        let mut changes = self.count.subscribe();
        let wait = async {
            loop {
                let calls = self.of(method);
                if calls.len() >= n {
                    return calls;
                }
                // The sender lives as long as `self`, so `changed` cannot fail while we
                // borrow it; treat a failure as "no more changes" and keep polling the log.
                if changes.changed().await.is_err() {
                    tokio::task::yield_now().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| TestkitError::Timeout {
            what: format!("{n} call(s) of {method}"),
            after: timeout,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedCall>> {
        // Pushing a value cannot leave the vector inconsistent if a holder panicked.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
