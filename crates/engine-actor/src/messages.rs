//! The engine's message protocol: one enum per inbound protocol (Chain, queries, Network),
//! wrapped by [`EngineMsg`], the actor's message type. Peers can hold a
//! `DerivedActorRef<ChainRequest>` (or `QueryMsg`, `NetworkRequest`) so they see only their part.
//!
//! Every request carries a [`CorrelationId`] (recorded on the handler's span) and its
//! [`RpcReplyPort`] as the last field. Replies are `Result<_, ActorError>`; a reply port that
//! is dropped unanswered (the engine stopped or restarted) shows up at the caller as a call
//! error, never as a hang.

pub use crate::minted::MintedPegIn;
use crate::{
    error::ActorError,
    heads::{BlockRef, ForkchoiceHeads},
    status::EngineStatus,
};
use engine_types::{
    CorrelationId, PayloadStatus, PegIn, PegOutRequest,
    eips::{BlockId, eip4895::Withdrawal},
    engine::{ExecutionPayload, ExecutionPayloadSidecar, PayloadId},
    primitives::{Address, B256, Bytes, U256},
};
use engine_validation::{MalformedPegOut, TxRejection, UnpayablePegOut};
use ractor::RpcReplyPort;
use std::time::Duration;

/// A reply port carrying a result.
pub type Reply<T> = RpcReplyPort<Result<T, ActorError>>;

/// Requests from the Chain actor.
#[derive(Debug)]
pub enum ChainRequest {
    /// Build a payload on `parent` (the current head when `None`) for the slot `timestamp`,
    /// minting `peg_ins` as withdrawals (at most 16 addresses; the rest come back pending).
    BuildPayload {
        /// Request id.
        correlation: CorrelationId,
        /// The block to build on; `None` for the current head.
        parent: Option<B256>,
        /// The slot timestamp.
        timestamp: u64,
        /// Pending peg-ins, oldest first.
        peg_ins: Vec<PegIn>,
        /// Fee recipient; the configured one (the dead address) when `None`.
        fee_recipient: Option<Address>,
        /// `prevRandao`; zero when `None` (Alys has no beacon randomness).
        prev_randao: Option<B256>,
        /// Answer.
        reply: Reply<BuiltPayload>,
    },
    /// A payload built earlier, from the cache.
    GetPayload {
        /// Request id.
        correlation: CorrelationId,
        /// The id [`BuiltPayload::payload_id`] gave.
        id: PayloadId,
        /// Answer.
        reply: Reply<BuiltPayload>,
    },
    /// Commit a payload this engine built, named by its id: the cached payload with its
    /// withdrawals and peg-ins ([`BuiltPayload::included`]), validated when it was built, is
    /// committed as [`CommitPayload`](Self::CommitPayload) commits an import, without being
    /// sent back or compared. A payload the cache no longer holds (expired, evicted, or
    /// built before a restart) is refused with [`BuildRefusal::UnknownPayload`](crate::error::BuildRefusal::UnknownPayload) before
    /// anything is sent; the caller builds again.
    CommitBuilt {
        /// Request id.
        correlation: CorrelationId,
        /// The id [`BuiltPayload::payload_id`] gave.
        id: PayloadId,
        /// Answer.
        reply: Reply<Committed>,
    },
    /// Commit a block another node built (an import): validate it in full, `newPayload`,
    /// check the status, make it the head, then hand it to the peg-out scan, which tells the
    /// Bridge its burns and Storage its receipts after the reply ([`PegOutReport::Queued`]).
    ///
    /// Idempotent: committing the block that is already the head answers
    /// [`Committed`] with `head: true` and [`PegOutReport::AlreadyReported`] without asking
    /// the EL again. A block that would mint a peg-in the canonical chain already minted is
    /// refused with [`CommitRefusal::AlreadyMinted`](crate::error::CommitRefusal::AlreadyMinted) before anything is sent.
    CommitPayload {
        /// Request id.
        correlation: CorrelationId,
        /// The block (boxed: payloads are large and messages move).
        payload: Box<ExecutionPayload>,
        /// Its `newPayload` extras (Cancun on; `ExecutionPayloadSidecar::none()` before).
        sidecar: Box<ExecutionPayloadSidecar>,
        /// The withdrawals the chain expects in it (the peg-ins it carries, packed); anything
        /// else would mint coins.
        expected_withdrawals: Vec<Withdrawal>,
        /// The peg-ins the block mints ([`BuiltPayload::included`] for our own builds). They
        /// must pack into exactly `expected_withdrawals`; their bitcoin txids are recorded as
        /// minted when the block becomes the head.
        peg_ins: Vec<PegIn>,
        /// Answer.
        reply: Reply<Committed>,
    },
    /// What became of a block and its peg-ins: for a caller whose commit timed out or was
    /// answered "not the head". Queued behind every forkchoice job already accepted (a
    /// commit still running finishes first), so the answer is final for that commit.
    WhatLanded {
        /// Request id.
        correlation: CorrelationId,
        /// The block the caller tried to commit.
        block: B256,
        /// The peg-ins it carried.
        peg_ins: Vec<PegIn>,
        /// Answer.
        reply: Reply<Landed>,
    },
    /// Set the forkchoice state explicitly (e.g. after a reorg decided by consensus). The
    /// blocks must be known to the EL (commit them first); an unknown one is refused with
    /// [`ActorError::UnknownBlock`] before anything is sent.
    ForkchoiceUpdate {
        /// Request id.
        correlation: CorrelationId,
        /// New head.
        head: B256,
        /// New safe block (zero for none).
        safe: B256,
        /// New finalized block (zero for none); must not be older than the current one.
        finalized: B256,
        /// Answer.
        reply: Reply<ForkchoiceHeads>,
    },
    /// Finality advanced to `hash`: persisted, and sent to the EL at once.
    SetFinalized {
        /// Request id.
        correlation: CorrelationId,
        /// The newly finalized block.
        hash: B256,
        /// Answer.
        reply: Reply<ForkchoiceHeads>,
    },
}

/// Read-only requests, from anyone.
#[derive(Debug)]
pub enum QueryMsg {
    /// A block from the EL (`None` when unknown), with full transactions when `with_txs`.
    GetBlock {
        /// Request id.
        correlation: CorrelationId,
        /// By hash or number.
        block: BlockId,
        /// Full transactions rather than hashes.
        with_txs: bool,
        /// Answer.
        reply: Reply<Option<alloy_rpc_types_eth::Block>>,
    },
    /// Every receipt of a block, or an error (never a partial list).
    GetReceipts {
        /// Request id.
        correlation: CorrelationId,
        /// The block's hash.
        block: B256,
        /// Answer.
        reply: Reply<Vec<alloy_rpc_types_eth::TransactionReceipt>>,
    },
    /// The head, safe or finalized block as an execution payload (any fork).
    GetPayloadByTag {
        /// Request id.
        correlation: CorrelationId,
        /// Which one.
        tag: HeadTag,
        /// Answer.
        reply: Reply<(ExecutionPayload, ExecutionPayloadSidecar)>,
    },
    /// A transaction's receipt (`None` when the EL knows no mined transaction with it).
    GetTransactionReceipt {
        /// Request id.
        correlation: CorrelationId,
        /// The transaction hash.
        tx: B256,
        /// Answer.
        reply: Reply<Option<alloy_rpc_types_eth::TransactionReceipt>>,
    },
    /// For the Bridge: the peg-out requests a transaction made, read from the canonical
    /// chain (its receipt, the bridge contract's `RequestPegOut` logs, decoded), with its
    /// depth below the head and whether it is final; or a typed
    /// [`PegOutRefusal`](crate::error::PegOutRefusal).
    ValidatePegOut {
        /// Request id.
        correlation: CorrelationId,
        /// The transaction that should have burned coins to the bridge.
        tx: B256,
        /// Answer.
        reply: Reply<PegOutValidated>,
    },
    /// How many transactions wait in the (best) execution client's pool.
    GetTxPoolStatus {
        /// Request id.
        correlation: CorrelationId,
        /// Answer.
        reply: Reply<engine_client::eth::TxPoolStatus>,
    },
    /// State, heads, endpoints, peers, cache and pending work.
    GetStatus {
        /// Request id.
        correlation: CorrelationId,
        /// Answer.
        reply: RpcReplyPort<EngineStatus>,
    },
}

/// Requests from the Network actor.
#[derive(Debug)]
pub enum NetworkRequest {
    /// Judge a gossiped transaction and, when it passes, forward it to the EL.
    ValidateTransaction {
        /// Request id.
        correlation: CorrelationId,
        /// The EIP-2718 encoded transaction.
        raw: Bytes,
        /// Who sent it (the rate limit is per peer).
        peer: String,
        /// Answer.
        reply: RpcReplyPort<TxVerdict>,
    },
}

/// Which tracked block [`QueryMsg::GetPayloadByTag`] means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeadTag {
    /// The head.
    Latest,
    /// The safe block.
    Safe,
    /// The finalized block.
    Finalized,
}

/// Everything the engine actor accepts.
#[derive(Debug)]
pub enum EngineMsg {
    /// From the Chain actor.
    Chain(ChainRequest),
    /// Queries.
    Query(QueryMsg),
    /// From the Network actor.
    Network(NetworkRequest),
    /// The engine's own periodic health tick (sent by itself; harmless from others).
    Tick,
}

macro_rules! protocol_conversions {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for EngineMsg {
            fn from(msg: $ty) -> Self {
                Self::$variant(msg)
            }
        }
        impl TryFrom<EngineMsg> for $ty {
            type Error = EngineMsg;
            fn try_from(msg: EngineMsg) -> Result<Self, EngineMsg> {
                match msg {
                    EngineMsg::$variant(m) => Ok(m),
                    other => Err(other),
                }
            }
        }
    )*};
}

protocol_conversions!(Chain(ChainRequest), Query(QueryMsg), Network(NetworkRequest));

/// A built payload.
#[derive(Debug, Clone)]
pub struct BuiltPayload {
    /// The EL's id for it (for [`ChainRequest::GetPayload`]).
    pub payload_id: PayloadId,
    /// The payload.
    pub payload: ExecutionPayload,
    /// Its `newPayload` extras (the engine keeps them: [`ChainRequest::CommitBuilt`] names
    /// the payload by id).
    pub sidecar: ExecutionPayloadSidecar,
    /// What the fee recipient earns, in wei.
    pub block_value: U256,
    /// The withdrawals in it (the packed peg-ins), to pass back as the expected ones.
    pub withdrawals: Vec<Withdrawal>,
    /// The peg-ins minted by it.
    pub included: Vec<PegIn>,
    /// The peg-ins that did not fit: the chain keeps them for the next slot.
    pub pending: Vec<PegIn>,
    /// Peg-ins left out because the canonical chain already minted them (with the block
    /// that did): the chain drops them from its queue.
    pub already_minted: Vec<MintedPegIn>,
    /// The endpoint that built it.
    pub endpoint: String,
}

/// The answer to [`ChainRequest::WhatLanded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The engine's head once every earlier forkchoice job finished.
    pub head: BlockRef,
    /// Whether the block asked about is the head or one of its ancestors.
    pub canonical: bool,
    /// The peg-ins asked about that the canonical chain minted, with their blocks.
    pub minted: Vec<MintedPegIn>,
    /// The peg-ins asked about that no canonical block minted: the caller queues them
    /// again.
    pub unminted: Vec<PegIn>,
}

/// What became of the peg-outs of a committed block. The burns themselves reach the
/// Bridge as [`BurnEventsDetected`](crate::peers::BurnEventsDetected), once per block, in
/// block order; the reply does not wait for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PegOutReport {
    /// The block did not become the head, so it is not scanned.
    NotScanned,
    /// Handed to the engine's scan lane: its receipts are fetched and its burns told to the
    /// Bridge after the reply, right after the blocks before it. A scan that fails (the EL
    /// does not give the receipts, no Bridge takes the burns) leaves the block owed, and
    /// the engine hands it over again until it is delivered.
    Queued,
    /// The block was already the head when the commit arrived (a repeated commit): its
    /// peg-outs were handed over by the commit that made it the head, and are not again.
    AlreadyReported,
    /// Peg-outs of earlier blocks are still owed (or the scan lane is full): this block's
    /// are delivered after them, in block order, by the engine's catch-up (the tick queues
    /// it).
    Deferred,
}

/// A committed block.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// Its hash.
    pub hash: B256,
    /// Its number.
    pub number: u64,
    /// The EL's `newPayload` status (VALID, or SYNCING/ACCEPTED while it catches up).
    pub status: PayloadStatus,
    /// Whether it became the head.
    pub head: bool,
    /// Its peg-outs.
    pub peg_outs: PegOutReport,
}

/// The peg-out requests of one transaction, as the canonical chain holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PegOutValidated {
    /// The transaction.
    pub tx: B256,
    /// The canonical block that holds it.
    pub block: BlockRef,
    /// How many blocks the head is above it (0: it is in the head).
    pub depth: u64,
    /// Whether its block is at or below the finalized block.
    pub finalized: bool,
    /// Requests to pay, in log order.
    pub payable: Vec<PegOutRequest>,
    /// Requests burned but not payable (dust, bad address), with the reason.
    pub not_payable: Vec<UnpayablePegOut>,
    /// Bridge events that did not decode.
    pub malformed: Vec<MalformedPegOut>,
}

/// The verdict on a gossiped transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxVerdict {
    /// Passed the checks and the EL took it.
    Accepted {
        /// Its hash.
        hash: B256,
    },
    /// Refused by the engine's checks (not forwarded).
    Rejected(TxRejection),
    /// Passed the checks but the EL refused it (e.g. underpriced replacement).
    RefusedByEl {
        /// The EL's message.
        reason: String,
    },
    /// The peer exceeded its rate; not looked at.
    RateLimited {
        /// When a token will be available.
        retry_after: Duration,
    },
    /// The EL could not be asked (its answer is unknown): try again later.
    Unavailable {
        /// Why.
        reason: String,
    },
}
