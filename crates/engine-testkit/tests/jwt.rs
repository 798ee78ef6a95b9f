//! The engine port authenticates exactly per spec; the public port does not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
}
