//! Why a build (or a payload asked for by its id) was refused.

use crate::{heads::BlockRef, status::EngineState};
use engine_types::{Severity, engine::PayloadId, pegin::PackError};

/// Why [`BuildPayload`](crate::ChainRequest::BuildPayload), or a payload named by the id a
/// build gave ([`GetPayload`](crate::ChainRequest::GetPayload),
/// [`CommitBuilt`](crate::ChainRequest::CommitBuilt)), was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildRefusal {
    /// The engine cannot build now (initializing, syncing or in error).
    #[error("the engine is {state}, not ready to build")]
    NotReady {
        /// The state it is in.
        state: EngineState,
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
    /// No cached payload has this id (never built, evicted, expired, or built before a
    /// restart).
    #[error("no cached payload with id {id}")]
    UnknownPayload {
        /// The id asked for.
        id: PayloadId,
    },
    /// Peg-ins could not be turned into withdrawals.
    #[error(transparent)]
    Pack(#[from] PackError),
}

impl BuildRefusal {
    /// Not ready and a moved head pass (retry); an unknown id needs a new build (reset); a
    /// peg-in that cannot be packed is a fault in the queue (fatal).
    pub const fn severity(&self) -> Severity {
        match self {
            Self::NotReady { .. } | Self::HeadMoved { .. } => Severity::Retry,
            Self::UnknownPayload { .. } => Severity::Reset,
            Self::Pack(_) => Severity::Fatal,
        }
    }

    /// A short label for metrics.
    pub const fn class(&self) -> &'static str {
        match self {
            Self::NotReady { .. } => "not_ready",
            Self::HeadMoved { .. } => "head_moved",
            Self::UnknownPayload { .. } => "unknown_payload",
            Self::Pack(_) => "pack",
        }
    }
}
