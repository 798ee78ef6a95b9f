//! Engine API responses whose shape depends on the method version.

use crate::fork::ApiVersion;
use alloy_eips::eip7685::Requests;
use alloy_primitives::U256;
use alloy_rpc_types_engine::{
    BlobsBundleV1, ExecutionPayload, ExecutionPayloadEnvelopeV2, ExecutionPayloadEnvelopeV3,
    ExecutionPayloadEnvelopeV4, ExecutionPayloadV1,
};
use serde::{Deserialize, Serialize};

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
        Ok(match version {
            ApiVersion::V1 => {
                let payload: ExecutionPayloadV1 = serde_json::from_str(result)?;
                Self::from_parts(ExecutionPayload::V1(payload), U256::ZERO, None, false, None)
            }
            ApiVersion::V2 => {
                let env: ExecutionPayloadEnvelopeV2 = serde_json::from_str(result)?;
                Self::from_parts(
                    env.execution_payload.into_payload(),
                    env.block_value,
                    None,
                    false,
                    None,
                )
            }
            ApiVersion::V3 => {
                let env: ExecutionPayloadEnvelopeV3 = serde_json::from_str(result)?;
                Self::from_v3(env, None)
            }
            ApiVersion::V4 => {
                let env: ExecutionPayloadEnvelopeV4 = serde_json::from_str(result)?;
                Self::from_v3(env.envelope_inner, Some(env.execution_requests))
            }
        })
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
