//! Transactions: each must decode as an EIP-2718 envelope; decoded once and kept.

use super::{PayloadLimits, PayloadViolation};
use crate::envelope::{DecodeError, push_block_transaction};
use alloy_consensus::TxEnvelope;
use alloy_primitives::Bytes;
use engine_types::Fork;

/// Decode every transaction; `None` (with violations pushed) if any does not decode.
pub(super) fn decode(
    raw: &[Bytes],
    fork: Fork,
    limits: &PayloadLimits,
    found: &mut Vec<PayloadViolation>,
) -> Option<Vec<TxEnvelope>> {
    let total: usize = raw.iter().map(|b| b.len()).sum();
    if total > limits.max_transaction_bytes {
        found.push(PayloadViolation::TransactionsTooLarge {
            max: limits.max_transaction_bytes,
            got: total,
        });
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut all_decoded = true;
    for (position, bytes) in raw.iter().enumerate() {
        match push_block_transaction(bytes, &mut decoded) {
            Ok(()) => {
                if fork < Fork::Cancun && decoded.last().is_some_and(TxEnvelope::is_eip4844) {
                    found.push(PayloadViolation::BlobTransactionBeforeCancun { position });
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
    all_decoded.then_some(decoded)
}
