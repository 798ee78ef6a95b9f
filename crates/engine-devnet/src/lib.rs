//! # engine-devnet
//!
//! Owns the embedded devnet execution layer: real EVM execution (revm) behind the Engine
//! API, served over JSON-RPC on loopback ports like a real client, with the genesis, the
//! development keys and the rules where real clients differ that it follows. `engine-node`
//! ships it (`--execution-layer devnet`, the default); engine-testkit wraps it for tests.
//!
//! Place in the DAG: depends on `engine-types` only. Must never depend on `engine-client`,
//! `engine-actor` or `engine-testkit`, and holds no test-only code: fault scripts and call
//! recording live in engine-testkit and attach through a [`CallHook`](rpc_server::CallHook).
//!
//! ```text
//!   engine port (JWT) ─┐                       ┌─> Chain: blocks + post-states, canonical index
//!                      ├─> JSON-RPC dispatch ──┤       forkchoice, build / verify (revm)
//!   public port ───────┘                       └─> TxPool: admitted transactions by sender
//! ```
//!
//! [`Devnet`] is the execution layer itself and can be driven directly (tests, benches);
//! [`DevnetEl`] serves it over HTTP JSON-RPC like a real client: an engine port that checks
//! JWTs and a public port ([`rpc_server`]).
//!
//! What it implements: Shanghai and Cancun (V2/V3 Engine API methods by timestamp; Prague is
//! refused at genesis), legacy / EIP-2930 / EIP-1559 transactions, withdrawals credited in
//! Gwei, base fee burned and tips paid to the fee recipient, receipts and logs, state and
//! receipt roots checked on import, reorgs to any known block off the canonical chain. A
//! head moved back to a canonical ancestor is handled as its
//! [`AncestorPolicy`](el_rules::AncestorPolicy) says (by default skipped, as Geth up
//! to v1.17.2 does), and reorgs reach as far back as states are kept. Not implemented: blob
//! transactions in the pool (no sidecars), EIP-7702, Prague requests.
//!
//! With a data directory ([`DevnetConfig::data_dir`]) it has a disk, as a real client does:
//! every block it accepts is written durably before `newPayload` answers VALID, with the
//! forkchoice state it applies, and a devnet started again on the directory re-executes
//! them and comes back at the same head (`journal`, one redb file). The disk is bounded
//! too: a checkpoint of a finalized block's state lets the blocks below it go, so neither
//! the file nor a restart's work grows with the chain ([`Retention::history_blocks`]).
//!
//! Memory is bounded, because the devnet runs inside `engine-node` for as long as the node
//! does: old blocks and states are pruned ([`Retention`]), the pool is capped
//! ([`PoolLimits`]), request bodies are bounded per port as Geth bounds them, and the
//! server keeps no record of calls.
//!
//! - [`el_rules`]: where real execution clients differ (a forkchoiceUpdated naming an older
//!   canonical block: [`AncestorPolicy`](el_rules::AncestorPolicy); `eth_syncing` without
//!   peers: [`SyncingProbe`](el_rules::SyncingProbe)), one set of rules the devnet and
//!   engine-testkit's mock follow.
//! - [`keys`]: the funded development keys and a transfer / peg-out signer.
//! - [`GenesisBuilder`] and [`dev_genesis`]: geth-style genesis files.

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod el_rules;
pub mod keys;
pub mod rpc_server;

mod bridge;
mod chain;
mod db;
mod devnet_el;
mod el;
mod engine;
mod error;
mod execute;
mod genesis;
mod journal;
mod pool;
mod rpc;
mod state;
#[cfg(test)]
mod testing;

pub use bridge::{BRIDGE_RUNTIME_CODE, bridge_genesis_account};
pub use chain::Retention;
pub use devnet_el::{DevnetConfig, DevnetEl};
pub use el::Devnet;
pub use error::DevnetError;
pub use genesis::{DEV_ACCOUNT_WEI, GenesisBuilder, dev_genesis};
pub use journal::JOURNAL_FILE_NAME;
pub use pool::PoolLimits;
