//! The in-process devnet execution layer: real EVM execution (revm) behind the Engine API.
//!
//! ```text
//!   engine port (JWT) ─┐                       ┌─> Chain: blocks + post-states, canonical index
//!                      ├─> JSON-RPC dispatch ──┤       forkchoice, build / verify (revm)
//!   public port ───────┘                       └─> TxPool: admitted transactions by sender
//! ```
//!
//! [`Devnet`] is the execution layer itself and can be driven directly (tests, benches);
//! [`DevnetEl`] serves it over HTTP JSON-RPC like a real client: an engine port that checks
//! JWTs and a public port.
//!
//! What it implements: Shanghai and Cancun (V2/V3 Engine API methods by timestamp; Prague is
//! refused at genesis), legacy / EIP-2930 / EIP-1559 transactions, withdrawals credited in
//! Gwei, base fee burned and tips paid to the fee recipient, receipts and logs, state and
//! receipt roots checked on import, reorgs to any known block off the canonical chain. A
//! head moved back to a canonical ancestor is handled as its
//! [`AncestorPolicy`](crate::el_rules::AncestorPolicy) says (by default skipped, as Geth up
//! to v1.17.2 does), and reorgs reach as far back as states are kept. Not implemented: blob
//! transactions in the pool (no sidecars), EIP-7702, Prague requests.
//!
//! Memory is bounded, because the devnet runs inside `engine-node` for as long as the node
//! does: old blocks and states are pruned ([`Retention`]), the pool is capped
//! ([`PoolLimits`]), and the server records no calls unless asked
//! ([`DevnetConfig::recording`]).

mod bridge;
mod chain;
mod db;
mod el;
mod engine;
mod error;
mod execute;
mod genesis;
mod pool;
mod rpc;
mod server;
mod state;
#[cfg(test)]
mod testing;

pub use bridge::{BRIDGE_RUNTIME_CODE, bridge_genesis_account};
pub use chain::Retention;
pub use el::Devnet;
pub use error::DevnetError;
pub use genesis::{DEV_ACCOUNT_WEI, dev_genesis};
pub use pool::PoolLimits;
pub use server::{DevnetConfig, DevnetEl};
