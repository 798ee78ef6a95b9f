//! Starting (and retrying failed starts), shutdown order, names kept across restarts, restart
//! events for peers, and stale restart ticks.

use std::sync::{Arc, Mutex};

use engine_supervision::{
    policy::{ChildPolicy, Priority, Strategy},
    supervisor::{ChildEvent, ChildSpec, ChildState, SupervisorMsg},
    tree::SupervisorSpec,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::harness::{
    Behavior, Log, ToyMsg, child, eventually, eventually_status, fast, spawn, status, toy, toy_ref,
};

/// A `pre_start` that fails is retried with backoff until it succeeds.
#[tokio::test]
async fn failed_pre_start_is_retried_then_succeeds() {
    let log = Log::default();
    let name = "prestart.child";
    let spec = SupervisorSpec::new("prestart.sup", fast(Strategy::OneForOne)).child(
        ChildSpec::actor(name, ChildPolicy::default(), toy(&log, Behavior::fail_pre_start(2))),
    );
    let (sup, _join, _events) = spawn(spec).await;

    let s =
        eventually_status(&sup, "child running", |s| s.children[0].state == ChildState::Running)
            .await;
    assert_eq!(
        log.entries(),
        vec![
            format!("pre_start_failed:{name}"),
            format!("pre_start_failed:{name}"),
            format!("start:{name}"),
        ]
    );
    // Failed starts count toward the intensity window, not as restarts of a running child.
    assert_eq!(s.restarts_in_window, 2);
    assert_eq!(s.children[0].restarts, 0);
    sup.stop_and_wait(None, None).await.unwrap();
}

/// Under one-for-all, a sibling after a child that failed to start waits for it.
#[tokio::test]
async fn later_siblings_wait_for_a_failed_start_under_one_for_all() {
    let log = Log::default();
    let spec = SupervisorSpec::new("wait.sup", fast(Strategy::OneForAll))
        .child(ChildSpec::actor(
            "wait.a",
            ChildPolicy::default(),
            toy(&log, Behavior::fail_pre_start(1)),
        ))
        .child(child("wait.b", &log));
    let (sup, _join, _events) = spawn(spec).await;

    eventually_status(&sup, "both running", |s| {
        s.children.iter().all(|c| c.state == ChildState::Running)
    })
    .await;
    assert_eq!(log.entries(), vec!["pre_start_failed:wait.a", "start:wait.a", "start:wait.b"]);
    sup.stop_and_wait(None, None).await.unwrap();
}

/// Children start by priority then declaration, and shutdown stops them in reverse, without
/// restarting the permanent children that stop cleanly meanwhile.
#[tokio::test]
async fn shutdown_stops_in_reverse_start_order() {
    let log = Log::default();
    let with = |priority| ChildPolicy::default().with_priority(priority);
    let spec = SupervisorSpec::new("order.sup", fast(Strategy::OneForOne))
        .child(ChildSpec::actor("order.normal", with(Priority::Normal), toy(&log, Arc::default())))
        .child(ChildSpec::actor("order.low", with(Priority::Low), toy(&log, Arc::default())))
        .child(ChildSpec::actor(
            "order.consensus",
            with(Priority::Consensus),
            toy(&log, Arc::default()),
        ));
    let (sup, join, _events) = spawn(spec).await;
    assert_eq!(
        log.entries(),
        vec!["start:order.consensus", "start:order.normal", "start:order.low"]
    );

    ractor::call_t!(sup, SupervisorMsg::Shutdown, 5_000).unwrap();
    join.await.unwrap();

    assert_eq!(log.since(3), vec!["stop:order.low", "stop:order.normal", "stop:order.consensus"]);
}

/// A plain `stop()` of the supervisor also stops children in reverse start order.
#[tokio::test]
async fn plain_stop_also_stops_in_reverse_order() {
    let log = Log::default();
    let spec = SupervisorSpec::new("plainstop.sup", fast(Strategy::OneForAll))
        .child(child("plainstop.a", &log))
        .child(child("plainstop.b", &log));
    let (sup, _join, _events) = spawn(spec).await;

    sup.stop_and_wait(None, None).await.unwrap();

    assert_eq!(log.since(2), vec!["stop:plainstop.b", "stop:plainstop.a"]);
}

/// Collects a tree's child events.
#[derive(Debug)]
struct Collector;

impl Actor for Collector {
    type Msg = ChildEvent;
    type State = Arc<Mutex<Vec<ChildEvent>>>;
    type Arguments = Arc<Mutex<Vec<ChildEvent>>>;

    async fn pre_start(
        &self,
        _myself: ActorRef<ChildEvent>,
        seen: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(seen)
    }

    async fn handle(
        &self,
        _myself: ActorRef<ChildEvent>,
        evt: ChildEvent,
        seen: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        seen.lock().unwrap().push(evt);
        Ok(())
    }
}

/// A restarted child is registered under the same name, and peers are told its new cell.
#[tokio::test]
async fn restart_keeps_the_name_and_notifies_peers() {
    let log = Log::default();
    let name = "named.child";
    let spec = SupervisorSpec::new("named.sup", fast(Strategy::OneForOne)).child(child(name, &log));
    let (sup, _join, events) = spawn(spec).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (collector, _) = Actor::spawn(None, Collector, seen.clone()).await.unwrap();
    events.subscribe(collector.clone(), Some);
    let before = toy_ref(name);

    before.cast(ToyMsg::Panic).unwrap();
    eventually("restart announced", || {
        seen.lock().unwrap().iter().any(|e| e.restarted().is_some())
    })
    .await;

    let after = toy_ref(name);
    assert_ne!(after.get_id(), before.get_id());
    let announced = seen
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| e.restarted().map(|(n, c)| (n.to_owned(), c.get_id())));
    assert_eq!(announced, Some((name.to_owned(), after.get_id())));
    assert_eq!(ractor::call_t!(after, ToyMsg::Incarnation, 5_000).unwrap(), 1);
    collector.stop(None);
    sup.stop_and_wait(None, None).await.unwrap();
}

/// A restart tick with a generation that is not pending is ignored.
#[tokio::test]
async fn stale_restart_tick_is_ignored() {
    let log = Log::default();
    let name = "stale.child";
    let spec = SupervisorSpec::new("stale.sup", fast(Strategy::OneForOne)).child(child(name, &log));
    let (sup, _join, _events) = spawn(spec).await;

    sup.cast(SupervisorMsg::RestartDue { child: name.into(), generation: 42 }).unwrap();
    // The status reply is queued after the tick, so the tick has been handled.
    let s = status(&sup).await;

    assert_eq!(s.children[0].restarts, 0);
    assert_eq!(log.count(&format!("start:{name}")), 1);
    sup.stop_and_wait(None, None).await.unwrap();
}

/// Two children with the same name are refused at spawn time.
#[tokio::test]
async fn duplicate_child_names_are_refused() {
    let log = Log::default();
    let spec = SupervisorSpec::new("dup.sup", fast(Strategy::OneForOne))
        .child(child("dup.x", &log))
        .child(child("dup.x", &log));
    let err = engine_supervision::supervisor::Supervisor::spawn(
        engine_supervision::supervisor::SupervisorArgs {
            spec,
            events: engine_supervision::supervisor::child_events(),
        },
    )
    .await
    .unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("supervisor dup.sup declares child dup.x twice"), "{cause}");
    assert!(log.entries().is_empty());
}
