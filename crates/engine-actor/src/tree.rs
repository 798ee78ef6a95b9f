//! The engine's place in the Alys V2 supervision tree: its child factory, peer addresses
//! resolved through the registry (so restarted peers are found), and the whole tree.
//!
//! ```text
//! AlysSystem (root)
//! ├── ConsensusSupervisor   one-for-all
//! │   ├── ChainActor        (the node's factory)
//! │   └── EngineActor       engine_child_factory(...)
//! ├── BridgeSupervisor  → BridgeActor   (optional)
//! ├── StorageSupervisor → StorageActor  (optional)
//! └── NetworkSupervisor → NetworkActor  (optional)
//! ```

use crate::{
    actor::{EngineActor, EngineArgs},
    peers::{
        ActorAddresses, BurnEventsDetected, HeadChanged, PeerRef, StoreExecutionData, Watched,
    },
};
use engine_supervision::{
    supervisor::{ChildFactory, SpawnCtx},
    tree::{TreeSpec, V2Factories, alys_v2_tree, names},
};
use ractor::{ActorRef, Message, registry};

/// A factory that starts the engine with fresh arguments from `args` at every (re)start.
/// The engine reloads its persisted state itself, so a restart resumes where it stopped.
pub fn engine_child_factory(
    args: impl Fn(&SpawnCtx) -> EngineArgs + Send + Sync + 'static,
) -> ChildFactory {
    ChildFactory::actor(EngineActor, args)
}

/// Peer addresses that follow the V2 tree's registered names: the Chain actor (watched),
/// the Bridge and Storage actors (whose message types are `B` and `S`), and the Network
/// actor (watched). Each send looks the peer up again, so restarts are followed.
pub fn registry_addresses<B, S>(bridge: bool, storage: bool, network: bool) -> ActorAddresses
where
    B: Message + From<BurnEventsDetected>,
    BurnEventsDetected: TryFrom<B>,
    S: Message + From<StoreExecutionData>,
    StoreExecutionData: TryFrom<S>,
{
    ActorAddresses {
        chain: Watched::Named(names::CHAIN_ACTOR.into()),
        bridge: bridge.then(|| {
            PeerRef::named(|| {
                registry::where_is(names::BRIDGE_ACTOR)
                    .map(|cell| ActorRef::<B>::from(cell).get_derived())
            })
        }),
        storage: storage.then(|| {
            PeerRef::named(|| {
                registry::where_is(names::STORAGE_ACTOR)
                    .map(|cell| ActorRef::<S>::from(cell).get_derived())
            })
        }),
        network: network.then(|| Watched::Named(names::NETWORK_ACTOR.into())),
        chain_events: None,
    }
}

/// The Chain actor (registered as [`names::CHAIN_ACTOR`], message type `C`) as the receiver
/// of [`HeadChanged`], for [`ActorAddresses::chain_events`].
pub fn registry_chain_events<C>() -> PeerRef<HeadChanged>
where
    C: Message + From<HeadChanged>,
    HeadChanged: TryFrom<C>,
{
    PeerRef::named(|| {
        registry::where_is(names::CHAIN_ACTOR).map(|cell| ActorRef::<C>::from(cell).get_derived())
    })
}

/// The node's factories for the actors other than the engine.
#[derive(Debug, Clone)]
pub struct PeerFactories {
    /// Spawns the Chain actor (registered as [`names::CHAIN_ACTOR`]).
    pub chain: ChildFactory,
    /// Spawns the Bridge actor, if any.
    pub bridge: Option<ChildFactory>,
    /// Spawns the Storage actor, if any.
    pub storage: Option<ChildFactory>,
    /// Spawns the Network actor, if any.
    pub network: Option<ChildFactory>,
}

/// The V2 tree with the engine under the consensus supervisor beside the Chain actor.
pub fn engine_v2_tree(
    peers: PeerFactories,
    engine_args: impl Fn(&SpawnCtx) -> EngineArgs + Send + Sync + 'static,
) -> TreeSpec {
    alys_v2_tree(V2Factories {
        chain: peers.chain,
        engine: engine_child_factory(engine_args),
        bridge: peers.bridge,
        storage: peers.storage,
        network: peers.network,
    })
}
