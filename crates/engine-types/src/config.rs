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
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            name: None,
            engine_url: DEFAULT_ENGINE_URL.to_string(),
            public_url: None,
            jwt_secret_file: None,
            jwt_id: None,
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

/// Endpoint health: periodic upchecks and the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Time between upchecks (`eth_syncing` + capabilities) of each endpoint (default 2 s).
    #[serde(with = "humantime_serde")]
    pub upcheck_interval: Duration,
    /// Consecutive failures that open the breaker (default 3).
    pub failure_threshold: u32,
    /// Time an open breaker waits before a half-open probe (default 5 s).
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
    /// Entries kept, least recently used evicted first (default 64).
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
}

impl Config {
    /// Every problem in the configuration, or `Ok` when there is none.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut p = Problems::default();
        self.engine.collect(&mut p);
        self.chain.collect(&mut p);
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
        for (field, d) in [
            ("forkchoice_updated", t.forkchoice_updated),
            ("get_payload", t.get_payload),
            ("new_payload", t.new_payload),
            ("exchange_capabilities", t.exchange_capabilities),
            ("get_client_version", t.get_client_version),
            ("get_payload_bodies", t.get_payload_bodies),
            ("eth", t.eth),
        ] {
            p.positive(&format!("engine.timeouts.{field}"), d);
        }
        let r = &self.retry;
        p.check(r.max_attempts >= 1, "engine.retry.max_attempts", "must be at least 1");
        p.check(
            r.initial_backoff <= r.max_backoff,
            "engine.retry.initial_backoff",
            "must not exceed max_backoff",
        );
        p.check(
            (0.0..=1.0).contains(&r.jitter),
            "engine.retry.jitter",
            format!("{} is not between 0 and 1", r.jitter),
        );
        let h = &self.health;
        p.positive("engine.health.upcheck_interval", h.upcheck_interval);
        p.check(h.failure_threshold >= 1, "engine.health.failure_threshold", "must be at least 1");
        p.check(h.success_threshold >= 1, "engine.health.success_threshold", "must be at least 1");
        p.check(
            self.max_response_bytes >= 1024,
            "engine.max_response_bytes",
            "must be at least 1024",
        );
        p.check(
            self.payload_cache.capacity >= 1,
            "engine.payload_cache.capacity",
            "must be at least 1",
        );
        p.positive("engine.payload_cache.ttl", self.payload_cache.ttl);
    }
}

impl ChainConfig {
    fn collect(&self, p: &mut Problems) {
        p.check(self.chain_id != 0, "chain.chain_id", "must not be zero");
        p.positive("chain.slot_duration", self.slot_duration);
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

    /// Two endpoints with the same name would make metrics and logs ambiguous.
    #[test]
    fn duplicate_endpoint_names_are_refused() {
        let mut c = valid();
        c.engine.endpoints.push(c.engine.endpoints[0].clone());
        let err = c.validate().unwrap_err();
        assert_eq!(err.0[0].path, "engine.endpoints[1].name");
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
