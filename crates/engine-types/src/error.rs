//! The error taxonomy shared by every crate of the engine.
//!
//! Each error answers one question for the caller's policy through [`Severity`]: try the same
//! thing again, re-establish state first, or stop and tell an operator. Callers match on the
//! severity exhaustively, so a new variant forces a decision at compile time.

use crate::fork::ApiVersion;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// Transient: the same request, repeated after a backoff (or on another endpoint), may
    /// succeed. Timeouts, refused connections, HTTP 5xx, internal errors of the EL.
    Retry,
    /// The request cannot succeed as sent: re-establish state first (re-send the forkchoice
    /// state, rebuild the payload, switch endpoint, reconnect). Unknown payload, invalid
    /// forkchoice state or attributes, too deep reorg, a response that breaks the spec.
    Reset,
    /// Retrying cannot help without an operator: wrong secret, wrong fork configuration,
    /// a method the EL does not have, a request the EL cannot parse, invalid configuration.
    Fatal,
}

/// A JSON-RPC error code, with the Engine API's codes named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RpcErrorCode {
    /// -32700: invalid JSON was received.
    ParseError,
    /// -32600: the JSON sent is not a valid request object.
    InvalidRequest,
    /// -32601: the method does not exist or is not available.
    MethodNotFound,
    /// -32602: invalid method parameters.
    InvalidParams,
    /// -32603: internal JSON-RPC error.
    InternalError,
    /// -32000: generic server error (details in `data.err`).
    ServerError,
    /// -38001: the payload id is unknown.
    UnknownPayload,
    /// -38002: safe or finalized is not an ancestor of head, or is unknown.
    InvalidForkchoiceState,
    /// -38003: the attributes are invalid; the forkchoice state update is NOT rolled back.
    InvalidPayloadAttributes,
    /// -38004: too many items requested.
    TooLargeRequest,
    /// -38005: method used outside its fork.
    UnsupportedFork,
    /// -38006: the reorg is deeper than the EL can handle.
    TooDeepReorg,
    /// Any other code.
    Other(i64),
}

impl RpcErrorCode {
    /// The code for a number.
    pub const fn from_code(code: i64) -> Self {
        match code {
            -32700 => Self::ParseError,
            -32600 => Self::InvalidRequest,
            -32601 => Self::MethodNotFound,
            -32602 => Self::InvalidParams,
            -32603 => Self::InternalError,
            -32000 => Self::ServerError,
            -38001 => Self::UnknownPayload,
            -38002 => Self::InvalidForkchoiceState,
            -38003 => Self::InvalidPayloadAttributes,
            -38004 => Self::TooLargeRequest,
            -38005 => Self::UnsupportedFork,
            -38006 => Self::TooDeepReorg,
            other => Self::Other(other),
        }
    }

    /// The number on the wire.
    pub const fn code(self) -> i64 {
        match self {
            Self::ParseError => -32700,
            Self::InvalidRequest => -32600,
            Self::MethodNotFound => -32601,
            Self::InvalidParams => -32602,
            Self::InternalError => -32603,
            Self::ServerError => -32000,
            Self::UnknownPayload => -38001,
            Self::InvalidForkchoiceState => -38002,
            Self::InvalidPayloadAttributes => -38003,
            Self::TooLargeRequest => -38004,
            Self::UnsupportedFork => -38005,
            Self::TooDeepReorg => -38006,
            Self::Other(code) => code,
        }
    }

    /// What a caller should do about this code.
    pub const fn severity(self) -> Severity {
        match self {
            Self::InternalError | Self::ServerError | Self::Other(_) => Severity::Retry,
            Self::UnknownPayload
            | Self::InvalidForkchoiceState
            | Self::InvalidPayloadAttributes
            | Self::TooDeepReorg => Severity::Reset,
            Self::ParseError
            | Self::InvalidRequest
            | Self::MethodNotFound
            | Self::InvalidParams
            | Self::TooLargeRequest
            | Self::UnsupportedFork => Severity::Fatal,
        }
    }
}

/// A failure to exchange bytes with the execution client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection could not be made or broke before an answer.
    #[error("cannot reach {endpoint}: {reason}")]
    Connect {
        /// The endpoint (URL without credentials).
        endpoint: String,
        /// What the OS or the HTTP stack said.
        reason: String,
    },
    /// No complete answer within the method's timeout.
    #[error("{method} timed out after {after:?}")]
    Timeout {
        /// The JSON-RPC method.
        method: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The server answered with an HTTP status other than 200 (and other than 401/403,
    /// which are [`EngineError::Auth`]).
    #[error("HTTP {status}: {body}")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// The start of the body, for the log.
        body: String,
    },
    /// The body was larger than the configured limit; reading stopped at the limit.
    #[error("response body exceeds the {limit}-byte limit")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

impl TransportError {
    /// What a caller should do about this failure.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } => Severity::Retry,
            Self::HttpStatus { status, .. } if *status >= 500 || *status == 429 => Severity::Retry,
            Self::HttpStatus { .. } => Severity::Fatal,
            Self::BodyTooLarge { .. } => Severity::Reset,
        }
    }
}

/// Every way a conversation with an execution client can fail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The EL answered with a JSON-RPC error.
    #[error("{method}: JSON-RPC error {} ({code:?}): {message}", code.code())]
    Rpc {
        /// The JSON-RPC method.
        method: String,
        /// The error code.
        code: RpcErrorCode,
        /// The error message.
        message: String,
        /// The error's `data` field, when present (e.g. `{"err": …}` with -32000).
        data: Option<serde_json::Value>,
    },
    /// The bytes did not make it there and back.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The EL refused our JWT (HTTP 401 or 403): the secrets differ or the clocks are apart
    /// by more than 60 s. When the EL's answer carried a `Date` header, the message says
    /// which: the clocks, with the gap in seconds, or the secrets, the clocks being close.
    #[error("{endpoint} refused authentication (HTTP {status}): {}", auth_cause(*clock_gap))]
    Auth {
        /// The endpoint.
        endpoint: String,
        /// 401 or 403.
        status: u16,
        /// The EL's clock minus ours, in seconds, read off its answer's `Date` header
        /// (`None`: no usable `Date`). Dates have one-second resolution and are read after
        /// they were written, so this is known to about a second.
        clock_gap: Option<i64>,
    },
    /// The answer breaks the spec (malformed JSON, wrong shape, VALID with a wrong
    /// `latestValidHash`, …). It is never treated as success.
    #[error("{method}: bad response: {reason}")]
    BadResponse {
        /// The JSON-RPC method.
        method: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request cannot be expressed in this method version (e.g. withdrawals in V1
    /// attributes, a V3 payload sent to newPayloadV2).
    #[error("{method}: invalid request: {reason}")]
    InvalidRequest {
        /// The JSON-RPC method.
        method: String,
        /// What does not fit.
        reason: String,
    },
    /// The EL does not offer this method version (per `engine_exchangeCapabilities`).
    #[error("the execution client does not offer {method}{version}")]
    Unsupported {
        /// The method name without version.
        method: String,
        /// The version we needed.
        version: ApiVersion,
    },
    /// No endpoint of the pool can serve the request right now.
    #[error("no usable execution client: {reason}")]
    NoUsableEndpoint {
        /// Why each endpoint was unusable.
        reason: String,
    },
}

impl EngineError {
    /// What a caller should do about this error.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::Rpc { code, .. } => code.severity(),
            Self::Transport(t) => t.severity(),
            Self::BadResponse { .. } => Severity::Reset,
            Self::NoUsableEndpoint { .. } => Severity::Retry,
            Self::Auth { .. } | Self::InvalidRequest { .. } | Self::Unsupported { .. } => {
                Severity::Fatal
            }
        }
    }

    /// Shorthand for a [`BadResponse`](Self::BadResponse).
    pub fn bad_response(method: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadResponse { method: method.into(), reason: reason.into() }
    }

    /// Shorthand for an [`InvalidRequest`](Self::InvalidRequest).
    pub fn invalid_request(method: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidRequest { method: method.into(), reason: reason.into() }
    }

    /// A short, stable label of the error's class, for metrics (`rpc_-38002`, `timeout`, …).
    pub fn class(&self) -> String {
        match self {
            // A fixed label set: codes an EL invents would grow the metric without bound.
            Self::Rpc { code: RpcErrorCode::Other(_), .. } => "rpc_other".into(),
            Self::Rpc { code, .. } => format!("rpc_{}", code.code()),
            Self::Transport(TransportError::Connect { .. }) => "connect".into(),
            Self::Transport(TransportError::Timeout { .. }) => "timeout".into(),
            Self::Transport(TransportError::HttpStatus { status, .. }) => format!("http_{status}"),
            Self::Transport(TransportError::BodyTooLarge { .. }) => "body_too_large".into(),
            Self::Auth { .. } => "auth".into(),
            Self::BadResponse { .. } => "bad_response".into(),
            Self::InvalidRequest { .. } => "invalid_request".into(),
            Self::Unsupported { .. } => "unsupported".into(),
            Self::NoUsableEndpoint { .. } => "no_usable_endpoint".into(),
        }
    }
}

/// The Engine API's window on a token's `iat`, in seconds (`jwt::IAT_WINDOW_SECS`, which
/// lives behind the `jwt` feature).
const AUTH_IAT_WINDOW_SECS: u64 = 60;

/// Why an EL refused our token, as far as its `Date` header tells: a gap of the window or
/// more (a one-second reading error included) names the clocks, a smaller one the secrets.
fn auth_cause(clock_gap: Option<i64>) -> String {
    match clock_gap {
        None => format!(
            "the JWT secrets differ or the clocks are more than {AUTH_IAT_WINDOW_SECS} s apart"
        ),
        Some(gap) if gap.unsigned_abs() >= AUTH_IAT_WINDOW_SECS => format!(
            "the execution client's clock is {} s {} ours; the JWT iat must be within \
             ±{AUTH_IAT_WINDOW_SECS} s of its clock: synchronize both clocks (NTP)",
            gap.unsigned_abs(),
            if gap < 0 { "behind" } else { "ahead of" },
        ),
        Some(gap) => format!(
            "the JWT secrets differ (the clocks agree: the execution client's differs from \
             ours by {gap} s, within ±{AUTH_IAT_WINDOW_SECS} s)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spec code maps to its variant and back.
    #[test]
    fn codes_round_trip() {
        for code in [
            -32700, -32600, -32601, -32602, -32603, -32000, -38001, -38002, -38003, -38004, -38005,
            -38006, -1,
        ] {
            assert_eq!(RpcErrorCode::from_code(code).code(), code);
        }
        assert_eq!(RpcErrorCode::from_code(-38002), RpcErrorCode::InvalidForkchoiceState);
        assert_eq!(RpcErrorCode::from_code(7), RpcErrorCode::Other(7));
        let rpc = |code| EngineError::Rpc {
            method: "m".into(),
            code: RpcErrorCode::from_code(code),
            message: String::new(),
            data: None,
        };
        assert_eq!(rpc(-38006).class(), "rpc_-38006");
        assert_eq!(rpc(12345).class(), "rpc_other", "EL-chosen codes share one label");
        assert_eq!(rpc(-99).class(), rpc(7).class());
    }

    /// The severities callers rely on: transient things retry, state problems reset,
    /// configuration problems are fatal.
    #[test]
    fn severities_match_the_policy() {
        let rpc = |c| EngineError::Rpc {
            method: "m".into(),
            code: RpcErrorCode::from_code(c),
            message: String::new(),
            data: None,
        };
        assert_eq!(rpc(-32000).severity(), Severity::Retry);
        assert_eq!(rpc(-38001).severity(), Severity::Reset);
        assert_eq!(rpc(-38002).severity(), Severity::Reset);
        assert_eq!(rpc(-38005).severity(), Severity::Fatal);
        assert_eq!(rpc(-32602).severity(), Severity::Fatal);
        let timeout = TransportError::Timeout { method: "m".into(), after: Duration::from_secs(1) };
        assert_eq!(EngineError::from(timeout).severity(), Severity::Retry);
        let http =
            |s| EngineError::from(TransportError::HttpStatus { status: s, body: String::new() });
        assert_eq!(http(503).severity(), Severity::Retry);
        assert_eq!(http(404).severity(), Severity::Fatal);
        assert_eq!(
            EngineError::Auth { endpoint: "e".into(), status: 401, clock_gap: None }.severity(),
            Severity::Fatal
        );
        assert_eq!(EngineError::bad_response("m", "r").severity(), Severity::Reset);
    }

    /// A refused token's message names the cause the EL's clock points to: the clocks (with
    /// the gap and its direction) from 60 s apart on, the secrets below; both without a
    /// `Date`.
    #[test]
    fn auth_messages_name_the_clock() {
        let auth = |clock_gap| {
            EngineError::Auth { endpoint: "el:8551".into(), status: 401, clock_gap }.to_string()
        };
        assert_eq!(
            auth(None),
            "el:8551 refused authentication (HTTP 401): the JWT secrets differ or the clocks are more than 60 s apart"
        );
        assert_eq!(
            auth(Some(-61)),
            "el:8551 refused authentication (HTTP 401): the execution client's clock is 61 s behind ours; the JWT iat must be within ±60 s of its clock: synchronize both clocks (NTP)"
        );
        assert!(auth(Some(60)).contains("clock is 60 s ahead of ours"), "{}", auth(Some(60)));
        let close = auth(Some(-59));
        assert!(close.contains("the JWT secrets differ") && close.contains("by -59 s"), "{close}");
        assert!(!close.contains("behind"), "{close}");
    }

    /// Error messages name the method and the code, so a log line is enough to act on.
    #[test]
    fn messages_name_method_and_code() {
        let e = EngineError::Rpc {
            method: "engine_forkchoiceUpdatedV2".into(),
            code: RpcErrorCode::InvalidForkchoiceState,
            message: "bad".into(),
            data: None,
        };
        assert_eq!(
            e.to_string(),
            "engine_forkchoiceUpdatedV2: JSON-RPC error -38002 (InvalidForkchoiceState): bad"
        );
        assert_eq!(e.class(), "rpc_-38002");
    }
}
