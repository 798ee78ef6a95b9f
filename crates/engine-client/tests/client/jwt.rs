//! Authentication: a fresh HS256 token on every request, secret files in every spec format,
//! a W3C traceparent, and a refused JWT that neither retries nor hides.

use crate::harness::{client, config, mock};
use engine_client::{
    client::{ClientConfig, EngineClient},
    engine_api::EngineApi,
    health::EndpointState,
    jwt::{Claims, JwtSecret},
    traceparent::with_correlation,
};
use engine_testkit::fixtures::JwtFiles;
use engine_types::{
    CorrelationId, EngineError, Fork, Severity,
    config::{EndpointConfig, EngineConfig},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::time::{SystemTime, UNIX_EPOCH};

/// Every request carries `Authorization: Bearer <HS256 token>` that verifies with the EL's
/// secret and whose `iat` is now.
#[tokio::test]
async fn each_request_carries_a_fresh_token() {
    let el = mock(Fork::Shanghai).await;
    let c = client(&el);
    c.exchange_capabilities(vec![]).await.unwrap();
    c.exchange_capabilities(vec![]).await.unwrap();
    let calls = el.calls("engine_exchangeCapabilities");
    assert_eq!(calls.len(), 2);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    for call in calls {
        let header = call.headers.get("authorization").unwrap().to_str().unwrap();
        let token = header.strip_prefix("Bearer ").unwrap();
        let key = DecodingKey::from_secret(el.jwt_secret().as_bytes());
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation).unwrap().claims;
        let iat = claims.iat.unwrap();
        assert!(iat.abs_diff(now) <= 5, "iat {iat} vs now {now}");
    }
}

/// The optional `id` and `clv` claims go out when configured.
#[tokio::test]
async fn optional_claims() {
    let el = mock(Fork::Shanghai).await;
    let mut cfg = config(&el);
    cfg.jwt_id = Some("alys-node-1".into());
    cfg.jwt_clv = Some("alys/0.1.0".into());
    EngineClient::new(cfg).unwrap().exchange_capabilities(vec![]).await.unwrap();
    let call = el.last_call().unwrap();
    let token = call.headers.get("authorization").unwrap().to_str().unwrap()[7..].to_string();
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode(token).unwrap().claims;
    assert_eq!(claims.id.as_deref(), Some("alys-node-1"));
    assert_eq!(claims.clv.as_deref(), Some("alys/0.1.0"));
}

/// The secret file formats the spec allows all work against the EL; malformed files fail at
/// startup naming the file.
#[tokio::test]
async fn secret_files() {
    let files = JwtFiles::random().unwrap();
    let el = engine_testkit::MockEl::start(engine_testkit::MockElConfig {
        jwt_secret: Some(files.secret().clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let engine = EngineConfig::default();
    let endpoint = |path| EndpointConfig {
        engine_url: el.engine_url(),
        jwt_secret_file: Some(path),
        ..EndpointConfig::default()
    };
    for path in [files.valid(), files.prefixed(), files.trailing_newline()] {
        let cfg = ClientConfig::from_config(&endpoint(path.clone()), &engine).unwrap();
        let c = EngineClient::new(cfg).unwrap();
        c.exchange_capabilities(vec![]).await.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    for path in [files.short(), files.non_hex()] {
        let err = ClientConfig::from_config(&endpoint(path.clone()), &engine).unwrap_err();
        assert_eq!(err.severity(), Severity::Fatal);
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
    let missing = EndpointConfig { engine_url: el.engine_url(), ..EndpointConfig::default() };
    let text = ClientConfig::from_config(&missing, &engine).unwrap_err().to_string();
    assert!(text.contains("no jwt_secret_file"), "{text}");
}

/// A refused JWT is a fatal Auth error, marks the endpoint AuthFailed, and is sent once even
/// with retries configured.
#[tokio::test]
async fn wrong_secret_is_auth_failed_without_retries() {
    let el = mock(Fork::Shanghai).await;
    let mut cfg = config(&el);
    cfg.secret = JwtSecret::from_bytes([0x13; 32]);
    let c = EngineClient::new(cfg).unwrap();
    let err = c.get_payload_bodies_by_range(1, 1).await.unwrap_err();
    assert!(matches!(err, EngineError::Auth { status: 401, .. }), "{err}");
    assert_eq!(err.severity(), Severity::Fatal);
    assert_eq!(c.status().state, EndpointState::AuthFailed);
    // The capability lookup is refused and the call is not sent after it: one request.
    assert_eq!(
        el.all_calls().len(),
        1,
        "{:?}",
        el.all_calls().iter().map(|c| &c.method).collect::<Vec<_>>()
    );
    assert_eq!(c.upcheck().await, EndpointState::AuthFailed);
}

/// Each request has a W3C traceparent whose trace id is the correlation id in scope, and a
/// fresh span id.
#[tokio::test]
async fn traceparent_follows_the_correlation_id() {
    let el = mock(Fork::Shanghai).await;
    let c = client(&el);
    with_correlation(CorrelationId(0xfeed), async {
        c.exchange_capabilities(vec![]).await.unwrap();
        c.exchange_capabilities(vec![]).await.unwrap();
    })
    .await;
    let calls = el.calls("engine_exchangeCapabilities");
    let parents: Vec<String> = calls
        .iter()
        .map(|c| c.headers.get("traceparent").unwrap().to_str().unwrap().to_string())
        .collect();
    for p in &parents {
        assert!(p.starts_with("00-0000000000000000000000000000feed-"), "{p}");
        assert!(p.ends_with("-01") && p.len() == 55, "{p}");
    }
    assert_ne!(parents[0], parents[1], "span ids differ per request");
}
