//! The mock's default chain: builds, imports and forkchoice behave like an execution client,
//! and every block hash it hands out is the true hash of its header.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, B256, address};
use common::Rpc;
use engine_testkit::{MockEl, MockElConfig};
use engine_types::{
    ApiVersion, Fork, ForkSchedule, GetPayloadResponse,
    eips::eip7685::Requests,
    engine::{CancunPayloadFields, ExecutionPayload, ExecutionPayloadSidecar, PraguePayloadFields},
};
use serde_json::{Value, json};

const FEE_RECIPIENT: Address = address!("0x000000000000000000000000000000000000dEaD");

fn fcu_state(head: B256, safe: B256, finalized: B256) -> Value {
    json!({"headBlockHash": head, "safeBlockHash": safe, "finalizedBlockHash": finalized})
}

fn attrs(fork: Fork, timestamp: u64, withdrawals: Value) -> Value {
    let mut a = json!({
        "timestamp": format!("{timestamp:#x}"),
        "prevRandao": B256::repeat_byte(7),
        "suggestedFeeRecipient": FEE_RECIPIENT,
    });
    if fork >= Fork::Shanghai {
        a["withdrawals"] = withdrawals;
    }
    if fork >= Fork::Cancun {
        a["parentBeaconBlockRoot"] = json!(B256::repeat_byte(0xbe));
    }
    a
}

fn versions(fork: Fork) -> (ApiVersion, ApiVersion, ApiVersion) {
    let s = ForkSchedule::all_from_genesis(fork);
    use engine_types::EngineMethod::*;
    (
        s.version_for(ForkchoiceUpdated, 1),
        s.version_for(GetPayload, 1),
        s.version_for(NewPayload, 1),
    )
}

/// Build one block on the head through fcU + getPayload; returns the parsed response.
async fn build(
    rpc: &Rpc,
    fork: Fork,
    head: B256,
    timestamp: u64,
    withdrawals: Value,
) -> GetPayloadResponse {
    let (fcu, get, _) = versions(fork);
    let fcu_result = rpc
        .result(
            &format!("engine_forkchoiceUpdated{fcu}"),
            json!([fcu_state(head, B256::ZERO, B256::ZERO), attrs(fork, timestamp, withdrawals)]),
        )
        .await;
    assert_eq!(fcu_result["payloadStatus"]["status"], "VALID");
    let id = fcu_result["payloadId"].clone();
    assert!(id.is_string(), "{fcu_result}");
    let payload = rpc.result(&format!("engine_getPayload{get}"), json!([id])).await;
    GetPayloadResponse::from_json(get, &payload.to_string()).unwrap()
}

fn sidecar(fork: Fork) -> ExecutionPayloadSidecar {
    let cancun = CancunPayloadFields {
        parent_beacon_block_root: B256::repeat_byte(0xbe),
        versioned_hashes: vec![],
    };
    match fork {
        Fork::Paris | Fork::Shanghai => ExecutionPayloadSidecar::none(),
        Fork::Cancun => ExecutionPayloadSidecar::v3(cancun),
        Fork::Prague => {
            ExecutionPayloadSidecar::v4(cancun, PraguePayloadFields::new(Requests::default()))
        }
    }
}

fn new_payload_params(fork: Fork, payload: &ExecutionPayload) -> Value {
    let (_, _, version) = versions(fork);
    let sc = sidecar(fork);
    engine_types::EngineRequest::new_payload(version, payload.clone(), sc).unwrap().params_json()
}

/// For every fork, a built payload hashes correctly (rebuilt with alloy from payload and
/// sidecar), carries the requested withdrawals and fee recipient, imports VALID and becomes
/// the head.
#[tokio::test]
async fn built_payloads_hash_correctly_and_import_in_every_fork() {
    for fork in [Fork::Paris, Fork::Shanghai, Fork::Cancun, Fork::Prague] {
        let el = MockEl::start(MockElConfig::with_forks(ForkSchedule::all_from_genesis(fork)))
            .await
            .unwrap();
        let rpc = Rpc::engine(&el);
        let genesis = el.genesis();
        assert_eq!(genesis.hash, genesis.header.hash_slow());
        let withdrawals = json!([{"index": "0x0", "validatorIndex": "0x0", "address": Address::repeat_byte(1), "amount": "0x64"}]);
        let built = build(&rpc, fork, genesis.hash, 2, withdrawals).await;
        let payload = built.payload.clone();
        let block =
            payload.clone().try_into_block_with_sidecar::<TxEnvelope>(&sidecar(fork)).unwrap();
        assert_eq!(block.header.hash_slow(), payload.block_hash(), "{fork:?}");
        assert_eq!(payload.parent_hash(), genesis.hash);
        assert_eq!(block.header.beneficiary, FEE_RECIPIENT);
        if fork >= Fork::Shanghai {
            let w = payload.withdrawals().unwrap();
            assert_eq!((w.len(), w[0].amount, w[0].address), (1, 100, Address::repeat_byte(1)));
        } else {
            assert!(payload.withdrawals().is_none());
        }
        if fork >= Fork::Prague {
            assert_eq!(built.execution_requests, Some(Requests::default()));
        }

        let (fcu, _, np) = versions(fork);
        let status =
            rpc.result(&format!("engine_newPayload{np}"), new_payload_params(fork, &payload)).await;
        assert_eq!(status["status"], "VALID", "{fork:?}: {status}");
        assert_eq!(status["latestValidHash"], json!(payload.block_hash()));
        let head = payload.block_hash();
        let fcu_result = rpc
            .result(
                &format!("engine_forkchoiceUpdated{fcu}"),
                json!([fcu_state(head, head, genesis.hash)]),
            )
            .await;
        assert_eq!(fcu_result["payloadStatus"]["latestValidHash"], json!(head));
        assert_eq!(fcu_result["payloadId"], Value::Null);
        assert_eq!(el.head().hash, head);
        assert_eq!(el.finalized().unwrap().hash, genesis.hash);
    }
}

/// newPayload for an unknown parent is SYNCING, and a tampered block hash is INVALID.
#[tokio::test]
async fn unknown_parent_is_syncing_and_bad_hash_is_invalid() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let rpc = Rpc::engine(&el);
    let built = build(&rpc, Fork::Shanghai, el.genesis().hash, 2, json!([])).await;
    let mut orphan = built.payload.clone();
    orphan.as_v1_mut().parent_hash = B256::repeat_byte(0x11);
    let block = orphan.clone().try_into_block::<TxEnvelope>().unwrap();
    orphan.as_v1_mut().block_hash = block.header.hash_slow();
    let status =
        rpc.result("engine_newPayloadV2", new_payload_params(Fork::Shanghai, &orphan)).await;
    assert_eq!(
        status,
        json!({"status": "SYNCING", "latestValidHash": null, "validationError": null})
    );

    let mut tampered = built.payload;
    tampered.as_v1_mut().gas_used += 1;
    let status =
        rpc.result("engine_newPayloadV2", new_payload_params(Fork::Shanghai, &tampered)).await;
    assert_eq!(status["status"], "INVALID");
    assert!(status["validationError"].as_str().unwrap().contains("blockhash mismatch"));
}

/// -38002 for a finalized block that is not an ancestor; -38003 for a stale timestamp keeps
/// the head update.
#[tokio::test]
async fn forkchoice_rules() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let rpc = Rpc::engine(&el);
    let genesis = el.genesis().hash;
    let b1 = build(&rpc, Fork::Shanghai, genesis, 10, json!([])).await.payload;
    rpc.result("engine_newPayloadV2", new_payload_params(Fork::Shanghai, &b1)).await;
    let unknown = B256::repeat_byte(0x22);
    let code = rpc
        .error_code(
            "engine_forkchoiceUpdatedV2",
            json!([fcu_state(b1.block_hash(), genesis, unknown)]),
        )
        .await;
    assert_eq!(code, -38002);
    assert_eq!(el.head().hash, genesis, "an inconsistent state is not applied");

    let code = rpc
        .error_code(
            "engine_forkchoiceUpdatedV2",
            json!([
                fcu_state(b1.block_hash(), genesis, genesis),
                attrs(Fork::Shanghai, 10, json!([]))
            ]),
        )
        .await;
    assert_eq!(code, -38003);
    assert_eq!(el.head().hash, b1.block_hash(), "the head update is not rolled back");

    let unknown_head = rpc
        .result("engine_forkchoiceUpdatedV2", json!([fcu_state(unknown, B256::ZERO, B256::ZERO)]))
        .await;
    assert_eq!(unknown_head["payloadStatus"]["status"], "SYNCING");
}

/// Methods used outside their fork get -38005, wrong param counts -32602, unknown payload
/// ids -38001, engine methods on the public port -32601.
#[tokio::test]
async fn version_and_param_rules() {
    let forks = ForkSchedule { shanghai: Some(0), cancun: Some(100), prague: None };
    let el = MockEl::start(MockElConfig::with_forks(forks)).await.unwrap();
    let rpc = Rpc::engine(&el);
    let g = el.genesis().hash;
    let state = fcu_state(g, B256::ZERO, B256::ZERO);
    let code = rpc
        .error_code(
            "engine_forkchoiceUpdatedV3",
            json!([state, attrs(Fork::Cancun, 50, json!([]))]),
        )
        .await;
    assert_eq!(code, -38005);
    let code = rpc
        .error_code(
            "engine_forkchoiceUpdatedV2",
            json!([state, attrs(Fork::Shanghai, 150, json!([]))]),
        )
        .await;
    assert_eq!(code, -38005);
    assert_eq!(rpc.error_code("engine_forkchoiceUpdatedV2", json!([state, null, 1])).await, -32602);
    assert_eq!(rpc.error_code("engine_getPayloadV2", json!([])).await, -32602);
    assert_eq!(rpc.error_code("engine_getPayloadV2", json!(["0x0000000000000042"])).await, -38001);
    let built = build(&rpc, Fork::Shanghai, g, 2, json!([])).await.payload;
    let v3_params = json!([built, [], B256::ZERO]);
    assert_eq!(rpc.error_code("engine_newPayloadV3", v3_params).await, -32602);
    let public = Rpc::public(&el);
    assert_eq!(public.error_code("engine_exchangeCapabilities", json!([[]])).await, -32601);
    assert_eq!(rpc.error_code("eth_noSuchMethod", json!([])).await, -32601);
    let caps = rpc.result("engine_exchangeCapabilities", json!([["engine_newPayloadV2"]])).await;
    assert!(caps.as_array().unwrap().contains(&json!("engine_forkchoiceUpdatedV3")));
}
