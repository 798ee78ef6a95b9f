//! One HTTP exchange: read the body, check the JWT, parse the JSON-RPC envelope, apply the
//! scripted fault or ask the backend, record, answer.

use super::{
    PortKind, Shared,
    backend::RpcError,
    fault::Fault,
    recording::{Outcome, RecordedCall},
};
use engine_types::RpcErrorCode;
use http_body_util::BodyExt;
use hyper::{
    Request, Response, StatusCode,
    body::{Body, Bytes, Frame, Incoming, SizeHint},
    header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderValue},
};
use serde_json::{Value, json};
use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::SystemTime,
};

/// Returned instead of a response to make hyper close the connection without answering.
#[derive(Debug)]
pub(super) struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for CloseConnection {}

/// A response body: all of it, or a part followed by an error (which makes hyper abort the
/// connection mid-body).
#[derive(Debug)]
pub(super) struct ReplyBody {
    data: Option<Bytes>,
    exact_len: Option<u64>,
    fail_after_data: bool,
}

impl ReplyBody {
    fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self { exact_len: Some(data.len() as u64), data: Some(data), fail_after_data: false }
    }

    fn cut(data: Bytes) -> Self {
        Self { data: Some(data), exact_len: None, fail_after_data: true }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if std::mem::take(&mut self.fail_after_data) {
            return Poll::Ready(Some(Err(std::io::Error::other(
                "body truncated by fault injection",
            ))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.fail_after_data
    }

    fn size_hint(&self) -> SizeHint {
        self.exact_len.map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// The parts of a JSON-RPC request the server needs.
struct Envelope {
    id: Value,
    method: String,
    params: Value,
}

fn parse_envelope(body: &[u8]) -> Result<Envelope, RpcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RpcError::new(RpcErrorCode::ParseError, format!("parse error: {e}")))?;
    let invalid = |reason: &str| Err(RpcError::new(RpcErrorCode::InvalidRequest, reason));
    let Value::Object(mut obj) = value else {
        return if value.is_array() {
            invalid("batch requests are not supported by this server")
        } else {
            invalid("a request must be a JSON object")
        };
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    let Some(Value::String(method)) = obj.remove("method") else {
        return invalid("missing method");
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(p @ (Value::Array(_) | Value::Object(_))) => p,
        Some(_) => return invalid("params must be an array or an object"),
    };
    Ok(Envelope { id, method, params })
}

fn answer_json(id: &Value, answer: Result<Value, RpcError>) -> Value {
    match answer {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
    }
}

fn text(status: StatusCode, body: String) -> Response<ReplyBody> {
    let mut resp = Response::new(ReplyBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<ReplyBody> {
    let mut resp = Response::new(ReplyBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
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

/// Serve one request and date the answer by the server's clock (hyper would date it by the
/// system's).
pub(super) async fn serve_dated(
    shared: Arc<Shared>,
    port: PortKind,
    req: Request<Incoming>,
) -> Result<Response<ReplyBody>, CloseConnection> {
    let mut resp = serve(Arc::clone(&shared), port, req).await?;
    if let Ok(date) = HeaderValue::from_str(&shared.clock.http_date()) {
        resp.headers_mut().insert(DATE, date);
    }
    Ok(resp)
}

/// Serve one request.
async fn serve(
    shared: Arc<Shared>,
    port: PortKind,
    req: Request<Incoming>,
) -> Result<Response<ReplyBody>, CloseConnection> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| CloseConnection)?.to_bytes();
    let arrived_at = SystemTime::now();
    let seq = shared.log.next_seq();
    let mut headers = parts.headers;
    if let Some(auth) = headers.get_mut(AUTHORIZATION) {
        auth.set_sensitive(true);
    }
    let envelope = parse_envelope(&body);
    let (method, params, id) = match &envelope {
        Ok(e) => (e.method.clone(), e.params.clone(), e.id.clone()),
        Err(_) => (String::new(), Value::Null, Value::Null),
    };
    let mut record = RecordedCall {
        seq,
        port,
        method,
        params,
        id,
        headers,
        arrived_at,
        fault: None,
        outcome: Outcome::Closed,
    };

    if port == PortKind::Engine {
        let auth = record.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        if let Err(rejection) = shared.secret.validate(auth, shared.clock.unix_now()) {
            let reason = rejection.to_string();
            record.outcome = Outcome::Unauthorized { reason: reason.clone() };
            shared.log.push(record);
            return Ok(text(StatusCode::UNAUTHORIZED, reason));
        }
    }

    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(error) => return Ok(finish_json(&shared, record, Err(error))),
    };
    if port == PortKind::Public && envelope.method.starts_with("engine_") {
        let error = RpcError::method_not_found(&envelope.method);
        return Ok(finish_json(&shared, record, Err(error)));
    }

    let fault = shared.faults.take(&envelope.method);
    record.fault = fault.clone();
    let Some(fault) = fault else {
        let answer = shared.backend.handle(&envelope.method, &envelope.params);
        return Ok(finish_json(&shared, record, answer));
    };
    if let Some(answer) = fault.scripted_answer(&envelope.method) {
        return Ok(finish_json(&shared, record, answer));
    }
    match fault {
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            let answer = shared.backend.handle(&envelope.method, &envelope.params);
            Ok(finish_json(&shared, record, answer))
        }
        Fault::HttpStatus(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            record.outcome = Outcome::Http { status: status.as_u16() };
            shared.log.push(record);
            Ok(text(status, format!("injected HTTP {}", status.as_u16())))
        }
        Fault::MalformedJson => {
            record.outcome = Outcome::MalformedJson;
            shared.log.push(record);
            let body = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{"#, envelope.id);
            Ok(json_response(StatusCode::OK, body))
        }
        Fault::TruncatedBody => {
            let full = padded_answer(&envelope.id, 1024);
            let sent = full.len() / 2;
            record.outcome = Outcome::Truncated { declared: full.len(), sent };
            shared.log.push(record);
            let mut resp = Response::new(ReplyBody::cut(Bytes::from(full[..sent].to_vec())));
            resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(full.len()));
            Ok(resp)
        }
        Fault::OversizedBody { bytes } => {
            let body = padded_answer(&envelope.id, bytes);
            record.outcome = Outcome::Oversized { bytes: body.len() };
            shared.log.push(record);
            Ok(json_response(StatusCode::OK, body))
        }
        Fault::CloseConnection => {
            record.outcome = Outcome::Closed;
            shared.log.push(record);
            Err(CloseConnection)
        }
        Fault::LoseReply => {
            let _carried_out = shared.backend.handle(&envelope.method, &envelope.params);
            record.outcome = Outcome::Closed;
            shared.log.push(record);
            Err(CloseConnection)
        }
        Fault::Hang => {
            record.outcome = Outcome::Hung;
            shared.log.push(record);
            // Held until the server shuts down or goes down, which aborts this connection.
            std::future::pending::<()>().await;
            Err(CloseConnection)
        }
        // Handled by `scripted_answer` above.
        Fault::Result(_) | Fault::Status(_) | Fault::Error(_) => Err(CloseConnection),
    }
}

fn finish_json(
    shared: &Shared,
    mut record: RecordedCall,
    answer: Result<Value, RpcError>,
) -> Response<ReplyBody> {
    let body = answer_json(&record.id, answer);
    let bytes = body.to_string();
    record.outcome = Outcome::Json { status: 200, body };
    shared.log.push(record);
    json_response(StatusCode::OK, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Envelopes are parsed leniently where JSON-RPC allows and refused where it does not.
    #[test]
    fn envelope_rules() {
        let e = parse_envelope(br#"{"jsonrpc":"2.0","id":7,"method":"m"}"#).ok().unwrap();
        assert_eq!((e.id, e.method.as_str(), e.params), (json!(7), "m", json!([])));
        let code = |b: &[u8]| parse_envelope(b).err().unwrap().code;
        assert_eq!(code(b"{"), -32700);
        assert_eq!(code(b"[]"), -32600);
        assert_eq!(code(br#"{"id":1}"#), -32600);
        assert_eq!(code(br#"{"id":1,"method":"m","params":3}"#), -32600);
    }

    /// Padded answers are valid JSON of exactly the requested size.
    #[test]
    fn padded_answers_have_the_requested_size() {
        let body = padded_answer(&json!(1), 4096);
        assert_eq!(body.len(), 4096);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["result"].as_str().unwrap().starts_with("0x000"));
    }
}
