//! The Alys V2 supervision tree, filled by the actor crate with its child factories:
//!
//! ```text
//! AlysSystem (root)
//! ├── ConsensusSupervisor   priority: consensus (restarted first), strategy: one-for-all
//! │   ├── ChainActor
//! │   └── EngineActor
//! ├── BridgeSupervisor      strategy: one-for-one → BridgeActor
//! ├── StorageSupervisor     strategy: one-for-one → StorageActor
//! └── NetworkSupervisor     strategy: one-for-one → NetworkActor
//! ```

use std::time::Duration;

use super::{SupervisorSpec, TreeSpec};
use crate::{
    policy::{ChildPolicy, Priority, Strategy, SupervisorPolicy},
    supervisor::{ChildFactory, ChildSpec},
};

/// Registered names of the V2 actors, for `ractor::registry::where_is`.
pub mod names {
    /// The root supervisor.
    pub const ALYS_SYSTEM: &str = "AlysSystem";
    /// Supervises the chain and the engine together (one-for-all).
    pub const CONSENSUS_SUPERVISOR: &str = "ConsensusSupervisor";
    /// The chain actor.
    pub const CHAIN_ACTOR: &str = "ChainActor";
    /// The engine actor.
    pub const ENGINE_ACTOR: &str = "EngineActor";
    /// Supervises the bridge actor.
    pub const BRIDGE_SUPERVISOR: &str = "BridgeSupervisor";
    /// The bridge actor.
    pub const BRIDGE_ACTOR: &str = "BridgeActor";
    /// Supervises the storage actor.
    pub const STORAGE_SUPERVISOR: &str = "StorageSupervisor";
    /// The storage actor.
    pub const STORAGE_ACTOR: &str = "StorageActor";
    /// Supervises the network actor.
    pub const NETWORK_SUPERVISOR: &str = "NetworkSupervisor";
    /// The network actor.
    pub const NETWORK_ACTOR: &str = "NetworkActor";
}

/// The actor crate's factories for the V2 tree. Bridge, storage and network are optional
/// peers: a `None` leaves that supervisor out of the tree.
#[derive(Debug, Clone)]
pub struct V2Factories {
    /// Spawns the `ChainActor` (registered as [`names::CHAIN_ACTOR`]).
    pub chain: ChildFactory,
    /// Spawns the `EngineActor` (registered as [`names::ENGINE_ACTOR`]).
    pub engine: ChildFactory,
    /// Spawns the `BridgeActor`, if there is one.
    pub bridge: Option<ChildFactory>,
    /// Spawns the `StorageActor`, if there is one.
    pub storage: Option<ChildFactory>,
    /// Spawns the `NetworkActor`, if there is one.
    pub network: Option<ChildFactory>,
}

/// A supervisor must get as long to stop as its children take in turn, plus a margin.
fn supervisor_policy_for(spec: &SupervisorSpec, priority: Priority) -> ChildPolicy {
    let children: Duration = spec.children.iter().map(|c| c.policy.shutdown_timeout).sum();
    ChildPolicy::default()
        .with_priority(priority)
        .with_shutdown_timeout(children + Duration::from_secs(1))
}

fn single(supervisor: &str, actor: &str, factory: ChildFactory) -> ChildSpec {
    let spec =
        SupervisorSpec::new(supervisor, SupervisorPolicy::with_strategy(Strategy::OneForOne))
            .child(ChildSpec::actor(actor, ChildPolicy::default(), factory));
    let policy = supervisor_policy_for(&spec, Priority::Normal);
    ChildSpec::supervisor(spec, policy)
}

/// The V2 tree with default policies (see [`crate::policy`]); adjust through
/// [`TreeSpec::root_mut`] before spawning if needed.
///
/// ```
/// use engine_supervision::{
///     supervisor::{ChildFactory, SpawnCtx},
///     tree::{V2Factories, alys_v2_tree},
/// };
/// // The tree is only described here, not spawned, so the factories are never called.
/// fn factory() -> ChildFactory {
///     ChildFactory::new(|_ctx: SpawnCtx| async { Err(ractor::SpawnErr::ActorAlreadyStarted) })
/// }
/// let tree = alys_v2_tree(V2Factories {
///     chain: factory(),
///     engine: factory(),
///     bridge: Some(factory()),
///     storage: None,
///     network: Some(factory()),
/// });
/// assert!(tree.to_string().starts_with("AlysSystem (root)"));
/// assert!(!tree.to_string().contains("StorageSupervisor"));
/// ```
pub fn alys_v2_tree(factories: V2Factories) -> TreeSpec {
    let V2Factories { chain, engine, bridge, storage, network } = factories;
    let consensus_child = ChildPolicy::default().with_priority(Priority::Consensus);
    let consensus = SupervisorSpec::new(
        names::CONSENSUS_SUPERVISOR,
        SupervisorPolicy::with_strategy(Strategy::OneForAll),
    )
    .child(ChildSpec::actor(names::CHAIN_ACTOR, consensus_child.clone(), chain))
    .child(ChildSpec::actor(names::ENGINE_ACTOR, consensus_child, engine));
    let consensus_policy = supervisor_policy_for(&consensus, Priority::Consensus);
    let mut root = SupervisorSpec::new(
        names::ALYS_SYSTEM,
        SupervisorPolicy::with_strategy(Strategy::OneForOne),
    )
    .child(ChildSpec::supervisor(consensus, consensus_policy));
    let optional = [
        (names::BRIDGE_SUPERVISOR, names::BRIDGE_ACTOR, bridge),
        (names::STORAGE_SUPERVISOR, names::STORAGE_ACTOR, storage),
        (names::NETWORK_SUPERVISOR, names::NETWORK_ACTOR, network),
    ];
    for (supervisor, actor, factory) in optional {
        if let Some(factory) = factory {
            root = root.child(single(supervisor, actor, factory));
        }
    }
    TreeSpec::new(root)
}
