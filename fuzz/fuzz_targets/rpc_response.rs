//! A JSON-RPC response body from an execution client, as engine-client decodes it: the
//! envelope (`decode_response`), then the `result` as the method asked for expects it
//! (`parse_result` into the wire types, `GetPayloadResponse::from_json`, the tolerant
//! status checks).
//!
//! Input: one byte choosing the method, then the response body. Every outcome must be a
//! typed `EngineError`; the checks below pin what an accepted answer guarantees.
#![no_main]

use alloy_primitives::{B256, U64};
use alloy_rpc_types_engine::{ClientVersionV1, ExecutionPayloadBodyV1};
use alloy_rpc_types_eth::{Block, Log, SyncStatus, TransactionReceipt};
use engine_client::transport::{decode_response, parse_result};
use engine_types::{
    ApiVersion, EngineError, ForkchoiceUpdatedWire, GetPayloadResponse, PayloadStatus,
    PayloadStatusWire,
};
use libfuzzer_sys::fuzz_target;

/// The request id every body is matched against.
const ID: u64 = 1;

/// The head / block hash the checks are made against.
const HEAD: B256 = B256::repeat_byte(0xaa);

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let method = METHODS[usize::from(selector) % METHODS.len()];
    let raw = match decode_response(body, ID, method) {
        Ok(raw) => raw.get(),
        Err(e) => {
            assert!(
                matches!(e, EngineError::BadResponse { .. } | EngineError::Rpc { .. }),
                "{e:?}"
            );
            return;
        }
    };
    match method {
        "engine_forkchoiceUpdatedV3" => {
            for with_attributes in [false, true] {
                let Ok(wire) = parse_result::<ForkchoiceUpdatedWire>(raw, method) else { return };
                if let Ok(outcome) = wire.check(method, HEAD, with_attributes) {
                    if outcome.payload_id.is_some() {
                        assert!(with_attributes, "a payload id without attributes was accepted");
                        assert!(matches!(outcome.status, PayloadStatus::Valid { .. }));
                    }
                    if let PayloadStatus::Valid { latest_valid_hash } = outcome.status {
                        assert_eq!(latest_valid_hash, HEAD);
                    }
                }
            }
        }
        "engine_newPayloadV3" => {
            if let Ok(wire) = parse_result::<PayloadStatusWire>(raw, method)
                && let Ok(PayloadStatus::Valid { latest_valid_hash }) =
                    wire.check_new_payload(method, HEAD)
            {
                assert_eq!(latest_valid_hash, HEAD);
            }
        }
        "engine_getPayloadV1" => get_payload(ApiVersion::V1, raw),
        "engine_getPayloadV2" => get_payload(ApiVersion::V2, raw),
        "engine_getPayloadV3" => get_payload(ApiVersion::V3, raw),
        "engine_getPayloadV4" => get_payload(ApiVersion::V4, raw),
        "engine_exchangeCapabilities" => drop(parse_result::<Vec<String>>(raw, method)),
        "engine_getClientVersionV1" => drop(parse_result::<Vec<ClientVersionV1>>(raw, method)),
        "engine_getPayloadBodiesByHashV1" => {
            drop(parse_result::<Vec<Option<ExecutionPayloadBodyV1>>>(raw, method));
        }
        "eth_blockNumber" => drop(parse_result::<U64>(raw, method)),
        "eth_syncing" => drop(parse_result::<SyncStatus>(raw, method)),
        "eth_getBlockByNumber" => drop(parse_result::<Option<Block>>(raw, method)),
        "eth_getBlockReceipts" => {
            drop(parse_result::<Option<Vec<TransactionReceipt>>>(raw, method));
        }
        "eth_getLogs" => drop(parse_result::<Vec<Log>>(raw, method)),
        _ => {}
    }
});

/// The methods whose results the engine parses, by selector byte.
const METHODS: [&str; 14] = [
    "engine_forkchoiceUpdatedV3",
    "engine_newPayloadV3",
    "engine_getPayloadV1",
    "engine_getPayloadV2",
    "engine_getPayloadV3",
    "engine_getPayloadV4",
    "engine_exchangeCapabilities",
    "engine_getClientVersionV1",
    "engine_getPayloadBodiesByHashV1",
    "eth_blockNumber",
    "eth_syncing",
    "eth_getBlockByNumber",
    "eth_getBlockReceipts",
    "eth_getLogs",
];

/// A parsed `getPayload` result has the shape its version promises.
fn get_payload(version: ApiVersion, raw: &str) {
    let Ok(response) = GetPayloadResponse::from_json(version, raw) else { return };
    match version {
        ApiVersion::V1 | ApiVersion::V2 => assert!(response.blobs_bundle.is_none()),
        ApiVersion::V3 => assert!(response.blobs_bundle.is_some()),
        ApiVersion::V4 => assert!(response.execution_requests.is_some()),
    }
}
