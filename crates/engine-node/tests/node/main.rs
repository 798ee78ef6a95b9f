//! Scenarios of the built `engine-node` binary: it is spawned as a process with flags, and
//! judged by its exit code, its log lines, its HTTP endpoints and its data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod crash;
mod dashboard;
mod errors;
mod harness;
mod otlp;
mod outage;
mod redaction;
mod restart;
mod run;
