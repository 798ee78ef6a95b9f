//! Tests only: a panic armed for an actor's next message, so that tests can check that its
//! supervisor restarts it and production goes on. Production builds have none of this.

use engine_actor::EngineMsg;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::{Mutex, PoisonError};

/// Tests that register actors under their V2 names take turns: a process has one registry
/// (nextest runs each test in its own process; `cargo test` runs them as threads of one).
pub(crate) static REGISTRY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The actors (by registered name) whose next message panics.
static ARMED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// The next message `actor` handles panics.
pub(crate) fn arm(actor: &'static str) {
    ARMED.lock().unwrap_or_else(PoisonError::into_inner).push(actor);
}

/// Panics when a panic is armed for `actor` (once per arming).
pub(crate) fn check(actor: &str) {
    let fire = {
        let mut armed = ARMED.lock().unwrap_or_else(PoisonError::into_inner);
        armed.iter().position(|a| *a == actor).map(|i| armed.remove(i)).is_some()
    };
    assert!(!fire, "scripted panic in {actor}");
}

/// An engine that never answers: it keeps every request (and its reply port) until it
/// stops, as an engine whose execution client hangs would. Register it under
/// `ENGINE_ACTOR` (holding [`REGISTRY`]).
pub(crate) struct SilentEngine;

impl Actor for SilentEngine {
    type Msg = EngineMsg;
    type State = Vec<EngineMsg>;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<EngineMsg>,
        (): (),
    ) -> Result<Vec<EngineMsg>, ActorProcessingErr> {
        Ok(Vec::new())
    }

    async fn handle(
        &self,
        _myself: ActorRef<EngineMsg>,
        msg: EngineMsg,
        held: &mut Vec<EngineMsg>,
    ) -> Result<(), ActorProcessingErr> {
        held.push(msg);
        Ok(())
    }
}
