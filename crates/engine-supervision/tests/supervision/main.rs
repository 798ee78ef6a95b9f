//! Scenarios for the supervisor actor, driven by toy children that panic, fail, refuse to
//! start, or stop cleanly. One binary, one module per concern; `harness` holds the toys.

// clippy.toml allows unwrap/expect inside #[test] functions only; the harness helpers are
// plain functions of a test binary, where a panic is the right way to fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod backoff;
mod escalation;
mod lifecycle;
mod observability;
mod restart_kinds;
mod strategies;
mod tree;
