//! Supervision policies as plain data: what a supervisor does when a child exits.
//!
//! Everything here is `serde` so that a node's config file can tune it; durations are written
//! in humantime form (`"250ms"`, `"5s"`). Every field has a documented default.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{backoff::BackoffPolicy, intensity::IntensityLimit};

/// Which children are restarted when one of them exits and must be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Only the child that exited (children are independent). The default.
    #[default]
    OneForOne,
    /// Every child: the others are stopped in reverse start order, then all are started again
    /// in start order (children depend on each other).
    OneForAll,
    /// The child that exited and every child started after it (later children depend on
    /// earlier ones).
    RestForOne,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OneForOne => "one-for-one",
            Self::OneForAll => "one-for-all",
            Self::RestForOne => "rest-for-one",
        })
    }
}

/// Whether a child is restarted after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartKind {
    /// Always restarted, whatever the reason it exited. The default.
    #[default]
    Permanent,
    /// Restarted only when it failed (panic, error, or killed); a clean stop is final.
    Transient,
    /// Never restarted.
    Temporary,
}

impl RestartKind {
    /// Whether a child of this kind is restarted after exiting; `failed` says whether the exit
    /// was abnormal.
    pub const fn restarts(self, failed: bool) -> bool {
        match self {
            Self::Permanent => true,
            Self::Transient => failed,
            Self::Temporary => false,
        }
    }
}

impl fmt::Display for RestartKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Permanent => "permanent",
            Self::Transient => "transient",
            Self::Temporary => "temporary",
        })
    }
}

/// Start and restart precedence among siblings: lower sorts first.
///
/// Children are started in `(priority, declaration order)`; when several restarts are due at
/// the same time, the higher priority child is started first. Shutdown is the reverse order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    /// Consensus-critical (chain, engine): started first, restarted first, stopped last.
    Consensus,
    /// Ahead of normal children.
    High,
    /// The default.
    #[default]
    Normal,
    /// Started last, stopped first.
    Low,
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Consensus => "consensus",
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        })
    }
}

/// How one child is treated by its supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChildPolicy {
    /// Whether it is restarted after exiting. Default [`RestartKind::Permanent`].
    pub restart: RestartKind,
    /// Start/restart precedence among its siblings. Default [`Priority::Normal`].
    pub priority: Priority,
    /// How long a graceful stop may take before the child is killed. Default 5 s; for a
    /// nested supervisor, make it cover the sum of its own children's timeouts.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for ChildPolicy {
    fn default() -> Self {
        Self {
            restart: RestartKind::Permanent,
            priority: Priority::Normal,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

impl ChildPolicy {
    /// This policy with `restart` replaced.
    #[must_use]
    pub const fn with_restart(mut self, restart: RestartKind) -> Self {
        self.restart = restart;
        self
    }

    /// This policy with `priority` replaced.
    #[must_use]
    pub const fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// This policy with `shutdown_timeout` replaced.
    #[must_use]
    pub const fn with_shutdown_timeout(mut self, shutdown_timeout: Duration) -> Self {
        self.shutdown_timeout = shutdown_timeout;
        self
    }
}

/// How a supervisor treats its children as a group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisorPolicy {
    /// Which children restart together. Default [`Strategy::OneForOne`].
    pub strategy: Strategy,
    /// Restarts allowed in a window before escalating. Default 5 within 60 s.
    pub intensity: IntensityLimit,
    /// Delay before each restart. Default 100 ms doubling up to 30 s, ±10 % jitter.
    pub backoff: BackoffPolicy,
}

impl SupervisorPolicy {
    /// The default policy with `strategy`.
    pub fn with_strategy(strategy: Strategy) -> Self {
        Self { strategy, ..Self::default() }
    }

    /// What makes this policy unfit for a configuration file, each problem prefixed with
    /// `at` (e.g. `supervision.`) and its field; empty when it is usable. Stricter than the
    /// types: a limit of 0 restarts (the first failure escalates) or an empty window (no
    /// restart ever counts) is refused.
    pub fn problems(&self, at: &str) -> Vec<String> {
        let IntensityLimit { max_restarts, within } = self.intensity;
        let b = &self.backoff;
        [
            (max_restarts == 0).then(|| {
                format!("{at}intensity.max_restarts: must be at least 1 (0 stops the tree at the first failure)")
            }),
            within.is_zero().then(|| format!("{at}intensity.within: must be longer than 0")),
            (b.initial > b.max).then(|| {
                format!("{at}backoff.initial: {:?} is longer than backoff.max {:?}", b.initial, b.max)
            }),
            (!(b.factor.is_finite() && b.factor >= 1.0))
                .then(|| format!("{at}backoff.factor: {} must be a number of at least 1", b.factor)),
            (!(0.0..=1.0).contains(&b.jitter))
                .then(|| format!("{at}backoff.jitter: {} must be between 0 and 1", b.jitter)),
            b.reset_after.is_zero().then(|| format!("{at}backoff.reset_after: must be longer than 0")),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Policies round-trip through JSON with kebab-case enums and humantime durations.
    #[test]
    fn serde_shape() {
        let policy = SupervisorPolicy::with_strategy(Strategy::RestForOne);
        let json = serde_json::to_value(&policy).unwrap();
        insta::assert_json_snapshot!("supervisor_policy_json", json);
        let back: SupervisorPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(back, policy);
        let child: ChildPolicy =
            serde_json::from_str(r#"{"restart":"transient","shutdown_timeout":"250ms"}"#).unwrap();
        assert_eq!(child.restart, RestartKind::Transient);
        assert_eq!(child.priority, Priority::Normal);
        assert_eq!(child.shutdown_timeout, Duration::from_millis(250));
    }

    /// The defaults pass; each out-of-range field is named with the given prefix.
    #[test]
    fn problems_name_each_field() {
        assert!(SupervisorPolicy::default().problems("s.").is_empty());
        let mut bad = SupervisorPolicy {
            intensity: IntensityLimit { max_restarts: 0, within: Duration::ZERO },
            ..SupervisorPolicy::default()
        };
        bad.backoff.initial = Duration::from_secs(60);
        bad.backoff.factor = f64::NAN;
        bad.backoff.jitter = 2.0;
        bad.backoff.reset_after = Duration::ZERO;
        let problems = bad.problems("s.");
        for field in [
            "s.intensity.max_restarts",
            "s.intensity.within",
            "s.backoff.initial",
            "s.backoff.factor",
            "s.backoff.jitter",
            "s.backoff.reset_after",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(field)), "{field}: {problems:?}");
        }
        assert_eq!(problems.len(), 6, "{problems:?}");
    }

    /// Consensus sorts before every other priority.
    #[test]
    fn consensus_sorts_first() {
        let mut all = [Priority::Low, Priority::Normal, Priority::Consensus, Priority::High];
        all.sort();
        assert_eq!(all, [Priority::Consensus, Priority::High, Priority::Normal, Priority::Low]);
    }

    /// Permanent always restarts, transient only after a failure, temporary never.
    #[test]
    fn restart_kinds() {
        use RestartKind::*;
        assert!(Permanent.restarts(false) && Permanent.restarts(true));
        assert!(!Transient.restarts(false) && Transient.restarts(true));
        assert!(!Temporary.restarts(false) && !Temporary.restarts(true));
    }
}
