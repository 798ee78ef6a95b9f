//! [`Script`]: the hook a test puts around a server (engine-devnet's
//! [`CallHook`]): scripted faults instead of the backend's answer, every call recorded with
//! what was answered, and a clock shifted as on a client whose clock is off.

use super::{
    CallHook, HookFuture, Refusal, Request, RpcBackend, RpcError, Verdict,
    clock::ServerClock,
    fault::{Fault, FaultPlan},
    recording::{CallLog, Outcome, RecordedCall, Recording},
};
use crate::error::TestkitError;
use engine_devnet::rpc_server::{
    CloseConnection, ReplyBody, answer_json, json_response, text_response,
};
use hyper::{
    Response, StatusCode,
    body::Bytes,
    header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderValue},
};
use serde_json::Value;
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

/// Faults, recording and clock of one server; shared (`Arc`) between the server, which
/// calls it, and the test, which scripts and reads it.
#[derive(Debug)]
pub struct Script {
    faults: FaultPlan,
    log: CallLog,
    /// Decides the JWT `iat` check and every answer's `Date`.
    clock: ServerClock,
}

impl Script {
    /// No faults, the system's clock, and calls kept as `recording` says.
    pub fn new(recording: Recording) -> Arc<Self> {
        Arc::new(Self {
            faults: FaultPlan::default(),
            log: CallLog::new(recording),
            clock: ServerClock::default(),
        })
    }

    /// This script as the hook a server takes (engine-devnet's `DevnetConfig::hook`).
    pub fn hook(self: &Arc<Self>) -> Arc<dyn CallHook> {
        Arc::clone(self) as Arc<dyn CallHook>
    }

    /// Apply `fault` to the next `times` calls of `method` (after any faults already
    /// scripted for it). `method` is the exact JSON-RPC name, or
    /// [`ANY_METHOD`](super::ANY_METHOD).
    pub fn fail_next(&self, method: &str, fault: Fault, times: usize) {
        self.faults.push_next(method, fault, times);
    }

    /// Apply each fault once, in order, to the next calls of `method` (e.g. SYNCING, SYNCING,
    /// then a specific VALID).
    pub fn fail_sequence(&self, method: &str, faults: impl IntoIterator<Item = Fault>) {
        for fault in faults {
            self.faults.push_next(method, fault, 1);
        }
    }

    /// Apply `fault` to every call of `method` until [`clear_faults`](Self::clear_faults).
    pub fn fail_always(&self, method: &str, fault: Fault) {
        self.faults.push_always(method, fault);
    }

    /// Drop every script of `method`.
    pub fn clear_faults(&self, method: &str) {
        self.faults.clear(method);
    }

    /// Drop every script.
    pub fn clear_all_faults(&self) {
        self.faults.clear_all();
    }

    /// How many scripted calls of `method` remain (`usize::MAX` for "until cleared"). A fault
    /// is taken as its call arrives, before the delay it may script; the call is recorded
    /// ([`calls`](Self::calls)) only once answered. So this drops as a held call starts
    /// waiting, which is how a test knows the client is blocked on it.
    pub fn pending_faults(&self, method: &str) -> usize {
        self.faults.pending(method)
    }

    /// Run the server's clock `seconds` ahead of the system's (behind when negative; 0: the
    /// system's own): the JWT `iat` check (±60 s) and the `Date` header of every answer
    /// follow it, as on an execution client whose clock is off.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.clock.set_offset(seconds);
    }

    /// How far the server's clock is shifted, in seconds.
    pub fn clock_offset(&self) -> i64 {
        self.clock.offset()
    }

    /// Which calls are kept from now on; a smaller bound drops the oldest calls beyond it at
    /// once.
    pub fn set_recording(&self, recording: Recording) {
        self.log.set_recording(recording);
    }

    /// Every recorded call of `method`, in arrival order.
    pub fn calls(&self, method: &str) -> Vec<RecordedCall> {
        self.log.of(method)
    }

    /// Every recorded call, in arrival order.
    pub fn all_calls(&self) -> Vec<RecordedCall> {
        self.log.all()
    }

    /// The most recent call.
    pub fn last_call(&self) -> Option<RecordedCall> {
        self.log.all().pop()
    }

    /// Forget the recorded calls.
    pub fn clear_calls(&self) {
        self.log.clear();
    }

    /// Wait until at least `n` calls of `method` have been recorded, then return them all.
    pub async fn wait_for_calls(
        &self,
        method: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedCall>, TestkitError> {
        self.log.wait_for(method, n, timeout).await
    }

    /// Answer `record`'s call with `answer` as JSON-RPC, and record it.
    fn finish_json(
        &self,
        mut record: RecordedCall,
        answer: Result<Value, RpcError>,
    ) -> Response<ReplyBody> {
        let body = answer_json(&record.id, answer);
        let bytes = body.to_string();
        record.outcome = Outcome::Json { status: 200, body };
        self.log.push(record);
        json_response(StatusCode::OK, bytes)
    }

    /// Record `record` with `outcome` and give `response`.
    fn finish(
        &self,
        mut record: RecordedCall,
        outcome: Outcome,
        response: Response<ReplyBody>,
    ) -> Response<ReplyBody> {
        record.outcome = outcome;
        self.log.push(record);
        response
    }

    async fn answer(
        &self,
        request: Request,
        backend: &dyn RpcBackend,
    ) -> Result<Response<ReplyBody>, CloseConnection> {
        let (call, refusal) = match request.verdict {
            Verdict::Admitted(call) => (Some(call), None),
            Verdict::Refused { call, refusal } => (call, Some(refusal)),
        };
        let (method, params, id) =
            call.map_or((String::new(), Value::Null, Value::Null), |c| (c.method, c.params, c.id));
        let record = RecordedCall {
            seq: self.log.next_seq(),
            port: request.port,
            method,
            params,
            id,
            headers: request.headers,
            arrived_at: request.arrived_at,
            fault: None,
            outcome: Outcome::Closed,
        };
        match refusal {
            Some(refusal) => Ok(self.refuse(record, &refusal)),
            None => self.apply_fault(record, backend).await,
        }
    }

    /// Answer and record a request the server refused: faults never apply to those.
    fn refuse(&self, record: RecordedCall, refusal: &Refusal) -> Response<ReplyBody> {
        let outcome = match refusal {
            Refusal::Rpc(error) => return self.finish_json(record, Err(error.clone())),
            Refusal::Unauthorized { reason } => Outcome::Unauthorized { reason: reason.clone() },
            Refusal::TooLarge { .. } => {
                Outcome::Http { status: StatusCode::PAYLOAD_TOO_LARGE.as_u16() }
            }
        };
        let response = refusal.response(&record.id);
        self.finish(record, outcome, response)
    }

    /// Answer an admitted call: by its scripted fault if it has one, else by the backend.
    async fn apply_fault(
        &self,
        mut record: RecordedCall,
        backend: &dyn RpcBackend,
    ) -> Result<Response<ReplyBody>, CloseConnection> {
        let fault = self.faults.take(&record.method);
        record.fault = fault.clone();
        let Some(fault) = fault else {
            let answer = backend.handle(&record.method, &record.params);
            return Ok(self.finish_json(record, answer));
        };
        if let Some(answer) = fault.scripted_answer(&record.method) {
            return Ok(self.finish_json(record, answer));
        }
        match fault {
            Fault::Delay(delay) => {
                tokio::time::sleep(delay).await;
                let answer = backend.handle(&record.method, &record.params);
                Ok(self.finish_json(record, answer))
            }
            Fault::HttpStatus(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let text = text_response(status, format!("injected HTTP {}", status.as_u16()));
                Ok(self.finish(record, Outcome::Http { status: status.as_u16() }, text))
            }
            Fault::MalformedJson => {
                let body = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{"#, record.id);
                Ok(self.finish(record, Outcome::MalformedJson, json_response(StatusCode::OK, body)))
            }
            Fault::TruncatedBody => {
                let full = padded_answer(&record.id, 1024);
                let sent = full.len() / 2;
                let mut resp = Response::new(ReplyBody::cut(Bytes::from(full[..sent].to_vec())));
                resp.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(full.len()));
                Ok(self.finish(record, Outcome::Truncated { declared: full.len(), sent }, resp))
            }
            Fault::OversizedBody { bytes } => {
                let body = padded_answer(&record.id, bytes);
                let outcome = Outcome::Oversized { bytes: body.len() };
                Ok(self.finish(record, outcome, json_response(StatusCode::OK, body)))
            }
            Fault::CloseConnection => {
                self.log.push(record);
                Err(CloseConnection)
            }
            Fault::LoseReply => {
                let _carried_out = backend.handle(&record.method, &record.params);
                self.log.push(record);
                Err(CloseConnection)
            }
            Fault::Hang => {
                record.outcome = Outcome::Hung;
                self.log.push(record);
                // Held until the server shuts down or goes down, which aborts this connection.
                std::future::pending::<()>().await;
                Err(CloseConnection)
            }
            // Handled by `scripted_answer` above.
            Fault::Result(_) | Fault::Status(_) | Fault::Error(_) => Err(CloseConnection),
        }
    }
}

impl CallHook for Script {
    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn serve<'a>(&'a self, request: Request, backend: &'a dyn RpcBackend) -> HookFuture<'a> {
        Box::pin(async move {
            let mut resp = self.answer(request, backend).await?;
            // Dated by the script's clock: hyper would date it by the system's.
            if let Ok(date) = HeaderValue::from_str(&self.clock.http_date()) {
                resp.headers_mut().insert(DATE, date);
            }
            Ok(resp)
        })
    }
}

/// A well-formed answer whose `result` is `0x` followed by zeros, `total` bytes long in all
/// (or as short as the envelope allows).
fn padded_answer(id: &Value, total: usize) -> Vec<u8> {
    let empty = answer_json(id, Ok(Value::String("0x".into()))).to_string();
    let pad = total.saturating_sub(empty.len());
    let mut result = String::with_capacity(2 + pad);
    result.push_str("0x");
    result.extend(std::iter::repeat_n('0', pad));
    answer_json(id, Ok(Value::String(result))).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Padded answers are valid JSON of exactly the requested size.
    #[test]
    fn padded_answers_have_the_requested_size() {
        let body = padded_answer(&serde_json::json!(1), 4096);
        assert_eq!(body.len(), 4096);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["result"].as_str().unwrap().starts_with("0x000"));
    }
}
