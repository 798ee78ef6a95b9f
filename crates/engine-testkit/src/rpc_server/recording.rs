//! The requests the server received, with what it answered: the most recent ones, as many
//! as its [`Recording`] says (none at all when it is off).

use super::{PortKind, fault::Fault};
use crate::error::TestkitError;
use hyper::HeaderMap;
use serde_json::Value;
use std::{
    collections::VecDeque,
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

/// How many of the calls a server received it keeps for tests to read.
///
/// A server that answers for hours (the devnet inside `engine-node`) must not keep every
/// call: each one holds its params and answer, whole payloads included. Recording is
/// therefore a ring of the most recent calls, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Nothing is kept: `calls`, `all_calls` and `last_call` are empty, and waiting for
    /// calls times out.
    Off,
    /// The most recent calls, at most this many (the oldest is dropped first); `0` keeps
    /// nothing, as [`Off`](Self::Off).
    Last(usize),
}

impl Recording {
    /// The ring a test server starts with ([`RpcServer::start`](super::RpcServer::start)):
    /// far more calls than any test makes, a few megabytes at most.
    pub const DEFAULT: Self = Self::Last(DEFAULT_RECORDED_CALLS);

    const fn capacity(self) -> usize {
        match self {
            Self::Off => 0,
            Self::Last(n) => n,
        }
    }
}

/// How many calls [`Recording::DEFAULT`] keeps.
pub const DEFAULT_RECORDED_CALLS: usize = 4096;

/// The recorded calls, most recent last, and how many may be kept.
#[derive(Debug)]
struct Ring {
    calls: VecDeque<RecordedCall>,
    capacity: usize,
}

/// The log of calls, with a change signal for waiting on it.
#[derive(Debug)]
pub(super) struct CallLog {
    ring: Mutex<Ring>,
    count: watch::Sender<u64>,
}

impl CallLog {
    /// An empty log that keeps what `recording` says.
    pub(super) fn new(recording: Recording) -> Self {
        let ring = Ring { calls: VecDeque::new(), capacity: recording.capacity() };
        Self { ring: Mutex::new(ring), count: watch::Sender::new(0) }
    }

    /// Keep what `recording` says from now on; calls beyond the new bound are dropped,
    /// oldest first.
    pub(super) fn set_recording(&self, recording: Recording) {
        let mut ring = self.lock();
        ring.capacity = recording.capacity();
        let excess = ring.calls.len().saturating_sub(ring.capacity);
        ring.calls.drain(..excess);
    }

    pub(super) fn next_seq(&self) -> u64 {
        let mut seq = 0;
        self.count.send_modify(|n| {
            seq = *n;
            *n += 1;
        });
        seq
    }

    pub(super) fn push(&self, call: RecordedCall) {
        {
            let mut ring = self.lock();
            if ring.capacity == 0 {
                return;
            }
            if ring.calls.len() >= ring.capacity {
                ring.calls.pop_front();
            }
            ring.calls.push_back(call);
        }
        // Wake waiters only once the call is visible.
        self.count.send_modify(|_| {});
    }

    pub(super) fn all(&self) -> Vec<RecordedCall> {
        let mut calls: Vec<_> = self.lock().calls.iter().cloned().collect();
        calls.sort_by_key(|c| c.seq);
        calls
    }

    pub(super) fn of(&self, method: &str) -> Vec<RecordedCall> {
        let mut calls: Vec<_> =
            self.lock().calls.iter().filter(|c| c.method == method).cloned().collect();
        calls.sort_by_key(|c| c.seq);
        calls
    }

    pub(super) fn clear(&self) {
        self.lock().calls.clear();
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Pushing or popping a value cannot leave the ring inconsistent if a holder panicked.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(seq: u64, method: &str) -> RecordedCall {
        RecordedCall {
            seq,
            port: PortKind::Public,
            method: method.to_string(),
            params: json!([]),
            id: json!(seq),
            headers: HeaderMap::new(),
            arrived_at: SystemTime::UNIX_EPOCH,
            fault: None,
            outcome: Outcome::Closed,
        }
    }

    fn seqs(log: &CallLog) -> Vec<u64> {
        log.all().iter().map(|c| c.seq).collect()
    }

    /// A full ring drops its oldest call for each new one; shrinking it drops the oldest
    /// at once.
    #[test]
    fn ring_keeps_the_latest_calls() {
        let log = CallLog::new(Recording::Last(3));
        for seq in 0..5 {
            log.push(call(seq, if seq % 2 == 0 { "even" } else { "odd" }));
        }
        assert_eq!(seqs(&log), [2, 3, 4]);
        assert_eq!(log.of("even").len(), 2);
        log.set_recording(Recording::Last(1));
        assert_eq!(seqs(&log), [4]);
        log.set_recording(Recording::DEFAULT);
        log.push(call(5, "odd"));
        assert_eq!(seqs(&log), [4, 5]);
    }

    /// Off keeps nothing, and a waiter for calls times out instead of seeing one.
    #[tokio::test]
    async fn off_keeps_nothing() {
        let log = CallLog::new(Recording::Off);
        log.push(call(log.next_seq(), "eth_chainId"));
        assert!(log.all().is_empty());
        let waited = log.wait_for("eth_chainId", 1, Duration::from_millis(20)).await;
        assert!(matches!(waited, Err(TestkitError::Timeout { .. })), "{waited:?}");
        log.set_recording(Recording::Last(0));
        log.push(call(log.next_seq(), "eth_chainId"));
        assert!(log.all().is_empty(), "a ring of 0 is off");
        log.set_recording(Recording::Last(8));
        log.push(call(log.next_seq(), "eth_chainId"));
        assert_eq!(seqs(&log), [2], "sequence numbers count every call, kept or not");
    }
}
