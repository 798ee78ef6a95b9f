//! What a slot ends with, typed, and what the Chain actor does about each severity:
//!
//! ```text
//!  SlotError::severity()   (the engine's view, except: the Chain's own view below)
//!    Retry ─> the next slot tries again (peg-ins handled by the slot as before)
//!    Reset ─> the next slot first re-syncs: it re-sends the engine's forkchoice state to the
//!             execution client (ForkchoiceUpdate), before it settles or builds
//!    Fatal ─> the Chain actor stops with ChainFailure::Fatal; its supervisor restarts it
//!             and the engine (one-for-all), and past the intensity limit the node exits
//!  MAX_FAILED_SLOTS Retry/Reset failures in a row, no block between them
//!          ─> ChainFailure::NoProgress, the supervisor decides as for Fatal
//! ```
//!
//! **The Chain's view of an execution client's refusal.** An `EngineError::Auth` (HTTP 401 or
//! 403) or another HTTP 4xx is fatal for the client's call (it is not retried there), but
//! not for the Chain: a restart of the Chain and the engine changes neither the secret nor
//! the clocks, and a clock that drifts by a minute for a moment (the usual cause of a 401)
//! would restart the tree at every slot and exhaust its restarts. The engine's pool marks
//! the endpoint failed and waits for it (the engine is not ready meanwhile: the slots wait),
//! so at the Chain these are `Retry`; one that never clears fails every slot and escalates
//! through [`ChainFailure::NoProgress`], naming the refusal. What a restart is for stays
//! `Fatal`: the engine's state file cannot be written, finality went back, the execution
//! client's chain cannot be reconciled with ours.

use super::{ChainShared, SlotOutcome, flatten, queue::QueueError};
use crate::{actors::CallError, metrics};
use engine_actor::{ActorError, ChainRequest, client::error::ClientError, heads::ForkchoiceHeads};
use engine_types::{CorrelationId, EngineError, PayloadStatus, Severity, TransportError};
use std::sync::{PoisonError, atomic::Ordering};

/// Why a slot produced no block.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SlotError {
    /// The engine gave no answer.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The engine answered with an error.
    #[error(transparent)]
    Engine(#[from] ActorError),
    /// The peg-in queue could not be saved.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The commit answered, but the block is not the head.
    #[error("block {number} was not made the head (status {status:?})")]
    NotHead {
        /// The block.
        number: u64,
        /// What the execution client answered.
        status: PayloadStatus,
    },
    /// The commit was not confirmed and the engine could not say what landed.
    #[error(
        "{commit}; what became of block {number} is unknown: {unknown}: its {peg_ins} \
         peg-in(s) are held until a later slot settles them"
    )]
    Held {
        /// Why the commit was not confirmed.
        commit: Box<Self>,
        /// The block.
        number: u64,
        /// Why `WhatLanded` did not answer.
        unknown: Box<Self>,
        /// The peg-ins held unsettled.
        peg_ins: usize,
    },
}

impl SlotError {
    /// What the Chain does next (module docs).
    pub(crate) fn severity(&self) -> Severity {
        match self {
            Self::Call(e) => e.severity(),
            Self::Engine(e) if refused_by_client(e) => Severity::Retry,
            Self::Engine(e) => e.severity(),
            Self::Queue(e) => e.severity(),
            // The engine's or the client's view of the head is not ours: re-sync.
            Self::NotHead { status, .. } if status.is_undecided() => Severity::Retry,
            Self::NotHead { .. } => Severity::Reset,
            Self::Held { commit, unknown, .. } => worst(commit.severity(), unknown.severity()),
        }
    }
}

/// Whether `e` is the execution client refusing a call at the HTTP level (401/403 or
/// another 4xx): fatal for the call, a `Retry` for the Chain (module docs).
const fn refused_by_client(e: &ActorError) -> bool {
    let engine = match e {
        ActorError::Engine(engine) | ActorError::Client(ClientError::Engine(engine)) => engine,
        _ => return false,
    };
    matches!(
        engine,
        EngineError::Auth { .. }
            | EngineError::Transport(TransportError::HttpStatus { status: 400..=499, .. })
    )
}

/// The more severe of two.
const fn worst(a: Severity, b: Severity) -> Severity {
    match (a, b) {
        (Severity::Fatal, _) | (_, Severity::Fatal) => Severity::Fatal,
        (Severity::Reset, _) | (_, Severity::Reset) => Severity::Reset,
        (Severity::Retry, Severity::Retry) => Severity::Retry,
    }
}

/// Why the Chain actor stopped itself (its supervisor logs it as the child's reason).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChainFailure {
    /// The slot task panicked.
    #[error("the slot task panicked: {0}")]
    SlotPanicked(String),
    /// The slot task was cancelled before it reported.
    #[error("the slot task was cancelled before it reported")]
    SlotCancelled,
    /// [`super::MAX_FAILED_SLOTS`] slots in a row failed, without a block between them;
    /// the last one's error.
    #[error(
        "{failures} slots in a row produced no block; the last failed at stage {stage}: {error}"
    )]
    NoProgress {
        /// The failed slots in a row.
        failures: u32,
        /// The last failure's stage.
        stage: &'static str,
        /// The last failure.
        error: Box<SlotError>,
    },
    /// The simulator's peg-out task panicked.
    #[error("the peg-out task panicked: {0}")]
    PegOutPanicked(String),
    /// A slot met an error no retry or re-sync can fix.
    #[error("slot stage {stage} failed fatally: {error}")]
    Fatal {
        /// The stage (`engine`, `settle`, `resync`, `build`, `validate`, `queue`,
        /// `commit`).
        stage: &'static str,
        /// The error.
        error: Box<SlotError>,
    },
}

impl ChainFailure {
    /// The failure of a slot task's join.
    pub(crate) fn of_join(e: &tokio::task::JoinError) -> Self {
        if e.is_cancelled() { Self::SlotCancelled } else { Self::SlotPanicked(e.to_string()) }
    }
}

/// Records what a slot did; a failure's severity decides what comes next (module docs): a
/// fatal one, or the [`super::MAX_FAILED_SLOTS`]th failure in a row, is returned, to stop
/// the actor. `failed_in_a_row` counts the failures since the last block.
pub(super) fn record(
    shared: &ChainShared,
    outcome: SlotOutcome,
    failed_in_a_row: &mut u32,
) -> Option<ChainFailure> {
    let mut waiting = shared.waiting.lock().unwrap_or_else(PoisonError::into_inner);
    match &outcome {
        SlotOutcome::Waiting(why) if waiting.as_ref() == Some(why) => return None,
        SlotOutcome::Waiting(why) => *waiting = Some(why.clone()),
        SlotOutcome::Produced(_) if waiting.take().is_some() => {
            tracing::info!("the engine is ready again");
        }
        _ => {}
    }
    drop(waiting);
    match outcome {
        SlotOutcome::Produced(line) => {
            *failed_in_a_row = 0;
            ::metrics::counter!(metrics::BLOCKS).increment(1);
            ::metrics::histogram!(metrics::SLOT_SECONDS)
                .record((line.build + line.commit).as_secs_f64());
            ::metrics::counter!(metrics::PEG_INS_MINTED).increment(line.peg_ins as u64);
            shared.progress.send_modify(|p| p.produced += 1);
            let pending = shared.pending_len();
            shared.lines.lock().unwrap_or_else(PoisonError::into_inner).block(&line, pending);
        }
        SlotOutcome::Waiting(why) => tracing::info!("waiting for the engine: {why}"),
        SlotOutcome::Failed { stage, error } => {
            ::metrics::counter!(metrics::SLOT_FAILURES, "stage" => stage).increment(1);
            shared.lines.lock().unwrap_or_else(PoisonError::into_inner).failure();
            let severity = error.severity();
            match severity {
                Severity::Retry => {}
                Severity::Reset => shared.resync.store(true, Ordering::Release),
                // Its supervisor logs the reason, once.
                Severity::Fatal => {
                    return Some(ChainFailure::Fatal { stage, error: Box::new(error) });
                }
            }
            *failed_in_a_row = failed_in_a_row.saturating_add(1);
            tracing::warn!(stage, reason = %error, ?severity, failed_in_a_row = *failed_in_a_row,
                "slot produced no block");
            if *failed_in_a_row >= super::MAX_FAILED_SLOTS {
                return Some(ChainFailure::NoProgress {
                    failures: *failed_in_a_row,
                    stage,
                    error: Box::new(error),
                });
            }
        }
    }
    None
}

/// After a `Reset` error: re-sends the engine's forkchoice state to the execution client
/// (the Engine API's way to re-establish state) and returns the heads the engine holds
/// after it, which the next build goes on.
pub(super) async fn resync(
    shared: &ChainShared,
    heads: &ForkchoiceHeads,
    correlation: CorrelationId,
) -> Result<ForkchoiceHeads, SlotError> {
    let synced = flatten(
        shared
            .ask_engine(
                |reply| ChainRequest::ForkchoiceUpdate {
                    correlation,
                    head: heads.head.hash,
                    safe: heads.safe.hash,
                    finalized: heads.finalized.hash,
                    reply,
                },
                shared.config.timeouts.forkchoice,
            )
            .await,
    )?;
    tracing::info!(head = synced.head.number, hash = %synced.head.hash,
        "re-synced with the engine after a reset error");
    Ok(synced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::primitives::B256;

    /// Each kind of slot error leads where the module docs say; a held block is as severe as
    /// the worse of its two errors.
    #[test]
    fn severities() {
        assert_eq!(SlotError::Call(CallError::NotRunning).severity(), Severity::Retry);
        let fatal =
            ActorError::StateFile { path: "/d/engine-state.log".into(), reason: "x".into() };
        assert_eq!(SlotError::Engine(fatal.clone()).severity(), Severity::Fatal);
        let invalid = ActorError::InvalidPayload { block: B256::ZERO, reason: "x".into() };
        assert_eq!(SlotError::Engine(invalid).severity(), Severity::Reset);
        let syncing = SlotError::NotHead { number: 1, status: PayloadStatus::Syncing };
        assert_eq!(syncing.severity(), Severity::Retry);
        let invalid = PayloadStatus::Invalid { latest_valid_hash: None, validation_error: None };
        let rejected = SlotError::NotHead { number: 1, status: invalid };
        assert_eq!(rejected.severity(), Severity::Reset);
        let held = |commit: SlotError| SlotError::Held {
            commit: Box::new(commit),
            number: 1,
            unknown: Box::new(SlotError::Call(CallError::Stopped)),
            peg_ins: 2,
        };
        assert_eq!(held(SlotError::Engine(fatal)).severity(), Severity::Fatal);
        let stale = ActorError::UnknownBlock { block: B256::ZERO.to_string() };
        assert_eq!(held(SlotError::Engine(stale)).severity(), Severity::Reset);
        let text = held(SlotError::Call(CallError::Stopped)).to_string();
        assert!(text.contains("its 2 peg-in(s) are held"), "{text}");
    }

    /// The execution client refusing a call (401/403, another 4xx), fatal for the call, is a
    /// `Retry` for the Chain, through the engine's error or the pool's; a 5xx stays `Retry`
    /// and the engine's own fatal errors stay `Fatal`.
    #[test]
    fn refusals_by_the_client_are_retried_by_the_chain() {
        let auth = EngineError::Auth { endpoint: "el".into(), status: 401, clock_gap: Some(90) };
        assert_eq!(auth.severity(), Severity::Fatal, "for the call");
        let http = |status| {
            EngineError::Transport(TransportError::HttpStatus { status, body: String::new() })
        };
        for error in [auth, http(403), http(404), http(400), http(500)] {
            let direct = SlotError::Engine(ActorError::Engine(error.clone()));
            assert_eq!(direct.severity(), Severity::Retry, "{direct}");
            let pooled = SlotError::Engine(ActorError::Client(ClientError::Engine(error)));
            assert_eq!(pooled.severity(), Severity::Retry, "{pooled}");
        }
        let fatal = [
            ActorError::StateFile { path: "/d/s.json".into(), reason: "read-only".into() },
            ActorError::Engine(EngineError::invalid_request("engine_getPayloadV2", "x")),
        ];
        for error in fatal {
            let error = SlotError::Engine(error);
            assert_eq!(error.severity(), Severity::Fatal, "{error}");
        }
    }
}
