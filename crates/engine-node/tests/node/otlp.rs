//! Traces leave the node over OTLP/HTTP when `--otlp-endpoint` is set.

use crate::harness::{DEADLINE, Node, base_args};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::mpsc,
};

/// Accepts HTTP requests, answers 200 and reports each request's head.
async fn collector() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                // Read the head, then as much body as Content-Length announces.
                loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0usize);
                        if body.len() >= length {
                            let _ = tx.send(head.to_string());
                            break;
                        }
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
            });
        }
    });
    (url, rx)
}

/// A short run with --otlp-endpoint posts protobuf spans to the collector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_exported() {
    let (url, mut requests) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(
        ["--blocks", "2", "--slot-time", "100ms", "--otlp-endpoint", &url].map(String::from),
    );
    let (exit, stderr, _) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    let head = tokio::time::timeout(DEADLINE, requests.recv()).await.unwrap().unwrap();
    assert!(head.starts_with("POST /v1/traces"), "{head}");
    assert!(head.to_lowercase().contains("content-type: application/x-protobuf"), "{head}");
}
