//! A JSON-RPC-over-HTTP server shaped like an execution client: an engine port that checks
//! the JWT and a public port that does not, both on `127.0.0.1:0`, dispatching to a
//! pluggable [`RpcBackend`], recording the latest calls (see [`Recording`]) and misbehaving
//! on demand.
//!
//! ```text
//!  request ─> engine port: JWT check (401) ─┐
//!  request ─> public port: engine_* → -32601 ├─> envelope ─> scripted fault? ─> backend
//!                                            └──────────── recorded with its outcome
//! ```
//!
//! # Plugging in a backend
//!
//! The mock execution client ([`MockEl`](crate::MockEl)) is one backend; the revm devnet is
//! another. A backend implements [`RpcBackend`] (a closure
//! `Fn(&str, &Value) -> Result<Value, RpcError>` does too) and is handed to
//! [`RpcServer::start`]; faults, recording, JWT and go-down/come-back come for free:
//!
//! ```no_run
//! # async fn demo() -> Result<(), engine_testkit::TestkitError> {
//! use engine_testkit::rpc_server::{RpcBackend, RpcError, RpcServer};
//! use engine_testkit::JwtSecret;
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

mod backend;
mod clock;
mod fault;
mod http;
mod recording;

pub use backend::{RpcBackend, RpcError};
pub use fault::{ANY_METHOD, Fault};
pub use recording::{DEFAULT_RECORDED_CALLS, Outcome, RecordedCall, Recording};

use crate::{error::TestkitError, jwt::JwtSecret};
use clock::ServerClock;
use fault::FaultPlan;
use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use recording::CallLog;
use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tempfile::TempDir;
use tokio::{net::TcpListener, task::JoinHandle, task::JoinSet};

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
    secret: JwtSecret,
    faults: FaultPlan,
    log: CallLog,
    /// Decides the JWT `iat` check and every answer's `Date`.
    clock: ServerClock,
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
    /// Start on two fresh ports of `127.0.0.1`.
    pub async fn start(
        backend: Arc<dyn RpcBackend>,
        secret: JwtSecret,
    ) -> Result<Self, TestkitError> {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::start_at(backend, secret, any, any).await
    }

    /// Start on the given addresses (port 0 for a fresh one).
    pub async fn start_at(
        backend: Arc<dyn RpcBackend>,
        secret: JwtSecret,
        engine: SocketAddr,
        public: SocketAddr,
    ) -> Result<Self, TestkitError> {
        let jwt_dir = tempfile::tempdir().map_err(|e| TestkitError::io("create a temp dir", e))?;
        let path = jwt_dir.path().join(JWT_FILE);
        write_owner_only(&path, secret.to_hex().as_bytes())
            .map_err(|e| TestkitError::io(format!("write {}", path.display()), e))?;
        let shared = Arc::new(Shared {
            backend,
            secret,
            faults: FaultPlan::default(),
            log: CallLog::new(Recording::DEFAULT),
            clock: ServerClock::default(),
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
        &self.shared.secret
    }

    /// The JWT secret as 64 hex characters (no `0x`).
    pub fn jwt_secret_hex(&self) -> String {
        self.shared.secret.to_hex()
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

    /// Apply `fault` to the next `times` calls of `method` (after any faults already
    /// scripted for it). `method` is the exact JSON-RPC name, or [`ANY_METHOD`].
    pub fn fail_next(&self, method: &str, fault: Fault, times: usize) {
        self.shared.faults.push_next(method, fault, times);
    }

    /// Apply each fault once, in order, to the next calls of `method` (e.g. SYNCING, SYNCING,
    /// then a specific VALID).
    pub fn fail_sequence(&self, method: &str, faults: impl IntoIterator<Item = Fault>) {
        for fault in faults {
            self.shared.faults.push_next(method, fault, 1);
        }
    }

    /// Apply `fault` to every call of `method` until [`clear_faults`](Self::clear_faults).
    pub fn fail_always(&self, method: &str, fault: Fault) {
        self.shared.faults.push_always(method, fault);
    }

    /// Drop every script of `method`.
    pub fn clear_faults(&self, method: &str) {
        self.shared.faults.clear(method);
    }

    /// Drop every script.
    pub fn clear_all_faults(&self) {
        self.shared.faults.clear_all();
    }

    /// How many scripted calls of `method` remain (`usize::MAX` for "until cleared").
    pub fn pending_faults(&self, method: &str) -> usize {
        self.shared.faults.pending(method)
    }

    /// Run the server's clock `seconds` ahead of the system's (behind when negative; 0: the
    /// system's own): the JWT `iat` check (±60 s) and the `Date` header of every answer
    /// follow it, as on an execution client whose clock is off.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.shared.clock.set_offset(seconds);
    }

    /// How far the server's clock is shifted, in seconds.
    pub fn clock_offset(&self) -> i64 {
        self.shared.clock.offset()
    }

    /// Which calls are kept from now on (a fresh server keeps [`Recording::DEFAULT`]); a
    /// smaller bound drops the oldest calls beyond it at once.
    pub fn set_recording(&self, recording: Recording) {
        self.shared.log.set_recording(recording);
    }

    /// Every recorded call of `method`, in arrival order.
    pub fn calls(&self, method: &str) -> Vec<RecordedCall> {
        self.shared.log.of(method)
    }

    /// Every recorded call, in arrival order.
    pub fn all_calls(&self) -> Vec<RecordedCall> {
        self.shared.log.all()
    }

    /// The most recent call.
    pub fn last_call(&self) -> Option<RecordedCall> {
        self.shared.log.all().pop()
    }

    /// Forget the recorded calls.
    pub fn clear_calls(&self) {
        self.shared.log.clear();
    }

    /// Wait until at least `n` calls of `method` have been recorded, then return them all.
    pub async fn wait_for_calls(
        &self,
        method: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedCall>, TestkitError> {
        self.shared.log.wait_for(method, n, timeout).await
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

    /// Listen again on the same ports, keeping or losing the backend's chain.
    pub async fn come_back(&self, restart: Restart) -> Result<(), TestkitError> {
        if self.is_up() {
            return Err(TestkitError::State("come_back while the server is up".into()));
        }
        if restart == Restart::LoseChain {
            self.shared.backend.reset();
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

impl Drop for RpcServer {
    fn drop(&mut self) {
        for handle in self.listeners().drain(..) {
            handle.abort();
        }
    }
}

async fn bind(addr: SocketAddr, which: &str) -> Result<TcpListener, TestkitError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| TestkitError::io(format!("bind the {which} port {addr}"), e))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, TestkitError> {
    listener.local_addr().map_err(|e| TestkitError::io("read a bound port", e))
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
                    let service = service_fn(move |req| http::serve_dated(Arc::clone(&shared), port, req));
                    // A connection error (client gone, injected close) ends this connection only.
                    let _ended = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}
