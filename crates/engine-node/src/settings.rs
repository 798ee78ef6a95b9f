//! What a run uses, resolved once at start from (lowest to highest precedence) the built-in
//! defaults, the `--config` TOML file, `ALYS_ENGINE_*` variables and flags: the engine
//! configuration, which execution layer to drive (the embedded devnet or real clients), the
//! genesis facts (chain id, fork schedule), the node's own config sections (`[server]`,
//! `[supervision]`, `[engine_actor]`) and the node's own run flags.

mod actor_section;

use crate::{
    actors::chain::ChainTimeouts, cli::RunArgs, error::NodeError, jwt,
    server::limits::ServerLimits, tree::SupervisionSettings,
};
use alloy_genesis::Genesis;
use engine_actor::client::urls::redact_url;
use engine_types::jwt::JwtSecret;
use engine_types::{
    ForkSchedule,
    config::{Config, EndpointConfig},
};
use std::path::{Path, PathBuf};

pub(crate) use actor_section::EngineActorSettings;
#[cfg(test)]
pub(crate) use actor_section::{DEVNET_INDEX_RECOVERY_DEPTH, MAX_INDEX_RECOVERY_DEPTH};

/// The default configuration as commented TOML (`engine-node config print-default`).
/// A test checks that it parses to exactly `Config::default()` and names every field.
pub(crate) const DEFAULT_CONFIG_TOML: &str = r#"# Alys engine configuration (engine-node --config engine.toml).
# Every field is optional: a file names only what it changes. Flags and ALYS_ENGINE_*
# environment variables override it. Durations read like "250ms", "2s", "1m".

[engine]
# Largest response body accepted from an execution client, in bytes (64 MiB).
max_response_bytes = 67108864
# Time between sending a block's payload attributes (forkchoiceUpdated) and collecting it
# (getPayload), for the execution client to fill it; shorter than chain.slot_duration;
# --build-lookahead overrides it. 0 suits EthereumJS and the embedded devnet, which fill
# the block before they answer. Geth and Reth answer with an empty block built and fill it
# in the background: collected at once, a block from them carries no transactions. Give
# them time, e.g. a third of the slot ("600ms" with 2s slots).
build_lookahead = "0s"

# Execution clients, best first: builds go to the best healthy one, commits to all.
# Without any, and without --engine-url, the node runs an embedded devnet instead.
# [[engine.endpoints]]
# name = "geth"                              # for logs and metrics (default: the URL)
# engine_url = "http://127.0.0.1:8551"       # authenticated Engine API
# public_url = "http://127.0.0.1:8545"       # eth_* calls (default: engine_url)
# jwt_secret_file = "/var/lib/geth/geth/jwtsecret"
# jwt_id = "alys"                            # optional `id` claim
# proxy = "socks5://127.0.0.1:1080"          # default none; HTTP(S)_PROXY is ignored
# tls_ca_bundle = "/etc/alys/el-ca.pem"      # extra roots for an https:// client

[engine.timeouts]
# Per-method timeouts; the defaults are the Engine API specification's minimums.
forkchoice_updated = "8s"
get_payload = "1s"
new_payload = "8s"
exchange_capabilities = "1s"
get_client_version = "1s"
get_payload_bodies = "10s"
eth = "5s"

[engine.retry]
# Retries of calls that are safe to repeat (never of auth failures or INVALID verdicts).
max_attempts = 3            # attempts in all, the first included (1 disables retries)
initial_backoff = "100ms"   # doubles after each attempt
max_backoff = "2s"
max_elapsed = "10s"         # no retry starts after this much time
jitter = 0.2                # random share of each delay, 0 to 1

[engine.health]
upcheck_interval = "2s"     # eth_syncing + capabilities of each endpoint
failure_threshold = 3       # consecutive failures that open the circuit breaker
cooldown = "5s"             # before an open breaker lets a probe through
success_threshold = 1       # successful probes that close it again

[engine.payload_cache]
capacity = 64               # built payloads kept for GetPayload and replay
ttl = "1m"

[chain]
# Read from --genesis when given (chain id and fork schedule).
chain_id = 121212           # 727272 on the main network
fee_recipient = "0x000000000000000000000000000000000000dEaD"   # fees are burned
slot_duration = "2s"        # 5s on the main network; --slot-time overrides it
bridge_address = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"
min_pegout_sats = 1000000   # smaller peg-outs are burned but not paid out
bitcoin_network = "regtest" # mainnet, testnet, signet or regtest

[chain.fork_schedule]
# Activation timestamps; leave a fork out for "never".
shanghai = 0
# cancun = 1710338135
# prague = 1746612311

[server]
# The operator server (--metrics-addr) and the transaction endpoint (--tx-addr). A client
# over a limit gets an answer (503, 429, 413 or 408), never a silent drop. Upper bounds:
# timeouts 10m, connections and in flight 65536, body 16 MiB, burst 1000000, rate 0.001
# to 1000000 a second.
header_timeout = "5s"            # to send a request's headers (idle kept-alive connections too)
request_timeout = "20s"          # for a whole request; longer than the engine's 15s verdict
operator_max_connections = 64
tx_max_connections = 256
tx_max_body_bytes = 307200       # 300 KiB: a 128 KiB transaction in hex, with its envelope
tx_max_in_flight = 64            # transactions being checked at once, all clients together
tx_rate_burst = 256              # all clients together, on top of each one's own limit
tx_rate_per_second = 64.0

[engine_actor]
# The engine actor's queues. A request beyond either is refused as busy at once (the
# caller retries), never left waiting.
job_queue = 64              # forkchoice jobs waiting for the worker; 1 to 4096
max_tasks = 128             # queries and transaction checks at once; 1 to 65536
# How far back the withdrawal index is searched when it must be recovered from the chain,
# up to 1048576; the embedded devnet keeps this many blocks plus 256 in memory.
# Default 8192 against execution clients, 1024 on the embedded devnet.
# index_recovery_depth = 8192

[supervision.intensity]
# A supervisor that restarts its actors more than max_restarts times within `within` gives
# up and escalates to its parent; when the root gives up, the node exits (code 3).
max_restarts = 5            # at least 1
within = "1m"

[supervision.backoff]
# The delay before a restart: initial, times factor for each failure in a row, at most
# max, spread by +/- jitter; an actor that ran reset_after starts over from initial.
initial = "100ms"
factor = 2.0
max = "30s"
jitter = 0.1
reset_after = "1m"
"#;

/// A real execution client, its secret read and checked.
#[derive(Debug, Clone)]
pub(crate) struct ExternalEndpoint {
    /// Its name in logs.
    pub(crate) name: String,
    /// Engine API URL.
    pub(crate) engine_url: String,
    /// The secret file.
    pub(crate) jwt_path: PathBuf,
    /// The secret (redacted in `Debug`).
    pub(crate) secret: JwtSecret,
}

/// Which execution layer the node drives.
#[derive(Debug, Clone)]
pub(crate) enum ElMode {
    /// The embedded devnet, started from this genesis.
    Devnet {
        /// The devnet's genesis.
        genesis: Box<Genesis>,
    },
    /// Real execution clients, best first.
    External {
        /// The endpoints (their configs are in `Settings::config.engine.endpoints`).
        endpoints: Vec<ExternalEndpoint>,
    },
}

/// Everything a run uses.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The engine configuration (endpoints filled in once the devnet runs).
    pub(crate) config: Config,
    /// The execution layer.
    pub(crate) mode: ElMode,
    /// Where the expected chain id comes from, for error messages.
    pub(crate) chain_source: String,
    /// The limits of the operator server and the transaction endpoint (`[server]`).
    pub(crate) server: ServerLimits,
    /// How the supervision tree restarts failed actors (`[supervision]`).
    pub(crate) supervision: SupervisionSettings,
    /// The engine actor's queue bounds (`[engine_actor]`).
    pub(crate) engine_actor: EngineActorSettings,
    /// The node's own flags.
    pub(crate) run: RunArgs,
}

impl Settings {
    /// Resolves the settings of a run.
    pub(crate) fn resolve(run: &RunArgs) -> Result<Self, NodeError> {
        let ConfigFile { mut config, server, supervision, engine_actor, has_endpoints } =
            match &run.config {
                Some(path) => load_config(path)?,
                None => ConfigFile::default(),
            };
        let cli_error = |reason: String| NodeError::Config {
            source_name: "given on the command line".into(),
            reason,
        };
        if !run.engine_urls.is_empty() {
            config.engine.endpoints = cli_endpoints(run).map_err(cli_error)?;
        } else if !run.jwt_secrets.is_empty() || !run.public_urls.is_empty() {
            return Err(cli_error(
                "--jwt-secret and --public-url describe an --engine-url, and none is given".into(),
            ));
        }
        let external = !run.engine_urls.is_empty() || has_endpoints;
        let mut chain_source = match &run.config {
            Some(path) => format!("chain.chain_id in {}", path.display()),
            None => "the default chain id".to_string(),
        };
        let genesis = match &run.genesis {
            Some(path) => {
                let genesis = load_genesis(path)?;
                config.chain.chain_id = genesis.config.chain_id;
                config.chain.fork_schedule = fork_schedule(&genesis);
                chain_source = format!("the genesis {}", path.display());
                Some(genesis)
            }
            None => None,
        };
        if let Some(slot) = run.slot_time {
            config.chain.slot_duration = slot;
        }
        if let Some(lookahead) = run.build_lookahead {
            config.engine.build_lookahead = lookahead;
        }
        let mode = if external {
            let endpoints = config
                .engine
                .endpoints
                .iter()
                .map(external_endpoint)
                .collect::<Result<Vec<_>, _>>()?;
            config.validate().map_err(|e| NodeError::Config {
                source_name: config_name(run),
                reason: e.to_string(),
            })?;
            ElMode::External { endpoints }
        } else {
            let genesis = match genesis {
                Some(genesis) => genesis,
                None => {
                    let genesis = engine_devnet::dev_genesis(config.chain.fork_schedule)
                        .map_err(|e| NodeError::Devnet { reason: e.to_string() })?;
                    config.chain.chain_id = genesis.config.chain_id;
                    chain_source = "the embedded devnet's genesis".into();
                    genesis
                }
            };
            ElMode::Devnet { genesis: Box::new(genesis) }
        };
        Ok(Self { config, mode, chain_source, server, supervision, engine_actor, run: run.clone() })
    }

    /// Points the configuration at the running devnet and validates it.
    pub(crate) fn use_devnet(
        &mut self,
        engine_url: String,
        public_url: String,
        jwt: PathBuf,
    ) -> Result<(), NodeError> {
        self.config.engine.endpoints = vec![EndpointConfig {
            name: Some("devnet".into()),
            engine_url,
            public_url: Some(public_url),
            jwt_secret_file: Some(jwt),
            jwt_id: None,
            ..EndpointConfig::default()
        }];
        self.config.validate().map_err(|e| NodeError::Config {
            source_name: config_name(&self.run),
            reason: e.to_string(),
        })
    }

    /// How long the Chain waits for each engine request: the engine's budgets for the
    /// configured timeouts, retries and endpoints (`EngineConfig::build_budget`,
    /// `commit_budget`, `what_landed_budget`, `forkchoice_budget`), never a fixed guess, so
    /// the Chain does not give up on work the engine is still doing. Call once the
    /// endpoints are final (after [`Self::use_devnet`]).
    pub(crate) fn chain_timeouts(&self) -> Result<ChainTimeouts, NodeError> {
        ChainTimeouts::from_engine(&self.config.engine).ok_or_else(|| NodeError::Config {
            source_name: config_name(&self.run),
            reason: "engine.timeouts: the build or commit budget overflows".into(),
        })
    }

    /// Whether the embedded devnet runs.
    #[cfg(test)]
    pub(crate) const fn is_devnet(&self) -> bool {
        matches!(self.mode, ElMode::Devnet { .. })
    }
}

fn config_name(run: &RunArgs) -> String {
    run.config.as_ref().map_or_else(
        || "given on the command line".to_string(),
        |p| format!("file {}", p.display()),
    )
}

/// What a config file sets.
#[derive(Debug, Default)]
pub(crate) struct ConfigFile {
    /// engine-types' configuration (every section but the node's own).
    pub(crate) config: Config,
    /// `[server]`.
    pub(crate) server: ServerLimits,
    /// `[supervision]`.
    pub(crate) supervision: SupervisionSettings,
    /// `[engine_actor]`.
    pub(crate) engine_actor: EngineActorSettings,
    /// Whether it names endpoints itself (then the node drives them instead of the devnet).
    pub(crate) has_endpoints: bool,
}

/// Reads and checks a config file.
pub(crate) fn load_config(path: &Path) -> Result<ConfigFile, NodeError> {
    let error = |reason: String| NodeError::Config {
        source_name: format!("file {}", path.display()),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    parse_config(&text).map_err(error)
}

/// A section of the config file that is the node's own: taken out of the file before the
/// rest is read as engine-types' `Config` (which refuses unknown sections).
trait NodeSection: serde::de::DeserializeOwned + Default {
    /// Its name in the file.
    const NAME: &'static str;
    /// Every problem of its values, each naming its field; empty when usable.
    fn problems(&self) -> Vec<String>;
}

impl NodeSection for ServerLimits {
    const NAME: &'static str = "server";
    fn problems(&self) -> Vec<String> {
        Self::problems(self)
    }
}

impl NodeSection for SupervisionSettings {
    const NAME: &'static str = "supervision";
    fn problems(&self) -> Vec<String> {
        Self::problems(self)
    }
}

impl NodeSection for EngineActorSettings {
    const NAME: &'static str = "engine_actor";
    fn problems(&self) -> Vec<String> {
        Self::problems(self)
    }
}

/// Takes section `T` out of `table` and reads and checks it (its default when absent);
/// what is wrong with it goes to `problems`.
fn take_section<T: NodeSection>(table: &mut toml::Table, problems: &mut Vec<String>) -> T {
    let Some(section) = table.remove(T::NAME) else { return T::default() };
    match section.try_into::<T>() {
        Ok(value) => {
            problems.extend(value.problems());
            value
        }
        Err(e) => {
            problems.push(format!("[{}]: {e}", T::NAME));
            T::default()
        }
    }
}

/// [`load_config`] of a file's text: the node's own sections ([`NodeSection`]) are taken
/// out and checked, the rest is engine-types' `Config`. The problems of every section are
/// reported at once.
fn parse_config(text: &str) -> Result<ConfigFile, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    let server = take_section(&mut table, &mut problems);
    let supervision = take_section(&mut table, &mut problems);
    let engine_actor = take_section(&mut table, &mut problems);
    let has_endpoints = table
        .get("engine")
        .and_then(|engine| engine.get("endpoints"))
        .is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty()));
    match toml::Value::Table(table).try_into::<Config>() {
        Ok(config) if problems.is_empty() => {
            Ok(ConfigFile { config, server, supervision, engine_actor, has_endpoints })
        }
        Ok(_) => Err(problems.join("; ")),
        Err(e) => {
            problems.push(e.to_string());
            Err(problems.join("; "))
        }
    }
}

fn cli_endpoints(run: &RunArgs) -> Result<Vec<EndpointConfig>, String> {
    let n = run.engine_urls.len();
    let secret = |i: usize| match run.jwt_secrets.len() {
        1 => Ok(run.jwt_secrets[0].clone()),
        m if m == n => Ok(run.jwt_secrets[i].clone()),
        0 => Err("--engine-url needs --jwt-secret (the execution client's JWT secret file)".into()),
        m => Err(format!("{m} --jwt-secret files for {n} --engine-url: give one, or one per URL")),
    };
    if !run.public_urls.is_empty() && run.public_urls.len() != n {
        return Err(format!(
            "{} --public-url for {n} --engine-url: give none, or one per URL",
            run.public_urls.len()
        ));
    }
    (0..n)
        .map(|i| {
            Ok(EndpointConfig {
                name: None,
                engine_url: run.engine_urls[i].clone(),
                public_url: run.public_urls.get(i).cloned(),
                jwt_secret_file: Some(secret(i)?),
                jwt_id: None,
                ..EndpointConfig::default()
            })
        })
        .collect()
}

fn external_endpoint(e: &EndpointConfig) -> Result<ExternalEndpoint, NodeError> {
    let Some(path) = &e.jwt_secret_file else {
        return Err(NodeError::Config {
            source_name: "of the endpoints".into(),
            reason: format!("{} has no jwt_secret_file", redact_url(&e.engine_url)),
        });
    };
    Ok(ExternalEndpoint {
        // Shown in logs: a URL only without its credentials.
        name: e.name.clone().unwrap_or_else(|| redact_url(&e.engine_url)),
        engine_url: e.engine_url.clone(),
        jwt_path: path.clone(),
        secret: jwt::read_secret(path)?,
    })
}

/// Reads a geth-style genesis file.
pub(crate) fn load_genesis(path: &Path) -> Result<Genesis, NodeError> {
    let error = |reason: String| NodeError::Genesis { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| error(format!("not a geth-style genesis: {e}")))
}

/// The fork schedule a genesis `config` declares.
pub(crate) const fn fork_schedule(genesis: &Genesis) -> ForkSchedule {
    let c = &genesis.config;
    ForkSchedule { shanghai: c.shanghai_time, cancun: c.cancun_time, prague: c.prague_time }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn run(args: &[&str]) -> RunArgs {
        Cli::try_parse_from(std::iter::once("engine-node").chain(args.iter().copied())).unwrap().run
    }

    /// The printed template is the default configuration, field for field.
    #[test]
    fn template_is_the_default() {
        let file = parse_config(DEFAULT_CONFIG_TOML).unwrap();
        assert_eq!(file.config, Config::default());
        assert_eq!(file.server, ServerLimits::default());
        assert_eq!(file.supervision, SupervisionSettings::default());
        assert_eq!(file.engine_actor, EngineActorSettings::default());
        assert!(!file.has_endpoints);
    }

    /// Every field the defaults serialize also appears in the template (a new config field
    /// must be documented there).
    #[test]
    fn template_names_every_field() {
        fn keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
            for (k, v) in table {
                let path = format!("{prefix}{k}");
                match v {
                    toml::Value::Table(t) => keys(&format!("{path}."), t, out),
                    _ => out.push(path),
                }
            }
        }
        let mut defaults: toml::Table =
            toml::from_str(&toml::to_string(&Config::default()).unwrap()).unwrap();
        if let Some(toml::Value::Table(engine)) = defaults.get_mut("engine") {
            engine.remove("endpoints");
        }
        let server = toml::Table::try_from(ServerLimits::default()).unwrap();
        defaults.insert("server".into(), toml::Value::Table(server));
        let supervision = toml::Table::try_from(SupervisionSettings::default()).unwrap();
        defaults.insert("supervision".into(), toml::Value::Table(supervision));
        let engine_actor = toml::Table::try_from(EngineActorSettings::default()).unwrap();
        defaults.insert("engine_actor".into(), toml::Value::Table(engine_actor));
        let template: toml::Table = toml::from_str(DEFAULT_CONFIG_TOML).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        keys("", &defaults, &mut a);
        keys("", &template, &mut b);
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(DEFAULT_CONFIG_TOML.contains("# jwt_secret_file"));
    }

    /// The Chain's timeouts follow the configured engine timeouts (here a file's), not a
    /// constant.
    #[test]
    fn chain_timeouts_follow_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let files = engine_testkit::fixtures::JwtFiles::random().unwrap();
        let path = dir.path().join("engine.toml");
        std::fs::write(
            &path,
            format!(
                "[engine.timeouts]\nnew_payload = \"2s\"\n[engine.retry]\nmax_attempts = 1\n\
                 [[engine.endpoints]]\nengine_url = \"http://127.0.0.1:8551\"\n\
                 jwt_secret_file = {:?}\n",
                files.valid()
            ),
        )
        .unwrap();
        let s = Settings::resolve(&run(&["--config", path.to_str().unwrap()])).unwrap();
        let t = s.chain_timeouts().unwrap();
        assert_eq!(Some(t.commit), s.config.engine.commit_budget());
        assert_eq!(Some(t.build), s.config.engine.build_budget());
        // 4 × 2 s (newPayload, twice, and two replayed) + fcU 8 s + eth 5 s + 1 s: one
        // attempt each.
        assert_eq!(t.commit, std::time::Duration::from_secs(22));
    }

    /// `--build-lookahead` overrides the file, is spent inside the build budget, and must
    /// be shorter than the slot (the problem names the field and the slot).
    #[test]
    fn build_lookahead_from_the_command_line() {
        let files = engine_testkit::fixtures::JwtFiles::random().unwrap();
        let jwt = files.valid();
        let external = |lookahead: &str| {
            Settings::resolve(&run(&[
                "--engine-url",
                "http://127.0.0.1:8551",
                "--jwt-secret",
                jwt.to_str().unwrap(),
                "--slot-time",
                "2s",
                "--build-lookahead",
                lookahead,
            ]))
        };
        let s = external("600ms").unwrap();
        assert_eq!(s.config.engine.build_lookahead, std::time::Duration::from_millis(600));
        assert_eq!(Some(s.chain_timeouts().unwrap().build), s.config.engine.build_budget());
        let err = external("2s").unwrap_err().to_string();
        assert!(err.contains("engine.build_lookahead"), "{err}");
        assert!(err.contains("not shorter than chain.slot_duration (2s)"), "{err}");
    }

    /// No endpoint anywhere means the embedded devnet, with its genesis' chain id.
    #[test]
    fn no_endpoint_means_devnet() {
        let s = Settings::resolve(&run(&["--slot-time", "100ms"])).unwrap();
        assert!(s.is_devnet());
        assert_eq!(s.config.chain.chain_id, engine_types::constants::CHAIN_ID_DEV);
        assert_eq!(s.config.chain.slot_duration, std::time::Duration::from_millis(100));
    }

    /// Endpoints from the command line replace the file's, and one secret serves them all.
    #[test]
    fn cli_endpoints_with_a_shared_secret() {
        let files = engine_testkit::fixtures::JwtFiles::random().unwrap();
        let jwt = files.valid();
        let s = Settings::resolve(&run(&[
            "--engine-url",
            "http://127.0.0.1:8551,http://127.0.0.1:9551",
            "--jwt-secret",
            jwt.to_str().unwrap(),
        ]))
        .unwrap();
        let ElMode::External { endpoints } = &s.mode else { panic!("not external") };
        assert_eq!(endpoints.len(), 2);
        assert_eq!(endpoints[1].engine_url, "http://127.0.0.1:9551");
        assert_eq!(&endpoints[0].secret, files.secret());
    }

    /// Mismatched lists and a secret without a URL are refused with the flag named.
    #[test]
    fn inconsistent_flags_are_refused() {
        let err = Settings::resolve(&run(&["--jwt-secret", "/x"])).unwrap_err().to_string();
        assert!(err.contains("none is given"), "{err}");
        let err = Settings::resolve(&run(&["--engine-url", "http://a:1"])).unwrap_err();
        assert!(err.to_string().contains("needs --jwt-secret"), "{err}");
        let err = Settings::resolve(&run(&[
            "--engine-url",
            "http://a:1,http://b:1,http://c:1",
            "--jwt-secret",
            "/x,/y",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("2 --jwt-secret files for 3"), "{err}");
    }

    /// The `[server]` section sets the servers' limits; an unknown key or a bad value is
    /// refused with its name, and the rest of the file still reaches engine-types' checks.
    #[test]
    fn server_section_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.toml");
        let resolve = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Settings::resolve(&run(&["--config", path.to_str().unwrap()]))
        };
        let s = resolve("[server]\ntx_max_in_flight = 3\nheader_timeout = \"250ms\"\n").unwrap();
        assert_eq!(s.server.tx_max_in_flight, 3);
        assert_eq!(s.server.header_timeout, std::time::Duration::from_millis(250));
        assert_eq!(s.server.tx_max_connections, ServerLimits::default().tx_max_connections);
        let err = resolve("[server]\ntx_max_inflight = 3\n").unwrap_err().to_string();
        assert!(err.contains("tx_max_inflight"), "{err}");
        let err = resolve("[server]\ntx_max_body_bytes = 0\n").unwrap_err().to_string();
        assert!(err.contains("server.tx_max_body_bytes: must be greater than zero"), "{err}");
        let err = resolve("[servers]\n").unwrap_err().to_string();
        assert!(err.contains("servers"), "{err}");
        assert_eq!(Settings::resolve(&run(&[])).unwrap().server, ServerLimits::default());
    }

    /// `[supervision]` sets every supervisor's intensity and backoff (today's values by
    /// default); a limit of 0 restarts, an empty window or an unknown key is refused by name.
    #[test]
    fn supervision_section_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.toml");
        let resolve = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Settings::resolve(&run(&["--config", path.to_str().unwrap()]))
        };
        let s = resolve("[supervision.intensity]\nmax_restarts = 2\nwithin = \"10s\"\n").unwrap();
        assert_eq!(s.supervision.intensity.max_restarts, 2);
        assert_eq!(s.supervision.intensity.within, std::time::Duration::from_secs(10));
        assert_eq!(s.supervision.backoff, SupervisionSettings::default().backoff);
        let defaults = Settings::resolve(&run(&[])).unwrap().supervision;
        assert_eq!(defaults.intensity.max_restarts, 5);
        assert_eq!(defaults.intensity.within, std::time::Duration::from_secs(60));
        let err = resolve("[supervision.intensity]\nmax_restarts = 0\nwithin = \"0s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("supervision.intensity.max_restarts: must be at least 1"), "{err}");
        assert!(err.contains("supervision.intensity.within: must be longer than 0"), "{err}");
        let err = resolve("[supervision.backoff]\nfactr = 2.0\n").unwrap_err().to_string();
        assert!(err.contains("factr"), "{err}");
    }

    /// `[engine_actor]` sets the engine actor's queue bounds (engine-actor's by default);
    /// zero or a value past its bound is refused by name, together with the other
    /// sections' problems.
    #[test]
    fn engine_actor_section_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.toml");
        let resolve = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Settings::resolve(&run(&["--config", path.to_str().unwrap()]))
        };
        let s = resolve("[engine_actor]\njob_queue = 8\n").unwrap();
        assert_eq!(s.engine_actor.job_queue.get(), 8);
        assert_eq!(s.engine_actor.max_tasks, engine_actor::config::DEFAULT_MAX_TASKS);
        let defaults = Settings::resolve(&run(&[])).unwrap().engine_actor;
        assert_eq!(defaults, EngineActorSettings::default());
        let err = resolve("[engine_actor]\nmax_tasks = 0\n").unwrap_err().to_string();
        assert!(err.contains("[engine_actor]") && err.contains("max_tasks"), "{err}");
        let err = resolve("[engine_actor]\njob_queue = 4097\n[server]\ntx_max_in_flight = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("engine_actor.job_queue: 4097 is over the limit of 4096"), "{err}");
        assert!(err.contains("server.tx_max_in_flight: must be greater than zero"), "{err}");
        let err = resolve("[engine_actor]\njobqueue = 1\n").unwrap_err().to_string();
        assert!(err.contains("jobqueue"), "{err}");
    }

    /// A config file with endpoints drives them; its problems are all reported at once.
    #[test]
    fn config_file_endpoints_and_problems() {
        let dir = tempfile::tempdir().unwrap();
        let files = engine_testkit::fixtures::JwtFiles::random().unwrap();
        let path = dir.path().join("engine.toml");
        std::fs::write(
            &path,
            format!(
                "[[engine.endpoints]]\nengine_url = \"http://127.0.0.1:8551\"\njwt_secret_file = {:?}\n",
                files.valid()
            ),
        )
        .unwrap();
        let s = Settings::resolve(&run(&["--config", path.to_str().unwrap()])).unwrap();
        assert!(!s.is_devnet());
        std::fs::write(
            &path,
            format!(
                "[engine.retry]\njitter = 3.0\n[[engine.endpoints]]\nengine_url = \"x\"\njwt_secret_file = {:?}\n",
                files.valid()
            ),
        )
        .unwrap();
        let err = Settings::resolve(&run(&["--config", path.to_str().unwrap()])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("engine.endpoints[0].engine_url: not a URL"), "{text}");
        assert!(text.contains("engine.retry.jitter"), "{text}");
        std::fs::write(&path, "[[engine.endpoints]]\njwt_secret_file = \"/nope\"\n").unwrap();
        let err = Settings::resolve(&run(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(matches!(err, NodeError::JwtMissing { .. }), "{err}");
        std::fs::write(&path, "[engine]\ntypo = 1\n").unwrap();
        let err = Settings::resolve(&run(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("typo"), "{err}");
    }
}
