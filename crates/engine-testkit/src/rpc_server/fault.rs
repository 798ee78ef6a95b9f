//! Scripted misbehaviour: what the server does instead of asking its backend, per method,
//! for the next N calls or until cleared.

use super::RpcError;
use engine_types::{ForkchoiceUpdatedWire, PayloadStatusWire, RpcErrorCode};
use serde_json::Value;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, PoisonError},
    time::Duration,
};

/// The method key that matches every method without a script of its own.
pub const ANY_METHOD: &str = "*";

/// One scripted behaviour for one call.
///
/// A fault replaces the backend's answer: the backend never sees a faulted call (so a
/// scripted SYNCING `newPayload` does not import the block), except [`Fault::Delay`], which
/// answers normally after the delay.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this `result`.
    Result(Value),
    /// Answer with this payload status: the `result` of a `newPayload`, or
    /// `{payloadStatus, payloadId: null}` for a `forkchoiceUpdated`.
    Status(PayloadStatusWire),
    /// Answer with this JSON-RPC error.
    Error(RpcError),
    /// Answer with this HTTP status and a short text body.
    HttpStatus(u16),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// HTTP 200 whose body is not valid JSON.
    MalformedJson,
    /// Promise a body in `Content-Length`, send half of it, and close the connection.
    TruncatedBody,
    /// A well-formed JSON-RPC answer of exactly this many bytes (a `result` string padded
    /// with zeros).
    OversizedBody {
        /// Total body size in bytes.
        bytes: usize,
    },
    /// Read the request, then close the connection without answering.
    CloseConnection,
    /// Read the request and never answer (until the server shuts down).
    Hang,
    /// Carry the call out (the state changes), then close the connection without an
    /// answer: a reply lost on the way back, after the server acted.
    LoseReply,
}

impl Fault {
    /// A JSON-RPC error with any code.
    pub fn rpc_error(code: i64, message: impl Into<String>) -> Self {
        Self::Error(RpcError::new(RpcErrorCode::from_code(code), message))
    }

    /// A well-formed answer of `megabytes` MiB.
    pub const fn oversized_mb(megabytes: usize) -> Self {
        Self::OversizedBody { bytes: megabytes * 1024 * 1024 }
    }

    /// The JSON-RPC answer this fault scripts for `method`, if it scripts one.
    pub(super) fn scripted_answer(&self, method: &str) -> Option<Result<Value, RpcError>> {
        match self {
            Self::Result(v) => Some(Ok(v.clone())),
            Self::Error(e) => Some(Err(e.clone())),
            Self::Status(status) if method.starts_with("engine_forkchoiceUpdated") => {
                let wire =
                    ForkchoiceUpdatedWire { payload_status: status.clone(), payload_id: None };
                Some(serde_json::to_value(wire).map_err(|e| RpcError::server(e.to_string())))
            }
            Self::Status(status) => {
                Some(serde_json::to_value(status).map_err(|e| RpcError::server(e.to_string())))
            }
            _ => None,
        }
    }
}

/// How many calls a script covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Times {
    Next(usize),
    UntilCleared,
}

#[derive(Debug)]
struct Script {
    fault: Fault,
    times: Times,
}

/// Per-method queues of scripted faults. Scripts for one method run in the order they were
/// added; an "until cleared" script stays at the front until [`clear`](Self::clear).
#[derive(Debug, Default)]
pub(super) struct FaultPlan {
    scripts: Mutex<HashMap<String, VecDeque<Script>>>,
}

impl FaultPlan {
    pub(super) fn push_next(&self, method: &str, fault: Fault, times: usize) {
        if times > 0 {
            self.push(method, Script { fault, times: Times::Next(times) });
        }
    }

    pub(super) fn push_always(&self, method: &str, fault: Fault) {
        self.push(method, Script { fault, times: Times::UntilCleared });
    }

    fn push(&self, method: &str, script: Script) {
        self.lock().entry(method.to_owned()).or_default().push_back(script);
    }

    pub(super) fn clear(&self, method: &str) {
        self.lock().remove(method);
    }

    pub(super) fn clear_all(&self) {
        self.lock().clear();
    }

    pub(super) fn pending(&self, method: &str) -> usize {
        self.lock().get(method).map_or(0, |q| {
            q.iter()
                .map(|s| match s.times {
                    Times::Next(n) => n,
                    Times::UntilCleared => usize::MAX,
                })
                .fold(0, usize::saturating_add)
        })
    }

    /// The fault for the next call of `method` (its own script first, then [`ANY_METHOD`]),
    /// consuming one use of it.
    pub(super) fn take(&self, method: &str) -> Option<Fault> {
        let mut scripts = self.lock();
        [method, ANY_METHOD].into_iter().find_map(|key| {
            let queue = scripts.get_mut(key)?;
            let front = queue.front_mut()?;
            let fault = front.fault.clone();
            if let Times::Next(n) = &mut front.times {
                *n -= 1;
                if *n == 0 {
                    queue.pop_front();
                }
            }
            Some(fault)
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Script>>> {
        // A panic while holding this lock cannot leave the map half-updated.
        self.scripts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scripts run in order, count down, and fall back to the wildcard.
    #[test]
    fn scripts_count_down_in_order() {
        let plan = FaultPlan::default();
        plan.push_next("m", Fault::HttpStatus(500), 2);
        plan.push_next("m", Fault::MalformedJson, 1);
        plan.push_next(ANY_METHOD, Fault::Hang, 1);
        plan.push_next("m", Fault::Hang, 0);
        assert_eq!(plan.pending("m"), 3);
        assert_eq!(plan.take("m"), Some(Fault::HttpStatus(500)));
        assert_eq!(plan.take("m"), Some(Fault::HttpStatus(500)));
        assert_eq!(plan.take("m"), Some(Fault::MalformedJson));
        assert_eq!(plan.take("m"), Some(Fault::Hang));
        assert_eq!(plan.take("m"), None);
        plan.push_always("m", Fault::CloseConnection);
        for _ in 0..5 {
            assert_eq!(plan.take("m"), Some(Fault::CloseConnection));
        }
        plan.clear("m");
        assert_eq!(plan.take("m"), None);
    }

    /// A scripted status takes the forkchoiceUpdated shape only for forkchoiceUpdated.
    #[test]
    fn status_shape_follows_the_method() {
        let f = Fault::Status(PayloadStatusWire::syncing());
        let fcu = f.scripted_answer("engine_forkchoiceUpdatedV2").unwrap().unwrap();
        assert_eq!(
            fcu,
            serde_json::json!({"payloadStatus": {"status": "SYNCING", "latestValidHash": null, "validationError": null}, "payloadId": null})
        );
        let np = f.scripted_answer("engine_newPayloadV2").unwrap().unwrap();
        assert_eq!(np["status"], "SYNCING");
        assert!(Fault::Hang.scripted_answer("m").is_none());
    }
}
