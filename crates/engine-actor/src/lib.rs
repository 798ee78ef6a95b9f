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
//!  ChainActor ──ChainMsg──┐                         ┌─> ExecutionPort (pool + eth)
//!  anyone ─────QueryMsg───┼─> EngineActor ─worker──>┤
//!  NetworkActor ─NetworkMsg┘      │                 └─> engine-state.json (atomic)
//!                                 ├─BurnEventsDetected─> BridgeActor
//!                                 └─StoreExecutionData─> StorageActor
//! ```
//!
//! Modules: [`messages`] (the protocol), [`actor`] (the actor, its forkchoice worker and
//! query tasks), [`port`] (what it needs from the execution layer), [`peers`] (how it
//! reaches other actors), [`heads`], [`persist`], [`cache`], [`rate_limit`], [`status`],
//! [`config`], [`metrics`], [`error`].

pub mod actor;
pub mod cache;
pub mod config;
pub mod error;
pub mod heads;
pub mod messages;
pub mod metrics;
pub mod peers;
pub mod persist;
pub mod port;
pub mod rate_limit;
pub mod status;
pub mod tree;

pub use actor::{EngineActor, EngineArgs};
pub use config::EngineActorConfig;
pub use error::ActorError;
pub use messages::{ChainMsg, EngineMsg, NetworkMsg, QueryMsg};
pub use port::ExecutionPort;
