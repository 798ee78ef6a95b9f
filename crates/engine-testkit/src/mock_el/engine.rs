//! The `engine_*` methods of the mock, with the spec's version rules: a method used for a
//! timestamp outside its fork gets -38005, a wrong number of params -32602.

use super::{
    MockElConfig,
    block::{self, StoredBlock},
    chain::{Chain, ForkchoiceResult},
    params::{parse, parse_opt, positional, to_json},
};
use crate::{el_rules, rpc_server::RpcError};
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip7685::Requests;
use alloy_primitives::{B256, U64};
use alloy_rpc_types_engine::{
    BlobsBundleV1, CancunPayloadFields, ExecutionPayload, ExecutionPayloadBodyV1,
    ExecutionPayloadEnvelopeV2, ExecutionPayloadEnvelopeV3, ExecutionPayloadEnvelopeV4,
    ExecutionPayloadFieldV2, ExecutionPayloadInputV2, ExecutionPayloadSidecar, ExecutionPayloadV1,
    ExecutionPayloadV3, ForkchoiceState, PayloadAttributes, PayloadId, PraguePayloadFields,
};
use engine_types::{
    ApiVersion, EngineMethod, EngineRequest, Fork, ForkSchedule, ForkchoiceUpdatedWire,
    PayloadStatusWire, RpcErrorCode, StatusKind,
};
use serde_json::Value;

/// The spec's cap on the number of bodies one request may ask for.
const MAX_BODIES: usize = 1024;

/// Answer an `engine_*` call.
pub(super) fn handle(
    chain: &mut Chain,
    config: &MockElConfig,
    method: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    let Some((m, version)) = EngineMethod::from_rpc_name(method) else {
        return Err(RpcError::method_not_found(method));
    };
    match m {
        EngineMethod::ForkchoiceUpdated => {
            forkchoice_updated(chain, config, method, version, params)
        }
        EngineMethod::GetPayload => get_payload(chain, method, version, params),
        EngineMethod::NewPayload => new_payload(chain, method, version, params),
        EngineMethod::ExchangeCapabilities => {
            let items = positional(method, params, 1..=1)?;
            let _theirs: Vec<String> = parse(&items[0], "capabilities")?;
            to_json(&EngineMethod::capabilities())
        }
        EngineMethod::GetClientVersion => {
            let items = positional(method, params, 1..=1)?;
            let _theirs: alloy_rpc_types_engine::ClientVersionV1 =
                parse(&items[0], "client version")?;
            to_json(&[&config.client_version])
        }
        EngineMethod::GetPayloadBodiesByHash => {
            let items = positional(method, params, 1..=1)?;
            let hashes: Vec<B256> = parse(&items[0], "block hashes")?;
            too_large(hashes.len())?;
            let bodies: Vec<_> = hashes.iter().map(|h| chain.block(h).map(|b| body(b))).collect();
            to_json(&bodies)
        }
        EngineMethod::GetPayloadBodiesByRange => {
            let items = positional(method, params, 2..=2)?;
            let start: U64 = parse(&items[0], "start")?;
            let count: U64 = parse(&items[1], "count")?;
            let (start, count) = (start.to::<u64>(), count.to::<u64>());
            if start == 0 || count == 0 {
                return Err(RpcError::invalid_params(format!(
                    "start ({start}) and count ({count}) must be at least 1"
                )));
            }
            too_large(usize::try_from(count).unwrap_or(usize::MAX))?;
            // Past the head the list stops: the spec forbids trailing nulls.
            let bodies: Vec<_> = (start..start.saturating_add(count))
                .map_while(|n| chain.canonical_at(n).map(|b| body(b)))
                .collect();
            to_json(&bodies)
        }
    }
}

fn too_large(requested: usize) -> Result<(), RpcError> {
    if requested > MAX_BODIES {
        return Err(RpcError::new(
            RpcErrorCode::TooLargeRequest,
            format!("{requested} bodies requested, at most {MAX_BODIES} allowed"),
        ));
    }
    Ok(())
}

fn body(b: &StoredBlock) -> ExecutionPayloadBodyV1 {
    ExecutionPayloadBodyV1 {
        transactions: b.txs.iter().map(|t| t.raw.clone()).collect(),
        withdrawals: b.block.body.withdrawals.clone().map(|w| w.into_inner()),
    }
}

/// -38005 unless `version` is the one the fork of `timestamp` uses (V2 also serves Paris,
/// as the spec allows).
fn check_fork(
    forks: &ForkSchedule,
    method: EngineMethod,
    name: &str,
    version: ApiVersion,
    timestamp: u64,
) -> Result<(), RpcError> {
    let fork = forks.fork_at(timestamp);
    let expected = method.version_at(fork);
    if version == expected || (version == ApiVersion::V2 && fork == Fork::Paris) {
        return Ok(());
    }
    Err(RpcError::unsupported_fork(format!(
        "{name} cannot be used for timestamp {timestamp} ({fork:?}); use {expected}"
    )))
}

/// -32602 for a request that does not fit its version, per engine-types' own checks.
fn shape_error(e: engine_types::EngineError) -> RpcError {
    RpcError::invalid_params(e.to_string())
}

fn forkchoice_updated(
    chain: &mut Chain,
    config: &MockElConfig,
    method: &str,
    version: ApiVersion,
    params: &Value,
) -> Result<Value, RpcError> {
    let items = positional(method, params, 1..=2)?;
    let state: ForkchoiceState = parse(&items[0], "forkchoice state")?;
    let attrs: Option<PayloadAttributes> = parse_opt(items, 1, "payload attributes")?;
    if let Some(a) = &attrs {
        check_fork(chain.forks(), EngineMethod::ForkchoiceUpdated, method, version, a.timestamp)?;
    }
    let request = EngineRequest::forkchoice_updated(version, state, attrs).map_err(shape_error)?;
    let EngineRequest::ForkchoiceUpdated { state, attributes, .. } = request else {
        return Err(RpcError::new(RpcErrorCode::InternalError, "unexpected request kind"));
    };
    let wire =
        match chain.forkchoice_updated(&state, attributes.as_ref(), config.ancestor_policy)? {
            ForkchoiceResult::Syncing => ForkchoiceUpdatedWire {
                payload_status: PayloadStatusWire::syncing(),
                payload_id: None,
            },
            ForkchoiceResult::ZeroHead => ForkchoiceUpdatedWire {
                payload_status: el_rules::zero_head_status(),
                payload_id: None,
            },
            ForkchoiceResult::Valid { head, payload_id } => {
                ForkchoiceUpdatedWire { payload_status: PayloadStatusWire::valid(head), payload_id }
            }
        };
    to_json(&wire)
}

fn get_payload(
    chain: &mut Chain,
    method: &str,
    version: ApiVersion,
    params: &Value,
) -> Result<Value, RpcError> {
    let items = positional(method, params, 1..=1)?;
    let id: PayloadId = parse(&items[0], "payload id")?;
    let built = chain.resolve(&id).ok_or_else(|| {
        RpcError::new(RpcErrorCode::UnknownPayload, format!("unknown payload {id}"))
    })?;
    check_fork(chain.forks(), EngineMethod::GetPayload, method, version, built.header().timestamp)?;
    let (payload, _sidecar) = ExecutionPayload::from_block_unchecked(built.hash, &built.block);
    let value = built.block_value();
    let v3 = |payload: ExecutionPayload| match payload {
        ExecutionPayload::V3(p) => Ok(ExecutionPayloadEnvelopeV3 {
            execution_payload: p,
            block_value: value,
            blobs_bundle: BlobsBundleV1::empty(),
            should_override_builder: false,
        }),
        _ => {
            Err(RpcError::new(RpcErrorCode::InternalError, "a Cancun build without Cancun fields"))
        }
    };
    match version {
        ApiVersion::V1 => to_json(&payload.into_v1()),
        ApiVersion::V2 => {
            let execution_payload = match payload {
                ExecutionPayload::V1(p) => ExecutionPayloadFieldV2::V1(p),
                ExecutionPayload::V2(p) => ExecutionPayloadFieldV2::V2(p),
                ExecutionPayload::V3(p) => ExecutionPayloadFieldV2::V2(p.payload_inner),
                ExecutionPayload::V4(p) => {
                    ExecutionPayloadFieldV2::V2(p.payload_inner.payload_inner)
                }
            };
            to_json(&ExecutionPayloadEnvelopeV2 { execution_payload, block_value: value })
        }
        ApiVersion::V3 => to_json(&v3(payload)?),
        ApiVersion::V4 => to_json(&ExecutionPayloadEnvelopeV4 {
            envelope_inner: v3(payload)?,
            execution_requests: Requests::default(),
        }),
    }
}

fn new_payload(
    chain: &mut Chain,
    method: &str,
    version: ApiVersion,
    params: &Value,
) -> Result<Value, RpcError> {
    let n = match version {
        ApiVersion::V1 | ApiVersion::V2 => 1,
        ApiVersion::V3 => 3,
        ApiVersion::V4 => 4,
    };
    let items = positional(method, params, n..=n)?;
    let payload = match version {
        ApiVersion::V1 => ExecutionPayload::V1(parse::<ExecutionPayloadV1>(&items[0], "payload")?),
        ApiVersion::V2 => {
            let input: ExecutionPayloadInputV2 = parse(&items[0], "payload")?;
            let shanghai =
                chain.forks().is_active(Fork::Shanghai, input.execution_payload.timestamp);
            if shanghai != input.withdrawals.is_some() {
                return Err(RpcError::invalid_params(format!(
                    "{method}: withdrawals must be {} at timestamp {}",
                    if shanghai { "present" } else { "absent" },
                    input.execution_payload.timestamp
                )));
            }
            input.into_payload()
        }
        ApiVersion::V3 | ApiVersion::V4 => {
            ExecutionPayload::V3(parse::<ExecutionPayloadV3>(&items[0], "payload")?)
        }
    };
    check_fork(chain.forks(), EngineMethod::NewPayload, method, version, payload.timestamp())?;
    let sidecar = match version {
        ApiVersion::V1 | ApiVersion::V2 => ExecutionPayloadSidecar::none(),
        ApiVersion::V3 | ApiVersion::V4 => {
            let cancun = CancunPayloadFields {
                versioned_hashes: parse(&items[1], "expected blob versioned hashes")?,
                parent_beacon_block_root: parse(&items[2], "parent beacon block root")?,
            };
            if version == ApiVersion::V3 {
                ExecutionPayloadSidecar::v3(cancun)
            } else {
                let requests: Requests = parse(&items[3], "execution requests")?;
                ExecutionPayloadSidecar::v4(cancun, PraguePayloadFields::new(requests))
            }
        }
    };
    let request = EngineRequest::new_payload(version, payload, sidecar).map_err(shape_error)?;
    let EngineRequest::NewPayload { payload, sidecar, .. } = request else {
        return Err(RpcError::new(RpcErrorCode::InternalError, "unexpected request kind"));
    };
    to_json(&verify_and_insert(chain, version, *payload, &sidecar))
}

/// The spec's order: block hash, blob hashes, then the parent (SYNCING if unknown).
fn verify_and_insert(
    chain: &mut Chain,
    version: ApiVersion,
    payload: ExecutionPayload,
    sidecar: &ExecutionPayloadSidecar,
) -> PayloadStatusWire {
    let claimed = payload.block_hash();
    let bad_hash = |reason: String| {
        if version == ApiVersion::V1 {
            PayloadStatusWire {
                status: StatusKind::InvalidBlockHash,
                latest_valid_hash: None,
                validation_error: Some(reason),
            }
        } else {
            PayloadStatusWire::invalid(None, reason)
        }
    };
    let block = match payload.try_into_block_with_sidecar::<TxEnvelope>(sidecar) {
        Ok(block) => block,
        Err(e) => return PayloadStatusWire::invalid(None, format!("malformed payload: {e}")),
    };
    let actual = block.header.hash_slow();
    if actual != claimed {
        return bad_hash(format!(
            "blockhash mismatch: payload says {claimed}, header hashes to {actual}"
        ));
    }
    if let Some(expected) = sidecar.versioned_hashes() {
        let carried: Vec<B256> = block
            .body
            .transactions
            .iter()
            .flat_map(|tx| tx.blob_versioned_hashes().unwrap_or_default().to_vec())
            .collect();
        if &carried != expected {
            return PayloadStatusWire::invalid(None, "blob versioned hashes do not match");
        }
    }
    match block::import(actual, block) {
        Ok(stored) => chain.insert(stored),
        Err(reason) => PayloadStatusWire::invalid(None, reason),
    }
}
