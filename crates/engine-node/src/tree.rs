//! The running actors: Chain and Engine (consensus), Bridge, Storage and Network, each
//! registered under its V2 name, started in dependency order and stopped in reverse.
//!
//! ```text
//!  start: Storage ─> Bridge ─> Network ─> Chain ─> Engine   (the engine finds its peers by name)
//!  stop:  Chain: stop producing, wait for the slot in flight
//!         Storage: flush (every queued write committed)
//!         Engine ─> Chain ─> Network ─> Bridge ─> Storage
//! ```
//!
//! These actors are not under the engine-supervision tree yet: `engine_actor::tree` builds
//! the V2 tree from `ChildFactory`s, but engine-node may depend only on engine-actor,
//! engine-testkit and engine-types, and engine-actor does not re-export the supervision
//! types, so the node cannot construct its own factories. Until it does, an actor that
//! exits is reported and stops the node (exit code 3) rather than being restarted.

use crate::{
    actors::{
        bridge::BridgeActor,
        chain::{ChainActor, ChainCmd, ChainShared},
        names,
        network::NetworkActor,
        storage::{StorageActor, StorageMsg},
    },
    error::NodeError,
    store::ExecutionStore,
};
use engine_actor::{EngineActor, EngineArgs};
use ractor::{Actor, ActorCell, ActorRef, concurrency::JoinHandle, rpc::CallResult};
use std::{sync::Arc, time::Duration};
use tokio::sync::mpsc;

/// How long the node waits for the slot in flight when stopping (a build plus a commit).
const STOP_SLOT_TIMEOUT: Duration = Duration::from_secs(65);
/// How long an actor gets to stop before the node moves on.
const STOP_ACTOR_TIMEOUT: Duration = Duration::from_secs(10);

/// What the actors are started with.
#[derive(Debug)]
pub(crate) struct TreeArgs {
    /// The Chain actor's shared state.
    pub(crate) chain: Arc<ChainShared>,
    /// The engine's arguments.
    pub(crate) engine: EngineArgs,
    /// The Storage actor's database.
    pub(crate) store: Arc<ExecutionStore>,
}

/// The running actors.
#[derive(Debug)]
pub(crate) struct Tree {
    /// In start order.
    actors: Vec<(&'static str, ActorCell)>,
    exits: mpsc::UnboundedReceiver<&'static str>,
    exit_tx: mpsc::UnboundedSender<&'static str>,
}

impl Tree {
    /// Starts every actor; the first one that cannot start stops the others.
    pub(crate) async fn start(args: TreeArgs) -> Result<Self, NodeError> {
        let (exit_tx, exits) = mpsc::unbounded_channel();
        let mut tree = Self { actors: Vec::new(), exits, exit_tx };
        let TreeArgs { chain, engine, store } = args;
        let started = async {
            tree.spawn(names::STORAGE_ACTOR, StorageActor, store).await?;
            tree.spawn(names::BRIDGE_ACTOR, BridgeActor, ()).await?;
            tree.spawn(names::NETWORK_ACTOR, NetworkActor, ()).await?;
            tree.spawn(names::CHAIN_ACTOR, ChainActor, chain).await?;
            tree.spawn(names::ENGINE_ACTOR, EngineActor, engine).await
        }
        .await;
        match started {
            Ok(()) => Ok(tree),
            Err(e) => {
                tree.stop_all().await;
                Err(e)
            }
        }
    }

    async fn spawn<A: Actor>(
        &mut self,
        name: &'static str,
        actor: A,
        args: A::Arguments,
    ) -> Result<(), NodeError> {
        let (actor, join): (ActorRef<A::Msg>, JoinHandle<()>) =
            Actor::spawn(Some(name.to_string()), actor, args).await.map_err(|e| {
                NodeError::Runtime { reason: format!("the {name} could not start: {e}") }
            })?;
        let exit_tx = self.exit_tx.clone();
        tokio::spawn(async move {
            // Whatever the join result, the actor is gone; the receiver may be gone too.
            let _ = join.await;
            let _ = exit_tx.send(name);
        });
        self.actors.push((name, actor.get_cell()));
        Ok(())
    }

    /// Resolves with the name of the first actor that exits.
    pub(crate) async fn exited(&mut self) -> &'static str {
        // The tree holds a sender itself, so the channel never closes while it lives.
        self.exits.recv().await.unwrap_or("an actor")
    }

    /// Stops production (waiting for the slot in flight), flushes storage, then stops every
    /// actor in reverse start order. Returns the blocks produced.
    pub(crate) async fn stop(mut self) -> u64 {
        let produced = self.stop_chain().await;
        self.flush_storage().await;
        self.stop_all().await;
        produced
    }

    fn cell(&self, name: &str) -> Option<&ActorCell> {
        self.actors.iter().find(|(n, _)| *n == name).map(|(_, c)| c)
    }

    async fn stop_chain(&self) -> u64 {
        let Some(chain) = self.cell(names::CHAIN_ACTOR).cloned() else { return 0 };
        let chain = ActorRef::<ChainCmd>::from(chain);
        match chain.call(|reply| ChainCmd::Stop { reply }, Some(STOP_SLOT_TIMEOUT)).await {
            Ok(CallResult::Success(produced)) => produced,
            _ => {
                tracing::warn!("the chain actor did not confirm its stop; stopping anyway");
                0
            }
        }
    }

    async fn flush_storage(&self) {
        let Some(storage) = self.cell(names::STORAGE_ACTOR).cloned() else { return };
        let storage = ActorRef::<StorageMsg>::from(storage);
        if !matches!(
            storage.call(StorageMsg::Flush, Some(STOP_ACTOR_TIMEOUT)).await,
            Ok(CallResult::Success(()))
        ) {
            tracing::warn!("the storage actor did not confirm its flush");
        }
    }

    async fn stop_all(&mut self) {
        while let Some((name, cell)) = self.actors.pop() {
            cell.stop(Some("node shutdown".into()));
            let deadline = tokio::time::Instant::now() + STOP_ACTOR_TIMEOUT;
            loop {
                match tokio::time::timeout_at(deadline, self.exits.recv()).await {
                    Ok(Some(exited)) if exited == name => break,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        tracing::warn!(actor = name, "did not stop in time");
                        break;
                    }
                }
            }
        }
    }
}
