//! Why the engine cannot follow the execution client's chain by itself.

use crate::heads::BlockRef;
use engine_types::{Severity, primitives::B256};

/// What reconciling with the execution client's head (at start, after a reconnect, behind a
/// lost answer) found that only an operator can decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileRefusal {
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

impl ReconcileRefusal {
    /// Both need an operator.
    pub const fn severity(&self) -> Severity {
        Severity::Fatal
    }

    /// A short label for metrics.
    pub const fn class(&self) -> &'static str {
        match self {
            Self::Unreconcilable { .. } => "unreconcilable",
            Self::InvalidBelowFinalized { .. } => "invalid_below_finalized",
        }
    }
}
