//! When and how long to wait before repeating a call.
//!
//! Only calls that are safe to repeat are retried (reads, `getPayload`, `newPayload`,
//! `forkchoiceUpdated` without attributes — all idempotent), only for errors whose
//! [`Severity`] is `Retry` (never auth failures, never a verdict such as INVALID, which is an
//! answer rather than an error), and within a bound on both the number of attempts and the
//! time since the first one.
//!
//! Kept hand-written instead of `backon` or tower's retry layer (measured 2026-12, backon
//! 1.6): backon's jitter only lengthens a delay, past `max_delay` (the worst delays of one
//! configuration summed to 2.37 s where ours cannot exceed 1.2 s), its `total_delay` counts
//! sleep time only (6 attempts in 7.7 s where our elapsed bound stops at 2), and its delays
//! are `f32`. [`RetryConfig::call_budget`](engine_types::config::RetryConfig), and so the
//! build and commit budgets the Chain actor waits, rely on jitter only shortening a delay
//! and on the elapsed bound counting the next delay. Feeding our delays through backon would
//! save 8 lines and add 2 crates; tower's retry needs the call as a `Service` with owned,
//! cloneable requests (about 70 lines to replace 24) and has no attempt or elapsed bound.

use engine_types::{EngineError, EngineRequest, Severity, config::RetryConfig};
use std::{future::Future, time::Duration};

/// The retry policy of one client, from [`RetryConfig`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    config: RetryConfig,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new(RetryConfig::default())
    }
}

impl RetryPolicy {
    /// The policy of `config`.
    pub const fn new(config: RetryConfig) -> Self {
        Self { config }
    }

    /// A policy that never retries.
    pub fn never() -> Self {
        Self::new(RetryConfig { max_attempts: 1, ..RetryConfig::default() })
    }

    /// Attempts in all, the first included.
    pub const fn max_attempts(&self) -> u32 {
        self.config.max_attempts
    }

    /// The delay before retry number `retry` (1 for the first retry), before jitter:
    /// `initial_backoff · 2^(retry-1)`, capped at `max_backoff`.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.config.initial_backoff.saturating_mul(factor).min(self.config.max_backoff)
    }

    /// The delay before retry number `retry` with jitter applied, `unit` being a uniform
    /// random number in `[0, 1)`: the base delay shortened by up to `jitter` of itself, so
    /// the cap still holds and clients that failed together spread out.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let jitter = self.config.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        self.base_delay(retry).mul_f64(1.0 - jitter)
    }

    /// Whether to make another attempt after `attempts` attempts failed with `error`,
    /// `elapsed` after the first started, if the next would start after waiting `delay`.
    pub fn should_retry(
        &self,
        error: &EngineError,
        attempts: u32,
        elapsed: Duration,
        delay: Duration,
    ) -> bool {
        let transient = match error.severity() {
            Severity::Retry => true,
            Severity::Reset | Severity::Fatal => false,
        };
        transient
            && attempts < self.config.max_attempts
            && elapsed.saturating_add(delay) <= self.config.max_elapsed
    }
}

/// Whether repeating `request` is harmless: everything but a `forkchoiceUpdated` that starts
/// a build (repeating it would start another).
pub fn is_idempotent(request: &EngineRequest) -> bool {
    !matches!(request, EngineRequest::ForkchoiceUpdated { attributes: Some(_), .. })
}

/// Runs `attempt` until it succeeds or `policy` says to stop, sleeping the jittered backoff
/// in between; returns the last error.
pub(crate) async fn retrying<T, F, Fut>(
    policy: RetryPolicy,
    mut attempt: F,
) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    let started = tokio::time::Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let delay = policy.delay(attempts, rand::random::<f64>());
        if !policy.should_retry(&error, attempts, started.elapsed(), delay) {
            return Err(error);
        }
        tracing::debug!(%error, attempts, ?delay, "retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::{
        ApiVersion, TransportError,
        engine::{ForkchoiceState, PayloadAttributes},
        primitives::{Address, B256},
    };

    fn policy() -> RetryPolicy {
        RetryPolicy::new(RetryConfig {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_elapsed: Duration::from_secs(2),
            jitter: 0.5,
        })
    }

    fn timeout() -> EngineError {
        TransportError::Timeout { method: "m".into(), after: Duration::from_secs(1) }.into()
    }

    /// Backoff doubles from the initial delay and stops at the cap, even for huge retry counts.
    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let ms = |r| p.base_delay(r).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4), ms(40)], [100, 200, 400, 500, 500]);
    }

    /// Jitter only shortens a delay, by at most the configured share.
    #[test]
    fn jitter_stays_within_its_share() {
        let p = policy();
        assert_eq!(p.delay(2, 0.0), Duration::from_millis(200));
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(150));
        assert_eq!(p.delay(2, 0.999_999).as_millis(), 100);
        assert_eq!(p.delay(2, 7.0), Duration::from_millis(100), "out-of-range unit is clamped");
    }

    /// Transient errors retry until the attempt bound or the time bound; others never do.
    #[test]
    fn retry_bounds_and_severity() {
        let p = policy();
        let d = Duration::from_millis(100);
        assert!(p.should_retry(&timeout(), 1, Duration::ZERO, d));
        assert!(p.should_retry(&timeout(), 4, Duration::ZERO, d));
        assert!(!p.should_retry(&timeout(), 5, Duration::ZERO, d), "attempt bound");
        assert!(!p.should_retry(&timeout(), 1, Duration::from_millis(1950), d), "time bound");
        let auth = EngineError::Auth { endpoint: "e".into(), status: 401, clock_gap: None };
        assert!(!p.should_retry(&auth, 1, Duration::ZERO, d));
        assert!(!p.should_retry(&EngineError::bad_response("m", "r"), 1, Duration::ZERO, d));
        assert!(!RetryPolicy::never().should_retry(&timeout(), 1, Duration::ZERO, d));
    }

    /// The loop makes exactly `max_attempts` attempts on a transient error, one on any other,
    /// and sleeps between them (paused clock: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn loop_stops_at_the_bound() {
        let count = std::cell::Cell::new(0);
        let r: Result<(), _> = retrying(policy(), || {
            count.set(count.get() + 1);
            async { Err(timeout()) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(count.get(), 5);
        count.set(0);
        let r: Result<(), _> = retrying(policy(), || {
            count.set(count.get() + 1);
            async { Err(EngineError::bad_response("m", "r")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(count.get(), 1);
        let ok = retrying(policy(), || {
            count.set(count.get() + 1);
            let n = count.get();
            async move { if n < 3 { Err(timeout()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(ok.unwrap(), 3);
    }

    /// A build-starting forkchoice update is the one call never repeated.
    #[test]
    fn only_builds_are_not_idempotent() {
        let state = ForkchoiceState::default();
        let attrs = PayloadAttributes {
            timestamp: 1,
            prev_randao: B256::ZERO,
            suggested_fee_recipient: Address::ZERO,
            withdrawals: Some(vec![]),
            parent_beacon_block_root: None,
            slot_number: None,
            target_gas_limit: None,
        };
        let build = EngineRequest::forkchoice_updated(ApiVersion::V2, state, Some(attrs)).unwrap();
        let plain = EngineRequest::forkchoice_updated(ApiVersion::V2, state, None).unwrap();
        assert!(!is_idempotent(&build));
        assert!(is_idempotent(&plain));
        assert!(is_idempotent(&EngineRequest::GetPayloadBodiesByRange { start: 1, count: 2 }));
    }
}
