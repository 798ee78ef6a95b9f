//! The running actors under the Alys V2 supervision tree (`engine_actor::tree`): Chain and
//! Engine under the consensus supervisor (one-for-all), Bridge, Storage and Network each
//! under their own supervisor (one-for-one). Every actor is registered under its V2 name
//! (`engine_actor::supervision::tree::names`), and peers find each other by that name on
//! every use, so a restarted actor is found again.
//!
//! ```text
//!  AlysSystem (root)
//!  ├── ConsensusSupervisor ── ChainActor, EngineActor   (started first)
//!  ├── BridgeSupervisor    ── BridgeActor
//!  ├── StorageSupervisor   ── StorageActor
//!  └── NetworkSupervisor   ── NetworkActor
//!
//!  stop:  Chain: stop producing, wait for the slot in flight
//!         Storage: flush (every queued write committed)
//!         AlysSystem: shutdown (children stopped in reverse start order)
//! ```
//!
//! Each factory rebuilds its actor's arguments from shared (`Arc`) state at every
//! (re)start. An actor that cannot start at all stops the node at once (the cause is a
//! configuration or data problem a restart would not fix). Once running, an actor that exits
//! is restarted by its supervisor; when restarts exceed a supervisor's intensity (every
//! supervisor's intensity and backoff come from `[supervision]`) the failure escalates, and
//! when the root supervisor gives up the node stops (exit code 3) with the root's reason,
//! which names the actor that kept failing and its last reason. `/status` shows each
//! actor's restarts ([`supervision_status`]).

use crate::{
    actors::{
        bridge::BridgeActor,
        chain::{ChainActor, ChainCmd, ChainShared},
        network::NetworkActor,
        storage::{StorageActor, StorageMsg},
    },
    error::NodeError,
    store::ExecutionStore,
};
use engine_actor::{
    EngineArgs,
    status::EngineStatus,
    supervision::{
        SupervisionError,
        backoff::BackoffPolicy,
        intensity::IntensityLimit,
        supervisor::{
            ChildEvent, ChildFactory, ChildStatus, SupervisorMsg, SupervisorStatus, collect_status,
        },
        tree::{TreeSpec, names},
    },
    tree::{PeerFactories, engine_v2_tree},
};
use ractor::{
    Actor, ActorProcessingErr, ActorRef, concurrency::JoinHandle, registry, rpc::CallResult,
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::sync::watch;

/// How long the Storage actor gets to flush.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Added to the root's children's shutdown timeouts for the root's own stop.
const STOP_MARGIN: Duration = Duration::from_secs(2);
/// Every actor the tree starts, in the node's words.
const ACTORS: [&str; 5] = [
    names::CHAIN_ACTOR,
    names::ENGINE_ACTOR,
    names::BRIDGE_ACTOR,
    names::STORAGE_ACTOR,
    names::NETWORK_ACTOR,
];

/// How long the node waits for the root's reason once the root has stopped.
const CAUSE_WAIT: Duration = Duration::from_secs(1);
/// How long `/status` waits for each supervisor's answer.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// `[supervision]` in the config file: how every supervisor of the tree restarts its
/// failed actors. The defaults are `engine-supervision`'s (5 restarts within 1 minute,
/// 100 ms doubling up to 30 s).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SupervisionSettings {
    /// Restarts a supervisor allows within a window before it gives up and escalates.
    pub(crate) intensity: IntensityLimit,
    /// The delay before each restart.
    pub(crate) backoff: BackoffPolicy,
}

impl SupervisionSettings {
    /// Every problem, named `supervision.<field>`; empty when usable.
    pub(crate) fn problems(&self) -> Vec<String> {
        let policy = engine_actor::supervision::policy::SupervisorPolicy {
            intensity: self.intensity,
            backoff: self.backoff.clone(),
            ..Default::default()
        };
        policy.problems("supervision.")
    }
}

/// What the actors are started with; the factories clone from it at every (re)start.
#[derive(Debug)]
pub(crate) struct TreeArgs {
    /// The Chain actor's shared state.
    pub(crate) chain: Arc<ChainShared>,
    /// The engine's arguments.
    pub(crate) engine: EngineArgs,
    /// The Storage actor's database.
    pub(crate) store: Arc<ExecutionStore>,
    /// Every supervisor's intensity and backoff.
    pub(crate) supervision: SupervisionSettings,
}

/// The running tree: its root supervisor.
#[derive(Debug)]
pub(crate) struct Tree {
    root: ActorRef<SupervisorMsg>,
    root_name: String,
    /// `None` once the root has stopped.
    join: Option<JoinHandle<()>>,
    /// How long the root may take to stop its children.
    stop_timeout: Duration,
    /// How long a stop waits for the slot in flight (`ChainTimeouts::stop_wait`).
    slot_timeout: Duration,
    /// Why the root gave up, once it has (from the `Escalated` events).
    gave_up: watch::Receiver<Option<GaveUp>>,
    /// Follows the tree's events to fill `gave_up`.
    watch: ActorRef<(String, String, String)>,
}

impl Tree {
    /// Spawns the V2 tree; an actor that fails its first start stops the tree again.
    pub(crate) async fn start(args: TreeArgs) -> Result<Self, NodeError> {
        let TreeArgs { chain, engine, store, supervision } = args;
        let slot_timeout = chain.config().timeouts.stop_wait();
        let mut spec = engine_v2_tree(
            PeerFactories {
                chain: ChildFactory::actor(ChainActor, move |_| Arc::clone(&chain)),
                bridge: Some(ChildFactory::actor(BridgeActor, |_| ())),
                storage: Some(ChildFactory::actor(StorageActor, move |_| Arc::clone(&store))),
                network: Some(ChildFactory::actor(NetworkActor, |_| ())),
            },
            move |_| engine.clone(),
        );
        spec.for_each_supervisor(|s| {
            s.policy.intensity = supervision.intensity;
            s.policy.backoff = supervision.backoff.clone();
        });
        let mut tree = Self::spawn(spec, &ACTORS).await?;
        tree.slot_timeout = slot_timeout;
        Ok(tree)
    }

    /// Spawns `spec`; if one of `actors` is not running once every child had its first
    /// start attempt, stops the tree again and names it.
    async fn spawn(spec: TreeSpec, actors: &[&str]) -> Result<Self, NodeError> {
        let root_name = spec.root().name.clone();
        let stop_timeout =
            spec.root().children.iter().map(|c| c.policy.shutdown_timeout).sum::<Duration>()
                + STOP_MARGIN;
        tracing::info!("starting the supervision tree:\n{spec}");
        let (cause, gave_up) = watch::channel(None);
        let watched = (root_name.clone(), spec.root().policy.intensity, cause);
        let (watch, _) = Actor::spawn(None, GiveUpWatch, watched).await.map_err(|e| {
            NodeError::Runtime { reason: format!("the supervision tree could not start: {e}") }
        })?;
        spec.events().subscribe(watch.clone(), |event| match event {
            ChildEvent::Escalated { supervisor, child, reason } => {
                Some((supervisor, child, reason))
            }
            _ => None,
        });
        let (root, join) = match spec.spawn().await {
            Ok(spawned) => spawned,
            Err(e) => {
                watch.stop(None);
                return Err(NodeError::Runtime {
                    reason: format!("the supervision tree could not start: {e}"),
                });
            }
        };
        let mut tree = Self {
            root,
            root_name,
            join: Some(join),
            stop_timeout,
            slot_timeout: Duration::ZERO,
            gave_up,
            watch,
        };
        // The root returns once every child had its first start attempt; one that failed
        // is waiting for a restart instead of being registered.
        if let Some(name) = actors.iter().find(|name| registry::where_is(name).is_none()) {
            tree.stop_root().await;
            return Err(NodeError::Runtime {
                reason: format!("the {name} could not start; see the log above for why"),
            });
        }
        Ok(tree)
    }

    /// Resolves once the root supervisor stops on its own (a failure escalated past every
    /// restart) with why: the actor that kept failing and its last reason. Pending forever
    /// after it has stopped.
    pub(crate) async fn exited(&mut self) -> String {
        match self.join.as_mut() {
            Some(join) => {
                // Whatever the join result, the root is gone.
                let _ = join.await;
                self.join = None;
                // The root sends its `Escalated` event before it stops its children, so the
                // watcher has it or is about to, unless the root was stopped some other way.
                let cause =
                    tokio::time::timeout(CAUSE_WAIT, self.gave_up.wait_for(Option::is_some))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .and_then(|cause| cause.as_ref().map(ToString::to_string));
                cause.unwrap_or_else(|| format!("the {} supervisor stopped", self.root_name))
            }
            None => std::future::pending().await,
        }
    }

    /// Stops production (waiting for the slot in flight), lets the engine's peg-out scans
    /// reach its head, flushes storage, then has the root supervisor stop every actor in
    /// reverse start order. Returns the blocks produced.
    pub(crate) async fn stop(mut self) -> u64 {
        let produced = stop_chain(self.slot_timeout).await;
        drain_scans().await;
        flush_storage().await;
        self.stop_root().await;
        produced
    }

    async fn stop_root(&mut self) {
        self.watch.stop(None);
        let Some(join) = self.join.take() else { return };
        if !matches!(
            self.root.call(SupervisorMsg::Shutdown, Some(self.stop_timeout)).await,
            Ok(CallResult::Success(()))
        ) {
            tracing::warn!("the supervision tree did not confirm its shutdown; stopping it");
            self.root.stop(Some("node shutdown".into()));
        }
        if tokio::time::timeout(self.stop_timeout, join).await.is_err() {
            tracing::warn!(supervisor = %self.root_name, "did not stop in time");
        }
    }
}

/// Why the root supervisor gave up: the actor at the bottom of the escalations.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GaveUp {
    /// The actor that kept failing.
    actor: String,
    /// Its last exit reason.
    reason: String,
    /// The root's limit.
    limit: IntensityLimit,
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { actor, reason, limit } = self;
        write!(
            f,
            "the {actor} kept failing past the restart limits (each supervisor allows {} \
             restart(s) within {:?}); its last failure: {reason}",
            limit.max_restarts, limit.within
        )
    }
}

/// Follows the tree's `Escalated` events (supervisor, child, reason); when the root
/// escalates, follows the chain of nested escalations down to the actor that failed.
#[derive(Debug, Clone, Copy)]
struct GiveUpWatch;

/// [`GiveUpWatch`]'s state: the root's name and limit, each supervisor's last escalation,
/// and where the verdict goes.
type Watched = (String, IntensityLimit, watch::Sender<Option<GaveUp>>);

impl Actor for GiveUpWatch {
    type Msg = (String, String, String);
    type State = (Watched, BTreeMap<String, (String, String)>);
    type Arguments = Watched;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        watched: Watched,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok((watched, BTreeMap::new()))
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        (supervisor, child, reason): Self::Msg,
        ((root, limit, verdict), escalations): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let is_root = supervisor == *root;
        // The root's own escalation starts the walk down (taken from the message, not
        // looked up again).
        let start = is_root.then(|| (child.clone(), reason.clone()));
        escalations.insert(supervisor, (child, reason));
        if let Some((mut actor, mut reason)) = start {
            // Bounded by the tree's depth: each step goes one supervisor down, and a
            // supervisor is never its own child.
            for _ in 0..escalations.len() {
                match escalations.get(&actor) {
                    Some((child, why)) => (actor, reason) = (child.clone(), why.clone()),
                    None => break,
                }
            }
            verdict.send_replace(Some(GaveUp { actor, reason, limit: *limit }));
        }
        Ok(())
    }
}

/// The supervision tree's part of `/status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SupervisionView {
    /// Restarts of each actor and nested supervisor (by registered name) since its
    /// supervisor started.
    pub(crate) restarts: BTreeMap<String, u64>,
    /// The whole tree: each supervisor's children, their state and restarts.
    pub(crate) tree: SupervisorStatus,
}

/// `/status`: the engine's status, and the supervision tree's. Each part is there when its
/// actor answered, so that while the engine restarts the tree still shows its restarts:
///
/// ```text
///  { "state": …, "heads": …, …, "supervision": { "restarts": …, "tree": … } }   both answered
///  { "engine_error": "…", "supervision": { … } }                   the engine did not answer
/// ```
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeStatus {
    /// The engine's `GetStatus`, its fields at the top level; absent while the engine does
    /// not answer (restarting, starting or stopped).
    #[serde(flatten)]
    pub(crate) engine: Option<EngineStatus>,
    /// Why the engine's part is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) engine_error: Option<String>,
    /// The tree; `None` while it is not running (starting, or stopped).
    pub(crate) supervision: Option<SupervisionView>,
    /// Why the tree's part is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) supervision_error: Option<String>,
}

impl NodeStatus {
    /// Whether the engine answered (`/status` is `503` otherwise, with the rest it knows).
    pub(crate) const fn engine_answered(&self) -> bool {
        self.engine.is_some()
    }
}

/// The running tree's status, asked of its root supervisor (found by name).
pub(crate) async fn supervision_status() -> Result<SupervisionView, SupervisionError> {
    let root = registry::where_is(names::ALYS_SYSTEM)
        .map(ActorRef::<SupervisorMsg>::from)
        .ok_or_else(|| SupervisionError::Unreachable {
            supervisor: names::ALYS_SYSTEM.into(),
            reason: "not running".into(),
        })?;
    let tree = collect_status(&root, STATUS_TIMEOUT).await?;
    let mut restarts = BTreeMap::new();
    fn walk(children: &[ChildStatus], out: &mut BTreeMap<String, u64>) {
        for child in children {
            out.insert(child.name.clone(), child.restarts);
            if let Some(nested) = &child.supervisor {
                walk(&nested.children, out);
            }
        }
    }
    walk(&tree.children, &mut restarts);
    Ok(SupervisionView { restarts, tree })
}

/// `/status`: the engine's status with the tree's beside it, each asked on its own, so one
/// that does not answer leaves the other's part in place.
pub(crate) async fn node_status() -> NodeStatus {
    let (engine, supervision) = tokio::join!(crate::actors::engine_status(), supervision_status());
    let (engine, engine_error) = match engine {
        Ok(status) => (Some(status), None),
        Err(e) => (None, Some(e)),
    };
    let (supervision, supervision_error) = match supervision {
        Ok(view) => (Some(view), None),
        Err(e) => (None, Some(e.to_string())),
    };
    NodeStatus { engine, engine_error, supervision, supervision_error }
}

/// Stops production, waiting up to `slot_timeout` for the slot in flight.
async fn stop_chain(slot_timeout: Duration) -> u64 {
    let Some(chain) = registry::where_is(names::CHAIN_ACTOR) else { return 0 };
    let chain = ActorRef::<ChainCmd>::from(chain);
    match chain.call(|reply| ChainCmd::Stop { reply }, Some(slot_timeout)).await {
        Ok(CallResult::Success(produced)) => produced,
        _ => {
            tracing::warn!("the chain actor did not confirm its stop; stopping anyway");
            0
        }
    }
}

/// Waits (at most [`FLUSH_TIMEOUT`]) until the engine's peg-out scans, which run after each
/// commit's reply, reached its head: a clean stop leaves nothing owed, the Bridge told of
/// every burn and Storage handed every block's receipts. What a timeout leaves is owed in
/// the engine's state and delivered after the next start.
async fn drain_scans() {
    let deadline = tokio::time::Instant::now() + FLUSH_TIMEOUT;
    loop {
        let status = crate::actors::ask_status(engine_types::CorrelationId::new()).await;
        let Ok(status) = status else { return };
        let head = status.heads.head;
        if head.is_unset() || status.peg_outs_scanned == Some(head) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                head = head.number,
                scanned = status.peg_outs_scanned.map(|b| b.number),
                "peg-out scans did not reach the head before the stop: owed until the next start"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn flush_storage() {
    let Some(storage) = registry::where_is(names::STORAGE_ACTOR) else { return };
    let storage = ActorRef::<StorageMsg>::from(storage);
    if !matches!(
        storage.call(StorageMsg::Flush, Some(FLUSH_TIMEOUT)).await,
        Ok(CallResult::Success(()))
    ) {
        tracing::warn!("the storage actor did not confirm its flush");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_actor::supervision::{
        policy::{ChildPolicy, SupervisorPolicy},
        supervisor::ChildSpec,
        tree::SupervisorSpec,
    };
    use engine_testkit::ElPorts;
    use ractor::{Actor, ActorProcessingErr, SpawnErr};

    /// An actor that only runs.
    #[derive(Debug, Clone, Copy)]
    struct Idle;

    impl Actor for Idle {
        type Msg = ();
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
    }

    /// A one-worker tree whose root escalates after `max_restarts` restarts.
    fn one_worker(root: &str, worker: &str, max_restarts: u32, factory: ChildFactory) -> TreeSpec {
        let mut policy = SupervisorPolicy::default();
        policy.intensity.max_restarts = max_restarts;
        TreeSpec::new(SupervisorSpec::new(root, policy).child(ChildSpec::actor(
            worker,
            ChildPolicy::default(),
            factory,
        )))
    }

    /// Every log line of this process, for the tests that count them. Actors log from the
    /// runtime's threads, so the capture is the global subscriber, shared by every test of
    /// the process (`cargo test` runs them as threads of one): a test counts only the lines
    /// logged after its [`Logs::mark`], taken once it holds the registry's turn
    /// (`fault::REGISTRY`), which every test of the V2 actor names takes.
    #[derive(Clone, Default)]
    struct Logs(crate::telemetry::LogBuffer);

    /// A position in [`Logs`].
    #[derive(Debug, Clone, Copy)]
    struct Mark(usize);

    impl Logs {
        /// Installed once per process as the global subscriber, without ANSI colours; `None`
        /// when another global subscriber was installed first (nothing reaches this one).
        fn global() -> Option<Self> {
            static LOGS: std::sync::OnceLock<Option<Logs>> = std::sync::OnceLock::new();
            LOGS.get_or_init(|| {
                let logs = Self::default();
                let writer = logs.0.clone();
                tracing_subscriber::fmt()
                    .with_ansi(false)
                    .with_writer(move || writer.clone())
                    .try_init()
                    .ok()
                    .map(|()| logs)
            })
            .clone()
        }

        /// The current end of the log.
        fn mark(&self) -> Mark {
            Mark(self.0.bytes().len())
        }

        /// The lines logged since `mark`.
        fn lines_since(&self, mark: Mark) -> Vec<String> {
            let bytes = self.0.bytes();
            String::from_utf8_lossy(&bytes[mark.0..]).lines().map(String::from).collect()
        }
    }

    /// The Prometheus recorder, installed once per process.
    fn scrape() -> String {
        static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
            std::sync::OnceLock::new();
        HANDLE.get_or_init(|| crate::metrics::install().unwrap()).render()
    }

    /// The whole V2 tree of the node over a MockEl, producing a block every 100 ms.
    struct NodeRig {
        _el: engine_testkit::MockEl,
        shared: Arc<ChainShared>,
        tree: Tree,
        _dir: tempfile::TempDir,
        _turn: tokio::sync::MutexGuard<'static, ()>,
    }

    impl NodeRig {
        async fn start() -> Self {
            use crate::actors::chain::{ChainTimeouts, ProductionConfig, queue};
            use engine_types::config::{EndpointConfig, EngineConfig};
            let turn = crate::actors::fault::REGISTRY.lock().await;
            let el = engine_testkit::MockEl::start(engine_testkit::MockElConfig::default())
                .await
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let mut engine_config = EngineConfig {
                endpoints: vec![EndpointConfig {
                    name: Some("mock".into()),
                    engine_url: el.engine_url(),
                    public_url: Some(el.public_url()),
                    jwt_secret_file: Some(el.jwt_secret_path()),
                    ..EndpointConfig::default()
                }],
                ..EngineConfig::default()
            };
            engine_config.retry.max_attempts = 1;
            let chain_config = engine_types::config::ChainConfig::default();
            let port = engine_actor::port::PoolPort::from_config(
                &engine_config,
                chain_config.fork_schedule,
            )
            .unwrap();
            let mut peers = engine_actor::tree::registry_addresses::<
                engine_actor::peers::BurnEventsDetected,
                StorageMsg,
            >(true, true, true);
            peers.chain_events = Some(engine_actor::tree::registry_chain_events::<ChainCmd>());
            let mut config = engine_actor::EngineActorConfig::new(chain_config, dir.path());
            config.tick_interval = Duration::from_millis(50);
            let shared = ChainShared::new(
                ProductionConfig {
                    slot: Duration::from_millis(100),
                    blocks: None,
                    finalize_every: 0,
                    timeouts: ChainTimeouts::from_engine(&engine_config).unwrap(),
                    build_lookahead: Duration::ZERO,
                },
                None,
                0,
                queue::PegInQueue::in_memory(queue::DEFAULT_CAPACITY),
            );
            let mut supervision = SupervisionSettings::default();
            supervision.backoff.initial = Duration::from_millis(10);
            let tree = Tree::start(TreeArgs {
                chain: Arc::clone(&shared),
                engine: EngineArgs { config, port: Arc::new(port), peers, line: shared.line() },
                store: Arc::new(ExecutionStore::open(dir.path()).unwrap()),
                supervision,
            })
            .await
            .unwrap();
            Self { _el: el, shared, tree, _dir: dir, _turn: turn }
        }

        /// Waits until `n` more blocks than now are produced.
        async fn produces(&self, n: u64) {
            let mut progress = self.shared.subscribe();
            let target = progress.borrow().produced + n;
            let reached = progress.wait_for(|p| p.produced >= target);
            tokio::time::timeout(Duration::from_secs(30), reached)
                .await
                .unwrap_or_else(|_| panic!("block {target} was not produced"))
                .unwrap();
        }

        /// Waits until `child` has been restarted `n` times.
        async fn restarted(&self, child: &str, n: u64) -> SupervisionView {
            for _ in 0..600 {
                if let Ok(view) = supervision_status().await
                    && view.restarts.get(child) == Some(&n)
                {
                    return view;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("{child} was not restarted {n} time(s): {:?}", supervision_status().await);
        }
    }

    /// A panic in the slot task, or in the Bridge, Storage or Network actor's handler, is
    /// restarted by its supervisor and blocks are produced again. Each restart shows in
    /// the tree's status (as `/status` serves it), in `engine_supervision_restarts_total`
    /// by child, and in exactly one log line naming the actor and its reason.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_actor_is_restarted_and_production_goes_on() {
        use engine_actor::peers::BurnEventsDetected;
        let logs = Logs::global();
        scrape(); // the recorder must be installed before anything is counted
        let rig = NodeRig::start().await;
        // Holding the registry's turn: the lines from here on are this test's actors'.
        let mark = logs.as_ref().map(Logs::mark);
        rig.produces(2).await;

        rig.shared.panic_next_slot();
        rig.restarted(names::CHAIN_ACTOR, 1).await;
        rig.produces(2).await;

        crate::actors::fault::arm(names::BRIDGE_ACTOR);
        let bridge =
            ActorRef::<BurnEventsDetected>::from(registry::where_is(names::BRIDGE_ACTOR).unwrap());
        bridge
            .send_message(BurnEventsDetected {
                correlation: engine_types::CorrelationId::new(),
                block_hash: engine_types::primitives::B256::ZERO,
                block_number: 0,
                payable: Vec::new(),
                not_payable: Vec::new(),
                malformed: Vec::new(),
            })
            .unwrap();
        rig.restarted(names::BRIDGE_ACTOR, 1).await;
        rig.produces(2).await;

        // The engine hands every committed block's receipts to Storage: the next one panics.
        crate::actors::fault::arm(names::STORAGE_ACTOR);
        rig.restarted(names::STORAGE_ACTOR, 1).await;
        rig.produces(2).await;

        crate::actors::fault::arm(names::NETWORK_ACTOR);
        let network = ActorRef::<crate::actors::network::NetworkCmd>::from(
            registry::where_is(names::NETWORK_ACTOR).unwrap(),
        );
        let submitted = network
            .call(
                |reply| crate::actors::network::NetworkCmd::Submit {
                    raw: engine_types::primitives::Bytes::from_static(&[0x02]),
                    peer: "test".into(),
                    reply,
                },
                Some(Duration::from_secs(10)),
            )
            .await
            .unwrap();
        assert!(matches!(submitted, CallResult::SenderError), "the handler panicked");
        let view = rig.restarted(names::NETWORK_ACTOR, 1).await;
        rig.produces(2).await;

        // `/status`'s shape: the engine's fields, and the restarts by actor.
        assert_eq!(view.restarts[names::ENGINE_ACTOR], 1, "one-for-all with the Chain");
        let status = serde_json::to_value(node_status().await).unwrap();
        assert!(status.get("engine_error").is_none(), "{status}");
        assert!(status["heads"]["head"]["number"].as_u64().unwrap() >= 10, "{status}");
        for actor in [names::CHAIN_ACTOR, names::BRIDGE_ACTOR, names::STORAGE_ACTOR] {
            assert_eq!(status["supervision"]["restarts"][actor], 1, "{status}");
        }

        let scrape = scrape();
        for (supervisor, child) in [
            (names::CONSENSUS_SUPERVISOR, names::CHAIN_ACTOR),
            (names::BRIDGE_SUPERVISOR, names::BRIDGE_ACTOR),
            (names::STORAGE_SUPERVISOR, names::STORAGE_ACTOR),
            (names::NETWORK_SUPERVISOR, names::NETWORK_ACTOR),
        ] {
            let line = format!(
                "engine_supervision_restarts_total{{supervisor=\"{supervisor}\",child=\"{child}\",reason=\"failed\"}} 1"
            );
            assert!(scrape.contains(&line), "{line} not in:\n{scrape}");
        }

        let (Some(logs), Some(mark)) = (logs, mark) else {
            eprintln!("another global log subscriber was installed first: log lines unchecked");
            rig.tree.stop().await;
            return;
        };
        let lines = logs.lines_since(mark);
        for (actor, reason) in [
            (names::CHAIN_ACTOR, "the slot task panicked"),
            (names::BRIDGE_ACTOR, "scripted panic in BridgeActor"),
            (names::STORAGE_ACTOR, "scripted panic in StorageActor"),
            (names::NETWORK_ACTOR, "scripted panic in NetworkActor"),
        ] {
            let naming: Vec<&String> =
                lines.iter().filter(|l| l.contains(actor) && l.contains(reason)).collect();
            assert_eq!(naming.len(), 1, "{actor}: {naming:#?}");
            assert!(naming[0].contains("failed; restarting it"), "{}", naming[0]);
        }
        rig.tree.stop().await;
    }

    /// While the engine does not answer (here there is none), `/status` keeps the tree's
    /// part and gives the engine's error instead of its fields; once the tree is stopped
    /// too, its part gives way to its error.
    #[tokio::test]
    async fn status_without_the_engine_keeps_the_tree() {
        let _turn = crate::actors::fault::REGISTRY.lock().await;
        let worker = "TreeTestStatusWorker";
        let spec = one_worker(names::ALYS_SYSTEM, worker, 5, ChildFactory::actor(Idle, |_| ()));
        let tree = Tree::spawn(spec, &[worker]).await.unwrap();
        let status = node_status().await;
        assert!(!status.engine_answered());
        let json = serde_json::to_value(&status).unwrap();
        assert!(json.get("heads").is_none() && json.get("state").is_none(), "{json}");
        assert!(json["engine_error"].as_str().is_some_and(|e| !e.is_empty()), "{json}");
        assert_eq!(json["supervision"]["restarts"][worker], 0, "{json}");
        assert!(json.get("supervision_error").is_none(), "{json}");

        tree.stop().await;
        let json = serde_json::to_value(node_status().await).unwrap();
        assert!(json["supervision"].is_null(), "{json}");
        assert!(json["supervision_error"].as_str().is_some_and(|e| e.contains("not running")));
    }

    /// A worker that cannot start stops the tree at once, though its supervisor would retry
    /// it, and the error names it.
    #[tokio::test]
    async fn a_failed_first_start_stops_the_tree() {
        let broken = ChildFactory::new(|_ctx| async { Err(SpawnErr::ActorAlreadyStarted) });
        let spec = one_worker("TreeTestBrokenRoot", "TreeTestBroken", 5, broken);
        let Err(NodeError::Runtime { reason }) = Tree::spawn(spec, &["TreeTestBroken"]).await
        else {
            panic!("the tree started without its worker");
        };
        assert!(reason.contains("the TreeTestBroken could not start"), "{reason}");
        assert!(registry::where_is("TreeTestBrokenRoot").is_none(), "the root is stopped");
    }

    /// When the root gives up (its restart intensity exceeded), `exited` gives its reason,
    /// naming the worker that failed and why; `stop`
    /// on a running tree stops the root and its children.
    #[tokio::test]
    async fn an_escalated_root_is_reported_and_stop_stops_everything() {
        // `Tree::stop` addresses the Chain and Storage actors by their V2 names: without the
        // registry's turn it would stop another test's.
        let _turn = crate::actors::fault::REGISTRY.lock().await;
        let spec =
            one_worker("TreeTestRoot", "TreeTestWorker", 0, ChildFactory::actor(Idle, |_| ()));
        let mut tree = Tree::spawn(spec, &["TreeTestWorker"]).await.unwrap();
        registry::where_is("TreeTestWorker").unwrap().kill();
        let exited = tokio::time::timeout(Duration::from_secs(10), tree.exited()).await.unwrap();
        assert_eq!(
            exited,
            "the TreeTestWorker kept failing past the restart limits (each supervisor allows 0 \
             restart(s) within 60s); its last failure: killed"
        );
        assert!(registry::where_is("TreeTestWorker").is_none());

        let spec =
            one_worker("TreeTestRoot2", "TreeTestWorker2", 0, ChildFactory::actor(Idle, |_| ()));
        let tree = Tree::spawn(spec, &["TreeTestWorker2"]).await.unwrap();
        assert_eq!(tree.stop().await, 0, "no Chain actor in this tree");
        assert!(registry::where_is("TreeTestWorker2").is_none(), "the worker is stopped");
        assert!(registry::where_is("TreeTestRoot2").is_none(), "the root is stopped");
    }
}
