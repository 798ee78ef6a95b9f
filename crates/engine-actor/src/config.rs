//! The engine actor's configuration.

use crate::rate_limit::RateLimitConfig;
use engine_types::config::{ChainConfig, PayloadCacheConfig};
use std::{num::NonZeroUsize, path::PathBuf, time::Duration};

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
    /// How many blocks an execution client may be ahead of the engine's head (after a crash
    /// between its commit and our state write) and still be adopted after validation;
    /// further ahead is an error for the operator (default 64).
    pub adopt_limit: u64,
    /// How many minted peg-ins the ledger keeps above the finalized block (default 4096);
    /// when full, builds leave new peg-ins pending until finality prunes it.
    pub ledger_capacity: usize,
    /// How many blocks back from the head the withdrawal index is searched for when it must
    /// be recovered from the chain (fresh state, a new head); default 8192.
    pub index_recovery_depth: u64,
    /// How many forkchoice jobs (builds, commits, forkchoice updates, finality, what-landed
    /// questions) may wait for the forkchoice worker behind the one it runs (default 64, a
    /// minute of slots with margin). A request beyond it is refused with
    /// [`ActorError::Busy`](crate::ActorError::Busy) at once: the caller retries later
    /// instead of waiting behind an EL that stopped answering.
    pub job_queue: NonZeroUsize,
    /// How many query and transaction-admission tasks may run at once (default 128). A
    /// query beyond it is refused with [`ActorError::Busy`](crate::ActorError::Busy), a
    /// transaction with [`TxVerdict::Unavailable`](crate::messages::TxVerdict::Unavailable).
    pub max_tasks: NonZeroUsize,
    /// How many committed blocks may wait for their peg-out scan (receipts fetched, burns
    /// told to the Bridge) behind the one being scanned (default 64). A commit that finds
    /// the scan queue full still succeeds: its block is owed, and is handed over as soon as
    /// the queue drains, in block order (after a failed scan, by the tick's retry).
    pub scan_queue: NonZeroUsize,
}

/// Default [`EngineActorConfig::job_queue`].
pub const DEFAULT_JOB_QUEUE: NonZeroUsize = nonzero(64);

/// Default [`EngineActorConfig::scan_queue`].
pub const DEFAULT_SCAN_QUEUE: NonZeroUsize = nonzero(64);

/// Default [`EngineActorConfig::max_tasks`].
pub const DEFAULT_MAX_TASKS: NonZeroUsize = nonzero(128);

/// `n` as a [`NonZeroUsize`], for constants: a zero fails the build (const evaluation).
const fn nonzero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => panic!("a bound must not be zero"),
    }
}

/// Default [`EngineActorConfig::adopt_limit`].
pub const DEFAULT_ADOPT_LIMIT: u64 = 64;

/// Default [`EngineActorConfig::index_recovery_depth`].
pub const DEFAULT_INDEX_RECOVERY_DEPTH: u64 = 8192;

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
            adopt_limit: DEFAULT_ADOPT_LIMIT,
            ledger_capacity: crate::minted::DEFAULT_LEDGER_CAPACITY,
            index_recovery_depth: DEFAULT_INDEX_RECOVERY_DEPTH,
            job_queue: DEFAULT_JOB_QUEUE,
            max_tasks: DEFAULT_MAX_TASKS,
            scan_queue: DEFAULT_SCAN_QUEUE,
        }
    }
}
