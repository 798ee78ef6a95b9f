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
//!
//! ```text
//!  ExecutionPool ── build_payload / commit / forkchoice_updated ──┐   (pool: ranking, lanes,
//!    │                                                           │    failover, fan-out,
//!    ├─ EngineClient (endpoint 0) ─┐                             │    replay buffer)
//!    ├─ EngineClient (endpoint 1) ─┼─ one method per Engine API call ┘
//!    └─ …                          │    capability check → breaker → timeout → retries
//!                                  └─ HttpTransport: JWT, traceparent, size limit, strict ids
//!  EthClient ── EthApi ── HttpTransport (public port, no JWT)
//! ```
//!
//! How other crates use it:
//!
//! - **One EL, raw calls**: [`client::EngineClient`] has one method per Engine API call,
//!   with an explicit version (`ForkSchedule::version_for` picks it). Tests stand a fake
//!   execution client behind it on loopback (engine-testkit's mock or devnet), so the whole
//!   wire path is what they exercise.
//! - **N ELs, the engine's operations**: [`pool::ExecutionPool`] builds
//!   ([`build_payload`](pool::ExecutionPool::build_payload)), commits
//!   ([`commit`](pool::ExecutionPool::commit)) and moves the head
//!   ([`forkchoice_updated`](pool::ExecutionPool::forkchoice_updated)), and reports every
//!   endpoint's [`health::EndpointStatus`].
//! - **Queries**: [`eth::EthClient`] implements [`eth::EthApi`].
//! - **Tracing**: wrap work in [`traceparent::with_correlation`] so the EL sees the
//!   correlation id as the W3C trace id; call [`metrics::describe`] once at startup.
//!
//! Secret and network hygiene: the JWT secret file is size-capped, followed for rotation
//! without a restart and zeroized ([`jwt`]); response bodies are bounded by the configured
//! limit, never by a declared length; proxy variables are ignored unless a proxy is
//! configured; URLs are redacted wherever they are shown ([`urls::redact_url`]); plain
//! `http://` to a host that is not loopback is warned about ([`transport`]).
//!
//! Per-call failures are [`engine_types::EngineError`]s (each with its severity); setup
//! problems and pool verdicts are [`error::ClientError`].

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod breaker;
mod capabilities;
pub mod client;
pub mod error;
pub mod eth;
pub mod health;
pub mod jwt;
pub mod metrics;
pub mod panic;
pub mod pool;
pub mod retry;
pub mod traceparent;
pub mod transport;
pub mod urls;

/// A boxed, `Send` future: what the dyn-compatible [`eth::EthApi`] returns, so its callers
/// can be tested against a fake.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The result of one call to an execution client.
pub type EngineResult<T> = Result<T, engine_types::EngineError>;
