//! Why a requested head or finalized block was refused.

use crate::heads::BlockRef;
use engine_types::Severity;

/// Why [`ForkchoiceUpdate`](crate::ChainRequest::ForkchoiceUpdate) or
/// [`SetFinalized`](crate::ChainRequest::SetFinalized) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForkchoiceRefusal {
    /// The requested finalized block is older than the current one.
    #[error("finalized would go back from block {current} to block {requested}")]
    FinalizedRegression {
        /// The current finalized number.
        current: u64,
        /// The requested one.
        requested: u64,
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
}

impl ForkchoiceRefusal {
    /// Finality going back is a fault of the caller's (fatal); a head the EL keeps or a
    /// block off the chain needs the caller to re-read the head (reset).
    pub const fn severity(&self) -> Severity {
        match self {
            Self::FinalizedRegression { .. } => Severity::Fatal,
            Self::WouldRewind { .. } | Self::NotOnChain { .. } => Severity::Reset,
        }
    }

    /// A short label for metrics.
    pub const fn class(&self) -> &'static str {
        match self {
            Self::FinalizedRegression { .. } => "finalized_regression",
            Self::WouldRewind { .. } => "would_rewind",
            Self::NotOnChain { .. } => "not_on_chain",
        }
    }
}
