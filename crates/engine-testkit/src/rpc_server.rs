//! The JSON-RPC server both test execution layers answer through (engine-devnet's
//! [`RpcServer`]: an engine port that checks the JWT, a public port, a pluggable
//! [`RpcBackend`]), and [`Script`], the hook a test puts around it: faults scripted per
//! method, every call recorded with its answer, and a clock shifted at will.
//!
//! ```text
//!  request ─> engine port: JWT check (401) ─┐
//!  request ─> public port: engine_* → -32601 ├─> envelope ─> Script: fault? ─> backend
//!                                            └──────────── recorded with its outcome
//! ```
//!
//! # Plugging in a backend
//!
//! The mock execution client ([`MockEl`](crate::MockEl)) is one backend; the revm devnet is
//! another. A backend implements [`RpcBackend`] (a closure
//! `Fn(&str, &Value) -> Result<Value, RpcError>` does too):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use engine_testkit::rpc_server::{Recording, RpcBackend, RpcError, RpcServer, Script};
//! use engine_testkit::JwtSecret;
//! use serde_json::{Value, json};
//! use std::{net::SocketAddr, sync::Arc};
//!
//! struct Chain;
//! impl RpcBackend for Chain {
//!     fn handle(&self, method: &str, _params: &Value) -> Result<Value, RpcError> {
//!         match method {
//!             "eth_chainId" => Ok(json!("0x1d97c")),
//!             other => Err(RpcError::method_not_found(other)),
//!         }
//!     }
//! }
//! let script = Script::new(Recording::DEFAULT);
//! let any = SocketAddr::from(([127, 0, 0, 1], 0));
//! let server =
//!     RpcServer::start_at(Arc::new(Chain), JwtSecret::random(), (any, any), Some(script.hook()))
//!         .await?;
//! println!("engine {} public {}", server.engine_url(), server.public_url());
//! # Ok(()) }
//! ```

mod clock;
mod fault;
mod recording;
mod script;

pub use engine_devnet::rpc_server::{
    CallHook, ElPorts, Envelope, HookFuture, PortKind, Refusal, Request, Restart, RpcBackend,
    RpcError, RpcServer, Verdict,
};
pub use fault::{ANY_METHOD, Fault};
pub use recording::{DEFAULT_RECORDED_CALLS, Outcome, RecordedCall, Recording};
pub use script::Script;
