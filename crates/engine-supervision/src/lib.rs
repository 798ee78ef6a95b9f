//! # engine-supervision
//!
//! Owns supervision: restart policies (one-for-one, one-for-all, rest-for-one), backoff with
//! jitter, restart intensity limits and escalation, priorities, a generic ractor supervisor
//! actor that applies them, and the declarative description of the Alys V2 actor tree.
//!
//! Place in the DAG: depends on `engine-types` only; `engine-actor` fills the tree with its
//! child factories.
//!
//! Must never depend on: `reqwest`, `revm`.
//!
//! ```text
//!   child exits ──> Supervisor ── restart kind says no ──> Exited (done)
//!   (ActorFailed /      │
//!    ActorTerminated)   ├─ intensity window full ──> stop children, fail itself ──> parent decides
//!                       │
//!                       └─ strategy picks the group ─> stop siblings (reverse order)
//!                                                      │
//!            RestartDue{child, generation} <── timer ──┘ after backoff(attempt)
//!                       │   (stale generation: ignored)
//!                       └─> factory(SpawnCtx) in start order ─ Err ─> backoff again
//!                                   │ Ok
//!                                   └─> ChildEvent::Started on the tree's OutputPort
//! ```
//!
//! Modules: [`policy`] (plain data), [`backoff`], [`intensity`], [`supervisor`] (the actor),
//! [`tree`] (declarative trees, the V2 shape, rendering), [`metrics`], [`error`].

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod backoff;
pub mod error;
pub mod intensity;
pub mod metrics;
pub mod policy;
pub mod supervisor;
pub mod tree;

pub use error::{Severity, SupervisionError};
