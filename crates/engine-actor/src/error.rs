//! The engine actor's error: what a caller gets back instead of a reply value.
//!
//! One enum per operation for what only that operation refuses ([`BuildRefusal`],
//! [`CommitRefusal`], [`ForkchoiceRefusal`], [`ReconcileRefusal`], [`PegOutRefusal`]), each
//! with its severity, gathered into [`ActorError`] with `#[from]` beside the failures every
//! operation shares (the execution client's errors and verdicts, the state file, the
//! engine's own bounds and tasks). Callers match on [`ActorError::severity`].

mod build;
mod commit;
mod forkchoice;
mod peg_out;
mod reconcile;

pub use build::BuildRefusal;
pub use commit::CommitRefusal;
pub use forkchoice::ForkchoiceRefusal;
pub use peg_out::PegOutRefusal;
pub use reconcile::ReconcileRefusal;

use engine_client::error::ClientError;
use engine_types::{EngineError, PayloadStatus, Severity, pegin::PackError, primitives::B256};
use std::path::PathBuf;

/// Why a request to the engine actor did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
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
    /// A payload fails the engine's own checks (the EL's build, or a block to import).
    #[error("payload {block} fails validation: {reason}")]
    InvalidPayload {
        /// Its block hash.
        block: B256,
        /// Every violation, joined.
        reason: String,
    },
    /// The execution client does not know this block.
    #[error("the execution client does not know block {block}")]
    UnknownBlock {
        /// The block asked for, as given.
        block: String,
    },
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
    /// A build, or a payload named by a build's id, was refused.
    #[error(transparent)]
    Build(#[from] BuildRefusal),
    /// A commit failed the engine's own checks.
    #[error(transparent)]
    Commit(#[from] CommitRefusal),
    /// A requested head or finalized block was refused.
    #[error(transparent)]
    Forkchoice(#[from] ForkchoiceRefusal),
    /// The execution client's chain needs an operator's decision.
    #[error(transparent)]
    Reconcile(#[from] ReconcileRefusal),
    /// A transaction asked about is not a peg-out the Bridge may pay (yet).
    #[error(transparent)]
    PegOut(#[from] PegOutRefusal),
}

impl From<PackError> for ActorError {
    fn from(error: PackError) -> Self {
        Self::Build(BuildRefusal::Pack(error))
    }
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
            Self::Syncing { .. } | Self::Busy { .. } => Severity::Retry,
            Self::Engine(e) => e.severity(),
            Self::Client(e) => e.severity(),
            Self::Build(e) => e.severity(),
            Self::Commit(e) => e.severity(),
            Self::Forkchoice(e) => e.severity(),
            Self::Reconcile(e) => e.severity(),
            Self::PegOut(e) => e.severity(),
            Self::Rejected { .. } | Self::InvalidPayload { .. } | Self::UnknownBlock { .. } => {
                Severity::Reset
            }
            Self::StateFile { .. } => Severity::Fatal,
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
            Self::Engine(e) => e.class(),
            Self::Client(_) => "client".into(),
            Self::Rejected { status, .. } => {
                format!("rejected_{}", status_name(status).to_lowercase())
            }
            Self::Syncing { .. } => "syncing".into(),
            Self::InvalidPayload { .. } => "invalid_payload".into(),
            Self::UnknownBlock { .. } => "unknown_block".into(),
            Self::StateFile { .. } => "state_file".into(),
            Self::Busy { .. } => "busy".into(),
            Self::WorkerStopped { .. } => "worker_stopped".into(),
            Self::PoolTaskPanicked { .. } => "pool_task_panicked".into(),
            Self::ChainGone => "chain_gone".into(),
            Self::Build(e) => e.class().into(),
            Self::Commit(e) => e.class().into(),
            Self::Forkchoice(e) => e.class().into(),
            Self::Reconcile(e) => e.class().into(),
            Self::PegOut(e) => e.class().into(),
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
        let not_ready = BuildRefusal::NotReady { state: crate::status::EngineState::Syncing };
        assert_eq!(ActorError::from(not_ready).severity(), Severity::Retry);
    }
}
