//! Transactions: each must decode as an EIP-2718 envelope. Each is decoded once; what the
//! blob rules need (the versioned hashes) is taken from it, and it is kept only when the
//! caller asked for the decoded transactions.

use super::{PayloadLimits, PayloadViolation};
use crate::envelope::{DecodeError, push_block_transaction};
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{B256, Bytes};
use engine_types::Fork;

/// What decoding a payload's transactions gave.
#[derive(Debug)]
pub(super) struct Decoded {
    /// The versioned hashes of the blob transactions, in order.
    pub(super) blob_hashes: Vec<B256>,
    /// The decoded transactions, in order, when kept (else empty).
    pub(super) kept: Vec<TxEnvelope>,
}

/// Whether decoding keeps the transactions for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// Each is dropped once checked: a 400-byte envelope per transaction is never held at
    /// once (4 MB for 10,000, which evicted the trie's working set from the caches:
    /// `cargo bench -p engine-validation --bench validate`, 1.07× against 0.98× at 10,000).
    Nothing,
    /// All are handed back.
    All,
}

/// Decodes every transaction; `None` (with violations pushed) if any does not decode.
pub(super) fn decode(
    raw: &[Bytes],
    fork: Fork,
    limits: &PayloadLimits,
    keep: Keep,
    found: &mut Vec<PayloadViolation>,
) -> Option<Decoded> {
    let total: usize = raw.iter().map(|b| b.len()).sum();
    if total > limits.max_transaction_bytes {
        found.push(PayloadViolation::TransactionsTooLarge {
            max: limits.max_transaction_bytes,
            got: total,
        });
    }
    let mut out = Decoded {
        blob_hashes: Vec::new(),
        kept: Vec::with_capacity(if keep == Keep::All { raw.len() } else { 1 }),
    };
    let mut all_decoded = true;
    for (position, bytes) in raw.iter().enumerate() {
        match push_block_transaction(bytes, &mut out.kept) {
            Ok(()) => {
                if let Some(hashes) = out.kept.last().and_then(Transaction::blob_versioned_hashes) {
                    if fork < Fork::Cancun {
                        found.push(PayloadViolation::BlobTransactionBeforeCancun { position });
                    }
                    out.blob_hashes.extend_from_slice(hashes);
                }
                if keep == Keep::Nothing {
                    out.kept.clear();
                }
            }
            Err(DecodeError::Empty) => {
                all_decoded = false;
                found.push(PayloadViolation::EmptyTransaction { position });
            }
            Err(err) => {
                all_decoded = false;
                found.push(PayloadViolation::UndecodableTransaction {
                    position,
                    reason: err.to_string(),
                });
            }
        }
    }
    all_decoded.then_some(out)
}
