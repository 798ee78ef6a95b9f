//! # engine-client
//!
//! Owns the conversation with execution clients over the wire: JSON-RPC 2.0 over HTTP(S)
//! with per-request JWT, the versioned Engine API calls, the public `eth_*` calls,
//! per-method timeouts and retries, error classification, endpoint health with a circuit
//! breaker, and a pool of ranked execution clients with failover and commit fan-out.
//!
//! Place in the DAG: depends on `engine-types` only; `engine-actor` builds on it, and a
//! downstream consensus client may take it alone.
//!
//! Must never depend on: `ractor`, `revm`, `testcontainers` (enforced by `cargo xtask ci`).

pub mod breaker;
mod capabilities;
pub mod client;
pub mod engine_api;
pub mod error;
pub mod eth;
pub mod health;
pub mod jwt;
pub mod metrics;
pub mod pool;
pub mod retry;
pub mod traceparent;
pub mod transport;
