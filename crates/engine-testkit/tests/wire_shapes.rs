//! The exact JSON the mock puts on the wire, for a deterministic Prague chain with one
//! transfer: reviewed snapshots, so a change of shape is a visible diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, B256, U256};
use common::Rpc;
use engine_testkit::{
    MockEl, MockElConfig,
    fixtures::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{Fork, ForkSchedule};
use serde_json::json;

/// getPayloadV4, newPayloadV4, forkchoiceUpdatedV3, a receipt, a block and an error.
#[tokio::test]
async fn prague_wire_shapes() {
    let el = MockEl::start(MockElConfig::with_forks(ForkSchedule::all_from_genesis(Fork::Prague)))
        .await
        .unwrap();
    let (engine, public) = (Rpc::engine(&el), Rpc::public(&el));
    let raw = sign_transfer(
        &dev_signer(0).unwrap(),
        &Transfer::new(121_212, 0, Address::repeat_byte(0x42), U256::from(1_000)),
    )
    .unwrap();
    let tx_hash = public.result("eth_sendRawTransaction", json!([raw])).await;
    let g = el.genesis().hash;
    let state = json!({"headBlockHash": g, "safeBlockHash": g, "finalizedBlockHash": g});
    let attrs = json!({
        "timestamp": "0x2",
        "prevRandao": B256::repeat_byte(7),
        "suggestedFeeRecipient": "0x000000000000000000000000000000000000dead",
        "withdrawals": [{"index": "0x0", "validatorIndex": "0x0", "address": Address::repeat_byte(1), "amount": "0x64"}],
        "parentBeaconBlockRoot": B256::repeat_byte(0xbe),
    });
    let fcu = engine.result("engine_forkchoiceUpdatedV3", json!([state, attrs])).await;
    insta::assert_json_snapshot!("fcu_v3_with_attributes", fcu);
    let built = engine.result("engine_getPayloadV4", json!([fcu["payloadId"]])).await;
    insta::assert_json_snapshot!("get_payload_v4", built);

    let params = json!([built["executionPayload"], [], B256::repeat_byte(0xbe), []]);
    let status = engine.result("engine_newPayloadV4", params).await;
    insta::assert_json_snapshot!("new_payload_v4_valid", status);
    let head = built["executionPayload"]["blockHash"].clone();
    engine
        .result(
            "engine_forkchoiceUpdatedV3",
            json!([{"headBlockHash": head, "safeBlockHash": g, "finalizedBlockHash": g}]),
        )
        .await;
    let receipt = public.result("eth_getTransactionReceipt", json!([tx_hash])).await;
    insta::assert_json_snapshot!("receipt", receipt);
    let block = public.result("eth_getBlockByNumber", json!(["latest", false])).await;
    insta::assert_json_snapshot!("block_latest_hashes", block);

    let stale = json!({"timestamp": "0x1", "prevRandao": B256::ZERO,
        "suggestedFeeRecipient": "0x000000000000000000000000000000000000dead", "withdrawals": [],
        "parentBeaconBlockRoot": B256::ZERO});
    let err = engine
        .call(
            "engine_forkchoiceUpdatedV3",
            json!([{"headBlockHash": head, "safeBlockHash": g, "finalizedBlockHash": g}, stale]),
        )
        .await;
    insta::assert_json_snapshot!("error_invalid_attributes", err);
}
