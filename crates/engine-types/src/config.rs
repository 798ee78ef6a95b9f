//! Configuration sections: plain serde structs with documented defaults.
//!
//! Every field has a default, so a config file names only what it changes. [`Config::validate`]
//! reports every problem at once, each with its field path
//! (`engine.endpoints[1].engine_url: not a URL: …`), so a user fixes the file in one pass.

use crate::{
    constants::{
        BRIDGE_ADDRESS, CHAIN_ID_DEV, DEAD_ADDRESS, DEFAULT_ENGINE_URL, MIN_PEGOUT_SATS,
        SLOT_DURATION_DEV,
    },
    fork::{EngineMethod, ForkSchedule},
};
use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use std::{fmt, path::PathBuf, time::Duration};

/// The whole engine configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How to reach and judge execution clients.
    pub engine: EngineConfig,
    /// Facts about the chain being driven.
    pub chain: ChainConfig,
}

/// How to reach and judge execution clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Execution clients, best first (default: one at `http://127.0.0.1:8551`, whose JWT
    /// secret file must still be set).
    pub endpoints: Vec<EndpointConfig>,
    /// Per-method timeouts.
    pub timeouts: TimeoutConfig,
    /// Retries of idempotent calls.
    pub retry: RetryConfig,
    /// Upchecks and the circuit breaker.
    pub health: HealthConfig,
    /// Largest response body accepted, in bytes (default 64 MiB).
    pub max_response_bytes: u64,
    /// Built payloads kept for `GetPayload` and replay.
    pub payload_cache: PayloadCacheConfig,
    /// How long before collecting a block the engine sends its payload attributes: the
    /// time between the `forkchoiceUpdated` that starts a build and the `getPayload` that
    /// collects it, so the execution client can fill the block (Lighthouse's
    /// `prepare_payload_lookahead`). Default 0: EthereumJS and the embedded devnet fill the
    /// block before they answer the `forkchoiceUpdated`. **Geth and Reth need it:** they
    /// answer the `forkchoiceUpdated` with an empty block built and fill the full one in the
    /// background, and a `getPayload` sent before that is done returns the empty block (Geth
    /// `miner/payload_building.go`, `Payload.Resolve`; Reth `crates/payload/basic`). A third
    /// of the slot (Lighthouse's default) leaves the builder room. Shorter than
    /// `chain.slot_duration`.
    #[serde(with = "humantime_serde")]
    pub build_lookahead: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            endpoints: vec![EndpointConfig::default()],
            timeouts: TimeoutConfig::default(),
            retry: RetryConfig::default(),
            health: HealthConfig::default(),
            max_response_bytes: 64 * 1024 * 1024,
            payload_cache: PayloadCacheConfig::default(),
            build_lookahead: Duration::ZERO,
        }
    }
}

/// Blocks a lagging endpoint may be replayed within [`EngineConfig::commit_budget`]: a
/// standby one or two blocks behind catches up inside the budget; a longer replay overruns
/// it (the caller then asks what landed instead of assuming the commit failed).
pub const CATCH_UP_MARGIN_BLOCKS: u32 = 2;

/// Added to every budget for the engine's own work between calls: its persisted state
/// write (with its fsyncs) and the messages between actors.
pub const BUDGET_SLACK: Duration = Duration::from_secs(1);

/// The longest a slot (build + commit budgets) may take before the configuration is
/// refused: a chain blocked that long on one slot is indistinguishable from a dead one to an
/// operator.
///
/// How the budgets relate to `chain.slot_duration`: a budget is the longest the engine may
/// legitimately take, so a caller that waits it out never abandons work the engine still
/// finishes (and then repeats it). A budget longer than the slot is allowed and expected
/// with the specification's timeouts (8 s for `newPayload` against a 2–5 s slot): while a
/// slot runs past its time, the ticks it overlaps are skipped (one slot at a time, never a
/// second block on a head a running commit may still change) and the next block is simply
/// late. What an operator must not get is a chain that waits longer than this bound for
/// one slot, which only a misconfiguration produces (hundreds of attempts, minutes-long
/// timeouts).
pub const MAX_SLOT_BUDGET: Duration = Duration::from_secs(600);

/// The longest one request timeout or retry backoff may be: a single call allowed to wait
/// longer than a whole slot may ([`MAX_SLOT_BUDGET`]) can never complete in time, so such a
/// value is a mistake (a unit typed wrong, `10m` for `10s`), not a policy.
pub const MAX_CALL_TIMEOUT: Duration = MAX_SLOT_BUDGET;

/// The longest period any of the engine's timers may be configured with (breaker cooldown,
/// upcheck interval, payload cache TTL, slot duration): a day, far beyond any useful value
/// and centuries below where `Instant + Duration` stops being representable, so a deadline
/// computed from an accepted value always exists.
pub const MAX_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

/// The most built payloads [`PayloadCacheConfig::capacity`] may keep: each may be as large
/// as a response ([`EngineConfig::max_response_bytes`]), so the cache's memory bound is this
/// times that.
pub const MAX_PAYLOAD_CACHE_CAPACITY: usize = 1024;

/// The largest [`EngineConfig::max_response_bytes`] accepted (1 GiB): a response body is
/// held in memory whole, so the limit must be one a node can actually allocate.
pub const MAX_RESPONSE_BYTES_LIMIT: u64 = 1024 * 1024 * 1024;

impl EngineConfig {
    /// Endpoints that take part in a request (the pool refuses to start with none).
    fn endpoint_count(&self) -> u32 {
        u32::try_from(self.endpoints.len()).unwrap_or(u32::MAX).max(1)
    }

    /// One call with per-attempt `timeout` as the pool makes it: with the retry policy when
    /// it has a single endpoint, once per endpoint when it can fail over to the next.
    fn pool_call(&self, timeout: Duration) -> Option<Duration> {
        if self.endpoint_count() == 1 { self.retry.call_budget(timeout) } else { Some(timeout) }
    }

    /// One `eth_*` look-up the engine makes around a request (with its retries), plus
    /// [`BUDGET_SLACK`].
    fn engine_margin(&self) -> Option<Duration> {
        self.retry.call_budget(self.timeouts.eth)?.checked_add(BUDGET_SLACK)
    }

    /// How long a `BuildPayload` can take: `forkchoiceUpdated` with attributes, the
    /// [`build_lookahead`](Self::build_lookahead) `la`, then `getPayload`, on each endpoint
    /// in rank order (a failed build is redone on the next). With `n` endpoints, `call(t)`
    /// of [`RetryConfig::call_budget`], `fcu`, `get` and `eth` the configured timeouts:
    ///
    /// ```text
    /// n = 1:  fcu + la + call(get)                  (a build-starting fcU is never repeated)
    /// n > 1:  n · (fcu + la + get)                  (each endpoint tried once)
    /// build_budget = that + call(eth) + BUDGET_SLACK   (the parent's header; state write)
    /// ```
    ///
    /// `None` when it does not fit in a [`Duration`] ([`Config::validate`] reports it).
    pub fn build_budget(&self) -> Option<Duration> {
        let t = &self.timeouts;
        let per_endpoint = t
            .forkchoice_updated
            .checked_add(self.build_lookahead)?
            .checked_add(self.pool_call(t.get_payload)?)?;
        let endpoints = if self.endpoint_count() == 1 {
            per_endpoint
        } else {
            per_endpoint.checked_mul(self.endpoint_count())?
        };
        endpoints.checked_add(self.engine_margin()?)
    }

    /// How long a `CommitPayload` can take. Endpoints are committed to in parallel and the
    /// best-ranked decisive answer is the verdict, so one endpoint's worst case counts:
    /// `newPayload`, a catch-up replay of up to [`CATCH_UP_MARGIN_BLOCKS`] blocks when it
    /// answers SYNCING, `newPayload` again, `forkchoiceUpdated` to the new head, then the
    /// receipts for the peg-out scan. With `pool(t)` = `call(t)` for one endpoint and `t`
    /// for several:
    ///
    /// ```text
    /// commit_budget = 2·pool(np) + CATCH_UP_MARGIN_BLOCKS·pool(np) + pool(fcu)
    ///               + call(eth) + BUDGET_SLACK
    /// ```
    ///
    /// `None` when it does not fit in a [`Duration`] ([`Config::validate`] reports it).
    pub fn commit_budget(&self) -> Option<Duration> {
        let t = &self.timeouts;
        let new_payload = self.pool_call(t.new_payload)?;
        new_payload
            .checked_mul(2 + CATCH_UP_MARGIN_BLOCKS)?
            .checked_add(self.pool_call(t.forkchoice_updated)?)?
            .checked_add(self.engine_margin()?)
    }

    /// How long a forkchoice update without attributes (finality, a new head) can take:
    ///
    /// ```text
    /// forkchoice_budget = pool(fcu) + call(eth) + BUDGET_SLACK
    /// ```
    ///
    /// `None` when it does not fit in a [`Duration`] ([`Config::validate`] reports it).
    pub fn forkchoice_budget(&self) -> Option<Duration> {
        self.pool_call(self.timeouts.forkchoice_updated)?.checked_add(self.engine_margin()?)
    }

    /// How long asking the engine what became of a block (`WhatLanded`) can take: it waits
    /// behind the commit it asks about, then looks the block up (its header and the block
    /// at its number):
    ///
    /// ```text
    /// what_landed_budget = commit_budget + 2·call(eth) + BUDGET_SLACK
    /// ```
    ///
    /// `None` when it does not fit in a [`Duration`] ([`Config::validate`] reports it).
    pub fn what_landed_budget(&self) -> Option<Duration> {
        self.commit_budget()?
            .checked_add(self.retry.call_budget(self.timeouts.eth)?.checked_mul(2)?)?
            .checked_add(BUDGET_SLACK)
    }

    /// The problems of the budgets: a call whose worst case overflows names its timeout
    /// field; a slot (build + commit) longer than [`MAX_SLOT_BUDGET`] is refused.
    fn collect_budgets(&self, p: &mut Problems) {
        let t = &self.timeouts;
        let mut finite = true;
        for (field, timeout) in [
            ("forkchoice_updated", t.forkchoice_updated),
            ("get_payload", t.get_payload),
            ("new_payload", t.new_payload),
            ("eth", t.eth),
        ] {
            let ok = self.retry.call_budget(timeout).is_some();
            finite &= ok;
            p.check(
                ok,
                format!("engine.timeouts.{field}"),
                format!(
                    "{timeout:?} with engine.retry.max_attempts = {} and max_elapsed = {:?} \
                     gives a worst case that overflows",
                    self.retry.max_attempts, self.retry.max_elapsed
                ),
            );
        }
        if !finite {
            return;
        }
        let slot = self
            .build_budget()
            .zip(self.commit_budget())
            .filter(|_| self.what_landed_budget().is_some() && self.forkchoice_budget().is_some())
            .and_then(|(build, commit)| build.checked_add(commit).map(|s| (build, commit, s)));
        match slot {
            None => p.check(
                false,
                "engine.timeouts",
                "the build and commit budgets overflow; lower the timeouts, \
                 engine.retry.max_attempts or the number of endpoints",
            ),
            Some((build, commit, slot)) => p.check(
                slot <= MAX_SLOT_BUDGET,
                "engine.timeouts",
                format!(
                    "a slot could wait {slot:?} for the engine (build {build:?} + commit \
                     {commit:?}), more than {MAX_SLOT_BUDGET:?}: the chain would look dead that \
                     long; lower the timeouts, engine.retry.max_attempts or max_elapsed"
                ),
            ),
        }
    }
}

/// One execution client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointConfig {
    /// A name for logs and metrics (default: the engine URL's host and port).
    pub name: Option<String>,
    /// The authenticated Engine API URL (default `http://127.0.0.1:8551`).
    pub engine_url: String,
    /// The public JSON-RPC URL for `eth_*` calls (default: none; the engine URL is used,
    /// which every client also serves `eth_*` on).
    pub public_url: Option<String>,
    /// File holding the 32-byte JWT secret as 64 hex characters (required).
    pub jwt_secret_file: Option<PathBuf>,
    /// Optional `id` claim identifying this consensus client to the EL.
    pub jwt_id: Option<String>,
    /// Proxy for this endpoint's Engine API and `eth_*` traffic (`http://`, `https://` or
    /// `socks5://` URL, credentials allowed). Default: none, and `HTTP_PROXY`,
    /// `HTTPS_PROXY` and `ALL_PROXY` are ignored: Engine API requests carry the JWT.
    pub proxy: Option<String>,
    /// PEM file of extra root CAs trusted for an `https://` execution client, on top of
    /// the platform's (default: none).
    pub tls_ca_bundle: Option<PathBuf>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            name: None,
            engine_url: DEFAULT_ENGINE_URL.to_string(),
            public_url: None,
            jwt_secret_file: None,
            jwt_id: None,
            proxy: None,
            tls_ca_bundle: None,
        }
    }
}

/// Per-method timeouts. Defaults are the spec's minimums; the spec asks the consensus side to
/// wait at least that long before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// `engine_forkchoiceUpdated*` (default 8 s).
    #[serde(with = "humantime_serde")]
    pub forkchoice_updated: Duration,
    /// `engine_getPayload*` (default 1 s).
    #[serde(with = "humantime_serde")]
    pub get_payload: Duration,
    /// `engine_newPayload*` (default 8 s).
    #[serde(with = "humantime_serde")]
    pub new_payload: Duration,
    /// `engine_exchangeCapabilities` (default 1 s).
    #[serde(with = "humantime_serde")]
    pub exchange_capabilities: Duration,
    /// `engine_getClientVersionV1` (default 1 s).
    #[serde(with = "humantime_serde")]
    pub get_client_version: Duration,
    /// `engine_getPayloadBodiesBy*` (default 10 s).
    #[serde(with = "humantime_serde")]
    pub get_payload_bodies: Duration,
    /// Every `eth_*` call (default 5 s).
    #[serde(with = "humantime_serde")]
    pub eth: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            forkchoice_updated: EngineMethod::ForkchoiceUpdated.spec_timeout(),
            get_payload: EngineMethod::GetPayload.spec_timeout(),
            new_payload: EngineMethod::NewPayload.spec_timeout(),
            exchange_capabilities: EngineMethod::ExchangeCapabilities.spec_timeout(),
            get_client_version: EngineMethod::GetClientVersion.spec_timeout(),
            get_payload_bodies: EngineMethod::GetPayloadBodiesByHash.spec_timeout(),
            eth: Duration::from_secs(5),
        }
    }
}

impl TimeoutConfig {
    /// The timeout for an Engine API method.
    pub const fn for_method(&self, method: EngineMethod) -> Duration {
        match method {
            EngineMethod::ForkchoiceUpdated => self.forkchoice_updated,
            EngineMethod::GetPayload => self.get_payload,
            EngineMethod::NewPayload => self.new_payload,
            EngineMethod::ExchangeCapabilities => self.exchange_capabilities,
            EngineMethod::GetClientVersion => self.get_client_version,
            EngineMethod::GetPayloadBodiesByHash | EngineMethod::GetPayloadBodiesByRange => {
                self.get_payload_bodies
            }
        }
    }
}

/// Retries of calls that are safe to repeat (reads, getPayload, forkchoiceUpdated without
/// attributes, newPayload). Never applied to auth failures or INVALID verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included (default 3; 1 disables retries).
    pub max_attempts: u32,
    /// Delay before the first retry (default 100 ms); doubles each time.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Largest delay between attempts (default 2 s).
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// No retry starts after this much time since the first attempt (default 10 s).
    #[serde(with = "humantime_serde")]
    pub max_elapsed: Duration,
    /// Random share of each delay, 0 to 1 (default 0.2): spreads retries of many clients.
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(10),
            jitter: 0.2,
        }
    }
}

impl RetryConfig {
    /// The longest one call whose attempts each time out after `timeout` can take under this
    /// policy, the backoff between attempts included; `None` when it does not fit in a
    /// [`Duration`].
    ///
    /// With `a` = `max_attempts` (at least 1), `b₀` = `initial_backoff`, `b_max` =
    /// `max_backoff` and `E` = `max_elapsed`:
    ///
    /// ```text
    /// call(t) = min( a·t + Σ_{r=1}^{a−1} min(b₀·2^(r−1), b_max) ,  E + t )
    /// ```
    ///
    /// The first term is every attempt timing out with the full backoff in between (jitter
    /// only shortens a delay); the second holds because no retry starts later than `E` after
    /// the first attempt began.
    ///
    /// ```
    /// use engine_types::config::RetryConfig;
    /// use std::time::Duration;
    ///
    /// // Defaults: 3 attempts, 100 ms doubling to at most 2 s, nothing starts after 10 s.
    /// let retry = RetryConfig::default();
    /// // 3 × 1 s + 100 ms + 200 ms
    /// assert_eq!(retry.call_budget(Duration::from_secs(1)), Some(Duration::from_millis(3_300)));
    /// // 3 × 8 s + 300 ms would be longer than 10 s + 8 s
    /// assert_eq!(retry.call_budget(Duration::from_secs(8)), Some(Duration::from_secs(18)));
    /// ```
    pub fn call_budget(&self, timeout: Duration) -> Option<Duration> {
        let attempts = self.max_attempts.max(1);
        let every_attempt = timeout
            .checked_mul(attempts)
            .and_then(|calls| calls.checked_add(self.total_backoff(attempts - 1)?));
        let until_last_start = self.max_elapsed.checked_add(timeout);
        match (every_attempt, until_last_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (one, other) => one.or(other),
        }
    }

    /// The sum of the base delays before `retries` retries (`None` on overflow).
    fn total_backoff(&self, retries: u32) -> Option<Duration> {
        // The delay doubles until it reaches the cap; 2^64 passes any cap a Duration holds,
        // so after at most 64 doublings every further delay is the same.
        let mut total = Duration::ZERO;
        let mut delay = self.initial_backoff.min(self.max_backoff);
        let doubling = retries.min(64);
        for _ in 0..doubling {
            total = total.checked_add(delay)?;
            delay = delay.saturating_mul(2).min(self.max_backoff);
        }
        total.checked_add(delay.checked_mul(retries - doubling)?)
    }
}

/// Endpoint health: periodic upchecks and the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Time between upchecks (`eth_syncing` + capabilities) of each endpoint (default 2 s).
    #[serde(with = "humantime_serde")]
    pub upcheck_interval: Duration,
    /// Consecutive failures that open the breaker (default 3).
    pub failure_threshold: u32,
    /// Time an open breaker waits before a half-open probe (default 5 s; at most
    /// [`MAX_PERIOD`]).
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// Successful probes that close a half-open breaker (default 1).
    pub success_threshold: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            upcheck_interval: Duration::from_secs(2),
            failure_threshold: 3,
            cooldown: Duration::from_secs(5),
            success_threshold: 1,
        }
    }
}

/// The cache of built payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayloadCacheConfig {
    /// Entries kept, least recently used evicted first (default 64; 1 to
    /// [`MAX_PAYLOAD_CACHE_CAPACITY`]).
    pub capacity: usize,
    /// Age after which an entry is dropped (default 60 s).
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for PayloadCacheConfig {
    fn default() -> Self {
        Self { capacity: 64, ttl: Duration::from_secs(60) }
    }
}

/// The bitcoin network whose addresses peg-outs must use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitcoinNetwork {
    /// `bc1…`, `1…`, `3…`
    Mainnet,
    /// `tb1…`, `m…`/`n…`, `2…`
    Testnet,
    /// `tb1…` like testnet.
    Signet,
    /// `bcrt1…`, `m…`/`n…`, `2…` (default: development chains).
    #[default]
    Regtest,
}

/// Facts about the chain being driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
    /// EIP-155 chain id (default 121212, the dev chain; main is 727272).
    pub chain_id: u64,
    /// Fork activation timestamps (default: Shanghai from genesis, as deployed).
    pub fork_schedule: ForkSchedule,
    /// Fee recipient of produced blocks (default `0x…dEaD`: fees are burned).
    pub fee_recipient: Address,
    /// Time between slots (default 2 s, the dev value; main uses 5 s).
    #[serde(with = "humantime_serde")]
    pub slot_duration: Duration,
    /// The bridge contract that emits `RequestPegOut` (default `0xbBbB…BbB`).
    pub bridge_address: Address,
    /// Smallest payable peg-out in sats (default 1,000,000).
    pub min_pegout_sats: u64,
    /// The bitcoin network of peg-out addresses (default regtest).
    pub bitcoin_network: BitcoinNetwork,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            chain_id: CHAIN_ID_DEV,
            fork_schedule: ForkSchedule::default(),
            fee_recipient: DEAD_ADDRESS,
            slot_duration: SLOT_DURATION_DEV,
            bridge_address: BRIDGE_ADDRESS,
            min_pegout_sats: MIN_PEGOUT_SATS,
            bitcoin_network: BitcoinNetwork::default(),
        }
    }
}

/// One problem in a configuration, with the path of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path, e.g. `engine.endpoints[1].engine_url`.
    pub path: String,
    /// What is wrong, e.g. `not a URL: relative URL without a base`.
    pub problem: String,
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration problem(s):", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  {}: {}", p.path, p.problem)?;
        }
        Ok(())
    }
}

/// Collects problems under a path prefix.
#[derive(Debug, Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn check(&mut self, ok: bool, path: impl Into<String>, problem: impl Into<String>) {
        if !ok {
            self.0.push(ConfigProblem { path: path.into(), problem: problem.into() });
        }
    }

    fn url(&mut self, path: String, value: &str) {
        match url::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => {
                self.check(false, path, format!("scheme `{}` is not http or https", u.scheme()))
            }
            Err(e) => self.check(false, path, format!("not a URL: {e}")),
        }
    }

    fn positive(&mut self, path: &str, d: Duration) {
        self.check(!d.is_zero(), path, "must be greater than zero");
    }

    /// `d` is at most `max` (zero allowed).
    fn at_most(&mut self, path: &str, d: Duration, max: Duration) {
        self.check(d <= max, path, format!("{d:?} is longer than the maximum {max:?}"));
    }

    /// `d` is greater than zero and at most `max`; `false` when it is not.
    fn within(&mut self, path: &str, d: Duration, max: Duration) -> bool {
        self.positive(path, d);
        self.at_most(path, d, max);
        !d.is_zero() && d <= max
    }
}

impl Config {
    /// Every problem in the configuration, or `Ok` when there is none; among them, request
    /// budgets ([`EngineConfig::build_budget`], [`EngineConfig::commit_budget`], …) that
    /// overflow or make a slot longer than [`MAX_SLOT_BUDGET`], and values that cannot work:
    /// a zero duration, count or capacity, a timeout or backoff beyond [`MAX_CALL_TIMEOUT`],
    /// a period beyond [`MAX_PERIOD`], a cache beyond [`MAX_PAYLOAD_CACHE_CAPACITY`] or a
    /// response limit beyond [`MAX_RESPONSE_BYTES_LIMIT`].
    ///
    /// What it accepts can be used as is: every budget is `Some` and nonzero, and every
    /// configured period added to `Instant::now()` is representable.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut p = Problems::default();
        self.engine.collect(&mut p);
        self.chain.collect(&mut p);
        p.check(
            // A zero slot is reported as such above.
            self.chain.slot_duration.is_zero()
                || self.engine.build_lookahead < self.chain.slot_duration,
            "engine.build_lookahead",
            format!(
                "{:?} is not shorter than chain.slot_duration ({:?}): every block would be \
                 collected after its slot ended",
                self.engine.build_lookahead, self.chain.slot_duration
            ),
        );
        if p.0.is_empty() { Ok(()) } else { Err(ConfigErrors(p.0)) }
    }
}

impl EngineConfig {
    fn collect(&self, p: &mut Problems) {
        p.check(!self.endpoints.is_empty(), "engine.endpoints", "at least one endpoint is needed");
        let mut names = Vec::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let at = format!("engine.endpoints[{i}]");
            p.url(format!("{at}.engine_url"), &e.engine_url);
            if let Some(public) = &e.public_url {
                p.url(format!("{at}.public_url"), public);
            }
            if let Some(proxy) = &e.proxy {
                match url::Url::parse(proxy) {
                    Ok(u) if matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") => {}
                    Ok(u) => p.check(
                        false,
                        format!("{at}.proxy"),
                        format!("scheme `{}` is not http, https or socks5", u.scheme()),
                    ),
                    // The URL may carry credentials: name the problem, not the value.
                    Err(e) => p.check(false, format!("{at}.proxy"), format!("not a URL: {e}")),
                }
            }
            p.check(
                e.jwt_secret_file.is_some(),
                format!("{at}.jwt_secret_file"),
                "required: the Engine API needs the EL's JWT secret",
            );
            let name = e.name.clone().unwrap_or_else(|| e.engine_url.clone());
            p.check(
                !names.contains(&name),
                format!("{at}.name"),
                format!("`{name}` is used twice"),
            );
            names.push(name);
        }
        let t = &self.timeouts;
        let mut timeouts_bounded = true;
        for (field, d) in [
            ("forkchoice_updated", t.forkchoice_updated),
            ("get_payload", t.get_payload),
            ("new_payload", t.new_payload),
            ("exchange_capabilities", t.exchange_capabilities),
            ("get_client_version", t.get_client_version),
            ("get_payload_bodies", t.get_payload_bodies),
            ("eth", t.eth),
        ] {
            timeouts_bounded &= p.within(&format!("engine.timeouts.{field}"), d, MAX_CALL_TIMEOUT);
        }
        let r = &self.retry;
        p.check(r.max_attempts >= 1, "engine.retry.max_attempts", "must be at least 1");
        p.check(
            r.initial_backoff <= r.max_backoff,
            "engine.retry.initial_backoff",
            "must not exceed max_backoff",
        );
        p.at_most("engine.retry.max_backoff", r.max_backoff, MAX_CALL_TIMEOUT);
        p.check(
            (0.0..=1.0).contains(&r.jitter),
            "engine.retry.jitter",
            format!("{} is not between 0 and 1", r.jitter),
        );
        let h = &self.health;
        p.within("engine.health.upcheck_interval", h.upcheck_interval, MAX_PERIOD);
        p.within("engine.health.cooldown", h.cooldown, MAX_PERIOD);
        p.check(h.failure_threshold >= 1, "engine.health.failure_threshold", "must be at least 1");
        p.check(h.success_threshold >= 1, "engine.health.success_threshold", "must be at least 1");
        p.check(
            (1024..=MAX_RESPONSE_BYTES_LIMIT).contains(&self.max_response_bytes),
            "engine.max_response_bytes",
            format!("must be between 1024 and {MAX_RESPONSE_BYTES_LIMIT}"),
        );
        p.check(
            (1..=MAX_PAYLOAD_CACHE_CAPACITY).contains(&self.payload_cache.capacity),
            "engine.payload_cache.capacity",
            format!("must be between 1 and {MAX_PAYLOAD_CACHE_CAPACITY}"),
        );
        p.within("engine.payload_cache.ttl", self.payload_cache.ttl, MAX_PERIOD);
        p.at_most("engine.build_lookahead", self.build_lookahead, MAX_CALL_TIMEOUT);
        // Out-of-range timeouts are reported above; budgets are only computed from sane ones.
        if timeouts_bounded {
            self.collect_budgets(p);
        }
    }
}

impl ChainConfig {
    fn collect(&self, p: &mut Problems) {
        p.check(self.chain_id != 0, "chain.chain_id", "must not be zero");
        p.within("chain.slot_duration", self.slot_duration, MAX_PERIOD);
        for problem in self.fork_schedule.problems() {
            p.check(false, "chain.fork_schedule", problem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Config {
        let mut c = Config::default();
        c.engine.endpoints[0].jwt_secret_file = Some("/tmp/jwt.hex".into());
        c
    }

    /// The defaults plus a secret file are a valid configuration.
    #[test]
    fn defaults_with_a_secret_are_valid() {
        valid().validate().unwrap();
        assert!(Config::default().validate().is_err(), "a JWT secret file is required");
    }

    /// Every problem is reported at once, each with its field path.
    #[test]
    fn reports_every_problem_with_its_path() {
        let mut c = valid();
        c.engine.endpoints.push(EndpointConfig {
            engine_url: "not a url".into(),
            public_url: Some("ftp://x".into()),
            ..EndpointConfig::default()
        });
        c.engine.retry.jitter = 2.0;
        c.chain.slot_duration = Duration::ZERO;
        let err = c.validate().unwrap_err();
        let paths: Vec<_> = err.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "engine.endpoints[1].engine_url",
                "engine.endpoints[1].public_url",
                "engine.endpoints[1].jwt_secret_file",
                "engine.retry.jitter",
                "chain.slot_duration",
            ]
        );
        let text = err.to_string();
        assert!(text.starts_with("5 configuration problem(s):"), "{text}");
        assert!(text.contains("engine.endpoints[1].engine_url: not a URL"), "{text}");
        assert!(
            text.contains("engine.endpoints[1].public_url: scheme `ftp` is not http or https"),
            "{text}"
        );
    }

    /// An endpoint's proxy must be an http, https or socks5 URL; the problem is named
    /// without repeating the value (it may carry credentials).
    #[test]
    fn endpoint_proxy_is_checked_without_echoing_it() {
        let mut c = valid();
        c.engine.endpoints[0].proxy = Some("socks5://user:secret@127.0.0.1:1080".into());
        c.validate().unwrap();
        c.engine.endpoints[0].proxy = Some("ftp://user:secret@host".into());
        let err = c.validate().unwrap_err();
        assert_eq!(err.0[0].path, "engine.endpoints[0].proxy");
        assert!(!err.to_string().contains("secret"), "{err}");
        c.engine.endpoints[0].proxy = Some("not a url with secret".into());
        let err = c.validate().unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    /// Two endpoints with the same name would make metrics and logs ambiguous.
    #[test]
    fn duplicate_endpoint_names_are_refused() {
        let mut c = valid();
        c.engine.endpoints.push(c.engine.endpoints[0].clone());
        let err = c.validate().unwrap_err();
        assert_eq!(err.0[0].path, "engine.endpoints[1].name");
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// One call's worst case: every attempt times out with the capped, doubling backoff in
    /// between, unless `max_elapsed` stops the retries first.
    #[test]
    fn call_budget_follows_the_retry_policy() {
        let mut r = RetryConfig::default();
        assert_eq!(r.call_budget(secs(1.0)), Some(secs(3.3)), "3 × 1 s + 100 ms + 200 ms");
        assert_eq!(r.call_budget(secs(8.0)), Some(secs(18.0)), "capped at 10 s + 8 s");
        r.max_attempts = 1;
        assert_eq!(r.call_budget(secs(8.0)), Some(secs(8.0)), "no retry: one timeout");
        r.max_attempts = 0;
        assert_eq!(r.call_budget(secs(8.0)), Some(secs(8.0)), "0 attempts still make one");
        r = RetryConfig {
            max_attempts: 6,
            initial_backoff: secs(1.0),
            max_backoff: secs(2.0),
            max_elapsed: Duration::from_secs(3600),
            jitter: 0.5,
        };
        // 6 × 1 s + 1 + 2 + 2 + 2 + 2 (the delay doubles once, then stays at the cap)
        assert_eq!(r.call_budget(secs(1.0)), Some(secs(15.0)));
        r.initial_backoff = Duration::ZERO;
        assert_eq!(r.call_budget(secs(1.0)), Some(secs(6.0)), "no backoff, no delay");
        // Billions of attempts are bounded by max_elapsed, without overflowing on the way.
        r.max_attempts = u32::MAX;
        r.initial_backoff = secs(1.0);
        assert_eq!(r.call_budget(secs(1.0)), Some(secs(3601.0)));
        r.max_elapsed = Duration::MAX;
        assert_eq!(r.call_budget(Duration::MAX), None, "overflows every way");
    }

    /// The build, commit and forkchoice budgets of the defaults, for one endpoint and for
    /// two (which are each asked once, in rank order for builds, in parallel for commits).
    #[test]
    fn budgets_of_the_defaults() {
        let mut e = valid().engine;
        // fcU 8 + call(getPayload 1 s) 3.3 + call(eth 5 s) 15 + 1
        assert_eq!(e.build_budget(), Some(secs(27.3)));
        // 2 × call(np) 18 + 2 replayed × 18 + call(fcU) 18 + 15 + 1
        assert_eq!(e.commit_budget(), Some(secs(106.0)));
        // call(fcU) 18 + 15 + 1
        assert_eq!(e.forkchoice_budget(), Some(secs(34.0)));
        // commit 106 + 2 × 15 + 1
        assert_eq!(e.what_landed_budget(), Some(secs(137.0)));
        e.endpoints.push(EndpointConfig { name: Some("standby".into()), ..e.endpoints[0].clone() });
        // 2 × (8 + 1) + 15 + 1
        assert_eq!(e.build_budget(), Some(secs(34.0)));
        // 4 × 8 + 8 + 15 + 1
        assert_eq!(e.commit_budget(), Some(secs(56.0)));
        assert_eq!(e.forkchoice_budget(), Some(secs(24.0)));
    }

    /// Budgets follow the timeouts: a fast configuration gets short ones.
    #[test]
    fn budgets_follow_the_timeouts() {
        let mut c = valid();
        let ms = Duration::from_millis;
        c.engine.timeouts.forkchoice_updated = ms(200);
        c.engine.timeouts.get_payload = ms(100);
        c.engine.timeouts.new_payload = ms(300);
        c.engine.timeouts.eth = ms(100);
        c.engine.retry.max_attempts = 1;
        assert_eq!(c.engine.build_budget(), Some(ms(200 + 100 + 100 + 1000)));
        assert_eq!(c.engine.commit_budget(), Some(ms(4 * 300 + 200 + 100 + 1000)));
        c.validate().unwrap();
    }

    /// The build lookahead is spent once per endpoint tried, so it is in the build budget;
    /// it must leave the slot room to collect and commit the block, and it is read as a
    /// human-readable duration.
    #[test]
    fn build_lookahead_is_budgeted_and_shorter_than_the_slot() {
        let ms = Duration::from_millis;
        let mut c = valid();
        let without = c.engine.build_budget().unwrap();
        c.engine.build_lookahead = ms(600);
        assert_eq!(c.engine.build_budget(), Some(without + ms(600)));
        c.engine
            .endpoints
            .push(EndpointConfig { name: Some("standby".into()), ..c.engine.endpoints[0].clone() });
        // 2 × (8 + 0.6 + 1) + 15 + 1
        assert_eq!(c.engine.build_budget(), Some(secs(35.2)));
        c.validate().unwrap();

        c.engine.build_lookahead = c.chain.slot_duration;
        let err = c.validate().unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].path, "engine.build_lookahead");
        assert!(err.0[0].problem.contains("not shorter than chain.slot_duration (2s)"), "{err}");

        c.chain.slot_duration = MAX_PERIOD;
        c.engine.build_lookahead = MAX_CALL_TIMEOUT + ms(1);
        let err = c.validate().unwrap_err();
        assert_eq!(err.0[0].path, "engine.build_lookahead", "{err}");
        assert!(err.0[0].problem.contains("longer than the maximum 600s"), "{err}");

        let c: Config = serde_json::from_str(r#"{"engine":{"build_lookahead":"650ms"}}"#).unwrap();
        assert_eq!(c.engine.build_lookahead, ms(650));
    }

    /// A timeout beyond MAX_CALL_TIMEOUT is named (and no budget is computed from it); a
    /// slot that could wait longer than MAX_SLOT_BUDGET is refused with both budgets in the
    /// message.
    #[test]
    fn budget_problems_are_named() {
        let mut c = valid();
        c.engine.timeouts.new_payload = Duration::MAX;
        c.engine.retry.max_elapsed = Duration::MAX;
        let err = c.validate().unwrap_err();
        let paths: Vec<_> = err.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["engine.timeouts.new_payload"], "{err}");
        assert!(err.to_string().contains("longer than the maximum 600s"), "{err}");

        let mut c = valid();
        c.engine.retry.max_attempts = 100;
        c.engine.retry.max_elapsed = Duration::from_secs(3600);
        let err = c.validate().unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].path, "engine.timeouts");
        assert!(err.0[0].problem.starts_with("a slot could wait"), "{err}");
        assert!(err.0[0].problem.contains("more than 600s"), "{err}");
    }

    /// A config file names only what it changes; durations are human-readable; unknown
    /// fields are refused rather than silently ignored.
    #[test]
    fn partial_json_fills_defaults() {
        let c: Config = serde_json::from_str(
            r#"{"engine":{"timeouts":{"get_payload":"250ms"}},"chain":{"chain_id":727272,"fork_schedule":{"shanghai":0,"cancun":1700000000}}}"#,
        )
        .unwrap();
        assert_eq!(c.engine.timeouts.get_payload, Duration::from_millis(250));
        assert_eq!(c.engine.timeouts.new_payload, Duration::from_secs(8));
        assert_eq!(c.chain.chain_id, 727_272);
        assert_eq!(c.chain.fork_schedule.cancun, Some(1_700_000_000));
        assert_eq!(c.chain.fee_recipient, DEAD_ADDRESS);
        assert!(serde_json::from_str::<Config>(r#"{"engine":{"typo":1}}"#).is_err());
    }
}
