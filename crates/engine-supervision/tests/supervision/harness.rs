//! Toy actors and helpers shared by the scenarios.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use engine_supervision::{
    backoff::BackoffPolicy,
    intensity::IntensityLimit,
    policy::{ChildPolicy, Strategy, SupervisorPolicy},
    supervisor::{
        ChildEvents, ChildFactory, ChildSpec, Supervisor, SupervisorArgs, SupervisorMsg,
        SupervisorStatus, child_events,
    },
    tree::SupervisorSpec,
};
use ractor::{
    Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent, concurrency::JoinHandle,
};
use tokio::time::Instant;

/// How long any condition may take before a test fails (generous: 2 noisy cores).
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// What happened, in order, across all toys of a test.
#[derive(Debug, Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<(Instant, String)>>>);

impl Log {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push((Instant::now(), entry.into()));
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(_, e)| e.clone()).collect()
    }

    pub(crate) fn count(&self, entry: &str) -> usize {
        self.entries().iter().filter(|e| *e == entry).count()
    }

    /// Instants of every occurrence of `entry`.
    pub(crate) fn times(&self, entry: &str) -> Vec<Instant> {
        self.0.lock().unwrap().iter().filter(|(_, e)| e == entry).map(|(t, _)| *t).collect()
    }

    /// Entries logged after the first `n`.
    pub(crate) fn since(&self, n: usize) -> Vec<String> {
        self.entries().into_iter().skip(n).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// How a toy misbehaves.
#[derive(Debug, Default)]
pub(crate) struct Behavior {
    /// Fail this many `pre_start`s before succeeding.
    pub(crate) fail_pre_start: AtomicU32,
    /// Panic in `post_start` this many times (each incarnation consumes one).
    pub(crate) crash_on_start: AtomicU32,
}

impl Behavior {
    pub(crate) fn fail_pre_start(n: u32) -> Arc<Self> {
        Arc::new(Self { fail_pre_start: AtomicU32::new(n), ..Self::default() })
    }

    pub(crate) fn crash_on_start(n: u32) -> Arc<Self> {
        Arc::new(Self { crash_on_start: AtomicU32::new(n), ..Self::default() })
    }

    fn take(counter: &AtomicU32) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

/// A toy child: logs `start:<name>` after `pre_start` and `stop:<name>` in `post_stop`.
#[derive(Debug, Clone)]
pub(crate) struct Toy;

/// What a toy does when told.
#[derive(Debug)]
pub(crate) enum ToyMsg {
    /// Panic in the handler.
    Panic,
    /// Return an error from the handler.
    Fail,
    /// Stop cleanly.
    Stop,
    /// Reply with this incarnation's number.
    Incarnation(RpcReplyPort<u64>),
}

#[derive(Debug, Clone)]
pub(crate) struct ToyArgs {
    pub(crate) name: String,
    pub(crate) log: Log,
    pub(crate) behavior: Arc<Behavior>,
    pub(crate) incarnation: u64,
}

impl Actor for Toy {
    type Msg = ToyMsg;
    type State = ToyArgs;
    type Arguments = ToyArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ToyMsg>,
        args: ToyArgs,
    ) -> Result<ToyArgs, ActorProcessingErr> {
        if Behavior::take(&args.behavior.fail_pre_start) {
            args.log.push(format!("pre_start_failed:{}", args.name));
            return Err("toy refuses to start".into());
        }
        args.log.push(format!("start:{}", args.name));
        Ok(args)
    }

    async fn post_start(
        &self,
        _myself: ActorRef<ToyMsg>,
        state: &mut ToyArgs,
    ) -> Result<(), ActorProcessingErr> {
        if Behavior::take(&state.behavior.crash_on_start) {
            return Err("toy crashes right after starting".into());
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ToyMsg>,
        msg: ToyMsg,
        state: &mut ToyArgs,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ToyMsg::Panic => panic!("toy {} told to panic", state.name),
            ToyMsg::Fail => Err(format!("toy {} told to fail", state.name).into()),
            ToyMsg::Stop => {
                myself.stop(None);
                Ok(())
            }
            ToyMsg::Incarnation(reply) => {
                let _ = reply.send(state.incarnation);
                Ok(())
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ToyMsg>,
        state: &mut ToyArgs,
    ) -> Result<(), ActorProcessingErr> {
        state.log.push(format!("stop:{}", state.name));
        Ok(())
    }
}

/// A factory for a toy logging to `log` under its registered name.
pub(crate) fn toy(log: &Log, behavior: Arc<Behavior>) -> ChildFactory {
    let log = log.clone();
    ChildFactory::actor(Toy, move |ctx| ToyArgs {
        name: ctx.name().to_owned(),
        log: log.clone(),
        behavior: behavior.clone(),
        incarnation: ctx.incarnation(),
    })
}

/// A well-behaved toy child spec.
pub(crate) fn child(name: &str, log: &Log) -> ChildSpec {
    ChildSpec::actor(name, ChildPolicy::default(), toy(log, Arc::default()))
}

/// A policy with immediate restarts and a roomy intensity limit.
pub(crate) fn fast(strategy: Strategy) -> SupervisorPolicy {
    SupervisorPolicy {
        strategy,
        intensity: IntensityLimit { max_restarts: 100, within: Duration::from_secs(60) },
        backoff: BackoffPolicy::immediate(),
    }
}

/// Spawns a root supervisor for `spec`.
pub(crate) async fn spawn(
    spec: SupervisorSpec,
) -> (ActorRef<SupervisorMsg>, JoinHandle<()>, ChildEvents) {
    let events = child_events();
    let (sup, join) =
        Supervisor::spawn(SupervisorArgs { spec, events: events.clone() }).await.unwrap();
    (sup, join, events)
}

/// The running toy registered as `name`.
pub(crate) fn toy_ref(name: &str) -> ActorRef<ToyMsg> {
    ractor::registry::where_is(name).expect("toy is registered").into()
}

/// Polls `cond` every few ms until it holds; panics with `what` after [`DEADLINE`].
pub(crate) async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The supervisor's status.
pub(crate) async fn status(sup: &ActorRef<SupervisorMsg>) -> SupervisorStatus {
    ractor::call_t!(sup, SupervisorMsg::GetStatus, 5_000).unwrap()
}

/// Polls the supervisor's status until `cond` holds.
pub(crate) async fn eventually_status(
    sup: &ActorRef<SupervisorMsg>,
    what: &str,
    cond: impl Fn(&SupervisorStatus) -> bool,
) -> SupervisorStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let s = status(sup).await;
        if cond(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}; last status:\n{s}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A parent actor that spawns a supervisor linked to itself and logs its supervision events.
#[derive(Debug)]
pub(crate) struct Parent;

impl Actor for Parent {
    type Msg = ();
    type State = Log;
    type Arguments = (SupervisorSpec, Log);

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        (spec, log): (SupervisorSpec, Log),
    ) -> Result<Log, ActorProcessingErr> {
        Supervisor::spawn_linked(
            SupervisorArgs { spec, events: child_events() },
            myself.get_cell(),
        )
        .await?;
        Ok(log)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        evt: SupervisionEvent,
        log: &mut Log,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, err) => {
                log.push(format!("parent:failed:{}:{err}", cell.get_name().unwrap_or_default()));
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => log.push(format!(
                "parent:terminated:{}:{}",
                cell.get_name().unwrap_or_default(),
                reason.unwrap_or_default()
            )),
            _ => {}
        }
        Ok(())
    }
}
