//! A hand-written HTTP/1.1 server on 127.0.0.1 for what the MockEl cannot do: hostile
//! bodies, a JWT secret that changes mid-run, a proxy. One request per connection: every
//! response says `connection: close`.

use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::{
    io::{AsyncRead, AsyncReadExt},
    net::{TcpListener, TcpStream},
};

/// Largest request head read.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body read.
const MAX_BODY: usize = 1024 * 1024;

/// One request as received.
#[derive(Debug)]
pub(crate) struct Request {
    /// The request line and headers.
    pub(crate) head: String,
    /// The body (at most the declared content-length, at most [`MAX_BODY`]).
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// `POST / HTTP/1.1`, or the absolute form a proxy receives.
    #[allow(dead_code)] // Used by the proxy tests, which include this file.
    pub(crate) fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    /// The value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The JSON-RPC id of the body.
    pub(crate) fn id(&self) -> u64 {
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        body["id"].as_u64().unwrap()
    }
}

/// Reads one request, bounded by [`MAX_HEAD`] and [`MAX_BODY`]; `None` if the peer closes or
/// sends too much.
pub(crate) async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut request =
        Request { head: String::from_utf8(buf[..head_end].to_vec()).ok()?, body: Vec::new() };
    let declared: usize =
        request.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let len = declared.min(MAX_BODY);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    request.body = body;
    Some(request)
}

/// Serves `handler` on a fresh loopback port: each connection's first request is handed to
/// it with the stream, which it answers as it likes.
pub(crate) async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                if let Some(request) = read_request(&mut stream).await {
                    handler(request, stream).await;
                }
            });
        }
    });
    addr
}

/// A complete response with a content-length.
pub(crate) fn response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A JSON-RPC success answer to request `id`.
pub(crate) fn result(id: u64, result: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}
