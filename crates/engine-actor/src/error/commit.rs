//! Why a commit was refused before anything reached the execution client.

use crate::heads::BlockRef;
use engine_types::{Severity, primitives::B256};

/// Why [`CommitBuilt`](crate::ChainRequest::CommitBuilt) or
/// [`CommitPayload`](crate::ChainRequest::CommitPayload) was refused for what only a commit
/// checks: the ledger of minted peg-ins. A payload failing validation is
/// [`ActorError::InvalidPayload`](crate::ActorError::InvalidPayload) (a build checks the
/// same), the execution client's verdict [`ActorError::Rejected`](crate::ActorError::Rejected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitRefusal {
    /// A block would mint a peg-in a second time: the canonical chain minted it already
    /// (or the block lists it twice).
    #[error("peg-in {bitcoin_txid} was already minted{}", minted_in(block.as_ref()))]
    AlreadyMinted {
        /// The bitcoin transaction of the peg-in.
        bitcoin_txid: B256,
        /// The canonical block that minted it (`None`: listed twice in the same block).
        block: Option<BlockRef>,
    },
}

impl CommitRefusal {
    /// The block is wrong for this chain: drop it and re-read the head (reset).
    pub const fn severity(&self) -> Severity {
        Severity::Reset
    }

    /// A short label for metrics.
    pub const fn class(&self) -> &'static str {
        match self {
            Self::AlreadyMinted { .. } => "already_minted",
        }
    }
}

fn minted_in(block: Option<&BlockRef>) -> String {
    block.map_or_else(
        || " (it appears twice in the block)".to_string(),
        |b| format!(" in block {} ({})", b.number, b.hash),
    )
}
