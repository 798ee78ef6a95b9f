//! The supervisor's state and the decisions it takes on it.
//!
//! Every decision goes through one of three entry points: [`SupervisorState::start_slots`] (initial
//! start and due restarts), [`SupervisorState::on_exit`] (a child's supervision event) and
//! [`SupervisorState::stop_all`] (shutdown and escalation). Restarts are never awaited inside a handler:
//! they are scheduled as a [`SupervisorMsg::RestartDue`] carrying a generation, and a tick whose
//! generation no longer matches the child's pending restart is ignored.

use std::time::Duration;

use ractor::{ActorCell, ActorProcessingErr, ActorRef};
use tokio::time::Instant;

use super::{
    Supervisor, SupervisorArgs, SupervisorMsg,
    child::{ChildEvent, ChildEvents, ChildSpec, ChildStart, SpawnCtx},
    status::{ChildState, ChildStatus, SupervisorStatus},
};
use crate::{
    error::SupervisionError,
    intensity::RestartWindow,
    metrics,
    policy::{Strategy, SupervisorPolicy},
    tree::SupervisorSpec,
};

/// How long to wait for a child that overran its shutdown timeout to die after a kill.
const KILL_WAIT: Duration = Duration::from_secs(1);

/// A child slot's phase.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Declared, never started.
    Idle,
    /// Running as `Slot::cell`.
    Running,
    /// Restart scheduled: only a `RestartDue` with this generation (or a sibling's due tick
    /// once `due` has passed) starts it.
    Pending { generation: u64, due: Instant, delay: Duration },
    /// Exited for good (its restart kind says so).
    Exited { reason: String },
    /// Stopped by shutdown or escalation.
    Stopped,
}

/// One child and what the supervisor remembers about it.
#[derive(Debug)]
struct Slot {
    spec: ChildSpec,
    /// The running incarnation; `None` as soon as the supervisor stops caring about it, so
    /// that its late exit event is recognised as stale.
    cell: Option<ActorCell>,
    phase: Phase,
    /// Consecutive failures, the exponent of the next backoff.
    attempt: u32,
    started_at: Option<Instant>,
    /// Successful starts so far (restarts = starts - 1).
    starts: u64,
}

/// The supervisor actor's state (opaque; ask [`SupervisorMsg::GetStatus`] for a view of it).
#[derive(Debug)]
pub struct SupervisorState {
    name: String,
    policy: SupervisorPolicy,
    events: ChildEvents,
    /// Children in start order: `(priority, declaration order)`.
    slots: Vec<Slot>,
    window: RestartWindow,
    /// Source of restart generations; unique per supervisor so one number names one
    /// scheduled restart (of a child or of a group of siblings).
    next_generation: u64,
    /// Set by shutdown: exits are no longer acted on.
    shutting_down: bool,
    /// Set once the intensity limit is exceeded, so escalation happens exactly once.
    escalated: bool,
}

/// Why a restart is being scheduled (the `reason` label).
#[derive(Debug, Clone, Copy)]
enum Reason {
    Failed,
    Stopped,
    StartFailed,
}

impl Reason {
    /// What the child did, for log lines.
    const fn verb(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Stopped => "stopped",
            Self::StartFailed => "could not start",
        }
    }

    const fn label(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Stopped => "stopped",
            Self::StartFailed => "start_failed",
        }
    }
}

impl SupervisorState {
    /// Builds the state from a spec, rejecting duplicate child names.
    pub(crate) fn new(args: SupervisorArgs) -> Result<Self, SupervisionError> {
        let SupervisorArgs { spec, events } = args;
        let SupervisorSpec { name, policy, children } = spec;
        for (i, child) in children.iter().enumerate() {
            if children[..i].iter().any(|c| c.name == child.name) {
                return Err(SupervisionError::DuplicateChild {
                    supervisor: name,
                    child: child.name.clone(),
                });
            }
        }
        let mut slots: Vec<Slot> = children
            .into_iter()
            .map(|spec| Slot {
                spec,
                cell: None,
                phase: Phase::Idle,
                attempt: 0,
                started_at: None,
                starts: 0,
            })
            .collect();
        // Stable: declaration order breaks ties.
        slots.sort_by_key(|slot| slot.spec.policy.priority);
        Ok(Self {
            name,
            window: RestartWindow::new(policy.intensity),
            policy,
            events,
            slots,
            next_generation: 0,
            shutting_down: false,
            escalated: false,
        })
    }

    /// All children in start order.
    pub(crate) fn all(&self) -> Vec<usize> {
        (0..self.slots.len()).collect()
    }

    /// Starts `indices` (in start order). A child that fails to start is scheduled for a
    /// retry; under one-for-all / rest-for-one the children after it wait with it, since they
    /// depend on it. Returns `Err` only to escalate.
    pub(crate) async fn start_slots(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        indices: &[usize],
    ) -> Result<(), ActorProcessingErr> {
        for (pos, &idx) in indices.iter().enumerate() {
            if self.shutting_down || self.escalated {
                return Ok(());
            }
            let Err(err) = self.spawn_slot(myself, idx).await else { continue };
            let child = self.slots[idx].spec.name.clone();
            let reason = format!("failed to start: {err}");
            if !self.window.record(Instant::now()) {
                return Err(self.escalate(&child, Reason::StartFailed, &reason).await);
            }
            let group = match self.policy.strategy {
                Strategy::OneForOne => vec![idx],
                Strategy::OneForAll | Strategy::RestForOne => indices[pos..].to_vec(),
            };
            self.schedule(myself, idx, &group, Reason::StartFailed, &reason);
            if group.len() > 1 {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A restart tick: starts the pending restart it names, together with every other restart
    /// already due, so that higher-priority children go first.
    pub(crate) async fn on_restart_due(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        child: &str,
        generation: u64,
    ) -> Result<(), ActorProcessingErr> {
        if self.shutting_down || self.escalated {
            return Ok(());
        }
        let current = self.slots.iter().any(|slot| {
            slot.spec.name == child
                && matches!(slot.phase, Phase::Pending { generation: g, .. } if g == generation)
        });
        if !current {
            tracing::debug!(supervisor = %self.name, %child, generation, "supervision: stale restart tick ignored");
            return Ok(());
        }
        let now = Instant::now();
        let due: Vec<usize> = (0..self.slots.len())
            .filter(|&i| match self.slots[i].phase {
                Phase::Pending { generation: g, due, .. } => g == generation || due <= now,
                _ => false,
            })
            .collect();
        self.start_slots(myself, &due).await
    }

    /// A child exited (`failed`: abnormally). Applies its restart kind and the strategy.
    pub(crate) async fn on_exit(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        cell: &ActorCell,
        failed: bool,
        reason: String,
    ) -> Result<(), ActorProcessingErr> {
        let id = cell.get_id();
        let Some(idx) =
            self.slots.iter().position(|s| s.cell.as_ref().is_some_and(|c| c.get_id() == id))
        else {
            // An incarnation we already stopped on purpose (or never knew).
            return Ok(());
        };
        let slot = &mut self.slots[idx];
        slot.cell = None;
        let child = slot.spec.name.clone();
        self.events.send(ChildEvent::Exited {
            supervisor: self.name.clone(),
            child: child.clone(),
            failed,
            reason: reason.clone(),
        });
        if self.shutting_down || self.escalated {
            slot.phase = Phase::Stopped;
            return Ok(());
        }
        if !slot.spec.policy.restart.restarts(failed) {
            tracing::info!(
                supervisor = %self.name, %child, %reason, failed,
                restart = %slot.spec.policy.restart, decision = "no-restart",
                "supervision decision"
            );
            slot.phase = Phase::Exited { reason };
            return Ok(());
        }
        let now = Instant::now();
        if slot
            .started_at
            .is_some_and(|at| now.saturating_duration_since(at) >= self.policy.backoff.reset_after)
        {
            slot.attempt = 0;
        }
        let why = if failed { Reason::Failed } else { Reason::Stopped };
        if !self.window.record(now) {
            return Err(self.escalate(&child, why, &reason).await);
        }
        let group: Vec<usize> = match self.policy.strategy {
            Strategy::OneForOne => vec![idx],
            Strategy::OneForAll => self.restartable_from(0, idx),
            Strategy::RestForOne => self.restartable_from(idx, idx),
        };
        // Siblings go down in reverse start order before anyone comes back up.
        for &i in group.iter().rev() {
            if let Some(sibling) = self.slots[i].cell.take() {
                let name = self.slots[i].spec.name.clone();
                let timeout = self.slots[i].spec.policy.shutdown_timeout;
                self.stop_child(&name, &sibling, timeout, "sibling restart").await;
            }
        }
        // Temporary siblings caught in the group are stopped but not brought back.
        for i in self.temporaries_in(&group) {
            self.slots[i].phase = Phase::Exited { reason: "stopped by sibling restart".into() };
        }
        let group: Vec<usize> = group
            .into_iter()
            .filter(|&i| i == idx || self.slots[i].spec.policy.restart.restarts(true))
            .collect();
        self.schedule(myself, idx, &group, why, &reason);
        Ok(())
    }

    /// Stops every child in reverse start order, each within its shutdown timeout.
    pub(crate) async fn stop_all(&mut self, reason: &str) {
        self.shutting_down = true;
        for i in (0..self.slots.len()).rev() {
            let slot = &mut self.slots[i];
            if !matches!(slot.phase, Phase::Exited { .. }) {
                slot.phase = Phase::Stopped;
            }
            if let Some(cell) = slot.cell.take() {
                let name = slot.spec.name.clone();
                let timeout = slot.spec.policy.shutdown_timeout;
                self.stop_child(&name, &cell, timeout, reason).await;
            }
        }
    }

    /// The status reply.
    pub(crate) fn status(&mut self) -> SupervisorStatus {
        let restarts_in_window = self.window.count(Instant::now());
        SupervisorStatus {
            name: self.name.clone(),
            strategy: self.policy.strategy,
            restarts_in_window,
            children: self
                .slots
                .iter()
                .map(|slot| ChildStatus {
                    name: slot.spec.name.clone(),
                    priority: slot.spec.policy.priority,
                    restart: slot.spec.policy.restart,
                    state: match &slot.phase {
                        Phase::Idle => ChildState::Starting,
                        Phase::Running => ChildState::Running,
                        Phase::Pending { delay, .. } => ChildState::Backoff { delay: *delay },
                        Phase::Exited { reason } => ChildState::Exited { reason: reason.clone() },
                        Phase::Stopped => ChildState::Stopped,
                    },
                    restarts: slot.starts.saturating_sub(1),
                    cell: slot.cell.clone(),
                    supervisor: None,
                    is_supervisor: slot.spec.is_supervisor(),
                })
                .collect(),
        }
    }

    /// Children from `from` on that take part in a group restart: the one that exited and
    /// every sibling that runs or waits to.
    fn restartable_from(&self, from: usize, exited: usize) -> Vec<usize> {
        (from..self.slots.len())
            .filter(|&i| {
                i == exited || matches!(self.slots[i].phase, Phase::Running | Phase::Pending { .. })
            })
            .collect()
    }

    /// The temporary members of a group (other than ones that already exited).
    fn temporaries_in(&self, group: &[usize]) -> Vec<usize> {
        group
            .iter()
            .copied()
            .filter(|&i| !self.slots[i].spec.policy.restart.restarts(true))
            .filter(|&i| !matches!(self.slots[i].phase, Phase::Exited { .. }))
            .collect()
    }

    /// Schedules one restart of `group` (led by `lead`, whose failures set the backoff).
    /// Logs one line for the lead, with its `reason` (the only line that names the exit's
    /// cause), and one per sibling it takes down.
    fn schedule(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        lead: usize,
        group: &[usize],
        why: Reason,
        reason: &str,
    ) {
        let attempt = self.slots[lead].attempt;
        let delay = self.policy.backoff.delay_random(attempt);
        self.slots[lead].attempt = attempt.saturating_add(1);
        self.next_generation += 1;
        let generation = self.next_generation;
        let due = Instant::now() + delay;
        let lead_name = self.slots[lead].spec.name.clone();
        for &i in group {
            let child = self.slots[i].spec.name.clone();
            let label = if i == lead { why.label() } else { "sibling" };
            self.slots[i].phase = Phase::Pending { generation, due, delay };
            ::metrics::counter!(metrics::RESTARTS_TOTAL,
                "supervisor" => self.name.clone(), "child" => child.clone(), "reason" => label)
            .increment(1);
            ::metrics::gauge!(metrics::BACKOFF_SECONDS,
                "supervisor" => self.name.clone(), "child" => child.clone())
            .set(delay.as_secs_f64());
            let backoff_ms = delay.as_millis() as u64;
            let strategy = self.policy.strategy;
            if i != lead {
                tracing::info!(supervisor = %self.name, %child, reason = label,
                    decision = "restart", %strategy, backoff_ms, generation,
                    "supervision decision: restarting a sibling");
            } else if matches!(why, Reason::Stopped) {
                tracing::info!(supervisor = %self.name, %child, kind = label, reason,
                    decision = "restart", %strategy, backoff_ms, attempt, generation,
                    "supervision decision: {child} stopped; restarting it");
            } else {
                tracing::warn!(supervisor = %self.name, %child, kind = label, reason,
                    decision = "restart", %strategy, backoff_ms, attempt, generation,
                    "supervision decision: {child} failed; restarting it");
            }
        }
        let msg = SupervisorMsg::RestartDue { child: lead_name, generation };
        if delay.is_zero() {
            // Through the mailbox all the same, so a pending shutdown is seen first.
            let _ = myself.cast(msg);
        } else {
            let _timer = myself.send_after(delay, move || msg);
        }
    }

    /// Spawns one child. On success the slot runs and peers are told.
    async fn spawn_slot(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        idx: usize,
    ) -> Result<(), SupervisionError> {
        let slot = &self.slots[idx];
        let name = slot.spec.name.clone();
        let incarnation = slot.starts;
        let spawned = match &slot.spec.start {
            ChildStart::Actor(factory) => {
                let ctx = SpawnCtx {
                    name: name.clone(),
                    supervisor: myself.get_cell(),
                    events: self.events.clone(),
                    incarnation,
                };
                factory.spawn(ctx).await
            }
            ChildStart::Supervisor(spec) => {
                let args = SupervisorArgs { spec: spec.clone(), events: self.events.clone() };
                Supervisor::spawn_linked_raw(args, myself.get_cell()).await
            }
        };
        let cell =
            spawned.map_err(|source| SupervisionError::Spawn { child: name.clone(), source })?;
        let slot = &mut self.slots[idx];
        slot.cell = Some(cell.clone());
        slot.phase = Phase::Running;
        slot.started_at = Some(Instant::now());
        slot.starts += 1;
        ::metrics::gauge!(metrics::BACKOFF_SECONDS,
            "supervisor" => self.name.clone(), "child" => name.clone())
        .set(0.0);
        tracing::info!(supervisor = %self.name, child = %name, incarnation, "supervision: child started");
        self.events.send(ChildEvent::Started {
            supervisor: self.name.clone(),
            child: name,
            cell,
            incarnation,
        });
        Ok(())
    }

    /// Stops one child gracefully, killing it if it overruns `timeout`.
    async fn stop_child(&self, name: &str, cell: &ActorCell, timeout: Duration, reason: &str) {
        cell.stop(Some(reason.to_owned()));
        if cell.wait(Some(timeout)).await.is_err() {
            tracing::warn!(
                supervisor = %self.name, child = %name, ?timeout,
                "supervision: child overran its shutdown timeout; killing it"
            );
            ::metrics::counter!(metrics::SHUTDOWN_KILLS_TOTAL,
                "supervisor" => self.name.clone(), "child" => name.to_owned())
            .increment(1);
            cell.kill();
            let _ = cell.wait(Some(KILL_WAIT)).await;
        }
    }

    /// Gives up: stops the children and returns the error that fails this supervisor. Runs
    /// its side effects once even if called again.
    async fn escalate(&mut self, child: &str, why: Reason, reason: &str) -> ActorProcessingErr {
        let limit = self.window.limit();
        let error = SupervisionError::IntensityExceeded {
            supervisor: self.name.clone(),
            max_restarts: limit.max_restarts,
            within: limit.within,
            last_failure: format!("{child} {}: {reason}", why.verb()),
        };
        if !self.escalated {
            self.escalated = true;
            ::metrics::counter!(metrics::ESCALATIONS_TOTAL, "supervisor" => self.name.clone())
                .increment(1);
            tracing::error!(
                supervisor = %self.name, %child, kind = why.label(), reason,
                decision = "escalate", max_restarts = limit.max_restarts,
                within = ?limit.within, "supervision decision: {child} {}; escalating", why.verb()
            );
            self.events.send(ChildEvent::Escalated {
                supervisor: self.name.clone(),
                child: child.to_owned(),
                reason: reason.to_owned(),
            });
        }
        self.stop_all("supervisor escalating").await;
        Box::new(error)
    }
}
