//! The exact JSON that goes to and comes from an execution client, method by method.
//!
//! Snapshots (in `snapshots/`) are reviewed like code: each one was checked against the
//! Engine API spec (`execution-apis/src/engine/{paris,shanghai,cancun,prague}.md`).

#![allow(clippy::unwrap_used)] // test helpers live outside #[test] fns

use engine_types::{
    ApiVersion, EngineError, EngineRequest, GetPayloadResponse,
    eips::{eip4895::Withdrawal, eip7685::Requests},
    engine::{
        CancunPayloadFields, ClientCode, ClientVersionV1, ExecutionPayload,
        ExecutionPayloadSidecar, ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3,
        ForkchoiceState, PayloadAttributes, PayloadId, PraguePayloadFields,
    },
    primitives::{B256, Bloom, Bytes, U256, address, b256, bytes},
    status::ForkchoiceUpdatedWire,
};

fn payload_v1() -> ExecutionPayloadV1 {
    ExecutionPayloadV1 {
        parent_hash: b256!("0x1111111111111111111111111111111111111111111111111111111111111111"),
        fee_recipient: address!("0x000000000000000000000000000000000000dEaD"),
        state_root: b256!("0x2222222222222222222222222222222222222222222222222222222222222222"),
        receipts_root: b256!("0x3333333333333333333333333333333333333333333333333333333333333333"),
        logs_bloom: Bloom::ZERO,
        prev_randao: B256::ZERO,
        block_number: 16,
        gas_limit: 30_000_000,
        gas_used: 21_000,
        timestamp: 1_700_000_000,
        extra_data: Bytes::new(),
        base_fee_per_gas: U256::from(7),
        block_hash: b256!("0x4444444444444444444444444444444444444444444444444444444444444444"),
        transactions: vec![bytes!("0x02f86b")],
    }
}

fn withdrawal() -> Withdrawal {
    Withdrawal {
        index: 256,
        validator_index: 0,
        address: address!("0x00000000000000000000000000000000000000aa"),
        amount: 10_000_000,
    }
}

fn payload_v2() -> ExecutionPayloadV2 {
    ExecutionPayloadV2 { payload_inner: payload_v1(), withdrawals: vec![withdrawal()] }
}

fn payload_v3() -> ExecutionPayloadV3 {
    ExecutionPayloadV3 { payload_inner: payload_v2(), blob_gas_used: 0, excess_blob_gas: 0 }
}

fn state() -> ForkchoiceState {
    ForkchoiceState {
        head_block_hash: B256::repeat_byte(0xaa),
        safe_block_hash: B256::repeat_byte(0xbb),
        finalized_block_hash: B256::ZERO,
    }
}

fn attrs(withdrawals: Option<Vec<Withdrawal>>, root: Option<B256>) -> PayloadAttributes {
    PayloadAttributes {
        timestamp: 1_700_000_002,
        prev_randao: B256::ZERO,
        suggested_fee_recipient: address!("0x000000000000000000000000000000000000dEaD"),
        withdrawals,
        parent_beacon_block_root: root,
        slot_number: None,
        target_gas_limit: None,
    }
}

fn cancun() -> CancunPayloadFields {
    CancunPayloadFields::new(B256::repeat_byte(0xcc), vec![])
}

fn params(req: &EngineRequest) -> serde_json::Value {
    serde_json::to_value(req).unwrap()
}

/// forkchoiceUpdated V1–V3: `[state, attributes|null]`, attributes growing by fork.
#[test]
fn forkchoice_updated_params() {
    let v1 = EngineRequest::forkchoice_updated(ApiVersion::V1, state(), Some(attrs(None, None)));
    insta::assert_json_snapshot!("fcu_v1", params(&v1.unwrap()));
    let v2 = EngineRequest::forkchoice_updated(
        ApiVersion::V2,
        state(),
        Some(attrs(Some(vec![withdrawal()]), None)),
    );
    insta::assert_json_snapshot!("fcu_v2", params(&v2.unwrap()));
    let v3 = EngineRequest::forkchoice_updated(
        ApiVersion::V3,
        state(),
        Some(attrs(Some(vec![]), Some(B256::repeat_byte(0xcc)))),
    );
    insta::assert_json_snapshot!("fcu_v3", params(&v3.unwrap()));
    let bare = EngineRequest::forkchoice_updated(ApiVersion::V2, state(), None).unwrap();
    insta::assert_json_snapshot!("fcu_v2_no_attributes", params(&bare));
    assert_eq!(bare.method_name(), "engine_forkchoiceUpdatedV2");
}

/// Attributes that do not fit their version are refused before anything is sent.
#[test]
fn forkchoice_updated_refuses_mismatched_attributes() {
    let cases = [
        (ApiVersion::V1, attrs(Some(vec![]), None)),
        (ApiVersion::V2, attrs(None, None)),
        (ApiVersion::V2, attrs(Some(vec![]), Some(B256::ZERO))),
        (ApiVersion::V3, attrs(Some(vec![]), None)),
    ];
    for (version, a) in cases {
        let err = EngineRequest::forkchoice_updated(version, state(), Some(a)).unwrap_err();
        assert!(matches!(err, EngineError::InvalidRequest { .. }), "{version}: {err}");
    }
}

/// getPayload V1–V4: `[payloadId]` as 8 bytes of DATA.
#[test]
fn get_payload_params() {
    let id = PayloadId::new([0, 0, 0, 0, 0, 0, 1, 0x0f]);
    for v in [ApiVersion::V1, ApiVersion::V2, ApiVersion::V3, ApiVersion::V4] {
        let req = EngineRequest::get_payload(v, id).unwrap();
        assert_eq!(params(&req), serde_json::json!(["0x000000000000010f"]));
        assert_eq!(req.method_name(), format!("engine_getPayload{v}"));
    }
}

/// newPayload V1/V2: one param; QUANTITY fields have no leading zeros.
#[test]
fn new_payload_v1_v2_params() {
    let none = ExecutionPayloadSidecar::none();
    let v1 = EngineRequest::new_payload(
        ApiVersion::V1,
        ExecutionPayload::V1(payload_v1()),
        none.clone(),
    )
    .unwrap();
    insta::assert_json_snapshot!("new_payload_v1", params(&v1));
    let v2 = EngineRequest::new_payload(
        ApiVersion::V2,
        ExecutionPayload::V2(payload_v2()),
        none.clone(),
    )
    .unwrap();
    insta::assert_json_snapshot!("new_payload_v2", params(&v2));
    assert_eq!(params(&v2)[0]["blockNumber"], "0x10");
    assert_eq!(params(&v2)[0]["withdrawals"][0]["validatorIndex"], "0x0");
    // newPayloadV2 also takes a pre-Shanghai (V1) payload.
    EngineRequest::new_payload(ApiVersion::V2, ExecutionPayload::V1(payload_v1()), none).unwrap();
}

/// newPayloadV3 has exactly three params: payload, versioned hashes, beacon root.
#[test]
fn new_payload_v3_has_exactly_three_params() {
    let req = EngineRequest::new_payload(
        ApiVersion::V3,
        ExecutionPayload::V3(payload_v3()),
        ExecutionPayloadSidecar::v3(cancun()),
    )
    .unwrap();
    let p = params(&req);
    assert_eq!(p.as_array().unwrap().len(), 3);
    insta::assert_json_snapshot!("new_payload_v3", p);
}

/// newPayloadV4 has exactly four params and sends `[]`, never null, without requests.
#[test]
fn new_payload_v4_has_four_params_and_empty_requests() {
    let empty = EngineRequest::new_payload(
        ApiVersion::V4,
        ExecutionPayload::V3(payload_v3()),
        ExecutionPayloadSidecar::v4(cancun(), PraguePayloadFields::new(Requests::default())),
    )
    .unwrap();
    let p = params(&empty);
    assert_eq!(p.as_array().unwrap().len(), 4);
    assert_eq!(p[3], serde_json::json!([]));
    let some = Requests::new(vec![bytes!("0x00aa"), bytes!("0x01bbcc")]);
    let req = EngineRequest::new_payload(
        ApiVersion::V4,
        ExecutionPayload::V3(payload_v3()),
        ExecutionPayloadSidecar::v4(cancun(), PraguePayloadFields::new(some)),
    )
    .unwrap();
    insta::assert_json_snapshot!("new_payload_v4", params(&req));
}

/// Payload shapes and sidecars that do not fit the version are refused.
#[test]
fn new_payload_refuses_mismatched_shapes() {
    let none = ExecutionPayloadSidecar::none;
    let v4 = |r: Vec<Bytes>| {
        ExecutionPayloadSidecar::v4(cancun(), PraguePayloadFields::new(Requests::new(r)))
    };
    let cases: Vec<(ApiVersion, ExecutionPayload, ExecutionPayloadSidecar)> = vec![
        (ApiVersion::V1, ExecutionPayload::V2(payload_v2()), none()),
        (ApiVersion::V2, ExecutionPayload::V3(payload_v3()), none()),
        (ApiVersion::V2, ExecutionPayload::V2(payload_v2()), ExecutionPayloadSidecar::v3(cancun())),
        (ApiVersion::V3, ExecutionPayload::V3(payload_v3()), none()),
        (ApiVersion::V3, ExecutionPayload::V2(payload_v2()), ExecutionPayloadSidecar::v3(cancun())),
        (ApiVersion::V4, ExecutionPayload::V3(payload_v3()), ExecutionPayloadSidecar::v3(cancun())),
        (
            ApiVersion::V4,
            ExecutionPayload::V3(payload_v3()),
            v4(vec![bytes!("0x01aa"), bytes!("0x00aa")]),
        ),
        (
            ApiVersion::V4,
            ExecutionPayload::V3(payload_v3()),
            v4(vec![bytes!("0x01aa"), bytes!("0x01bb")]),
        ),
        (ApiVersion::V4, ExecutionPayload::V3(payload_v3()), v4(vec![bytes!("0x01")])),
    ];
    for (i, (version, payload, sidecar)) in cases.into_iter().enumerate() {
        let err = EngineRequest::new_payload(version, payload, sidecar).unwrap_err();
        assert!(matches!(err, EngineError::InvalidRequest { .. }), "case {i}: {err}");
    }
}

/// exchangeCapabilities, getClientVersionV1 and the payload-bodies calls.
#[test]
fn other_method_params() {
    let caps = EngineRequest::ExchangeCapabilities(vec!["engine_newPayloadV2".into()]);
    assert_eq!(caps.method_name(), "engine_exchangeCapabilities");
    insta::assert_json_snapshot!("exchange_capabilities", params(&caps));
    let version = EngineRequest::GetClientVersion(ClientVersionV1 {
        code: ClientCode::RH,
        name: "alys-engine".into(),
        version: "0.1.0".into(),
        commit: "00000000".into(),
    });
    insta::assert_json_snapshot!("get_client_version", params(&version));
    let by_hash = EngineRequest::GetPayloadBodiesByHash(vec![B256::repeat_byte(1)]);
    insta::assert_json_snapshot!("bodies_by_hash", params(&by_hash));
    let by_range = EngineRequest::GetPayloadBodiesByRange { start: 32, count: 1 };
    assert_eq!(params(&by_range), serde_json::json!(["0x20", "0x1"]));
    assert_eq!(by_range.method_name(), "engine_getPayloadBodiesByRangeV1");
}

/// getPayload responses of every version parse into one shape and keep every field.
#[test]
fn get_payload_responses() {
    let v1_json = serde_json::to_string(&payload_v1()).unwrap();
    let v1 = GetPayloadResponse::from_json(ApiVersion::V1, &v1_json).unwrap();
    assert_eq!(v1.payload, ExecutionPayload::V1(payload_v1()));

    let v2_json =
        serde_json::json!({"executionPayload": payload_v2(), "blockValue": "0x1bc16d674ec80000"});
    insta::assert_json_snapshot!("get_payload_v2_response", v2_json);
    let v2 = GetPayloadResponse::from_json(ApiVersion::V2, &v2_json.to_string()).unwrap();
    assert_eq!(v2.payload, ExecutionPayload::V2(payload_v2()));
    assert_eq!(v2.block_value, U256::from(2_000_000_000_000_000_000u64));

    let v3_json = serde_json::json!({
        "executionPayload": payload_v3(),
        "blockValue": "0x0",
        "blobsBundle": {"commitments": [], "proofs": [], "blobs": []},
        "shouldOverrideBuilder": true,
    });
    insta::assert_json_snapshot!("get_payload_v3_response", v3_json);
    let v3 = GetPayloadResponse::from_json(ApiVersion::V3, &v3_json.to_string()).unwrap();
    assert!(v3.should_override_builder);
    assert_eq!(v3.payload, ExecutionPayload::V3(payload_v3()));

    let mut v4_json = v3_json;
    v4_json["executionRequests"] = serde_json::json!(["0x00aa"]);
    let v4 = GetPayloadResponse::from_json(ApiVersion::V4, &v4_json.to_string()).unwrap();
    assert_eq!(v4.execution_requests, Some(Requests::new(vec![bytes!("0x00aa")])));

    // A V2 answer to a V3 call is a parse error, not a silently emptier payload.
    assert!(GetPayloadResponse::from_json(ApiVersion::V3, &v2_json.to_string()).is_err());
}

/// getPayloadV2's one-pass reader decides V1 or V2 as alloy's `ExecutionPayloadEnvelopeV2`
/// does, field for field, and refuses what alloy refuses.
#[test]
fn get_payload_v2_agrees_with_alloy() {
    use alloy_rpc_types_engine::ExecutionPayloadEnvelopeV2;
    let value = "0x1bc16d674ec80000";
    let mut no_withdrawals = serde_json::to_value(payload_v2()).unwrap();
    no_withdrawals.as_object_mut().unwrap().remove("withdrawals");
    let mut null_withdrawals = serde_json::to_value(payload_v2()).unwrap();
    null_withdrawals["withdrawals"] = serde_json::Value::Null;
    let mut bad_withdrawals = serde_json::to_value(payload_v2()).unwrap();
    bad_withdrawals["withdrawals"] = serde_json::json!([{"index": "0x1"}]);
    let mut no_hash = serde_json::to_value(payload_v2()).unwrap();
    no_hash.as_object_mut().unwrap().remove("blockHash");
    let mut big_number = serde_json::to_value(payload_v2()).unwrap();
    big_number["blockNumber"] = serde_json::json!("0x10000000000000000");
    // The fields in the spec's order as an array: serde would take it for a derived struct.
    let object = serde_json::to_value(payload_v2()).unwrap();
    let as_array = serde_json::Value::Array(
        [
            "parentHash",
            "feeRecipient",
            "stateRoot",
            "receiptsRoot",
            "logsBloom",
            "prevRandao",
            "blockNumber",
            "gasLimit",
            "gasUsed",
            "timestamp",
            "extraData",
            "baseFeePerGas",
            "blockHash",
            "transactions",
            "withdrawals",
        ]
        .iter()
        .map(|field| object[*field].clone())
        .collect(),
    );
    let cases = [
        as_array,
        serde_json::to_value(payload_v1()).unwrap(),
        serde_json::to_value(payload_v2()).unwrap(),
        no_withdrawals,
        null_withdrawals,
        bad_withdrawals,
        no_hash,
        big_number,
    ];
    for payload in cases {
        let json =
            serde_json::json!({"executionPayload": payload, "blockValue": value}).to_string();
        let ours = GetPayloadResponse::from_json(ApiVersion::V2, &json);
        let alloy = serde_json::from_str::<ExecutionPayloadEnvelopeV2>(&json);
        match (ours, alloy) {
            (Ok(ours), Ok(alloy)) => {
                assert_eq!(ours.payload, alloy.execution_payload.into_payload(), "{json}");
                assert_eq!(ours.block_value, alloy.block_value);
            }
            (Err(_), Err(_)) => {}
            (ours, alloy) => panic!("disagree on {json}: ours {ours:?}, alloy {alloy:?}"),
        }
    }
    assert!(matches!(
        GetPayloadResponse::from_json(
            ApiVersion::V2,
            &serde_json::json!({"executionPayload": payload_v1(), "blockValue": value}).to_string()
        )
        .unwrap()
        .payload,
        ExecutionPayload::V1(_)
    ));
}

/// forkchoiceUpdated and newPayload responses round-trip through the tolerant wire type.
#[test]
fn status_responses_round_trip() {
    let json = serde_json::json!({
        "payloadStatus": {"status": "VALID", "latestValidHash": B256::repeat_byte(0xaa), "validationError": null},
        "payloadId": "0x0000000000000001",
    });
    let wire: ForkchoiceUpdatedWire = serde_json::from_value(json).unwrap();
    insta::assert_json_snapshot!("fcu_response", wire);
    let outcome = wire.check("engine_forkchoiceUpdatedV2", B256::repeat_byte(0xaa), true).unwrap();
    assert_eq!(outcome.payload_id, Some(PayloadId::new([0, 0, 0, 0, 0, 0, 0, 1])));
}
