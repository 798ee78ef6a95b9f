//! The way into the forkchoice worker: its bounded job queue, and the routing of the Chain's
//! requests onto it. The actor's mailbox and the Chain's direct [`ChainLine`] both come
//! through here, so a request is checked, queued or refused the same way whichever it took.
//!
//! [`ChainLine`]: crate::line::ChainLine

use super::{
    core::Core,
    reply_to,
    worker::{BuildJob, Commit, Job, Queued},
};
use crate::{
    error::{ActorError, BuildRefusal},
    messages::ChainRequest,
};
use engine_types::CorrelationId;
use std::sync::Arc;
use tokio::{sync::mpsc, time::Instant};

/// The worker's queue was closed: the worker ended (a panic in a job), and the job, with its
/// caller's reply port, was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueClosed;

/// The worker's queue and what routing a request reads: one per incarnation.
#[derive(Debug, Clone)]
pub(crate) struct Intake {
    pub(crate) core: Arc<Core>,
    jobs: mpsc::Sender<Queued>,
}

impl Intake {
    /// The intake of `jobs`, the queue of a worker sharing `core`.
    pub(crate) const fn new(core: Arc<Core>, jobs: mpsc::Sender<Queued>) -> Self {
        Self { core, jobs }
    }

    /// Whether `other` feeds the same worker.
    pub(crate) fn same_worker(&self, other: &Self) -> bool {
        self.jobs.same_channel(&other.jobs)
    }

    /// Queues `job` for the worker in the current span and says whether it was queued. A
    /// full queue answers the job's caller [`ActorError::Busy`] (and gives `false`).
    pub(crate) fn enqueue(
        &self,
        correlation: CorrelationId,
        job: Job,
    ) -> Result<bool, QueueClosed> {
        self.core.forkchoice_queued();
        let queued = Queued { correlation, span: tracing::Span::current(), job };
        match self.jobs.try_send(queued) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(queued)) => {
                self.core.forkchoice_done();
                let limit = self.core.config.job_queue.get();
                tracing::warn!(%correlation, job = queued.job.name(), limit,
                    "forkchoice queue full: request refused");
                queued.job.refuse(
                    ActorError::Busy { queue: "forkchoice queue", limit },
                    &self.core.meters,
                );
                Ok(false)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.core.forkchoice_done();
                Err(QueueClosed)
            }
        }
    }

    /// Routes a Chain request: answered at once when no I/O is needed (a build the engine
    /// is not ready for, an unknown payload id), else queued for the worker.
    pub(crate) fn chain(&self, msg: ChainRequest) -> Result<(), QueueClosed> {
        let submit = |correlation, job| self.enqueue(correlation, job).map(|_queued| ());
        match msg {
            ChainRequest::BuildPayload {
                correlation,
                parent,
                timestamp,
                peg_ins,
                fee_recipient,
                prev_randao,
                reply,
            } => {
                let engine_state = self.core.state();
                if !engine_state.can_build() {
                    let result =
                        Err(ActorError::Build(BuildRefusal::NotReady { state: engine_state }));
                    self.core.meters.outcome("build_payload", &result);
                    tracing::info!(%correlation, state = %engine_state, "build refused: not ready");
                    reply_to(reply, result);
                    return Ok(());
                }
                let job = BuildJob { parent, timestamp, peg_ins, fee_recipient, prev_randao };
                submit(correlation, Job::Build(job, reply))
            }
            ChainRequest::GetPayload { correlation, id, reply } => {
                let _span = tracing::info_span!("engine_get_payload", %correlation).entered();
                let result = self
                    .core
                    .cache()
                    .get(&id, Instant::now())
                    .map(|c| c.built.clone())
                    .ok_or(ActorError::Build(BuildRefusal::UnknownPayload { id }));
                self.core.meters.outcome("get_payload", &result);
                reply_to(reply, result);
                Ok(())
            }
            ChainRequest::CommitBuilt { correlation, id, reply } => {
                // Taken now: the job holds the build even if the cache expires it meanwhile.
                let build = self.core.cache().get(&id, Instant::now());
                match build {
                    Some(build) => submit(correlation, Job::Commit(Commit::Built(build), reply)),
                    None => {
                        let result = Err(ActorError::Build(BuildRefusal::UnknownPayload { id }));
                        self.core.meters.outcome("commit_payload", &result);
                        tracing::warn!(%correlation, %id, "commit refused: no such build");
                        reply_to(reply, result);
                        Ok(())
                    }
                }
            }
            ChainRequest::CommitPayload {
                correlation,
                payload,
                sidecar,
                expected_withdrawals,
                peg_ins,
                reply,
            } => {
                let import = Commit::Import { payload, sidecar, expected_withdrawals, peg_ins };
                submit(correlation, Job::Commit(import, reply))
            }
            ChainRequest::WhatLanded { correlation, block, peg_ins, reply } => {
                submit(correlation, Job::WhatLanded { block, peg_ins, reply })
            }
            ChainRequest::ForkchoiceUpdate { correlation, head, safe, finalized, reply } => {
                submit(correlation, Job::Forkchoice { head, safe, finalized, reply })
            }
            ChainRequest::SetFinalized { correlation, hash, reply } => {
                submit(correlation, Job::SetFinalized { hash, reply })
            }
        }
    }
}
