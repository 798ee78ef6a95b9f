//! A supervisor's live view of its children, and the whole tree's view collected recursively.

use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{ActorCell, ActorRef, rpc::CallResult};
use serde::Serialize;

use super::SupervisorMsg;
use crate::{
    error::SupervisionError,
    policy::{Priority, RestartKind, Strategy},
};

/// Where a child is in its life, as its supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ChildState {
    /// Not started yet.
    Starting,
    /// Running.
    Running,
    /// Waiting to be restarted (a zero delay renders as "restarting").
    Backoff {
        /// The delay that was chosen for this restart.
        #[serde(with = "humantime_serde")]
        delay: Duration,
    },
    /// Exited and, by its restart kind, not restarted.
    Exited {
        /// The exit reason.
        reason: String,
    },
    /// Stopped by its supervisor's shutdown or escalation.
    Stopped,
}

impl std::fmt::Display for ChildState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Starting => f.write_str("starting"),
            Self::Running => f.write_str("running"),
            Self::Backoff { delay } if delay.is_zero() => f.write_str("restarting"),
            Self::Backoff { delay } => write!(f, "backoff {delay:?}"),
            Self::Exited { reason } => write!(f, "exited ({reason})"),
            Self::Stopped => f.write_str("stopped"),
        }
    }
}

/// One child in a [`SupervisorStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct ChildStatus {
    /// The child's registered name.
    pub name: String,
    /// Its priority among siblings.
    pub priority: Priority,
    /// Its restart kind.
    pub restart: RestartKind,
    /// Where it is.
    pub state: ChildState,
    /// Successful restarts since the supervisor started.
    pub restarts: u64,
    /// The running incarnation's cell, if it runs.
    #[serde(skip)]
    pub cell: Option<ActorCell>,
    /// For a nested supervisor: its own status, when collected with [`collect_status`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<Box<SupervisorStatus>>,
    /// Whether this child is a nested supervisor.
    pub is_supervisor: bool,
}

/// A supervisor's answer to [`SupervisorMsg::GetStatus`]: children in start order.
#[derive(Debug, Clone, Serialize)]
pub struct SupervisorStatus {
    /// The supervisor's name.
    pub name: String,
    /// Its strategy.
    pub strategy: Strategy,
    /// Restarts counted in the current intensity window.
    pub restarts_in_window: usize,
    /// Its children, in start order.
    pub children: Vec<ChildStatus>,
}

/// Asks `supervisor` for its status and, recursively, each running nested supervisor for
/// its own; each call waits at most `timeout`.
pub fn collect_status(
    supervisor: &ActorRef<SupervisorMsg>,
    timeout: Duration,
) -> BoxFuture<'static, Result<SupervisorStatus, SupervisionError>> {
    let supervisor = supervisor.clone();
    Box::pin(async move {
        let name = supervisor.get_name().unwrap_or_else(|| supervisor.get_id().to_string());
        let unreachable =
            |reason: String| SupervisionError::Unreachable { supervisor: name.clone(), reason };
        let mut status = match supervisor.call(SupervisorMsg::GetStatus, Some(timeout)).await {
            Ok(CallResult::Success(status)) => status,
            Ok(CallResult::Timeout) => return Err(unreachable("timed out".into())),
            Ok(CallResult::SenderError) => return Err(unreachable("reply dropped".into())),
            Err(err) => return Err(unreachable(err.to_string())),
        };
        for child in &mut status.children {
            if let (true, Some(cell)) = (child.is_supervisor, &child.cell) {
                let nested: ActorRef<SupervisorMsg> = cell.clone().into();
                // A nested supervisor restarting right now is reported without its subtree.
                if let Ok(sub) = collect_status(&nested, timeout).await {
                    child.supervisor = Some(Box::new(sub));
                }
            }
        }
        Ok(status)
    })
}
