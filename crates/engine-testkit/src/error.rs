//! The one error type of the testkit.
//!
//! Test doubles fail for a few reasons only: a socket or file could not be used, a fixture was
//! given bad input, or a condition a test waited for never came. Each is classified by
//! [`Severity`] like every other error of the engine.

use engine_types::Severity;
use std::time::Duration;

/// Everything that can go wrong while setting up or driving a test double.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// A socket, file or directory operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (e.g. "bind the engine port 127.0.0.1:0").
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A JWT secret was not 32 bytes of hex.
    #[error("invalid JWT secret: {0}")]
    JwtSecret(String),
    /// A token could not be minted.
    #[error("cannot mint a JWT: {0}")]
    JwtMint(String),
    /// A transaction could not be signed.
    #[error("cannot sign the transaction: {0}")]
    Signing(String),
    /// A fixture was asked for something inconsistent (e.g. a fork schedule out of order).
    #[error("invalid fixture: {0}")]
    Fixture(String),
    /// A condition a test waited for did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// The test double is not in a state that allows the operation (e.g. `come_back` while
    /// it is up).
    #[error("invalid state: {0}")]
    State(String),
}

impl From<engine_types::jwt::JwtSecretError> for TestkitError {
    fn from(e: engine_types::jwt::JwtSecretError) -> Self {
        Self::JwtSecret(e.to_string())
    }
}

impl From<engine_types::jwt::JwtMintError> for TestkitError {
    fn from(e: engine_types::jwt::JwtMintError) -> Self {
        Self::JwtMint(e.0)
    }
}

impl TestkitError {
    /// What a caller should do about this error.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::Io { .. } | Self::Timeout { .. } => Severity::Retry,
            Self::State(_) => Severity::Reset,
            Self::JwtSecret(_) | Self::JwtMint(_) | Self::Signing(_) | Self::Fixture(_) => {
                Severity::Fatal
            }
        }
    }

    /// Shorthand for an [`Io`](Self::Io) error.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { what: what.into(), source }
    }
}

impl From<engine_devnet::DevnetError> for TestkitError {
    fn from(e: engine_devnet::DevnetError) -> Self {
        use engine_devnet::DevnetError as D;
        match e {
            D::Io { what, source } => Self::Io { what, source },
            D::State { reason } => Self::State(reason),
            D::Key { reason } => Self::Signing(reason),
            other => Self::Fixture(other.to_string()),
        }
    }
}
