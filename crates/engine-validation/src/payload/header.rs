//! Rebuilding the header a payload describes, with alloy's own conversion for its base fields.
//!
//! alloy's conversions consume the payload; cloning it would copy the transaction list, so the
//! payload's V1 *shell* (its V1 fields but the transactions) is converted instead, with the
//! transactions root computed once from the raw bytes here (see [`trie`](super::trie)). What
//! alloy's V2, V3 and V4 conversions add on top of V1 is set here the same way: the
//! withdrawals root (computed with this crate's trie, which also spares cloning the
//! withdrawals), the blob gas fields, and the Amsterdam block access list hash and slot. The
//! sidecar supplies the parent beacon block root (Cancun) and the requests hash (Prague), which
//! are header fields absent from the payload. `tests` compare the result with alloy's whole
//! conversion for every payload version.

use super::{PayloadViolation, trie};
use crate::keccak::keccak256;
use alloy_consensus::Header;
use alloy_primitives::B256;
use alloy_rlp::Encodable;
use alloy_rpc_types_engine::{ExecutionPayload, ExecutionPayloadSidecar, ExecutionPayloadV1};

/// The header `payload` describes, with the Cancun/Prague fields taken from `sidecar`; its
/// `hash_slow()` is the true block hash. Fails when alloy refuses the conversion (extra data
/// over 32 bytes, base fee over `u64`).
///
/// [`PayloadValidator::validate`](super::PayloadValidator::validate) calls this; it is public
/// for callers that only need the hash of a payload they already trust.
pub fn rebuild_header(
    payload: &ExecutionPayload,
    sidecar: &ExecutionPayloadSidecar,
) -> Result<Header, PayloadViolation> {
    let transactions_root = trie::ordered_root(payload.transactions());
    let mut header = shell(payload.as_v1())
        .into_block_raw_with_transactions_root(transactions_root)
        .map_err(|err| PayloadViolation::HeaderUnbuildable { reason: err.to_string() })?
        .header;
    // `ExecutionPayloadV2::into_block_raw…`
    if let Some(withdrawals) = payload.withdrawals() {
        header.withdrawals_root = Some(trie::withdrawals_root(withdrawals));
    }
    // `ExecutionPayloadV3::into_block_raw…`
    if let Some(v3) = payload.as_v3() {
        header.blob_gas_used = Some(v3.blob_gas_used);
        header.excess_blob_gas = Some(v3.excess_blob_gas);
    }
    // `ExecutionPayloadV4::into_block_raw…`
    if let Some(v4) = payload.as_v4() {
        header.block_access_list_hash = Some(keccak256(&v4.block_access_list));
        header.slot_number = Some(v4.slot_number);
    }
    // `ExecutionPayload::into_block_with_sidecar_raw…`
    header.parent_beacon_block_root = sidecar.parent_beacon_block_root();
    header.requests_hash = sidecar.requests_hash();
    Ok(header)
}

/// The hash of `header`: keccak256 of its RLP, as `Header::hash_slow` (encoded into one
/// buffer of the right size, hashed with this crate's [`keccak256`]).
pub(super) fn block_hash(header: &Header) -> B256 {
    let mut rlp = Vec::with_capacity(header.length());
    header.encode(&mut rlp);
    keccak256(&rlp)
}

/// The V1 fields of a payload, without its transactions.
fn shell(p: &ExecutionPayloadV1) -> ExecutionPayloadV1 {
    ExecutionPayloadV1 {
        parent_hash: p.parent_hash,
        fee_recipient: p.fee_recipient,
        state_root: p.state_root,
        receipts_root: p.receipts_root,
        logs_bloom: p.logs_bloom,
        prev_randao: p.prev_randao,
        block_number: p.block_number,
        gas_limit: p.gas_limit,
        gas_used: p.gas_used,
        timestamp: p.timestamp,
        extra_data: p.extra_data.clone(),
        base_fee_per_gas: p.base_fee_per_gas,
        block_hash: p.block_hash,
        transactions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_eips::{eip4895::Withdrawal, eip7685::Requests};
    use alloy_primitives::{Address, Bloom, Bytes, U256};
    use alloy_rpc_types_engine::{
        CancunPayloadFields, ExecutionPayloadV2, ExecutionPayloadV3, ExecutionPayloadV4,
        PraguePayloadFields,
    };

    fn v1(transactions: usize, extra: usize, base_fee: U256) -> ExecutionPayloadV1 {
        ExecutionPayloadV1 {
            parent_hash: B256::repeat_byte(1),
            fee_recipient: Address::repeat_byte(2),
            state_root: B256::repeat_byte(3),
            receipts_root: B256::repeat_byte(4),
            logs_bloom: Bloom::repeat_byte(5),
            prev_randao: B256::repeat_byte(6),
            block_number: 7,
            gas_limit: 30_000_000,
            gas_used: 21_000,
            timestamp: 1_700_000_000,
            extra_data: Bytes::from(vec![9; extra]),
            base_fee_per_gas: base_fee,
            block_hash: B256::repeat_byte(10),
            transactions: (0..transactions).map(|i| Bytes::from(vec![i as u8; 100])).collect(),
        }
    }

    fn every_version(transactions: usize, withdrawals: usize) -> Vec<ExecutionPayload> {
        let withdrawals: Vec<Withdrawal> = (0..withdrawals as u64)
            .map(|i| Withdrawal {
                index: i,
                validator_index: 3 * i,
                address: Address::with_last_byte(i as u8),
                amount: 1_000 * i,
            })
            .collect();
        let v2 =
            ExecutionPayloadV2 { payload_inner: v1(transactions, 32, U256::from(7)), withdrawals };
        let v3 = ExecutionPayloadV3 {
            payload_inner: v2.clone(),
            blob_gas_used: 131_072,
            excess_blob_gas: 262_144,
        };
        let v4 = ExecutionPayloadV4 {
            payload_inner: v3.clone(),
            block_access_list: Bytes::from_static(&[0xc1, 0x80]),
            slot_number: 42,
        };
        vec![
            ExecutionPayload::V1(v1(transactions, 0, U256::from(7))),
            ExecutionPayload::V2(v2),
            ExecutionPayload::V3(v3),
            ExecutionPayload::V4(v4),
        ]
    }

    fn sidecars() -> Vec<ExecutionPayloadSidecar> {
        let cancun = CancunPayloadFields::new(B256::repeat_byte(11), vec![B256::repeat_byte(12)]);
        let requests =
            Requests::new(vec![Bytes::from_static(&[0, 1]), Bytes::from_static(&[2, 3])]);
        vec![
            ExecutionPayloadSidecar::none(),
            ExecutionPayloadSidecar::v3(cancun.clone()),
            ExecutionPayloadSidecar::v4(cancun, PraguePayloadFields::new(requests)),
        ]
    }

    /// Every payload version with every sidecar, with and without transactions and withdrawals:
    /// the header is alloy's, field for field, and so is its hash.
    #[test]
    fn agrees_with_alloys_conversion() {
        for (transactions, withdrawals) in [(0, 0), (1, 1), (3, 4), (130, 16)] {
            for payload in every_version(transactions, withdrawals) {
                for sidecar in sidecars() {
                    let ours = rebuild_header(&payload, &sidecar).unwrap();
                    let theirs =
                        payload.clone().into_block_with_sidecar_raw(&sidecar).unwrap().header;
                    assert_eq!(ours, theirs);
                    assert_eq!(block_hash(&ours), theirs.hash_slow());
                }
            }
        }
    }

    /// alloy's refusals come through: extra data over 32 bytes, a base fee over `u64`.
    #[test]
    fn refuses_what_alloy_refuses() {
        for payload in [v1(0, 33, U256::from(7)), v1(0, 0, U256::from(u64::MAX) + U256::from(1))] {
            let payload = ExecutionPayload::V1(payload);
            assert!(payload.clone().into_block_with_sidecar_raw(&sidecars()[0]).is_err());
            assert!(matches!(
                rebuild_header(&payload, &sidecars()[0]),
                Err(PayloadViolation::HeaderUnbuildable { .. })
            ));
        }
    }
}
