//! The Chain's direct line to the engine's forkchoice worker.
//!
//! Every Chain request but `GetPayload` is forkchoice work: the actor's handler only checks
//! it and queues it for the worker. Sent through the mailbox, each request wakes two tasks
//! before any work starts (the actor, then the worker) and a third for the answer; on a
//! multi-threaded runtime a wake beyond the scheduler's next-task slot also wakes a parked
//! thread, a system call on the request's path. The line skips the actor's hop: the Chain
//! runs the same routing (`actor::intake`) on its own task and queues onto the same
//! bounded queue, so ordering, the `Busy` refusal and the worker's answer are those of the
//! mailbox (`cargo bench -p engine-actor --bench cycle`: `actor_port` against `line_port`).
//!
//! The line survives restarts: the Chain holds it, and every incarnation of the engine is
//! given it ([`EngineArgs::line`](crate::EngineArgs::line)), connects it when it starts and
//! disconnects it when its state drops (however it ends). Between two incarnations a request
//! gets [`LineError::NotConnected`] at once, as a registry lookup finds no actor.
//!
//! Supervision is unchanged: the worker is the actor's task and a panic in it still fails
//! the actor. A request that finds the worker's queue closed tells the actor (a tick, before
//! which it checks its worker), so the actor fails at once rather than at its next tick.

use crate::{
    actor::intake::{Intake, QueueClosed},
    error::ActorError,
    messages::{ChainRequest, EngineMsg, Reply},
};
use engine_types::Severity;
use ractor::ActorRef;
use std::{
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};
use tokio::sync::oneshot;

/// A line from the Chain to whichever incarnation of the engine runs (see the module doc).
/// Clones share the line.
#[derive(Debug, Clone, Default)]
pub struct ChainLine(Arc<RwLock<Option<Connected>>>);

/// The incarnation on the line.
#[derive(Debug)]
struct Connected {
    intake: Intake,
    actor: ActorRef<EngineMsg>,
}

/// Why a request sent down the line got no answer (the engine's own refusals come back as
/// its answer, an [`ActorError`], not as this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// No engine is connected: it is starting, restarting or stopped.
    #[error("no engine is on the line (it is starting, restarting or stopped)")]
    NotConnected,
    /// The engine dropped the request unanswered: its worker or the engine itself stopped.
    #[error("the engine stopped before answering")]
    Stopped,
    /// No answer within the caller's budget.
    #[error("the engine did not answer within {0:?}")]
    Timeout(Duration),
}

impl LineError {
    /// Every one of them passes: the supervisor restarts the engine, or it finishes the work
    /// it was given, so the caller asks again later.
    pub const fn severity(&self) -> Severity {
        match self {
            Self::NotConnected | Self::Stopped | Self::Timeout(_) => Severity::Retry,
        }
    }
}

impl ChainLine {
    /// A line no engine is connected to yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an engine is connected.
    pub fn is_connected(&self) -> bool {
        self.read().is_some()
    }

    /// Routes `request` as the engine's mailbox would, on the caller's task: its answer comes
    /// through the request's reply port.
    pub fn send(&self, request: ChainRequest) -> Result<(), LineError> {
        let line = self.read();
        let Some(connected) = line.as_ref() else {
            return Err(LineError::NotConnected);
        };
        match connected.intake.chain(request) {
            Ok(()) => Ok(()),
            Err(QueueClosed) => {
                // The worker ended: the actor fails when it next looks at it. Make that now.
                // A full mailbox or a stopped actor needs no nudge: it fails or ends anyway.
                let _ = connected.actor.cast(EngineMsg::Tick);
                Err(LineError::Stopped)
            }
        }
    }

    /// Sends the request `build` makes and waits at most `timeout` for its answer.
    pub async fn call<T: Send + 'static>(
        &self,
        build: impl FnOnce(Reply<T>) -> ChainRequest,
        timeout: Duration,
    ) -> Result<Result<T, ActorError>, LineError> {
        let (tx, rx) = oneshot::channel();
        self.send(build(tx.into()))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_dropped)) => Err(LineError::Stopped),
            Err(_elapsed) => Err(LineError::Timeout(timeout)),
        }
    }

    /// The guard of an incarnation whose worker `intake` feeds: it connects the incarnation
    /// when told to, and disconnects it when dropped (with the incarnation's state).
    pub(crate) fn guard(&self, intake: Intake) -> LineGuard {
        LineGuard { line: self.clone(), intake }
    }

    fn read(&self) -> RwLockReadGuard<'_, Option<Connected>> {
        // The slot is replaced whole under the lock: a panic elsewhere cannot leave it torn.
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Option<Connected>> {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Disconnects its incarnation from the line when dropped, unless a newer one connected.
#[derive(Debug)]
pub(crate) struct LineGuard {
    line: ChainLine,
    intake: Intake,
}

impl LineGuard {
    /// Connects the incarnation, `actor`: from now on the line's requests reach its worker.
    pub(crate) fn connect(&self, actor: ActorRef<EngineMsg>) {
        *self.line.write() = Some(Connected { intake: self.intake.clone(), actor });
    }
}

impl Drop for LineGuard {
    fn drop(&mut self) {
        let mut slot = self.line.write();
        if slot.as_ref().is_some_and(|c| c.intake.same_worker(&self.intake)) {
            *slot = None;
        }
    }
}
