//! Restart intensity: how many restarts a supervisor may perform within a sliding window
//! before it gives up and fails itself, so that its parent decides (escalation).
//!
//! This is OTP's `intensity`/`period`: a restart of several children at once (one-for-all,
//! rest-for-one) counts as one restart, and so does a failed attempt to start a child.

use std::{collections::VecDeque, time::Duration};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The most restarts allowed within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntensityLimit {
    /// Restarts allowed within `within`; one more escalates. Default 5.
    pub max_restarts: u32,
    /// Length of the sliding window. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub within: Duration,
}

impl Default for IntensityLimit {
    fn default() -> Self {
        Self { max_restarts: 5, within: Duration::from_secs(60) }
    }
}

/// Sliding window of recent restart instants, checked against an [`IntensityLimit`].
///
/// Instants are `tokio::time::Instant`, so a test with paused time controls the window.
#[derive(Debug, Clone)]
pub struct RestartWindow {
    limit: IntensityLimit,
    restarts: VecDeque<Instant>,
}

impl RestartWindow {
    /// An empty window for `limit`.
    pub fn new(limit: IntensityLimit) -> Self {
        Self { limit, restarts: VecDeque::new() }
    }

    /// Records a restart at `now`. Returns `false` when this restart exceeds the limit, i.e.
    /// when more than `max_restarts` restarts fall within the last `within`.
    pub fn record(&mut self, now: Instant) -> bool {
        self.expire(now);
        self.restarts.push_back(now);
        self.restarts.len() <= self.limit_len()
    }

    /// Restarts currently inside the window ending at `now`.
    pub fn count(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.restarts.len()
    }

    /// The limit this window enforces.
    pub fn limit(&self) -> IntensityLimit {
        self.limit
    }

    fn limit_len(&self) -> usize {
        usize::try_from(self.limit.max_restarts).unwrap_or(usize::MAX)
    }

    fn expire(&mut self, now: Instant) {
        while let Some(first) = self.restarts.front() {
            if now.saturating_duration_since(*first) >= self.limit.within {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(max_restarts: u32, secs: u64) -> RestartWindow {
        RestartWindow::new(IntensityLimit { max_restarts, within: Duration::from_secs(secs) })
    }

    /// The restart after `max_restarts` within the window is refused.
    #[test]
    fn exceeds_after_max() {
        let start = Instant::now();
        let mut w = window(3, 10);
        assert!(w.record(start));
        assert!(w.record(start + Duration::from_secs(1)));
        assert!(w.record(start + Duration::from_secs(2)));
        assert!(!w.record(start + Duration::from_secs(3)));
    }

    /// Restarts older than the window no longer count.
    #[test]
    fn old_restarts_expire() {
        let start = Instant::now();
        let mut w = window(2, 10);
        assert!(w.record(start));
        assert!(w.record(start + Duration::from_secs(5)));
        assert!(w.record(start + Duration::from_secs(10)));
        assert_eq!(w.count(start + Duration::from_secs(10)), 2);
        assert_eq!(w.count(start + Duration::from_secs(30)), 0);
    }

    /// A limit of zero escalates on the first restart.
    #[test]
    fn zero_allows_none() {
        assert!(!window(0, 10).record(Instant::now()));
    }
}
