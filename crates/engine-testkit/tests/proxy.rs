//! The chaos proxy forwards faithfully and each switch misbehaves as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Rpc;
use engine_testkit::{ChaosProxy, Fault, MockEl, MockElConfig};
use serde_json::json;
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn setup() -> (MockEl, ChaosProxy) {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let proxy = ChaosProxy::start(el.public_addr()).await.unwrap();
    (el, proxy)
}

/// Poll `cond` until it holds, failing after a generous deadline.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn rpc(proxy: &ChaosProxy, timeout: Duration) -> (reqwest::Client, String) {
    (reqwest::Client::builder().timeout(timeout).build().unwrap(), proxy.url())
}

async fn chain_id(client: &reqwest::Client, url: &str) -> reqwest::Result<String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?
        .text()
        .await
}

/// With every switch off, requests pass through unchanged, on both the mock and its record.
#[tokio::test]
async fn forwards_faithfully() {
    let (el, proxy) = setup().await;
    let through = Rpc::new(proxy.url(), None);
    assert_eq!(through.result("eth_chainId", json!([])).await, json!("0x1d97c"));
    el.fail_next("eth_chainId", Fault::oversized_mb(1), 1);
    let big = through.send("eth_chainId", json!([])).await.unwrap().bytes().await.unwrap();
    assert_eq!(big.len(), 1024 * 1024);
    assert_eq!(el.calls("eth_chainId").len(), 2);
    assert_eq!(proxy.target(), el.public_addr());
}

/// Asked to, the proxy records the JSON-RPC requests it forwarded, as the target received
/// them (the mock's own record agrees), over one kept-alive connection and over fresh ones;
/// a black-holed request is not recorded.
#[tokio::test]
async fn records_forwarded_requests() {
    let (el, proxy) = setup().await;
    let through = Rpc::new(proxy.url(), None);
    through.result("eth_syncing", json!([])).await;
    assert!(proxy.requests().is_empty(), "nothing kept before recording is asked for");
    el.clear_calls();
    proxy.record_requests(true);
    through.result("eth_chainId", json!([])).await;
    through.result("eth_getBlockByNumber", json!(["latest", false])).await;
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    chain_id(&client, &url).await.unwrap();

    let seen = proxy.requests();
    let methods: Vec<_> = seen.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["eth_chainId", "eth_getBlockByNumber", "eth_chainId"]);
    let at_target: Vec<_> = el.all_calls().into_iter().map(|c| c.method).collect();
    assert_eq!(methods, at_target);
    assert_eq!(proxy.requests_of("eth_getBlockByNumber")[0].params, json!(["latest", false]));

    proxy.clear_requests();
    proxy.set_blackhole(true);
    let (client, url) = rpc(&proxy, Duration::from_millis(200));
    assert!(chain_id(&client, &url).await.is_err());
    assert!(proxy.requests().is_empty(), "nothing reached the target");
}

/// Added latency beyond the client's timeout makes requests time out; removing it heals.
#[tokio::test]
async fn latency_trips_client_timeouts() {
    let (_el, proxy) = setup().await;
    let (client, url) = rpc(&proxy, Duration::from_millis(100));
    proxy.set_latency(Duration::from_millis(400), Duration::from_millis(100));
    assert!(chain_id(&client, &url).await.unwrap_err().is_timeout());
    proxy.heal().await.unwrap();
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    assert!(chain_id(&client, &url).await.unwrap().contains("0x1d97c"));
}

/// A bandwidth cap stretches a large answer past the client's timeout.
#[tokio::test]
async fn bandwidth_cap_slows_large_answers() {
    let (el, proxy) = setup().await;
    el.fail_always("eth_chainId", Fault::oversized_mb(2));
    proxy.set_bandwidth(Some(64 * 1024));
    let (client, url) = rpc(&proxy, Duration::from_millis(500));
    assert!(
        chain_id(&client, &url).await.unwrap_err().is_timeout(),
        "2 MiB at 64 KiB/s takes 32 s"
    );
    proxy.set_bandwidth(None);
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    assert_eq!(chain_id(&client, &url).await.unwrap().len(), 2 * 1024 * 1024);
}

/// A black hole accepts and never forwards: the client hangs and the mock sees nothing.
#[tokio::test]
async fn blackhole_never_forwards() {
    let (el, proxy) = setup().await;
    proxy.set_blackhole(true);
    let (client, url) = rpc(&proxy, Duration::from_millis(200));
    assert!(chain_id(&client, &url).await.unwrap_err().is_timeout());
    assert!(el.all_calls().is_empty(), "nothing reached the target");
    proxy.set_blackhole(false);
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    assert!(chain_id(&client, &url).await.unwrap().contains("0x1d97c"));
}

/// Losing replies forwards the request (the target acts on it) and drops the answer: the
/// client times out although the call happened; switched off, answers flow again.
#[tokio::test]
async fn lost_replies_reach_the_target_but_not_the_client() {
    let (el, proxy) = setup().await;
    proxy.set_lose_replies(true);
    let (client, url) = rpc(&proxy, Duration::from_millis(300));
    assert!(chain_id(&client, &url).await.unwrap_err().is_timeout());
    assert_eq!(el.calls("eth_chainId").len(), 1, "the target carried the request out");
    proxy.set_lose_replies(false);
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    assert!(chain_id(&client, &url).await.unwrap().contains("0x1d97c"));
}

/// Resetting drops open connections with an RST; the proxy keeps accepting.
#[tokio::test]
async fn reset_drops_open_connections() {
    let (_el, proxy) = setup().await;
    let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
    eventually("the proxy sees the connection", || proxy.open_connections() == 1).await;
    proxy.reset_connections();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await.unwrap();
    assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    eventually("the connection is gone", || proxy.open_connections() == 0).await;
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    assert!(chain_id(&client, &url).await.unwrap().contains("0x1d97c"));
}

/// Refusing closes the port; accepting again reopens the same port.
#[tokio::test]
async fn refuse_new_connections() {
    let (_el, proxy) = setup().await;
    proxy.refuse_new(true).await.unwrap();
    let err = TcpStream::connect(proxy.addr()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    proxy.refuse_new(true).await.unwrap();
    proxy.refuse_new(false).await.unwrap();
    let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 12];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200", "the mock answered through the reopened port");
}

/// In front of a dead target, client connections are closed at once.
#[tokio::test]
async fn dead_target_closes_connections() {
    let (el, proxy) = setup().await;
    el.go_down().await;
    let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await.unwrap();
    assert_eq!(read.unwrap(), 0);
}

/// Losing the replies to one method: that request reaches the target and is carried out,
/// its answer never comes back (the client's connection is closed instead), and other
/// methods on new connections are answered as usual.
#[tokio::test]
async fn lost_replies_to_one_method() {
    let (el, proxy) = setup().await;
    proxy.set_lose_replies_to(Some("eth_chainId"));
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    assert!(chain_id(&client, &url).await.is_err(), "no answer, and at once");
    assert_eq!(el.calls("eth_chainId").len(), 1, "the target carried the request out");
    let through = Rpc::new(proxy.url(), None);
    assert_eq!(through.result("eth_blockNumber", json!([])).await, json!("0x0"));
    proxy.set_lose_replies_to(None);
    assert!(chain_id(&client, &url).await.unwrap().contains("0x1d97c"));
}
