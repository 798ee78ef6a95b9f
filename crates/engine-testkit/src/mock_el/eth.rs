//! The public `eth_*` methods of the mock: chain queries, receipts and transaction
//! submission.

use super::{
    MockElConfig,
    block::{GAS_PER_TX, PooledTx, StoredBlock},
    chain::Chain,
    params::{parse, positional, to_json},
};
use crate::rpc_server::RpcError;
use alloy_consensus::{Transaction as _, transaction::Recovered};
use alloy_primitives::{B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    Block, BlockTransactions, Header as RpcHeader, Transaction, TransactionInfo, TransactionReceipt,
};
use serde_json::Value;
use std::sync::Arc;

/// Answer an `eth_*` call.
pub(super) fn handle(
    chain: &mut Chain,
    config: &MockElConfig,
    method: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    match method {
        "eth_chainId" => {
            positional(method, params, 0..=0)?;
            to_json(&U64::from(config.chain_id))
        }
        "eth_blockNumber" => {
            positional(method, params, 0..=0)?;
            to_json(&U64::from(chain.head_number()))
        }
        "eth_syncing" => {
            positional(method, params, 0..=0)?;
            config.syncing.answer()
        }
        "eth_getBlockByNumber" => {
            let items = positional(method, params, 2..=2)?;
            let full: bool = parse(&items[1], "full transactions flag")?;
            let block = by_tag_or_number(chain, &items[0])?;
            block.map_or(Ok(Value::Null), |b| to_json(&rpc_block(b, full)))
        }
        "eth_getBlockByHash" => {
            let items = positional(method, params, 2..=2)?;
            let hash: B256 = parse(&items[0], "block hash")?;
            let full: bool = parse(&items[1], "full transactions flag")?;
            chain.block(&hash).map_or(Ok(Value::Null), |b| to_json(&rpc_block(b, full)))
        }
        "eth_getTransactionReceipt" => {
            let items = positional(method, params, 1..=1)?;
            let hash: B256 = parse(&items[0], "transaction hash")?;
            chain.find_tx(&hash).map_or(Ok(Value::Null), |(b, i)| to_json(&receipt(b, i)))
        }
        "eth_getBlockReceipts" => {
            let items = positional(method, params, 1..=1)?;
            let block = match parse::<B256>(&items[0], "block hash") {
                Ok(hash) => chain.block(&hash),
                Err(_) => by_tag_or_number(chain, &items[0])?,
            };
            block.map_or(Ok(Value::Null), |b| {
                to_json(&(0..b.txs.len()).map(|i| receipt(b, i)).collect::<Vec<_>>())
            })
        }
        "eth_sendRawTransaction" => {
            let items = positional(method, params, 1..=1)?;
            let raw: Bytes = parse(&items[0], "raw transaction")?;
            to_json(&submit(chain, config, raw)?)
        }
        other => Err(RpcError::method_not_found(other)),
    }
}

/// `eth_sendRawTransaction`'s work: decode `raw`, refuse a blob transaction or another
/// chain's, and queue it for the next build; its hash.
pub(super) fn submit(
    chain: &mut Chain,
    config: &MockElConfig,
    raw: Bytes,
) -> Result<B256, RpcError> {
    let tx = PooledTx::decode(raw).map_err(RpcError::server)?;
    if tx.tx.is_eip4844() {
        return Err(RpcError::server("blob transactions are not supported by the mock"));
    }
    if tx.tx.chain_id().is_some_and(|id| id != config.chain_id) {
        return Err(RpcError::server(format!(
            "invalid chain id {:?} (expected {})",
            tx.tx.chain_id(),
            config.chain_id
        )));
    }
    chain.add_to_pool(tx)
}

/// A block by tag (`latest`, `safe`, `finalized`, `earliest`, `pending`) or number. `safe`
/// and `finalized` are `None` until a forkchoice update sets them; `pending` is the head
/// (the mock has no pending block).
fn by_tag_or_number<'a>(
    chain: &'a Chain,
    which: &Value,
) -> Result<Option<&'a Arc<StoredBlock>>, RpcError> {
    Ok(match which.as_str() {
        Some("latest" | "pending") => Some(chain.head()),
        Some("safe") => chain.safe(),
        Some("finalized") => chain.finalized(),
        Some("earliest") => chain.canonical_at(0),
        _ => {
            let n: U64 = parse(which, "block number or tag")?;
            chain.canonical_at(n.to())
        }
    })
}

fn tx_info(b: &StoredBlock, index: usize) -> TransactionInfo {
    TransactionInfo {
        hash: b.txs.get(index).map(|t| t.hash),
        index: Some(index as u64),
        block_hash: Some(b.hash),
        block_number: Some(b.number()),
        base_fee: b.header().base_fee_per_gas,
        block_timestamp: Some(b.header().timestamp),
    }
}

fn rpc_block(b: &StoredBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full(
            b.txs
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    Transaction::from_transaction(
                        Recovered::new_unchecked(t.tx.clone(), t.sender),
                        tx_info(b, i),
                    )
                })
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(b.txs.iter().map(|t| t.hash).collect())
    };
    let size = alloy_rlp::Encodable::length(&b.block);
    Block {
        header: RpcHeader {
            hash: b.hash,
            inner: b.header().clone(),
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(size)),
        },
        uncles: Vec::new(),
        transactions,
        withdrawals: b.block.body.withdrawals.clone(),
    }
}

fn receipt(b: &StoredBlock, index: usize) -> TransactionReceipt {
    let t = &b.txs[index];
    let base_fee = b.header().base_fee_per_gas.unwrap_or_default();
    TransactionReceipt {
        inner: b.receipts[index].clone().map_logs(|log| alloy_rpc_types_eth::Log {
            inner: log,
            block_hash: Some(b.hash),
            block_number: Some(b.number()),
            block_timestamp: Some(b.header().timestamp),
            transaction_hash: Some(t.hash),
            transaction_index: Some(index as u64),
            log_index: None,
            removed: false,
        }),
        transaction_hash: t.hash,
        transaction_index: Some(index as u64),
        block_hash: Some(b.hash),
        block_number: Some(b.number()),
        gas_used: GAS_PER_TX,
        effective_gas_price: t.tx.effective_gas_price(Some(base_fee)),
        blob_gas_used: None,
        blob_gas_price: None,
        from: t.sender,
        to: t.tx.to(),
        contract_address: None,
    }
}
