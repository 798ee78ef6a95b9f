//! Why the devnet could not start.

use engine_types::Severity;

/// A failure to start or serve the devnet execution layer.
///
/// Requests that fail once the devnet runs are answered as JSON-RPC errors
/// ([`RpcError`](crate::rpc_server::RpcError)), not with this type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// The genesis cannot be run by the devnet (fork configuration, gas limit, base fee).
    #[error("unusable genesis: {reason}")]
    Genesis {
        /// What is wrong with it.
        reason: String,
    },
    /// A bound ([`Retention`](super::Retention), [`PoolLimits`](super::PoolLimits)) the
    /// devnet cannot run with.
    #[error("unusable devnet limits: {reason}")]
    Limits {
        /// What is wrong with them.
        reason: String,
    },
    /// The HTTP server could not start (a port could not be bound).
    #[error(transparent)]
    Server(#[from] crate::TestkitError),
}

impl DevnetError {
    /// What a caller should do about it: a bad genesis needs an operator; a server error
    /// is classified by the testkit.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::Genesis { .. } | Self::Limits { .. } => Severity::Fatal,
            Self::Server(e) => e.severity(),
        }
    }
}
