//! One HTTP exchange: read the body (bounded by the port), parse the JSON-RPC envelope, check
//! the JWT and the port, then answer: by the hook if there is one, else by the backend.

use super::{
    PortKind, Shared,
    auth::TokenCheck,
    backend::RpcError,
    hook::{Envelope, Refusal, Request, Verdict},
};
use engine_types::RpcErrorCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::{
    HeaderMap, Response, StatusCode,
    body::{Body, Bytes, Frame, Incoming, SizeHint},
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use serde_json::{Value, json};
use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{SystemTime, UNIX_EPOCH},
};

/// Returned instead of a response to make hyper close the connection without answering.
#[derive(Debug)]
pub struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed without an answer")
    }
}

impl std::error::Error for CloseConnection {}

/// A response body: all of it, or a part followed by an error (which makes hyper abort the
/// connection mid-body).
#[derive(Debug)]
pub struct ReplyBody {
    data: Option<Bytes>,
    exact_len: Option<u64>,
    fail_after_data: bool,
}

impl ReplyBody {
    /// The whole body, its length announced.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self { exact_len: Some(data.len() as u64), data: Some(data), fail_after_data: false }
    }

    /// `data`, then an error that aborts the connection: a body cut short.
    pub const fn cut(data: Bytes) -> Self {
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
            return Poll::Ready(Some(Err(std::io::Error::other("body cut short"))));
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

/// The JSON-RPC response object answering request `id`.
pub fn answer_json(id: &Value, answer: Result<Value, RpcError>) -> Value {
    match answer {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
    }
}

/// The response object answering `id` and the HTTP 200 carrying it.
pub(super) fn json_answer(
    id: &Value,
    answer: Result<Value, RpcError>,
) -> (Value, Response<ReplyBody>) {
    let body = answer_json(id, answer);
    let response = json_response(StatusCode::OK, body.to_string());
    (body, response)
}

/// A `text/plain` answer with this status.
pub fn text_response(status: StatusCode, body: String) -> Response<ReplyBody> {
    let mut resp = Response::new(ReplyBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// An `application/json` answer with this status.
pub fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<ReplyBody> {
    let mut resp = Response::new(ReplyBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// What the server decides about a request whose body is `body`, at `now` by its clock.
fn judge(
    auth_check: &TokenCheck,
    port: PortKind,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Verdict {
    let parsed = parse_envelope(body);
    if port == PortKind::Engine {
        let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let unix_now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if let Err(rejection) = auth_check.check(auth, unix_now) {
            let refusal = Refusal::Unauthorized { reason: rejection.to_string() };
            return Verdict::Refused { call: parsed.ok(), refusal };
        }
    }
    match parsed {
        Err(error) => Verdict::Refused { call: None, refusal: Refusal::Rpc(error) },
        Ok(call) if port == PortKind::Public && call.method.starts_with("engine_") => {
            let refusal = Refusal::Rpc(RpcError::method_not_found(&call.method));
            Verdict::Refused { call: Some(call), refusal }
        }
        Ok(call) => Verdict::Admitted(call),
    }
}

/// Serve one request.
pub(super) async fn serve(
    shared: Arc<Shared>,
    port: PortKind,
    req: hyper::Request<Incoming>,
) -> Result<Response<ReplyBody>, CloseConnection> {
    let (parts, body) = req.into_parts();
    let limit = port.body_limit();
    let body = Limited::new(body, limit).collect().await;
    let arrived_at = SystemTime::now();
    let mut headers = parts.headers;
    if let Some(auth) = headers.get_mut(AUTHORIZATION) {
        auth.set_sensitive(true);
    }
    let verdict = match body {
        Ok(body) => {
            let now = shared.hook.as_ref().map_or(arrived_at, |hook| hook.now());
            judge(&shared.auth, port, &headers, &body.to_bytes(), now)
        }
        Err(e) if e.is::<LengthLimitError>() => {
            Verdict::Refused { call: None, refusal: Refusal::TooLarge { limit } }
        }
        // The client went away mid-body: nobody is left to answer.
        Err(_) => return Err(CloseConnection),
    };
    let request = Request { port, headers, arrived_at, verdict };
    match &shared.hook {
        None => Ok(request.answer(shared.backend.as_ref())),
        Some(hook) => hook.serve(request, shared.backend.as_ref()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::jwt::JwtSecret;

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

    /// The engine port checks the JWT before anything else, and still keeps the call for
    /// the hook; the public port refuses `engine_*` and serves the rest.
    #[test]
    fn verdicts_follow_port_and_token() {
        let secret = TokenCheck::new(JwtSecret::random());
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"engine_exchangeCapabilities"}"#;
        let none = HeaderMap::new();
        let v = judge(&secret, PortKind::Engine, &none, body, SystemTime::now());
        let Verdict::Refused { call: Some(call), refusal: Refusal::Unauthorized { .. } } = v else {
            panic!("{v:?}")
        };
        assert_eq!(call.method, "engine_exchangeCapabilities");
        let v = judge(&secret, PortKind::Public, &none, body, SystemTime::now());
        assert!(
            matches!(v, Verdict::Refused { refusal: Refusal::Rpc(ref e), .. } if e.code == -32601)
        );
        let eth = br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#;
        let v = judge(&secret, PortKind::Public, &none, eth, SystemTime::now());
        assert!(matches!(v, Verdict::Admitted(ref c) if c.method == "eth_chainId"));
        let v = judge(&secret, PortKind::Public, &none, b"{", SystemTime::now());
        assert!(
            matches!(v, Verdict::Refused { call: None, refusal: Refusal::Rpc(ref e) } if e.code == -32700)
        );
    }
}
