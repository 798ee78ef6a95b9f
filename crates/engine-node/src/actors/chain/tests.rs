use super::*;
use crate::actors::{call_engine, engine_status};
use engine_actor::{
    EngineActor, EngineActorConfig, EngineArgs, EngineMsg, QueryMsg,
    heads::ForkchoiceHeads,
    peers::{BurnEventsDetected, StoreExecutionData},
    port::PoolPort,
    supervision::tree::names::{CHAIN_ACTOR, ENGINE_ACTOR},
    tree::{registry_addresses, registry_chain_events},
};
use engine_devnet::rpc_server::ElPorts;
use engine_testkit::{Fault, MockEl, MockElConfig};
use engine_types::Severity;
use engine_types::{
    PayloadStatusWire, Satoshis,
    config::{EndpointConfig, TimeoutConfig},
    eips::{BlockId, eip4895::Withdrawal},
    primitives::{self, Address},
};

fn peg_in(n: u8) -> PegIn {
    PegIn {
        evm_address: Address::repeat_byte(n),
        amount: Satoshis(u64::from(n) * 1000),
        bitcoin_txid: B256::repeat_byte(n),
    }
}

const SECOND: Duration = Duration::from_secs(1);

fn config(slot: Duration, commit: Duration) -> ProductionConfig {
    ProductionConfig {
        slot,
        blocks: None,
        finalize_every: 0,
        timeouts: ChainTimeouts {
            build: 10 * SECOND,
            commit,
            what_landed: 20 * SECOND,
            finalize: 10 * SECOND,
            forkchoice: 10 * SECOND,
        },
        build_lookahead: Duration::ZERO,
    }
}

use crate::actors::fault::REGISTRY;

/// A real engine over HTTP to a MockEl, and the Chain actor (with a slot so long it
/// never ticks: the tests run the slots themselves), each under its V2 name.
struct Rig {
    el: MockEl,
    shared: Arc<ChainShared>,
    engine: ActorRef<EngineMsg>,
    chain: ActorRef<ChainCmd>,
    _dir: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Rig {
    /// The Chain gives up on a commit after `commit`.
    async fn start(commit: Duration) -> Self {
        Self::start_with(commit, MockElConfig::default(), Duration::ZERO).await
    }

    /// The Chain gives up on a commit after `commit`, against a mock started with `mock`,
    /// with `engine.build_lookahead` = `lookahead`.
    async fn start_with(commit: Duration, mock: MockElConfig, lookahead: Duration) -> Self {
        let turn = REGISTRY.lock().await;
        let el = MockEl::start(mock).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut engine_config = EngineConfig {
            endpoints: vec![EndpointConfig {
                name: Some("mock".into()),
                engine_url: el.engine_url(),
                public_url: Some(el.public_url()),
                jwt_secret_file: Some(el.jwt_secret_path()),
                jwt_id: None,
                ..EndpointConfig::default()
            }],
            timeouts: TimeoutConfig {
                forkchoice_updated: 5 * SECOND,
                get_payload: 5 * SECOND,
                new_payload: 5 * SECOND,
                eth: 5 * SECOND,
                ..TimeoutConfig::default()
            },
            build_lookahead: lookahead,
            ..EngineConfig::default()
        };
        engine_config.retry.max_attempts = 1;
        let chain_config = engine_types::config::ChainConfig::default();
        let port = PoolPort::from_config(&engine_config, chain_config.fork_schedule).unwrap();
        let shared = ChainShared::new(
            ProductionConfig {
                build_lookahead: lookahead,
                ..config(Duration::from_secs(3600), commit)
            },
            None,
            0,
            PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
        );
        let (chain, _) =
            Actor::spawn(Some(CHAIN_ACTOR.into()), ChainActor, Arc::clone(&shared)).await.unwrap();
        let mut peers =
            registry_addresses::<BurnEventsDetected, StoreExecutionData>(false, false, false);
        peers.chain_events = Some(registry_chain_events::<ChainCmd>());
        let mut config = EngineActorConfig::new(chain_config, dir.path());
        config.tick_interval = Duration::from_millis(50);
        let args = EngineArgs { config, port: Arc::new(port), peers, line: shared.line() };
        let (engine, _) = Actor::spawn(Some(ENGINE_ACTOR.into()), EngineActor, args).await.unwrap();
        let rig = Self { el, shared, engine, chain, _dir: dir, _turn: turn };
        rig.until_ready().await;
        rig
    }

    /// Waits until the engine can build.
    async fn until_ready(&self) {
        for _ in 0..400 {
            if engine_status().await.is_ok_and(|s| s.state.can_build()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the engine never became ready: {:?}", engine_status().await);
    }

    /// Asks the engine to make `head` its head (safe and finalized unset), as the Chain does.
    async fn forkchoice_update(&self, head: B256) -> Result<ForkchoiceHeads, ActorError> {
        call_engine(
            |reply| {
                ChainRequest::ForkchoiceUpdate {
                    correlation: CorrelationId::new(),
                    head,
                    safe: B256::ZERO,
                    finalized: B256::ZERO,
                    reply,
                }
                .into()
            },
            10 * SECOND,
        )
        .await
        .unwrap()
    }

    /// The withdrawals of canonical block `number`, as the engine reads it from the EL.
    async fn withdrawals(&self, number: u64) -> Vec<Withdrawal> {
        let block = call_engine(
            |reply| {
                QueryMsg::GetBlock {
                    correlation: CorrelationId::new(),
                    block: BlockId::number(number),
                    with_txs: false,
                    reply,
                }
                .into()
            },
            10 * SECOND,
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap_or_else(|| panic!("no block {number}"));
        block.withdrawals.map(|w| w.to_vec()).unwrap_or_default()
    }

    fn pending(&self) -> Vec<PegIn> {
        let mut queue = self.shared.queue();
        let all = queue.take_for_build();
        queue.build_failed();
        all
    }

    async fn finish(self) {
        self.engine.stop_and_wait(None, None).await.unwrap();
        self.chain.stop_and_wait(None, None).await.unwrap();
    }
}

/// The addresses minted by `withdrawals`.
fn minted(withdrawals: &[Withdrawal]) -> Vec<Address> {
    withdrawals.iter().map(|w| w.address).collect()
}

/// Peg-ins handed back go before the ones that arrived since, in their original order.
#[test]
fn requeued_peg_ins_keep_their_place() {
    let shared = ChainShared::new(
        config(SECOND, SECOND),
        None,
        0,
        PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
    );
    shared.queue_peg_ins([peg_in(1), peg_in(2)]);
    shared.update_queue(PegInQueue::take_for_build);
    shared.queue_peg_ins([peg_in(3)]);
    shared.update_queue(PegInQueue::build_failed);
    assert_eq!(shared.update_queue(PegInQueue::take_for_build), [peg_in(1), peg_in(2), peg_in(3)]);
}

/// A commit the Chain gave up on (its budget is shorter than the EL's newPayload) is
/// finished by the engine's worker: the Chain asks what landed, counts the block as
/// produced, queues nothing again, and the next block mints only new peg-ins. Every
/// peg-in is minted exactly once and the block is committed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_outlives_its_caller_is_learned_not_repeated() {
    let budget = Duration::from_millis(200);
    let rig = Rig::start(budget).await;
    rig.el.fail_next("engine_newPayloadV2", Fault::Delay(SECOND), 1);
    rig.shared.queue_peg_ins([peg_in(1), peg_in(2)]);
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!((line.number, line.peg_ins), (1, 2), "{line}");
    // Not a speed check: the answer came from WhatLanded, asked once the budget ran out.
    assert!(line.commit >= budget, "{line}");
    assert_eq!(rig.el.head().hash, line.hash);
    assert_eq!(rig.el.calls("engine_newPayloadV2").len(), 1, "committed once");
    assert!(rig.pending().is_empty() && rig.shared.queue().unsettled().is_empty());

    rig.shared.queue_peg_ins([peg_in(3)]);
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!((line.number, line.peg_ins), (2, 1), "{line}");
    let mut all = minted(&rig.withdrawals(1).await);
    all.extend(minted(&rig.withdrawals(2).await));
    assert_eq!(all, [peg_in(1), peg_in(2), peg_in(3)].map(|p| p.evm_address));
    rig.finish().await;
}

/// A commit answered SYNCING is not the head: the Chain asks what landed and queues the
/// unminted peg-ins again (here all of them, first, in order); once the EL is in sync
/// they are minted once, in the next block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syncing_commit_requeues_only_what_did_not_land() {
    let rig = Rig::start(10 * SECOND).await;
    rig.el.fail_next("engine_newPayloadV2", Fault::Status(PayloadStatusWire::syncing()), 1);
    rig.shared.queue_peg_ins([peg_in(1), peg_in(2)]);
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Failed { stage: "commit", error }] = outcomes.as_slice() else {
        panic!("{outcomes:?}")
    };
    assert!(error.to_string().contains("was not made the head"), "{error}");
    assert_eq!(error.severity(), Severity::Retry, "SYNCING: the next slot tries again");
    assert_eq!(rig.pending(), [peg_in(1), peg_in(2)]);
    assert!(rig.shared.queue().unsettled().is_empty());
    assert_eq!(rig.el.head().header.number, 0, "the EL never imported it");

    rig.until_ready().await;
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!((line.number, line.peg_ins), (1, 2), "{line}");
    assert_eq!(minted(&rig.withdrawals(1).await), [peg_in(1), peg_in(2)].map(|p| p.evm_address));
    assert!(rig.pending().is_empty());
    rig.finish().await;
}

/// A `Reset` error (the EL lost the payload it built: UNKNOWN_PAYLOAD) makes the next
/// slot re-send the engine's forkchoice state (no attributes) before it builds, and that
/// slot produces; a `Fatal` one is what stops the actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_error_resyncs_before_the_next_build() {
    let rig = Rig::start(10 * SECOND).await;
    rig.el.fail_next("engine_getPayloadV2", Fault::rpc_error(-38001, "Unknown payload"), 1);
    rig.shared.queue_peg_ins([peg_in(1)]);
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Failed { stage: "build", error }] = outcomes.as_slice() else {
        panic!("{outcomes:?}")
    };
    assert_eq!(error.severity(), Severity::Reset, "{error}");
    let mut failed = 0;
    for outcome in outcomes {
        let stop = record(&rig.shared, outcome, &mut failed);
        assert!(stop.is_none(), "a reset does not stop the Chain");
    }
    assert!(rig.shared.resync.load(Ordering::Acquire));
    let before = rig.el.calls("engine_forkchoiceUpdatedV2").len();
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!((line.number, line.peg_ins), (1, 1), "the peg-in was kept: {line}");
    assert!(!rig.shared.resync.load(Ordering::Acquire));
    let calls = rig.el.calls("engine_forkchoiceUpdatedV2");
    let attributes = |i: usize| calls[i].params.get(1).filter(|a| !a.is_null()).is_some();
    assert!(!attributes(before), "the re-sync comes first: {:?}", calls[before].params);
    assert!(attributes(before + 1), "then the build: {:?}", calls[before + 1].params);

    let fatal = ActorError::StateFile { path: "/d/s.json".into(), reason: "read-only".into() };
    let stop = record(
        &rig.shared,
        SlotOutcome::Failed { stage: "commit", error: fatal.into() },
        &mut failed,
    );
    let Some(ChainFailure::Fatal { stage: "commit", error }) = stop else { panic!("{stop:?}") };
    assert!(error.to_string().contains("read-only"), "{error}");
    rig.finish().await;
}

/// When the engine walks its head back (the EL declared it INVALID), the peg-ins the
/// discarded block minted reach the Chain (`HeadChanged` through the registry) and go
/// back to the front of its queue, before the ones waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peg_ins_of_a_discarded_block_come_back_first() {
    let rig = Rig::start(10 * SECOND).await;
    rig.shared.queue_peg_ins([peg_in(1), peg_in(2)]);
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    let head = line.hash;
    rig.shared.queue_peg_ins([peg_in(3)]);
    let genesis = rig.el.genesis().hash;
    rig.el.fail_next(
        "engine_forkchoiceUpdatedV2",
        Fault::Status(PayloadStatusWire::invalid(Some(genesis), "declared invalid by the test")),
        1,
    );
    let answer = rig.forkchoice_update(head).await;
    assert!(matches!(answer, Err(ActorError::Rejected { .. })), "{answer:?}");
    let mut pending = Vec::new();
    for _ in 0..400 {
        pending = rig.pending();
        if pending.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pending, [peg_in(1), peg_in(2), peg_in(3)]);
    rig.finish().await;
}

/// A slot after one whose commit made its block the head builds on that block without
/// asking the engine for its status; an engine that cannot build then refuses the build and
/// the slot waits (its peg-ins kept); a failed slot or a `HeadChanged` from the engine sends
/// the next slot back to asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_after_a_committed_block_builds_on_it_without_asking_the_status() {
    let rig = Rig::start(10 * SECOND).await;
    let asks = || rig.shared.status_asks.load(Ordering::SeqCst);
    let produce = || async {
        let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
        let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
        line.clone()
    };
    let first = produce().await;
    assert_eq!((first.number, asks()), (1, 1));
    rig.shared.queue_peg_ins([peg_in(1)]);
    let second = produce().await;
    assert_eq!((second.number, second.peg_ins, asks()), (2, 1, 1), "no status asked");
    assert_eq!(rig.el.block(second.hash).unwrap().header.parent_hash, first.hash);

    // The engine stops being able to build: the build is refused, the slot waits.
    rig.el.fail_always("engine_forkchoiceUpdatedV2", Fault::Status(PayloadStatusWire::syncing()));
    let resent = rig.forkchoice_update(second.hash).await;
    assert!(matches!(resent, Err(ActorError::Syncing { .. })), "{resent:?}");
    rig.shared.queue_peg_ins([peg_in(2)]);
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Waiting(why)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert!(why.contains("syncing"), "{why}");
    assert_eq!(asks(), 1, "the build itself was refused");
    assert_eq!(rig.pending(), [peg_in(2)], "the peg-in is kept");

    // After a slot that did not commit, the next one asks.
    rig.el.clear_all_faults();
    rig.until_ready().await;
    let third = produce().await;
    assert_eq!((third.number, third.peg_ins, asks()), (3, 1, 2));
    assert_eq!(produce().await.number, 4);
    assert_eq!(asks(), 2);

    // A HeadChanged from the engine: the next slot asks.
    let change = HeadChanged {
        correlation: CorrelationId::new(),
        cause: engine_actor::peers::HeadChangeCause::AdoptedFromEl,
        from: BlockRef::default(),
        to: BlockRef::default(),
        adopted: Vec::new(),
        discarded: Vec::new(),
        returned_peg_ins: Vec::new(),
    };
    rig.chain.cast(change.into()).unwrap();
    until("the Chain handled HeadChanged", || rig.shared.committed_head().is_none()).await;
    assert_eq!(produce().await.number, 5);
    assert_eq!(asks(), 3);
    rig.finish().await;
}

/// A Chain incarnation started after the node asked for the stop (a restart by the
/// supervision tree while the node shuts down) does not run slots again.
#[tokio::test]
async fn an_incarnation_after_stop_stays_stopped() {
    // No engine is registered while this runs: a slot that ran would fail and be counted.
    let _turn = REGISTRY.lock().await;
    let shared = ChainShared::new(
        config(Duration::from_secs(3600), SECOND),
        None,
        0,
        PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
    );
    let timeout = Some(Duration::from_secs(10));
    let (first, first_join) = Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
    let stopped = first.call(|reply| ChainCmd::Stop { reply }, timeout).await.unwrap();
    assert!(matches!(stopped, ractor::rpc::CallResult::Success(0)));
    first.stop(None);
    first_join.await.unwrap();

    let (second, second_join) = Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
    // A tick of the new incarnation's generation; a running slot would fail (no engine)
    // and be counted before the stop is answered.
    second.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    let stopped = second.call(|reply| ChainCmd::Stop { reply }, timeout).await.unwrap();
    assert!(matches!(stopped, ractor::rpc::CallResult::Success(0)));
    assert_eq!(shared.lines.lock().unwrap().failures(), 0, "no slot ran");
    second.stop(None);
    second_join.await.unwrap();
}

/// A slot task that panics makes the Chain actor fail with the panic named, instead of
/// leaving it waiting forever for a slot that never reports (production would stop).
#[tokio::test]
async fn a_panicking_slot_fails_the_chain() {
    let shared = ChainShared::new(
        config(Duration::from_secs(3600), SECOND),
        None,
        0,
        PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
    );
    shared.panic_next_slot();
    let (chain, join) = Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
    chain.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    tokio::time::timeout(Duration::from_secs(10), join).await.unwrap().unwrap();
    assert_eq!(chain.get_status(), ractor::ActorStatus::Stopped);
}

/// The Chain's timeouts are the engine's budgets, and a stop waits for a whole slot.
#[test]
fn timeouts_come_from_the_engine_budgets() {
    let engine = EngineConfig::default();
    let t = ChainTimeouts::from_engine(&engine).unwrap();
    assert_eq!(t.build, engine.build_budget().unwrap());
    assert_eq!(t.commit, engine.commit_budget().unwrap());
    assert_eq!(t.what_landed, engine.what_landed_budget().unwrap());
    assert_eq!(t.finalize, engine.forkchoice_budget().unwrap());
    assert_eq!(t.forkchoice, engine.forkchoice_budget().unwrap());
    assert!(t.slot() > t.build + t.commit + 2 * t.what_landed);
    assert_eq!(t.stop_wait(), MAX_STOP_WAIT, "the defaults' slot is longer");
    let fast = ChainTimeouts {
        build: SECOND,
        commit: SECOND,
        what_landed: SECOND,
        finalize: SECOND,
        forkchoice: SECOND,
    };
    assert_eq!(fast.stop_wait(), fast.slot());
}

/// A built payload off the request (an EL serving a stale payload: the previous block's,
/// on another parent, with another number, timestamp and withdrawals) is refused by the
/// engine's validation before anything commits it: the slot fails at the build, the EL
/// imports nothing, the peg-ins stay queued, and the next slot mints them on the right
/// parent. (The Chain once repeated these checks itself; the engine's are the one place.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_off_the_request_is_refused_and_its_peg_ins_stay_queued() {
    let rig = Rig::start(10 * SECOND).await;
    rig.shared.queue_peg_ins([peg_in(1)]);
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!(line.number, 1, "{line}");
    let stale = rig.el.calls("engine_getPayloadV2").last().and_then(|c| c.result().cloned());
    let stale = stale.expect("the first block's getPayload answer");
    rig.el.fail_next("engine_getPayloadV2", Fault::Result(stale), 1);
    let imports = rig.el.calls("engine_newPayloadV2").len();

    rig.shared.queue_peg_ins([peg_in(2)]);
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Failed { stage: "build", error }] = outcomes.as_slice() else {
        panic!("{outcomes:?}")
    };
    let text = error.to_string();
    assert!(text.contains("parent") && text.contains("timestamp"), "{text}");
    assert_eq!(rig.el.calls("engine_newPayloadV2").len(), imports, "nothing was sent to import");
    assert_eq!(rig.el.head().header.number, 1);
    assert_eq!(rig.pending(), [peg_in(2)]);
    assert!(rig.shared.queue().unsettled().is_empty());

    rig.until_ready().await;
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!((line.number, line.peg_ins), (2, 1), "{line}");
    assert_eq!(minted(&rig.withdrawals(2).await), [peg_in(2).evm_address]);
    assert!(rig.pending().is_empty());
    rig.finish().await;
}

/// Builds (forkchoiceUpdated with payload attributes) the EL has seen.
fn builds(el: &MockEl) -> usize {
    el.calls("engine_forkchoiceUpdatedV2")
        .iter()
        .filter(|c| c.params.get(1).is_some_and(|a| !a.is_null()))
        .count()
}

/// Waits until `done` holds, checking every few milliseconds; fails naming `what` after 10 s
/// (a bound for a loaded host, not an expected time).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(10 * SECOND, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    waited.await.unwrap_or_else(|_| panic!("not within 10 s: {what}"));
}

/// Waits until the Chain has recorded `n` blocks.
async fn until_produced(shared: &ChainShared, n: u64) {
    let mut progress = shared.subscribe();
    tokio::time::timeout(10 * SECOND, progress.wait_for(|p| p.produced >= n))
        .await
        .unwrap_or_else(|_| panic!("{n} blocks not recorded: {:?}", *shared.progress.borrow()))
        .unwrap();
}

/// Starts a slot and waits until its getPayload has reached the EL and is held there by the
/// fault the test scripted for it. The mock records a call only once it is answered (after
/// the delay), so the wait is on the fault being taken, which happens when the call arrives:
/// waiting for the recorded call instead would return as the slot ends, not while it runs.
async fn tick_until_building(rig: &Rig) {
    const GET_PAYLOAD: &str = "engine_getPayloadV2";
    assert_eq!(rig.el.script().pending_faults(GET_PAYLOAD), 1, "the test holds one getPayload");
    rig.chain.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    until("the slot asked for its payload", || rig.el.script().pending_faults(GET_PAYLOAD) == 0)
        .await;
    assert!(rig.el.calls(GET_PAYLOAD).is_empty(), "its getPayload is still held");
    assert_eq!(builds(&rig.el), 1, "the slot is building");
}

/// The supervisor restarts the Chain while its slot waits for a payload (the EL's
/// getPayload hangs): the new incarnation starts no slot of its own until the old one is
/// collected (a tick meanwhile starts its slot after that), records the old slot's block,
/// and the peg-ins of that build are minted once, with the one that arrived meanwhile in
/// the next block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_a_slot_is_in_flight_collects_it_first() {
    let mut rig = Rig::start(10 * SECOND).await;
    rig.el.fail_next("engine_getPayloadV2", Fault::Delay(2 * SECOND), 1);
    rig.shared.queue_peg_ins([peg_in(1), peg_in(2)]);
    tick_until_building(&rig).await;

    // The restart: this incarnation stops, the next starts on the same shared state.
    rig.chain.stop_and_wait(None, None).await.unwrap();
    let (chain, _) =
        Actor::spawn(Some(CHAIN_ACTOR.into()), ChainActor, Arc::clone(&rig.shared)).await.unwrap();
    rig.chain = chain;
    rig.shared.queue_peg_ins([peg_in(3)]);
    // Deferred: the inherited slot is in flight. Its slot starts once that one is collected.
    rig.chain.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    until_produced(&rig.shared, 2).await;
    assert_eq!(builds(&rig.el), 2, "one build per slot: none beside the one in flight");
    assert_eq!(minted(&rig.withdrawals(1).await), [peg_in(1), peg_in(2)].map(|p| p.evm_address));
    assert_eq!(minted(&rig.withdrawals(2).await), [peg_in(3).evm_address]);
    assert_eq!(rig.el.head().header.number, 2);
    assert_eq!(*rig.shared.progress.borrow(), ChainProgress { produced: 2, finished: false });
    assert!(rig.pending().is_empty() && rig.shared.queue().unsettled().is_empty());
    assert_eq!(rig.shared.lines.lock().unwrap().failures(), 0);
    rig.finish().await;
}

/// A slot that must re-sync re-syncs before it settles: a `Reset` met while settling
/// does not keep later slots from re-syncing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resync_comes_before_settling() {
    let rig = Rig::start(10 * SECOND).await;
    let unknown =
        Unsettled { block: B256::repeat_byte(0x77), number: 1, txs: 0, peg_ins: vec![peg_in(1)] };
    rig.shared.update_queue(|q| {
        q.take_for_build();
        q.built(unknown, &[], &[]);
    });
    rig.shared.resync.store(true, Ordering::Release);
    let fcu_before = rig.el.calls("engine_forkchoiceUpdatedV2").len();
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    assert!(!rig.shared.resync.load(Ordering::Acquire), "re-synced: {outcomes:?}");
    let calls = rig.el.calls("engine_forkchoiceUpdatedV2");
    let first = calls.get(fcu_before).expect("a forkchoiceUpdated");
    assert!(first.params.get(1).is_none_or(serde_json::Value::is_null), "the re-sync: {first:?}");
    assert!(rig.shared.queue().unsettled().is_empty(), "then settled: {outcomes:?}");
    // The unknown block did not land: its peg-in went back and the slot's block mints it.
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!((line.number, line.peg_ins), (1, 1), "{line}");
    rig.finish().await;
}

/// `MAX_FAILED_SLOTS` failures in a row with no block between them stop the Chain
/// with the last error; a block resets the count and a `Waiting` slot leaves it.
#[test]
fn failed_slots_in_a_row_escalate() {
    let shared = ChainShared::new(
        config(SECOND, SECOND),
        None,
        0,
        PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
    );
    let failed = || SlotOutcome::Failed { stage: "build", error: CallError::NotRunning.into() };
    let produced = || {
        SlotOutcome::Produced(BlockLine {
            number: 1,
            hash: B256::ZERO,
            txs: 0,
            peg_ins: 0,
            build: Duration::ZERO,
            commit: Duration::ZERO,
            finalized: false,
        })
    };
    let mut in_a_row = 0;
    for _ in 1..MAX_FAILED_SLOTS {
        assert!(record(&shared, failed(), &mut in_a_row).is_none());
    }
    assert!(record(&shared, produced(), &mut in_a_row).is_none());
    assert_eq!(in_a_row, 0, "a block resets the count");
    for _ in 1..MAX_FAILED_SLOTS {
        assert!(record(&shared, failed(), &mut in_a_row).is_none());
        assert!(record(&shared, SlotOutcome::Waiting("x".into()), &mut in_a_row).is_none());
    }
    let stop = record(&shared, failed(), &mut in_a_row);
    let Some(ChainFailure::NoProgress { failures, stage: "build", error }) = &stop else {
        panic!("{stop:?}")
    };
    assert_eq!(*failures, MAX_FAILED_SLOTS);
    assert!(matches!(**error, SlotError::Call(CallError::NotRunning)), "{error}");
    let text = stop.unwrap().to_string();
    assert!(text.contains("5 slots in a row produced no block"), "{text}");
    assert!(text.contains("the engine actor is not running"), "{text}");
}

/// A `Stop` that waits for the slot in flight is answered even when that slot stops the
/// actor (here the fifth failure in a row: the engine never answers its status query).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_is_answered_when_the_slot_it_waits_for_fails_the_actor() {
    let _turn = REGISTRY.lock().await;
    let shared = ChainShared::new(
        config(Duration::from_secs(3600), SECOND),
        None,
        0,
        PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
    );
    let (chain, join) = Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
    // No engine: each slot fails at once (Retry).
    for n in 1..MAX_FAILED_SLOTS {
        chain.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
        until("the slot failed", || shared.lines.lock().unwrap().failures() == u64::from(n)).await;
    }
    assert_eq!(shared.lines.lock().unwrap().failures(), u64::from(MAX_FAILED_SLOTS - 1));
    // An engine that never answers: the last slot waits STATUS_TIMEOUT, then fails.
    let (engine, engine_join) = Actor::spawn(
        Some(engine_actor::supervision::tree::names::ENGINE_ACTOR.into()),
        crate::actors::fault::SilentEngine,
        (),
    )
    .await
    .unwrap();
    chain.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    let stopped = chain.call(|reply| ChainCmd::Stop { reply }, Some(10 * SECOND)).await;
    assert!(matches!(stopped, Ok(ractor::rpc::CallResult::Success(0))), "{stopped:?}");
    tokio::time::timeout(10 * SECOND, join).await.unwrap().unwrap();
    assert_eq!(shared.lines.lock().unwrap().failures(), u64::from(MAX_FAILED_SLOTS));
    engine.stop(None);
    engine_join.await.unwrap();
}

/// A slot the previous incarnation left running past the stop wait (here one that never
/// ends) is aborted, and production goes on with the next tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inherited_slot_past_the_stop_wait_is_abandoned() {
    // No engine is registered while this runs: the next slot must fail for want of one.
    let _turn = REGISTRY.lock().await;
    let fast = Duration::from_millis(50);
    let mut chain_config = config(Duration::from_secs(3600), fast);
    chain_config.timeouts = ChainTimeouts {
        build: fast,
        commit: fast,
        what_landed: fast,
        finalize: fast,
        forkchoice: fast,
    };
    let shared =
        ChainShared::new(chain_config, None, 0, PegInQueue::in_memory(queue::DEFAULT_CAPACITY));
    shared.hang_next_slot.store(true, Ordering::SeqCst);
    let (first, first_join) = Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
    first.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    while !shared.slot_running() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.stop(None);
    first_join.await.unwrap();

    let (second, second_join) = Actor::spawn(None, ChainActor, Arc::clone(&shared)).await.unwrap();
    second.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    // Before the stop wait, ticks start nothing beside the inherited slot.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(shared.slots.load(Ordering::SeqCst), 1, "no slot beside the inherited one");
    tokio::time::sleep(chain_config.timeouts.stop_wait()).await;
    second.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    until("the next slot failed", || shared.lines.lock().unwrap().failures() == 1).await;
    assert!(!shared.hang_next_slot.load(Ordering::SeqCst));
    assert_eq!(shared.slots.load(Ordering::SeqCst), 2, "the next slot ran");
    assert_eq!(shared.lines.lock().unwrap().failures(), 1, "it failed: no engine");
    second.stop(None);
    second_join.await.unwrap();
}

/// Ticks that come while a slot runs (its getPayload is held up) are not lost: once that
/// slot ends, the next starts without waiting for another tick, and only one does, however
/// many ticks were missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_missed_during_a_slot_starts_the_next_when_it_ends() {
    let rig = Rig::start(10 * SECOND).await;
    rig.el.fail_next("engine_getPayloadV2", Fault::Delay(2 * SECOND), 1);
    tick_until_building(&rig).await;
    for _ in 0..3 {
        rig.chain.send_message(ChainCmd::Tick { generation: 0 }).unwrap();
    }
    until_produced(&rig.shared, 2).await;
    // Long enough for a third slot to have come, were one due.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*rig.shared.progress.borrow(), ChainProgress { produced: 2, finished: false });
    assert_eq!(builds(&rig.el), 2);
    assert_eq!(rig.el.head().header.number, 2);
    rig.finish().await;
}

/// Against an execution client that fills blocks in the background (the mock as Geth), the
/// configured lookahead reaches the pool: the block carries the pending transfers, and its
/// timestamp is the time it was collected, not the time its build started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_lookahead_fills_blocks_of_a_background_builder() {
    use engine_testkit::fixtures::{Transfer, dev_signer, sign_transfer};
    let lookahead = Duration::from_millis(1500);
    let mock = MockElConfig {
        fill: engine_testkit::FillPolicy::Background { after: Duration::from_millis(200) },
        ..MockElConfig::default()
    };
    let rig = Rig::start_with(10 * SECOND, mock, lookahead).await;
    let signer = dev_signer(0).unwrap();
    for nonce in 0..3 {
        let t =
            Transfer::new(121_212, nonce, Address::repeat_byte(0x42), primitives::U256::from(1));
        rig.el.submit(sign_transfer(&signer, &t).unwrap()).unwrap();
    }
    let started = engine_types::jwt::unix_now();
    let outcomes = run_slot(&rig.shared, CorrelationId::new()).await;
    let [SlotOutcome::Produced(line)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!(line.txs, 3, "the builder had time to fill the block");
    let timestamp = rig.el.head().header.timestamp;
    assert!(timestamp > started, "stamped {timestamp}, collected 1.5 s after {started}");
    rig.finish().await;
}
