//! The engine's own share of a build + commit cycle against a real EthereumJS, and how full
//! the blocks it builds are (P2 items 6 and 7).
//!
//! ```text
//!  K transfers ──eth_sendRawTransaction──> EthereumJS pool        (outside the timed part)
//!  ┌ timed cycle ───────────────────────────────────────────────────────────────────────┐
//!  │ actor: BuildPayload ─> forkchoiceUpdated(attrs) ─> getPayload (at once)            │
//!  │ actor: CommitPayload ─> newPayload ─> forkchoiceUpdated ─> Committed               │
//!  └────────────────────────────────────────────────────────────────────────────────────┘
//!  (untimed) the block's peg-out scan: its receipts, fetched by the engine's scan lane
//!            after the reply, waited for before the next cycle starts
//!  EL time  = Σ durations of the cycle's Engine API calls, as engine-client records them
//!             (`engine_client_request_duration_seconds`, read through a metrics recorder)
//!           + the time at least one `eth_*` call of the engine was in flight (its public
//!             clients are wrapped in a timer: the receipts of a block are fetched
//!             concurrently, so their durations overlap and are not summed)
//!  share    = (cycle − EL time) / cycle                                    goal ≤ 2 %
//!  fill     = transactions in the built block / transfers pending at the EL
//! ```
//!
//! The Engine API calls of a cycle run one after the other; the pool's upchecks (sent on
//! their own schedule) are left out, on the engine's side, so the share is an upper bound.
//! The EL time includes engine-client's own encoding and decoding (measured apart by the
//! `engine_call` bench: within a few percent of a raw POST).
//!
//! Needs Docker and the EthereumJS image (`cargo xtask images`); without them it prints one
//! line saying it was skipped. `cargo xtask bench` runs it with every other bench (it is
//! built with `--all-features`); alone:
//! `cargo bench -p engine-actor --features container-tests --bench el_share`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/e2e/harness.rs"]
mod harness;

use alloy_rpc_types_eth::{
    Block, BlockId, BlockNumberOrTag, Filter, Log, SyncStatus, TransactionReceipt,
};
use engine_actor::status::EngineState;
use engine_client::{
    BoxFuture, EngineResult,
    eth::{EthApi, EthClient, TxPoolStatus},
    jwt::JwtSecret,
    metrics::REQUEST_DURATION,
};
use engine_testkit::{
    containers::{ElContainer, EthereumJs},
    devnet::dev_genesis,
    fixtures::keys::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{
    ForkSchedule,
    config::ChainConfig,
    constants::CHAIN_ID_DEV,
    primitives::{Address, B256, Bytes, U256},
};
use harness::{ElAddress, Node, Timing};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// Cycles measured per scenario, after [`WARM_UP`] unmeasured ones.
const CYCLES: usize = 40;
const WARM_UP: usize = 5;

/// Pending transfers per block in the filled scenario (below EthereumJS's 100 per sender).
const TRANSFERS: u64 = 50;

/// The Engine API methods of a cycle; the pool's own calls (`engine_exchangeCapabilities`
/// when its cache expires, upchecks) are left on the engine's side.
const CYCLE_METHODS: [&str; 3] =
    ["engine_forkchoiceUpdated", "engine_getPayload", "engine_newPayload"];

/// The goal for the engine's share of a cycle (P2 item 7), in percent.
const SHARE_GOAL_PCT: f64 = 2.0;

fn main() {
    // `cargo xtask bench` passes criterion's flags and maybe a filter: a filter that does
    // not name this bench skips it.
    let filter =
        std::env::args().skip(1).find(|a| !a.starts_with('-') && a.parse::<f64>().is_err());
    if filter.as_deref().is_some_and(|f| !"el_share".contains(f) && !f.contains("el_share")) {
        return;
    }
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the bench installs the only metrics recorder");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run(&snapshotter));
}

/// One measured cycle.
struct Cycle {
    total: Duration,
    el: Duration,
    /// Transfers pending at the EL when the block was built, and how many it took.
    pending: usize,
    included: usize,
}

async fn run(snapshotter: &Snapshotter) {
    let schedule = ForkSchedule::default();
    let genesis = dev_genesis(schedule).unwrap();
    let jwt = JwtSecret::random();
    let Some(container) = ElContainer::<EthereumJs>::start_or_skip(&genesis, &jwt).await.unwrap()
    else {
        println!("el_share: skipped (no Docker daemon or EthereumJS image; `cargo xtask images`)");
        return;
    };
    let address = ElAddress {
        engine_url: container.engine_url(),
        public_url: container.rpc_url(),
        jwt_hex: jwt.to_hex(),
    };
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainConfig { fork_schedule: schedule, ..ChainConfig::default() };
    let busy = Arc::new(Busy::default());
    let port = harness::pool_port_wrapped(
        std::slice::from_ref(&address),
        schedule,
        &Timing::container(),
        {
            let busy = Arc::clone(&busy);
            move |inner| Arc::new(TimedEth { inner, busy: Arc::clone(&busy) })
        },
    );
    let node = Node::start(port, chain, dir.path()).await;
    node.wait_state(&[EngineState::Ready, EngineState::Degraded]).await;
    let eth = harness::eth_client(&address.public_url, &Timing::container());
    let signer = dev_signer(2).unwrap();
    let mut nonce = 0u64;
    let mut timestamp = genesis.timestamp;

    for (name, transfers) in [("empty", 0), ("50_transfers", TRANSFERS)] {
        let mut cycles = Vec::with_capacity(CYCLES);
        // Pending at the EL: a transfer a block left out waits for the next one.
        let mut pending = 0usize;
        for i in 0..WARM_UP + CYCLES {
            // Top the pool up to `transfers` pending (a block that left some out is not sent
            // more: EthereumJS keeps at most 100 per sender).
            let top_up = (transfers as usize).saturating_sub(pending);
            for _ in 0..top_up {
                let transfer = Transfer {
                    chain_id: CHAIN_ID_DEV,
                    nonce,
                    to: Address::repeat_byte(0x42),
                    value: U256::from(1),
                    gas_limit: 21_000,
                    max_fee_per_gas: 100_000_000_000,
                    max_priority_fee_per_gas: 1_000_000_000,
                    input: Bytes::new(),
                };
                eth.send_raw_transaction(sign_transfer(&signer, &transfer).unwrap()).await.unwrap();
                nonce += 1;
            }
            pending += top_up;
            timestamp += 1;
            drain(snapshotter);
            busy.take();
            let started = Instant::now();
            let built = node.build(timestamp, Vec::new()).await.unwrap();
            let committed = node.commit(&built).await.unwrap();
            let total = started.elapsed();
            let el = drain(snapshotter) + busy.take();
            assert!(committed.head, "cycle {i}: the block did not become the head");
            // The block's peg-out scan runs after the reply, in the engine's scan lane: it
            // finishes outside the timed cycle, so that its receipts calls neither overlap
            // the next cycle nor count as this one's EL time.
            let hash = committed.hash;
            node.wait_for(|s| s.peg_outs_scanned.is_some_and(|b| b.hash == hash)).await;
            let included = built.payload.as_v1().transactions.len();
            if i >= WARM_UP {
                cycles.push(Cycle { total, el, pending, included });
            }
            pending = pending.saturating_sub(included);
        }
        report(name, &cycles);
    }
}

/// Wall time during which at least one timed call was in flight.
#[derive(Debug, Default)]
struct Busy(Mutex<BusyState>);

#[derive(Debug, Default)]
struct BusyState {
    in_flight: usize,
    since: Option<Instant>,
    total: Duration,
}

impl Busy {
    fn lock(&self) -> std::sync::MutexGuard<'_, BusyState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A call starts; it ends when the guard drops (a cancelled call ends too).
    fn enter(&self) -> InFlight<'_> {
        let mut s = self.lock();
        if s.in_flight == 0 {
            s.since = Some(Instant::now());
        }
        s.in_flight += 1;
        InFlight(self)
    }

    fn leave(&self) {
        let mut s = self.lock();
        s.in_flight -= 1;
        if s.in_flight == 0
            && let Some(since) = s.since.take()
        {
            s.total += since.elapsed();
        }
    }

    /// The busy time since the last take (calls still in flight count up to now).
    fn take(&self) -> Duration {
        let mut s = self.lock();
        let now = Instant::now();
        let open = s.since.map_or(Duration::ZERO, |since| now - since);
        if s.since.is_some() {
            s.since = Some(now);
        }
        std::mem::take(&mut s.total) + open
    }
}

/// One timed call in flight.
struct InFlight<'a>(&'a Busy);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// An engine's public client, timed.
#[derive(Debug)]
struct TimedEth {
    inner: EthClient,
    busy: Arc<Busy>,
}

impl TimedEth {
    fn timed<'a, T: Send + 'a>(
        &'a self,
        call: BoxFuture<'a, EngineResult<T>>,
    ) -> BoxFuture<'a, EngineResult<T>> {
        Box::pin(async move {
            let _in_flight = self.busy.enter();
            call.await
        })
    }
}

impl EthApi for TimedEth {
    fn chain_id(&self) -> BoxFuture<'_, EngineResult<u64>> {
        self.timed(self.inner.chain_id())
    }
    fn syncing(&self) -> BoxFuture<'_, EngineResult<SyncStatus>> {
        self.timed(self.inner.syncing())
    }
    fn block_number(&self) -> BoxFuture<'_, EngineResult<u64>> {
        self.timed(self.inner.block_number())
    }
    fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> BoxFuture<'_, EngineResult<Option<Block>>> {
        self.timed(self.inner.block_by_number(number, full))
    }
    fn block_by_hash(&self, hash: B256, full: bool) -> BoxFuture<'_, EngineResult<Option<Block>>> {
        self.timed(self.inner.block_by_hash(hash, full))
    }
    fn transaction_receipt(
        &self,
        hash: B256,
    ) -> BoxFuture<'_, EngineResult<Option<TransactionReceipt>>> {
        self.timed(self.inner.transaction_receipt(hash))
    }
    fn block_receipts(
        &self,
        block: BlockId,
    ) -> BoxFuture<'_, EngineResult<Option<Vec<TransactionReceipt>>>> {
        self.timed(self.inner.block_receipts(block))
    }
    fn send_raw_transaction(&self, raw: Bytes) -> BoxFuture<'_, EngineResult<B256>> {
        self.timed(self.inner.send_raw_transaction(raw))
    }
    fn balance(&self, address: Address, block: BlockId) -> BoxFuture<'_, EngineResult<U256>> {
        self.timed(self.inner.balance(address, block))
    }
    fn transaction_count(
        &self,
        address: Address,
        block: BlockId,
    ) -> BoxFuture<'_, EngineResult<u64>> {
        self.timed(self.inner.transaction_count(address, block))
    }
    fn logs(&self, filter: Filter) -> BoxFuture<'_, EngineResult<Vec<Log>>> {
        self.timed(self.inner.logs(filter))
    }
    fn txpool_status(&self) -> BoxFuture<'_, EngineResult<TxPoolStatus>> {
        self.timed(self.inner.txpool_status())
    }
}

/// Σ of the Engine API call durations recorded since the last drain (the recorder hands
/// out each histogram value once).
fn drain(snapshotter: &Snapshotter) -> Duration {
    let mut seconds = 0.0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let engine_call =
            key.labels().any(|l| l.key() == "method" && CYCLE_METHODS.contains(&l.value()));
        if key.name() == REQUEST_DURATION
            && engine_call
            && let DebugValue::Histogram(values) = value
        {
            seconds += values.iter().map(|v| v.into_inner()).sum::<f64>();
        }
    }
    Duration::from_secs_f64(seconds)
}

fn report(name: &str, cycles: &[Cycle]) {
    let median = |mut xs: Vec<Duration>| {
        xs.sort_unstable();
        xs[xs.len() / 2]
    };
    let total: Duration = cycles.iter().map(|c| c.total).sum();
    let el: Duration = cycles.iter().map(|c| c.el).sum();
    let share_pct = total.saturating_sub(el).as_secs_f64() / total.as_secs_f64() * 100.0;
    let verdict = if share_pct <= SHARE_GOAL_PCT { "met" } else { "MISSED" };
    println!(
        "el_share/{name}: {} cycles; cycle p50 {:.2?}, EL p50 {:.2?}; engine share {share_pct:.2} % \
         (goal ≤ {SHARE_GOAL_PCT} %): {verdict}",
        cycles.len(),
        median(cycles.iter().map(|c| c.total).collect()),
        median(cycles.iter().map(|c| c.el).collect()),
    );
    let pending: usize = cycles.iter().map(|c| c.pending).sum();
    if pending > 0 {
        let included: usize = cycles.iter().map(|c| c.included).sum();
        let full = cycles.iter().filter(|c| c.included == c.pending).count();
        println!(
            "el_share/{name}: fill {included}/{pending} pending transfers included ({:.1} %) \
             when getPayload follows forkchoiceUpdated at once; {full}/{} blocks took all",
            included as f64 / pending as f64 * 100.0,
            cycles.len()
        );
    }
}
