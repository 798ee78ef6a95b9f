//! Engine API requests, checked against their method version when built and serialized as
//! the exact `params` array the spec wants.
//!
//! A request that does not fit its version (withdrawals in V1 attributes, a V2 payload sent to
//! newPayloadV3, unsorted execution requests) is refused by the constructor with
//! [`EngineError::InvalidRequest`], so serialization cannot fail and nothing malformed ever
//! reaches an execution client. Serialization writes straight into the output (no
//! intermediate `serde_json::Value`), which keeps a 1,000-transaction payload cheap to send.

use crate::{
    error::EngineError,
    fork::{ApiVersion, EngineMethod},
};
use alloy_eips::eip7685::Requests;
use alloy_primitives::{B256, U64};
use alloy_rpc_types_engine::{
    ClientVersionV1, ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState, PayloadAttributes,
    PayloadId,
};
use serde::{Serialize, Serializer, ser::SerializeSeq};

/// One Engine API call: the method, its version and its parameters.
#[derive(Debug, Clone)]
pub enum EngineRequest {
    /// `engine_forkchoiceUpdatedV*`: `[forkchoiceState, payloadAttributes | null]`.
    ForkchoiceUpdated {
        /// V1–V3.
        version: ApiVersion,
        /// Head, safe and finalized.
        state: ForkchoiceState,
        /// Start a build on top of the head.
        attributes: Option<PayloadAttributes>,
    },
    /// `engine_getPayloadV*`: `[payloadId]`.
    GetPayload {
        /// V1–V4.
        version: ApiVersion,
        /// The build to fetch.
        payload_id: PayloadId,
    },
    /// `engine_newPayloadV*`: `[payload]` (V1, V2), `[payload, versionedHashes,
    /// parentBeaconBlockRoot]` (V3), `[…, executionRequests]` (V4).
    NewPayload {
        /// V1–V4.
        version: ApiVersion,
        /// The payload (boxed: it dwarfs the other variants).
        payload: Box<ExecutionPayload>,
        /// The Cancun and Prague fields that travel beside the payload.
        sidecar: ExecutionPayloadSidecar,
    },
    /// `engine_exchangeCapabilities`: `[[methods…]]`.
    ExchangeCapabilities(Vec<String>),
    /// `engine_getClientVersionV1`: `[clientVersion]`.
    GetClientVersion(ClientVersionV1),
    /// `engine_getPayloadBodiesByHashV1`: `[[hashes…]]`.
    GetPayloadBodiesByHash(Vec<B256>),
    /// `engine_getPayloadBodiesByRangeV1`: `[start, count]` as QUANTITY.
    GetPayloadBodiesByRange {
        /// First block number.
        start: u64,
        /// How many blocks.
        count: u64,
    },
}

fn name(method: EngineMethod, version: ApiVersion) -> Result<&'static str, EngineError> {
    method.rpc_name(version).ok_or_else(|| {
        EngineError::invalid_request(format!("{method:?}"), format!("no version {version}"))
    })
}

impl EngineRequest {
    /// A `forkchoiceUpdated`, with the attributes checked against `version`: V1 takes no
    /// withdrawals, V2 requires them, V3 also requires `parentBeaconBlockRoot`.
    pub fn forkchoice_updated(
        version: ApiVersion,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
    ) -> Result<Self, EngineError> {
        let method = name(EngineMethod::ForkchoiceUpdated, version)?;
        if let Some(attrs) = &attributes {
            let bad = |reason: &str| Err(EngineError::invalid_request(method, reason));
            match (version, attrs.withdrawals.is_some(), attrs.parent_beacon_block_root.is_some()) {
                (ApiVersion::V1, true, _) => return bad("V1 attributes cannot carry withdrawals"),
                (ApiVersion::V2 | ApiVersion::V3, false, _) => {
                    return bad("attributes from V2 on must carry withdrawals (possibly empty)");
                }
                (ApiVersion::V1 | ApiVersion::V2, _, true) => {
                    return bad("parentBeaconBlockRoot needs V3");
                }
                (ApiVersion::V3, _, false) => {
                    return bad("V3 attributes need parentBeaconBlockRoot");
                }
                _ => {}
            }
            if attrs.slot_number.is_some() || attrs.target_gas_limit.is_some() {
                return bad(
                    "slotNumber and targetGasLimit belong to a fork this engine does not speak",
                );
            }
        }
        Ok(Self::ForkchoiceUpdated { version, state, attributes })
    }

    /// A `getPayload`.
    pub fn get_payload(version: ApiVersion, payload_id: PayloadId) -> Result<Self, EngineError> {
        name(EngineMethod::GetPayload, version)?;
        Ok(Self::GetPayload { version, payload_id })
    }

    /// A `newPayload`, with the payload shape and sidecar checked against `version`: V1 takes
    /// a V1 payload; V2 a V1 or V2 payload; V3 a V3 payload with the Cancun fields; V4 a V3
    /// payload with the Cancun fields and the execution requests (sorted by type, unique, each
    /// longer than one byte).
    pub fn new_payload(
        version: ApiVersion,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
    ) -> Result<Self, EngineError> {
        let method = name(EngineMethod::NewPayload, version)?;
        let bad = |reason: String| Err(EngineError::invalid_request(method, reason));
        let shape = match &payload {
            ExecutionPayload::V1(_) => 1,
            ExecutionPayload::V2(_) => 2,
            ExecutionPayload::V3(_) => 3,
            ExecutionPayload::V4(_) => 4,
        };
        let shape_ok = match version {
            ApiVersion::V1 => shape == 1,
            ApiVersion::V2 => shape <= 2,
            ApiVersion::V3 | ApiVersion::V4 => shape == 3,
        };
        if !shape_ok {
            return bad(format!("a V{shape} payload cannot be sent with {method}"));
        }
        let has_cancun = sidecar.parent_beacon_block_root().is_some();
        match version {
            ApiVersion::V1 | ApiVersion::V2 if has_cancun || sidecar.requests().is_some() => {
                return bad("Cancun/Prague sidecar fields need V3/V4".into());
            }
            ApiVersion::V3 | ApiVersion::V4 if !has_cancun => {
                return bad("parentBeaconBlockRoot is required".into());
            }
            ApiVersion::V3 if sidecar.requests().is_some() || sidecar.requests_hash().is_some() => {
                return bad("execution requests need V4".into());
            }
            ApiVersion::V4 => match sidecar.requests() {
                None => return bad("V4 needs the execution requests themselves, not a hash".into()),
                Some(requests) => check_requests(requests)
                    .map_err(|reason| EngineError::invalid_request(method, reason))?,
            },
            _ => {}
        }
        Ok(Self::NewPayload { version, payload: Box::new(payload), sidecar })
    }

    /// The JSON-RPC method name, e.g. `engine_newPayloadV3`.
    pub fn method_name(&self) -> &'static str {
        let (method, version) = match self {
            Self::ForkchoiceUpdated { version, .. } => (EngineMethod::ForkchoiceUpdated, *version),
            Self::GetPayload { version, .. } => (EngineMethod::GetPayload, *version),
            Self::NewPayload { version, .. } => (EngineMethod::NewPayload, *version),
            Self::ExchangeCapabilities(_) => (EngineMethod::ExchangeCapabilities, ApiVersion::V1),
            Self::GetClientVersion(_) => (EngineMethod::GetClientVersion, ApiVersion::V1),
            Self::GetPayloadBodiesByHash(_) => {
                (EngineMethod::GetPayloadBodiesByHash, ApiVersion::V1)
            }
            Self::GetPayloadBodiesByRange { .. } => {
                (EngineMethod::GetPayloadBodiesByRange, ApiVersion::V1)
            }
        };
        // The constructors only admit versions the method has, and the unversioned variants
        // are fixed to V1, which every method has; the fallback is unreachable.
        method.rpc_name(version).unwrap_or("engine_unknown")
    }

    /// The method (without version).
    pub const fn method(&self) -> EngineMethod {
        match self {
            Self::ForkchoiceUpdated { .. } => EngineMethod::ForkchoiceUpdated,
            Self::GetPayload { .. } => EngineMethod::GetPayload,
            Self::NewPayload { .. } => EngineMethod::NewPayload,
            Self::ExchangeCapabilities(_) => EngineMethod::ExchangeCapabilities,
            Self::GetClientVersion(_) => EngineMethod::GetClientVersion,
            Self::GetPayloadBodiesByHash(_) => EngineMethod::GetPayloadBodiesByHash,
            Self::GetPayloadBodiesByRange { .. } => EngineMethod::GetPayloadBodiesByRange,
        }
    }

    /// The `params` array as a JSON value (for recording and snapshots; the client serializes
    /// the request directly).
    pub fn params_json(&self) -> serde_json::Value {
        // Serializing these types into a Value cannot fail: every map key is a string.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// EIP-7685 requests as newPayloadV4 wants them: sorted by type, one per type, each longer
/// than its type byte.
fn check_requests(requests: &Requests) -> Result<(), String> {
    let mut last: Option<u8> = None;
    for (i, r) in requests.iter().enumerate() {
        let Some(&ty) = r.first() else { return Err(format!("executionRequests[{i}] is empty")) };
        if r.len() < 2 {
            return Err(format!("executionRequests[{i}] (type {ty}) has no data"));
        }
        if last.is_some_and(|l| ty <= l) {
            return Err(format!("executionRequests[{i}] (type {ty}) is out of order or repeated"));
        }
        last = Some(ty);
    }
    Ok(())
}

impl Serialize for EngineRequest {
    /// The `params` array.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::ForkchoiceUpdated { state, attributes, .. } => (state, attributes).serialize(s),
            Self::GetPayload { payload_id, .. } => [payload_id].serialize(s),
            Self::NewPayload { version, payload, sidecar } => {
                let hashes = sidecar.versioned_hashes();
                let root = sidecar.parent_beacon_block_root();
                let n = match version {
                    ApiVersion::V1 | ApiVersion::V2 => 1,
                    ApiVersion::V3 => 3,
                    ApiVersion::V4 => 4,
                };
                let mut seq = s.serialize_seq(Some(n))?;
                match payload.as_ref() {
                    ExecutionPayload::V1(p) => seq.serialize_element(p)?,
                    ExecutionPayload::V2(p) => seq.serialize_element(p)?,
                    ExecutionPayload::V3(p) => seq.serialize_element(p)?,
                    ExecutionPayload::V4(p) => seq.serialize_element(p)?,
                }
                if n >= 3 {
                    seq.serialize_element(&hashes.map(Vec::as_slice).unwrap_or(&[]))?;
                    seq.serialize_element(&root)?;
                }
                if n == 4 {
                    // `[]`, never null, when there are no requests.
                    let empty = Requests::default();
                    seq.serialize_element(sidecar.requests().unwrap_or(&empty))?;
                }
                seq.end()
            }
            Self::ExchangeCapabilities(methods) => [methods].serialize(s),
            Self::GetClientVersion(v) => [v].serialize(s),
            Self::GetPayloadBodiesByHash(hashes) => [hashes].serialize(s),
            Self::GetPayloadBodiesByRange { start, count } => {
                (U64::from(*start), U64::from(*count)).serialize(s)
            }
        }
    }
}
