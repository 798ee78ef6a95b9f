//! The pool of execution clients: builds on the best endpoint, commits fanned out to all,
//! failover when the primary is down, hangs or answers garbage, and catch-up replay.

use crate::harness::{
    ANSWERED, Driver, attributes, config, eventually, forkchoice, mock, short_for,
};
use engine_client::{
    breaker::BreakerState,
    error::ClientError,
    health::EndpointState,
    pool::{ExecutionPool, PoolConfig, StandbyState},
};
use engine_testkit::{
    Fault, FillPolicy, MockEl, MockElConfig, Restart,
    fixtures::{Transfer, dev_signer, sign_transfer},
    rpc_server::ANY_METHOD,
};
use engine_types::{
    EngineError, Fork, ForkSchedule, PayloadStatus, PayloadStatusWire, Severity,
    constants::CHAIN_ID_DEV,
    primitives::{Address, B256, U256},
};
use std::time::Duration;

/// The block hashes of the V2 payloads `el` was sent, in order.
fn new_payloads(el: &MockEl) -> Vec<B256> {
    el.calls("engine_newPayloadV2")
        .iter()
        .map(|c| serde_json::from_value(c.params[0]["blockHash"].clone()).unwrap())
        .collect()
}

async fn same_head(els: &[&MockEl], head: B256) {
    eventually(Duration::from_secs(5), "every EL to reach the head", || async {
        els.iter().all(|el| el.head().hash == head)
    })
    .await;
}

/// With everyone healthy, the primary builds and every endpoint follows the head.
#[tokio::test]
async fn commits_fan_out_and_keep_heads_equal() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let mut d = Driver::new(&[&a, &b]).await;
    for _ in 0..3 {
        let (builder, failed_over, outcome) = d.produce().await;
        assert_eq!(builder, d.name(0));
        assert!(!failed_over && !outcome.failed_over);
        assert_eq!(outcome.primary, d.name(0));
        assert_eq!(outcome.standbys.len(), 1);
        assert_ne!(outcome.standbys[0].1, StandbyState::Lagging);
    }
    same_head(&[&a, &b], d.head).await;
    assert!(
        b.calls("engine_forkchoiceUpdatedV2")
            .iter()
            .all(|c| c.param(1) == Some(&serde_json::Value::Null)),
        "the standby never builds"
    );
    eventually(Duration::from_secs(5), "the standby's status to show the head", || async {
        d.pool.status()[1].head == Some(d.head) && !d.pool.status()[1].lagging
    })
    .await;
    assert!(d.pool.status()[0].latency_ewma.is_some());
}

/// A primary that is down is passed over: the standby builds and its verdict counts.
#[tokio::test]
async fn primary_down_fails_over() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let mut d = Driver::new(&[&a, &b]).await;
    d.produce().await;
    a.go_down().await;
    for _ in 0..2 {
        let (builder, _, outcome) = d.produce().await;
        assert_eq!(builder, d.name(1));
        assert_eq!(outcome.primary, d.name(1));
    }
    assert_eq!(b.head().hash, d.head);
    assert!(d.pool.status()[0].lagging);
    assert_eq!(d.pool.status()[0].state, EndpointState::Offline);
    // Queries go where the builds go: the standby first, the offline primary last.
    assert_eq!(d.pool.query_order(), [1, 0]);
}

/// A primary that hangs is passed over after one request timeout, during a build and during
/// a commit.
#[tokio::test]
async fn primary_hangs_fails_over() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let mut d = Driver::with(&[&a, &b], short_for(&a)).await;
    // Hangs on the commit only: the primary builds, the standby's verdict counts.
    a.fail_always("engine_newPayloadV2", Fault::Hang);
    let (builder, failed_over, outcome) = d.produce().await;
    assert_eq!((builder, failed_over), (d.name(0), false));
    assert!(outcome.failed_over);
    assert_eq!(outcome.primary, d.name(1));
    assert_eq!(b.head().hash, d.head);

    // Hangs on everything: the build moves too. The primary, now known to be offline, is
    // ranked last, so the standby leads without a failover.
    a.fail_always(ANY_METHOD, Fault::Hang);
    let (builder, _, outcome) = d.produce().await;
    assert_eq!(builder, d.name(1));
    assert_eq!(outcome.primary, d.name(1));
    assert_eq!(b.head().hash, d.head);
}

/// A primary that hangs from the start costs the build one request timeout, not more.
#[tokio::test]
async fn build_fails_over_from_a_hung_primary() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let d = Driver::with(&[&a, &b], short_for(&a)).await;
    a.fail_always("engine_forkchoiceUpdatedV2", Fault::Hang);
    let attrs = attributes(&ForkSchedule::default(), d.timestamp);
    let built = d.pool.build_payload(forkchoice(d.head), attrs).await.unwrap();
    assert_eq!(built.endpoint, d.name(1));
    assert!(built.failed_over);
    assert_eq!(a.calls("engine_forkchoiceUpdatedV2").len(), 1, "one attempt, then the standby");
}

/// A primary that answers garbage is passed over.
#[tokio::test]
async fn primary_garbage_fails_over() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let mut d = Driver::new(&[&a, &b]).await;
    a.fail_always(ANY_METHOD, Fault::MalformedJson);
    let (builder, failed_over, outcome) = d.produce().await;
    assert_eq!((builder, failed_over), (d.name(1), true));
    assert_eq!(outcome.primary, d.name(1));
}

/// With three endpoints, one down and one answering garbage, the third keeps the chain going.
#[tokio::test]
async fn three_endpoints_two_broken() {
    let (a, b, c) =
        (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let mut d = Driver::new(&[&a, &b, &c]).await;
    d.produce().await;
    a.go_down().await;
    b.fail_always(ANY_METHOD, Fault::MalformedJson);
    for _ in 0..3 {
        let (builder, _, outcome) = d.produce().await;
        assert_eq!(builder, d.name(2));
        assert_eq!(outcome.primary, d.name(2));
    }
    assert_eq!(c.head().hash, d.head);
}

/// The build endpoint dies between forkchoiceUpdated and getPayload: the block is rebuilt on
/// the next endpoint, not lost.
#[tokio::test]
async fn rebuilds_when_the_builder_dies_mid_build() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let mut d = Driver::new(&[&a, &b]).await;
    a.fail_next("engine_getPayloadV2", Fault::CloseConnection, 1);
    let (builder, failed_over, _) = d.produce().await;
    assert_eq!((builder, failed_over), (d.name(1), true));
    let started = b.calls("engine_forkchoiceUpdatedV2");
    assert!(started[0].param(1).is_some_and(|a| !a.is_null()), "the standby got the attributes");
    same_head(&[&a, &b], d.head).await;
}

/// A standby that missed commits answers SYNCING and is caught up from the replay buffer.
#[tokio::test]
async fn replay_catches_up_a_lagging_standby() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let mut d = Driver::new(&[&a, &b]).await;
    d.produce().await;
    same_head(&[&a, &b], d.head).await;
    b.go_down().await;
    let mut missed = Vec::new();
    for _ in 0..2 {
        let (_, _, outcome) = d.produce().await;
        assert_eq!(outcome.standbys.len(), 1);
        assert_ne!(outcome.standbys[0].1, StandbyState::InSync);
        missed.push(d.head);
    }
    eventually(Duration::from_secs(5), "the standby to be marked lagging", || async {
        d.pool.status()[1].lagging
    })
    .await;
    b.come_back(Restart::KeepChain).await.unwrap();
    d.pool.upcheck_now().await;
    d.produce().await;
    same_head(&[&a, &b], d.head).await;
    let sent = new_payloads(&b);
    for hash in missed {
        assert!(sent.contains(&hash), "missed block {hash} was replayed");
    }
    // The standby's lane records its verdict after the EL answered, so the flag may trail
    // the EL's head by a moment.
    eventually(Duration::from_secs(5), "the standby to be in sync again", || async {
        !d.pool.status()[1].lagging
    })
    .await;
}

/// A standby that was down while the primary went on, told the head by a forkchoice update
/// alone (what the engine re-sends when an endpoint comes back), answers SYNCING, is
/// replayed the blocks it missed and ends on the head: it rejoins without waiting for the
/// next commit. Its return is counted.
#[tokio::test]
async fn forkchoice_update_catches_up_a_returning_standby() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    // Its breaker opens while it is down; a short cool-down lets the next upcheck probe it.
    let cooldown = Duration::from_millis(50);
    let mut d = Driver::with(&[&a, &b], |c| c.health.cooldown = cooldown).await;
    d.produce().await;
    same_head(&[&a, &b], d.head).await;
    b.go_down().await;
    let mut missed = Vec::new();
    for _ in 0..3 {
        d.produce().await;
        missed.push(d.head);
    }
    d.pool.upcheck_now().await;
    assert_eq!(d.pool.status()[1].state, EndpointState::Offline);
    assert_eq!(d.pool.status()[1].reconnects, 0);
    b.come_back(Restart::KeepChain).await.unwrap();
    tokio::time::sleep(cooldown).await;
    d.pool.upcheck_now().await;
    assert_eq!(d.pool.status()[1].reconnects, 1, "its return is counted");
    b.clear_calls();

    let outcome = d.pool.forkchoice_updated(forkchoice(d.head), d.timestamp - 2).await.unwrap();
    assert!(outcome.is_valid(), "{outcome:?}");
    same_head(&[&a, &b], d.head).await;
    let replayed = new_payloads(&b);
    assert_eq!(replayed, missed, "exactly the missed blocks, oldest first");
    let updates = b.calls("engine_forkchoiceUpdatedV2");
    assert_eq!(updates.len(), 2, "asked, answered SYNCING, replayed, asked again");
    assert_eq!(updates[0].result().unwrap()["payloadStatus"]["status"], "SYNCING");
    assert_eq!(updates[1].result().unwrap()["payloadStatus"]["status"], "VALID");
    // As in `replay_catches_up_a_lagging_standby`: the lane records its verdict after the
    // EL answered.
    eventually(Duration::from_secs(5), "the standby to be in sync again", || async {
        !d.pool.status()[1].lagging
    })
    .await;
}

/// An INVALID verdict from the primary is the answer: no failover, no forkchoice update.
#[tokio::test]
async fn invalid_is_a_verdict_not_a_failure() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let d = Driver::new(&[&a, &b]).await;
    let attrs = attributes(&ForkSchedule::default(), d.timestamp);
    let built = d.pool.build_payload(forkchoice(d.head), attrs).await.unwrap();
    a.fail_next(
        "engine_newPayloadV2",
        Fault::Status(PayloadStatusWire::invalid(Some(d.head), "bad")),
        1,
    );
    let payload = built.response.payload;
    let hash = payload.block_hash();
    let outcome = d.pool.commit(payload, built.sidecar, forkchoice(hash)).await.unwrap();
    assert_eq!(outcome.primary, d.name(0));
    assert!(!outcome.failed_over && !outcome.is_valid());
    assert!(matches!(outcome.payload_status, Some(PayloadStatus::Invalid { .. })));
    assert!(outcome.forkchoice.is_none());
    assert_eq!(a.head().hash, d.head, "the primary's head did not move");
}

/// Status changes are published on the endpoint's watch channel.
#[tokio::test]
async fn status_changes_are_published() {
    let a = mock(Fork::Shanghai).await;
    let d = Driver::new(&[&a]).await;
    let mut rx = d.pool.subscribe().remove(0);
    a.go_down().await;
    d.pool.upcheck_now().await;
    eventually(Duration::from_secs(5), "an Offline status", || {
        let state = rx.borrow_and_update().state;
        async move { state == EndpointState::Offline }
    })
    .await;
    a.come_back(Restart::KeepChain).await.unwrap();
    d.pool.upcheck_now().await;
    assert!(rx.has_changed().unwrap());
    assert_eq!(rx.borrow_and_update().state, EndpointState::Synced);
}

/// With every endpoint refusing our JWT, the pool says so: first the auth error, then no
/// usable endpoint.
#[tokio::test]
async fn no_usable_endpoint() {
    let a = mock(Fork::Shanghai).await;
    let mut cfg = config(&a);
    cfg.secret = engine_client::jwt::JwtSecret::from_bytes([9; 32]);
    let mut pc = PoolConfig::new(vec![cfg], ForkSchedule::default());
    pc.upcheck_interval = Duration::from_secs(3600);
    let pool = ExecutionPool::start(pc).unwrap();
    let attrs = attributes(&ForkSchedule::default(), 0);
    let genesis = forkchoice(a.genesis().hash);
    let first = pool.build_payload(genesis, attrs.clone()).await.unwrap_err();
    let second = pool.build_payload(genesis, attrs).await.unwrap_err();
    assert!(
        matches!(first, engine_client::error::ClientError::Engine(EngineError::Auth { .. }))
            || matches!(
                second,
                engine_client::error::ClientError::Engine(EngineError::NoUsableEndpoint { .. })
            ),
        "{first} / {second}"
    );
    assert!(
        matches!(
            second,
            engine_client::error::ClientError::Engine(EngineError::NoUsableEndpoint { .. })
        ),
        "{second}"
    );
}

/// An EL ahead of the head it is asked to build on may skip the update (Geth and Reth do):
/// VALID, no payload id. The build ends there, naming the endpoint and the head, without
/// moving to the standby (it cannot fix a head that is behind) and without counting
/// against the endpoint, whose breaker opens at the first fault here.
#[tokio::test]
async fn skipped_build_is_reported_not_failed_over() {
    let (a, b) = (mock(Fork::Shanghai).await, mock(Fork::Shanghai).await);
    let mut d = Driver::with(&[&a, &b], |c| c.health.failure_threshold = 1).await;
    d.produce().await;
    let skip = serde_json::json!({
        "payloadStatus": {"status": "VALID", "latestValidHash": d.head, "validationError": null},
        "payloadId": null,
    });
    a.fail_next("engine_forkchoiceUpdatedV2", Fault::Result(skip), 1);
    b.clear_calls();
    let attrs = attributes(&ForkSchedule::default(), d.timestamp);
    let err = d.pool.build_payload(forkchoice(d.head), attrs).await.unwrap_err();
    match &err {
        ClientError::BuildSkipped { endpoint, head } => {
            assert_eq!((endpoint, *head), (&d.name(0), d.head), "{err}");
        }
        other => panic!("expected BuildSkipped, got {other}"),
    }
    assert_eq!(err.severity(), Severity::Reset);
    assert!(b.calls("engine_forkchoiceUpdatedV2").is_empty(), "no failover to the standby");
    let status = &d.pool.status()[0];
    assert_eq!(status.breaker, BreakerState::Closed, "a skip is not a failure");
    assert_eq!(status.state, EndpointState::Synced);
    // Once the script is spent the same endpoint builds again.
    let (builder, failed_over, _) = d.produce().await;
    assert_eq!((builder, failed_over), (d.name(0), false));
}

/// Against an execution client that fills its blocks in the background (Geth, Reth: the
/// mock's [`FillPolicy::Background`]), a `getPayload` straight after the
/// `forkchoiceUpdated` collects the empty block; with a build lookahead longer than the
/// fill time, the block carries every pending transfer. The endpoint's lane serves other
/// calls while the build waits.
#[tokio::test]
async fn build_lookahead_lets_a_background_builder_fill_the_block() {
    const PENDING: u64 = 40;
    let fill = Duration::from_millis(150);
    let el = MockEl::start(MockElConfig {
        fill: FillPolicy::Background { after: fill },
        ..MockElConfig::default()
    })
    .await
    .unwrap();
    let signer = dev_signer(0).unwrap();
    for nonce in 0..PENDING {
        let t = Transfer::new(CHAIN_ID_DEV, nonce, Address::repeat_byte(0x42), U256::from(1));
        el.submit(sign_transfer(&signer, &t).unwrap()).unwrap();
    }
    let genesis = el.genesis();
    let included = |lookahead: Duration| {
        let el = &el;
        async move {
            let mut pc = PoolConfig::new(vec![config(el)], ForkSchedule::default());
            pc.upcheck_interval = Duration::from_secs(3600);
            pc.build_lookahead = lookahead;
            let pool = ExecutionPool::start(pc).unwrap();
            let attrs = attributes(&ForkSchedule::default(), genesis.header.timestamp);
            let build = pool.build_payload(forkchoice(genesis.hash), attrs);
            let other = async {
                el.wait_for_calls("engine_forkchoiceUpdatedV2", 1, ANSWERED).await.unwrap();
                // A call through the same lane, sent while the build waits for its block.
                pool.forkchoice_updated(forkchoice(genesis.hash), 0).await.unwrap();
                el.calls("engine_getPayloadV2").len()
            };
            let (built, gets_before) = tokio::join!(build, other);
            el.clear_calls();
            (built.unwrap().response.payload.as_v1().transactions.len(), gets_before)
        }
    };
    assert_eq!(included(Duration::ZERO).await.0, 0, "collected at once: the empty block");
    // Well past the fill time: the other call must come back inside it on a loaded host.
    let (txs, gets_before) = included(fill * 10).await;
    assert_eq!(txs, PENDING as usize, "collected after the fill time: every transfer");
    assert_eq!(gets_before, 0, "the lane answered another call while the build waited");
}
