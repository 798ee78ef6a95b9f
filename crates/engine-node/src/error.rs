//! The node's error: every problem a user can hit, each worded as one paragraph that says
//! what went wrong and how to fix it. `main` prints it and exits with [`NodeError::exit_code`];
//! no backtrace, no panic.

use engine_types::Severity;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Why the node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NodeError {
    /// The JWT secret file does not exist.
    #[error(
        "the JWT secret file {} does not exist. The execution client writes it at start \
         (Geth: <datadir>/geth/jwtsecret, Reth: <datadir>/jwt.hex) or reads the one you give \
         it with --authrpc.jwtsecret; pass that same file with --jwt-secret",
        path.display()
    )]
    JwtMissing {
        /// The file.
        path: PathBuf,
    },
    /// The JWT secret file cannot be read.
    #[error(
        "the JWT secret file {} cannot be read ({reason}). Check its permissions: the user \
         running engine-node needs read access",
        path.display()
    )]
    JwtUnreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The JWT secret file does not hold 32 bytes of hex.
    #[error(
        "the JWT secret file {} holds {found}, but a JWT secret is exactly 64 hex characters \
         (32 bytes, optionally prefixed by 0x). Point --jwt-secret at the file your execution \
         client uses, or create one with `openssl rand -hex 32 > jwt.hex` and give it to both",
        path.display()
    )]
    JwtFormat {
        /// The file.
        path: PathBuf,
        /// What it holds instead, e.g. `40 characters` or `non-hex characters`.
        found: String,
    },
    /// No execution client answered at start and `--fail-fast` was set.
    #[error(
        "the execution client at {url} is unreachable ({reason}). Start it (its Engine API \
         listens on the --authrpc.port, 8551 by default) or correct --engine-url; without \
         --fail-fast the node keeps retrying"
    )]
    ElUnreachable {
        /// The engine URL.
        url: String,
        /// The connection error.
        reason: String,
    },
    /// The execution client refused our JWT.
    #[error(
        "the execution client at {url} refused the JWT read from {}: {cause}. Give engine-node \
         the exact secret file the client was started with (--authrpc.jwtsecret), and keep \
         both machines' clocks within 60 s of each other (NTP)",
        jwt.display()
    )]
    ElUnauthorized {
        /// The engine URL.
        url: String,
        /// The secret file we used.
        jwt: PathBuf,
        /// What the refusal says: the status, and whether the clocks or the secrets differ
        /// (read off the client's `Date` header when it sends one).
        cause: String,
    },
    /// The execution client serves another chain than the genesis describes.
    #[error(
        "the execution client at {url} runs chain id {actual}, but {expected_from} says \
         {expected}. Start the client with the same genesis (or pass the client's genesis \
         with --genesis)"
    )]
    ChainIdMismatch {
        /// The engine URL.
        url: String,
        /// What the client reports.
        actual: u64,
        /// What we expect.
        expected: u64,
        /// Where the expectation comes from.
        expected_from: String,
    },
    /// The execution client answered something that is not JSON-RPC.
    #[error(
        "the execution client at {url} did not answer like an Engine API endpoint ({reason}). \
         Check that --engine-url points at the client's authenticated Engine API port, not \
         another service"
    )]
    ElBadAnswer {
        /// The engine URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A listening address is taken.
    #[error(
        "cannot listen on {addr} for {what}: the port is already in use (another engine-node, \
         or another service). Stop it, or choose another address with {flag} (port 0 picks a \
         free one)"
    )]
    PortInUse {
        /// What the port is for.
        what: &'static str,
        /// The flag that sets it.
        flag: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// Another I/O problem with a listening address.
    #[error("cannot listen on {addr} for {what}: {reason}. Check the address given with {flag}")]
    Listen {
        /// What the port is for.
        what: &'static str,
        /// The flag that sets it.
        flag: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        reason: String,
    },
    /// The state directory holds something the node cannot read.
    #[error(
        "the state in {} is corrupt: {reason}. Restore it from a backup, or start again with \
         --start-fresh to set the bad file aside (renamed *.corrupt) and resume from the \
         execution client's head, or point --data-dir at an empty directory",
        dir.display()
    )]
    CorruptState {
        /// The data directory.
        dir: PathBuf,
        /// What is wrong, naming the file.
        reason: String,
    },
    /// The data directory cannot be created or written.
    #[error(
        "the data directory {} cannot be used: {reason}. Choose a writable directory with \
         --data-dir",
        dir.display()
    )]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The configuration file is missing, unreadable, not TOML or invalid.
    #[error(
        "the configuration {source_name} is not usable: {reason}. Fix it (`engine-node config \
         print-default` prints a commented template)"
    )]
    Config {
        /// The file, or `the command line`.
        source_name: String,
        /// Every problem.
        reason: String,
    },
    /// The genesis file is missing or not a geth-style genesis.
    #[error(
        "the genesis file {} is not usable: {reason}. Pass the geth-style genesis JSON your \
         execution client was initialized with",
        path.display()
    )]
    Genesis {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The embedded devnet could not start.
    #[error("the embedded devnet execution layer could not start: {reason}")]
    Devnet {
        /// Why.
        reason: String,
    },
    /// Logging, metrics or trace export could not be set up.
    #[error("observability could not be set up: {reason}")]
    Telemetry {
        /// Why.
        reason: String,
    },
    /// One of the node's servers (the operator server, the transaction endpoint) ended
    /// while the node was running.
    #[error(
        "{what} stopped while the node was running ({reason}); the node stops with it rather \
         than run without it. Start the node again; if this recurs, report it with the log"
    )]
    ServerStopped {
        /// The server, e.g. `the operator server`.
        what: &'static str,
        /// Why: its panic message, or that it returned.
        reason: String,
    },
    /// The actor tree failed.
    #[error("the node stopped: {reason}")]
    Runtime {
        /// Why.
        reason: String,
    },
}

impl NodeError {
    /// How a supervisor of this process should react: retry a start later, reset the
    /// environment (a file, a port), or stop for good.
    pub(crate) const fn severity(&self) -> Severity {
        match self {
            Self::ElUnreachable { .. } | Self::Runtime { .. } | Self::ServerStopped { .. } => {
                Severity::Retry
            }
            Self::PortInUse { .. } | Self::Listen { .. } | Self::CorruptState { .. } => {
                Severity::Reset
            }
            Self::JwtMissing { .. }
            | Self::JwtUnreadable { .. }
            | Self::JwtFormat { .. }
            | Self::ElUnauthorized { .. }
            | Self::ChainIdMismatch { .. }
            | Self::ElBadAnswer { .. }
            | Self::DataDir { .. }
            | Self::Config { .. }
            | Self::Genesis { .. }
            | Self::Devnet { .. }
            | Self::Telemetry { .. } => Severity::Fatal,
        }
    }

    /// The process exit code: 2 for a problem in what the user gave (flags, files, a client
    /// on another chain), 3 for an environment that may heal (a port, an unreachable client,
    /// a corrupt state directory, a stopped tree or server).
    pub(crate) const fn exit_code(&self) -> u8 {
        match self.severity() {
            Severity::Fatal => 2,
            Severity::Reset | Severity::Retry => 3,
        }
    }
}

/// How long the node waits between attempts to reach an execution client at start.
pub(crate) const START_RETRY_INTERVAL: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each message names the problem and the fix in one paragraph, without a trailing
    /// newline or a Debug dump.
    #[test]
    fn messages_name_the_fix() {
        let e = NodeError::JwtFormat { path: "/x/jwt.hex".into(), found: "40 characters".into() };
        let text = e.to_string();
        assert!(text.contains("/x/jwt.hex") && text.contains("64 hex characters"), "{text}");
        assert!(text.contains("--jwt-secret") && !text.contains('\n'), "{text}");
        assert_eq!(e.exit_code(), 2);
        let e = NodeError::ElUnauthorized {
            url: "http://a".into(),
            jwt: "/j".into(),
            cause: "el refused authentication (HTTP 401): the JWT secrets differ".into(),
        };
        let text = e.to_string();
        assert!(text.contains("/j: el refused authentication (HTTP 401)"), "{text}");
        assert!(text.contains("--authrpc.jwtsecret") && text.contains("clocks"), "{text}");
        let e = NodeError::PortInUse {
            what: "metrics",
            flag: "--metrics-addr",
            addr: "127.0.0.1:9100".parse().unwrap(),
        };
        assert!(e.to_string().contains("already in use") && e.to_string().contains("port 0"));
        assert_eq!(e.exit_code(), 3);
    }
}
