//! [`ExecutionPort`] over engine-client: the [`ExecutionPool`] for the Engine API and one
//! [`EthApi`] per pool endpoint for the public calls.
//!
//! Public calls go to the best usable endpoint (usable ones first, in the pool's rank order)
//! and move on to the next one when an endpoint cannot be reached, so a dead primary does
//! not stop queries, receipts or transaction forwarding. Reads whose answer any in-sync EL
//! gives alike (a block, its receipts or a transaction receipt by hash) take turns over the
//! fast in-sync endpoints instead ([`ExecutionPool::read_order`]); the head, the mempool and
//! transaction forwarding stay on the best-ranked one.

use super::{Account, ExecutionPort};
use engine_client::{
    BoxFuture,
    error::ClientError,
    eth::{EthApi, EthClient},
    health::EndpointStatus,
    pool::{CommitOutcome, ExecutionPool, PoolBuild, PoolConfig},
};
use engine_types::{
    EngineError, ForkSchedule, TransportError,
    config::EngineConfig,
    eips::{BlockId, BlockNumberOrTag},
    engine::{ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState, PayloadAttributes},
    primitives::{Address, B256, Bytes},
};
use std::{future::Future, sync::Arc};

/// The production [`ExecutionPort`].
#[derive(Debug)]
pub struct PoolPort {
    pool: ExecutionPool,
    eth: Vec<Arc<dyn EthApi>>,
}

impl PoolPort {
    /// `eth[i]` must serve the same execution client as the pool's endpoint `i`.
    pub fn new(pool: ExecutionPool, eth: Vec<Arc<dyn EthApi>>) -> Result<Self, ClientError> {
        let endpoints = pool.status().len();
        if eth.len() != endpoints {
            return Err(ClientError::Config {
                field: "eth".into(),
                problem: format!("{} eth clients for {endpoints} pool endpoints", eth.len()),
            });
        }
        Ok(Self { pool, eth })
    }

    /// The pool and eth clients of an engine configuration (reads the JWT secret files).
    /// Must be called inside a tokio runtime.
    pub fn from_config(engine: &EngineConfig, schedule: ForkSchedule) -> Result<Self, ClientError> {
        let pool = ExecutionPool::start(PoolConfig::from_config(engine, schedule)?)?;
        let eth = engine
            .endpoints
            .iter()
            .map(|e| EthClient::from_config(e, engine).map(|c| Arc::new(c) as Arc<dyn EthApi>))
            .collect::<Result<_, _>>()?;
        Self::new(pool, eth)
    }

    /// The pool (e.g. to run an upcheck now).
    pub const fn pool(&self) -> &ExecutionPool {
        &self.pool
    }

    /// Eth clients in the order `reads` asks for.
    fn eth_in(&self, reads: Reads) -> Vec<Arc<dyn EthApi>> {
        let order = match reads {
            Reads::Ranked => self.pool.query_order(),
            Reads::Spread => self.pool.read_order(),
        };
        order.into_iter().filter_map(|i| self.eth.get(i).cloned()).collect()
    }

    /// Runs `call` on the best eth client, and on the next ones while the failure is that
    /// the endpoint could not be reached (`also_on_timeout` widens that to timeouts, for
    /// calls that are safe to repeat).
    fn eth_call<'a, T, F, Fut>(
        &'a self,
        (reads, also_on_timeout): (Reads, bool),
        call: F,
    ) -> BoxFuture<'a, Result<T, EngineError>>
    where
        T: Send + 'a,
        F: Fn(Arc<dyn EthApi>) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, EngineError>> + Send + 'a,
    {
        let clients = self.eth_in(reads);
        Box::pin(async move {
            let mut last = None;
            for client in clients {
                match call(client).await {
                    Ok(v) => return Ok(v),
                    Err(e) if is_unreachable(&e, also_on_timeout) => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| EngineError::NoUsableEndpoint {
                reason: "no execution client configured".into(),
            }))
        })
    }
}

/// Which endpoint a public call goes to first.
#[derive(Debug, Clone, Copy)]
enum Reads {
    /// The best-ranked ([`ExecutionPool::query_order`]): the one that builds, whose head and
    /// mempool are the ones that count.
    Ranked,
    /// Turns over the fast in-sync endpoints ([`ExecutionPool::read_order`]): for answers
    /// every in-sync EL gives alike.
    Spread,
}

fn is_unreachable(e: &EngineError, also_on_timeout: bool) -> bool {
    match e {
        EngineError::Transport(TransportError::Connect { .. }) => true,
        EngineError::Transport(TransportError::Timeout { .. }) => also_on_timeout,
        EngineError::Transport(TransportError::HttpStatus { status, .. }) => *status >= 500,
        _ => false,
    }
}

impl ExecutionPort for PoolPort {
    fn build_payload(
        &self,
        parent: ForkchoiceState,
        attributes: PayloadAttributes,
    ) -> BoxFuture<'_, Result<PoolBuild, ClientError>> {
        Box::pin(self.pool.build_payload(parent, attributes))
    }

    fn commit(
        &self,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
        forkchoice: ForkchoiceState,
    ) -> BoxFuture<'_, Result<CommitOutcome, ClientError>> {
        Box::pin(self.pool.commit(payload, sidecar, forkchoice))
    }

    fn forkchoice_updated(
        &self,
        state: ForkchoiceState,
        head_timestamp: u64,
    ) -> BoxFuture<'_, Result<CommitOutcome, ClientError>> {
        Box::pin(self.pool.forkchoice_updated(state, head_timestamp))
    }

    fn block(
        &self,
        block: BlockId,
        full: bool,
    ) -> BoxFuture<'_, Result<Option<alloy_rpc_types_eth::Block>, EngineError>> {
        // A block named by hash is the same on every EL that has it; a tag or number names
        // the best-ranked EL's view.
        let reads = if matches!(block, BlockId::Hash(_)) { Reads::Spread } else { Reads::Ranked };
        self.eth_call((reads, true), move |eth| async move {
            match block {
                BlockId::Hash(h) => eth.block_by_hash(h.block_hash, full).await,
                BlockId::Number(n) => eth.block_by_number(n, full).await,
            }
        })
    }

    fn block_receipts(
        &self,
        block: B256,
    ) -> BoxFuture<'_, Result<Option<Vec<alloy_rpc_types_eth::TransactionReceipt>>, EngineError>>
    {
        self.eth_call((Reads::Spread, true), move |eth| async move {
            eth.block_receipts(BlockId::hash(block)).await
        })
    }

    fn transaction_receipt(
        &self,
        tx: B256,
    ) -> BoxFuture<'_, Result<Option<alloy_rpc_types_eth::TransactionReceipt>, EngineError>> {
        self.eth_call(
            (Reads::Spread, true),
            move |eth| async move { eth.transaction_receipt(tx).await },
        )
    }

    fn txpool_status(
        &self,
    ) -> BoxFuture<'_, Result<engine_client::eth::TxPoolStatus, EngineError>> {
        self.eth_call((Reads::Ranked, true), |eth| async move { eth.txpool_status().await })
    }

    fn send_raw_transaction(&self, raw: Bytes) -> BoxFuture<'_, Result<B256, EngineError>> {
        // Not on timeout: the first EL may have taken it, and a repeat would be refused.
        self.eth_call((Reads::Ranked, false), move |eth| {
            let raw = raw.clone();
            async move { eth.send_raw_transaction(raw).await }
        })
    }

    fn account(&self, address: Address) -> BoxFuture<'_, Result<Account, EngineError>> {
        self.eth_call((Reads::Ranked, true), move |eth| async move {
            let nonce =
                eth.transaction_count(address, BlockId::Number(BlockNumberOrTag::Pending)).await?;
            let balance = eth.balance(address, BlockId::latest()).await?;
            Ok(Account { nonce, balance })
        })
    }

    fn endpoints(&self) -> Vec<EndpointStatus> {
        self.pool.status()
    }
}
