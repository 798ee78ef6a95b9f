//! Exponential backoff with jitter between restarts of a child.
//!
//! The delay before restart number `attempt` (0-based) is
//! `min(initial * factor^attempt, max)`, then spread by `±jitter` and capped at `max` again, so
//! a crash-looping child is retried quickly at first and then at most every `max`. The pure
//! [`BackoffPolicy::delay`] takes the random sample as an argument so that it can be tested
//! without randomness; [`BackoffPolicy::delay_random`] draws it.
//!
//! Kept hand-written instead of `backon` (measured 2026-12, backon 1.6): its jitter only
//! lengthens a delay and can exceed `max`, where ours spreads ±`jitter` and never exceeds
//! `max` (a property test checks it); its delay is a stateful iterator, not a pure function
//! of the attempt number, so every child slot would keep one and rebuild it on
//! `reset_after`; and its factor is `f32`. No lines saved, 2 crates added.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long to wait before restarting a child, growing with consecutive failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffPolicy {
    /// Delay before the first restart. Default 100 ms.
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    /// Growth factor per consecutive failure; values below 1 (or NaN) are treated as 1.
    /// Default 2.
    pub factor: f64,
    /// Upper bound of any delay, jitter included. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// Relative spread in `0.0..=1.0`: the delay is scaled by a random factor in
    /// `[1 - jitter, 1 + jitter]` so that siblings failing together do not retry in lockstep.
    /// Out-of-range values are clamped. Default 0.1.
    pub jitter: f64,
    /// A child that ran at least this long before failing starts its backoff over from
    /// `initial`. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_secs(30),
            jitter: 0.1,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl BackoffPolicy {
    /// A policy that restarts at once, every time (no delay, no jitter).
    pub const fn immediate() -> Self {
        Self {
            initial: Duration::ZERO,
            factor: 1.0,
            max: Duration::ZERO,
            jitter: 0.0,
            reset_after: Duration::from_secs(60),
        }
    }

    /// The delay before restart number `attempt` (0 = first restart), given a uniform
    /// `sample` in `[0, 1)` for the jitter (0.5 means "no jitter"). Never exceeds `max`.
    pub fn delay(&self, attempt: u32, sample: f64) -> Duration {
        let factor = if self.factor.is_nan() { 1.0 } else { self.factor.max(1.0) };
        let max = self.max.as_secs_f64();
        // powi saturates to +inf for large attempts, which min() then caps.
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let base = (self.initial.as_secs_f64() * factor.powi(exponent)).min(max);
        let jitter = if self.jitter.is_nan() { 0.0 } else { self.jitter.clamp(0.0, 1.0) };
        let sample = if sample.is_nan() { 0.5 } else { sample.clamp(0.0, 1.0) };
        let spread = 1.0 + jitter * (2.0 * sample - 1.0);
        let secs = (base * spread).clamp(0.0, max);
        Duration::try_from_secs_f64(secs).unwrap_or(self.max)
    }

    /// [`Self::delay`] with the jitter sample drawn from the thread-local generator.
    pub fn delay_random(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn no_jitter() -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_secs(1),
            jitter: 0.0,
            reset_after: Duration::from_secs(60),
        }
    }

    /// Delays double per attempt and stop growing at `max`.
    #[test]
    fn delays_grow_and_are_capped() {
        let policy = no_jitter();
        let delays: Vec<_> = (0..7).map(|a| policy.delay(a, 0.5).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000, 1000]);
    }

    /// Jitter spreads the delay by at most ±jitter and never beyond `max`.
    #[test]
    fn jitter_bounds() {
        let policy = BackoffPolicy { jitter: 0.5, ..no_jitter() };
        assert_eq!(policy.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(policy.delay(0, 1.0), Duration::from_millis(150));
        assert_eq!(policy.delay(10, 1.0), Duration::from_secs(1));
    }

    /// Nonsense parameters degrade to a constant delay instead of panicking.
    #[test]
    fn degenerate_parameters() {
        let policy = BackoffPolicy { factor: f64::NAN, jitter: 7.0, ..no_jitter() };
        assert_eq!(policy.delay(u32::MAX, 0.5), Duration::from_millis(100));
        assert_eq!(BackoffPolicy::immediate().delay(5, 0.9), Duration::ZERO);
    }

    /// Durations are written in humantime form and missing fields take their defaults.
    #[test]
    fn serde_humantime_and_defaults() {
        let json = serde_json::to_value(BackoffPolicy::default()).unwrap();
        assert_eq!(json["initial"], "100ms");
        assert_eq!(json["max"], "30s");
        let parsed: BackoffPolicy = serde_json::from_str(r#"{"max":"5s"}"#).unwrap();
        assert_eq!(parsed, BackoffPolicy { max: Duration::from_secs(5), ..Default::default() });
    }

    proptest! {
        /// For any parameters, delays are monotone in the attempt (same sample) and ≤ max.
        #[test]
        fn monotone_and_capped(
            initial_ms in 0u64..10_000,
            max_ms in 0u64..100_000,
            factor in 0.0f64..10.0,
            jitter in 0.0f64..1.0,
            sample in 0.0f64..1.0,
            attempt in 0u32..200,
        ) {
            let policy = BackoffPolicy {
                initial: Duration::from_millis(initial_ms),
                factor,
                max: Duration::from_millis(max_ms),
                jitter,
                reset_after: Duration::ZERO,
            };
            let now = policy.delay(attempt, sample);
            let next = policy.delay(attempt + 1, sample);
            prop_assert!(now <= policy.max);
            prop_assert!(next >= now);
        }
    }
}
