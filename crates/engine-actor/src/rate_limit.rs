//! Per-peer token buckets for transactions gossiped by the network: a peer may send a burst
//! of `burst` transactions, then `per_second` on average; beyond that its transactions are
//! answered "rate limited" without touching the EL.

use serde::{Deserialize, Serialize};
use std::{collections::HashMap, time::Duration};
use tokio::time::Instant;

/// Token bucket parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimitConfig {
    /// Tokens a silent peer accumulates (the largest burst allowed).
    pub burst: u32,
    /// Tokens added per second.
    pub per_second: f64,
    /// Peers tracked at most; the longest-idle one is forgotten first.
    pub max_peers: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { burst: 64, per_second: 16.0, max_peers: 4096 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by peer id.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new(config: RateLimitConfig) -> Self {
        Self { config, buckets: HashMap::new() }
    }

    /// Takes one token from `peer`'s bucket, or says how long until one is available.
    pub fn check(&mut self, peer: &str, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.config.burst);
        if !self.buckets.contains_key(peer) && self.buckets.len() >= self.config.max_peers.max(1) {
            let idle = self.buckets.iter().min_by_key(|(_, b)| b.last).map(|(k, _)| k.clone());
            if let Some(idle) = idle {
                self.buckets.remove(&idle);
            }
        }
        let bucket =
            self.buckets.entry(peer.to_string()).or_insert(Bucket { tokens: burst, last: now });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.config.per_second).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else if self.config.per_second > 0.0 {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.config.per_second))
        } else {
            Err(Duration::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer gets its burst, is then limited with a retry hint, and refills over time;
    /// other peers are unaffected.
    #[test]
    fn burst_then_limited_then_refilled() {
        let now = Instant::now();
        let mut rl = RateLimiter::new(RateLimitConfig { burst: 2, per_second: 1.0, max_peers: 8 });
        assert!(rl.check("a", now).is_ok());
        assert!(rl.check("a", now).is_ok());
        let wait = rl.check("a", now).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(rl.check("b", now).is_ok());
        assert!(rl.check("a", now + Duration::from_secs(1)).is_ok());
        assert!(rl.check("a", now + Duration::from_secs(1)).is_err());
    }

    /// The table stays bounded: the longest-idle peer is forgotten (and starts full again).
    #[test]
    fn forgets_idle_peers_when_full() {
        let now = Instant::now();
        let mut rl = RateLimiter::new(RateLimitConfig { burst: 1, per_second: 0.0, max_peers: 1 });
        assert!(rl.check("a", now).is_ok());
        assert!(rl.check("a", now).is_err());
        assert!(rl.check("b", now + Duration::from_secs(1)).is_ok());
        assert_eq!(rl.buckets.len(), 1);
        assert!(rl.check("a", now + Duration::from_secs(2)).is_ok());
    }
}
