//! # engine-testkit
//!
//! Owns the test doubles and fixtures: a scripted mock execution client, the hook that
//! scripts faults and records calls on any execution layer it serves (the mock's or the
//! devnet's), a fault-injecting TCP proxy, testcontainers images, and JWT fixtures. The
//! devnet execution layer itself, the genesis builder and the development keys live in
//! `engine-devnet` (the node ships them) and are re-exported here.
//!
//! Place in the DAG: depends on `engine-types` and `engine-devnet` only, so every other
//! crate but those two can take it as a dev-dependency without cycles.
//!
//! Must never depend on: `engine-client`, `engine-actor`.
//!
//! ```text
//!  client under test ──> [ChaosProxy] ──> RpcServer: engine port (JWT) / public port
//!                                            │  Script: scripted Fault? ── recorded call
//!                                            └─> RpcBackend: MockEl's chain | devnet (revm)
//! ```
//!
//! - [`mock_el`]: [`MockEl`], a scripted mock execution client with a coherent in-memory
//!   chain (Paris to Prague), faults per method and every call recorded.
//! - [`rpc_server`]: the JSON-RPC-over-HTTP server both execution layers share, the
//!   [`RpcBackend`] trait that plugs a chain into it, and the [`Script`] around it.
//! - [`devnet`]: engine-devnet, the revm execution layer.
//! - [`el_rules`]: where real execution clients differ (a forkchoiceUpdated naming an older
//!   canonical block: [`AncestorPolicy`]; `eth_syncing` without peers: [`SyncingProbe`]),
//!   as one set of rules both execution layers follow.
//! - [`chaos_proxy`]: [`ChaosProxy`], a TCP proxy adding latency, bandwidth caps,
//!   black holes, lost or cut replies, floods, resets and refusals in front of any address.
//! - [`jwt`]: the Engine API's JWT rules, server side, and token minting for tests.
//! - [`fixtures`]: JWT secret files; a geth-style genesis builder, dev keys and transfers.
//!
//! A client test against the mock:
//!
//! ```no_run
//! # async fn demo() -> Result<(), engine_testkit::TestkitError> {
//! use engine_testkit::{ElPorts, Fault, MockEl, MockElConfig};
//! use engine_types::{Fork, ForkSchedule, PayloadStatusWire};
//! use std::time::Duration;
//!
//! let el = MockEl::start(MockElConfig::default()).await?; // Shanghai from genesis
//! let (engine_url, public_url) = (el.engine_url(), el.public_url());
//! let jwt_file = el.jwt_secret_path(); // or el.jwt_secret_hex()
//! # let _ = (engine_url, public_url, jwt_file);
//!
//! // The next three newPayloadV2 answer SYNCING; the fourth is judged by the chain.
//! el.fail_next("engine_newPayloadV2", Fault::Status(PayloadStatusWire::syncing()), 3);
//! el.fail_next("engine_forkchoiceUpdatedV2", Fault::Hang, 1);
//! // … drive the client under test …
//! let sent = el.wait_for_calls("engine_newPayloadV2", 4, Duration::from_secs(5)).await?;
//! assert_eq!(sent[3].result().and_then(|r| r.get("status")), Some(&"VALID".into()));
//!
//! // Cancun from genesis: the mock then requires V3 methods (-38005 otherwise).
//! let cancun = MockEl::start(MockElConfig::with_forks(ForkSchedule::all_from_genesis(
//!     Fork::Cancun,
//! )))
//! .await?;
//! # let _ = cancun;
//! # Ok(()) }
//! ```

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod chaos_proxy;
pub mod error;
pub mod fixtures;
pub mod jwt;
pub mod mock_el;
pub mod rpc_server;

/// The embedded devnet execution layer (revm), from engine-devnet.
pub use engine_devnet as devnet;
/// Where real execution clients differ, from engine-devnet: one set of rules the mock and
/// the devnet follow.
pub use engine_devnet::el_rules;

pub use chaos_proxy::{ChaosProxy, ChaosSettings, FloodBody, HUNDRED_MB, ProxiedRequest};
pub use el_rules::{AncestorPolicy, SyncingProbe};
pub use error::TestkitError;
pub use jwt::JwtSecret;
pub use mock_el::{FillPolicy, MockBlock, MockEl, MockElConfig};
pub use rpc_server::{
    ElPorts, Fault, Outcome, RecordedCall, Recording, Restart, RpcBackend, RpcError, RpcServer,
    Script,
};

#[cfg(feature = "containers")]
pub mod containers;
