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
//! is restarted by its supervisor; when restarts exceed a supervisor's intensity the failure
//! escalates, and when the root supervisor gives up the node stops (exit code 3).

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
    supervision::{
        supervisor::{ChildFactory, SupervisorMsg},
        tree::{TreeSpec, names},
    },
    tree::{PeerFactories, engine_v2_tree},
};
use ractor::{ActorRef, concurrency::JoinHandle, registry, rpc::CallResult};
use std::{sync::Arc, time::Duration};

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

/// What the actors are started with; the factories clone from it at every (re)start.
#[derive(Debug)]
pub(crate) struct TreeArgs {
    /// The Chain actor's shared state.
    pub(crate) chain: Arc<ChainShared>,
    /// The engine's arguments.
    pub(crate) engine: EngineArgs,
    /// The Storage actor's database.
    pub(crate) store: Arc<ExecutionStore>,
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
}

impl Tree {
    /// Spawns the V2 tree; an actor that fails its first start stops the tree again.
    pub(crate) async fn start(args: TreeArgs) -> Result<Self, NodeError> {
        let TreeArgs { chain, engine, store } = args;
        let slot_timeout = chain.config().timeouts.stop_wait();
        let spec = engine_v2_tree(
            PeerFactories {
                chain: ChildFactory::actor(ChainActor, move |_| Arc::clone(&chain)),
                bridge: Some(ChildFactory::actor(BridgeActor, |_| ())),
                storage: Some(ChildFactory::actor(StorageActor, move |_| Arc::clone(&store))),
                network: Some(ChildFactory::actor(NetworkActor, |_| ())),
            },
            move |_| engine.clone(),
        );
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
        let (root, join) = spec.spawn().await.map_err(|e| NodeError::Runtime {
            reason: format!("the supervision tree could not start: {e}"),
        })?;
        let mut tree =
            Self { root, root_name, join: Some(join), stop_timeout, slot_timeout: Duration::ZERO };
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

    /// Resolves with the name of the root supervisor once it stops on its own (a failure
    /// escalated past every restart); pending forever after it has stopped.
    pub(crate) async fn exited(&mut self) -> String {
        match self.join.as_mut() {
            Some(join) => {
                // Whatever the join result, the root is gone.
                let _ = join.await;
                self.join = None;
                format!("{} supervisor", self.root_name)
            }
            None => std::future::pending().await,
        }
    }

    /// Stops production (waiting for the slot in flight), flushes storage, then has the
    /// root supervisor stop every actor in reverse start order. Returns the blocks produced.
    pub(crate) async fn stop(mut self) -> u64 {
        let produced = stop_chain(self.slot_timeout).await;
        flush_storage().await;
        self.stop_root().await;
        produced
    }

    async fn stop_root(&mut self) {
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

    /// When the root gives up (its restart intensity exceeded), `exited` names it; `stop`
    /// on a running tree stops the root and its children.
    #[tokio::test]
    async fn an_escalated_root_is_reported_and_stop_stops_everything() {
        let spec =
            one_worker("TreeTestRoot", "TreeTestWorker", 0, ChildFactory::actor(Idle, |_| ()));
        let mut tree = Tree::spawn(spec, &["TreeTestWorker"]).await.unwrap();
        registry::where_is("TreeTestWorker").unwrap().kill();
        let exited = tokio::time::timeout(Duration::from_secs(10), tree.exited()).await.unwrap();
        assert_eq!(exited, "TreeTestRoot supervisor");
        assert!(registry::where_is("TreeTestWorker").is_none());

        let spec =
            one_worker("TreeTestRoot2", "TreeTestWorker2", 0, ChildFactory::actor(Idle, |_| ()));
        let tree = Tree::spawn(spec, &["TreeTestWorker2"]).await.unwrap();
        assert_eq!(tree.stop().await, 0, "no Chain actor in this tree");
        assert!(registry::where_is("TreeTestWorker2").is_none(), "the worker is stopped");
        assert!(registry::where_is("TreeTestRoot2").is_none(), "the root is stopped");
    }
}
