//! The engine's state machine and the status it reports.
//!
//! ```text
//!  Initializing ──reconciled──> Ready <──> Degraded (a standby down, an optional peer missing)
//!       │                        │  ^
//!       └──EL syncing──> Syncing ┘  └── fcU VALID
//!  any ──no usable endpoint / EL unreachable / fatal answer──> Error ──healed──> …
//! ```
//!
//! The state is derived, never stored: from what the forkchoice worker last learned about
//! the EL ([`ElCondition`]), the pool's endpoint health and which peers are present.

use crate::{cache::CacheStats, heads::ForkchoiceHeads, peers::PeerPresence};
use engine_client::health::{EndpointState, EndpointStatus};
use serde::Serialize;
use std::{fmt, time::Duration};

/// What the engine can do right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineState {
    /// Loading state and reconciling with the EL.
    Initializing,
    /// The EL is catching up; no builds.
    Syncing,
    /// Everything is up.
    Ready,
    /// Working, with less redundancy than configured.
    Degraded,
    /// Cannot work: no usable EL, or a fatal answer.
    Error,
}

impl EngineState {
    /// Whether a build may be started (Ready, or Degraded: a missing standby must not stop
    /// production on the primary).
    pub const fn can_build(self) -> bool {
        matches!(self, Self::Ready | Self::Degraded)
    }

    /// The value of the state gauge.
    pub const fn gauge(self) -> f64 {
        match self {
            Self::Initializing => 0.0,
            Self::Syncing => 1.0,
            Self::Ready => 2.0,
            Self::Degraded => 3.0,
            Self::Error => 4.0,
        }
    }
}

impl fmt::Display for EngineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Initializing => "initializing",
            Self::Syncing => "syncing",
            Self::Ready => "ready",
            Self::Degraded => "degraded",
            Self::Error => "in error",
        })
    }
}

/// What the forkchoice worker last learned about the EL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ElCondition {
    /// Not reconciled yet.
    Unknown,
    /// It answered SYNCING (or ACCEPTED) to our forkchoice state.
    Syncing,
    /// It accepted our forkchoice state as VALID.
    Synced,
    /// It could not be reached or answered with an error; retried on every tick.
    Unreachable(String),
    /// Its chain cannot be followed without the operator (another branch, too far ahead,
    /// INVALID below finality): the reason names both heads and the fix. Checked again on
    /// every tick, so a fixed execution client is picked up.
    Diverged(String),
}

/// Derives the state (see the module docs).
pub fn derive_state(
    el: &ElCondition,
    endpoints: &[EndpointStatus],
    peers: &PeerPresence,
) -> EngineState {
    if matches!(el, ElCondition::Unknown) {
        return EngineState::Initializing;
    }
    if !endpoints.iter().any(EndpointStatus::is_usable)
        || matches!(el, ElCondition::Unreachable(_) | ElCondition::Diverged(_))
    {
        return EngineState::Error;
    }
    if matches!(el, ElCondition::Syncing) {
        return EngineState::Syncing;
    }
    let standby_down = endpoints.iter().any(|e| e.state != EndpointState::Synced || !e.is_usable());
    if standby_down || peers.optional_missing() {
        EngineState::Degraded
    } else {
        EngineState::Ready
    }
}

/// The answer to `GetStatus`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineStatus {
    /// The derived state.
    pub state: EngineState,
    /// What the EL last told the forkchoice worker.
    pub el: ElCondition,
    /// Head, safe and finalized.
    pub heads: ForkchoiceHeads,
    /// The index the next withdrawal gets.
    pub next_withdrawal_index: u64,
    /// The newest block whose peg-outs the Bridge took, in block order (`None` before the
    /// first head). Behind the head while blocks wait for their scan or are owed.
    pub peg_outs_scanned: Option<crate::heads::BlockRef>,
    /// Every endpoint's health, best first.
    pub endpoints: Vec<EndpointStatus>,
    /// Which peers are present.
    pub peers: PeerPresence,
    /// Payload cache counts.
    pub cache: CacheStats,
    /// Forkchoice-affecting requests queued or running.
    pub pending_forkchoice: usize,
    /// Queries and admissions running.
    pub running_tasks: usize,
    /// Time since this incarnation started.
    pub uptime: Duration,
    /// The last error the worker met, if any.
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_client::breaker::BreakerState;

    fn endpoint(state: EndpointState, breaker: BreakerState) -> EndpointStatus {
        EndpointStatus { state, breaker, ..EndpointStatus::unknown("el") }
    }

    /// Each input drives the state the module docs promise.
    #[test]
    fn state_follows_el_endpoints_and_peers() {
        let all = PeerPresence { chain: true, bridge: true, storage: true, network: true };
        let ok = endpoint(EndpointState::Synced, BreakerState::Closed);
        let down = endpoint(EndpointState::Offline, BreakerState::Open);
        let synced = ElCondition::Synced;
        assert_eq!(
            derive_state(&ElCondition::Unknown, std::slice::from_ref(&ok), &all),
            EngineState::Initializing
        );
        assert_eq!(derive_state(&synced, std::slice::from_ref(&ok), &all), EngineState::Ready);
        assert_eq!(derive_state(&synced, &[ok.clone(), down.clone()], &all), EngineState::Degraded);
        assert_eq!(derive_state(&synced, std::slice::from_ref(&down), &all), EngineState::Error);
        let no_bridge = PeerPresence { bridge: false, ..all };
        assert_eq!(
            derive_state(&synced, std::slice::from_ref(&ok), &no_bridge),
            EngineState::Degraded
        );
        assert_eq!(
            derive_state(&ElCondition::Syncing, std::slice::from_ref(&ok), &all),
            EngineState::Syncing
        );
        let unreachable = ElCondition::Unreachable("x".into());
        assert_eq!(derive_state(&unreachable, &[ok], &all), EngineState::Error);
        assert!(EngineState::Degraded.can_build() && !EngineState::Syncing.can_build());
    }
}
