//! # engine-testkit
//!
//! Owns the test doubles and fixtures: a scripted mock execution client, an in-process
//! devnet execution layer, a fault-injecting TCP proxy, testcontainers images, and genesis
//! and JWT fixtures.
//!
//! Place in the DAG: depends on `engine-types` only, so every other crate can take it as a
//! dev-dependency without cycles.
//!
//! Must never depend on: `engine-client`, `engine-actor`.

pub mod error;
pub mod fixtures;
pub mod jwt;
pub mod mock_el;
pub mod rpc_server;

pub use error::TestkitError;
pub use jwt::JwtSecret;
pub use mock_el::{MockBlock, MockEl, MockElConfig};
pub use rpc_server::{Fault, Outcome, RecordedCall, Restart, RpcBackend, RpcError, RpcServer};

#[cfg(feature = "devnet")]
pub mod devnet;
