//! The execution layer as the engine actor sees it: a narrow port with the few high-level
//! operations its handlers need.
//!
//! [`ExecutionPort`] is implemented for engine-client's `ExecutionPool` (plus its `eth_*`
//! client) by the node, and by fakes in tests. Keeping the actor on this port rather than
//! on the pool type lets every handler be tested against scripted answers (INVALID,
//! SYNCING, timeouts, JSON-RPC errors) without HTTP.

mod pool;

pub use pool::PoolPort;

use engine_client::{
    BoxFuture,
    error::ClientError,
    eth::TxPoolStatus,
    health::EndpointStatus,
    pool::{CommitOutcome, PoolBuild},
};
use engine_types::{
    EngineError,
    eips::BlockId,
    engine::{ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState, PayloadAttributes},
    primitives::{Address, B256, Bytes, U256},
};
use std::fmt;

/// The account facts transaction admission needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// The next nonce (pending state).
    pub nonce: u64,
    /// The balance in wei.
    pub balance: U256,
}

/// What the engine actor needs from the execution layer.
pub trait ExecutionPort: Send + Sync + fmt::Debug + 'static {
    /// `forkchoiceUpdated(parent, attributes)` then (the pool's build lookahead later)
    /// `getPayload` on the best endpoint.
    fn build_payload(
        &self,
        parent: ForkchoiceState,
        attributes: PayloadAttributes,
    ) -> BoxFuture<'_, Result<PoolBuild, ClientError>>;

    /// `newPayload` then (when VALID) `forkchoiceUpdated(forkchoice)` on every endpoint.
    fn commit(
        &self,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
        forkchoice: ForkchoiceState,
    ) -> BoxFuture<'_, Result<CommitOutcome, ClientError>>;

    /// `forkchoiceUpdated(state)` without attributes on every endpoint.
    fn forkchoice_updated(
        &self,
        state: ForkchoiceState,
        head_timestamp: u64,
    ) -> BoxFuture<'_, Result<CommitOutcome, ClientError>>;

    /// `eth_getBlockBy{Hash,Number}`; `None` when the EL does not know the block.
    fn block(
        &self,
        block: BlockId,
        full: bool,
    ) -> BoxFuture<'_, Result<Option<alloy_rpc_types_eth::Block>, EngineError>>;

    /// A block's receipts, complete, in transaction order; `None` when the block is unknown.
    fn block_receipts(
        &self,
        block: B256,
    ) -> BoxFuture<'_, Result<Option<Vec<alloy_rpc_types_eth::TransactionReceipt>>, EngineError>>;

    /// `eth_getTransactionReceipt`; `None` when the EL knows no mined transaction `tx`.
    fn transaction_receipt(
        &self,
        tx: B256,
    ) -> BoxFuture<'_, Result<Option<alloy_rpc_types_eth::TransactionReceipt>, EngineError>>;

    /// `txpool_status`: how many transactions wait in the EL's pool.
    fn txpool_status(&self) -> BoxFuture<'_, Result<TxPoolStatus, EngineError>>;

    /// `eth_sendRawTransaction`.
    fn send_raw_transaction(&self, raw: Bytes) -> BoxFuture<'_, Result<B256, EngineError>>;

    /// Pending nonce and latest balance of `address`.
    fn account(&self, address: Address) -> BoxFuture<'_, Result<Account, EngineError>>;

    /// Every endpoint's health, best first.
    fn endpoints(&self) -> Vec<EndpointStatus>;
}
