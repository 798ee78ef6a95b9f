//! The engine port authenticates exactly per spec; the public port does not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_testkit::ElPorts;
mod common;

use common::Rpc;
use engine_testkit::{
    MockEl, MockElConfig, Outcome,
    jwt::{Claims, mint_alg_none, unix_now},
};
use serde_json::json;

async fn status_with(el: &MockEl, auth: Option<String>) -> u16 {
    let rpc = Rpc::new(el.engine_url(), None);
    rpc.send_with_auth("eth_chainId", json!([]), auth).await.unwrap().status().as_u16()
}

/// Missing, `alg: none`, stale, future and foreign tokens get 401; a fresh one gets 200.
#[tokio::test]
async fn engine_port_applies_the_spec_rules() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let secret = el.jwt_secret().clone();
    let now = unix_now();
    let bearer = |t: String| Some(format!("Bearer {t}"));
    assert_eq!(status_with(&el, None).await, 401);
    assert_eq!(status_with(&el, bearer(mint_alg_none(&Claims::issued_at(now)))).await, 401);
    let stale = secret.mint_claims(&Claims::issued_at(now - 120)).unwrap();
    assert_eq!(status_with(&el, bearer(stale)).await, 401);
    let future = secret.mint_claims(&Claims::issued_at(now + 120)).unwrap();
    assert_eq!(status_with(&el, bearer(future)).await, 401);
    let foreign = engine_testkit::JwtSecret::random().mint().unwrap();
    assert_eq!(status_with(&el, bearer(foreign)).await, 401);
    assert_eq!(status_with(&el, bearer(secret.mint().unwrap())).await, 200);

    let outcomes: Vec<_> = el.calls("eth_chainId").into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes.len(), 6, "every request is recorded, refused or not");
    assert!(matches!(&outcomes[0], Outcome::Unauthorized { reason } if reason == "missing token"));
    assert!(matches!(&outcomes[2], Outcome::Unauthorized { reason } if reason.contains("stale")));
    assert!(matches!(outcomes[5], Outcome::Json { status: 200, .. }));
}

/// The public port answers without a token, and the recorded token is hidden from Debug.
#[tokio::test]
async fn public_port_needs_no_token_and_tokens_stay_out_of_debug() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    assert_eq!(Rpc::public(&el).result("eth_chainId", json!([])).await, json!("0x1d97c"));
    Rpc::engine(&el).result("eth_chainId", json!([])).await;
    let call = el.last_call().unwrap();
    let token = call.authorization().unwrap().trim_start_matches("Bearer ").to_string();
    assert!(el.jwt_secret().validate(call.authorization(), unix_now()).is_ok());
    assert!(!format!("{call:?}").contains(&token));
    assert!(!format!("{el:?}").contains(&el.jwt_secret_hex()));
    assert_eq!(
        engine_testkit::JwtSecret::from_file(&el.jwt_secret_path()).unwrap(),
        *el.jwt_secret()
    );
    // Only its owner can read the secret file, as execution clients write theirs.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(el.jwt_secret_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
}

/// The server's clock, shifted as on an execution client whose clock is off, decides the
/// `iat` check as Geth's node/jwt_handler.go does: a token from a client 59 s away either
/// way is accepted; 61 s behind is a "stale token", 61 s ahead a "future token". Every
/// answer, refused or not, carries a `Date` by that same clock.
///
/// Each token's `iat` is the second it is sent in, and a case whose request crossed into
/// the next second is sent again with a fresh token: a token a second old is 60 s from a
/// clock set back 61 s, inside the window (this test once failed that way on a slow run).
#[tokio::test]
async fn a_shifted_server_clock_decides_the_iat_window_and_the_date() {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let rpc = Rpc::new(el.engine_url(), None);
    for (server_offset, status, reason) in [
        (0i64, 200, None),
        (59, 200, None),
        (-59, 200, None),
        (61, 401, Some("stale token")),
        (-61, 401, Some("future token")),
    ] {
        el.script().set_clock_offset(server_offset);
        assert_eq!(el.script().clock_offset(), server_offset);
        let mut attempts = 0;
        let resp = loop {
            attempts += 1;
            let iat = unix_now();
            let token = el.jwt_secret().mint_claims(&Claims::issued_at(iat)).unwrap();
            let token = Some(format!("Bearer {token}"));
            let resp = rpc.send_with_auth("eth_chainId", json!([]), token).await.unwrap();
            if unix_now() == iat || attempts == 5 {
                break resp;
            }
        };
        assert_eq!(resp.status().as_u16(), status, "server clock {server_offset:+} s");
        let date = resp.headers().get("date").expect("a Date header").to_str().unwrap();
        let date = httpdate::parse_http_date(date).unwrap();
        let date = date.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let expected = unix_now().saturating_add_signed(server_offset);
        assert!(date.abs_diff(expected) <= 2, "Date {date} vs shifted clock {expected}");
        let body = resp.text().await.unwrap();
        if let Some(reason) = reason {
            assert!(body.starts_with(reason), "{server_offset:+} s: {body}");
        }
    }
}
