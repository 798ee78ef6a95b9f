//! Slots as the Chain runs them, through a chaos proxy in front of an execution layer, and
//! the invariants checked once a fault is switched off.
//!
//! Every slot offers the peg-ins not yet known minted plus a new one; a commit whose answer
//! never came is settled by asking what landed once the fault is gone. After a fault:
//! - recovery: a slot lands a block within [`recovery_bound`] of the fault being switched
//!   off (the breaker's cool-down, the slowest slot's timeouts, and slack);
//! - no block lost: every block the engine reported landed is on the EL's canonical chain,
//!   which runs from the head to genesis without a gap and holds no other block, and the
//!   EL's head is the engine's;
//! - no peg-in minted twice: the landed blocks' peg-ins are disjoint, what landed confirms
//!   each, and a final block offered every peg-in of the run leaves out exactly the minted
//!   ones (as already minted) and includes or keeps pending the others;
//! - no panic: the engine actor is still running.

use crate::harness::{self, ElAddress, Node, Timing};
use engine_actor::{ActorError, messages::BuiltPayload, status::EngineState};
use engine_client::eth::{EthApi, EthClient};
use engine_testkit::ElPorts;
use engine_testkit::{ChaosProxy, MockEl, MockElConfig};
use engine_types::{
    ForkSchedule, PegIn, Satoshis,
    config::{ChainConfig, HealthConfig, RetryConfig, TimeoutConfig},
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
};
use std::{
    collections::HashSet,
    net::SocketAddr,
    time::{Duration, Instant},
};

const READY: [EngineState; 2] = [EngineState::Ready, EngineState::Degraded];

/// Per-method timeouts: `forkchoice_updated`, `get_payload` and `new_payload` as given; the
/// upcheck (`eth_syncing`) and everything else at 10 s, so that only the calls a scenario
/// aims at time out.
pub(crate) fn timeouts(
    forkchoice_updated: Duration,
    get_payload: Duration,
    new_payload: Duration,
) -> TimeoutConfig {
    let long = Duration::from_secs(10);
    TimeoutConfig {
        forkchoice_updated,
        get_payload,
        new_payload,
        exchange_capabilities: long,
        get_client_version: long,
        get_payload_bodies: long,
        eth: long,
    }
}

/// Two attempts for idempotent calls, within 3 s.
pub(crate) fn timing() -> Timing {
    Timing {
        request: Duration::from_secs(10),
        retry: RetryConfig {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_elapsed: Duration::from_secs(3),
            jitter: 0.2,
        },
    }
}

/// How long after a fault is switched off a slot must land a block again: the breaker's
/// cool-down (opened by the fault's failures), one upcheck interval, the slowest slot under
/// `timeouts` (a build's forkchoiceUpdated and getPayload, a commit's newPayload and
/// forkchoiceUpdated, each attempted twice), and 5 s of slack for a loaded machine.
pub(crate) fn recovery_bound(timeouts: &TimeoutConfig) -> Duration {
    let slot = 2 * (2 * timeouts.forkchoice_updated + timeouts.get_payload + timeouts.new_payload);
    HealthConfig::default().cooldown + Duration::from_millis(200) + slot + Duration::from_secs(5)
}

/// An execution layer behind a chaos proxy, an engine reaching it through the proxy, a
/// public RPC client of the EL, and the run's bookkeeping.
pub(crate) struct Rig {
    pub(crate) proxy: ChaosProxy,
    pub(crate) node: Node,
    eth: EthClient,
    timeouts: TimeoutConfig,
    genesis_timestamp: u64,
    _dir: tempfile::TempDir,
    /// What runs the EL (a mock, a container), kept alive as long as the rig.
    pub(crate) el: Option<Box<dyn std::any::Any + Send>>,
    /// Slots used so far (each slot's timestamp is genesis + 2 s × slot).
    slot: u64,
    /// Every peg-in offered so far.
    offered: Vec<PegIn>,
    /// The peg-ins not known to be minted: offered again at each slot.
    pub(crate) pending: Vec<PegIn>,
    /// Every block the engine reported landed (committed as head, or found canonical), with
    /// the peg-ins it minted.
    landed: Vec<(B256, Vec<PegIn>)>,
    /// Blocks whose commit failed, with their peg-ins: settled by asking what landed once
    /// the fault is gone.
    unsettled: Vec<(B256, Vec<PegIn>)>,
}

impl Rig {
    /// A ready engine on a fresh mock EL (default config) behind a proxy.
    pub(crate) async fn mock(timeouts: TimeoutConfig) -> Self {
        let el = MockEl::start(MockElConfig::default()).await.unwrap();
        let address = ElAddress {
            engine_url: el.engine_url(),
            public_url: el.public_url(),
            jwt_hex: el.jwt_secret_hex(),
        };
        let genesis = el.genesis().header.timestamp;
        let schedule = ForkSchedule::default();
        let mut rig =
            Self::start(el.engine_addr(), address, schedule, genesis, timeouts, &timing()).await;
        rig.el = Some(Box::new(el));
        rig
    }

    /// A ready engine reaching the EL at `el` (whose engine port is `engine`) through a new
    /// proxy, with `timeouts` and `timing`'s retries.
    pub(crate) async fn start(
        engine: SocketAddr,
        el: ElAddress,
        schedule: ForkSchedule,
        genesis_timestamp: u64,
        timeouts: TimeoutConfig,
        timing: &Timing,
    ) -> Self {
        let proxy = ChaosProxy::start(engine).await.unwrap();
        let eth = harness::eth_client(&el.public_url, timing);
        let address = ElAddress { engine_url: proxy.url(), ..el };
        let dir = tempfile::tempdir().unwrap();
        let port = harness::pool_port_timeouts(&[address], schedule, timeouts, timing);
        let chain = ChainConfig { fork_schedule: schedule, ..ChainConfig::default() };
        let node = Node::start(port, chain, dir.path()).await;
        node.wait_state(&READY).await;
        Self {
            proxy,
            node,
            eth,
            timeouts,
            genesis_timestamp,
            _dir: dir,
            el: None,
            slot: 0,
            offered: Vec::new(),
            pending: Vec::new(),
            landed: Vec::new(),
            unsettled: Vec::new(),
        }
    }

    /// A new peg-in (each to its own address), offered from now on until minted.
    fn new_peg_in(&mut self) {
        let n = self.offered.len() as u64 + 1;
        // Away from the precompiles' addresses, each its own.
        let mut address = [0x77; 20];
        address[19] = n as u8;
        let peg_in = PegIn {
            evm_address: Address::from(address),
            amount: Satoshis(1_000 * n),
            bitcoin_txid: B256::with_last_byte(n as u8),
        };
        self.offered.push(peg_in);
        self.pending.push(peg_in);
    }

    /// The EL's block `tag` as (number, hash, parent hash).
    pub(crate) async fn el_block(&self, tag: BlockNumberOrTag) -> (u64, B256, B256) {
        let block = self.eth.block_by_number(tag, false).await.unwrap();
        let header = block.unwrap_or_else(|| panic!("the EL has no {tag} block")).header;
        (header.number, header.hash, header.parent_hash)
    }

    /// The EL's head as (number, hash).
    pub(crate) async fn el_head(&self) -> (u64, B256) {
        let (number, hash, _) = self.el_block(BlockNumberOrTag::Latest).await;
        (number, hash)
    }

    fn next_timestamp(&mut self) -> u64 {
        self.slot += 1;
        self.genesis_timestamp + 2 * self.slot
    }

    /// The next slot's build, offering the pending peg-ins (one of them new).
    pub(crate) async fn build(&mut self) -> Result<BuiltPayload, ActorError> {
        let timestamp = self.next_timestamp();
        self.new_peg_in();
        let built = self.node.build(timestamp, self.pending.clone()).await?;
        let offered_again: HashSet<_> = self.pending.iter().collect();
        assert!(
            built.included.iter().all(|p| offered_again.contains(p)),
            "only offered peg-ins are included"
        );
        Ok(built)
    }

    /// Commits `built`: its peg-ins are minted when it became the head; when the commit
    /// failed, the block is left to [`settle`](Self::settle) (the EL may have applied it
    /// anyway). Whether it is known to have landed.
    pub(crate) async fn commit(&mut self, built: &BuiltPayload) -> bool {
        let hash = built.payload.block_hash();
        match self.node.commit(built).await {
            Ok(committed) if committed.head => {
                self.minted(hash, &built.included);
                true
            }
            Ok(committed) => panic!("a VALID commit that is not the head: {committed:?}"),
            Err(e) => {
                eprintln!("commit failed: {e}");
                self.unsettled.push((hash, built.included.clone()));
                false
            }
        }
    }

    /// Records `hash` as landed, minting `minted`.
    pub(crate) fn minted(&mut self, hash: B256, minted: &[PegIn]) {
        self.landed.push((hash, minted.to_vec()));
        self.pending.retain(|p| !minted.contains(p));
    }

    /// Asks what became of the blocks whose commit failed (retrying while the endpoint's
    /// breaker still refuses calls, within the recovery bound) and settles their peg-ins.
    /// Which of them landed.
    pub(crate) async fn settle(&mut self) -> Vec<bool> {
        let mut outcomes = Vec::new();
        for (hash, included) in std::mem::take(&mut self.unsettled) {
            let asked = Instant::now();
            let landed = loop {
                match self.node.what_landed(hash, included.clone()).await {
                    Ok(landed) => break landed,
                    Err(e) => {
                        let bound = recovery_bound(&self.timeouts);
                        assert!(asked.elapsed() < bound, "what landed unanswered: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            };
            let minted: Vec<PegIn> = landed.minted.iter().map(|m| m.peg_in).collect();
            assert_eq!(minted.len() + landed.unminted.len(), included.len(), "{landed:?}");
            if landed.canonical {
                assert!(landed.unminted.is_empty(), "a canonical block minted its peg-ins");
                self.minted(hash, &minted);
            } else {
                assert!(minted.is_empty(), "{landed:?}");
            }
            outcomes.push(landed.canonical);
        }
        outcomes
    }

    /// One whole slot: build and commit; whether a block landed.
    pub(crate) async fn slot(&mut self) -> bool {
        match self.build().await {
            Ok(built) => self.commit(&built).await,
            Err(e) => {
                eprintln!("build failed: {e}");
                false
            }
        }
    }

    /// Switches every fault off, settles the failed commits, and runs slots until one
    /// lands, which must happen within [`recovery_bound`]; then checks the chain.
    pub(crate) async fn heal_and_recover(&mut self) {
        self.proxy.heal().await.unwrap();
        let healed = Instant::now();
        self.settle().await;
        let bound = recovery_bound(&self.timeouts);
        while !self.slot().await {
            assert!(healed.elapsed() < bound, "no block within {bound:?} of the fault's end");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let recovered = healed.elapsed();
        assert!(recovered < bound, "recovered after {recovered:?}, bound {bound:?}");
        eprintln!("recovered {recovered:?} after the fault was switched off");
        self.check().await;
    }

    /// The run's invariants (see the module docs), ending with a block offered every
    /// peg-in of the run.
    async fn check(&mut self) {
        assert_eq!(
            self.node.engine.get_status(),
            ractor::ActorStatus::Running,
            "the engine is still running"
        );
        let (head_number, head) = self.el_head().await;
        let status = self.node.status().await;
        assert_eq!(status.heads.head.hash, head, "the engine's head is the EL's");
        let mut canonical = HashSet::new();
        let mut child: Option<B256> = None;
        for number in (0..=head_number).rev() {
            let (at, hash, parent) = self.el_block(BlockNumberOrTag::Number(number)).await;
            assert_eq!(at, number);
            if let Some(child_parent) = child {
                assert_eq!(child_parent, hash, "block {number} is its child's parent: no gap");
            }
            child = Some(parent);
            canonical.insert(hash);
        }
        assert_eq!(canonical.len() as u64, self.landed.len() as u64 + 1, "one block per landing");
        let mut minted_once = HashSet::new();
        for (hash, included) in &self.landed {
            assert!(canonical.contains(hash), "block {hash} was reported landed and is lost");
            let landed = self.node.what_landed(*hash, included.clone()).await.unwrap();
            assert!(landed.canonical && landed.unminted.is_empty(), "{landed:?}");
            for peg_in in included {
                assert!(minted_once.insert(*peg_in), "minted twice: {peg_in:?}");
            }
        }
        let offered: HashSet<_> = self.offered.iter().cloned().collect();
        let pending: HashSet<_> = self.pending.iter().cloned().collect();
        let unminted: HashSet<_> = offered.difference(&minted_once).cloned().collect();
        assert_eq!(unminted, pending, "every peg-in offered is minted once or still pending");

        let timestamp = self.next_timestamp();
        self.new_peg_in();
        let built = self.node.build(timestamp, self.offered.clone()).await.unwrap();
        // A block mints at most so many peg-ins: the others wait in `built.pending`.
        let unminted: HashSet<_> = built.included.iter().chain(&built.pending).cloned().collect();
        let pending: HashSet<_> = self.pending.iter().cloned().collect();
        assert_eq!(unminted, pending, "offered everything: only the unminted are left");
        let already: HashSet<_> = built.already_minted.iter().map(|m| m.peg_in).collect();
        assert_eq!(already, minted_once, "and every minted one is known minted");
        assert_eq!(built.payload.parent_hash(), self.el_head().await.1);
        assert!(self.commit(&built).await, "the final block lands");
        assert!(built.included.iter().all(|p| !self.pending.contains(p)));
    }
}
