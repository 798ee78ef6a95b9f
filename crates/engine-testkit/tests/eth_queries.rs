//! Transactions flow from eth_sendRawTransaction into the next build, and the public
//! queries see the canonical chain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, B256, U256};
use common::Rpc;
use engine_testkit::{
    FillPolicy, MockEl, MockElConfig,
    fixtures::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{
    ApiVersion, EngineRequest, GetPayloadResponse, engine::ExecutionPayloadSidecar,
};
use serde_json::{Value, json};

/// Build, import and make canonical one block on the head; returns its hash.
async fn produce(el: &MockEl, rpc: &Rpc, timestamp: u64) -> B256 {
    let head = el.head().hash;
    let state = json!({"headBlockHash": head, "safeBlockHash": head, "finalizedBlockHash": el.genesis().hash});
    let attrs = json!({"timestamp": format!("{timestamp:#x}"), "prevRandao": B256::ZERO,
        "suggestedFeeRecipient": "0x000000000000000000000000000000000000dead", "withdrawals": []});
    let id =
        rpc.result("engine_forkchoiceUpdatedV2", json!([state, attrs])).await["payloadId"].clone();
    let built = rpc.result("engine_getPayloadV2", json!([id])).await;
    let built = GetPayloadResponse::from_json(ApiVersion::V2, &built.to_string()).unwrap();
    let hash = built.payload.block_hash();
    let params =
        EngineRequest::new_payload(ApiVersion::V2, built.payload, ExecutionPayloadSidecar::none())
            .unwrap()
            .params_json();
    assert_eq!(rpc.result("engine_newPayloadV2", params).await["status"], "VALID");
    let state = json!({"headBlockHash": hash, "safeBlockHash": head, "finalizedBlockHash": el.genesis().hash});
    rpc.result("engine_forkchoiceUpdatedV2", json!([state])).await;
    hash
}

/// A submitted transfer lands in the next block, with a synthesized receipt, and leaves the
/// pool once canonical.
#[tokio::test]
async fn sent_transactions_are_built_and_receipted() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let (engine, public) = (Rpc::engine(&el), Rpc::public(&el));
    let signer = dev_signer(0).unwrap();
    let to = Address::repeat_byte(0x42);
    let mut hashes = Vec::new();
    for nonce in 0..2 {
        let raw =
            sign_transfer(&signer, &Transfer::new(121_212, nonce, to, U256::from(7))).unwrap();
        hashes.push(public.result("eth_sendRawTransaction", json!([raw])).await);
    }
    let dup = sign_transfer(&signer, &Transfer::new(121_212, 0, to, U256::from(7))).unwrap();
    assert_eq!(public.error_code("eth_sendRawTransaction", json!([dup])).await, -32000);
    let in_process = el.submit(dup.clone()).unwrap_err().to_string();
    assert!(in_process.contains("already known"), "the same checks in process: {in_process}");
    let wrong_chain = sign_transfer(&signer, &Transfer::new(1, 9, to, U256::from(7))).unwrap();
    assert_eq!(public.error_code("eth_sendRawTransaction", json!([wrong_chain])).await, -32000);
    assert_eq!(el.pending_transactions().len(), 2);

    let block_hash = produce(&el, &engine, 2).await;
    assert!(el.pending_transactions().is_empty());
    assert_eq!(el.head().transactions.len(), 2);

    let receipt = public.result("eth_getTransactionReceipt", json!([hashes[1]])).await;
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["cumulativeGasUsed"], "0xa410", "2 × 21000");
    assert_eq!(receipt["gasUsed"], "0x5208");
    assert_eq!(receipt["from"], json!(signer.address()));
    assert_eq!(receipt["to"], json!(to));
    assert_eq!(receipt["blockHash"], json!(block_hash));
    assert_eq!(receipt["logs"], json!([]));

    let receipts = public.result("eth_getBlockReceipts", json!([block_hash])).await;
    assert_eq!(receipts.as_array().unwrap().len(), 2);
    let by_tag = public.result("eth_getBlockReceipts", json!(["latest"])).await;
    assert_eq!(receipts, by_tag);
    assert_eq!(public.result("eth_getTransactionReceipt", json!([B256::ZERO])).await, Value::Null);
}

/// Blocks by number, tag and hash, with hashes or full transactions.
#[tokio::test]
async fn blocks_by_number_tag_and_hash() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let (engine, public) = (Rpc::engine(&el), Rpc::public(&el));
    let raw = sign_transfer(
        &dev_signer(1).unwrap(),
        &Transfer::new(121_212, 0, Address::ZERO, U256::ZERO),
    )
    .unwrap();
    let tx_hash = public.result("eth_sendRawTransaction", json!([raw])).await;
    let b1 = produce(&el, &engine, 2).await;
    let b2 = produce(&el, &engine, 4).await;

    assert_eq!(public.result("eth_blockNumber", json!([])).await, "0x2");
    let latest = public.result("eth_getBlockByNumber", json!(["latest", false])).await;
    assert_eq!(latest["hash"], json!(b2));
    let one = public.result("eth_getBlockByNumber", json!(["0x1", false])).await;
    assert_eq!((one["hash"].clone(), one["transactions"].clone()), (json!(b1), json!([tx_hash])));
    let full = public.result("eth_getBlockByHash", json!([b1, true])).await;
    assert_eq!(full["transactions"][0]["hash"], tx_hash);
    assert_eq!(full["transactions"][0]["blockHash"], json!(b1));
    assert_eq!(full["withdrawals"], json!([]));
    let safe = public.result("eth_getBlockByNumber", json!(["safe", false])).await;
    assert_eq!(safe["hash"], json!(b1));
    let finalized = public.result("eth_getBlockByNumber", json!(["finalized", false])).await;
    let earliest = public.result("eth_getBlockByNumber", json!(["earliest", false])).await;
    assert_eq!(finalized["hash"], earliest["hash"]);
    assert_eq!(earliest["hash"], json!(el.genesis().hash));
    assert_eq!(public.result("eth_getBlockByNumber", json!(["0x9", false])).await, Value::Null);
    assert_eq!(public.error_code("eth_getBlockByNumber", json!(["latest"])).await, -32602);
    assert_eq!(public.result("eth_syncing", json!([])).await, json!(false));

    // Payload bodies, by hash (unknown → null) and by range (stops at the head).
    let bodies = engine.result("engine_getPayloadBodiesByHashV1", json!([[b1, B256::ZERO]])).await;
    assert_eq!(bodies[0]["transactions"], json!([raw]));
    assert_eq!(bodies[1], Value::Null);
    let range = engine.result("engine_getPayloadBodiesByRangeV1", json!(["0x1", "0x10"])).await;
    assert_eq!(range.as_array().unwrap().len(), 2);
    assert_eq!(
        engine.error_code("engine_getPayloadBodiesByRangeV1", json!(["0x0", "0x1"])).await,
        -32602
    );
    assert_eq!(
        engine.error_code("engine_getPayloadBodiesByRangeV1", json!(["0x1", "0x401"])).await,
        -38004
    );
}

/// Under [`FillPolicy::Background`] (Geth, Reth) a `getPayload` right after the
/// `forkchoiceUpdated` gets the empty block, and the build stays empty once resolved; one
/// sent after the builder's fill time gets the transactions.
#[tokio::test]
async fn background_fill_answers_empty_until_the_block_is_filled() {
    // Long enough that the hurried getPayload below, sent at once, arrives within it on a
    // loaded host.
    let after = std::time::Duration::from_millis(1500);
    let config = MockElConfig { fill: FillPolicy::Background { after }, ..Default::default() };
    let el = MockEl::start(config).await.unwrap();
    let (engine, public) = (Rpc::engine(&el), Rpc::public(&el));
    let raw = sign_transfer(
        &dev_signer(2).unwrap(),
        &Transfer::new(121_212, 0, Address::ZERO, U256::ZERO),
    )
    .unwrap();
    public.result("eth_sendRawTransaction", json!([raw])).await;
    let head = el.head().hash;
    let state = json!({"headBlockHash": head, "safeBlockHash": head, "finalizedBlockHash": head});
    let start = |timestamp: u64| {
        let attrs = json!({"timestamp": format!("{timestamp:#x}"), "prevRandao": B256::ZERO,
            "suggestedFeeRecipient": Address::ZERO, "withdrawals": []});
        let (engine, state) = (&engine, state.clone());
        async move {
            engine.result("engine_forkchoiceUpdatedV2", json!([state, attrs])).await["payloadId"]
                .clone()
        }
    };
    let txs = |built: &Value| built["executionPayload"]["transactions"].as_array().unwrap().len();

    let hurried = start(2).await;
    let first = engine.result("engine_getPayloadV2", json!([hurried])).await;
    assert_eq!(txs(&first), 0, "resolved before the builder filled it: the empty block");
    tokio::time::sleep(after).await;
    let again = engine.result("engine_getPayloadV2", json!([hurried])).await;
    assert_eq!(again, first, "a resolved build never changes");

    let patient = start(2).await;
    tokio::time::sleep(after).await;
    let full = engine.result("engine_getPayloadV2", json!([patient])).await;
    assert_eq!(txs(&full), 1, "resolved after the fill time: the full block");
    assert_eq!(el.pending_transactions().len(), 1, "building does not empty the pool");
}
