//! The crate's error: what can go wrong setting a client up, and what the pool reports on
//! top of the per-call [`EngineError`].

use engine_types::{EngineError, PayloadStatus, Severity, primitives::B256};
use std::path::PathBuf;

/// Everything this crate can fail with. Per-call failures are [`EngineError`]s (wrapped
/// transparently); the other variants are startup problems or pool verdicts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A call to an execution client failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The JWT secret cannot be used. The message names the file (when there is one) and the
    /// problem, never the secret.
    #[error("JWT secret{}: {problem}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    JwtSecret {
        /// The file the secret was read from, if any.
        path: Option<PathBuf>,
        /// What is wrong with it.
        problem: String,
    },
    /// A setting cannot be used (e.g. a URL that does not parse).
    #[error("invalid client configuration: {field}: {problem}")]
    Config {
        /// The setting, e.g. `engine_url`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The extra root certificates for https execution clients cannot be used. The message
    /// names the file and the problem.
    #[error("TLS CA bundle {}: {problem}", path.display())]
    TlsCaBundle {
        /// The PEM file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The HTTP stack could not be set up (TLS roots, …).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    /// No endpoint would build on this head: every one answered the forkchoice update with
    /// something other than VALID. The status is the preferred endpoint's.
    #[error("{endpoint} will not build on this head: it is {status:?}")]
    HeadNotValid {
        /// The endpoint whose answer is reported.
        endpoint: String,
        /// Its verdict on the head (INVALID or SYNCING).
        status: PayloadStatus,
    },
    /// The endpoint answered the build's forkchoice update VALID but started no build: the
    /// spec lets an EL skip a head that is a VALID ancestor of its own canonical head (Geth
    /// always does, Reth by default). The EL is ahead of the engine; another endpoint cannot
    /// fix that, the caller must reconcile its head with the EL first.
    #[error(
        "{endpoint} skipped the build on {head}: the head is an ancestor of its own canonical head, so the execution client is ahead of the engine"
    )]
    BuildSkipped {
        /// The endpoint that skipped the build.
        endpoint: String,
        /// The head the build was asked for.
        head: B256,
    },
    /// A call queued in an endpoint's lane did not finish: its task panicked (a bug in the
    /// engine, not a fault of the EL), or the lane is gone (the runtime is shutting down).
    /// Whether the call reached the EL is unknown; the endpoint is marked lagging and its
    /// [`panics`](crate::health::EndpointStatus::panics) counter tells the pool's owner.
    #[error("{endpoint}: a call in its lane did not finish: {reason}")]
    LaneFailed {
        /// The endpoint whose lane ran the call.
        endpoint: String,
        /// What happened to the call.
        reason: String,
    },
}

impl From<engine_types::jwt::JwtSecretError> for ClientError {
    fn from(e: engine_types::jwt::JwtSecretError) -> Self {
        Self::JwtSecret { path: e.path, problem: e.problem.to_string() }
    }
}

impl ClientError {
    /// What a caller should do about this error.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::Engine(e) => e.severity(),
            Self::JwtSecret { .. }
            | Self::Config { .. }
            | Self::TlsCaBundle { .. }
            | Self::HttpClient(_) => Severity::Fatal,
            // A syncing EL may catch up; an invalid head means the caller's forkchoice state
            // must change first.
            Self::HeadNotValid { status, .. } if status.is_invalid() => Severity::Reset,
            Self::HeadNotValid { .. } => Severity::Retry,
            // Asking again gets the same skip: the head must be reconciled with the EL's.
            Self::BuildSkipped { .. } => Severity::Reset,
            // The call may or may not have reached the EL: re-establish the forkchoice state
            // rather than repeat it blindly. No operator is needed: the lane keeps running.
            Self::LaneFailed { .. } => Severity::Reset,
        }
    }

    pub(crate) fn config(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Config { field: field.into(), problem: problem.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Startup problems are fatal, a syncing head is worth retrying, an invalid head is not.
    #[test]
    fn severities() {
        let secret =
            ClientError::JwtSecret { path: Some("/x/jwt.hex".into()), problem: "p".into() };
        assert_eq!(secret.severity(), Severity::Fatal);
        assert_eq!(secret.to_string(), "JWT secret in /x/jwt.hex: p");
        let syncing =
            ClientError::HeadNotValid { endpoint: "a".into(), status: PayloadStatus::Syncing };
        assert_eq!(syncing.severity(), Severity::Retry);
        let invalid = ClientError::HeadNotValid {
            endpoint: "a".into(),
            status: PayloadStatus::Invalid { latest_valid_hash: None, validation_error: None },
        };
        assert_eq!(invalid.severity(), Severity::Reset);
        let bundle = ClientError::TlsCaBundle { path: "/etc/ca.pem".into(), problem: "p".into() };
        assert_eq!(bundle.severity(), Severity::Fatal);
        assert_eq!(bundle.to_string(), "TLS CA bundle /etc/ca.pem: p");
        let engine = ClientError::from(EngineError::bad_response("m", "r"));
        assert_eq!(engine.severity(), Severity::Reset);
    }

    /// A skipped build is not retried as sent: the caller reconciles its head first. The
    /// message names the endpoint and the head, and says the EL is ahead.
    #[test]
    fn build_skipped_is_a_reset() {
        let head = B256::repeat_byte(0xab);
        let skipped = ClientError::BuildSkipped { endpoint: "geth:8551".into(), head };
        assert_eq!(skipped.severity(), Severity::Reset);
        let text = skipped.to_string();
        assert!(text.starts_with("geth:8551 skipped the build on 0xabab"), "{text}");
        assert!(text.contains(&head.to_string()), "{text}");
        assert!(text.ends_with("the execution client is ahead of the engine"), "{text}");
    }
}
