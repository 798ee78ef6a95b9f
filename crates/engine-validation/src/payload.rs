//! Payload validation: everything a payload must satisfy before the chain trusts it.
//!
//! [`PayloadValidator::validate`] makes one pass and lists *every* violation it finds (each a
//! [`PayloadViolation`] with expected and observed values), except where one failure makes a
//! later check meaningless (no block hash when the header cannot be rebuilt, no blob-gas sum
//! when a transaction does not decode).
//!
//! ```text
//!  payload + sidecar ─┬─ lineage    parent hash, number = parent + 1, timestamp > parent
//!                     ├─ request    timestamp, prevRandao, fee recipient, beacon root   (Built)
//!                     ├─ gas        used ≤ limit, limit within parent ± parent/1024, ≥ 5000,
//!                     │             base fee = EIP-1559(parent), extra data ≤ 32 bytes
//!                     ├─ withdrawals exactly the expected peg-ins, ≤ 16, indices unique
//!                     ├─ transactions each decodes once, no blobs before Cancun, size
//!                     ├─ fork fields version, beacon root, requests, blob gas, versioned hashes
//!                     └─ block hash header rebuilt by alloy from the payload + sidecar, keccak
//! ```
//!
//! The cost is dominated by the transactions root (a trie over the raw transactions), which is
//! computed once from the raw bytes (with this crate's own trie walk and Keccak, faster than
//! alloy's `HashBuilder` and `sha3`: see `trie` and `keccak`); each transaction is decoded
//! once, without hashing it. [`PayloadValidator::validate`] drops each decoded transaction
//! once it is checked, as the engine needs only the header (peg-outs are read from receipts,
//! admission reads the raw submission); [`PayloadValidator::validate_and_decode`] hands them
//! back to a caller that uses them.

mod chain;
mod forks;
mod header;
mod transactions;
mod trie;
mod violation;
mod withdrawals;

pub use header::rebuild_header;
pub use violation::PayloadViolation;

use alloy_consensus::{Header, TxEnvelope};
use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256};
use alloy_rpc_types_engine::{ExecutionPayload, ExecutionPayloadSidecar, PayloadAttributes};
use engine_types::{Fork, ForkSchedule, constants::DEAD_ADDRESS};
use std::fmt;

/// What validation needs to know about the parent block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParentInfo {
    /// The parent's block hash.
    pub hash: B256,
    /// The parent's number.
    pub number: u64,
    /// The parent's timestamp.
    pub timestamp: u64,
    /// The parent's gas limit.
    pub gas_limit: u64,
    /// The parent's gas used.
    pub gas_used: u64,
    /// The parent's base fee per gas.
    pub base_fee_per_gas: u64,
    /// The parent's blob gas used (`None` before Cancun).
    pub blob_gas_used: Option<u64>,
    /// The parent's excess blob gas (`None` before Cancun).
    pub excess_blob_gas: Option<u64>,
}

impl ParentInfo {
    /// The parent described by a header whose hash is `hash`; `None` when the header has no
    /// base fee (pre-London), which no Alys block is.
    pub fn from_header(hash: B256, header: &Header) -> Option<Self> {
        Some(Self {
            hash,
            number: header.number,
            timestamp: header.timestamp,
            gas_limit: header.gas_limit,
            gas_used: header.gas_used,
            base_fee_per_gas: header.base_fee_per_gas?,
            blob_gas_used: header.blob_gas_used,
            excess_blob_gas: header.excess_blob_gas,
        })
    }
}

/// What we asked the execution client to build: the payload must match it exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The slot timestamp.
    pub timestamp: u64,
    /// The requested `prevRandao`.
    pub prev_randao: B256,
    /// The requested fee recipient (the dead address by default: fees are burned).
    pub fee_recipient: Address,
    /// The withdrawals (packed peg-ins) requested, in order.
    pub withdrawals: Vec<Withdrawal>,
    /// The requested parent beacon block root (Cancun on).
    pub parent_beacon_block_root: Option<B256>,
}

impl BuildRequest {
    /// A request for a Shanghai payload with the fees burned to the dead address.
    pub const fn new(timestamp: u64, prev_randao: B256, withdrawals: Vec<Withdrawal>) -> Self {
        Self {
            timestamp,
            prev_randao,
            fee_recipient: DEAD_ADDRESS,
            withdrawals,
            parent_beacon_block_root: None,
        }
    }

    /// The expectations implied by the attributes sent with `forkchoiceUpdated`.
    pub fn from_attributes(attributes: &PayloadAttributes) -> Self {
        Self {
            timestamp: attributes.timestamp,
            prev_randao: attributes.prev_randao,
            fee_recipient: attributes.suggested_fee_recipient,
            withdrawals: attributes.withdrawals.clone().unwrap_or_default(),
            parent_beacon_block_root: attributes.parent_beacon_block_root,
        }
    }
}

/// Where a payload comes from, which decides what it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// Built by our execution client on our request: every requested field must match,
    /// withdrawals included.
    Built(&'a BuildRequest),
    /// A block from another proposer: nothing was requested, but its withdrawals must still be
    /// exactly the peg-ins the consensus layer expects for it (anything else mints coins).
    Imported {
        /// The withdrawals the consensus layer expects, in order.
        withdrawals: &'a [Withdrawal],
    },
}

impl Origin<'_> {
    fn withdrawals(&self) -> &[Withdrawal] {
        match self {
            Self::Built(request) => &request.withdrawals,
            Self::Imported { withdrawals } => withdrawals,
        }
    }
}

/// Limits beyond Ethereum's fixed rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLimits {
    /// Largest total size of a payload's transactions, in bytes (default 8 MiB, the
    /// EIP-7934 block size cap less its 2 MiB margin).
    pub max_transaction_bytes: usize,
}

impl Default for PayloadLimits {
    fn default() -> Self {
        Self { max_transaction_bytes: 8 * 1024 * 1024 }
    }
}

/// Checks payloads against their parent, the fork schedule and what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PayloadValidator {
    /// Which fork is active at a payload's timestamp.
    pub forks: ForkSchedule,
    /// Size limits.
    pub limits: PayloadLimits,
}

/// A payload that passed every check, with what validation computed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedPayload {
    /// The verified block hash.
    pub block_hash: B256,
    /// The header rebuilt from the payload (its hash is `block_hash`).
    pub header: Header,
    /// The fork active at the payload's timestamp.
    pub fork: Fork,
    /// The verified base fee (also in `header`, where alloy's type makes it optional).
    pub base_fee_per_gas: u64,
}

impl ValidatedPayload {
    /// This block as the parent of the next one.
    pub const fn as_parent(&self) -> ParentInfo {
        ParentInfo {
            hash: self.block_hash,
            number: self.header.number,
            timestamp: self.header.timestamp,
            gas_limit: self.header.gas_limit,
            gas_used: self.header.gas_used,
            base_fee_per_gas: self.base_fee_per_gas,
            blob_gas_used: self.header.blob_gas_used,
            excess_blob_gas: self.header.excess_blob_gas,
        }
    }
}

/// A payload that broke one or more rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PayloadInvalid {
    /// The payload's advertised block hash.
    pub block_hash: B256,
    /// The payload's block number.
    pub number: u64,
    /// Every rule found broken, in the order they were checked.
    pub violations: Vec<PayloadViolation>,
}

impl fmt::Display for PayloadInvalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "payload {} (#{}) is invalid: {} violation(s)",
            self.block_hash,
            self.number,
            self.violations.len()
        )?;
        for v in &self.violations {
            write!(f, "; {v}")?;
        }
        Ok(())
    }
}

impl PayloadValidator {
    /// A validator for `forks` with the default limits.
    pub fn new(forks: ForkSchedule) -> Self {
        Self { forks, limits: PayloadLimits::default() }
    }

    /// Check `payload` (with the `newPayload` extras in `sidecar`) as the child of `parent`.
    ///
    /// Returns the verified hash and the rebuilt header, or every violation found. Every
    /// transaction is decoded (one that does not is a violation) and dropped once checked.
    pub fn validate(
        &self,
        payload: &ExecutionPayload,
        sidecar: &ExecutionPayloadSidecar,
        parent: &ParentInfo,
        origin: Origin<'_>,
    ) -> Result<ValidatedPayload, PayloadInvalid> {
        self.check(payload, sidecar, parent, origin, transactions::Keep::Nothing)
            .map(|(validated, _)| validated)
    }

    /// [`validate`](Self::validate), handing back the decoded transactions in order (hashes
    /// are computed on first use). The same checks and verdicts; it costs a 400-byte
    /// envelope per transaction held until the caller drops it.
    pub fn validate_and_decode(
        &self,
        payload: &ExecutionPayload,
        sidecar: &ExecutionPayloadSidecar,
        parent: &ParentInfo,
        origin: Origin<'_>,
    ) -> Result<(ValidatedPayload, Vec<TxEnvelope>), PayloadInvalid> {
        self.check(payload, sidecar, parent, origin, transactions::Keep::All)
    }

    fn check(
        &self,
        payload: &ExecutionPayload,
        sidecar: &ExecutionPayloadSidecar,
        parent: &ParentInfo,
        origin: Origin<'_>,
        keep: transactions::Keep,
    ) -> Result<(ValidatedPayload, Vec<TxEnvelope>), PayloadInvalid> {
        let fork = self.forks.fork_at(payload.timestamp());
        let mut found = Vec::new();

        chain::check_lineage(payload, parent, &mut found);
        if let Origin::Built(request) = origin {
            chain::check_request(payload, sidecar, request, &mut found);
        }
        let header_inputs_fit = chain::check_gas_and_extra(payload, parent, &mut found);
        withdrawals::check(payload.withdrawals(), origin.withdrawals(), &mut found);
        let decoded =
            transactions::decode(payload.transactions(), fork, &self.limits, keep, &mut found);
        let blob_hashes = decoded.as_ref().map(|d| d.blob_hashes.as_slice());
        forks::check(payload, sidecar, fork, parent, blob_hashes, &mut found);

        let header = if header_inputs_fit {
            rebuild_header(payload, sidecar).map_err(|v| found.push(v)).ok()
        } else {
            None
        };
        let computed = header.as_ref().map(header::block_hash);
        if let Some(computed) = computed
            && computed != payload.block_hash()
        {
            found.push(PayloadViolation::BlockHash { computed, got: payload.block_hash() });
        }

        // Every `None` below comes with a violation already listed.
        let base_fee = header.as_ref().and_then(|h| h.base_fee_per_gas);
        match (found.is_empty(), header, computed, decoded, base_fee) {
            (true, Some(header), Some(block_hash), Some(decoded), Some(base_fee_per_gas)) => {
                let validated = ValidatedPayload { block_hash, header, fork, base_fee_per_gas };
                Ok((validated, decoded.kept))
            }
            _ => Err(PayloadInvalid {
                block_hash: payload.block_hash(),
                number: payload.block_number(),
                violations: found,
            }),
        }
    }
}
