//! A fault-injecting TCP proxy on `127.0.0.1:0`, in front of any address (the mock, the
//! devnet, a real execution client in a container).
//!
//! Switches, all changeable while traffic flows:
//! - **latency**: each chunk waits `fixed + random(0..=jitter)` before it is forwarded, in
//!   both directions (chunks of one direction stay in order);
//! - **bandwidth**: each direction is capped at N bytes per second;
//! - **blackhole**: connections are accepted, bytes are read and dropped, nothing is
//!   forwarded or answered (the peer sees a hang, not an error);
//! - **lose replies**: requests are forwarded and carried out, but what the target answers
//!   is dropped (the client sees a hang after the server acted: a lost reply); or only the
//!   replies to one JSON-RPC method, after which the client's connection is closed (the
//!   client sees an error at once, the server acted);
//! - **cut replies**: the first K bytes of the target's answer are forwarded, then the
//!   client's connection is closed (a reply cut mid-body when K is past the head);
//! - **flood**: the target's answer is replaced with `200 OK` headers and a body of zeros
//!   inside a JSON-RPC envelope that never closes: [`FloodBody::Sized`] declares its length
//!   (e.g. [`HUNDRED_MB`]) and sends that many bytes, [`FloodBody::Endless`] declares none
//!   and sends until the client hangs up (the request reached the target, which acted);
//! - **reset**: every open connection is closed with a TCP RST;
//! - **refuse**: the listening socket is closed, so new connections are refused, and
//!   reopened on the same port when switched off.
//!
//! When asked ([`ChaosProxy::record_requests`]), it also records the JSON-RPC requests it
//! forwards: in front of a real execution client, that is what the client was actually sent.
//!
//! ```no_run
//! # async fn demo(target: std::net::SocketAddr) -> Result<(), engine_testkit::TestkitError> {
//! use engine_testkit::ChaosProxy;
//! use std::time::Duration;
//!
//! let proxy = ChaosProxy::start(target).await?;
//! // Point the client at proxy.url() instead of the target.
//! proxy.set_latency(Duration::from_millis(200), Duration::from_millis(50));
//! proxy.set_blackhole(true);
//! proxy.reset_connections();
//! proxy.refuse_new(true).await?;
//! # Ok(()) }
//! ```

mod tap;

pub use tap::ProxiedRequest;

use crate::error::TestkitError;
use rand::Rng;
use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tap::{ConnectionTap, RequestLog};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
    task::{AbortHandle, JoinHandle},
};

/// Largest chunk forwarded at once.
const CHUNK: usize = 16 * 1024;

/// 100 MiB: a body far past any response limit (the engine's default is 64 MiB).
pub const HUNDRED_MB: u64 = 100 * 1024 * 1024;

/// The body of a flooded answer (see [`ChaosSettings::flood`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloodBody {
    /// `Content-Length: n`, then `n` bytes (fewer if the client hangs up first).
    Sized(u64),
    /// No `Content-Length` (`Connection: close`, the body ends when the connection does):
    /// bytes until the client hangs up.
    Endless,
}

/// The proxy's switches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosSettings {
    /// Added to every chunk, in each direction.
    pub latency: Duration,
    /// Up to this much more, chosen at random per chunk.
    pub jitter: Duration,
    /// Cap per direction, in bytes per second (`None`: unlimited).
    pub bytes_per_second: Option<u64>,
    /// Accept, read and drop; never forward.
    pub blackhole: bool,
    /// Forward requests, drop every byte the target answers.
    pub lose_replies: bool,
    /// Forward requests, but drop the replies to this JSON-RPC method and close the
    /// client's connection instead (HTTP/1.1 without pipelining, as reqwest and hyper send).
    pub lose_replies_to: Option<String>,
    /// Forward this many bytes of the target's answers on each connection (counted from
    /// the first answer byte after the switch is seen), then close the client's connection.
    pub cut_replies_after: Option<usize>,
    /// Replace the target's answers with `200 OK` and this body, then close the client's
    /// connection; the requests still reach the target.
    pub flood: Option<FloodBody>,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    settings: Mutex<ChaosSettings>,
    /// Bumped by [`ChaosProxy::reset_connections`]; each connection watches it.
    resets: watch::Sender<u64>,
    conns: Mutex<Vec<AbortHandle>>,
    requests: RequestLog,
}

impl Shared {
    fn settings(&self) -> ChaosSettings {
        lock(&self.settings).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a plain assignment or push: nothing is half-done if a
    // holder panicked.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running proxy. Dropping it closes the port and every connection.
#[derive(Debug)]
pub struct ChaosProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl ChaosProxy {
    /// Listen on a fresh port of `127.0.0.1` and forward to `target`.
    pub async fn start(target: SocketAddr) -> Result<Self, TestkitError> {
        let listener = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr().map_err(|e| TestkitError::io("read the proxy port", e))?;
        let shared = Arc::new(Shared {
            target,
            settings: Mutex::default(),
            resets: watch::Sender::new(0),
            conns: Mutex::default(),
            requests: RequestLog::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self { addr, shared, accept: Mutex::new(Some(accept)) })
    }

    /// The proxy's address.
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where traffic goes.
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    /// The current switches.
    pub fn settings(&self) -> ChaosSettings {
        self.shared.settings()
    }

    /// Replace every switch at once.
    pub fn set(&self, settings: ChaosSettings) {
        *lock(&self.shared.settings) = settings;
    }

    /// Added latency per chunk: `fixed` plus up to `jitter` at random.
    pub fn set_latency(&self, fixed: Duration, jitter: Duration) {
        let mut s = lock(&self.shared.settings);
        s.latency = fixed;
        s.jitter = jitter;
    }

    /// Cap each direction at `bytes_per_second` (`None` lifts the cap).
    pub fn set_bandwidth(&self, bytes_per_second: Option<u64>) {
        lock(&self.shared.settings).bytes_per_second = bytes_per_second.filter(|b| *b > 0);
    }

    /// Forward requests but drop the target's replies (new and open connections): the
    /// target acts, the client never hears of it.
    pub fn set_lose_replies(&self, on: bool) {
        lock(&self.shared.settings).lose_replies = on;
    }

    /// Lose the replies to `method` (see [`ChaosSettings::lose_replies_to`]); `None` stops.
    pub fn set_lose_replies_to(&self, method: Option<&str>) {
        lock(&self.shared.settings).lose_replies_to = method.map(str::to_owned);
    }

    /// Forward only the first `bytes` of the target's answer on each connection, then close
    /// it (see [`ChaosSettings::cut_replies_after`]); `None` stops.
    pub fn set_cut_replies_after(&self, bytes: Option<usize>) {
        lock(&self.shared.settings).cut_replies_after = bytes;
    }

    /// Answer with `200 OK` and `body` instead of the target's answer (see
    /// [`ChaosSettings::flood`]); `None` stops.
    pub fn set_flood(&self, body: Option<FloodBody>) {
        lock(&self.shared.settings).flood = body;
    }

    /// Drop every byte instead of forwarding it (new and open connections).
    pub fn set_blackhole(&self, on: bool) {
        lock(&self.shared.settings).blackhole = on;
    }

    /// Close every open connection with a TCP RST (both sides).
    pub fn reset_connections(&self) {
        self.shared.resets.send_modify(|g| *g += 1);
    }

    /// Refuse new connections (close the listening socket), or accept them again on the
    /// same port.
    pub async fn refuse_new(&self, refuse: bool) -> Result<(), TestkitError> {
        let running = lock(&self.accept).take();
        match (refuse, running) {
            (true, Some(handle)) => {
                handle.abort();
                // Cancelled is the expected outcome; the listener is dropped with the task.
                let _cancelled = handle.await;
            }
            (false, None) => {
                let listener = bind(self.addr).await?;
                *lock(&self.accept) =
                    Some(tokio::spawn(accept_loop(listener, Arc::clone(&self.shared))));
            }
            // Already in the requested state.
            (_, running) => *lock(&self.accept) = running,
        }
        Ok(())
    }

    /// Switch everything off: no latency, no cap, no blackhole, accepting.
    pub async fn heal(&self) -> Result<(), TestkitError> {
        self.set(ChaosSettings::default());
        self.refuse_new(false).await
    }

    /// Start (or stop) recording the JSON-RPC requests forwarded to the target; off by
    /// default, so a long run keeps nothing it was not asked to.
    pub fn record_requests(&self, on: bool) {
        self.shared.requests.set_recording(on);
    }

    /// Every JSON-RPC request forwarded to the target while recording (since the last
    /// [`clear_requests`](Self::clear_requests)), in the order they completed. Requests that
    /// were dropped (black hole) or whose connection the target refused are not in it.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.shared.requests.all()
    }

    /// The forwarded requests of `method`, in order.
    pub fn requests_of(&self, method: &str) -> Vec<ProxiedRequest> {
        self.requests().into_iter().filter(|r| r.method == method).collect()
    }

    /// Forget the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.requests.clear();
    }

    /// How many client connections are open.
    pub fn open_connections(&self) -> usize {
        let mut conns = lock(&self.shared.conns);
        conns.retain(|c| !c.is_finished());
        conns.len()
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        if let Some(handle) = lock(&self.accept).take() {
            handle.abort();
        }
        for conn in lock(&self.shared.conns).drain(..) {
            conn.abort();
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, TestkitError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| TestkitError::io(format!("bind the proxy at {addr}"), e))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        // An accept error concerns one connection; keep accepting.
        let Ok((client, _)) = listener.accept().await else { continue };
        let task = tokio::spawn(serve(client, Arc::clone(&shared)));
        let mut conns = lock(&shared.conns);
        conns.retain(|c| !c.is_finished());
        conns.push(task.abort_handle());
    }
}

/// Carry one connection until both sides close or a reset is requested.
async fn serve(mut client: TcpStream, shared: Arc<Shared>) {
    let mut resets = shared.resets.subscribe();
    resets.mark_unchanged();
    // Small chunks must not wait for Nagle; failing to set it only slows the test.
    let _ = client.set_nodelay(true);
    if shared.settings().blackhole {
        // Accepted while black-holed: never connected upstream, so it stays a black hole.
        let reset = {
            let swallow = async {
                let mut buf = vec![0u8; CHUNK];
                while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
            };
            tokio::select! {
                () = swallow => false,
                _ = resets.changed() => true,
            }
        };
        if reset {
            rst(&client);
        }
        return;
    }
    let Ok(upstream) = TcpStream::connect(shared.target).await else {
        // The target is down: close the client's connection, as a dead peer would.
        return;
    };
    let _ = upstream.set_nodelay(true);
    let (mut client_r, mut client_w) = client.into_split();
    let (mut up_r, mut up_w) = upstream.into_split();
    // Set by the request side when the request in flight is one whose reply must be lost.
    let losing = AtomicBool::new(false);
    let reset = {
        let forward = async {
            tokio::join!(
                pump(
                    &mut client_r,
                    &mut up_w,
                    &shared,
                    Some(ConnectionTap::default()),
                    Direction::Request,
                    &losing
                ),
                pump(&mut up_r, &mut client_w, &shared, None, Direction::Reply, &losing)
            )
        };
        tokio::select! {
            _ = forward => false,
            _ = resets.changed() => true,
        }
    };
    if reset {
        if let Ok(client) = client_r.reunite(client_w) {
            rst(&client);
        }
        if let Ok(upstream) = up_r.reunite(up_w) {
            rst(&upstream);
        }
    }
}

/// Make the coming close an RST rather than a FIN.
fn rst(stream: &TcpStream) {
    // Failing to set zero linger only softens the close to a FIN.
    let _ = stream.set_zero_linger();
}

/// Which way a [`pump`] carries bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client to target.
    Request,
    /// Target to client.
    Reply,
}

/// Forward one direction, applying the switches to every chunk; with a `tap`, record the
/// requests the forwarded bytes carry.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    shared: &Shared,
    mut tap: Option<ConnectionTap>,
    direction: Direction,
    losing: &AtomicBool,
) {
    let mut buf = vec![0u8; CHUNK];
    // Answer bytes forwarded while a cut is set (see `ChaosSettings::cut_replies_after`).
    let mut forwarded = 0usize;
    loop {
        let settings = shared.settings();
        let limit = settings
            .bytes_per_second
            .map_or(CHUNK, |bps| usize::try_from(bps / 10).unwrap_or(CHUNK).clamp(1, CHUNK));
        let n = match from.read(&mut buf[..limit]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let settings = shared.settings();
        if settings.blackhole || (settings.lose_replies && direction == Direction::Reply) {
            continue;
        }
        if direction == Direction::Reply && losing.load(Ordering::Acquire) {
            // The reply to a request whose answer must be lost: drop it, and close the
            // client's side so that it learns at once that no answer will come.
            break;
        }
        if direction == Direction::Reply
            && let Some(body) = settings.flood
        {
            // A write error means the client hung up: the flood is over either way.
            let _ = flood(to, body).await;
            break;
        }
        let mut n = n;
        let mut cut = false;
        match settings.cut_replies_after {
            Some(limit) if direction == Direction::Reply => {
                let room = limit.saturating_sub(forwarded);
                if n >= room {
                    (n, cut) = (room, true);
                }
                forwarded += n;
            }
            _ => forwarded = 0,
        }
        // Requests are cut before they are forwarded, so that a reply is never read before
        // the request it answers was seen.
        if let Some(tap) = &mut tap {
            let lose = settings.lose_replies_to.as_deref();
            let methods = tap.feed(&buf[..n], &shared.requests, lose.is_some());
            if let Some(last) = methods.last() {
                losing.store(lose == Some(last.as_str()), Ordering::Release);
            }
        }
        let jitter = if settings.jitter.is_zero() {
            Duration::ZERO
        } else {
            rand::rng().random_range(Duration::ZERO..=settings.jitter)
        };
        let delay = settings.latency + jitter;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&buf[..n]).await.is_err() || cut {
            break;
        }
        if let Some(bps) = settings.bytes_per_second {
            tokio::time::sleep(Duration::from_secs_f64(n as f64 / bps as f64)).await;
        }
    }
    // Pass the end of stream on, so the other side sees the close; it may already be gone.
    let _ = to.shutdown().await;
}

/// The start of a flooded answer's body: a JSON-RPC envelope whose `result` string the
/// zeros that follow never close.
const FLOOD_PREFIX: &[u8] = br#"{"jsonrpc":"2.0","id":1,"result":"0x"#;

/// The head of a flooded answer.
fn flood_head(body: FloodBody) -> String {
    match body {
        FloodBody::Sized(len) => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
        ),
        FloodBody::Endless => {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
                .to_owned()
        }
    }
}

/// Writes a flooded answer to `to`: its head, then `body`'s bytes (until the client hangs
/// up, for an endless one). Memory stays at one chunk whatever the length.
async fn flood(to: &mut OwnedWriteHalf, body: FloodBody) -> std::io::Result<()> {
    to.write_all(flood_head(body).as_bytes()).await?;
    let mut left = match body {
        FloodBody::Sized(len) => len,
        FloodBody::Endless => u64::MAX,
    };
    let prefix = &FLOOD_PREFIX[..FLOOD_PREFIX.len().min(usize::try_from(left).unwrap_or(CHUNK))];
    to.write_all(prefix).await?;
    left -= prefix.len() as u64;
    let zeros = [b'0'; CHUNK];
    while left > 0 {
        let n = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
        to.write_all(&zeros[..n]).await?;
        if body != FloodBody::Endless {
            left -= n as u64;
        }
    }
    to.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sized flood declares exactly the bytes it sends; an endless one declares none and
    /// asks for the connection to be closed.
    #[test]
    fn flood_heads() {
        let sized = flood_head(FloodBody::Sized(HUNDRED_MB));
        assert!(sized.starts_with("HTTP/1.1 200 OK\r\n") && sized.ends_with("\r\n\r\n"));
        assert!(sized.contains("content-length: 104857600\r\n"), "{sized}");
        let endless = flood_head(FloodBody::Endless);
        assert!(!endless.contains("content-length") && endless.contains("connection: close"));
    }
}
