//! The circuit breaker of one endpoint: closed → open after K consecutive failures →
//! half-open probes after a cool-down → closed after M successes (or open again on a failure).
//!
//! Pure: every transition takes the current instant, so the state machine is tested without
//! clocks or sleeps.
//!
//! A cool-down so long that its end cannot be represented as an [`Instant`] (e.g.
//! `Duration::MAX`) never ends: the breaker stays open for the life of the process, which is
//! what such a setting asks for. It does not panic and does not wrap around to "ended".
//!
//! Kept hand-written (measured 2026-12) instead of `failsafe` 1.3 (last release 2024-07) or
//! `tower-resilience-circuitbreaker` 0.14 (four releases in six weeks): neither has this
//! half-open (every request let through, closed after M successes: failsafe closes on one,
//! tower-resilience ties the successes needed to the concurrent probes allowed). failsafe
//! cannot report its state, refuses at the exact end of the cool-down, and panics on a
//! `Duration::MAX` one; tower-resilience keeps its state machine private, reads the clock
//! itself and only wraps a tower `Service`. The health module decides what counts as a
//! failure and publishes the state under its own lock: replacing 84 lines of code would take
//! 60 to 80 lines of glue and 4 to 5 crates.

use engine_types::config::HealthConfig;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Where the breaker stands, as published in an endpoint's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests flow; failures are being counted.
    Closed,
    /// Requests are refused until the cool-down ends.
    Open,
    /// The cool-down ended: requests are let through as probes.
    HalfOpen,
}

impl BreakerState {
    /// 0 closed, 1 half-open, 2 open: the value of the breaker gauge.
    pub const fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed {
        failures: u32,
    },
    /// `until` is `None` when the cool-down ends later than any representable instant.
    Open {
        until: Option<Instant>,
    },
    HalfOpen {
        successes: u32,
    },
}

/// A circuit breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    success_threshold: u32,
    cooldown: Duration,
    inner: Inner,
}

impl CircuitBreaker {
    /// A closed breaker with the thresholds and cool-down of `config`.
    pub fn new(config: &HealthConfig) -> Self {
        Self {
            failure_threshold: config.failure_threshold.max(1),
            success_threshold: config.success_threshold.max(1),
            cooldown: config.cooldown,
            inner: Inner::Closed { failures: 0 },
        }
    }

    /// The state at `now` (an open breaker whose cool-down has ended reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until: Some(until) } if now >= until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a request may go out at `now`; moves an open breaker whose cool-down has
    /// ended to half-open.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.inner {
            Inner::Closed { .. } | Inner::HalfOpen { .. } => true,
            Inner::Open { until: Some(until) } if now >= until => {
                self.inner = Inner::HalfOpen { successes: 0 };
                true
            }
            Inner::Open { .. } => false,
        }
    }

    /// Records a success.
    pub fn on_success(&mut self) {
        self.inner = match self.inner {
            Inner::HalfOpen { successes } if successes + 1 < self.success_threshold => {
                Inner::HalfOpen { successes: successes + 1 }
            }
            Inner::Open { until } => Inner::Open { until },
            _ => Inner::Closed { failures: 0 },
        };
    }

    /// Records a failure at `now`.
    pub fn on_failure(&mut self, now: Instant) {
        self.inner = match self.inner {
            Inner::Closed { failures } if failures + 1 < self.failure_threshold => {
                Inner::Closed { failures: failures + 1 }
            }
            // A late answer to a request sent before the breaker opened does not extend the
            // cool-down.
            Inner::Open { until } => Inner::Open { until },
            _ => Inner::Open { until: now.checked_add(self.cooldown) },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(k: u32, m: u32) -> CircuitBreaker {
        CircuitBreaker::new(&HealthConfig {
            failure_threshold: k,
            success_threshold: m,
            cooldown: Duration::from_secs(5),
            ..HealthConfig::default()
        })
    }

    /// K consecutive failures open the breaker; a success in between resets the count.
    #[test]
    fn opens_after_k_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = breaker(3, 1);
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        assert!(b.allow(t0));
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.allow(t0 + Duration::from_secs(4)));
    }

    /// After the cool-down one probe goes through; M successes close, a failure reopens
    /// with a fresh cool-down.
    #[test]
    fn half_open_probe_closes_or_reopens() {
        let t0 = Instant::now();
        let mut b = breaker(1, 2);
        b.on_failure(t0);
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(b.state(t5), BreakerState::HalfOpen);
        assert!(b.allow(t5));
        b.on_success();
        assert_eq!(b.state(t5), BreakerState::HalfOpen, "needs 2 successes");
        b.on_success();
        assert_eq!(b.state(t5), BreakerState::Closed);

        b.on_failure(t5);
        let t10 = t5 + Duration::from_secs(5);
        assert!(b.allow(t10));
        b.on_failure(t10);
        assert_eq!(b.state(t10 + Duration::from_secs(4)), BreakerState::Open);
        assert!(b.allow(t10 + Duration::from_secs(5)));
    }

    /// Answers arriving while open change nothing: a late success does not close it, a late
    /// failure does not extend the cool-down.
    #[test]
    fn late_answers_do_not_move_an_open_breaker() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1);
        b.on_failure(t0);
        b.on_success();
        assert_eq!(b.state(t0), BreakerState::Open);
        b.on_failure(t0 + Duration::from_secs(3));
        assert_eq!(b.state(t0 + Duration::from_secs(5)), BreakerState::HalfOpen);
    }

    /// A cool-down past the end of representable time opens the breaker without panicking,
    /// and it stays open (no probe is let through) however late it is asked.
    #[test]
    fn unrepresentable_cooldown_stays_open() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(&HealthConfig {
            failure_threshold: 1,
            success_threshold: 1,
            cooldown: Duration::MAX,
            ..HealthConfig::default()
        });
        b.on_failure(t0);
        let century = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(b.state(century), BreakerState::Open);
        assert!(!b.allow(century));
        b.on_success();
        b.on_failure(century);
        assert_eq!(b.state(century), BreakerState::Open);
    }
}
