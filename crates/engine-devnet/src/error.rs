//! Why the devnet, its server or one of its fixtures (genesis, keys) failed.

use engine_types::Severity;

/// A failure to build, start or serve the devnet execution layer.
///
/// Requests that fail once the devnet runs are answered as JSON-RPC errors
/// ([`RpcError`](crate::rpc_server::RpcError)), not with this type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// The genesis cannot be run by the devnet or written as asked (fork configuration, gas
    /// limit, base fee, a schedule out of order).
    #[error("unusable genesis: {reason}")]
    Genesis {
        /// What is wrong with it.
        reason: String,
    },
    /// A bound ([`Retention`](crate::Retention), [`PoolLimits`](crate::PoolLimits)) the
    /// devnet cannot run with.
    #[error("unusable devnet limits: {reason}")]
    Limits {
        /// What is wrong with them.
        reason: String,
    },
    /// A development key that does not exist, or a transaction it could not sign.
    #[error("development key: {reason}")]
    Key {
        /// What went wrong.
        reason: String,
    },
    /// A socket or file operation failed (a port could not be bound, a file written).
    #[error("{what}: {source}")]
    Io {
        /// What was being done (e.g. "bind the engine port 127.0.0.1:0").
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The devnet's journal (its disk) cannot be opened, read or written, or holds a block
    /// that does not re-execute.
    #[error("devnet journal {}: {reason}", path.display())]
    Journal {
        /// The journal's file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The server is not in a state that allows the operation (`come_back` while up).
    #[error("invalid state: {reason}")]
    State {
        /// What was asked of it.
        reason: String,
    },
}

impl DevnetError {
    /// What a caller should do about it: a bad genesis, limit, key or journal needs an
    /// operator; a socket may free up; a state error needs the caller to start over.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::Genesis { .. }
            | Self::Limits { .. }
            | Self::Key { .. }
            | Self::Journal { .. } => Severity::Fatal,
            Self::Io { .. } => Severity::Retry,
            Self::State { .. } => Severity::Reset,
        }
    }

    /// Shorthand for a [`Genesis`](Self::Genesis) error.
    pub fn genesis(reason: impl Into<String>) -> Self {
        Self::Genesis { reason: reason.into() }
    }

    /// Shorthand for a [`Key`](Self::Key) error.
    pub fn key(reason: impl Into<String>) -> Self {
        Self::Key { reason: reason.into() }
    }

    /// Shorthand for an [`Io`](Self::Io) error.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { what: what.into(), source }
    }
}
