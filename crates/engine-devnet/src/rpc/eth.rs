//! The public `eth_*` methods: blocks, transactions, receipts, logs and state, shaped as
//! geth answers them (alloy's RPC types).

use super::{CLIENT_NAME, opt_param, param, to_json};
use crate::{chain::StoredBlock, el::Devnet, rpc_server::RpcError, state::WorldState};
use alloy_consensus::{ReceiptEnvelope, Transaction as _};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    Block, BlockTransactions, Filter, FilterBlockOption, Header, Log, Transaction,
    TransactionReceipt,
};
use engine_types::RpcErrorCode;
use serde_json::Value;
use std::sync::Arc;

/// Most blocks one `eth_getLogs` call scans.
const MAX_LOG_RANGE: u64 = 10_000;

/// The tip the devnet suggests (`eth_maxPriorityFeePerGas`), 1 gwei.
const SUGGESTED_TIP: u128 = 1_000_000_000;

impl Devnet {
    pub(super) fn handle_eth(&mut self, method: &str, params: &Value) -> Result<Value, RpcError> {
        match method {
            "eth_chainId" => to_json(U64::from(self.chain_id())),
            "net_version" => to_json(self.chain_id().to_string()),
            "web3_clientVersion" => to_json(format!("{CLIENT_NAME}/{}", env!("CARGO_PKG_VERSION"))),
            "eth_syncing" => self.syncing.answer(),
            // Geth's `txpool_status` (`internal/ethapi`, `TxPoolAPI.Status`): executable and
            // waiting transactions, as quantities.
            "txpool_status" => {
                let pending = self.pool.pending(self.chain.head_state()).len();
                let queued = self.pool.len().saturating_sub(pending);
                to_json(serde_json::json!({
                    "pending": U64::from(pending),
                    "queued": U64::from(queued),
                }))
            }
            "eth_blockNumber" => to_json(U64::from(self.head().number)),
            "eth_gasPrice" => {
                let base = u128::from(self.head().base_fee_per_gas.unwrap_or_default());
                to_json(U256::from(base + SUGGESTED_TIP))
            }
            "eth_maxPriorityFeePerGas" => to_json(U256::from(SUGGESTED_TIP)),
            "eth_getBlockByNumber" => {
                let tag: BlockNumberOrTag = param(params, 0, "block")?;
                let full: bool = param(params, 1, "full transactions flag")?;
                let block = self.by_tag(tag)?.map(|b| rpc_block(b, full));
                to_json(block)
            }
            "eth_getBlockByHash" => {
                let hash: B256 = param(params, 0, "block hash")?;
                let full: bool = param(params, 1, "full transactions flag")?;
                to_json(self.chain.block(&hash).map(|b| rpc_block(b, full)))
            }
            "eth_getBlockTransactionCountByNumber" => {
                let tag: BlockNumberOrTag = param(params, 0, "block")?;
                to_json(self.by_tag(tag)?.map(|b| U64::from(b.txs.len())))
            }
            "eth_getTransactionByHash" => {
                let hash: B256 = param(params, 0, "transaction hash")?;
                if let Some((block, index)) = self.chain.find_tx(&hash) {
                    return to_json(rpc_tx(block, index));
                }
                let pending = self.pool.get(&hash).map(|tx| Transaction {
                    inner: tx.clone(),
                    block_hash: None,
                    block_number: None,
                    transaction_index: None,
                    effective_gas_price: None,
                    block_timestamp: None,
                });
                to_json(pending)
            }
            "eth_getTransactionReceipt" => {
                let hash: B256 = param(params, 0, "transaction hash")?;
                let receipt = self
                    .chain
                    .find_tx(&hash)
                    .map(|(block, index)| receipts(block).swap_remove(index));
                to_json(receipt)
            }
            "eth_getBlockReceipts" => {
                let id: BlockId = param(params, 0, "block")?;
                to_json(self.by_id(id)?.map(|b| receipts(b)))
            }
            "eth_sendRawTransaction" => {
                let raw: Bytes = param(params, 0, "raw transaction")?;
                to_json(self.send_raw_transaction(&raw)?)
            }
            "eth_getBalance" => {
                let address: Address = param(params, 0, "address")?;
                to_json(self.state_at(params, 1)?.1.balance(&address))
            }
            "eth_getTransactionCount" => {
                let address: Address = param(params, 0, "address")?;
                let pending = matches!(
                    opt_param::<BlockId>(params, 1, "block")?,
                    Some(BlockId::Number(BlockNumberOrTag::Pending))
                );
                let nonce = self.state_at(params, 1)?.1.nonce(&address);
                let nonce = if pending { self.pool.next_nonce(&address, nonce) } else { nonce };
                to_json(U64::from(nonce))
            }
            "eth_getCode" => {
                let address: Address = param(params, 0, "address")?;
                to_json(self.state_at(params, 1)?.1.code_at(&address))
            }
            "eth_getStorageAt" => {
                let address: Address = param(params, 0, "address")?;
                let slot: U256 = param(params, 1, "storage slot")?;
                let value = self.state_at(params, 2)?.1.storage(&address, &slot);
                to_json(B256::from(value))
            }
            "eth_call" => {
                let (block, state) = self.state_at(params, 1)?;
                let (block, state) = (Arc::clone(block), Arc::clone(state));
                to_json(self.call(param(params, 0, "transaction")?, &block, &state)?)
            }
            "eth_estimateGas" => {
                let (block, state) = self.state_at(params, 1)?;
                let (block, state) = (Arc::clone(block), Arc::clone(state));
                let request = param(params, 0, "transaction")?;
                to_json(U64::from(self.estimate_gas(request, &block, &state)?))
            }
            "eth_getLogs" => {
                let filter: Filter = param(params, 0, "filter")?;
                to_json(self.logs(&filter)?)
            }
            other => Err(RpcError::method_not_found(other)),
        }
    }

    /// The block a tag names; `None` for a number past the head or an unset safe/finalized.
    fn by_tag(&self, tag: BlockNumberOrTag) -> Result<Option<&Arc<StoredBlock>>, RpcError> {
        Ok(match tag {
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Some(self.chain.head()),
            BlockNumberOrTag::Earliest => Some(self.chain.genesis()),
            BlockNumberOrTag::Safe => self.chain.safe(),
            BlockNumberOrTag::Finalized => self.chain.finalized(),
            BlockNumberOrTag::Number(n) => self.chain.canonical(n),
        })
    }

    /// The block a block id names.
    fn by_id(&self, id: BlockId) -> Result<Option<&Arc<StoredBlock>>, RpcError> {
        match id {
            BlockId::Number(tag) => self.by_tag(tag),
            BlockId::Hash(h) => {
                let block = self.chain.block(&h.block_hash);
                if h.require_canonical == Some(true) && !self.chain.is_canonical(&h.block_hash) {
                    return Ok(None);
                }
                Ok(block)
            }
        }
    }

    /// The block a state query at `params[index]` reads (latest when absent) and its
    /// post-state; unknown blocks are -32000 "header not found" as in geth, a pruned state
    /// -32000 "state at block #N is pruned" as in Reth.
    fn state_at(
        &self,
        params: &Value,
        index: usize,
    ) -> Result<(&Arc<StoredBlock>, &Arc<WorldState>), RpcError> {
        let id = opt_param::<BlockId>(params, index, "block")?.unwrap_or_default();
        let block = self.by_id(id)?.ok_or_else(|| RpcError::server("header not found"))?;
        let state = self.chain.state(&block.hash()).map_err(|e| RpcError::server(e.to_string()))?;
        Ok((block, state))
    }

    /// `eth_getLogs`: canonical logs in a block range (or one block by hash) matching the
    /// addresses and topics.
    fn logs(&self, filter: &Filter) -> Result<Vec<Log>, RpcError> {
        let blocks: Vec<&Arc<StoredBlock>> = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let block =
                    self.chain.block(&hash).ok_or_else(|| RpcError::server("unknown block"))?;
                vec![block]
            }
            FilterBlockOption::Range { from_block, to_block } => {
                let number = |tag: Option<BlockNumberOrTag>| -> Result<u64, RpcError> {
                    let tag = tag.unwrap_or(BlockNumberOrTag::Latest);
                    match self.by_tag(tag)? {
                        Some(b) => Ok(b.number()),
                        None if tag.is_number() => Ok(self.head().number),
                        None => Err(RpcError::server(format!("{tag} block not found"))),
                    }
                };
                let (from, to) = (number(from_block)?, number(to_block)?);
                if from > to {
                    return Err(RpcError::invalid_params(format!(
                        "invalid block range: {from} > {to}"
                    )));
                }
                if to - from >= MAX_LOG_RANGE {
                    return Err(RpcError::new(
                        RpcErrorCode::ServerError,
                        format!("block range {from}..={to} exceeds {MAX_LOG_RANGE} blocks"),
                    ));
                }
                self.chain.canonical_range(from, to).collect()
            }
        };
        let mut out = Vec::new();
        for block in blocks {
            if !filter.matches_bloom(block.header.logs_bloom) {
                continue;
            }
            out.extend(block_logs(block).into_iter().filter(|log| {
                filter.matches_address(log.address()) && filter.matches_topics(log.topics())
            }));
        }
        Ok(out)
    }
}

/// A block as `eth_getBlockBy*` returns it.
fn rpc_block(block: &StoredBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full((0..block.txs.len()).map(|i| rpc_tx(block, i)).collect())
    } else {
        BlockTransactions::Hashes(block.txs.iter().map(|t| *t.tx.tx_hash()).collect())
    };
    let consensus = alloy_consensus::Block {
        header: block.header.inner().clone(),
        body: alloy_consensus::BlockBody {
            transactions: block.txs.iter().map(|t| t.tx.inner().clone()).collect::<Vec<_>>(),
            ommers: Vec::new(),
            withdrawals: block.withdrawals.clone().map(Into::into),
        },
    };
    let size = alloy_rlp::Encodable::length(&consensus);
    Block {
        header: Header {
            hash: block.hash(),
            inner: consensus.header,
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(size)),
        },
        uncles: Vec::new(),
        transactions,
        withdrawals: block.withdrawals.clone().map(Into::into),
    }
}

/// Transaction `index` of `block` with its inclusion details.
fn rpc_tx(block: &StoredBlock, index: usize) -> Transaction {
    let t = &block.txs[index];
    Transaction {
        inner: t.tx.clone(),
        block_hash: Some(block.hash()),
        block_number: Some(block.number()),
        transaction_index: Some(index as u64),
        effective_gas_price: Some(t.effective_gas_price),
        block_timestamp: Some(block.header.timestamp),
    }
}

/// Every log of `block` with its position (log index counts across the block).
fn block_logs(block: &StoredBlock) -> Vec<Log> {
    receipts(block).into_iter().flat_map(|r| r.inner.into_logs()).collect()
}

/// The receipts of `block` as `eth_getTransactionReceipt` returns them.
fn receipts(block: &StoredBlock) -> Vec<TransactionReceipt> {
    let mut log_index = 0u64;
    block
        .txs
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let tx_hash = *t.tx.tx_hash();
            let inner: ReceiptEnvelope<Log> = t.receipt.clone().map_logs(|inner| {
                let log = Log {
                    inner,
                    block_hash: Some(block.hash()),
                    block_number: Some(block.number()),
                    block_timestamp: Some(block.header.timestamp),
                    transaction_hash: Some(tx_hash),
                    transaction_index: Some(index as u64),
                    log_index: Some(log_index),
                    removed: false,
                };
                log_index += 1;
                log
            });
            let blob_gas_price = block.header.blob_fee(alloy_eips::eip7840::BlobParams::cancun());
            TransactionReceipt {
                inner,
                transaction_hash: tx_hash,
                transaction_index: Some(index as u64),
                block_hash: Some(block.hash()),
                block_number: Some(block.number()),
                gas_used: t.gas_used,
                effective_gas_price: t.effective_gas_price,
                blob_gas_used: (t.blob_gas_used > 0).then_some(t.blob_gas_used),
                blob_gas_price: blob_gas_price.filter(|_| t.blob_gas_used > 0),
                from: t.tx.signer(),
                to: t.tx.to(),
                contract_address: t.contract_address,
            }
        })
        .collect()
}
