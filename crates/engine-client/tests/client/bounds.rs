//! Hostile bodies from a hand-written server: memory stays bounded by the configured limit,
//! never by what the server declares or keeps sending, and each case ends in its typed error
//! without waiting for the timeout.

use crate::stub::{self, Request};
use engine_client::transport::{ERROR_BODY_QUOTE, HttpTransport};
use engine_types::{EngineError, TransportError};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
};

/// Long enough that a case which waited for it would be obvious: each error kind below is
/// one the timeout cannot produce.
const TIMEOUT: Duration = Duration::from_secs(60);

/// `eth_chainId` through a bare transport with `limit`, the raw result on success.
async fn call(addr: SocketAddr, limit: u64) -> Result<String, EngineError> {
    let transport = HttpTransport::new(&format!("http://{addr}"), None, None, limit).unwrap();
    transport.call("eth_chainId", &[(); 0], TIMEOUT, &|raw: &str| Ok(raw.to_string())).await
}

fn too_large(limit: u64) -> EngineError {
    EngineError::Transport(TransportError::BodyTooLarge { limit })
}

/// Keeps the connection open until the client closes it.
async fn hold(mut stream: TcpStream) {
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// A 10 GB `Content-Length` with a few bytes sent and the connection held open: refused as
/// too large at once, naming the limit, with nothing allocated for the declared length.
#[tokio::test]
async fn declared_ten_gigabytes_is_refused_at_once() {
    let addr = stub::serve(|_: Request, mut stream: TcpStream| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10000000000\r\n\r\n{\"jsonrpc\"";
        stream.write_all(head.as_bytes()).await.unwrap();
        hold(stream).await;
    })
    .await;
    let started = Instant::now();
    let err = call(addr, 1024 * 1024).await.unwrap_err();
    assert_eq!(err, too_large(1024 * 1024));
    assert!(err.to_string().contains("1048576-byte limit"), "{err}");
    assert!(started.elapsed() < TIMEOUT, "came back only at the timeout");
}

/// A body of exactly the limit is read, one byte more is refused, with a content-length and
/// chunked alike.
#[tokio::test]
async fn bodies_at_the_limit() {
    const LIMIT: usize = 4096;
    for chunked in [false, true] {
        for extra in [0, 1] {
            let addr = stub::serve(move |request: Request, mut stream: TcpStream| async move {
                let mut body = stub::result(request.id(), "\"0x1\"");
                body.push_str(&" ".repeat(LIMIT + extra - body.len()));
                let bytes = if chunked {
                    let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
                    for piece in body.as_bytes().chunks(1000) {
                        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                        out.extend_from_slice(piece);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                    out
                } else {
                    stub::response("200 OK", body.as_bytes())
                };
                stream.write_all(&bytes).await.unwrap();
                hold(stream).await;
            })
            .await;
            let got = call(addr, LIMIT as u64).await;
            match extra {
                0 => assert_eq!(got.unwrap(), "\"0x1\"", "chunked: {chunked}"),
                _ => assert_eq!(got.unwrap_err(), too_large(LIMIT as u64), "chunked: {chunked}"),
            }
        }
    }
}

/// Sends chunk after chunk until the peer goes away; reports how many bytes it wrote.
async fn endless(mut stream: TcpStream, status: &str, written: Arc<AtomicU64>) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let piece = vec![b' '; 16 * 1024];
    let chunk = [format!("{:x}\r\n", piece.len()).into_bytes(), piece, b"\r\n".to_vec()].concat();
    while stream.write_all(&chunk).await.is_ok() {
        written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

/// An endless chunked body: refused as too large once the limit is crossed, and the
/// connection is closed there (the server's writes fail soon after, with at most the limit
/// plus what the sockets buffer written).
#[tokio::test]
async fn endless_chunked_body_stops_at_the_limit() {
    let written = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = oneshot::channel();
    let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
    let counter = Arc::clone(&written);
    let addr = stub::serve(move |_: Request, stream: TcpStream| {
        let (counter, done_tx) = (Arc::clone(&counter), Arc::clone(&done_tx));
        async move {
            endless(stream, "200 OK", counter).await;
            if let Some(tx) = done_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    })
    .await;
    assert_eq!(call(addr, 1024 * 1024).await.unwrap_err(), too_large(1024 * 1024));
    // A guard against hanging the run, not a measure of speed.
    tokio::time::timeout(TIMEOUT, done_rx).await.unwrap().unwrap();
    let total = written.load(Ordering::Relaxed);
    assert!(total < 64 * 1024 * 1024, "the server wrote {total} bytes before the client left");
}

/// An error status with an endless body reads only the quoted start of it.
#[tokio::test]
async fn error_status_reads_only_the_quote() {
    let written = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&written);
    let addr = stub::serve(move |_: Request, stream: TcpStream| {
        endless(stream, "500 Internal Server Error", Arc::clone(&counter))
    })
    .await;
    match call(addr, 1024 * 1024).await.unwrap_err() {
        EngineError::Transport(TransportError::HttpStatus { status: 500, body }) => {
            // The quote is cut at ERROR_BODY_QUOTE characters and says so.
            assert_eq!(body.chars().count(), ERROR_BODY_QUOTE + 1, "{body}");
            assert!(body.ends_with('…'), "{body}");
        }
        other => panic!("{other:?}"),
    }
}
