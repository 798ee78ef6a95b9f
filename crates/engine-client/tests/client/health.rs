//! Endpoint health over real HTTP: the state before any check, a probe that answers with a
//! JSON-RPC error (EthereumJS without peers), and a refused JWT under an open breaker.

use crate::harness::Versioned;
use crate::harness::{Driver, client, config, mock, produce};
use engine_client::{
    breaker::BreakerState, client::EngineClient, health::EndpointState, jwt::JwtSecret,
};
use engine_testkit::{Fault, MockEl, Restart};
use engine_types::{EngineError, Fork, ForkSchedule};
use std::time::Duration;

/// What EthereumJS answers to `eth_syncing` when started without `--isSingleNode`.
fn no_peers() -> Fault {
    Fault::rpc_error(-32603, "no peer available for synchronization")
}

async fn without_peers() -> MockEl {
    let el = mock(Fork::Shanghai).await;
    el.fail_always("eth_syncing", no_peers());
    el
}

/// A new client knows nothing yet: Unknown, breaker closed, nothing sent. The first upcheck
/// of a synced EL says Synced.
#[tokio::test]
async fn a_new_endpoint_is_unknown_until_checked() {
    let el = mock(Fork::Shanghai).await;
    let c = client(&el);
    let status = c.status();
    assert_eq!((status.state, status.breaker), (EndpointState::Unknown, BreakerState::Closed));
    assert!(el.all_calls().is_empty());
    assert_eq!(c.upcheck().await, EndpointState::Synced);
    assert_eq!(c.status().reconnects, 0, "Unknown is not down: nothing came back");
}

/// An EL whose `eth_syncing` always fails with -32603 but whose Engine API works is used:
/// upchecks leave it Unknown with a closed breaker (which would open at the first fault),
/// the pool builds and commits on it, and the VALID head makes it Synced, which later
/// upchecks keep.
#[tokio::test]
async fn an_el_without_peers_builds_and_commits() {
    let el = without_peers().await;
    let mut d = Driver::with(&[&el], |c| c.health.failure_threshold = 1).await;
    for _ in 0..3 {
        assert_eq!(d.pool.upcheck_now().await, [EndpointState::Unknown]);
    }
    assert!(el.calls("eth_syncing").len() >= 3, "the probe was sent and answered an error");
    let status = &d.pool.status()[0];
    assert_eq!((status.state, status.breaker), (EndpointState::Unknown, BreakerState::Closed));
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("no peer available")));

    let (builder, failed_over, outcome) = d.produce().await;
    assert_eq!((builder, failed_over), (d.name(0), false));
    assert_eq!(outcome.primary, d.name(0));
    assert_eq!(el.head().hash, d.head);
    let status = &d.pool.status()[0];
    assert_eq!(status.state, EndpointState::Synced, "the VALID head says it is synced");
    assert_eq!(status.head, Some(d.head));

    assert_eq!(d.pool.upcheck_now().await, [EndpointState::Synced]);
    d.produce().await;
    let status = &d.pool.status()[0];
    assert_eq!((status.state, status.breaker), (EndpointState::Synced, BreakerState::Closed));
    assert_eq!(status.reconnects, 0);
}

/// An endpoint that was Offline and whose probe now answers with a JSON-RPC error has come
/// back (its return is counted), as Unknown until a VALID forkchoice update makes it Synced.
#[tokio::test]
async fn a_returning_el_without_peers_counts_as_back() {
    let el = mock(Fork::Shanghai).await;
    let c = client(&el);
    assert_eq!(c.upcheck().await, EndpointState::Synced);
    el.go_down().await;
    assert_eq!(c.upcheck().await, EndpointState::Offline);
    assert_eq!(c.status().breaker, BreakerState::Closed, "one failure does not open it");
    el.come_back(Restart::KeepChain).await.unwrap();
    el.fail_always("eth_syncing", no_peers());
    assert_eq!(c.upcheck().await, EndpointState::Unknown);
    assert_eq!(c.status().reconnects, 1);
    produce(&el, &Versioned::new(c.clone(), ForkSchedule::default())).await;
    assert_eq!(c.status().state, EndpointState::Synced);
    assert_eq!(c.upcheck().await, EndpointState::Synced);
}

/// A refused JWT opens the breaker (threshold 1); while it cools down the upcheck's probe
/// is refused by the breaker, not sent, and the endpoint stays AuthFailed (not Offline).
/// After the cool-down the probe goes out and is refused by the EL: still AuthFailed.
#[tokio::test]
async fn auth_failed_survives_the_breakers_refusal() {
    let el = mock(Fork::Shanghai).await;
    let mut cfg = config(&el);
    cfg.secret = JwtSecret::from_bytes([0x13; 32]);
    cfg.health.failure_threshold = 1;
    let cooldown = Duration::from_secs(2);
    cfg.health.cooldown = cooldown;
    let c = EngineClient::new(cfg).unwrap();
    let err = c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    assert!(matches!(err, EngineError::Auth { .. }), "{err}");
    let status = c.status();
    assert_eq!((status.state, status.breaker), (EndpointState::AuthFailed, BreakerState::Open));

    assert_eq!(c.upcheck().await, EndpointState::AuthFailed);
    assert!(el.calls("eth_syncing").is_empty(), "the open breaker sent nothing");
    let status = c.status();
    assert_eq!((status.state, status.breaker), (EndpointState::AuthFailed, BreakerState::Open));

    tokio::time::sleep(cooldown).await;
    assert_eq!(c.upcheck().await, EndpointState::AuthFailed);
    assert_eq!(el.calls("eth_syncing").len(), 1, "the half-open probe was sent");
    assert_eq!(c.status().state, EndpointState::AuthFailed);
}
