//! The reference actors the engine talks to, small and honest: the Chain actor produces
//! blocks every slot, the Bridge actor records peg-out requests, the Storage actor persists
//! execution data, and the Network actor admits transactions through the engine.
//!
//! Every actor finds its peers by their registered name on every use, so a peer restarted by
//! its supervisor (with a new `ActorRef`) is found again.

pub(crate) mod bridge;
pub(crate) mod chain;
pub(crate) mod network;
pub(crate) mod storage;

use engine_actor::{EngineMsg, status::EngineStatus, supervision::tree::names};
use engine_types::CorrelationId;
use ractor::{ActorRef, registry, rpc::CallResult};
use std::time::Duration;

/// How long a caller waits for the engine's answer to a status query (no I/O behind it).
pub(crate) const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// The running engine actor, if any.
pub(crate) fn engine() -> Option<ActorRef<EngineMsg>> {
    registry::where_is(names::ENGINE_ACTOR).map(ActorRef::from)
}

/// Calls the engine and flattens ractor's outcomes into one error string.
pub(crate) async fn call_engine<T: Send + 'static>(
    build: impl FnOnce(ractor::RpcReplyPort<T>) -> EngineMsg,
    timeout: Duration,
) -> Result<T, String> {
    let engine = engine().ok_or_else(|| "the engine actor is not running".to_string())?;
    match engine.call(build, Some(timeout)).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err(format!("the engine did not answer within {timeout:?}")),
        Ok(CallResult::SenderError) => Err("the engine stopped before answering".into()),
        Err(e) => Err(format!("the engine's mailbox is closed: {e}")),
    }
}

/// The engine's status (`GetStatus`).
pub(crate) async fn engine_status() -> Result<EngineStatus, String> {
    call_engine(
        |reply| {
            engine_actor::QueryMsg::GetStatus { correlation: CorrelationId::new(), reply }.into()
        },
        STATUS_TIMEOUT,
    )
    .await
}
