//! The reference actors the engine talks to, small and honest: the Chain actor produces
//! blocks every slot, the Bridge actor records peg-out requests, the Storage actor persists
//! execution data, and the Network actor admits transactions through the engine.
//!
//! Every actor finds its peers by their registered name on every use, so a peer restarted by
//! its supervisor (with a new `ActorRef`) is found again. The Chain's requests to the engine
//! take its `ChainLine` instead, which every incarnation of the engine connects.

pub(crate) mod bridge;
pub(crate) mod chain;
#[cfg(test)]
pub(crate) mod fault;
pub(crate) mod network;
pub(crate) mod storage;
pub(crate) mod trace;

use engine_actor::{EngineMsg, status::EngineStatus, supervision::tree::names};
use engine_types::{CorrelationId, Severity};
use ractor::{ActorRef, registry, rpc::CallResult};
use std::time::Duration;

/// How long a caller waits for the engine's answer to a status query (no I/O behind it).
pub(crate) const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// The running engine actor, if any.
pub(crate) fn engine() -> Option<ActorRef<EngineMsg>> {
    registry::where_is(names::ENGINE_ACTOR).map(ActorRef::from)
}

/// Why a call to the engine actor got no answer (the engine's own refusals come back as
/// its answer, an `ActorError`, not as this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CallError {
    /// No engine actor is registered (it is being restarted).
    #[error("the engine actor is not running")]
    NotRunning,
    /// No answer within the caller's budget.
    #[error("the engine did not answer within {0:?}")]
    Timeout(Duration),
    /// The engine stopped before it answered.
    #[error("the engine stopped before answering")]
    Stopped,
    /// The engine's mailbox is closed (it is stopping).
    #[error("the engine's mailbox is closed: {0}")]
    MailboxClosed(String),
}

impl CallError {
    /// Every one of them passes: the engine is restarted by its supervisor, or finishes the
    /// work it was given, so the next slot asks again.
    pub(crate) const fn severity(&self) -> Severity {
        match self {
            Self::NotRunning | Self::Timeout(_) | Self::Stopped | Self::MailboxClosed(_) => {
                Severity::Retry
            }
        }
    }
}

/// Calls the engine; ractor's outcomes other than an answer become a [`CallError`].
pub(crate) async fn ask_engine<T: Send + 'static>(
    build: impl FnOnce(ractor::RpcReplyPort<T>) -> EngineMsg,
    timeout: Duration,
) -> Result<T, CallError> {
    let engine = engine().ok_or(CallError::NotRunning)?;
    match engine.call(build, Some(timeout)).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err(CallError::Timeout(timeout)),
        Ok(CallResult::SenderError) => Err(CallError::Stopped),
        Err(e) => Err(CallError::MailboxClosed(e.to_string())),
    }
}

/// [`ask_engine`] for callers that only report why (the Network actor, the operator
/// server).
pub(crate) async fn call_engine<T: Send + 'static>(
    build: impl FnOnce(ractor::RpcReplyPort<T>) -> EngineMsg,
    timeout: Duration,
) -> Result<T, String> {
    ask_engine(build, timeout).await.map_err(|e| e.to_string())
}

/// The engine's status (`GetStatus`), typed, asked under `correlation`.
pub(crate) async fn ask_status(correlation: CorrelationId) -> Result<EngineStatus, CallError> {
    ask_engine(
        |reply| engine_actor::QueryMsg::GetStatus { correlation, reply }.into(),
        STATUS_TIMEOUT,
    )
    .await
}

/// The engine's status (`GetStatus`), for the operator server.
pub(crate) async fn engine_status() -> Result<EngineStatus, String> {
    ask_status(CorrelationId::new()).await.map_err(|e| e.to_string())
}
