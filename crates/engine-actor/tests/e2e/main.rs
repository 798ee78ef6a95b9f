//! End-to-end: the engine actor over real HTTP through engine-client's pool, against the
//! devnet (engine-devnet, real EVM execution) and mock execution layers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod devnet;
mod failover;
mod lane_panic;
mod strict_el;
mod trace;
