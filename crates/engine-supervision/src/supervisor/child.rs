//! What a supervisor knows about a child: how to spawn it, its policy, and the events peers
//! see when it starts again.

use std::{fmt, future::Future, sync::Arc};

use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, OutputPort, SpawnErr};

use crate::{policy::ChildPolicy, tree::SupervisorSpec};

/// The future a [`ChildFactory`] returns: the spawned child's cell, or why it did not start.
pub type SpawnFuture = BoxFuture<'static, Result<ActorCell, SpawnErr>>;

/// The port on which a whole tree publishes [`ChildEvent`]s; peers subscribe to refresh the
/// `ActorRef`s they hold after a restart.
pub type ChildEvents = Arc<OutputPort<ChildEvent>>;

/// Creates a new [`ChildEvents`] port.
pub fn child_events() -> ChildEvents {
    Arc::new(OutputPort::default())
}

/// Spawns one incarnation of a child, linked to its supervisor.
///
/// Called once per (re)start, so it must be able to build fresh arguments every time. The
/// usual body is `ctx.spawn(MyActor, args).await`, which registers the child under its name
/// and links it to the supervisor. An `Err` (typically a failed `pre_start`) is retried with
/// the supervisor's backoff and counts toward its restart intensity.
///
/// A factory that spawns without linking to [`SpawnCtx::supervisor`] produces a child the
/// supervisor never hears from again (no restarts); use [`SpawnCtx::spawn`]. The factory runs
/// inside the supervisor's handler, so a slow `pre_start` delays the supervisor's other work,
/// and a `pre_start` that calls its own supervisor waits until its call times out.
#[derive(Clone)]
pub struct ChildFactory(Arc<dyn Fn(SpawnCtx) -> SpawnFuture + Send + Sync>);

impl ChildFactory {
    /// Wraps an async closure.
    pub fn new<F, Fut>(factory: F) -> Self
    where
        F: Fn(SpawnCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, SpawnErr>> + Send + 'static,
    {
        Self(Arc::new(move |ctx| Box::pin(factory(ctx))))
    }

    /// A factory for an actor whose handler is cloned and whose arguments are rebuilt by
    /// `args` at every start.
    pub fn actor<A, F>(handler: A, args: F) -> Self
    where
        A: Actor + Clone + Sync,
        F: Fn(&SpawnCtx) -> A::Arguments + Send + Sync + 'static,
    {
        Self::new(move |ctx| {
            let handler = handler.clone();
            let args = args(&ctx);
            ctx.spawn(handler, args)
        })
    }

    /// Runs the factory.
    pub fn spawn(&self, ctx: SpawnCtx) -> SpawnFuture {
        (self.0)(ctx)
    }
}

impl fmt::Debug for ChildFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChildFactory(..)")
    }
}

/// What a [`ChildFactory`] is given for one start.
#[derive(Debug, Clone)]
pub struct SpawnCtx {
    pub(crate) name: String,
    pub(crate) supervisor: ActorCell,
    pub(crate) events: ChildEvents,
    pub(crate) incarnation: u64,
}

impl SpawnCtx {
    /// The name the child must be registered under (peers find it with
    /// `ractor::registry::where_is`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The supervisor to link the child to.
    pub fn supervisor(&self) -> &ActorCell {
        &self.supervisor
    }

    /// The tree's event port, for a child that wants to follow its peers' restarts.
    pub fn events(&self) -> &ChildEvents {
        &self.events
    }

    /// 0 for the first start, then 1, 2, … for each restart (an actor can decide to recover
    /// persisted state when it is not 0).
    pub const fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Spawns `handler` registered under [`Self::name`] and linked to the supervisor.
    pub async fn spawn<A: Actor>(
        self,
        handler: A,
        args: A::Arguments,
    ) -> Result<ActorCell, SpawnErr> {
        let (actor, _join) =
            Actor::spawn_linked(Some(self.name), handler, args, self.supervisor).await?;
        Ok(actor.get_cell())
    }
}

/// How a child is started: an actor through its factory, or a nested supervisor.
#[derive(Debug, Clone)]
pub enum ChildStart {
    /// A worker actor spawned by the factory.
    Actor(ChildFactory),
    /// A nested supervisor with its own children.
    Supervisor(SupervisorSpec),
}

/// One child of a supervisor: its name, policy and how to start it.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Unique among its siblings; also the registered actor name, so unique in the process.
    pub name: String,
    /// Restart kind, priority and shutdown timeout.
    pub policy: ChildPolicy,
    /// How to start it.
    pub start: ChildStart,
}

impl ChildSpec {
    /// A worker actor.
    pub fn actor(name: impl Into<String>, policy: ChildPolicy, factory: ChildFactory) -> Self {
        Self { name: name.into(), policy, start: ChildStart::Actor(factory) }
    }

    /// A nested supervisor, named after its spec.
    pub fn supervisor(spec: SupervisorSpec, policy: ChildPolicy) -> Self {
        Self { name: spec.name.clone(), policy, start: ChildStart::Supervisor(spec) }
    }

    /// Whether this child is a nested supervisor.
    pub const fn is_supervisor(&self) -> bool {
        matches!(self.start, ChildStart::Supervisor(_))
    }
}

/// Published on a tree's [`ChildEvents`] port.
#[derive(Debug, Clone)]
pub enum ChildEvent {
    /// A child (re)started; `incarnation > 0` means a restart, and peers holding an
    /// `ActorRef` to `child` should replace it with `cell`.
    Started {
        /// The supervisor that started it.
        supervisor: String,
        /// The child's (registered) name.
        child: String,
        /// The new incarnation's cell.
        cell: ActorCell,
        /// 0 for the first start, n for the n-th restart.
        incarnation: u64,
    },
    /// A child exited; what happens next is in the supervisor's decision log.
    Exited {
        /// Its supervisor.
        supervisor: String,
        /// The child's name.
        child: String,
        /// Whether it failed (panic, error, killed) rather than stopping cleanly.
        failed: bool,
        /// The exit reason as reported by ractor.
        reason: String,
    },
    /// A supervisor exceeded its restart intensity and failed itself.
    Escalated {
        /// The supervisor.
        supervisor: String,
        /// The child whose exit tipped it over (a nested supervisor that escalated in turn
        /// has its own `Escalated` event, naming its child).
        child: String,
        /// That child's exit reason.
        reason: String,
    },
}

impl ChildEvent {
    /// The restarted child's name and new cell, if this event is a restart.
    pub fn restarted(&self) -> Option<(&str, &ActorCell)> {
        match self {
            Self::Started { child, cell, incarnation, .. } if *incarnation > 0 => {
                Some((child, cell))
            }
            _ => None,
        }
    }
}
