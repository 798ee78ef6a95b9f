//! The command line: every flag with its default and its `ALYS_ENGINE_*` environment
//! variable (a flag given on the command line wins over the variable, which wins over the
//! config file, which wins over the built-in default).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// One command produces blocks: with no arguments, an embedded devnet execution layer is
/// started and blocks are produced every slot until Ctrl-C. Point it at your own execution
/// clients with `--engine-url` and `--jwt-secret` (or a config file).
#[derive(Debug, Parser)]
#[command(name = "engine-node", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Something other than running the node.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// How to run the node.
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Configuration file helpers.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// `engine-node config …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigAction {
    /// Print the default configuration as commented TOML (a starting point for --config).
    PrintDefault,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The flags of a node run.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// Configuration file (engine_types' Config in TOML; see `engine-node config
    /// print-default`). Flags and environment variables override it.
    #[arg(long, value_name = "FILE", env = "ALYS_ENGINE_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Engine API URL of an execution client (JWT-authenticated; Geth and Reth listen on
    /// http://127.0.0.1:8551). Repeat for several clients, best first; without it the node
    /// runs an embedded devnet execution layer.
    #[arg(long = "engine-url", value_name = "URL", env = "ALYS_ENGINE_URL", value_delimiter = ',')]
    pub(crate) engine_urls: Vec<String>,

    /// JWT secret file of the execution client (64 hex characters), one per --engine-url in
    /// the same order, or one shared by all.
    #[arg(
        long = "jwt-secret",
        value_name = "FILE",
        env = "ALYS_ENGINE_JWT_SECRET",
        value_delimiter = ','
    )]
    pub(crate) jwt_secrets: Vec<PathBuf>,

    /// Public JSON-RPC URL of the execution client for eth_* calls (e.g.
    /// http://127.0.0.1:8545), one per --engine-url; default: the engine URL.
    #[arg(
        long = "public-url",
        value_name = "URL",
        env = "ALYS_ENGINE_PUBLIC_URL",
        value_delimiter = ','
    )]
    pub(crate) public_urls: Vec<String>,

    /// Geth-style genesis JSON: chain id and fork schedule are read from its `config`. With
    /// the embedded devnet it is also the devnet's genesis [default: a dev genesis with
    /// funded dev accounts and the bridge contract].
    #[arg(long, value_name = "FILE", env = "ALYS_ENGINE_GENESIS")]
    pub(crate) genesis: Option<PathBuf>,

    /// Directory of persisted state (engine state, execution data); a restart resumes from it.
    #[arg(
        long,
        value_name = "DIR",
        env = "ALYS_ENGINE_DATA_DIR",
        default_value = "alys-engine-data"
    )]
    pub(crate) data_dir: PathBuf,

    /// Set unusable state aside (a corrupt file, or engine state ahead of the stored blocks;
    /// renamed *.corrupt) and start without it.
    #[arg(long, env = "ALYS_ENGINE_START_FRESH")]
    pub(crate) start_fresh: bool,

    /// Time between slots, e.g. 2s or 250ms [default: 2s, or chain.slot_duration of --config].
    #[arg(long, value_name = "DURATION", env = "ALYS_ENGINE_SLOT_TIME", value_parser = parse_duration)]
    pub(crate) slot_time: Option<Duration>,

    /// Time between sending a block's payload attributes and collecting it, for the
    /// execution client to fill it, e.g. 600ms; shorter than the slot. Geth and Reth need
    /// it: collected at once, their block is empty [default: 0, or engine.build_lookahead
    /// of --config].
    #[arg(long, value_name = "DURATION", env = "ALYS_ENGINE_BUILD_LOOKAHEAD", value_parser = parse_duration)]
    pub(crate) build_lookahead: Option<Duration>,

    /// Stop after producing this many blocks [default: run until Ctrl-C].
    #[arg(long, value_name = "N", env = "ALYS_ENGINE_BLOCKS")]
    pub(crate) blocks: Option<u64>,

    /// After --blocks is reached, stop producing but keep serving /metrics and /status
    /// until Ctrl-C or SIGTERM.
    #[arg(long, env = "ALYS_ENGINE_STAY_UP")]
    pub(crate) stay_up: bool,

    /// Finalize the head every K blocks (0: never).
    #[arg(long, value_name = "K", env = "ALYS_ENGINE_FINALIZE_EVERY", default_value_t = 4)]
    pub(crate) finalize_every: u64,

    /// Simulated peg-ins queued per slot (embedded devnet only; 0: none).
    #[arg(long, value_name = "N", env = "ALYS_ENGINE_PEG_INS_PER_SLOT", default_value_t = 2)]
    pub(crate) peg_ins_per_slot: u32,

    /// Send a peg-out transaction to the bridge every N blocks (embedded devnet only; 0: never).
    #[arg(long, value_name = "N", env = "ALYS_ENGINE_PEG_OUT_EVERY", default_value_t = 5)]
    pub(crate) peg_out_every: u64,

    /// Print a summary line every N blocks (0: never).
    #[arg(long, value_name = "N", env = "ALYS_ENGINE_SUMMARY_EVERY", default_value_t = 10)]
    pub(crate) summary_every: u64,

    /// Log line format.
    #[arg(long, value_enum, env = "ALYS_ENGINE_LOG_FORMAT", default_value = "text")]
    pub(crate) log_format: LogFormat,

    /// Address of the operator server (/metrics, /healthz, /readyz, /status); port 0 picks a
    /// free port and logs it.
    #[arg(
        long,
        value_name = "ADDR",
        env = "ALYS_ENGINE_METRICS_ADDR",
        default_value = "127.0.0.1:9100"
    )]
    pub(crate) metrics_addr: SocketAddr,

    /// Address of the transaction endpoint (JSON-RPC eth_sendRawTransaction, checked by the
    /// engine before it reaches the execution client); port 0 picks a free port and logs it.
    #[arg(
        long,
        value_name = "ADDR",
        env = "ALYS_ENGINE_TX_ADDR",
        default_value = "127.0.0.1:9545"
    )]
    pub(crate) tx_addr: SocketAddr,

    /// OTLP/HTTP endpoint to export traces to, e.g. http://127.0.0.1:4318/v1/traces
    /// [default: off].
    #[arg(long, value_name = "URL", env = "ALYS_ENGINE_OTLP_ENDPOINT")]
    pub(crate) otlp_endpoint: Option<String>,

    /// Exit at once when an execution client is unreachable at start, instead of retrying
    /// with a countdown.
    #[arg(long, env = "ALYS_ENGINE_FAIL_FAST")]
    pub(crate) fail_fast: bool,
}

/// Parses `250ms`, `2s`, `1m` (an integer and a unit).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: expected e.g. 250ms, 2s or 1m"))?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        other => {
            return Err(format!("`{text}`: unknown unit `{other}` (use ms, s or m)"));
        }
    };
    if duration.is_zero() {
        return Err(format!("`{text}`: the duration must be greater than zero"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Durations read as operators write them; nonsense is refused with a hint.
    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("fast").unwrap_err().contains("not a duration"));
        assert!(parse_duration("0s").unwrap_err().contains("greater than zero"));
    }

    /// The command line is well formed (clap's own consistency checks) and no flag lacks
    /// help text.
    #[test]
    fn every_flag_is_explained() {
        Cli::command().debug_assert();
        for arg in Cli::command().get_arguments() {
            assert!(arg.get_help().is_some(), "--{} has no help", arg.get_id());
        }
    }

    /// Repeated and comma-separated endpoints keep their order (it is their rank).
    #[test]
    fn endpoints_keep_their_rank() {
        let cli = Cli::try_parse_from([
            "engine-node",
            "--engine-url",
            "http://a:8551,http://b:8551",
            "--engine-url",
            "http://c:8551",
            "--jwt-secret",
            "/s",
        ])
        .unwrap();
        assert_eq!(cli.run.engine_urls, ["http://a:8551", "http://b:8551", "http://c:8551"]);
        assert_eq!(cli.run.jwt_secrets, [PathBuf::from("/s")]);
        assert_eq!(cli.run.metrics_addr.to_string(), "127.0.0.1:9100");
    }
}
