//! # engine-node
//!
//! The Alys engine node: one command produces blocks. With no arguments it starts an
//! embedded devnet execution layer (revm, on loopback ports), assembles the engine and the
//! reference Chain, Bridge, Storage and Network actors, and produces a block every slot with
//! simulated peg-ins and peg-outs until Ctrl-C. With `--engine-url`/`--jwt-secret` (or a
//! config file) it drives real execution clients (Geth, Reth, …) instead, ranked in the
//! given order. Operators get `/metrics`, `/healthz`, `/readyz`, `/status`, a progress line
//! per block and OTLP traces.
//!
//! Place in the DAG: the top. Depends on `engine-actor` (the engine and its pool port),
//! `engine-testkit` (its devnet execution layer and dev fixtures only, never the
//! `containers` feature) and `engine-types`. Nothing depends on it.
//!
//! ```text
//!  cli ─> settings (defaults < --config TOML < ALYS_ENGINE_* < flags)
//!   └─> node::run ─┬─ devnet (embedded EL) | preflight (real ELs: reachable, JWT, chain id)
//!                  ├─ tree: Chain ─Build/Commit/WhatLanded/SetFinalized─> Engine ─> pool ─> EL
//!                  │        ^ └─ peg-in queue (chain-queue.log)             │
//!                  │        └───────────────── HeadChanged ─────────────────┤
//!                  │        Network <─ tx endpoint (eth_sendRawTransaction) │
//!                  │        Bridge <─BurnEventsDetected── Storage <─StoreExecutionData
//!                  └─ server: /metrics /healthz /readyz /status
//! ```
//!
//! Modules: [`cli`], [`settings`], [`jwt`], [`error`], [`telemetry`], [`metrics`],
//! [`malloc`], [`node`], [`preflight`], [`devnet`], [`tree`], [`actors`], [`store`], [`server`],
//! [`sim`], [`progress`], [`rpc`], [`shutdown`].

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod actors;
mod cli;
mod devnet;
mod error;
mod jwt;
mod malloc;
mod metrics;
mod node;
mod preflight;
mod progress;
mod rpc;
mod server;
mod settings;
mod shutdown;
mod sim;
mod store;
mod telemetry;
mod tree;

use clap::Parser;
use cli::{Cli, Command, ConfigAction};
use std::process::ExitCode;

fn main() -> ExitCode {
    let heap = malloc::tune();
    let cli = Cli::parse();
    if let Some(Command::Config { action: ConfigAction::PrintDefault }) = cli.command {
        print!("{}", settings::DEFAULT_CONFIG_TOML);
        return ExitCode::SUCCESS;
    }
    let telemetry =
        match telemetry::Telemetry::init(cli.run.log_format, cli.run.otlp_endpoint.as_deref()) {
            Ok(t) => t,
            Err(e) => return fail(&e),
        };
    tracing::debug!(
        ?heap,
        arena_max = malloc::ARENA_MAX,
        mmap_threshold = malloc::MMAP_THRESHOLD,
        "glibc heap settings"
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return fail(&error::NodeError::Runtime {
                reason: format!("cannot start the async runtime: {e}"),
            });
        }
    };
    let result = runtime.block_on(async {
        let settings = settings::Settings::resolve(&cli.run)?;
        node::run(settings).await
    });
    // Tasks still running (e.g. HTTP connections being closed) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints the error's paragraph and returns its exit code.
fn fail(error: &error::NodeError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(error.exit_code())
}
