//! The engine actor's error: what a caller gets back instead of a reply value.

use crate::{heads::BlockRef, status::EngineState};
use engine_client::error::ClientError;
use engine_types::{
    EngineError, PayloadStatus, Severity, engine::PayloadId, pegin::PackError, primitives::B256,
};
use std::path::PathBuf;

/// Why a request to the engine actor did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// The engine cannot build now (initializing, syncing or in error).
    #[error("the engine is {state}, not ready to build")]
    NotReady {
        /// The state it is in.
        state: EngineState,
    },
    /// The execution client failed or answered outside the spec.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The execution pool failed (configuration, or a head the EL will not build on).
    #[error(transparent)]
    Client(ClientError),
    /// The execution client rejected a block or a forkchoice state.
    #[error(
        "the execution client answered {} for {block}{}",
        status_name(status),
        status_detail(status)
    )]
    Rejected {
        /// The block concerned.
        block: B256,
        /// The status it gave.
        status: PayloadStatus,
    },
    /// The execution client is syncing and cannot decide yet.
    #[error("the execution client is syncing; cannot {action} {block}")]
    Syncing {
        /// What was attempted (`build on`, `commit`, `set head to`).
        action: &'static str,
        /// The block concerned.
        block: B256,
    },
    /// A payload fails the engine's own checks.
    #[error("payload {block} fails validation: {reason}")]
    InvalidPayload {
        /// Its block hash.
        block: B256,
        /// Every violation, joined.
        reason: String,
    },
    /// No cached payload has this id (never built, evicted or expired).
    #[error("no cached payload with id {id}")]
    UnknownPayload {
        /// The id asked for.
        id: PayloadId,
    },
    /// The execution client does not know this block.
    #[error("the execution client does not know block {block}")]
    UnknownBlock {
        /// The block asked for, as given.
        block: String,
    },
    /// The requested finalized block is older than the current one.
    #[error("finalized would go back from block {current} to block {requested}")]
    FinalizedRegression {
        /// The current finalized number.
        current: u64,
        /// The requested one.
        requested: u64,
    },
    /// Peg-ins could not be turned into withdrawals.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// The persisted state could not be read or written.
    #[error("engine state file {}: {reason}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A bounded queue of the engine is full: the request was refused at once, not queued.
    /// Ask again later (the work ahead of it has to drain first).
    #[error("the engine is busy: its {queue} is full ({limit}); try again later")]
    Busy {
        /// Which bound: `forkchoice queue` or `query tasks`.
        queue: &'static str,
        /// The bound (`job_queue` or `max_tasks` of the configuration).
        limit: usize,
    },
    /// The forkchoice worker ended before the actor (a job panicked): this incarnation can
    /// no longer move its head. The actor fails with this reason, so that its supervisor
    /// restarts it from the persisted state.
    #[error("the forkchoice worker stopped: {reason}; the engine must restart")]
    WorkerStopped {
        /// Why (the panic's message).
        reason: String,
    },
    /// The Chain actor, which the engine cannot work without, is gone: the actor fails with
    /// this reason, so that its supervisor decides.
    #[error("the Chain actor is gone")]
    ChainGone,
    /// A task of the execution pool panicked (a call in an endpoint's lane, an upcheck): a
    /// bug, after which the engine's view of that endpoint is unknown. The actor fails with
    /// this reason; its restart re-sends the forkchoice state, which catches the endpoint
    /// up.
    #[error(
        "a task of the execution pool panicked for {endpoint} ({panics} so far){}; the engine \
         must restart",
        last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
    )]
    PoolTaskPanicked {
        /// The endpoint.
        endpoint: String,
        /// Its panic counter now.
        panics: u64,
        /// Its last error (which names the panic).
        last_error: Option<String>,
    },
    /// A block would mint a peg-in a second time: the canonical chain minted it already
    /// (or the block lists it twice).
    #[error("peg-in {bitcoin_txid} was already minted{}", minted_in(block.as_ref()))]
    AlreadyMinted {
        /// The bitcoin transaction of the peg-in.
        bitcoin_txid: B256,
        /// The canonical block that minted it (`None`: listed twice in the same block).
        block: Option<BlockRef>,
    },
    /// The execution client was ahead of the engine on a descendant of its head: the engine
    /// validated and adopted those blocks, so the request (made for the old head) must be
    /// made again for the new one.
    #[error(
        "the execution client was ahead: the head moved from block {} ({}) to block {} ({}); \
         ask again on the new head",
        from.number, from.hash, to.number, to.hash
    )]
    HeadMoved {
        /// The head the request was made for.
        from: BlockRef,
        /// The head now.
        to: BlockRef,
    },
    /// The execution client's chain cannot be reconciled with the engine's without a
    /// decision by the operator.
    #[error(
        "the execution client's head is block {} ({}), the engine's is block {} ({}): \
         {reason}. Point the engine at an execution client that follows the engine's chain, \
         or, to follow this client's chain instead, move the engine's state file aside \
         (the withdrawal index is then recovered from the client's chain)",
        el.number, el.hash, ours.number, ours.hash
    )]
    Unreconcilable {
        /// The engine's head.
        ours: BlockRef,
        /// The execution client's head.
        el: BlockRef,
        /// Why the engine cannot follow it by itself.
        reason: String,
    },
    /// The execution client answered VALID to an older head but kept its own (Geth and
    /// Reth do not go back to an ancestor of their head): the engine's head stays.
    #[error(
        "the execution client kept its head, block {} ({}), instead of going back to block {} \
         ({}); the engine never asks an execution client to rewind",
        el.number, el.hash, requested.number, requested.hash
    )]
    WouldRewind {
        /// The head asked for.
        requested: BlockRef,
        /// The EL's head, unchanged.
        el: BlockRef,
    },
    /// A block named as finalized is not on the head's chain.
    #[error(
        "block {} ({}) is not on the chain of the head, block {} ({})",
        block.number, block.hash, head.number, head.hash
    )]
    NotOnChain {
        /// The block named.
        block: BlockRef,
        /// The head.
        head: BlockRef,
    },
    /// A transaction asked about is not a peg-out the Bridge may pay (yet).
    #[error(transparent)]
    PegOut(#[from] PegOutRefusal),
    /// The execution client declared the head INVALID and the newest valid ancestor it
    /// named is below the finalized block (or not an ancestor at all): finality would have
    /// to go back.
    #[error(
        "the execution client declared block {head} INVALID with latest valid {latest_valid}, \
         which is not a descendant of the finalized block {} ({}); the operator must \
         investigate the execution client",
        finalized.number, finalized.hash
    )]
    InvalidBelowFinalized {
        /// The head declared invalid.
        head: B256,
        /// The latest valid hash the EL named (zero when it named none).
        latest_valid: B256,
        /// The finalized block.
        finalized: BlockRef,
    },
}

/// Why [`ValidatePegOut`](crate::messages::QueryMsg::ValidatePegOut) refuses a
/// transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PegOutRefusal {
    /// No mined transaction with this hash (pending, dropped, or never sent): ask later.
    #[error("transaction {tx} is not in any block the execution client knows")]
    NotFound {
        /// The transaction.
        tx: B256,
    },
    /// Its block is not (or no longer) on the canonical chain: ask again after the reorg.
    #[error("transaction {tx} is in block {} ({}), which is not canonical", block.number, block.hash)]
    NotCanonical {
        /// The transaction.
        tx: B256,
        /// The block its receipt names.
        block: BlockRef,
    },
    /// It reverted: nothing was burned.
    #[error("transaction {tx} reverted in block {}: nothing was burned", block.number)]
    Reverted {
        /// The transaction.
        tx: B256,
        /// Its block.
        block: BlockRef,
    },
    /// It emitted no `RequestPegOut` from the bridge contract.
    #[error("transaction {tx} in block {} made no peg-out request to the bridge", block.number)]
    NoPegOut {
        /// The transaction.
        tx: B256,
        /// Its block.
        block: BlockRef,
    },
}

impl PegOutRefusal {
    /// Not found or not canonical may change (retry); reverted or no request is final.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::NotFound { .. } | Self::NotCanonical { .. } => Severity::Retry,
            Self::Reverted { .. } | Self::NoPegOut { .. } => Severity::Reset,
        }
    }
}

fn minted_in(block: Option<&BlockRef>) -> String {
    block.map_or_else(
        || " (it appears twice in the block)".to_string(),
        |b| format!(" in block {} ({})", b.number, b.hash),
    )
}

fn status_name(status: &PayloadStatus) -> String {
    format!("{:?}", status.kind()).to_uppercase()
}

fn status_detail(status: &PayloadStatus) -> String {
    match status {
        PayloadStatus::Invalid { latest_valid_hash, validation_error } => format!(
            " (latest valid {}, {})",
            latest_valid_hash.map_or_else(|| "null".to_string(), |h| h.to_string()),
            validation_error.as_deref().unwrap_or("no reason given")
        ),
        PayloadStatus::InvalidBlockHash { validation_error } => {
            format!(" ({})", validation_error.as_deref().unwrap_or("no reason given"))
        }
        _ => String::new(),
    }
}

impl ActorError {
    /// Classifies a pool error about `block`: a head the EL will not build on becomes
    /// [`Self::Syncing`] or [`Self::Rejected`], a call error [`Self::Engine`].
    pub fn from_client(error: ClientError, action: &'static str, block: B256) -> Self {
        match error {
            ClientError::Engine(e) => Self::Engine(e),
            ClientError::HeadNotValid { status, .. } if status.is_undecided() => {
                Self::Syncing { action, block }
            }
            ClientError::HeadNotValid { status, .. } => Self::Rejected { block, status },
            other => Self::Client(other),
        }
    }

    /// How the caller should react: retry later, reset its view (drop the block, refetch the
    /// head), or stop.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::NotReady { .. }
            | Self::Syncing { .. }
            | Self::Busy { .. }
            | Self::HeadMoved { .. } => Severity::Retry,
            Self::Engine(e) => e.severity(),
            Self::Client(e) => e.severity(),
            Self::PegOut(e) => e.severity(),
            Self::Rejected { .. }
            | Self::InvalidPayload { .. }
            | Self::UnknownPayload { .. }
            | Self::UnknownBlock { .. }
            | Self::AlreadyMinted { .. }
            | Self::WouldRewind { .. }
            | Self::NotOnChain { .. } => Severity::Reset,
            Self::FinalizedRegression { .. }
            | Self::Pack(_)
            | Self::StateFile { .. }
            | Self::Unreconcilable { .. }
            | Self::InvalidBelowFinalized { .. } => Severity::Fatal,
            // This incarnation cannot go on, but no operator is needed: a restart from the
            // persisted state re-sends the forkchoice state (a reset); the supervisor's
            // restart intensity escalates if it keeps happening.
            Self::WorkerStopped { .. } | Self::PoolTaskPanicked { .. } | Self::ChainGone => {
                Severity::Reset
            }
        }
    }

    /// A short label for metrics.
    pub fn class(&self) -> String {
        match self {
            Self::NotReady { .. } => "not_ready".into(),
            Self::Engine(e) => e.class(),
            Self::Client(_) => "client".into(),
            Self::Rejected { status, .. } => {
                format!("rejected_{}", status_name(status).to_lowercase())
            }
            Self::Syncing { .. } => "syncing".into(),
            Self::InvalidPayload { .. } => "invalid_payload".into(),
            Self::UnknownPayload { .. } => "unknown_payload".into(),
            Self::UnknownBlock { .. } => "unknown_block".into(),
            Self::FinalizedRegression { .. } => "finalized_regression".into(),
            Self::Pack(_) => "pack".into(),
            Self::StateFile { .. } => "state_file".into(),
            Self::Busy { .. } => "busy".into(),
            Self::WorkerStopped { .. } => "worker_stopped".into(),
            Self::PoolTaskPanicked { .. } => "pool_task_panicked".into(),
            Self::ChainGone => "chain_gone".into(),
            Self::AlreadyMinted { .. } => "already_minted".into(),
            Self::WouldRewind { .. } => "would_rewind".into(),
            Self::NotOnChain { .. } => "not_on_chain".into(),
            Self::PegOut(PegOutRefusal::NotFound { .. }) => "peg_out_not_found".into(),
            Self::PegOut(PegOutRefusal::NotCanonical { .. }) => "peg_out_not_canonical".into(),
            Self::PegOut(PegOutRefusal::Reverted { .. }) => "peg_out_reverted".into(),
            Self::PegOut(PegOutRefusal::NoPegOut { .. }) => "peg_out_none".into(),
            Self::HeadMoved { .. } => "head_moved".into(),
            Self::Unreconcilable { .. } => "unreconcilable".into(),
            Self::InvalidBelowFinalized { .. } => "invalid_below_finalized".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rejection reads like the EL's answer, with the reason and the latest valid hash.
    #[test]
    fn rejection_message_carries_the_reason() {
        let e = ActorError::Rejected {
            block: B256::repeat_byte(1),
            status: PayloadStatus::Invalid {
                latest_valid_hash: Some(B256::ZERO),
                validation_error: Some("bad state root".into()),
            },
        };
        let text = e.to_string();
        assert!(text.starts_with("the execution client answered INVALID for 0x0101"), "{text}");
        assert!(text.contains("bad state root"), "{text}");
        assert_eq!(e.severity(), Severity::Reset);
        assert_eq!(e.class(), "rejected_invalid");
        assert_eq!(
            ActorError::NotReady { state: EngineState::Syncing }.severity(),
            Severity::Retry
        );
    }
}
