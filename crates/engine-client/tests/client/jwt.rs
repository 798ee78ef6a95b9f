//! Authentication: a fresh HS256 token on every request, secret files in every spec format,
//! a W3C traceparent, and a refused JWT that neither retries nor hides.

use crate::{
    harness::{client, config, mock},
    stub::{self, Request},
};
use engine_client::{
    client::{ClientConfig, EngineClient},
    eth::{EthApi, EthClient},
    health::EndpointState,
    jwt::{Claims, JwtSecret, unix_now},
    traceparent::with_correlation,
};
use engine_testkit::ElPorts;
use engine_testkit::fixtures::JwtFiles;
use engine_types::{
    CorrelationId, EngineError, Fork, Severity,
    config::{EndpointConfig, EngineConfig},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::{
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};
use tokio::{io::AsyncWriteExt, net::TcpStream};

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

/// An execution client whose secret an operator can rotate: it checks every request's JWT
/// against its current secret with the spec's rules (`engine_types::jwt`) and answers 401 or
/// a result.
async fn rotatable_el(secret: JwtSecret) -> (String, Arc<Mutex<JwtSecret>>) {
    let current = Arc::new(Mutex::new(secret));
    let shared = Arc::clone(&current);
    let addr = stub::serve(move |request: Request, mut stream: TcpStream| {
        let secret = shared.lock().unwrap().clone();
        async move {
            let verdict = secret.validate(request.header("authorization"), unix_now());
            let bytes = match verdict {
                Ok(_) => {
                    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
                    let answer = if body["method"] == "eth_chainId" { "\"0x1\"" } else { "[]" };
                    stub::response("200 OK", stub::result(request.id(), answer).as_bytes())
                }
                Err(_) => stub::response("401 Unauthorized", b""),
            };
            stream.write_all(&bytes).await.unwrap();
        }
    })
    .await;
    (format!("http://{addr}"), current)
}

/// The secret rotated on both sides mid-run: the next request of the engine client (and of
/// the `eth_*` client on the engine port) carries the new secret and succeeds, a client
/// still holding the old one is refused, and a file that turns invalid keeps the new secret.
#[tokio::test]
async fn rotated_secret_is_used_by_the_next_request() {
    let (old, new) = (JwtSecret::random(), JwtSecret::random());
    let (url, el_secret) = rotatable_el(old.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwt.hex");
    std::fs::write(&path, old.to_hex()).unwrap();
    let endpoint = EndpointConfig {
        engine_url: url.clone(),
        jwt_secret_file: Some(path.clone()),
        ..EndpointConfig::default()
    };
    let engine = EngineConfig::default();
    let c = EngineClient::new(ClientConfig::from_config(&endpoint, &engine).unwrap()).unwrap();
    let eth = EthClient::from_config(&endpoint, &engine).unwrap();
    c.exchange_capabilities(vec![]).await.unwrap();
    assert_eq!(eth.chain_id().await.unwrap(), 1);

    *el_secret.lock().unwrap() = new.clone();
    std::fs::write(&path, format!("0x{}\n", new.to_hex())).unwrap();
    c.exchange_capabilities(vec![]).await.unwrap();
    assert_eq!(eth.chain_id().await.unwrap(), 1);
    assert_ne!(c.status().state, EndpointState::AuthFailed, "never refused");

    let stale = EngineClient::new(ClientConfig::new(url, old)).unwrap();
    let err = stale.exchange_capabilities(vec![]).await.unwrap_err();
    assert!(matches!(err, EngineError::Auth { status: 401, .. }), "{err}");

    std::fs::write(&path, "half a secr").unwrap();
    c.exchange_capabilities(vec![]).await.unwrap();
    std::fs::remove_file(&path).unwrap();
    c.exchange_capabilities(vec![]).await.unwrap();
}

/// A secret file far larger than a secret is refused at startup naming the file and the
/// limit.
#[tokio::test]
async fn oversized_secret_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwt.hex");
    std::fs::File::create(&path).unwrap().set_len(1 << 30).unwrap();
    let endpoint =
        EndpointConfig { jwt_secret_file: Some(path.clone()), ..EndpointConfig::default() };
    let err = ClientConfig::from_config(&endpoint, &EngineConfig::default()).unwrap_err();
    assert_eq!(err.severity(), Severity::Fatal);
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()) && text.contains("4096 bytes"), "{text}");
}

/// A URL with `user:password@` never shows the password: not in the config's or the
/// client's Debug output, the endpoint's name and status, or a call's error. Neither does
/// the secret.
#[tokio::test]
async fn credentials_in_urls_stay_hidden() {
    let secret = JwtSecret::random();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut cfg = ClientConfig::new(format!("http://admin:hunter2@{closed}"), secret.clone());
    let debug = format!("{cfg:?}");
    assert!(debug.contains(&format!("***@{closed}")), "{debug}");
    cfg.retry.max_attempts = 1;
    let c = EngineClient::new(cfg.clone()).unwrap();
    assert_eq!(c.name(), closed.to_string());
    let err = c.exchange_capabilities(vec![]).await.unwrap_err();
    assert!(matches!(err, EngineError::Transport(_)), "{err}");
    cfg.proxy = Some("http://proxy-user:swordfish@127.0.0.1:3128".into());
    let texts = [
        debug,
        format!("{cfg:?}"),
        format!("{c:?}"),
        format!("{:?}", c.status()),
        err.to_string(),
        format!("{err:?}"),
    ];
    for text in texts {
        for leak in [&secret.to_hex()[..8], "hunter2", "swordfish"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}
