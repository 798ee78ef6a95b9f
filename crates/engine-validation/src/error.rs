//! The crate's error: everything a check can refuse, classified for the caller's policy.

use crate::{admission::TxRejection, payload::PayloadInvalid, pegout::ReceiptLayoutError};
use engine_types::Severity;

/// Any refusal of this crate, for callers that handle them in one place.
///
/// Each check returns its own precise type ([`PayloadInvalid`], [`TxRejection`],
/// [`ReceiptLayoutError`]); this enum gathers them with a [`severity`](Self::severity).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A payload broke one or more rules.
    #[error(transparent)]
    Payload(#[from] PayloadInvalid),
    /// A transaction was refused admission.
    #[error(transparent)]
    Transaction(#[from] TxRejection),
    /// Receipts were handed over with overlapping or decreasing log indices.
    #[error(transparent)]
    Receipts(#[from] ReceiptLayoutError),
}

impl ValidationError {
    /// What the caller should do.
    ///
    /// - An invalid payload cannot become valid by asking again: build a new one (or refuse
    ///   the imported block) and consider switching execution client — `Reset`.
    /// - A refused transaction will be refused again byte for byte; nothing engine-wide is
    ///   wrong, the sender must change it — `Fatal` for that transaction.
    /// - Receipts with a broken log layout come from a faulty fetch: fetch them again —
    ///   `Reset`.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::Payload(_) | Self::Receipts(_) => Severity::Reset,
            Self::Transaction(_) => Severity::Fatal,
        }
    }
}
