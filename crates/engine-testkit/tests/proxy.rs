//! The chaos proxy forwards faithfully and each switch misbehaves as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_testkit::ElPorts;
mod common;

use common::Rpc;
use engine_testkit::{ChaosProxy, Fault, FloodBody, HUNDRED_MB, MockEl, MockElConfig};
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
    // The mock records a call as it answers it, which may come after the client gave up.
    let carried = el.wait_for_calls("eth_chainId", 1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(carried.len(), 1, "the target carried the request out");
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
    // The mock records a call as it answers it, which may come after the client gave up.
    let carried = el.wait_for_calls("eth_chainId", 1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(carried.len(), 1, "the target carried the request out");
    let through = Rpc::new(proxy.url(), None);
    assert_eq!(through.result("eth_blockNumber", json!([])).await, json!("0x0"));
    proxy.set_lose_replies_to(None);
    assert!(chain_id(&client, &url).await.unwrap().contains("0x1d97c"));
}

/// One HTTP/1.1 `eth_chainId` request, written by hand on a fresh connection to the proxy
/// (`connection: close`: the answer ends with the connection).
async fn raw_chain_id(proxy: &ChaosProxy) -> TcpStream {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    conn
}

/// Reads `conn` to its end (with a generous deadline against hangs), counting the bytes and
/// keeping the first `keep`.
async fn read_to_end(conn: &mut TcpStream, keep: usize) -> (u64, Vec<u8>) {
    let read = async {
        let (mut total, mut kept, mut buf) = (0u64, Vec::new(), vec![0u8; 64 * 1024]);
        loop {
            match conn.read(&mut buf).await.unwrap() {
                0 => return (total, kept),
                n => {
                    let room = keep.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&buf[..room]);
                    total += n as u64;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("the proxy closed")
}

/// Cutting replies forwards exactly the first K bytes of the target's answer, past its
/// head and into the body, then closes the connection: the target carried the request out,
/// a client sees a body shorter than its declared length. A cut at 0 bytes forwards
/// nothing, one at the answer's length all of it. Switched off, answers are whole.
#[tokio::test]
async fn cut_replies_forward_k_bytes_then_close() {
    let (el, proxy) = setup().await;
    let whole = read_to_end(&mut raw_chain_id(&proxy).await, usize::MAX).await.1;
    let head_len = whole.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let k = head_len + 10;
    assert!(k < whole.len(), "the cut falls inside the body");
    proxy.set_cut_replies_after(Some(k));
    assert_eq!(proxy.settings().cut_replies_after, Some(k));
    let (total, cut) = read_to_end(&mut raw_chain_id(&proxy).await, usize::MAX).await;
    assert_eq!(total, k as u64);
    assert_eq!(cut, whole[..k], "the first K bytes, unchanged");
    assert_eq!(el.calls("eth_chainId").len(), 2, "the target carried the request out");
    for at_the_bound in [0, whole.len()] {
        proxy.set_cut_replies_after(Some(at_the_bound));
        let (total, _) = read_to_end(&mut raw_chain_id(&proxy).await, 0).await;
        assert_eq!(total, at_the_bound as u64, "a cut at {at_the_bound} bytes");
    }
    proxy.set_cut_replies_after(Some(k));
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    assert!(chain_id(&client, &url).await.is_err(), "a client sees a truncated body");
    proxy.set_cut_replies_after(None);
    assert!(chain_id(&client, &url).await.unwrap().contains("0x1d97c"));
}

/// A sized flood answers `200 OK` with exactly the declared 100 MB of a JSON-RPC envelope
/// that never closes, instead of the target's answer (the target still got the request),
/// then closes the connection.
#[tokio::test]
async fn flood_sends_exactly_the_declared_hundred_mb() {
    let (el, proxy) = setup().await;
    proxy.set_flood(Some(FloodBody::Sized(HUNDRED_MB)));
    let (total, start) = read_to_end(&mut raw_chain_id(&proxy).await, 4096).await;
    let text = String::from_utf8(start).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains(&format!("content-length: {HUNDRED_MB}")), "{head}");
    assert!(body.starts_with(r#"{"jsonrpc":"2.0","id":1,"result":"0x0000"#), "{body}");
    assert_eq!(total, (head.len() + 4) as u64 + HUNDRED_MB, "the head and exactly 100 MiB");
    assert_eq!(el.calls("eth_chainId").len(), 1, "the request reached the target");
    proxy.set_flood(None);
    let (client, url) = rpc(&proxy, Duration::from_secs(10));
    assert!(chain_id(&client, &url).await.unwrap().contains("0x1d97c"));
}

/// An endless flood declares no length and keeps sending for as long as the client reads
/// (well past 100 MB here); once the client hangs up, the proxy's connection ends.
#[tokio::test]
async fn endless_flood_sends_until_the_client_hangs_up() {
    let (_el, proxy) = setup().await;
    proxy.set_flood(Some(FloodBody::Endless));
    let mut conn = raw_chain_id(&proxy).await;
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let read = async {
        while total < HUNDRED_MB + 1024 * 1024 {
            let n = conn.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "the flood ended after {total} bytes");
            if head.len() < 512 {
                head.extend_from_slice(&buf[..n.min(512)]);
            }
            total += n as u64;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("the flood kept coming");
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200 OK") && !head.contains("content-length"), "{head}");
    drop(conn);
    eventually("the flooded connection ends", || proxy.open_connections() == 0).await;
}
