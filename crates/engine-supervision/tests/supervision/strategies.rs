//! One-for-one, one-for-all and rest-for-one: which siblings go down and come back, in which
//! order.

use engine_supervision::{policy::Strategy, tree::SupervisorSpec};

use crate::harness::{Log, ToyMsg, child, eventually, fast, spawn, status, toy_ref};

fn three(prefix: &str, strategy: Strategy, log: &Log) -> (SupervisorSpec, [String; 3]) {
    let names = ["a", "b", "c"].map(|c| format!("{prefix}.{c}"));
    let spec = SupervisorSpec::new(format!("{prefix}.sup"), fast(strategy))
        .child(child(&names[0], log))
        .child(child(&names[1], log))
        .child(child(&names[2], log));
    (spec, names)
}

/// One-for-one restarts only the child that panicked; its siblings keep running untouched.
#[tokio::test]
async fn one_for_one_restarts_only_the_failed_child() {
    let log = Log::default();
    let (spec, [a, b, c]) = three("o4o", Strategy::OneForOne, &log);
    let (sup, _join, _events) = spawn(spec).await;
    let mark = log.len();

    toy_ref(&b).cast(ToyMsg::Panic).unwrap();
    eventually("b restarted", || log.count(&format!("start:{b}")) == 2).await;

    assert_eq!(log.since(mark), vec![format!("start:{b}")]);
    let s = status(&sup).await;
    let restarts: Vec<_> = s.children.iter().map(|c| (c.name.as_str(), c.restarts)).collect();
    assert_eq!(restarts, vec![(a.as_str(), 0), (b.as_str(), 1), (c.as_str(), 0)]);
    sup.stop_and_wait(None, None).await.unwrap();
}

/// One-for-all stops the siblings in reverse start order, then starts everyone in order.
#[tokio::test]
async fn one_for_all_restarts_siblings_in_order() {
    let log = Log::default();
    let (spec, [a, b, c]) = three("o4a", Strategy::OneForAll, &log);
    let (sup, _join, _events) = spawn(spec).await;
    let mark = log.len();

    toy_ref(&b).cast(ToyMsg::Fail).unwrap();
    eventually("c restarted", || log.count(&format!("start:{c}")) == 2).await;

    assert_eq!(
        log.since(mark),
        vec![
            format!("stop:{c}"),
            format!("stop:{a}"),
            format!("start:{a}"),
            format!("start:{b}"),
            format!("start:{c}"),
        ]
    );
    sup.stop_and_wait(None, None).await.unwrap();
}

/// Rest-for-one restarts the failed child and those started after it, not those before.
#[tokio::test]
async fn rest_for_one_restarts_later_siblings() {
    let log = Log::default();
    let (spec, [a, b, c]) = three("r4o", Strategy::RestForOne, &log);
    let (sup, _join, _events) = spawn(spec).await;
    let mark = log.len();

    toy_ref(&b).cast(ToyMsg::Panic).unwrap();
    eventually("c restarted", || log.count(&format!("start:{c}")) == 2).await;

    assert_eq!(
        log.since(mark),
        vec![format!("stop:{c}"), format!("start:{b}"), format!("start:{c}")]
    );
    assert_eq!(log.count(&format!("start:{a}")), 1);
    sup.stop_and_wait(None, None).await.unwrap();
}
