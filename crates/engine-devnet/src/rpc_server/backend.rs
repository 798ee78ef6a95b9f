//! What sits behind the server: anything that turns a JSON-RPC method and its params into a
//! result or an error.

use engine_types::RpcErrorCode;
use serde::Serialize;
use serde_json::Value;

/// The execution logic behind an [`RpcServer`](super::RpcServer): the mock's scripted chain,
/// the revm devnet, or a test's own closure.
///
/// The server has already checked the JWT, parsed the envelope, applied any scripted fault
/// and refused `engine_*` methods on the public port; the backend only answers calls. It is
/// called on a runtime thread, one call at a time per connection, so it should answer
/// quickly (milliseconds) and guard its state with a `std::sync::Mutex`.
pub trait RpcBackend: Send + Sync + 'static {
    /// Answer `method` with `params` (the request's `params`, `[]` when absent).
    fn handle(&self, method: &str, params: &Value) -> Result<Value, RpcError>;

    /// Forget what a restarted client would lose and start again (used when a server "comes
    /// back" without its chain). The default keeps the state. An error says what could not
    /// be brought back; [`RpcServer::come_back`](super::RpcServer::come_back) returns it
    /// and leaves the server down.
    fn reset(&self) -> Result<(), crate::DevnetError> {
        Ok(())
    }
}

impl<F> RpcBackend for F
where
    F: Fn(&str, &Value) -> Result<Value, RpcError> + Send + Sync + 'static,
{
    fn handle(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        self(method, params)
    }
}

/// A JSON-RPC error object, as sent in the `error` member of a response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    /// The code (see [`RpcErrorCode`] for the named ones).
    pub code: i64,
    /// The message.
    pub message: String,
    /// Extra data (e.g. `{"err": …}` with -32000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with this code and message.
    pub fn new(code: RpcErrorCode, message: impl Into<String>) -> Self {
        Self { code: code.code(), message: message.into(), data: None }
    }

    /// The same error with `data` attached.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32601: no such method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(RpcErrorCode::MethodNotFound, format!("the method {method} does not exist"))
    }

    /// -32602: bad params.
    pub fn invalid_params(reason: impl Into<String>) -> Self {
        Self::new(RpcErrorCode::InvalidParams, reason)
    }

    /// -32000: generic server error, with the detail in `data.err` as geth does.
    pub fn server(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(RpcErrorCode::ServerError, reason.clone())
            .with_data(serde_json::json!({ "err": reason }))
    }

    /// -38005: the method version does not match the fork of the timestamp.
    pub fn unsupported_fork(reason: impl Into<String>) -> Self {
        Self::new(RpcErrorCode::UnsupportedFork, reason)
    }
}
