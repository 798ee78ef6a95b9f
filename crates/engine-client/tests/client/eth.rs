//! The public `eth_*` API against the mock's public port (no JWT).

use crate::harness::Versioned;
use crate::harness::{ANSWERED, client, mock, produce};
use alloy_rpc_types_eth::{BlockId, BlockNumberOrTag, Filter, SyncStatus};
use engine_client::{
    eth::{EthApi, EthClient},
    retry::RetryPolicy,
};
use engine_testkit::ElPorts;
use engine_testkit::{
    Fault, MockEl,
    fixtures::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{
    EngineError, Fork, ForkSchedule,
    config::RetryConfig,
    constants::CHAIN_ID_DEV,
    primitives::{Address, B256, U256},
};
use std::time::Duration;

fn eth(el: &MockEl) -> EthClient {
    let retry = RetryPolicy::new(RetryConfig {
        initial_backoff: Duration::from_millis(2),
        ..RetryConfig::default()
    });
    EthClient::new(&el.public_url(), None, ANSWERED, retry, 1024 * 1024).unwrap()
}

/// Sends `n` transfers and produces a block holding them; returns the tx hashes.
async fn block_with_transfers(el: &MockEl, e: &EthClient, n: u64) -> Vec<B256> {
    let signer = dev_signer(0).unwrap();
    let mut hashes = Vec::new();
    for nonce in 0..n {
        let t = Transfer::new(CHAIN_ID_DEV, nonce, Address::repeat_byte(0x42), U256::from(1));
        hashes.push(e.send_raw_transaction(sign_transfer(&signer, &t).unwrap()).await.unwrap());
    }
    produce(el, &Versioned::new(client(el), ForkSchedule::default())).await;
    hashes
}

/// Chain id, sync status (`false`), head number and blocks by number and hash, with and
/// without transactions.
#[tokio::test]
async fn chain_queries() {
    let el = mock(Fork::Shanghai).await;
    let e = eth(&el);
    assert_eq!(e.chain_id().await.unwrap(), CHAIN_ID_DEV);
    assert_eq!(e.syncing().await.unwrap(), SyncStatus::None);
    let txs = block_with_transfers(&el, &e, 2).await;
    assert_eq!(e.block_number().await.unwrap(), 1);
    let head = el.head().hash;
    let by_number = e.block_by_number(BlockNumberOrTag::Number(1), false).await.unwrap().unwrap();
    assert_eq!(by_number.header.hash, head);
    assert_eq!(by_number.transactions.hashes().collect::<Vec<_>>(), txs);
    let full = e.block_by_hash(head, true).await.unwrap().unwrap();
    assert!(full.transactions.is_full());
    assert_eq!(full.transactions.hashes().collect::<Vec<_>>(), txs);
    assert!(e.block_by_hash(B256::repeat_byte(1), false).await.unwrap().is_none());
    assert!(e.block_by_number(BlockNumberOrTag::Number(9), true).await.unwrap().is_none());
}

/// A syncing EL's progress object parses.
#[tokio::test]
async fn syncing_object() {
    let el = mock(Fork::Shanghai).await;
    let e = eth(&el);
    el.fail_next(
        "eth_syncing",
        Fault::Result(
            serde_json::json!({"startingBlock":"0x0","currentBlock":"0x5","highestBlock":"0x9"}),
        ),
        1,
    );
    let SyncStatus::Info(info) = e.syncing().await.unwrap() else { panic!("expected progress") };
    assert_eq!(info.highest_block, U256::from(9));
}

/// Receipts of a block, from eth_getBlockReceipts and, when the EL lacks it or answers null
/// for a block it has, one by one.
#[tokio::test]
async fn block_receipts_with_fallback() {
    let el = mock(Fork::Shanghai).await;
    let e = eth(&el);
    let txs = block_with_transfers(&el, &e, 3).await;
    let block = BlockId::from(el.head().hash);
    let direct = e.block_receipts(block).await.unwrap().unwrap();
    assert_eq!(direct.iter().map(|r| r.transaction_hash).collect::<Vec<_>>(), txs);

    el.fail_next("eth_getBlockReceipts", Fault::rpc_error(-32601, "no such method"), 1);
    let fallback = e.block_receipts(block).await.unwrap().unwrap();
    assert_eq!(fallback, direct);
    assert_eq!(el.calls("eth_getTransactionReceipt").len(), 3);

    // A null answer for a block the EL has (EthereumJS 0.10.5 does this for every hash) is
    // not taken as "no receipts": the per-transaction path answers instead.
    el.fail_next("eth_getBlockReceipts", Fault::Result(serde_json::Value::Null), 1);
    assert_eq!(e.block_receipts(block).await.unwrap().unwrap(), direct);
    assert_eq!(el.calls("eth_getTransactionReceipt").len(), 6);

    assert_eq!(e.transaction_receipt(txs[1]).await.unwrap().unwrap(), direct[1]);
    assert!(e.block_receipts(BlockId::from(B256::repeat_byte(3))).await.unwrap().is_none());
}

/// The fallback fails closed: one missing receipt fails the whole block.
#[tokio::test]
async fn missing_receipt_is_an_error() {
    let el = mock(Fork::Shanghai).await;
    let e = eth(&el);
    let txs = block_with_transfers(&el, &e, 2).await;
    el.fail_next("eth_getBlockReceipts", Fault::rpc_error(-32601, "no such method"), 1);
    el.fail_next("eth_getTransactionReceipt", Fault::Result(serde_json::Value::Null), 1);
    let err = e.block_receipts(BlockId::from(el.head().hash)).await.unwrap_err();
    match err {
        EngineError::BadResponse { reason, .. } => {
            assert!(
                reason.contains("no receipt")
                    && txs.iter().any(|t| reason.contains(&t.to_string())),
                "{reason}"
            )
        }
        other => panic!("{other}"),
    }
}

/// Balance, nonce and logs send the spec's params and parse the answers.
#[tokio::test]
async fn account_queries_and_logs() {
    let el = mock(Fork::Shanghai).await;
    let e = eth(&el);
    let who = Address::repeat_byte(0x11);
    el.fail_next("eth_getBalance", Fault::Result(serde_json::json!("0x10")), 1);
    assert_eq!(e.balance(who, BlockId::latest()).await.unwrap(), U256::from(16));
    assert_eq!(el.calls("eth_getBalance")[0].params, serde_json::json!([who, "latest"]));
    el.fail_next("eth_getTransactionCount", Fault::Result(serde_json::json!("0x5")), 1);
    assert_eq!(e.transaction_count(who, BlockId::number(3)).await.unwrap(), 5);
    assert_eq!(el.calls("eth_getTransactionCount")[0].params, serde_json::json!([who, "0x3"]));
    el.fail_next("eth_getLogs", Fault::Result(serde_json::json!([])), 1);
    let filter = Filter::new().address(who).from_block(1).to_block(2);
    assert!(e.logs(filter).await.unwrap().is_empty());
    let sent = &el.calls("eth_getLogs")[0].params[0];
    assert_eq!(sent["fromBlock"], "0x1");
}

/// A submission is never repeated, even on a transient error.
#[tokio::test]
async fn send_raw_transaction_is_not_retried() {
    let el = mock(Fork::Shanghai).await;
    let e = eth(&el);
    el.fail_next("eth_sendRawTransaction", Fault::HttpStatus(503), 5);
    let t = Transfer::new(CHAIN_ID_DEV, 0, Address::repeat_byte(0x42), U256::from(1));
    let raw = sign_transfer(&dev_signer(0).unwrap(), &t).unwrap();
    e.send_raw_transaction(raw).await.unwrap_err();
    assert_eq!(el.calls("eth_sendRawTransaction").len(), 1);
    el.fail_next("eth_chainId", Fault::HttpStatus(503), 1);
    assert_eq!(e.chain_id().await.unwrap(), CHAIN_ID_DEV, "reads are retried");
}
