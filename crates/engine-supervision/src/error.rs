//! The crate's error type and how severe each error is.

use std::time::Duration;

use ractor::SpawnErr;

/// How the caller's policy should treat an error: the workspace-wide severity from
/// `engine-types`, re-exported so callers need not name that crate.
pub use engine_types::Severity;

/// Everything that can go wrong in supervision.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisionError {
    /// A supervisor restarted its children more often than its intensity limit allows and
    /// failed itself so that its parent decides.
    #[error(
        "supervisor {supervisor} exceeded its restart intensity ({max_restarts} restarts within {within:?}); escalating. Its last failure: {last_failure}"
    )]
    IntensityExceeded {
        /// The supervisor that gave up.
        supervisor: String,
        /// The configured limit.
        max_restarts: u32,
        /// The configured window.
        within: Duration,
        /// The exit that tipped it over: the child and its reason.
        last_failure: String,
    },
    /// A child (or nested supervisor) could not be spawned.
    #[error("child {child} failed to start")]
    Spawn {
        /// The child's name.
        child: String,
        /// What ractor reported.
        #[source]
        source: SpawnErr,
    },
    /// Two children of one supervisor share a name.
    #[error("supervisor {supervisor} declares child {child} twice")]
    DuplicateChild {
        /// The supervisor.
        supervisor: String,
        /// The repeated name.
        child: String,
    },
    /// A supervisor did not answer a request (stopped, or busy past the timeout).
    #[error("supervisor {supervisor} did not answer: {reason}")]
    Unreachable {
        /// The supervisor asked.
        supervisor: String,
        /// Why the call failed.
        reason: String,
    },
}

impl SupervisionError {
    /// How the caller should react. Matched exhaustively so a new variant forces a decision.
    pub const fn severity(&self) -> Severity {
        match self {
            // The subtree is crash-looping: the parent restarts it (or escalates in turn).
            Self::IntensityExceeded { .. } => Severity::Reset,
            // A child's pre_start failure is usually transient (a peer not up yet).
            Self::Spawn { .. } => Severity::Retry,
            // A broken tree declaration does not fix itself.
            Self::DuplicateChild { .. } => Severity::Fatal,
            Self::Unreachable { .. } => Severity::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages are lowercase and each variant has a deliberate severity.
    #[test]
    fn messages_and_severity() {
        let e = SupervisionError::IntensityExceeded {
            supervisor: "sup".into(),
            max_restarts: 3,
            within: Duration::from_secs(5),
            last_failure: "Worker failed: boom".into(),
        };
        assert_eq!(
            e.to_string(),
            "supervisor sup exceeded its restart intensity (3 restarts within 5s); escalating. \
             Its last failure: Worker failed: boom"
        );
        assert_eq!(e.severity(), Severity::Reset);
        let dup = SupervisionError::DuplicateChild { supervisor: "s".into(), child: "c".into() };
        assert_eq!(dup.severity(), Severity::Fatal);
    }
}
