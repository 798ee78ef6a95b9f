//! # engine-validation
//!
//! Owns the pure checks that stand between the execution client and the chain: payloads
//! against their parent and the request (block hash, number, timestamp, gas, base fee,
//! extra data, fee recipient, withdrawals = requested peg-ins), peg-out extraction from
//! receipts, and transaction admission.
//!
//! Place in the DAG: depends on `engine-types` only; used by `engine-actor`.
//!
//! Must never depend on: `tokio`, `ractor`, `reqwest` — it does no I/O and nothing async
//! (enforced by `cargo xtask ci`).
