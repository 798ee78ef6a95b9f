//! Rules against the parent and the request: lineage, requested fields, gas, base fee and
//! extra data.

use super::{BuildRequest, ParentInfo, PayloadViolation};
use alloy_eips::eip1559::{BaseFeeParams, GAS_LIMIT_BOUND_DIVISOR, calc_next_block_base_fee};
use alloy_rpc_types_engine::{ExecutionPayload, ExecutionPayloadSidecar};
use engine_types::constants::MAX_EXTRA_DATA_BYTES;

/// Ethereum's minimum block gas limit.
pub(crate) const MIN_GAS_LIMIT: u64 = 5000;

/// Parent hash, number and timestamp.
pub(super) fn check_lineage(
    payload: &ExecutionPayload,
    parent: &ParentInfo,
    found: &mut Vec<PayloadViolation>,
) {
    if payload.parent_hash() != parent.hash {
        found.push(PayloadViolation::ParentHash {
            expected: parent.hash,
            got: payload.parent_hash(),
        });
    }
    let expected = parent.number.saturating_add(1);
    if payload.block_number() != expected || parent.number == u64::MAX {
        found.push(PayloadViolation::Number { expected, got: payload.block_number() });
    }
    if payload.timestamp() <= parent.timestamp {
        found.push(PayloadViolation::TimestampNotAfterParent {
            parent: parent.timestamp,
            got: payload.timestamp(),
        });
    }
}

/// The fields we asked for (withdrawals are checked with the imported case).
pub(super) fn check_request(
    payload: &ExecutionPayload,
    sidecar: &ExecutionPayloadSidecar,
    request: &BuildRequest,
    found: &mut Vec<PayloadViolation>,
) {
    if payload.timestamp() != request.timestamp {
        found.push(PayloadViolation::Timestamp {
            expected: request.timestamp,
            got: payload.timestamp(),
        });
    }
    if payload.prev_randao() != request.prev_randao {
        found.push(PayloadViolation::PrevRandao {
            expected: request.prev_randao,
            got: payload.prev_randao(),
        });
    }
    if payload.fee_recipient() != request.fee_recipient {
        found.push(PayloadViolation::FeeRecipient {
            expected: request.fee_recipient,
            got: payload.fee_recipient(),
        });
    }
    // Presence of the root is a fork rule (checked in `forks`); here only its value.
    if let (Some(expected), Some(got)) =
        (request.parent_beacon_block_root, sidecar.parent_beacon_block_root())
        && expected != got
    {
        found.push(PayloadViolation::BeaconRoot { expected, got });
    }
}

/// Gas used/limit, base fee and extra data. Returns whether the base fee and extra data fit
/// a header, i.e. whether alloy can rebuild it.
pub(super) fn check_gas_and_extra(
    payload: &ExecutionPayload,
    parent: &ParentInfo,
    found: &mut Vec<PayloadViolation>,
) -> bool {
    let v1 = payload.as_v1();
    if v1.gas_used > v1.gas_limit {
        found.push(PayloadViolation::GasUsedAboveLimit {
            gas_used: v1.gas_used,
            gas_limit: v1.gas_limit,
        });
    }
    // As geth's `VerifyGaslimit` and reth: the change must be strictly below parent / 1024.
    let max_change = parent.gas_limit / GAS_LIMIT_BOUND_DIVISOR;
    if v1.gas_limit.abs_diff(parent.gas_limit) >= max_change {
        found.push(PayloadViolation::GasLimitChange {
            parent: parent.gas_limit,
            got: v1.gas_limit,
            max_change,
        });
    }
    if v1.gas_limit < MIN_GAS_LIMIT {
        found.push(PayloadViolation::GasLimitBelowMinimum {
            minimum: MIN_GAS_LIMIT,
            got: v1.gas_limit,
        });
    }
    match next_base_fee(parent) {
        Some(expected) if v1.base_fee_per_gas != alloy_primitives::U256::from(expected) => {
            found.push(PayloadViolation::BaseFee { expected, got: v1.base_fee_per_gas });
        }
        Some(_) => {}
        None => found.push(PayloadViolation::BaseFeeUncomputable {
            parent_base_fee: parent.base_fee_per_gas,
            parent_gas_used: parent.gas_used,
            parent_gas_limit: parent.gas_limit,
        }),
    }
    let extra_fits = v1.extra_data.len() <= MAX_EXTRA_DATA_BYTES;
    if !extra_fits {
        found.push(PayloadViolation::ExtraDataTooLong {
            max: MAX_EXTRA_DATA_BYTES,
            got: v1.extra_data.len(),
        });
    }
    extra_fits && u64::try_from(v1.base_fee_per_gas).is_ok()
}

/// The EIP-1559 base fee of the parent's child, or `None` when the parent is outside the range
/// where alloy's formula cannot overflow (gas used ≤ gas limit and base fee ≤ u64::MAX / 2,
/// which every real block satisfies; the increase is then at most about an eighth).
pub(crate) fn next_base_fee(parent: &ParentInfo) -> Option<u64> {
    (parent.gas_used <= parent.gas_limit && parent.base_fee_per_gas <= u64::MAX / 2).then(|| {
        calc_next_block_base_fee(
            parent.gas_used,
            parent.gas_limit,
            parent.base_fee_per_gas,
            BaseFeeParams::ethereum(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parent(gas_limit: u64, gas_used: u64, base_fee: u64) -> ParentInfo {
        ParentInfo {
            hash: Default::default(),
            number: 1,
            timestamp: 1,
            gas_limit,
            gas_used,
            base_fee_per_gas: base_fee,
            blob_gas_used: None,
            excess_blob_gas: None,
        }
    }

    /// The EIP-1559 reference points: at target unchanged, full block +12.5 %, empty −12.5 %.
    #[test]
    fn base_fee_follows_eip1559() {
        assert_eq!(
            next_base_fee(&parent(30_000_000, 15_000_000, 1_000_000_000)),
            Some(1_000_000_000)
        );
        assert_eq!(
            next_base_fee(&parent(30_000_000, 30_000_000, 1_000_000_000)),
            Some(1_125_000_000)
        );
        assert_eq!(next_base_fee(&parent(30_000_000, 0, 1_000_000_000)), Some(875_000_000));
        assert_eq!(next_base_fee(&parent(30_000_000, 30_000_001, 7)), None);
        assert_eq!(next_base_fee(&parent(30_000_000, 0, u64::MAX)), None);
    }

    proptest! {
        /// Within the guarded range the formula never overflows (no panic in debug builds).
        #[test]
        fn base_fee_never_overflows(limit in 0u64.., used_frac in 0u64..=1000, fee in 0..=u64::MAX / 2) {
            let used = (limit as u128 * used_frac as u128 / 1000) as u64;
            prop_assert!(next_base_fee(&parent(limit, used, fee)).is_some());
        }
    }
}
