//! Declarative supervision trees: supervisors, their policies and children (workers or
//! nested supervisors), the Alys V2 shape, and a text rendering for logs and status.

mod alys;
mod render;

use std::fmt;

pub use alys::{V2Factories, alys_v2_tree, names};
use ractor::{ActorRef, concurrency::JoinHandle};

use crate::{
    error::SupervisionError,
    policy::SupervisorPolicy,
    supervisor::{
        ChildEvents, ChildSpec, ChildStart, Supervisor, SupervisorArgs, SupervisorMsg, child_events,
    },
};

/// A supervisor: its (registered) name, its policy, and its children in declaration order.
#[derive(Debug, Clone)]
pub struct SupervisorSpec {
    /// Registered actor name; unique in the process.
    pub name: String,
    /// Strategy, intensity and backoff.
    pub policy: SupervisorPolicy,
    /// Children; started in `(priority, declaration)` order.
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// A supervisor without children yet.
    pub fn new(name: impl Into<String>, policy: SupervisorPolicy) -> Self {
        Self { name: name.into(), policy, children: Vec::new() }
    }

    /// Adds a child (builder style).
    #[must_use]
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }
}

/// A whole tree: the root supervisor and the event port every supervisor in it publishes
/// [`ChildEvent`](crate::supervisor::ChildEvent)s on.
#[derive(Debug, Clone)]
pub struct TreeSpec {
    root: SupervisorSpec,
    events: ChildEvents,
}

impl TreeSpec {
    /// A tree rooted at `root`, with a fresh event port.
    pub fn new(root: SupervisorSpec) -> Self {
        Self { root, events: child_events() }
    }

    /// The root supervisor.
    pub const fn root(&self) -> &SupervisorSpec {
        &self.root
    }

    /// The root supervisor, to adjust policies before spawning.
    pub const fn root_mut(&mut self) -> &mut SupervisorSpec {
        &mut self.root
    }

    /// Calls `f` on every supervisor of the tree, the root first, then depth first in
    /// declaration order (e.g. to apply configured intensity and backoff to all of them).
    pub fn for_each_supervisor(&mut self, mut f: impl FnMut(&mut SupervisorSpec)) {
        fn walk(spec: &mut SupervisorSpec, f: &mut impl FnMut(&mut SupervisorSpec)) {
            f(spec);
            for child in &mut spec.children {
                if let ChildStart::Supervisor(nested) = &mut child.start {
                    walk(nested, f);
                }
            }
        }
        walk(&mut self.root, &mut f);
    }

    /// The tree's event port; subscribe before [`Self::spawn`] to see the first starts.
    pub fn events(&self) -> ChildEvents {
        self.events.clone()
    }

    /// Spawns the root supervisor (unlinked, registered under its name), which spawns the
    /// rest of the tree as its children. Returns once every child had its first start
    /// attempt; the join handle completes when the root stops or escalates.
    pub async fn spawn(
        self,
    ) -> Result<(ActorRef<SupervisorMsg>, JoinHandle<()>), SupervisionError> {
        Supervisor::spawn(SupervisorArgs { spec: self.root, events: self.events }).await
    }
}

impl fmt::Display for TreeSpec {
    /// The tree's shape, one node per line, e.g.
    /// `├── ConsensusSupervisor   priority: consensus, strategy: one-for-all`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render::render_spec(f, &self.root)
    }
}

impl fmt::Display for SupervisorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render::render_spec(f, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{intensity::IntensityLimit, supervisor::ChildFactory};
    use std::time::Duration;

    /// Every supervisor of the V2 tree, nested ones included, is visited once, root first.
    #[test]
    fn for_each_supervisor_reaches_the_nested_ones() {
        let factory =
            || ChildFactory::new(|_ctx| async { Err(ractor::SpawnErr::ActorAlreadyStarted) });
        let mut tree = alys_v2_tree(V2Factories {
            chain: factory(),
            engine: factory(),
            bridge: Some(factory()),
            storage: Some(factory()),
            network: None,
        });
        let limit = IntensityLimit { max_restarts: 2, within: Duration::from_secs(7) };
        let mut visited = Vec::new();
        tree.for_each_supervisor(|s| {
            s.policy.intensity = limit;
            visited.push(s.name.clone());
        });
        assert_eq!(
            visited,
            [
                names::ALYS_SYSTEM,
                names::CONSENSUS_SUPERVISOR,
                names::BRIDGE_SUPERVISOR,
                names::STORAGE_SUPERVISOR
            ]
        );
        let mut limits = Vec::new();
        tree.for_each_supervisor(|s| limits.push(s.policy.intensity));
        assert!(limits.iter().all(|l| *l == limit), "{limits:?}");
    }
}
