//! [`DevnetEl`]: the devnet served over HTTP JSON-RPC by an [`RpcServer`], like a real
//! execution client (engine port with JWT, public port), plus in-process accessors.

use crate::{
    PoolLimits, Retention,
    el::Devnet,
    el_rules::{AncestorPolicy, SyncingProbe},
    error::DevnetError,
    journal::Journal,
    rpc_server::{CallHook, ElPorts, RpcBackend, RpcError, RpcServer},
};
use alloy_consensus::{Block, Header, ReceiptEnvelope, Sealed, TxEnvelope};
use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, U256};
use engine_types::jwt::JwtSecret;
use serde_json::Value;
use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

/// How to start a [`DevnetEl`].
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// The genesis (geth-style JSON, parsed); chain id and fork schedule come from its
    /// `config`. See [`dev_genesis`](super::dev_genesis) for a ready one.
    pub genesis: Genesis,
    /// The JWT secret of the engine port; `None` makes a random one.
    pub jwt_secret: Option<JwtSecret>,
    /// Where the engine port listens (default `127.0.0.1:0`, a fresh port).
    pub engine_addr: SocketAddr,
    /// Where the public port listens (default `127.0.0.1:0`, a fresh port).
    pub public_addr: SocketAddr,
    /// What a `forkchoiceUpdated` naming a canonical ancestor of the head does (default:
    /// [`AncestorPolicy::Skip`], as Geth up to v1.17.2).
    pub ancestor_policy: AncestorPolicy,
    /// What `eth_syncing` answers (default: [`SyncingProbe::Synced`], `false`).
    pub syncing: SyncingProbe,
    /// How much of its past the devnet keeps (default: [`Retention::default`]).
    pub retention: Retention,
    /// How many transactions the pool holds (default: [`PoolLimits::default`]).
    pub pool_limits: PoolLimits,
    /// What stands around every call (default: nothing). engine-testkit's `Script`
    /// records calls and injects faults here.
    pub hook: Option<Arc<dyn CallHook>>,
    /// Where the devnet keeps its disk (default: none, nothing survives a restart). With a
    /// directory, every accepted block and the forkchoice state are written to
    /// [`JOURNAL_FILE_NAME`](crate::JOURNAL_FILE_NAME) in it, and a start on the same
    /// directory comes back with the same chain and head.
    pub data_dir: Option<PathBuf>,
}

impl DevnetConfig {
    /// Serve `genesis` on fresh loopback ports with a random JWT secret and the default
    /// execution-client rules.
    pub fn new(genesis: Genesis) -> Self {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            genesis,
            jwt_secret: None,
            engine_addr: any,
            public_addr: any,
            ancestor_policy: AncestorPolicy::default(),
            syncing: SyncingProbe::default(),
            retention: Retention::default(),
            pool_limits: PoolLimits::default(),
            hook: None,
            data_dir: None,
        }
    }
}

/// The devnet behind the server: one lock around the whole execution layer, so calls are
/// applied one at a time in arrival order.
struct DevnetBackend {
    genesis: Genesis,
    retention: Retention,
    pool_limits: PoolLimits,
    devnet: Mutex<Devnet>,
}

impl DevnetBackend {
    /// A devnet at genesis with the configured rules and limits.
    fn fresh(
        genesis: &Genesis,
        (retention, pool_limits): (Retention, PoolLimits),
        ancestor_policy: AncestorPolicy,
        syncing: SyncingProbe,
    ) -> Result<Devnet, DevnetError> {
        let mut devnet = Devnet::with_limits(genesis, retention, pool_limits)?;
        devnet.set_ancestor_policy(ancestor_policy);
        devnet.set_syncing(syncing);
        Ok(devnet)
    }

    fn lock(&self) -> MutexGuard<'_, Devnet> {
        // A panic inside a call (a bug) must not take the devnet down for every later call.
        self.devnet.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RpcBackend for DevnetBackend {
    fn handle(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        self.lock().handle(method, params)
    }

    fn reset(&self) -> Result<(), DevnetError> {
        // A restarted client keeps its flags: the rules in force carry over, and so does
        // its disk: it comes back with what its journal holds, memory (the pool, builds)
        // lost. The same genesis was accepted at start, and the journal re-executed then:
        // either failing now is reported, and the devnet keeps its state until then.
        let (policy, syncing) = {
            let d = self.lock();
            (d.ancestor_policy(), d.syncing())
        };
        let limits = (self.retention, self.pool_limits);
        let mut fresh = Self::fresh(&self.genesis, limits, policy, syncing)?;
        let mut current = self.lock();
        if let Some(journal) = current.journal.take()
            && let Err(e) = fresh.restore(journal)
        {
            // The journal is consumed and `fresh` may hold part of it: the devnet starts
            // over from genesis without a disk, and says so.
            *current = Self::fresh(&self.genesis, limits, policy, syncing)?;
            return Err(e);
        }
        *current = fresh;
        Ok(())
    }
}

/// A running devnet execution layer: real blocks and state behind the Engine API on
/// `engine_url()` (JWT) and `eth_*` on `public_url()`. Dropping it stops the server.
///
/// ```no_run
/// # async fn demo() -> Result<(), engine_devnet::DevnetError> {
/// use engine_devnet::{DevnetConfig, DevnetEl, dev_genesis, rpc_server::ElPorts};
/// use engine_types::ForkSchedule;
///
/// let el = DevnetEl::start(DevnetConfig::new(dev_genesis(ForkSchedule::default())?)).await?;
/// println!("engine {} (jwt {}), public {}", el.engine_url(), el.jwt_secret_path().display(), el.public_url());
/// el.shutdown().await;
/// # Ok(()) }
/// ```
pub struct DevnetEl {
    server: RpcServer,
    backend: Arc<DevnetBackend>,
}

impl std::fmt::Debug for DevnetEl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevnetEl")
            .field("engine", &self.server.engine_addr())
            .field("public", &self.server.public_addr())
            // try_lock: formatting must never wait for (or deadlock on) a running call.
            .field("devnet", &self.backend.devnet.try_lock().map(|d| format!("{d:?}")).ok())
            .finish_non_exhaustive()
    }
}

impl ElPorts for DevnetEl {
    /// The underlying server: go-down / come-back, the backend.
    fn server(&self) -> &RpcServer {
        &self.server
    }
}

impl DevnetEl {
    /// Build the genesis and start serving it.
    pub async fn start(config: DevnetConfig) -> Result<Self, DevnetError> {
        let limits = (config.retention, config.pool_limits);
        let mut devnet =
            DevnetBackend::fresh(&config.genesis, limits, config.ancestor_policy, config.syncing)?;
        if let Some(dir) = &config.data_dir {
            devnet.restore(Journal::open(dir)?)?;
        }
        let secret = config.jwt_secret.unwrap_or_else(JwtSecret::random);
        let backend = Arc::new(DevnetBackend {
            genesis: config.genesis,
            retention: config.retention,
            pool_limits: config.pool_limits,
            devnet: Mutex::new(devnet),
        });
        let server = RpcServer::start_at(
            Arc::clone(&backend) as Arc<dyn RpcBackend>,
            secret,
            (config.engine_addr, config.public_addr),
            config.hook,
        )
        .await?;
        Ok(Self { server, backend })
    }

    /// Read the execution layer in process (the lock is held during `f`: keep it short).
    pub fn with<R>(&self, f: impl FnOnce(&Devnet) -> R) -> R {
        f(&self.backend.lock())
    }

    /// Change the execution layer in process, e.g. to pool a transaction without HTTP.
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut Devnet) -> R) -> R {
        f(&mut self.backend.lock())
    }

    /// The balance of `address` at the head, in wei.
    pub fn balance(&self, address: &Address) -> U256 {
        self.with(|d| d.balance(address))
    }

    /// The head header with its hash.
    pub fn head(&self) -> Sealed<Header> {
        self.with(|d| d.head().clone())
    }

    /// A known block (any branch) with its transactions and withdrawals.
    pub fn block(&self, hash: &B256) -> Option<Block<TxEnvelope>> {
        self.with(|d| d.block(hash))
    }

    /// The receipts of a known block.
    pub fn receipts(&self, hash: &B256) -> Option<Vec<ReceiptEnvelope>> {
        self.with(|d| d.receipts(hash))
    }

    /// The genesis block's hash.
    pub fn genesis_hash(&self) -> B256 {
        self.with(Devnet::genesis_hash)
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.with(Devnet::chain_id)
    }

    /// Stop both ports, close every connection and wait until that is done.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
