//! Endpoint health: a state driven by upchecks and request outcomes, a circuit breaker, and
//! a status published on a `watch` channel (and logged once per transition).

use crate::{
    breaker::{BreakerState, CircuitBreaker},
    metrics,
};
use engine_types::{EngineError, Severity, config::HealthConfig, primitives::B256};
use serde::Serialize;
use std::{
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};
use tokio::sync::watch;

/// How an endpoint is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    /// Reachable, authenticated, and not syncing: can build and commit.
    Synced,
    /// Reachable but syncing: commits are sent (to catch it up), builds go elsewhere.
    Syncing,
    /// Reachable state not yet known: no check has answered, or the probe gives no sync
    /// state (e.g. EthereumJS without peers answers `eth_syncing` with a JSON-RPC error while
    /// its Engine API works). Usable for builds and commits; a VALID head makes it `Synced`,
    /// a SYNCING verdict `Syncing`. Ranked after both, before `Offline` (the declaration
    /// order is the ranking order).
    Unknown,
    /// Not reachable, or answering garbage.
    Offline,
    /// Refuses our JWT: an operator must fix the secret or the clock.
    AuthFailed,
}

impl EndpointState {
    /// The value of the endpoint state gauge. The numbers are stable (dashboards depend on
    /// them): `Unknown`, added later, is 4.
    pub const fn gauge(self) -> f64 {
        match self {
            Self::Synced => 0.0,
            Self::Syncing => 1.0,
            Self::Offline => 2.0,
            Self::AuthFailed => 3.0,
            Self::Unknown => 4.0,
        }
    }

    /// A metric label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Synced => "synced",
            Self::Syncing => "syncing",
            Self::Unknown => "unknown",
            Self::Offline => "offline",
            Self::AuthFailed => "auth_failed",
        }
    }
}

/// What is known about one endpoint, as published on its `watch` channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointStatus {
    /// The endpoint's name.
    pub name: String,
    /// Its health.
    pub state: EndpointState,
    /// Its circuit breaker.
    pub breaker: BreakerState,
    /// The last head it accepted (a VALID forkchoice update).
    pub head: Option<B256>,
    /// Whether it missed commits the primary accepted and is waiting to be caught up.
    pub lagging: bool,
    /// The last error it gave, for operators.
    pub last_error: Option<String>,
    /// Moving average of its call latency (on the `watch` channel, as of the last other
    /// change).
    pub latency_ewma: Option<Duration>,
    /// How many times it came back after being Offline or AuthFailed. An EL that was down
    /// may have restarted and lost its forkchoice state: whoever owns that state re-sends
    /// it when this grows (a counter, so no return is missed between two looks).
    pub reconnects: u64,
    /// How many of the pool's tasks for this endpoint panicked (a lane's call, an upcheck):
    /// a bug in the engine, not a fault of the EL. The call's outcome is unknown, so the
    /// endpoint is marked lagging; whoever owns the pool fails when this grows (a counter,
    /// like `reconnects`, so no panic is missed between two looks).
    pub panics: u64,
}

impl EndpointStatus {
    /// What is known of `name` before anything was heard from it: `Unknown`, breaker
    /// closed, no head, no error, no history.
    pub fn unknown(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            state: EndpointState::Unknown,
            breaker: BreakerState::Closed,
            head: None,
            lagging: false,
            last_error: None,
            latency_ewma: None,
            reconnects: 0,
            panics: 0,
        }
    }

    /// Whether the endpoint serves requests now: reachable (its sync state may still be
    /// unknown, as with an EL whose `eth_syncing` errors while its Engine API works), our
    /// secret accepted, and its breaker not open. The one rule for readiness, `/status` and
    /// ranking the public (`eth_*`) clients. (The pool's routing asks a looser question,
    /// `accepts_requests`, crate-internal: an Offline endpoint whose breaker is still closed is
    /// tried, so one failure does not take a sole endpoint out until the next upcheck.)
    pub fn is_usable(&self) -> bool {
        !matches!(self.state, EndpointState::Offline | EndpointState::AuthFailed)
            && self.breaker != BreakerState::Open
    }
}

/// Weight of the newest sample in the latency average.
const EWMA_ALPHA: f64 = 0.2;

/// Whether `error` says something about the endpoint (rather than about our request).
pub(crate) const fn is_endpoint_fault(error: &EngineError) -> bool {
    match error {
        EngineError::Transport(_) | EngineError::Auth { .. } | EngineError::BadResponse { .. } => {
            true
        }
        // Internal and server errors of the EL; the other codes answer our request.
        EngineError::Rpc { code, .. } => matches!(code.severity(), Severity::Retry),
        _ => false,
    }
}

#[derive(Debug)]
struct Inner {
    breaker: CircuitBreaker,
    status: EndpointStatus,
}

/// The health tracker of one endpoint.
#[derive(Debug)]
pub(crate) struct Health {
    inner: Mutex<Inner>,
    tx: watch::Sender<EndpointStatus>,
}

impl Health {
    /// A tracker for `name`, starting `Unknown` with a closed breaker: the first upcheck or
    /// request outcome tells more.
    pub(crate) fn new(name: &str, config: &HealthConfig) -> Self {
        let status = EndpointStatus::unknown(name);
        metrics::record_state(name, status.state, status.breaker);
        let (tx, _) = watch::channel(status.clone());
        Self { inner: Mutex::new(Inner { breaker: CircuitBreaker::new(config), status }), tx }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A receiver of status changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<EndpointStatus> {
        self.tx.subscribe()
    }

    /// The current status.
    pub(crate) fn status(&self) -> EndpointStatus {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.status.breaker = inner.breaker.state(now);
        inner.status.clone()
    }

    /// Whether a request may go out now (the breaker's verdict); an open breaker whose
    /// cool-down ended lets this request through as a probe.
    pub(crate) fn allow(&self) -> bool {
        self.update(|inner, now| inner.breaker.allow(now))
    }

    /// Whether the pool may send this endpoint a request now, without changing anything:
    /// breaker not open, secret accepted. Unlike [`EndpointStatus::is_usable`], an Offline
    /// endpoint qualifies while its breaker is closed: the request itself is the probe.
    pub(crate) fn accepts_requests(&self) -> bool {
        let inner = self.lock();
        inner.breaker.state(Instant::now()) != BreakerState::Open
            && inner.status.state != EndpointState::AuthFailed
    }

    /// Records a call's outcome and latency. Returns the new state.
    ///
    /// A success brings an Offline or AuthFailed endpoint back as `Synced`; an `Unknown` one
    /// stays `Unknown` (answering a call says nothing about its sync state: the payload
    /// statuses and the probe do).
    pub(crate) fn on_outcome(
        &self,
        result: Result<(), &EngineError>,
        latency: Duration,
    ) -> EndpointState {
        self.update(|inner, now| {
            let s = &mut inner.status;
            add_latency(s, latency);
            match result {
                Ok(()) => {
                    inner.breaker.on_success();
                    if matches!(s.state, EndpointState::Offline | EndpointState::AuthFailed) {
                        s.state = EndpointState::Synced;
                    }
                }
                Err(e) => {
                    s.last_error = Some(e.to_string());
                    if is_endpoint_fault(e) {
                        inner.breaker.on_failure(now);
                    } else {
                        inner.breaker.on_success();
                    }
                    match e {
                        EngineError::Auth { .. } => s.state = EndpointState::AuthFailed,
                        EngineError::Transport(_) => s.state = EndpointState::Offline,
                        _ => {}
                    }
                }
            }
            s.state
        })
    }

    /// Records a health probe the endpoint answered with a JSON-RPC error (any code): it is
    /// reachable and accepted our JWT, but gave no sync state. The breaker counts a success;
    /// the state stays `Synced` or `Syncing` if it was, and is `Unknown` otherwise (so an
    /// endpoint that was down counts as back). Returns the new state.
    pub(crate) fn on_probe_error(&self, error: &EngineError, latency: Duration) -> EndpointState {
        self.update(|inner, _| {
            let s = &mut inner.status;
            add_latency(s, latency);
            s.last_error = Some(error.to_string());
            inner.breaker.on_success();
            if !matches!(s.state, EndpointState::Synced | EndpointState::Syncing) {
                s.state = EndpointState::Unknown;
            }
            s.state
        })
    }

    /// Sets the state (from an upcheck or a SYNCING/VALID verdict).
    pub(crate) fn set_state(&self, state: EndpointState) {
        self.update(|inner, _| inner.status.state = state);
    }

    /// Records the head the endpoint accepted; it is no longer lagging.
    pub(crate) fn set_head(&self, head: B256) {
        self.update(|inner, _| {
            inner.status.head = Some(head);
            inner.status.lagging = false;
            inner.status.state = EndpointState::Synced;
        });
    }

    /// Marks the endpoint as lagging behind the primary (or caught up).
    pub(crate) fn set_lagging(&self, lagging: bool) {
        self.update(|inner, _| inner.status.lagging = lagging);
    }

    /// Records that one of the pool's `task`s for this endpoint panicked with `reason`: the
    /// panic is counted, logged and kept as the last error, and the endpoint is marked
    /// lagging (the call may have reached the EL or not, so its state is unknown until the
    /// next forkchoice update catches it up).
    pub(crate) fn on_panic(&self, task: &'static str, reason: &str) {
        let name = self.lock().status.name.clone();
        tracing::error!(endpoint = %name, task, %reason, "a task of the execution pool panicked");
        metrics::record_panic(&name, task);
        self.update(|inner, _| {
            let s = &mut inner.status;
            s.panics += 1;
            s.lagging = true;
            s.last_error = Some(format!("a {task} task panicked: {reason}"));
        });
    }

    /// Applies `f`, then publishes the status if it changed and logs a state or breaker
    /// transition once. A new latency sample alone does not wake subscribers (it changes on
    /// every call); `status()` has the current average.
    fn update<R>(&self, f: impl FnOnce(&mut Inner, Instant) -> R) -> R {
        let mut inner = self.lock();
        let now = Instant::now();
        let was_down = is_down(inner.status.state);
        let out = f(&mut inner, now);
        if was_down && !is_down(inner.status.state) {
            inner.status.reconnects += 1;
        }
        inner.status.breaker = inner.breaker.state(now);
        // The common case (a successful call on a healthy endpoint) changes nothing worth
        // publishing: find that out without cloning the status.
        if same_but_latency(&self.tx.borrow(), &inner.status) {
            return out;
        }
        let status = inner.status.clone();
        drop(inner);
        self.tx.send_if_modified(|old| {
            if same_but_latency(old, &status) {
                return false;
            }
            if old.state != status.state || old.breaker != status.breaker {
                log_transition(old, &status);
                metrics::record_state(&status.name, status.state, status.breaker);
            }
            *old = status;
            true
        });
        out
    }

    /// The current state, without copying the status.
    pub(crate) fn state(&self) -> EndpointState {
        self.lock().status.state
    }
}

/// Folds one latency sample into the moving average.
fn add_latency(status: &mut EndpointStatus, latency: Duration) {
    let sample = latency.as_secs_f64();
    status.latency_ewma = Some(Duration::from_secs_f64(match status.latency_ewma {
        Some(old) => old.as_secs_f64() * (1.0 - EWMA_ALPHA) + sample * EWMA_ALPHA,
        None => sample,
    }));
}

/// Offline or refusing us: a state it "comes back" from.
const fn is_down(state: EndpointState) -> bool {
    matches!(state, EndpointState::Offline | EndpointState::AuthFailed)
}

fn same_but_latency(a: &EndpointStatus, b: &EndpointStatus) -> bool {
    a.reconnects == b.reconnects
        && a.state == b.state
        && a.breaker == b.breaker
        && a.head == b.head
        && a.lagging == b.lagging
        && a.last_error == b.last_error
}

fn log_transition(old: &EndpointStatus, new: &EndpointStatus) {
    // Unknown is reachable and usable: not worth a warning on its own.
    let healthy = matches!(new.state, EndpointState::Synced | EndpointState::Unknown);
    if !healthy || new.breaker != BreakerState::Closed {
        tracing::warn!(
            endpoint = %new.name,
            from = ?old.state, to = ?new.state, breaker = ?new.breaker,
            last_error = new.last_error.as_deref().unwrap_or(""),
            "execution client health changed"
        );
    } else {
        tracing::info!(
            endpoint = %new.name, from = ?old.state, to = ?new.state,
            "execution client healthy"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::{RpcErrorCode, TransportError};

    fn cfg() -> HealthConfig {
        HealthConfig { failure_threshold: 2, ..HealthConfig::default() }
    }

    /// The usable rule: every reachable state with a breaker that is not open; never Offline
    /// or AuthFailed, never with an open breaker. The pool's routing rule differs on exactly
    /// one point: an Offline endpoint with a closed breaker still accepts requests.
    #[test]
    fn usable_is_reachable_accepted_and_not_broken() {
        use EndpointState::{AuthFailed, Offline, Synced, Syncing, Unknown};
        let status =
            |state, breaker| EndpointStatus { state, breaker, ..EndpointStatus::unknown("el") };
        for state in [Synced, Syncing, Unknown] {
            assert!(status(state, BreakerState::Closed).is_usable(), "{state:?}");
            assert!(status(state, BreakerState::HalfOpen).is_usable(), "{state:?}");
            assert!(!status(state, BreakerState::Open).is_usable(), "{state:?}");
        }
        for state in [Offline, AuthFailed] {
            assert!(!status(state, BreakerState::Closed).is_usable(), "{state:?}");
        }
        let h = Health::new("el", &cfg());
        h.set_state(Offline);
        assert!(h.accepts_requests() && !h.status().is_usable());
    }

    fn refused() -> EngineError {
        TransportError::Connect { endpoint: "a".into(), reason: "refused".into() }.into()
    }

    /// Transport failures make the endpoint offline and open the breaker after K of them;
    /// a success brings it back.
    #[test]
    fn outcomes_drive_state_and_breaker() {
        let h = Health::new("a", &cfg());
        let mut rx = h.subscribe();
        let ms = Duration::from_millis(1);
        assert_eq!(h.on_outcome(Err(&refused()), ms), EndpointState::Offline);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().state, EndpointState::Offline);
        assert!(h.accepts_requests(), "one failure does not open the breaker");
        h.on_outcome(Err(&refused()), ms);
        assert!(!h.accepts_requests());
        assert!(!h.allow());
        assert_eq!(rx.borrow_and_update().breaker, BreakerState::Open);
        assert_eq!(h.status().last_error.as_deref(), Some("cannot reach a: refused"));
    }

    /// A refused JWT is its own state and makes the endpoint unusable; an answer about our
    /// request (e.g. -38002) says nothing bad about the endpoint.
    #[test]
    fn auth_and_request_errors() {
        let h = Health::new("a", &cfg());
        let ms = Duration::from_millis(1);
        let auth = EngineError::Auth { endpoint: "a".into(), status: 401, clock_gap: None };
        assert_eq!(h.on_outcome(Err(&auth), ms), EndpointState::AuthFailed);
        assert!(!h.accepts_requests());
        assert_eq!(h.on_outcome(Ok(()), ms), EndpointState::Synced);
        let rpc = EngineError::Rpc {
            method: "m".into(),
            code: RpcErrorCode::InvalidForkchoiceState,
            message: String::new(),
            data: None,
        };
        for _ in 0..5 {
            h.on_outcome(Err(&rpc), ms);
        }
        assert!(h.accepts_requests());
        assert_eq!(h.status().state, EndpointState::Synced);
    }

    /// The latency average moves a fifth of the way to each new sample.
    #[test]
    fn latency_ewma() {
        let h = Health::new("a", &cfg());
        h.on_outcome(Ok(()), Duration::from_millis(100));
        h.on_outcome(Ok(()), Duration::from_millis(200));
        let ewma = h.status().latency_ewma.unwrap().as_secs_f64();
        assert!((ewma - 0.120).abs() < 1e-9, "{ewma}");
    }

    /// Nothing is published when nothing changed.
    #[test]
    fn publishes_only_changes() {
        let h = Health::new("a", &cfg());
        let mut rx = h.subscribe();
        h.set_state(EndpointState::Unknown);
        assert!(!rx.has_changed().unwrap());
        h.set_state(EndpointState::Synced);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().state, EndpointState::Synced);
        h.set_state(EndpointState::Synced);
        assert!(!rx.has_changed().unwrap());
        h.set_head(B256::repeat_byte(1));
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().head, Some(B256::repeat_byte(1)));
    }

    /// A new endpoint is Unknown and usable. A successful call proves it reachable but not
    /// synced, so it stays Unknown; a SYNCING verdict or a VALID head says more. None of this
    /// is a return from down.
    #[test]
    fn starts_unknown_until_a_status_says_more() {
        let h = Health::new("a", &cfg());
        let ms = Duration::from_millis(1);
        let s = h.status();
        assert_eq!((s.state, s.breaker), (EndpointState::Unknown, BreakerState::Closed));
        assert!(h.accepts_requests());
        assert_eq!(h.on_outcome(Ok(()), ms), EndpointState::Unknown);
        h.set_state(EndpointState::Syncing);
        h.set_head(B256::repeat_byte(1));
        assert_eq!(h.state(), EndpointState::Synced);
        assert_eq!(h.status().reconnects, 0);
    }

    fn no_peers() -> EngineError {
        EngineError::Rpc {
            method: "eth_syncing".into(),
            code: RpcErrorCode::InternalError,
            message: "no peer available for synchronization".into(),
            data: None,
        }
    }

    /// A probe answered with a JSON-RPC error (here EthereumJS's -32603, which as a call's
    /// outcome is an endpoint fault) is a breaker success: however often it comes, the
    /// endpoint stays usable. It keeps a known sync state and otherwise gives Unknown.
    #[test]
    fn probe_errors_prove_reachability() {
        let h = Health::new("a", &cfg());
        let ms = Duration::from_millis(1);
        for _ in 0..5 {
            assert_eq!(h.on_probe_error(&no_peers(), ms), EndpointState::Unknown);
        }
        assert!(h.accepts_requests());
        assert_eq!(h.status().breaker, BreakerState::Closed);
        assert!(h.status().last_error.unwrap().contains("no peer available"));
        h.set_state(EndpointState::Syncing);
        assert_eq!(h.on_probe_error(&no_peers(), ms), EndpointState::Syncing);
        h.set_head(B256::repeat_byte(1));
        assert_eq!(h.on_probe_error(&no_peers(), ms), EndpointState::Synced);
        assert_eq!(h.status().reconnects, 0);
        // It also clears the failures counted so far: one more fault does not open it.
        h.on_outcome(Err(&refused()), ms);
        h.on_probe_error(&no_peers(), ms);
        h.on_outcome(Err(&refused()), ms);
        assert!(h.accepts_requests(), "the probe's answer reset the failure count");
    }

    /// An endpoint that was down and now answers the probe with a JSON-RPC error is back
    /// (Unknown) and its return is counted, from Offline and from AuthFailed alike.
    #[test]
    fn probe_error_brings_a_down_endpoint_back() {
        let h = Health::new("a", &cfg());
        let ms = Duration::from_millis(1);
        h.on_outcome(Err(&refused()), ms);
        assert_eq!(h.on_probe_error(&no_peers(), ms), EndpointState::Unknown);
        assert_eq!(h.status().reconnects, 1);
        h.on_outcome(
            Err(&EngineError::Auth { endpoint: "a".into(), status: 401, clock_gap: None }),
            ms,
        );
        assert!(!h.accepts_requests());
        assert_eq!(h.on_probe_error(&no_peers(), ms), EndpointState::Unknown);
        assert!(h.accepts_requests());
        assert_eq!(h.status().reconnects, 2);
    }

    /// The gauge values of the old states did not move (dashboards depend on them), Unknown
    /// is 4, and the declaration order ranks synced, syncing, unknown, offline, auth failed.
    #[test]
    fn gauge_labels_and_ranking() {
        use EndpointState::{AuthFailed, Offline, Synced, Syncing, Unknown};
        let all = [Synced, Syncing, Unknown, Offline, AuthFailed];
        let gauges: Vec<f64> = all.iter().map(|s| s.gauge()).collect();
        assert_eq!(gauges, [0.0, 1.0, 4.0, 2.0, 3.0]);
        let labels: Vec<&str> = all.iter().map(|s| s.label()).collect();
        assert_eq!(labels, ["synced", "syncing", "unknown", "offline", "auth_failed"]);
        let mut shuffled = [AuthFailed, Unknown, Offline, Synced, Syncing];
        shuffled.sort();
        assert_eq!(shuffled, all);
        assert_eq!(serde_json::to_value(Unknown).unwrap(), "unknown");
    }

    /// Every return from Offline or AuthFailed counts once, however it is learned (a request
    /// answering, an upcheck, a VALID head), and is published; moves between up states and
    /// repeated failures do not count.
    #[test]
    fn counts_returns_from_down() {
        let h = Health::new("a", &cfg());
        let mut rx = h.subscribe();
        let ms = Duration::from_millis(1);
        h.set_state(EndpointState::Syncing);
        h.set_state(EndpointState::Synced);
        assert_eq!(h.status().reconnects, 0, "never down");
        h.on_outcome(Err(&refused()), ms);
        h.on_outcome(Err(&refused()), ms);
        assert_eq!(h.on_outcome(Ok(()), ms), EndpointState::Synced);
        assert_eq!(h.status().reconnects, 1);
        h.set_state(EndpointState::Offline);
        h.set_state(EndpointState::Syncing);
        assert_eq!(h.status().reconnects, 2, "an upcheck that finds it syncing");
        h.on_outcome(
            Err(&EngineError::Auth { endpoint: "a".into(), status: 401, clock_gap: None }),
            ms,
        );
        h.set_head(B256::repeat_byte(2));
        assert_eq!(h.status().reconnects, 3, "a VALID head after a refused JWT");
        rx.mark_unchanged();
        h.set_state(EndpointState::Offline);
        h.set_state(EndpointState::Synced);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().reconnects, 4);
    }
}
