//! Scenario tests of the engine actor against a scripted execution layer: each handler's
//! documented reply for every EL answer, and its effect on the EL and on the peers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_el;
mod harness;

mod admission;
mod bounds;
mod build;
mod commit;
mod forkchoice;
mod line;
mod money;
mod observability;
mod ownership;
mod pegout;
mod queries;
mod recovery;
mod supervision;
