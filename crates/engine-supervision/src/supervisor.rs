//! The generic supervisor actor.
//!
//! ractor restarts nothing by itself; this actor does, from a [`SupervisorSpec`]:
//!
//! - it starts its children in `pre_start`, in `(priority, declaration)` order, so that
//!   spawning a supervisor returns once its whole subtree had its first start attempt;
//! - on `ActorFailed` / `ActorTerminated` of a current child it applies the child's
//!   [`RestartKind`](crate::policy::RestartKind) and the [`Strategy`](crate::policy::Strategy),
//!   counts the restart against the intensity window, and schedules the restart after a
//!   backoff with a generation-stamped [`SupervisorMsg::RestartDue`];
//! - a child whose `pre_start` fails makes `spawn_linked` return `Err` here, in the
//!   supervisor: that is retried with the same backoff and counts as a restart;
//! - past the intensity limit it stops its children and fails itself (once), so its parent
//!   decides;
//! - on shutdown it stops children in reverse start order, each within its timeout, and
//!   ignores their exits.

mod child;
mod state;
mod status;

pub use child::{
    ChildEvent, ChildEvents, ChildFactory, ChildSpec, ChildStart, SpawnCtx, SpawnFuture,
    child_events,
};
use ractor::{
    Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent,
    concurrency::JoinHandle,
};
pub use state::SupervisorState;
pub use status::{ChildState, ChildStatus, SupervisorStatus, collect_status};

use crate::{error::SupervisionError, tree::SupervisorSpec};

/// The supervisor's own messages (children's exits arrive as supervision events instead).
#[derive(Debug)]
pub enum SupervisorMsg {
    /// A restart timer fired. Sent by the supervisor to itself; a tick whose generation is no
    /// longer the child's pending restart is ignored.
    RestartDue {
        /// The child whose restart (or whose group's restart) is due.
        child: String,
        /// The generation stamped when the restart was scheduled.
        generation: u64,
    },
    /// Reply with the children's live status.
    GetStatus(RpcReplyPort<SupervisorStatus>),
    /// Stop the children in reverse start order, reply, then stop.
    Shutdown(RpcReplyPort<()>),
}

/// What a supervisor is started with.
#[derive(Debug, Clone)]
pub struct SupervisorArgs {
    /// Its name, policy and children.
    pub spec: SupervisorSpec,
    /// Where it (and its nested supervisors) publish [`ChildEvent`]s.
    pub events: ChildEvents,
}

/// The supervisor actor. Holds nothing: everything is in the arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct Supervisor;

impl Supervisor {
    /// Spawns an unlinked (root) supervisor registered under its spec's name.
    pub async fn spawn(
        args: SupervisorArgs,
    ) -> Result<(ActorRef<SupervisorMsg>, JoinHandle<()>), SupervisionError> {
        let name = args.spec.name.clone();
        Actor::spawn(Some(name.clone()), Self, args)
            .await
            .map_err(|source| SupervisionError::Spawn { child: name, source })
    }

    /// Spawns a supervisor registered under its spec's name and linked to `parent`.
    pub async fn spawn_linked(
        args: SupervisorArgs,
        parent: ActorCell,
    ) -> Result<(ActorRef<SupervisorMsg>, JoinHandle<()>), SupervisionError> {
        let name = args.spec.name.clone();
        Actor::spawn_linked(Some(name.clone()), Self, args, parent)
            .await
            .map_err(|source| SupervisionError::Spawn { child: name, source })
    }

    /// [`Self::spawn_linked`] in the shape of a child factory.
    async fn spawn_linked_raw(
        args: SupervisorArgs,
        parent: ActorCell,
    ) -> Result<ActorCell, SpawnErr> {
        let name = args.spec.name.clone();
        let (actor, _join) = Actor::spawn_linked(Some(name), Self, args, parent).await?;
        Ok(actor.get_cell())
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState::new(args)?;
        let all = state.all();
        state.start_slots(&myself, &all).await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::RestartDue { child, generation } => {
                state.on_restart_due(&myself, &child, generation).await
            }
            SupervisorMsg::GetStatus(reply) => {
                if !reply.is_closed() {
                    let _ = reply.send(state.status());
                }
                Ok(())
            }
            SupervisorMsg::Shutdown(reply) => {
                state.stop_all("supervisor shutdown").await;
                let _ = reply.send(());
                myself.stop(Some("shutdown".into()));
                Ok(())
            }
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, err) => {
                state.on_exit(&myself, &cell, true, err.to_string()).await
            }
            SupervisionEvent::ActorTerminated(cell, _state, reason) => {
                // ractor reports a kill (or a cancelled task) as a termination; OTP counts it
                // as abnormal, and so do we, so that transient children come back from it.
                let failed = matches!(reason.as_deref(), Some("killed" | "actor_task_cancelled"));
                let reason = reason.unwrap_or_else(|| "normal".into());
                state.on_exit(&myself, &cell, failed, reason).await
            }
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // A plain `stop()` from the parent lands here: ractor would otherwise kill the
        // children all at once, in no particular order, after we return.
        state.stop_all("supervisor stopping").await;
        Ok(())
    }
}
