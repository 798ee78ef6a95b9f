//! Why a transaction is not a peg-out the Bridge may pay (yet).

use crate::heads::BlockRef;
use engine_types::{Severity, primitives::B256};

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

    /// A short label for metrics.
    pub const fn class(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "peg_out_not_found",
            Self::NotCanonical { .. } => "peg_out_not_canonical",
            Self::Reverted { .. } => "peg_out_reverted",
            Self::NoPegOut { .. } => "peg_out_none",
        }
    }
}
