//! A minimal JSON-RPC caller for the node's own checks (the start-up probe of each execution
//! client, the devnet simulator's nonce lookup and transaction submission). The engine's
//! real traffic goes through engine-client's pool, never through this.

use engine_testkit::JwtSecret;
use serde_json::{Value, json};
use std::time::Duration;

/// Timeout of one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call failed, in the classes the node reacts to differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RpcFailure {
    /// No connection (refused, reset, timed out).
    Unreachable(String),
    /// HTTP 401/403: the JWT was refused.
    Unauthorized,
    /// An answer that is not JSON-RPC, or another HTTP status.
    BadAnswer(String),
    /// A JSON-RPC error object.
    Error {
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
    },
}

impl std::fmt::Display for RpcFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(reason) => write!(f, "unreachable: {reason}"),
            Self::Unauthorized => f.write_str("401 Unauthorized"),
            Self::BadAnswer(reason) => write!(f, "bad answer: {reason}"),
            Self::Error { code, message } => write!(f, "error {code}: {message}"),
        }
    }
}

/// An error with its causes, innermost last: reqwest's own message ("error sending
/// request") says nothing of the refused connection underneath.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// One JSON-RPC endpoint, optionally JWT-authenticated.
#[derive(Debug, Clone)]
pub(crate) struct RpcClient {
    http: reqwest::Client,
    url: String,
    jwt: Option<JwtSecret>,
}

impl RpcClient {
    /// A client of `url`, minting a fresh token from `jwt` for each call when given.
    pub(crate) fn new(url: impl Into<String>, jwt: Option<JwtSecret>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self { http, url: url.into(), jwt })
    }

    /// Calls `method` with `params`; the `result` on success.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, RpcFailure> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(secret) = &self.jwt {
            let token = secret.mint().map_err(|e| RpcFailure::BadAnswer(e.to_string()))?;
            request = request.bearer_auth(token);
        }
        let response =
            request.send().await.map_err(|e| RpcFailure::Unreachable(error_chain(&e)))?;
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403) {
            return Err(RpcFailure::Unauthorized);
        }
        let text = response.text().await.map_err(|e| RpcFailure::Unreachable(e.to_string()))?;
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            let head: String = text.chars().take(80).collect();
            RpcFailure::BadAnswer(format!("HTTP {status}, not JSON: {head:?}"))
        })?;
        if let Some(error) = value.get("error") {
            return Err(RpcFailure::Error {
                code: error.get("code").and_then(Value::as_i64).unwrap_or_default(),
                message: error.get("message").and_then(Value::as_str).unwrap_or_default().into(),
            });
        }
        value
            .get("result")
            .cloned()
            .ok_or_else(|| RpcFailure::BadAnswer(format!("HTTP {status}, no result: {value}")))
    }

    /// Calls a method whose result is a QUANTITY.
    pub(crate) async fn call_u64(&self, method: &str, params: Value) -> Result<u64, RpcFailure> {
        let result = self.call(method, params).await?;
        result
            .as_str()
            .and_then(|s| s.strip_prefix("0x"))
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or_else(|| RpcFailure::BadAnswer(format!("{method} gave {result}, not a quantity")))
    }
}
