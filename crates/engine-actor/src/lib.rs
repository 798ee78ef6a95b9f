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
