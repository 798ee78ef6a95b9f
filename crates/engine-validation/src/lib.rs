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
//!
//! ```text
//!  getPayload / newPayload ──> PayloadValidator::validate(payload, sidecar, parent, origin)
//!                                 ├─ Ok(ValidatedPayload { block_hash, header, txs })
//!                                 └─ Err(PayloadInvalid { violations: [every reason found] })
//!  committed block receipts ──> PegOutScanner::scan ──> PegOutScan { payable, unpayable, malformed }
//!  eth_sendRawTransaction ───> AdmissionPolicy::admit ──> Verdict::{Admitted, Rejected(reason)}
//! ```
//!
//! - [`payload`]: one pass over a payload that lists *every* violation, each a typed variant
//!   with the expected and the observed value. The block hash is recomputed (alloy converts but
//!   never checks it), withdrawals must equal the peg-ins the consensus layer asked for — the
//!   old node accepted extra withdrawals, which minted coins.
//! - [`pegout`]: `RequestPegOut` events of the bridge contract in successful receipts, with
//!   block-wide log indices, classified as payable or not (dust, bad bitcoin address); nothing
//!   is dropped.
//! - [`admission`]: stateless checks of a raw transaction (decoding, signer, chain id, size,
//!   gas, fees, blobs) plus the stateful ones (nonce, balance) when the caller knows the
//!   account.
//!
//! Every check is a plain function of its inputs: no clock, no I/O, no global state, so it is
//! cheap to fuzz and to reuse from any caller.

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod admission;
pub mod error;
pub mod payload;
pub mod pegout;

mod envelope;
mod keccak;

pub use admission::{
    AccountState, AdmissionContext, AdmissionPolicy, Admitted, TxRejection, Verdict,
};
pub use error::ValidationError;
pub use payload::{
    BuildRequest, Origin, ParentInfo, PayloadInvalid, PayloadLimits, PayloadValidator,
    PayloadViolation, ValidatedPayload,
};
pub use pegout::{
    BitcoinAddressError, MalformedPegOut, PegOutScan, PegOutScanner, ReceiptWithContext,
    UnpayablePegOut, UnpayableReason,
};
