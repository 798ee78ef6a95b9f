//! # engine-types
//!
//! The vocabulary of the Alys engine: what goes over the wire to an execution client and
//! what the rest of the engine reasons about.
//!
//! - **Wire**: re-exports of alloy's Engine API types ([`engine`], [`primitives`]), the
//!   versioned request parameters ([`request`]), and a tolerant payload-status type
//!   ([`status`]) that accepts every status the spec allows (alloy's does not).
//! - **Domain**: the fork schedule and the method version it implies ([`fork`]), amounts in
//!   sats, Gwei and wei ([`amount`]), peg-ins turned into withdrawals ([`pegin`]), peg-outs and
//!   the bridge event ABI ([`pegout`]), the Alys constants ([`constants`]), correlation ids
//!   ([`correlation`]).
//! - **Errors**: the taxonomy shared by every crate, each error classified by
//!   [`Severity`] ([`error`]).
//! - **JWT** (feature `jwt`): the secret file format, token minting and the server-side
//!   check, shared by the client and the test execution layers (module `jwt`).
//! - **Config**: plain serde sections with documented defaults and a `validate()` that reports
//!   every problem at once ([`config`]).
//!
//! ```text
//!  peg-ins ──pack──> withdrawals ──> PayloadAttributes ──> EngineRequest::params() ──> JSON
//!  JSON ──> PayloadStatusWire ──check against the request──> PayloadStatus | EngineError
//! ```
//!
//! Place in the DAG: the root. Every other crate depends on it; it depends on no internal
//! crate, so a downstream consensus client can take it alone and get a small tree.
//!
//! Must never depend on: `tokio`, `ractor`, `reqwest`, `hyper`, `revm` (enforced by
//! `cargo xtask ci`). No I/O happens here.

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod amount;
pub mod config;
pub mod constants;
pub mod correlation;
pub mod error;
pub mod fork;
#[cfg(feature = "jwt")]
pub mod jwt;
pub mod pegin;
pub mod pegout;
pub mod request;
pub mod response;
pub mod status;

/// alloy's Engine API types (payloads, attributes, forkchoice, statuses), re-exported so that
/// downstream crates use the same version as the engine.
pub use alloy_rpc_types_engine as engine;

/// alloy's primitive types (`Address`, `B256`, `U256`, `Bytes`, …).
pub use alloy_primitives as primitives;

/// EIP types used on the wire (withdrawals, EIP-7685 requests).
pub use alloy_eips as eips;

pub use amount::{AmountError, Gwei, Satoshis};
pub use correlation::CorrelationId;
pub use error::{EngineError, RpcErrorCode, Severity, TransportError};
pub use fork::{ApiVersion, EngineMethod, Fork, ForkSchedule};
pub use pegin::{PegIn, WithdrawalBatch};
pub use pegout::PegOutRequest;
pub use request::EngineRequest;
pub use response::{GetPayloadResponse, GetPayloadSeed};
pub use status::{
    ForkchoiceOutcome, ForkchoiceUpdatedWire, PayloadStatus, PayloadStatusWire, StatusKind,
};
