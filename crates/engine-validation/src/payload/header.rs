//! Rebuilding the header a payload describes, with alloy's own conversion.
//!
//! alloy's conversions consume the payload; cloning it would copy the transaction list, so a
//! *shell* (every field but the transactions) is converted instead, with the transactions
//! root computed once from the raw bytes here. The sidecar supplies the parent beacon block
//! root (Cancun) and the requests hash (Prague), which are header fields absent from the
//! payload.

use super::PayloadViolation;
use alloy_consensus::{Header, proofs::ordered_trie_root_encoded};
use alloy_rpc_types_engine::{
    ExecutionPayload, ExecutionPayloadSidecar, ExecutionPayloadV1, ExecutionPayloadV2,
    ExecutionPayloadV3, ExecutionPayloadV4,
};

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
    let transactions_root = ordered_trie_root_encoded(payload.transactions());
    shell(payload)
        .into_block_with_sidecar_raw_with_transactions_root(sidecar, transactions_root)
        .map(|block| block.header)
        .map_err(|err| PayloadViolation::HeaderUnbuildable { reason: err.to_string() })
}

/// `payload` without its transactions.
fn shell(payload: &ExecutionPayload) -> ExecutionPayload {
    fn v1(p: &ExecutionPayloadV1) -> ExecutionPayloadV1 {
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
    fn v2(p: &ExecutionPayloadV2) -> ExecutionPayloadV2 {
        ExecutionPayloadV2 {
            payload_inner: v1(&p.payload_inner),
            withdrawals: p.withdrawals.clone(),
        }
    }
    fn v3(p: &ExecutionPayloadV3) -> ExecutionPayloadV3 {
        ExecutionPayloadV3 {
            payload_inner: v2(&p.payload_inner),
            blob_gas_used: p.blob_gas_used,
            excess_blob_gas: p.excess_blob_gas,
        }
    }
    match payload {
        ExecutionPayload::V1(p) => ExecutionPayload::V1(v1(p)),
        ExecutionPayload::V2(p) => ExecutionPayload::V2(v2(p)),
        ExecutionPayload::V3(p) => ExecutionPayload::V3(v3(p)),
        ExecutionPayload::V4(p) => ExecutionPayload::V4(ExecutionPayloadV4 {
            payload_inner: v3(&p.payload_inner),
            block_access_list: p.block_access_list.clone(),
            slot_number: p.slot_number,
        }),
    }
}
