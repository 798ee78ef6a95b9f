//! What may stand around each call a server serves: nothing in production; in tests,
//! engine-testkit's `Script` (scripted faults, call recording, a shifted clock).
//!
//! The server reads the request (bounded), parses the envelope and checks the JWT and the
//! port, then hands the [`Request`] with its [`Verdict`] to the hook, which answers it: by
//! asking the backend ([`Request::answer`], what the server does without a hook) or
//! otherwise.

use super::{
    PortKind, RpcBackend, RpcError,
    http::{CloseConnection, ReplyBody, json_answer, text_response},
};
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::Value;
use std::{future::Future, pin::Pin, time::SystemTime};

/// The JSON-RPC members of a request the server needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The request `id` (`null` when absent).
    pub id: Value,
    /// The method.
    pub method: String,
    /// The `params` (`[]` when absent).
    pub params: Value,
}

/// Why the server refuses a request before any backend sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// HTTP 401: the JWT was refused (engine port only).
    Unauthorized {
        /// Why, as the answer's text says.
        reason: String,
    },
    /// HTTP 413: the body is over the port's [`body_limit`](PortKind::body_limit).
    TooLarge {
        /// The port's limit in bytes.
        limit: usize,
    },
    /// A JSON-RPC error with HTTP 200: the body is not a request, or an `engine_*` method
    /// came in on the public port.
    Rpc(RpcError),
}

impl Refusal {
    /// The answer the server gives for this refusal to the request `id`.
    pub fn response(&self, id: &Value) -> Response<ReplyBody> {
        match self {
            Self::Unauthorized { reason } => {
                text_response(StatusCode::UNAUTHORIZED, reason.clone())
            }
            Self::TooLarge { limit } => text_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("content length too large (limit {limit} bytes)"),
            ),
            Self::Rpc(error) => json_answer(id, Err(error.clone())).1,
        }
    }
}

/// What the server decided about a request before the hook sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Authorised, well-formed and on the right port: the backend may answer it.
    Admitted(Envelope),
    /// Refused: answer with [`Refusal::response`].
    Refused {
        /// The call, when the body parsed as one (recorded even when refused).
        call: Option<Envelope>,
        /// Why.
        refusal: Refusal,
    },
}

/// One request as the server read it.
#[derive(Debug)]
pub struct Request {
    /// Which port it came in on.
    pub port: PortKind,
    /// The HTTP headers (the `Authorization` value is marked sensitive, so `Debug` hides it).
    pub headers: HeaderMap,
    /// When its body had been read.
    pub arrived_at: SystemTime,
    /// What the server decided.
    pub verdict: Verdict,
}

impl Request {
    /// The call, when the body parsed as one.
    pub const fn call(&self) -> Option<&Envelope> {
        match &self.verdict {
            Verdict::Admitted(call) | Verdict::Refused { call: Some(call), .. } => Some(call),
            Verdict::Refused { call: None, .. } => None,
        }
    }

    /// What the server answers without a hook: the refusal, or the backend's answer (as
    /// JSON-RPC with HTTP 200).
    pub fn answer(&self, backend: &dyn RpcBackend) -> Response<ReplyBody> {
        match &self.verdict {
            Verdict::Admitted(call) => {
                json_answer(&call.id, backend.handle(&call.method, &call.params)).1
            }
            Verdict::Refused { call, refusal } => {
                refusal.response(call.as_ref().map_or(&Value::Null, |c| &c.id))
            }
        }
    }
}

/// The answer a hook gives: a response, or the connection closed without one.
pub type HookFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Response<ReplyBody>, CloseConnection>> + Send + 'a>>;

/// Something that stands around every call of a server.
pub trait CallHook: Send + Sync + std::fmt::Debug + 'static {
    /// The time by the server's clock: the JWT `iat` check and every answer's `Date` follow
    /// it (the system's by default).
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// Answer `request`; [`Request::answer`] is what the server would do alone.
    fn serve<'a>(&'a self, request: Request, backend: &'a dyn RpcBackend) -> HookFuture<'a>;
}
