//! The public `eth_*` calls the engine needs: chain id, sync status, blocks, receipts,
//! transaction submission, balances, nonces and logs.
//!
//! Receipts of a block come from `eth_getBlockReceipts`; where the EL lacks that method or
//! answers null for a block it has, from one `eth_getTransactionReceipt` per transaction of
//! the block, and that fallback fails
//! closed: a missing receipt, or one from another block, is an error, never skipped (the old
//! node skipped failures silently, losing peg-outs).

use crate::{
    BoxFuture, EngineResult,
    client::ClientConfig,
    error::ClientError,
    jwt::{JwtAuth, JwtSecret},
    retry::{RetryPolicy, retrying},
    transport::{HttpTransport, ResultReader, TransportOptions},
};
use alloy_rpc_types_eth::{
    Block, BlockId, BlockNumberOrTag, Filter, Log, SyncStatus, TransactionReceipt,
};
use engine_types::{
    EngineError, RpcErrorCode,
    config::{EndpointConfig, EngineConfig},
    primitives::{Address, B256, Bytes, U64, U256},
};
use serde::{Serialize, de::DeserializeOwned};
use std::{fmt, time::Duration};

/// The public JSON-RPC API of one execution client. Dyn-compatible, so callers (the
/// engine's queries) can be tested against a fake.
pub trait EthApi: Send + Sync + fmt::Debug {
    /// `eth_chainId`.
    fn chain_id(&self) -> BoxFuture<'_, EngineResult<u64>>;
    /// `eth_syncing`: [`SyncStatus::None`] when synced (`false` on the wire).
    fn syncing(&self) -> BoxFuture<'_, EngineResult<SyncStatus>>;
    /// `eth_blockNumber`.
    fn block_number(&self) -> BoxFuture<'_, EngineResult<u64>>;
    /// `eth_getBlockByNumber`, with full transactions or only their hashes; `None` when the
    /// EL does not have it.
    fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> BoxFuture<'_, EngineResult<Option<Block>>>;
    /// `eth_getBlockByHash`.
    fn block_by_hash(&self, hash: B256, full: bool) -> BoxFuture<'_, EngineResult<Option<Block>>>;
    /// `eth_getTransactionReceipt`; `None` when unknown (or pending).
    fn transaction_receipt(
        &self,
        hash: B256,
    ) -> BoxFuture<'_, EngineResult<Option<TransactionReceipt>>>;
    /// Every receipt of a block, in order; `None` when the block is unknown. Falls back to
    /// one receipt call per transaction, failing on any missing receipt.
    fn block_receipts(
        &self,
        block: BlockId,
    ) -> BoxFuture<'_, EngineResult<Option<Vec<TransactionReceipt>>>>;
    /// `eth_sendRawTransaction`: the transaction's hash. Never retried (a repeat of an
    /// accepted transaction fails as "already known").
    fn send_raw_transaction(&self, raw: Bytes) -> BoxFuture<'_, EngineResult<B256>>;
    /// `eth_getBalance`, in wei.
    fn balance(&self, address: Address, block: BlockId) -> BoxFuture<'_, EngineResult<U256>>;
    /// `eth_getTransactionCount` (the account's nonce).
    fn transaction_count(
        &self,
        address: Address,
        block: BlockId,
    ) -> BoxFuture<'_, EngineResult<u64>>;
    /// `eth_getLogs`.
    fn logs(&self, filter: Filter) -> BoxFuture<'_, EngineResult<Vec<Log>>>;
    /// `txpool_status` (Geth, Reth and Nethermind serve it; a client that does not answers
    /// -32601, returned as is).
    fn txpool_status(&self) -> BoxFuture<'_, EngineResult<TxPoolStatus>>;
}

/// How many transactions wait in an execution client's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct TxPoolStatus {
    /// Executable now (next nonce and funded).
    pub pending: u64,
    /// Waiting for an earlier nonce or more funds.
    pub queued: u64,
}

/// `txpool_status` as it comes off the wire: two QUANTITY fields.
#[derive(serde::Deserialize)]
struct TxPoolStatusWire {
    pending: U64,
    queued: U64,
}

/// [`EthApi`] over HTTP(S).
#[derive(Debug)]
pub struct EthClient {
    transport: HttpTransport,
    timeout: Duration,
    retry: RetryPolicy,
}

impl EthClient {
    /// A client of `url`, with a JWT when `secret` is given (the Engine API port serves
    /// `eth_*` too, behind the JWT), each call bounded by `timeout`.
    pub fn new(
        url: &str,
        secret: Option<&JwtSecret>,
        timeout: Duration,
        retry: RetryPolicy,
        max_response_bytes: u64,
    ) -> Result<Self, ClientError> {
        let auth = secret.map(|s| JwtAuth::new(s, None, None));
        Self::with_options(url, auth, timeout, retry, TransportOptions::new(max_response_bytes))
    }

    /// [`new`](Self::new) with a signer of its own (e.g. one following a secret file,
    /// [`JwtAuth::watching`]) and every transport option (proxy, extra CA roots).
    pub fn with_options(
        url: &str,
        auth: Option<JwtAuth>,
        timeout: Duration,
        retry: RetryPolicy,
        options: TransportOptions,
    ) -> Result<Self, ClientError> {
        let transport = HttpTransport::with_options(url, None, auth, options)?;
        Ok(Self { transport, timeout, retry })
    }

    /// The public client of a configured endpoint: its `public_url` without JWT, or its
    /// Engine API URL with the JWT (following the secret file, like the engine client) when
    /// no public URL is set.
    pub fn from_config(
        endpoint: &EndpointConfig,
        engine: &EngineConfig,
    ) -> Result<Self, ClientError> {
        let retry = RetryPolicy::new(engine.retry);
        match &endpoint.public_url {
            Some(url) => {
                let options = TransportOptions {
                    proxy: endpoint.proxy.clone(),
                    tls_ca_bundle: endpoint.tls_ca_bundle.clone(),
                    ..TransportOptions::new(engine.max_response_bytes)
                };
                Self::with_options(url, None, engine.timeouts.eth, retry, options)
            }
            None => {
                let c = ClientConfig::from_config(endpoint, engine)?;
                let options = c.transport_options();
                Self::with_options(&c.url, Some(c.auth()), engine.timeouts.eth, retry, options)
            }
        }
    }

    async fn call<P, T>(&self, method: &'static str, params: &P, retry: bool) -> EngineResult<T>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let policy = if retry { self.retry } else { RetryPolicy::never() };
        let reader = ResultReader::typed();
        retrying(policy, || self.transport.call(method, params, self.timeout, &reader)).await
    }

    async fn quantity(&self, method: &'static str, params: &impl Serialize) -> EngineResult<u64> {
        let q: U64 = self.call(method, params, true).await?;
        Ok(q.to())
    }

    async fn receipts(&self, block: BlockId) -> EngineResult<Option<Vec<TransactionReceipt>>> {
        match self.call("eth_getBlockReceipts", &[block], true).await {
            Ok(Some(receipts)) => return Ok(Some(receipts)),
            // Null means an unknown block, or an EL that fails the lookup (EthereumJS 0.10.5
            // answers null for every block hash); the per-transaction path tells them apart.
            Ok(None) | Err(EngineError::Rpc { code: RpcErrorCode::MethodNotFound, .. }) => {}
            Err(e) => return Err(e),
        }
        let block = match block {
            BlockId::Hash(h) => self.block_by_hash(h.block_hash, false).await?,
            BlockId::Number(n) => self.block_by_number(n, false).await?,
        };
        let Some(block) = block else { return Ok(None) };
        let hashes: Vec<B256> = block.transactions.hashes().collect();
        let block_hash = block.header.hash;
        let fetched =
            futures::future::join_all(hashes.iter().map(|h| self.transaction_receipt(*h))).await;
        hashes
            .iter()
            .zip(fetched)
            .map(|(tx, receipt)| match receipt? {
                Some(r) if r.block_hash == Some(block_hash) => Ok(r),
                Some(r) => Err(EngineError::bad_response(
                    "eth_getTransactionReceipt",
                    format!("receipt of {tx} is from block {:?}, not {block_hash}", r.block_hash),
                )),
                None => Err(EngineError::bad_response(
                    "eth_getTransactionReceipt",
                    format!("no receipt for {tx} of block {block_hash}"),
                )),
            })
            .collect::<EngineResult<Vec<_>>>()
            .map(Some)
    }
}

impl EthApi for EthClient {
    fn chain_id(&self) -> BoxFuture<'_, EngineResult<u64>> {
        Box::pin(self.quantity("eth_chainId", &[(); 0]))
    }

    fn syncing(&self) -> BoxFuture<'_, EngineResult<SyncStatus>> {
        Box::pin(self.call("eth_syncing", &[(); 0], true))
    }

    fn block_number(&self) -> BoxFuture<'_, EngineResult<u64>> {
        Box::pin(self.quantity("eth_blockNumber", &[(); 0]))
    }

    fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> BoxFuture<'_, EngineResult<Option<Block>>> {
        Box::pin(async move { self.call("eth_getBlockByNumber", &(number, full), true).await })
    }

    fn block_by_hash(&self, hash: B256, full: bool) -> BoxFuture<'_, EngineResult<Option<Block>>> {
        Box::pin(async move { self.call("eth_getBlockByHash", &(hash, full), true).await })
    }

    fn transaction_receipt(
        &self,
        hash: B256,
    ) -> BoxFuture<'_, EngineResult<Option<TransactionReceipt>>> {
        Box::pin(async move { self.call("eth_getTransactionReceipt", &[hash], true).await })
    }

    fn block_receipts(
        &self,
        block: BlockId,
    ) -> BoxFuture<'_, EngineResult<Option<Vec<TransactionReceipt>>>> {
        Box::pin(self.receipts(block))
    }

    fn send_raw_transaction(&self, raw: Bytes) -> BoxFuture<'_, EngineResult<B256>> {
        Box::pin(async move { self.call("eth_sendRawTransaction", &[raw], false).await })
    }

    fn balance(&self, address: Address, block: BlockId) -> BoxFuture<'_, EngineResult<U256>> {
        Box::pin(async move { self.call("eth_getBalance", &(address, block), true).await })
    }

    fn transaction_count(
        &self,
        address: Address,
        block: BlockId,
    ) -> BoxFuture<'_, EngineResult<u64>> {
        Box::pin(async move { self.quantity("eth_getTransactionCount", &(address, block)).await })
    }

    fn logs(&self, filter: Filter) -> BoxFuture<'_, EngineResult<Vec<Log>>> {
        Box::pin(async move { self.call("eth_getLogs", &[filter], true).await })
    }

    fn txpool_status(&self) -> BoxFuture<'_, EngineResult<TxPoolStatus>> {
        Box::pin(async move {
            let wire: TxPoolStatusWire = self.call("txpool_status", &[(); 0], true).await?;
            Ok(TxPoolStatus { pending: wire.pending.to(), queued: wire.queued.to() })
        })
    }
}
