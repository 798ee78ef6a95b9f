//! The engine actor's configuration.

use crate::rate_limit::RateLimitConfig;
use engine_types::config::{ChainConfig, PayloadCacheConfig};
use std::{path::PathBuf, time::Duration};

/// Default period of the engine's health tick.
pub const DEFAULT_TICK_INTERVAL: Duration = Duration::from_secs(1);

/// How the engine actor runs.
#[derive(Debug, Clone)]
pub struct EngineActorConfig {
    /// Chain parameters (fork schedule, fee recipient, bridge, peg-out minimum, network).
    pub chain: ChainConfig,
    /// Payload cache bounds.
    pub payload_cache: PayloadCacheConfig,
    /// Per-peer transaction rate limit.
    pub rate_limit: RateLimitConfig,
    /// Directory of the persisted state.
    pub state_dir: PathBuf,
    /// Set a corrupt state file aside and start without state, instead of refusing to start.
    pub start_fresh: bool,
    /// Period of the health tick (peer liveness, state gauge, re-sync of a lagging EL).
    pub tick_interval: Duration,
}

impl EngineActorConfig {
    /// Defaults for `chain`, with state kept in `state_dir`.
    pub fn new(chain: ChainConfig, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            chain,
            payload_cache: PayloadCacheConfig::default(),
            rate_limit: RateLimitConfig::default(),
            state_dir: state_dir.into(),
            start_fresh: false,
            tick_interval: DEFAULT_TICK_INTERVAL,
        }
    }
}
