//! A JSON-RPC-over-HTTP server shaped like an execution client: an engine port that checks
//! the JWT and a public port that does not, both on loopback, dispatching to a pluggable
//! [`RpcBackend`]. Request bodies are bounded as Geth bounds them (`node/node.go`'s
//! `engineAPIBodyLimit` of 128 MiB on the engine port, `rpc/http.go`'s `defaultBodyLimit` of
//! 5 MiB on the public one; larger is refused with HTTP 413).
//!
//! ```text
//!  request ─> engine port: body ≤ 128 MiB, JWT check (401) ─┐
//!  request ─> public port: body ≤ 5 MiB, engine_* → -32601   ├─> envelope ─> [CallHook]? ─> backend
//! ```
//!
//! A [`CallHook`] may stand around every call (engine-testkit's scripted faults and call
//! recording do); without one the server answers from the backend and nothing else.
//!
//! Kept on hyper instead of `jsonrpsee`'s server (what Reth serves its Engine API with;
//! 0.26, measured 2026-12): it has no JWT check (Reth writes its own layer, on the system
//! clock, where a hook may shift ours), answers 413 with a JSON-RPC body rather than Geth's
//! text, serves batches by default, caps answers at 10 MiB (a large `getPayload` exceeds
//! it), and its middleware sees a body before it is read, so a hook's cut bodies and closed
//! connections would need the body read and parsed twice. It would add 31 crates to
//! engine-devnet (8 new to the workspace, WebSocket code among them) and 11 to the shipped
//! node, for the same throughput on loopback (about 35k requests/s both, one run).
//!
//! ```no_run
//! # async fn demo() -> Result<(), engine_devnet::DevnetError> {
//! use engine_devnet::rpc_server::{RpcBackend, RpcError, RpcServer};
//! use engine_types::jwt::JwtSecret;
//! use serde_json::{Value, json};
//! use std::sync::Arc;
//!
//! struct Chain;
//! impl RpcBackend for Chain {
//!     fn handle(&self, method: &str, _params: &Value) -> Result<Value, RpcError> {
//!         match method {
//!             "eth_chainId" => Ok(json!("0x1d97c")),
//!             other => Err(RpcError::method_not_found(other)),
//!         }
//!     }
//! }
//! let server = RpcServer::start(Arc::new(Chain), JwtSecret::random()).await?;
//! println!("engine {} public {}", server.engine_url(), server.public_url());
//! # Ok(()) }
//! ```

mod auth;
mod backend;
mod hook;
mod http;

pub use backend::{RpcBackend, RpcError};
pub use hook::{CallHook, Envelope, HookFuture, Refusal, Request, Verdict};
pub use http::{CloseConnection, ReplyBody, answer_json, json_response, text_response};

use crate::error::DevnetError;
use engine_types::jwt::JwtSecret;
use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};
use tempfile::TempDir;
use tokio::{
    net::TcpListener,
    sync::watch,
    task::{JoinHandle, JoinSet},
};

/// Name of the JWT secret file inside the server's temp dir.
const JWT_FILE: &str = "jwt.hex";

/// Writes `bytes` to a new file only its owner can read (0600 on Unix), as execution clients
/// write their generated secrets: a devnet shipped in the node must not teach operators to
/// ignore the engine's warning about a readable secret.
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Which of the two ports a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// The authenticated Engine API port (8551 on a real client).
    Engine,
    /// The public JSON-RPC port (8545 on a real client).
    Public,
}

impl PortKind {
    /// The largest request body the port reads, as Geth bounds it: 128 MiB on the engine
    /// port (`engineAPIBodyLimit`, node/node.go), 5 MiB on the public one
    /// (`defaultBodyLimit`, rpc/http.go).
    pub const fn body_limit(self) -> usize {
        match self {
            Self::Engine => 128 * 1024 * 1024,
            Self::Public => 5 * 1024 * 1024,
        }
    }
}

/// What the backend keeps when the server comes back after [`RpcServer::go_down`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// The chain survives, as after a process restart with a persistent data dir.
    KeepChain,
    /// The chain is lost ([`RpcBackend::reset`]), as after a wipe.
    LoseChain,
}

/// State shared by every connection.
#[derive(Debug)]
struct Shared {
    backend: Arc<dyn RpcBackend>,
    /// The engine port's JWT check.
    auth: auth::TokenCheck,
    hook: Option<Arc<dyn CallHook>>,
    /// Why the server failed: a connection's task panicked (a bug in a backend or a hook).
    /// The accept loops own the connection tasks; this is how their owner hears of it.
    failure: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for dyn RpcBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RpcBackend")
    }
}

/// A running JSON-RPC server with an engine port and a public port.
///
/// Dropping it stops both ports and closes every connection; so does
/// [`shutdown`](Self::shutdown), which also waits for that to be done.
#[derive(Debug)]
pub struct RpcServer {
    shared: Arc<Shared>,
    engine_addr: SocketAddr,
    public_addr: SocketAddr,
    /// The accept loops of both ports while up; each owns its connections, so aborting it
    /// closes them all.
    listeners: Mutex<Vec<JoinHandle<()>>>,
    /// Holds the JWT secret file for clients that read it from disk; deleted on drop.
    jwt_dir: TempDir,
}

impl RpcServer {
    /// Start on two fresh ports of `127.0.0.1`, without a hook.
    pub async fn start(
        backend: Arc<dyn RpcBackend>,
        secret: JwtSecret,
    ) -> Result<Self, DevnetError> {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::start_at(backend, secret, (any, any), None).await
    }

    /// Start on the given `(engine, public)` addresses (port 0 for a fresh one), with
    /// `hook` standing around every call if given.
    pub async fn start_at(
        backend: Arc<dyn RpcBackend>,
        secret: JwtSecret,
        (engine, public): (SocketAddr, SocketAddr),
        hook: Option<Arc<dyn CallHook>>,
    ) -> Result<Self, DevnetError> {
        let jwt_dir = tempfile::tempdir().map_err(|e| DevnetError::io("create a temp dir", e))?;
        let path = jwt_dir.path().join(JWT_FILE);
        write_owner_only(&path, secret.to_hex().as_bytes())
            .map_err(|e| DevnetError::io(format!("write {}", path.display()), e))?;
        let shared = Arc::new(Shared {
            backend,
            auth: auth::TokenCheck::new(secret),
            hook,
            failure: watch::Sender::new(None),
        });
        let engine_listener = bind(engine, "engine").await?;
        let public_listener = bind(public, "public").await?;
        let engine_addr = local_addr(&engine_listener)?;
        let public_addr = local_addr(&public_listener)?;
        let server =
            Self { shared, engine_addr, public_addr, listeners: Mutex::default(), jwt_dir };
        server.spawn(engine_listener, public_listener);
        Ok(server)
    }

    fn spawn(&self, engine: TcpListener, public: TcpListener) {
        let handles = vec![
            tokio::spawn(accept_loop(engine, PortKind::Engine, Arc::clone(&self.shared))),
            tokio::spawn(accept_loop(public, PortKind::Public, Arc::clone(&self.shared))),
        ];
        *self.listeners() = handles;
    }

    fn listeners(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        // Replacing a vector of handles cannot be interrupted half-way by a panic.
        self.listeners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Address of the engine port.
    pub const fn engine_addr(&self) -> SocketAddr {
        self.engine_addr
    }

    /// Address of the public port.
    pub const fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// `http://127.0.0.1:<engine port>`.
    pub fn engine_url(&self) -> String {
        format!("http://{}", self.engine_addr)
    }

    /// `http://127.0.0.1:<public port>`.
    pub fn public_url(&self) -> String {
        format!("http://{}", self.public_addr)
    }

    /// The JWT secret the engine port checks.
    pub fn jwt_secret(&self) -> &JwtSecret {
        self.shared.auth.secret()
    }

    /// The JWT secret as 64 hex characters (no `0x`).
    pub fn jwt_secret_hex(&self) -> String {
        self.shared.auth.secret().to_hex()
    }

    /// A file holding the JWT secret in hex, valid while the server lives.
    pub fn jwt_secret_path(&self) -> PathBuf {
        self.jwt_dir.path().join(JWT_FILE)
    }

    /// The directory holding the JWT secret file (removed on drop).
    pub fn jwt_dir(&self) -> &Path {
        self.jwt_dir.path()
    }

    /// The backend answering calls.
    pub fn backend(&self) -> &Arc<dyn RpcBackend> {
        &self.shared.backend
    }

    /// Resolves, with the reason, once a connection's task panicked (a bug in the backend
    /// or a hook: the call's effect is unknown). Whoever runs the server awaits this and
    /// fails with it; it never resolves while the server is sound.
    pub async fn failed(&self) -> String {
        let mut failure = self.shared.failure.subscribe();
        match failure.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The sender lives in `shared`, which `self` holds: it cannot be dropped here.
            Err(_) => std::future::pending().await,
        }
    }

    /// Whether both ports are accepting connections.
    pub fn is_up(&self) -> bool {
        !self.listeners().is_empty()
    }

    /// Stop listening (new connections are refused) and close every open connection,
    /// including hung ones. Returns once the ports are closed.
    pub async fn go_down(&self) {
        let handles = std::mem::take(&mut *self.listeners());
        for handle in &handles {
            handle.abort();
        }
        for handle in handles {
            // Cancelled is the expected outcome; the loop itself never returns.
            let _cancelled = handle.await;
        }
    }

    /// Listen again on the same ports, keeping or losing the backend's chain. When the
    /// backend cannot be reset ([`RpcBackend::reset`]), its error is returned and the
    /// server stays down.
    pub async fn come_back(&self, restart: Restart) -> Result<(), DevnetError> {
        if self.is_up() {
            return Err(DevnetError::State { reason: "come_back while the server is up".into() });
        }
        if restart == Restart::LoseChain {
            self.shared.backend.reset()?;
        }
        let engine = bind(self.engine_addr, "engine").await?;
        let public = bind(self.public_addr, "public").await?;
        self.spawn(engine, public);
        Ok(())
    }

    /// Stop both ports, close every connection and wait until that is done.
    pub async fn shutdown(self) {
        self.go_down().await;
    }
}

/// An execution layer served by an [`RpcServer`]: the ports and the JWT secret a consensus
/// client is configured with, the same for every layer so a harness can take any of them.
pub trait ElPorts {
    /// The server answering for it.
    fn server(&self) -> &RpcServer;

    /// `http://127.0.0.1:<port>` of the authenticated Engine API port.
    fn engine_url(&self) -> String {
        self.server().engine_url()
    }

    /// `http://127.0.0.1:<port>` of the public JSON-RPC port.
    fn public_url(&self) -> String {
        self.server().public_url()
    }

    /// Address of the engine port.
    fn engine_addr(&self) -> SocketAddr {
        self.server().engine_addr()
    }

    /// Address of the public port.
    fn public_addr(&self) -> SocketAddr {
        self.server().public_addr()
    }

    /// The JWT secret the engine port checks.
    fn jwt_secret(&self) -> &JwtSecret {
        self.server().jwt_secret()
    }

    /// The JWT secret as 64 hex characters (no `0x`).
    fn jwt_secret_hex(&self) -> String {
        self.server().jwt_secret_hex()
    }

    /// A file holding the JWT secret in hex, valid while the server lives.
    fn jwt_secret_path(&self) -> PathBuf {
        self.server().jwt_secret_path()
    }

    /// The directory holding the JWT secret file (removed with the server).
    fn jwt_dir(&self) -> &Path {
        self.server().jwt_dir()
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        for handle in self.listeners().drain(..) {
            handle.abort();
        }
    }
}

async fn bind(addr: SocketAddr, which: &str) -> Result<TcpListener, DevnetError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| DevnetError::io(format!("bind the {which} port {addr}"), e))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, DevnetError> {
    listener.local_addr().map_err(|e| DevnetError::io("read a bound port", e))
}

/// Accept connections until aborted; the connections live in `conns`, so aborting this task
/// drops them all.
async fn accept_loop(listener: TcpListener, port: PortKind, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // An accept error (e.g. the peer reset before accept) concerns one
                // connection only; keep serving the others.
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                conns.spawn(async move {
                    let service = service_fn(move |req| http::serve(Arc::clone(&shared), port, req));
                    // A connection error (client gone, injected close) ends this connection only.
                    let _ended = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(joined) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    let reason = format!("a connection on the {port:?} port panicked: {e}");
                    shared.failure.send_replace(Some(reason));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A JSON-RPC `eth_chainId` request of exactly `len` bytes (padded in an extra member).
    fn request_of(len: usize) -> Vec<u8> {
        let head = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[],"pad":""#;
        let tail = r#""}"#;
        let mut body = head.as_bytes().to_vec();
        body.resize(len - tail.len(), b'0');
        body.extend_from_slice(tail.as_bytes());
        body
    }

    /// POSTs `body` over a plain TCP connection; returns the status code and the body.
    async fn post(addr: SocketAddr, body: &[u8]) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // The server may answer 413 and close before the whole body is written.
        let _sent = stream.write_all(body).await;
        let mut answer = Vec::new();
        let _read = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        (status, body)
    }

    /// A backend that panics fails the server: the caller's connection closes, and
    /// `failed` resolves naming the panic.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_call_fails_the_server() {
        let backend = |method: &str, _: &Value| -> Result<Value, RpcError> {
            if method == "eth_chainId" { panic!("backend bug") } else { Ok(json!("0x0")) }
        };
        let server = RpcServer::start(Arc::new(backend), JwtSecret::random()).await.unwrap();
        let sound =
            tokio::time::timeout(std::time::Duration::from_millis(50), server.failed()).await;
        assert!(sound.is_err(), "no failure before the panic");
        let (status, _) = post(server.public_addr(), &request_of(100)).await;
        assert_eq!(status, 0, "no answer to the call that panicked");
        let reason = tokio::time::timeout(std::time::Duration::from_secs(10), server.failed())
            .await
            .unwrap();
        assert!(reason.contains("Public") && reason.contains("panicked"), "{reason}");
    }

    /// The public port reads a body of exactly its limit and refuses one byte more with 413,
    /// as Geth does; the backend never sees the refused one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_public_port_reads_up_to_its_body_limit() {
        let backend = |method: &str, _: &Value| -> Result<Value, RpcError> {
            assert_eq!(method, "eth_chainId");
            Ok(json!("0x1d97c"))
        };
        let server = RpcServer::start(Arc::new(backend), JwtSecret::random()).await.unwrap();
        let limit = PortKind::Public.body_limit();
        let (status, body) = post(server.public_addr(), &request_of(limit)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["result"], "0x1d97c");
        let (status, body) = post(server.public_addr(), &request_of(limit + 1)).await;
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("content length too large"), "{body}");
    }
}
