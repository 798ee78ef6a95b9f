//! Fields that depend on the fork: the payload version, the Cancun extras (beacon root, blob
//! gas, versioned hashes) and the Prague execution requests.

use super::{ParentInfo, PayloadViolation};
use alloy_eips::{eip4844::DATA_GAS_PER_BLOB, eip7840::BlobParams};
use alloy_primitives::B256;
use alloy_rpc_types_engine::{ExecutionPayload, ExecutionPayloadSidecar};
use engine_types::Fork;

/// The payload version a fork uses (`ExecutionPayloadV1` … `V3`; Prague keeps V3 and adds
/// the requests beside it).
const fn expected_version(fork: Fork) -> u8 {
    match fork {
        Fork::Paris => 1,
        Fork::Shanghai => 2,
        Fork::Cancun | Fork::Prague => 3,
    }
}

const fn version(payload: &ExecutionPayload) -> u8 {
    match payload {
        ExecutionPayload::V1(_) => 1,
        ExecutionPayload::V2(_) => 2,
        ExecutionPayload::V3(_) => 3,
        ExecutionPayload::V4(_) => 4,
    }
}

/// Every fork-dependent rule. `blob_hashes` (the blob transactions' versioned hashes, in
/// order) is `None` when some transaction did not decode, in which case the blob sums are not
/// checked (the decoding violation is already listed).
pub(super) fn check(
    payload: &ExecutionPayload,
    sidecar: &ExecutionPayloadSidecar,
    fork: Fork,
    parent: &ParentInfo,
    blob_hashes: Option<&[B256]>,
    found: &mut Vec<PayloadViolation>,
) {
    let expected = expected_version(fork);
    let got = version(payload);
    if got != expected {
        found.push(PayloadViolation::PayloadVersion { fork, expected, got });
    }

    let cancun = fork >= Fork::Cancun;
    match (cancun, sidecar.cancun()) {
        (true, None) => found.push(PayloadViolation::BeaconRootMissing),
        (false, Some(_)) => found.push(PayloadViolation::BeaconRootUnexpected),
        _ => {}
    }
    match (fork >= Fork::Prague, sidecar.prague()) {
        (true, None) => found.push(PayloadViolation::RequestsMissing),
        (false, Some(_)) => found.push(PayloadViolation::RequestsUnexpected),
        _ => {}
    }
    if let Some(requests) = sidecar.requests() {
        check_requests(requests.iter().map(|r| r.as_ref()), found);
    }

    if let (true, Some(blob_gas_used), Some(excess_blob_gas)) =
        (cancun, payload.blob_gas_used(), payload.excess_blob_gas())
    {
        let params = if fork >= Fork::Prague { BlobParams::prague() } else { BlobParams::cancun() };
        check_blob_gas(blob_gas_used, excess_blob_gas, &params, parent, found);
        if let Some(hashes) = blob_hashes {
            check_blob_transactions(hashes, blob_gas_used, sidecar, found);
        }
    }
}

/// EIP-7685: sorted by type, each type once, each request longer than its type byte.
fn check_requests<'a>(requests: impl Iterator<Item = &'a [u8]>, found: &mut Vec<PayloadViolation>) {
    let mut previous: Option<u8> = None;
    for (position, request) in requests.enumerate() {
        let Some((&ty, _)) = request.split_first().filter(|_| request.len() > 1) else {
            found.push(PayloadViolation::RequestTooShort { position, len: request.len() });
            continue;
        };
        if let Some(previous) = previous
            && ty <= previous
        {
            found.push(PayloadViolation::RequestsUnordered { position, previous, got: ty });
        }
        previous = Some(ty);
    }
}

/// EIP-4844 header rules: within the fork's maximum, excess from the parent. A parent before
/// Cancun counts as zero excess and zero use (so the first Cancun block has zero excess).
fn check_blob_gas(
    used: u64,
    excess: u64,
    params: &BlobParams,
    parent: &ParentInfo,
    found: &mut Vec<PayloadViolation>,
) {
    let max = params.max_blob_gas_per_block();
    if used > max {
        found.push(PayloadViolation::BlobGasAboveMax { max, got: used });
    }
    let expected = parent
        .excess_blob_gas
        .unwrap_or(0)
        .saturating_add(parent.blob_gas_used.unwrap_or(0))
        .saturating_sub(params.target_blob_gas_per_block());
    if excess != expected {
        found.push(PayloadViolation::ExcessBlobGas { expected, got: excess });
    }
}

/// Blob gas used equals the blobs carried, and the versioned hashes sent with `newPayload`
/// are those of the blob transactions, in order.
fn check_blob_transactions(
    hashes: &[B256],
    used: u64,
    sidecar: &ExecutionPayloadSidecar,
    found: &mut Vec<PayloadViolation>,
) {
    let expected = (hashes.len() as u64).saturating_mul(DATA_GAS_PER_BLOB);
    if used != expected {
        found.push(PayloadViolation::BlobGasUsed { expected, got: used });
    }
    if let Some(given) = sidecar.versioned_hashes()
        && given != hashes
    {
        found.push(PayloadViolation::BlobVersionedHashes {
            expected: hashes.to_vec(),
            got: given.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(list: &[&[u8]]) -> Vec<PayloadViolation> {
        let mut found = Vec::new();
        check_requests(list.iter().copied(), &mut found);
        found
    }

    /// Sorted, unique, non-trivial requests pass; each breach is named with its position.
    #[test]
    fn request_ordering() {
        assert!(requests(&[]).is_empty());
        assert!(requests(&[&[0, 1], &[1, 1, 2], &[2, 9]]).is_empty());
        assert_eq!(
            requests(&[&[1, 1], &[0, 1]]),
            vec![PayloadViolation::RequestsUnordered { position: 1, previous: 1, got: 0 }]
        );
        assert_eq!(
            requests(&[&[1, 1], &[1, 2]]),
            vec![PayloadViolation::RequestsUnordered { position: 1, previous: 1, got: 1 }]
        );
        assert_eq!(
            requests(&[&[0], &[]]),
            vec![
                PayloadViolation::RequestTooShort { position: 0, len: 1 },
                PayloadViolation::RequestTooShort { position: 1, len: 0 }
            ]
        );
    }

    /// Excess blob gas follows EIP-4844 with the fork's target; a pre-Cancun parent counts as 0.
    #[test]
    fn excess_blob_gas_from_parent() {
        let mut parent = ParentInfo {
            hash: B256::ZERO,
            number: 0,
            timestamp: 0,
            gas_limit: 30_000_000,
            gas_used: 0,
            base_fee_per_gas: 7,
            blob_gas_used: None,
            excess_blob_gas: None,
        };
        let run = |parent: &ParentInfo, params: &BlobParams, used, excess| {
            let mut found = Vec::new();
            check_blob_gas(used, excess, params, parent, &mut found);
            found
        };
        assert!(run(&parent, &BlobParams::cancun(), 0, 0).is_empty());
        parent.excess_blob_gas = Some(DATA_GAS_PER_BLOB);
        parent.blob_gas_used = Some(6 * DATA_GAS_PER_BLOB);
        // Cancun target is 3 blobs, Prague's 6.
        assert!(run(&parent, &BlobParams::cancun(), 0, 4 * DATA_GAS_PER_BLOB).is_empty());
        assert!(run(&parent, &BlobParams::prague(), 0, DATA_GAS_PER_BLOB).is_empty());
        assert_eq!(
            run(&parent, &BlobParams::cancun(), 7 * DATA_GAS_PER_BLOB, 0),
            vec![
                PayloadViolation::BlobGasAboveMax {
                    max: 6 * DATA_GAS_PER_BLOB,
                    got: 7 * DATA_GAS_PER_BLOB
                },
                PayloadViolation::ExcessBlobGas { expected: 4 * DATA_GAS_PER_BLOB, got: 0 },
            ]
        );
    }
}
