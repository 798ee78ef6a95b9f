//! Proxies: Engine API traffic ignores the proxy variables of the environment and goes
//! through a proxy only when one is configured.
//!
//! Its own test binary because the first test sets process-wide environment variables: a
//! binary of its own keeps them away from every other test under `cargo test` (threads in
//! one process) as well as under nextest (a process per test, which the project's runs use).
//! Everything talks to 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../client/stub.rs"]
mod stub;

use engine_client::{
    client::{ClientConfig, EngineClient},
    jwt::JwtSecret,
};
use std::sync::{Arc, Mutex};
use stub::Request;
use tokio::{io::AsyncWriteExt, net::TcpStream};

/// A server that answers every JSON-RPC request with `[]` and records its request lines.
async fn recording_el() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let addr = stub::serve(move |request: Request, mut stream: TcpStream| {
        log.lock().unwrap().push(request.request_line().to_string());
        async move {
            let body = stub::result(request.id(), "[]");
            stream.write_all(&stub::response("200 OK", body.as_bytes())).await.unwrap();
        }
    })
    .await;
    (format!("http://{addr}"), seen)
}

/// With every proxy variable pointing at a recording proxy, a plain reqwest client goes to
/// the proxy (so the variables are in effect) while the engine client goes straight to the
/// execution client.
#[tokio::test]
async fn proxy_variables_are_ignored() {
    let (el, el_seen) = recording_el().await;
    let (proxy, proxy_seen) = recording_el().await;
    // The workspace denies unsafe code; changing the environment is unsafe since edition 2024
    // and this test exists to change it.
    #[allow(unsafe_code)]
    // SAFETY: this test's runtime is single-threaded and nothing else runs in this binary
    // at the same time under nextest (one process per test); under `cargo test` the other
    // test of this binary is unaffected by these variables (an explicit proxy wins).
    unsafe {
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
            std::env::set_var(name, &proxy);
        }
        std::env::set_var("all_proxy", &proxy);
        // A CGI environment or a NO_PROXY list would switch the variables off: clear them so
        // that the control below proves them in effect.
        for name in ["NO_PROXY", "no_proxy", "REQUEST_METHOD"] {
            std::env::remove_var(name);
        }
    }
    let control = reqwest::Client::new()
        .post(&el)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), 200);
    assert_eq!(proxy_seen.lock().unwrap().len(), 1, "the variables are not in effect");
    assert!(el_seen.lock().unwrap().is_empty());

    let c = EngineClient::new(ClientConfig::new(el.clone(), JwtSecret::random())).unwrap();
    c.exchange_capabilities(vec![]).await.unwrap();
    assert_eq!(el_seen.lock().unwrap().as_slice(), ["POST / HTTP/1.1"]);
    assert_eq!(proxy_seen.lock().unwrap().len(), 1, "the engine client used the proxy");
}

/// A configured proxy carries the requests, in the absolute form a proxy receives, to an
/// execution client the engine could not reach on its own (a closed port).
#[tokio::test]
async fn configured_proxy_is_used() {
    let (proxy, proxy_seen) = recording_el().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut cfg = ClientConfig::new(format!("http://{closed}"), JwtSecret::random());
    cfg.proxy = Some(proxy);
    let c = EngineClient::new(cfg).unwrap();
    c.exchange_capabilities(vec![]).await.unwrap();
    assert_eq!(proxy_seen.lock().unwrap().as_slice(), [format!("POST http://{closed}/ HTTP/1.1")]);
}
