//! The tolerant Engine API status types of engine-types, fed directly (without the JSON-RPC
//! envelope, which `rpc_response` covers): `PayloadStatusWire` and its `newPayload` and
//! `forkchoiceUpdated` checks, and `ForkchoiceUpdatedWire::check` with and without
//! attributes.
//!
//! Input: the JSON of one `PayloadStatusV1` or `ForkchoiceUpdatedResponse`. Whatever the
//! checks accept must keep the promises the engine relies on: VALID names the block or head
//! asked about, a payload id comes only with attributes and a VALID head, and an accepted
//! status round-trips through its wire form.
#![no_main]

use alloy_primitives::B256;
use engine_types::{
    EngineError, ForkchoiceUpdatedWire, PayloadStatus, PayloadStatusWire, StatusKind,
};
use libfuzzer_sys::fuzz_target;

const HEAD: B256 = B256::repeat_byte(0xaa);
const NEW_PAYLOAD: &str = "engine_newPayloadV3";
const FORKCHOICE: &str = "engine_forkchoiceUpdatedV3";

fuzz_target!(|data: &[u8]| {
    if let Ok(wire) = serde_json::from_slice::<PayloadStatusWire>(data) {
        status(wire);
    }
    if let Ok(wire) = serde_json::from_slice::<ForkchoiceUpdatedWire>(data) {
        forkchoice(wire);
    }
});

fn status(wire: PayloadStatusWire) {
    let kind = wire.status;
    match wire.clone().check_new_payload(NEW_PAYLOAD, HEAD) {
        Ok(verdict) => {
            assert_eq!(verdict.kind(), kind);
            if let PayloadStatus::Valid { latest_valid_hash } = verdict {
                assert_eq!(latest_valid_hash, HEAD);
            }
        }
        Err(e) => assert!(matches!(e, EngineError::BadResponse { .. }), "{e:?}"),
    }
    match wire.check_forkchoice(FORKCHOICE, HEAD) {
        Ok(verdict) => {
            assert!(
                matches!(kind, StatusKind::Valid | StatusKind::Invalid | StatusKind::Syncing),
                "{kind:?} accepted in a forkchoiceUpdated answer"
            );
            if let PayloadStatus::Valid { latest_valid_hash } = verdict {
                assert_eq!(latest_valid_hash, HEAD);
            }
        }
        Err(e) => assert!(matches!(e, EngineError::BadResponse { .. }), "{e:?}"),
    }
}

fn forkchoice(wire: ForkchoiceUpdatedWire) {
    for with_attributes in [false, true] {
        match wire.clone().check(FORKCHOICE, HEAD, with_attributes) {
            Ok(outcome) => {
                if outcome.payload_id.is_some() {
                    assert!(with_attributes, "a payload id without attributes was accepted");
                    assert!(matches!(outcome.status, PayloadStatus::Valid { .. }));
                }
                assert_eq!(outcome.payload_id, wire.payload_id);
            }
            Err(e) => assert!(matches!(e, EngineError::BadResponse { .. }), "{e:?}"),
        }
    }
}
