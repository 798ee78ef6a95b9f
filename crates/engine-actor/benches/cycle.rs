//! One block's build + commit through the engine actor against the same Engine API and eth
//! calls made directly on engine-client's pool, both on the same `MockEl`.
//!
//! Per cycle the direct side does what the actor asks of the EL: `build_payload`
//! (forkchoiceUpdated + getPayload), `commit` (newPayload + forkchoiceUpdated) and the
//! block's receipts. The actor adds its own work on top: two messages and replies, the
//! forkchoice queue, payload validation (the block hash is recomputed), the payload cache,
//! and one state save, a log record and its fdatasync (the commit's: a build that mints no peg-in, as
//! here, writes nothing). Its peg-out scan (the receipts) runs in the worker's scan lane
//! after the commit's reply, beside the next cycle: the actor's cycle is the latency its
//! caller sees, the direct side's includes the receipts a caller of the pool would wait for. The state directory is on tmpfs (`actor_tmpfs`, the
//! actor's own overhead) and on the disk (`actor_disk`, what the sync adds on this machine).
//!
//! HTTP round trips to the mock cost milliseconds and vary by as much on a shared machine, so
//! the `in_process` group repeats the comparison on the scenario tests' in-memory EL: the
//! same port calls made directly (`direct_port`), through the actor's mailbox with its state
//! on tmpfs (`actor_port`), and down the Chain's line to the worker of another such engine
//! (`line_port`, the path the node's Chain takes). Those differences are the actor's own
//! cost. Both sides run in a task
//! on the runtime's workers, where the Chain actor calls from in the node: a caller outside
//! the runtime (criterion's `block_on` thread) adds a cross-thread wake-up per reply, which
//! on this 2-core VM costs more than the actor's own work.
//!
//! Metrics go to the Prometheus recorder the node installs, so their cost is counted (the
//! actor's and the client's alike).
//!
//! `state/save_tmpfs` and `state/save_disk` are one state save (one per cycle: a record
//! appended to the log and `fdatasync`ed) for scale.
//!
//! After criterion's groups, an interleaved pass prints p50/p99 of each side and the p50
//! overhead.
//!
//! `cargo bench -p engine-actor --bench cycle -- --warm-up-time 1 --measurement-time 5`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

/// The scripted in-memory EL of the scenario tests: no network, so the `in_process` group
/// isolates the actor's own cost from the EL's.
#[path = "../tests/actor/fake_el.rs"]
#[allow(dead_code, unreachable_pub)]
mod fake_el;

/// Where `cargo xtask bench` reads the interleaved medians from.
#[path = "../../../xtask/src/pairs.rs"]
#[allow(dead_code)]
mod pairs;

use criterion::Criterion;
use engine_actor::{
    ChainLine, ChainRequest, EngineActor, EngineActorConfig, EngineArgs, EngineMsg, QueryMsg,
    messages::{BuiltPayload, Committed, Reply},
    peers::{ActorAddresses, Watched},
    port::{ExecutionPort, PoolPort},
    status::EngineState,
};
use engine_client::{
    client::ClientConfig,
    eth::{EthApi, EthClient},
    jwt::JwtSecret,
    pool::{ExecutionPool, PoolConfig},
    retry::RetryPolicy,
};
use engine_testkit::ElPorts;
use engine_testkit::{MockEl, MockElConfig};
use engine_types::{
    CorrelationId, ForkSchedule,
    config::ChainConfig,
    constants::DEAD_ADDRESS,
    eips::BlockId,
    engine::{ForkchoiceState, PayloadAttributes},
    primitives::B256,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, rpc::CallResult};
use std::{
    future::Future,
    path::Path,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

const TIMEOUT: Duration = Duration::from_secs(5);

fn pool(el: &MockEl) -> (ExecutionPool, Arc<dyn EthApi>) {
    let client =
        ClientConfig::new(el.engine_url(), JwtSecret::from_hex(&el.jwt_secret_hex()).unwrap());
    let mut config = PoolConfig::new(vec![client], ForkSchedule::default());
    config.upcheck_interval = Duration::from_secs(3600);
    let eth =
        EthClient::new(&el.public_url(), None, TIMEOUT, RetryPolicy::never(), 1 << 24).unwrap();
    (ExecutionPool::start(config).unwrap(), Arc::new(eth))
}

/// The chain actor stand-in: never receives anything.
struct Idle;

impl Actor for Idle {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

async fn engine(port: Arc<dyn ExecutionPort>, dir: &Path) -> (ActorRef<EngineMsg>, ChainLine) {
    let (chain, _) = Actor::spawn(None, Idle, ()).await.unwrap();
    let peers = ActorAddresses {
        chain: Watched::Cell(chain.get_cell()),
        bridge: None,
        storage: None,
        network: None,
        chain_events: None,
    };
    let mut config = EngineActorConfig::new(ChainConfig::default(), dir);
    config.tick_interval = Duration::from_secs(3600);
    let line = ChainLine::new();
    let args = EngineArgs { config, port, peers, line: line.clone() };
    let (engine, _) = Actor::spawn(None, EngineActor, args).await.unwrap();
    loop {
        let status = ask(&engine, |reply| {
            QueryMsg::GetStatus { correlation: CorrelationId::new(), reply }.into()
        })
        .await;
        if status.state.can_build() || status.state == EngineState::Error {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (engine, line)
}

async fn ask<T: Send + 'static>(
    engine: &ActorRef<EngineMsg>,
    msg: impl FnOnce(ractor::RpcReplyPort<T>) -> EngineMsg,
) -> T {
    match engine.call(msg, Some(TIMEOUT)).await.unwrap() {
        CallResult::Success(v) => v,
        _ => panic!("no answer"),
    }
}

/// A monotonically increasing slot timestamp shared by all sides (the mock takes any).
#[derive(Clone, Default)]
struct Clock(Arc<Mutex<u64>>);

impl Clock {
    fn next(&self) -> u64 {
        let mut t = self.0.lock().unwrap();
        *t += 1;
        *t
    }
}

/// The cycle's build request: an empty block on the head at `timestamp`.
fn build_request(timestamp: u64) -> impl FnOnce(Reply<BuiltPayload>) -> ChainRequest {
    move |reply| ChainRequest::BuildPayload {
        correlation: CorrelationId::new(),
        parent: None,
        timestamp,
        peg_ins: Vec::new(),
        fee_recipient: None,
        prev_randao: None,
        reply,
    }
}

/// The cycle's commit request: the build `built` by its payload id.
fn commit_request(built: &BuiltPayload) -> impl FnOnce(Reply<Committed>) -> ChainRequest {
    let id = built.payload_id;
    move |reply| ChainRequest::CommitBuilt { correlation: CorrelationId::new(), id, reply }
}

async fn actor_cycle(engine: &ActorRef<EngineMsg>, clock: &Clock) {
    let build = build_request(clock.next());
    let built = ask(engine, |reply| build(reply).into()).await.unwrap();
    let commit = commit_request(&built);
    let committed = ask(engine, |reply| commit(reply).into()).await.unwrap();
    assert!(committed.head);
}

/// [`actor_cycle`] with the requests sent down the Chain's line (no mailbox hop).
async fn line_cycle(line: &ChainLine, clock: &Clock) {
    let built = line.call(build_request(clock.next()), TIMEOUT).await.unwrap().unwrap();
    let committed = line.call(commit_request(&built), TIMEOUT).await.unwrap().unwrap();
    assert!(committed.head);
}

fn on_head(head: B256) -> ForkchoiceState {
    ForkchoiceState {
        head_block_hash: head,
        safe_block_hash: B256::ZERO,
        finalized_block_hash: B256::ZERO,
    }
}

fn attributes(timestamp: u64) -> PayloadAttributes {
    PayloadAttributes {
        timestamp,
        prev_randao: B256::ZERO,
        suggested_fee_recipient: DEAD_ADDRESS,
        withdrawals: Some(Vec::new()),
        parent_beacon_block_root: None,
        slot_number: None,
        target_gas_limit: None,
    }
}

struct Direct {
    pool: ExecutionPool,
    eth: Arc<dyn EthApi>,
    head: Mutex<B256>,
}

async fn direct_cycle(d: &Direct, clock: &Clock) {
    let timestamp = clock.next();
    let head = *d.head.lock().unwrap();
    let state = on_head(head);
    let attributes = attributes(timestamp);
    let built = d.pool.build_payload(state, attributes).await.unwrap();
    let hash = built.response.payload.block_hash();
    let next = ForkchoiceState { head_block_hash: hash, ..state };
    let outcome = d.pool.commit(built.response.payload, built.sidecar, next).await.unwrap();
    assert!(outcome.is_valid());
    d.eth.block_receipts(BlockId::hash(hash)).await.unwrap().unwrap();
    *d.head.lock().unwrap() = hash;
}

fn pool_port(el: &MockEl) -> Arc<dyn ExecutionPort> {
    let (pool, eth) = pool(el);
    Arc::new(PoolPort::new(pool, vec![eth]).unwrap())
}

/// The port calls of one actor cycle, made directly on the in-memory EL.
async fn direct_port_cycle(el: &fake_el::FakeEl, clock: &Clock) {
    let timestamp = clock.next();
    let head = el.head();
    let state = on_head(head);
    let attributes = attributes(timestamp);
    let built = el.build_payload(state, attributes).await.unwrap();
    let hash = built.response.payload.block_hash();
    let next = ForkchoiceState { head_block_hash: hash, ..state };
    let outcome = el.commit(built.response.payload, built.sidecar, next).await.unwrap();
    assert!(outcome.is_valid());
    el.block_receipts(hash).await.unwrap().unwrap();
}

/// Times `iters` cycles in a task on the runtime's workers (see the module doc).
fn on_worker<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, cycle: F) -> Duration
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                cycle().await;
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

/// The in-process sides, run in turn `rounds` times in a task on the runtime's workers:
/// each side's samples.
fn interleaved_on_worker(
    rt: &tokio::runtime::Runtime,
    rounds: usize,
    el: Arc<fake_el::FakeEl>,
    engine: ActorRef<EngineMsg>,
    line: ChainLine,
    clocks: (Clock, Clock, Clock),
) -> Vec<Vec<Duration>> {
    rt.block_on(async move {
        tokio::spawn(async move {
            let mut samples: Vec<Vec<Duration>> =
                (0..3).map(|_| Vec::with_capacity(rounds)).collect();
            for _ in 0..rounds {
                let start = Instant::now();
                direct_port_cycle(&el, &clocks.0).await;
                samples[0].push(start.elapsed());
                let start = Instant::now();
                actor_cycle(&engine, &clocks.1).await;
                samples[1].push(start.elapsed());
                let start = Instant::now();
                line_cycle(&line, &clocks.2).await;
                samples[2].push(start.elapsed());
            }
            samples
        })
        .await
        .unwrap()
    })
}

type Cycle<'a> = &'a dyn Fn() -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs the sides in turn, `rounds` times, and prints each side's p50/p99 and its p50
/// overhead over the first side.
fn interleaved(
    rt: &tokio::runtime::Runtime,
    title: &str,
    rounds: usize,
    sides: &[(&str, Cycle<'_>)],
) {
    let mut samples = vec![Vec::with_capacity(rounds); sides.len()];
    rt.block_on(async {
        for _ in 0..rounds {
            for ((_, cycle), samples) in sides.iter().zip(&mut samples) {
                let start = Instant::now();
                cycle().await;
                samples.push(start.elapsed());
            }
        }
    });
    let names: Vec<&str> = sides.iter().map(|(name, _)| *name).collect();
    report(title, rounds, &names, samples);
}

/// Prints each side's p50/p99 and its p50 overhead over the first side; returns the p50s.
fn report(
    title: &str,
    rounds: usize,
    names: &[&str],
    samples: Vec<Vec<Duration>>,
) -> Vec<Duration> {
    println!("{title}, interleaved, {rounds} rounds:");
    let mut base = None;
    let mut p50s = Vec::with_capacity(names.len());
    for (name, samples) in names.iter().zip(samples) {
        let (p50, p99) = percentiles(samples);
        p50s.push(p50);
        let overhead =
            base.map(|b: Duration| format!("  overhead p50 {:>8.1?}", p50.saturating_sub(b)));
        println!("  {name:<12} p50 {p50:>10.1?}  p99 {p99:>10.1?}{}", overhead.unwrap_or_default());
        base.get_or_insert(p50);
    }
    p50s
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99))
}

fn main() {
    // The node's recorder: with none installed, every metric update is a no-op and the
    // actor's (a dozen per cycle) would cost nothing here. Like the node, fold the histogram
    // samples every 5 s, or they pile up for the whole run.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            metrics.run_upkeep();
        }
    });
    let shm = Path::new("/dev/shm");
    let tmpfs_dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let disk_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (el_direct, el_tmpfs, el_disk, direct, on_tmpfs, on_disk) = rt.block_on(async {
        let el_direct = MockEl::start(MockElConfig::default()).await.unwrap();
        let el_tmpfs = MockEl::start(MockElConfig::default()).await.unwrap();
        let el_disk = MockEl::start(MockElConfig::default()).await.unwrap();
        let (pool, eth) = pool(&el_direct);
        let direct = Direct { pool, eth, head: Mutex::new(el_direct.genesis().hash) };
        let on_tmpfs = engine(pool_port(&el_tmpfs), tmpfs_dir.path()).await.0;
        let on_disk = engine(pool_port(&el_disk), disk_dir.path()).await.0;
        (el_direct, el_tmpfs, el_disk, direct, on_tmpfs, on_disk)
    });
    let clocks = (Clock::default(), Clock::default(), Clock::default());
    let fake_direct = Arc::new(fake_el::FakeEl::default());
    let fake_actor_dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let on_fake =
        rt.block_on(engine(Arc::new(fake_el::FakeEl::default()), fake_actor_dir.path())).0;
    // Its own engine: two cycles in a row on one engine would meet the first's peg-out scan.
    let fake_line_dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let line = rt.block_on(engine(Arc::new(fake_el::FakeEl::default()), fake_line_dir.path())).1;
    let fake_clocks = (Clock::default(), Clock::default(), Clock::default());

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("build_commit");
    group.bench_function("direct_pool", |b| {
        b.to_async(&rt).iter(|| direct_cycle(&direct, &clocks.0))
    });
    group.bench_function("actor_tmpfs", |b| {
        b.to_async(&rt).iter(|| actor_cycle(&on_tmpfs, &clocks.1))
    });
    group.bench_function("actor_disk", |b| {
        b.to_async(&rt).iter(|| actor_cycle(&on_disk, &clocks.2))
    });
    group.finish();
    let mut group = c.benchmark_group("in_process");
    group.bench_function("direct_port", |b| {
        b.iter_custom(|iters| {
            let (el, clock) = (fake_direct.clone(), fake_clocks.0.clone());
            on_worker(&rt, iters, move || {
                let (el, clock) = (el.clone(), clock.clone());
                async move { direct_port_cycle(&el, &clock).await }
            })
        })
    });
    group.bench_function("actor_port", |b| {
        b.iter_custom(|iters| {
            let (engine, clock) = (on_fake.clone(), fake_clocks.1.clone());
            on_worker(&rt, iters, move || {
                let (engine, clock) = (engine.clone(), clock.clone());
                async move { actor_cycle(&engine, &clock).await }
            })
        })
    });
    group.bench_function("line_port", |b| {
        b.iter_custom(|iters| {
            let (line, clock) = (line.clone(), fake_clocks.2.clone());
            on_worker(&rt, iters, move || {
                let (line, clock) = (line.clone(), clock.clone());
                async move { line_cycle(&line, &clock).await }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("state");
    let store = engine_actor::persist::StateStore::new(fake_actor_dir.path().join("bench"), false);
    let state = engine_actor::persist::PersistedState::new(Default::default());
    group.bench_function("save_tmpfs", |b| b.iter(|| store.save(&state).unwrap()));
    let disk_store = engine_actor::persist::StateStore::new(disk_dir.path().join("bench"), false);
    group.bench_function("save_disk", |b| b.iter(|| disk_store.save(&state).unwrap()));
    group.finish();

    let rounds = 2000;
    let samples = interleaved_on_worker(&rt, rounds, fake_direct, on_fake, line, fake_clocks);
    let names = ["direct_port", "actor_port", "line_port"];
    let p50s = report("in process, on a runtime worker", rounds, &names, samples);
    for (name, p50) in names.iter().zip(&p50s).skip(1) {
        pairs::record(&format!("in_process/{name}"), "in_process/direct_port", *p50, p50s[0]);
    }
    interleaved(
        &rt,
        "mock EL over HTTP",
        300,
        &[
            ("direct_pool", &|| Box::pin(direct_cycle(&direct, &clocks.0))),
            ("actor_tmpfs", &|| Box::pin(actor_cycle(&on_tmpfs, &clocks.1))),
            ("actor_disk", &|| Box::pin(actor_cycle(&on_disk, &clocks.2))),
        ],
    );
    drop((el_direct, el_tmpfs, el_disk));
}
