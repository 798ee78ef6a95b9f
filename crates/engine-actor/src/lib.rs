//! # engine-actor
//!
//! Owns the ractor `EngineActor`: its message protocol with the Chain, Bridge, Storage and
//! Network actors, the single-writer forkchoice state, the payload cache, persisted state
//! and crash recovery, metrics and tracing, and the assembly of the supervision tree.
//!
//! Place in the DAG: depends on `engine-types`, `engine-client`, `engine-validation` and
//! `engine-supervision`; `engine-node` runs it.
//!
//! Must never depend on: `revm`, `testcontainers` (tests reach them through the testkit).
//!
//! ```text
//!  ChainActor ─ChainRequest─(ChainLine)──────────────┐
//!  ChainActor ──ChainRequest──┐                         ▼ ┌─> ExecutionPort (pool + eth)
//!  anyone ─────QueryMsg───┼─> EngineActor ─worker──>┤
//!  NetworkActor ─NetworkRequest┘      │                 └─> engine-state.log (1 sync/save)
//!                                 ├─BurnEventsDetected─> BridgeActor
//!                                 └─StoreExecutionData─> StorageActor
//! ```
//!
//! The Chain's requests may take its [`ChainLine`] instead of the mailbox: the same routing
//! onto the same worker queue, without the actor's hop (see [`line`](mod@line)).
//!
//! Using it: build an [`ExecutionPort`] (in production [`port::PoolPort`] over engine-client's
//! pool), give the engine its peers ([`peers::ActorAddresses`]; under the V2 tree,
//! [`tree::registry_addresses`] and [`tree::engine_v2_tree`]), spawn it, and call it:
//!
//! ```no_run
//! # async fn demo(
//! #     port: std::sync::Arc<dyn engine_actor::ExecutionPort>,
//! #     chain: ractor::ActorCell,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use engine_actor::{
//!     ChainLine, ChainRequest, EngineActor, EngineActorConfig, EngineArgs,
//!     peers::{ActorAddresses, Watched},
//! };
//! use engine_types::{CorrelationId, config::ChainConfig};
//! use ractor::Actor;
//! use std::time::Duration;
//!
//! let config = EngineActorConfig::new(ChainConfig::default(), "/var/lib/alys/engine");
//! let peers =
//!     ActorAddresses {
//!         chain: Watched::Cell(chain),
//!         bridge: None,
//!         storage: None,
//!         network: None,
//!         chain_events: None,
//!     };
//! // Every incarnation of the engine connects the line; the Chain keeps a clone of it.
//! let line = ChainLine::new();
//! let args = EngineArgs { config, port, peers, line: line.clone() };
//! let (_engine, _join) = Actor::spawn(None, EngineActor, args).await?;
//! let build = |reply| ChainRequest::BuildPayload {
//!     correlation: CorrelationId::new(),
//!     parent: None,
//!     timestamp: 1_700_000_000,
//!     peg_ins: Vec::new(),
//!     fee_recipient: None,
//!     prev_randao: None,
//!     reply,
//! };
//! // The same request goes through the mailbox too: `_engine.call(|r| build(r).into(), ..)`.
//! if let Ok(built) = line.call(build, Duration::from_secs(12)).await? {
//!     println!("built {} worth {} wei", built.payload.block_hash(), built.block_value);
//! }
//! # Ok(()) }
//! ```
//!
//! Modules: [`messages`] (the protocol), [`actor`] (the actor, its forkchoice worker and
//! query tasks), [`line`](mod@line) (the Chain's direct line to the worker), [`port`] (what
//! it needs from the execution layer), [`peers`] (how it reaches other actors), [`heads`],
//! [`persist`], [`minted`], [`cache`], [`rate_limit`], [`status`], [`config`], [`tree`],
//! [`metrics`], [`error`].

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod actor;
pub mod cache;
pub mod config;
pub mod error;
pub mod heads;
pub mod line;
pub mod messages;
pub mod metrics;
pub mod minted;
pub mod peers;
pub mod persist;
pub mod port;
pub mod rate_limit;
pub mod status;
pub mod tree;

pub use actor::{EngineActor, EngineArgs};
pub use config::EngineActorConfig;
pub use error::ActorError;
pub use line::ChainLine;
pub use messages::{ChainRequest, EngineMsg, NetworkRequest, QueryMsg};
pub use port::ExecutionPort;

/// The supervision crate, re-exported so that the binary (which depends on this crate, not on
/// engine-supervision) can write the child factories [`tree::engine_v2_tree`] takes.
pub use engine_supervision as supervision;

/// The client crate, re-exported for the same reason: the binary describes its metrics and
/// configures endpoints without a second path to the same types.
pub use engine_client as client;
