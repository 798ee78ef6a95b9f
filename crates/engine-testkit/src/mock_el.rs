//! A scripted mock execution client: a real HTTP JSON-RPC server (engine port with JWT,
//! public port without) in front of a small in-memory chain that behaves like an execution
//! client on the happy path, and misbehaves on demand.
//!
//! Default behaviour, with no scripting:
//! - the chain starts from a genesis block carrying the fork fields of its timestamp;
//! - `forkchoiceUpdated` applies the spec rules (SYNCING for an unknown head, INVALID for the
//!   zero hash, -38002 when safe/finalized are not ancestors of the head, -38003 for
//!   attributes not after the head, without rolling the head back; a zero safe/finalized
//!   hash keeps the block held, as Geth and Reth do) and answers a fresh `payloadId` for
//!   attributes;
//! - a `forkchoiceUpdated` naming a canonical ancestor of the head is skipped as Geth up to
//!   v1.17.2 does: VALID with a null `payloadId`, nothing built, head, safe and finalized
//!   unchanged ([`AncestorPolicy::Skip`]; pick Reth's, EthereumJS's or newer Geth's
//!   behaviour with [`MockElConfig::ancestor_policy`]). Moving to a side-chain block is a
//!   reorg under every policy;
//! - `getPayload` returns a payload whose `blockHash` is the keccak of its header, with the
//!   requested withdrawals and fee recipient and the transactions queued when the build
//!   started ([`FillPolicy::AtOnce`], as EthereumJS and the devnet; [`FillPolicy::Background`]
//!   models Geth and Reth, which answer the empty block until their builder has filled one);
//! - `newPayload` answers VALID (latestValidHash = blockHash) for a known parent or a block
//!   it already holds, SYNCING for an unknown parent, INVALID for a wrong block hash;
//! - `eth_syncing` answers `false` ([`SyncingProbe::Synced`]; [`MockElConfig::syncing`]
//!   makes it fail as EthereumJS without peers does);
//! - `eth_*` queries see the canonical chain; `eth_sendRawTransaction` queues a transaction
//!   for the next build. Nothing is executed: receipts are synthesized as successful, 21,000
//!   gas each, without logs, and the state root never changes;
//! - a method used for a timestamp outside its fork gets -38005, a wrong param count -32602.
//!
//! ```no_run
//! # async fn demo() -> Result<(), engine_testkit::TestkitError> {
//! use engine_testkit::{Fault, MockEl};
//! use engine_types::PayloadStatusWire;
//!
//! let el = MockEl::start(Default::default()).await?;
//! // Point the client under test at el.engine_url() with el.jwt_secret_path() (or
//! // el.jwt_secret_hex()), and at el.public_url() for eth_* queries.
//! el.fail_next("engine_newPayloadV2", Fault::Status(PayloadStatusWire::syncing()), 3);
//! // … drive the client; the fourth newPayloadV2 is answered by the chain …
//! let sent = el.calls("engine_newPayloadV2");
//! # let _ = sent;
//! # Ok(()) }
//! ```

mod block;
mod chain;
mod engine;
mod eth;
mod params;

use crate::{
    el_rules::{AncestorPolicy, SyncingProbe},
    error::TestkitError,
    jwt::JwtSecret,
    rpc_server::{
        ElPorts, Fault, RecordedCall, Recording, Restart, RpcBackend, RpcError, RpcServer, Script,
    },
};
use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_engine::{ClientCode, ClientVersionV1};
use block::GenesisParams;
use chain::Chain;
use engine_types::{ForkSchedule, constants::CHAIN_ID_DEV};
use serde_json::Value;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

/// How the mock starts.
#[derive(Debug, Clone)]
pub struct MockElConfig {
    /// Chain id answered by `eth_chainId` and required of submitted transactions (default:
    /// the Alys dev chain, 121212).
    pub chain_id: u64,
    /// Which Engine API version each timestamp calls for (default: Shanghai from genesis).
    pub forks: ForkSchedule,
    /// Genesis timestamp (default 0).
    pub genesis_timestamp: u64,
    /// Gas limit of every block (default 30,000,000).
    pub gas_limit: u64,
    /// Base fee of the genesis block in wei (default 1 Gwei); children follow EIP-1559.
    pub genesis_base_fee: u64,
    /// Extra data of every block (default `alys-mock-el`, at most 32 bytes).
    pub extra_data: Bytes,
    /// The state root of every block (the mock keeps no state; default: the empty trie).
    pub state_root: B256,
    /// The JWT secret (default: a fresh random one).
    pub jwt_secret: Option<JwtSecret>,
    /// What `engine_getClientVersionV1` answers. The spec only admits registered client
    /// codes, so the default says `GE` with the name `engine-testkit MockEl`.
    pub client_version: ClientVersionV1,
    /// What a `forkchoiceUpdated` naming a canonical ancestor of the head does (default:
    /// [`AncestorPolicy::Skip`], as Geth up to v1.17.2).
    pub ancestor_policy: AncestorPolicy,
    /// What `eth_syncing` answers (default: [`SyncingProbe::Synced`], `false`).
    pub syncing: SyncingProbe,
    /// When a build's transactions are in the payload (default: [`FillPolicy::AtOnce`]).
    pub fill: FillPolicy,
}

/// When the transactions of a build started by `forkchoiceUpdated` are in the payload that
/// `getPayload` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FillPolicy {
    /// Built whole when `forkchoiceUpdated` starts the build: EthereumJS
    /// (`packages/client/src/miner/pendingBlock.ts`: `start`, called by
    /// `forkchoiceUpdated`, adds the pool's transactions before it answers; `build`, called by
    /// `getPayload`, seals) and the embedded devnet.
    #[default]
    AtOnce,
    /// Geth (`miner/payload_building.go`): `buildPayload` makes the *empty* block before
    /// `forkchoiceUpdated` answers and fills the full one in a goroutine; `getPayload` calls
    /// `Payload.Resolve`, which stops that goroutine and returns the full block only if an
    /// iteration finished, else the empty one, and a resolved payload never changes again
    /// (`update` rejects what arrives after `stop` is closed). Reth's basic payload job
    /// (`crates/payload/basic/src/lib.rs`, `resolve_kind`) likewise races a build still in
    /// flight against an empty block. Here the full block is ready `after` the
    /// `forkchoiceUpdated` that started it; a `getPayload` sooner settles the build empty.
    /// A build with nothing to include is the same either way.
    Background {
        /// How long the builder takes to fill the block.
        after: Duration,
    },
}

impl Default for MockElConfig {
    fn default() -> Self {
        Self {
            chain_id: CHAIN_ID_DEV,
            forks: ForkSchedule::default(),
            genesis_timestamp: 0,
            gas_limit: 30_000_000,
            genesis_base_fee: 1_000_000_000,
            extra_data: Bytes::from_static(b"alys-mock-el"),
            state_root: alloy_trie::EMPTY_ROOT_HASH,
            jwt_secret: None,
            client_version: ClientVersionV1 {
                code: ClientCode::GE,
                name: "engine-testkit MockEl".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                commit: "0x00000000".into(),
            },
            ancestor_policy: AncestorPolicy::default(),
            syncing: SyncingProbe::default(),
            fill: FillPolicy::default(),
        }
    }
}

impl MockElConfig {
    /// The default config with these forks.
    pub fn with_forks(forks: ForkSchedule) -> Self {
        Self { forks, ..Self::default() }
    }

    fn genesis(&self) -> GenesisParams {
        GenesisParams {
            timestamp: self.genesis_timestamp,
            gas_limit: self.gas_limit,
            base_fee: self.genesis_base_fee,
            extra_data: self.extra_data.clone(),
            state_root: self.state_root,
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut out = self.forks.problems();
        if self.extra_data.len() > 32 {
            out.push(format!("extra_data is {} bytes, at most 32 allowed", self.extra_data.len()));
        }
        if self.gas_limit < block::GAS_PER_TX {
            out.push(format!("gas_limit {} cannot hold one transfer", self.gas_limit));
        }
        out
    }
}

/// The chain behind the server.
#[derive(Debug)]
struct MockBackend {
    config: MockElConfig,
    chain: Mutex<Chain>,
}

impl MockBackend {
    fn lock(&self) -> MutexGuard<'_, Chain> {
        // Handlers validate before they mutate, so a panic cannot leave the chain half-updated.
        self.chain.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RpcBackend for MockBackend {
    fn handle(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        let mut chain = self.lock();
        if method.starts_with("engine_") {
            engine::handle(&mut chain, &self.config, method, params)
        } else {
            eth::handle(&mut chain, &self.config, method, params)
        }
    }

    fn reset(&self) -> Result<(), engine_devnet::DevnetError> {
        *self.lock() = Chain::new(self.config.forks, &self.config.genesis(), self.config.fill);
        Ok(())
    }
}

/// A block of the mock's chain, as tests inspect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockBlock {
    /// The block hash (keccak of the header's RLP).
    pub hash: B256,
    /// The header.
    pub header: Header,
    /// The raw EIP-2718 transactions.
    pub transactions: Vec<Bytes>,
}

/// A running mock execution client. Dropping it stops the server.
#[derive(Debug)]
pub struct MockEl {
    server: RpcServer,
    script: Arc<Script>,
    backend: Arc<MockBackend>,
}

impl ElPorts for MockEl {
    fn server(&self) -> &RpcServer {
        &self.server
    }
}

impl MockEl {
    /// Start the mock on two fresh ports of `127.0.0.1`.
    pub async fn start(config: MockElConfig) -> Result<Self, TestkitError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(TestkitError::Fixture(problems.join("; ")));
        }
        let secret = config.jwt_secret.clone().unwrap_or_else(JwtSecret::random);
        let chain = Mutex::new(Chain::new(config.forks, &config.genesis(), config.fill));
        let backend = Arc::new(MockBackend { config, chain });
        let script = Script::new(Recording::DEFAULT);
        let any = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
        let server = RpcServer::start_at(
            Arc::clone(&backend) as Arc<dyn RpcBackend>,
            secret,
            (any, any),
            Some(script.hook()),
        )
        .await?;
        Ok(Self { server, script, backend })
    }

    /// The faults, recording and clock around the server, for anything not mirrored here
    /// (the clock offset, the recording bound).
    pub fn script(&self) -> &Script {
        &self.script
    }

    /// Apply `fault` to the next `times` calls of `method` (after any already scripted).
    pub fn fail_next(&self, method: &str, fault: Fault, times: usize) {
        self.script.fail_next(method, fault, times);
    }

    /// Apply each fault once, in order, to the next calls of `method`.
    pub fn fail_sequence(&self, method: &str, faults: impl IntoIterator<Item = Fault>) {
        self.script.fail_sequence(method, faults);
    }

    /// Apply `fault` to every call of `method` until cleared.
    pub fn fail_always(&self, method: &str, fault: Fault) {
        self.script.fail_always(method, fault);
    }

    /// Drop the scripts of `method`.
    pub fn clear_faults(&self, method: &str) {
        self.script.clear_faults(method);
    }

    /// Drop every script.
    pub fn clear_all_faults(&self) {
        self.script.clear_all_faults();
    }

    /// Every recorded call of `method`, in arrival order.
    pub fn calls(&self, method: &str) -> Vec<RecordedCall> {
        self.script.calls(method)
    }

    /// Every recorded call, in arrival order.
    pub fn all_calls(&self) -> Vec<RecordedCall> {
        self.script.all_calls()
    }

    /// The most recent call.
    pub fn last_call(&self) -> Option<RecordedCall> {
        self.script.last_call()
    }

    /// Forget the recorded calls.
    pub fn clear_calls(&self) {
        self.script.clear_calls();
    }

    /// Wait until at least `n` calls of `method` are recorded.
    pub async fn wait_for_calls(
        &self,
        method: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedCall>, TestkitError> {
        self.script.wait_for_calls(method, n, timeout).await
    }

    /// Refuse connections and drop open ones until [`come_back`](Self::come_back).
    pub async fn go_down(&self) {
        self.server.go_down().await;
    }

    /// Serve again on the same ports, keeping or losing the chain.
    pub async fn come_back(&self, restart: Restart) -> Result<(), TestkitError> {
        Ok(self.server.come_back(restart).await?)
    }

    /// Stop the server and wait until every connection is closed.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    fn snapshot(b: &block::StoredBlock) -> MockBlock {
        MockBlock {
            hash: b.hash,
            header: b.header().clone(),
            transactions: b.txs.iter().map(|t| t.raw.clone()).collect(),
        }
    }

    /// The genesis block.
    pub fn genesis(&self) -> MockBlock {
        let chain = self.backend.lock();
        Self::snapshot(chain.canonical_at(0).unwrap_or_else(|| chain.head()))
    }

    /// The canonical head.
    pub fn head(&self) -> MockBlock {
        Self::snapshot(self.backend.lock().head())
    }

    /// The safe block, once a forkchoice update has named one.
    pub fn safe(&self) -> Option<MockBlock> {
        self.backend.lock().safe().map(|b| Self::snapshot(b))
    }

    /// The finalized block, once a forkchoice update has named one.
    pub fn finalized(&self) -> Option<MockBlock> {
        self.backend.lock().finalized().map(|b| Self::snapshot(b))
    }

    /// Any known block (canonical or not).
    pub fn block(&self, hash: B256) -> Option<MockBlock> {
        self.backend.lock().block(&hash).map(|b| Self::snapshot(b))
    }

    /// Queue a raw EIP-2718 transaction for the next build, as `eth_sendRawTransaction` does
    /// (same checks, same refusals), without the HTTP round trip: for tests that set up a
    /// pool. Its hash.
    pub fn submit(&self, raw: Bytes) -> Result<B256, TestkitError> {
        eth::submit(&mut self.backend.lock(), &self.backend.config, raw)
            .map_err(|e| TestkitError::Fixture(format!("transaction refused: {}", e.message)))
    }

    /// Transactions waiting for the next build (raw EIP-2718 bytes).
    pub fn pending_transactions(&self) -> Vec<Bytes> {
        self.backend.lock().pool().iter().map(|t| t.raw.clone()).collect()
    }

    /// The config the mock was started with.
    pub fn config(&self) -> &MockElConfig {
        &self.backend.config
    }
}
