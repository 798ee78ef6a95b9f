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
