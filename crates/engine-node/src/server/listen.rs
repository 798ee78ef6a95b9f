//! Serving a router on a bound listener with bounds: a connection limit (one more is
//! answered `503` and closed, never left waiting in silence), a deadline on each request's
//! headers (hyper's `header_read_timeout`, which also closes idle kept-alive connections)
//! and on each whole request (`408`), and a graceful stop bounded by the same deadline.

use axum::{
    Extension, Router,
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use engine_actor::client::urls::is_loopback;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

/// The bounds of one server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Connections served at once.
    pub(crate) max_connections: usize,
    /// Time to receive a request's headers.
    pub(crate) header_timeout: Duration,
    /// Time for a whole request.
    pub(crate) request_timeout: Duration,
}

/// Refused connections being drained at once (beyond, one is closed after its `503` is
/// written, unread).
const MAX_DRAINING: usize = 64;
/// Longest a refused connection is drained, so that closing it does not reset it before the
/// client read its `503`.
const DRAIN_FOR: Duration = Duration::from_secs(1);
/// Bytes read at most from a refused connection.
const DRAIN_BYTES: usize = 64 * 1024;
/// Pause after a failed `accept` (out of file descriptors): the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Whether a server bound to `addr` is reachable from other machines (the address is not
/// loopback), judged as engine-client judges endpoint URLs.
pub(crate) fn exposed(addr: SocketAddr) -> bool {
    url::Url::parse(&format!("http://{addr}/")).map_or(true, |url| !is_loopback(&url))
}

/// Logs one warning when `what` listens beyond this machine.
pub(crate) fn warn_if_exposed(addr: SocketAddr, what: &str, flag: &str) {
    if exposed(addr) {
        tracing::warn!(%addr, "{what} listens on a non-loopback address: anyone who can reach \
            it can use it (there is no authentication); put it behind a firewall or a proxy, or \
            bind 127.0.0.1 with {flag}");
    }
}

/// Answers `408` and closes the connection when `next` takes longer than the deadline
/// (the body is read inside `next`, so a client trickling its body is cut too).
async fn request_deadline(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            format!("request not complete within {} ms\n", deadline.as_millis()),
        )
            .into_response(),
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then lets the
/// requests in flight finish (for at most the request timeout). Handlers can extract
/// `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app =
        app.layer(axum::middleware::from_fn_with_state(limits.request_timeout, request_deadline));
    // `ServerLimits::problems` bounds it by `MAX_CONNECTIONS`; the clamp only keeps an
    // unvalidated value from panicking in `Semaphore::new`.
    let connections = Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS)));
    let draining = Arc::new(Semaphore::new(MAX_DRAINING));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            refuse(stream, &draining);
            continue;
        };
        let service = TowerToHyperService::new(app.clone().layer(Extension(ConnectInfo(peer))));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A connection's errors (a reset, the header deadline) concern that client only.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    // Idle connections close at once; requests in flight end within their deadline.
    let _ = tokio::time::timeout(limits.request_timeout, graceful.shutdown()).await;
}

/// Answers a connection over the limit `503` (with `Retry-After`) and closes it; while
/// fewer than [`MAX_DRAINING`] are, its request is read and dropped first for up to
/// [`DRAIN_FOR`], so that the close does not reset the connection before the answer is read.
fn refuse(stream: TcpStream, draining: &Arc<Semaphore>) {
    const BODY: &str = "too many connections; retry shortly\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    // A fresh socket's send buffer holds these few bytes; if not, the client sees a close.
    let _ = stream.try_write(answer.as_bytes());
    let Ok(permit) = Arc::clone(draining).try_acquire_owned() else { return };
    tokio::spawn(async move {
        let mut stream = stream;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        let drain = async {
            while read < DRAIN_BYTES {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_FOR, drain).await;
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::AsyncWriteExt;

    /// Only guards against a hang; no assertion depends on it.
    const HANG: Duration = Duration::from_secs(30);

    async fn start(limits: ConnLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/", get(|| async { "ok\n" }))
            .route("/echo", axum::routing::post(|body: String| async move { body }));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(serve(listener, app, limits, async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// Sends `request` on a new connection and reads until the server closes it.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        read_to_close(&mut stream).await
    }

    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        // A reset after the answer counts as a close.
        let _ = tokio::time::timeout(HANG, stream.read_to_end(&mut answer)).await.expect("closed");
        String::from_utf8_lossy(&answer).into_owned()
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

    fn limits(max_connections: usize) -> ConnLimits {
        ConnLimits {
            max_connections,
            header_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_millis(500),
        }
    }

    /// With the limit held by open connections, the next is answered 503 with Retry-After;
    /// once they close, a new one is served.
    #[tokio::test]
    async fn connections_past_the_limit_get_503_then_service_resumes() {
        let (addr, _stop) = start(ConnLimits { header_timeout: HANG, ..limits(2) }).await;
        let held =
            [TcpStream::connect(addr).await.unwrap(), TcpStream::connect(addr).await.unwrap()];
        let refused = exchange(addr, GET).await;
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(refused.contains("retry-after: 1"), "{refused}");
        drop(held);
        let served = tokio::time::timeout(HANG, async {
            loop {
                let answer = exchange(addr, GET).await;
                if answer.starts_with("HTTP/1.1 200") {
                    return answer;
                }
                // The server notices the closes asynchronously.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("served once the held connections closed");
        assert!(served.ends_with("ok\n"), "{served}");
    }

    /// A client that never finishes its headers (slowloris), or sends nothing, is
    /// disconnected after the header timeout, without an answer.
    #[tokio::test]
    async fn slow_headers_are_cut() {
        let (addr, _stop) = start(limits(4)).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        for stream in [&mut slow, &mut silent] {
            // Closed (read_to_close fails the test otherwise), with no answer or a 408.
            let answer = read_to_close(stream).await;
            assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
        }
    }

    /// A body that does not arrive in time is answered 408 and the connection closed.
    #[tokio::test]
    async fn slow_bodies_get_408() {
        let (addr, _stop) = start(limits(4)).await;
        let answer =
            exchange(addr, b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\npartial")
                .await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
    }

    /// Loopback addresses are not exposed; anything else is.
    #[test]
    fn exposure() {
        for (addr, exposed_) in [
            ("127.0.0.1:9100", false),
            ("127.3.2.1:9100", false),
            ("[::1]:9100", false),
            ("0.0.0.0:9100", true),
            ("[::]:9100", true),
            ("192.168.1.4:9545", true),
        ] {
            assert_eq!(exposed(addr.parse().unwrap()), exposed_, "{addr}");
        }
    }
}
