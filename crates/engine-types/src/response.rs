//! Engine API responses whose shape depends on the method version.

use crate::fork::ApiVersion;
use alloy_eips::eip4895::Withdrawal;
use alloy_eips::eip7685::Requests;
use alloy_primitives::{Address, B256, Bloom, Bytes, U64, U256};
use alloy_rpc_types_engine::{
    BlobsBundleV1, ExecutionPayload, ExecutionPayloadEnvelopeV3, ExecutionPayloadEnvelopeV4,
    ExecutionPayloadV1, ExecutionPayloadV2,
};
use serde::{Deserialize, Serialize};

mod transactions;

/// A built payload as returned by any `engine_getPayloadV*`, in one shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetPayloadResponse {
    /// The payload (V1 before Shanghai, V2 with withdrawals, V3 from Cancun).
    pub payload: ExecutionPayload,
    /// What the fee recipient earns, in wei (V2 on; zero for V1, which does not say).
    pub block_value: U256,
    /// Blobs of the payload (V3 on).
    pub blobs_bundle: Option<BlobsBundleV1>,
    /// The EL's hint to prefer this payload over a builder's (V3 on).
    pub should_override_builder: bool,
    /// EIP-7685 requests (V4).
    pub execution_requests: Option<Requests>,
}

impl GetPayloadResponse {
    /// Parse the `result` of `engine_getPayload{version}`.
    pub fn from_json(version: ApiVersion, result: &str) -> serde_json::Result<Self> {
        let mut reader = serde_json::Deserializer::from_str(result);
        let response =
            serde::de::DeserializeSeed::deserialize(GetPayloadSeed(version), &mut reader)?;
        reader.end()?;
        Ok(response)
    }

    fn from_v3(env: ExecutionPayloadEnvelopeV3, requests: Option<Requests>) -> Self {
        Self::from_parts(
            ExecutionPayload::V3(env.execution_payload),
            env.block_value,
            Some(env.blobs_bundle),
            env.should_override_builder,
            requests,
        )
    }

    const fn from_parts(
        payload: ExecutionPayload,
        block_value: U256,
        blobs_bundle: Option<BlobsBundleV1>,
        should_override_builder: bool,
        execution_requests: Option<Requests>,
    ) -> Self {
        Self { payload, block_value, blobs_bundle, should_override_builder, execution_requests }
    }
}

/// `engine_getPayloadV2`'s result, read in one pass.
///
/// alloy's `ExecutionPayloadEnvelopeV2` holds `ExecutionPayloadFieldV2`, whose deserializer
/// flattens `ExecutionPayloadV1` beside an optional `withdrawals`: serde's `flatten` first
/// copies the whole payload into an owned intermediate tree (every transaction as a `String`)
/// and then reads the payload out of that copy, so a 1,000-transaction payload is parsed and
/// held twice. This reads the same fields straight into their types and decides V1 or V2 the
/// way alloy does (V2 if and only if `withdrawals` is present and not null), refusing what
/// alloy refuses (`tests/wire.rs` `get_payload_v2_agrees_with_alloy` keeps the two in step).
/// Reads the `result` of `engine_getPayload{version}` as a [`GetPayloadResponse`] from any
/// serde deserializer: the envelope of the version, parsed once (a caller can read it in the
/// same pass as the JSON-RPC envelope around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetPayloadSeed(pub ApiVersion);

impl<'de> serde::de::DeserializeSeed<'de> for GetPayloadSeed {
    type Value = GetPayloadResponse;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(match self.0 {
            ApiVersion::V1 => {
                let payload = ExecutionPayloadV1::deserialize(d)?;
                GetPayloadResponse::from_parts(
                    ExecutionPayload::V1(payload),
                    U256::ZERO,
                    None,
                    false,
                    None,
                )
            }
            ApiVersion::V2 => {
                let env = EnvelopeV2Wire::deserialize(d)?;
                GetPayloadResponse::from_parts(
                    env.execution_payload.into_payload(),
                    env.block_value,
                    None,
                    false,
                    None,
                )
            }
            ApiVersion::V3 => {
                GetPayloadResponse::from_v3(ExecutionPayloadEnvelopeV3::deserialize(d)?, None)
            }
            ApiVersion::V4 => {
                let env = ExecutionPayloadEnvelopeV4::deserialize(d)?;
                GetPayloadResponse::from_v3(env.envelope_inner, Some(env.execution_requests))
            }
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeV2Wire {
    #[serde(deserialize_with = "payload_object")]
    execution_payload: PayloadV2Wire,
    block_value: U256,
}

/// The payload as a JSON object only. A derived struct would also take a JSON array of the
/// fields in order; alloy's flattened reader takes only an object, and so does this.
fn payload_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PayloadV2Wire, D::Error> {
    struct Object;
    impl<'de> serde::de::Visitor<'de> for Object {
        type Value = PayloadV2Wire;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an execution payload object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            map: A,
        ) -> Result<PayloadV2Wire, A::Error> {
            PayloadV2Wire::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(Object)
}

/// An `ExecutionPayloadV1` or `V2` as sent, fields in the spec's order (`src/engine/paris.md`,
/// `shanghai.md`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayloadV2Wire {
    parent_hash: B256,
    fee_recipient: Address,
    state_root: B256,
    receipts_root: B256,
    logs_bloom: Bloom,
    prev_randao: B256,
    block_number: U64,
    gas_limit: U64,
    gas_used: U64,
    timestamp: U64,
    extra_data: Bytes,
    base_fee_per_gas: U256,
    block_hash: B256,
    #[serde(deserialize_with = "transactions::deserialize")]
    transactions: Vec<Bytes>,
    withdrawals: Option<Vec<Withdrawal>>,
}

impl PayloadV2Wire {
    fn into_payload(self) -> ExecutionPayload {
        let v1 = ExecutionPayloadV1 {
            parent_hash: self.parent_hash,
            fee_recipient: self.fee_recipient,
            state_root: self.state_root,
            receipts_root: self.receipts_root,
            logs_bloom: self.logs_bloom,
            prev_randao: self.prev_randao,
            // `U64` is exactly a u64: `to` cannot fail here.
            block_number: self.block_number.to(),
            gas_limit: self.gas_limit.to(),
            gas_used: self.gas_used.to(),
            timestamp: self.timestamp.to(),
            extra_data: self.extra_data,
            base_fee_per_gas: self.base_fee_per_gas,
            block_hash: self.block_hash,
            transactions: self.transactions,
        };
        match self.withdrawals {
            Some(withdrawals) => {
                ExecutionPayload::V2(ExecutionPayloadV2 { payload_inner: v1, withdrawals })
            }
            None => ExecutionPayload::V1(v1),
        }
    }
}
