//! A pool of N ranked execution clients: builds go to the best usable one, commits fan out
//! to all of them, and a dead or hung endpoint is passed over within one request timeout.
//!
//! ```text
//!                     ┌─ lane 0 (primary) ─ newPayload → fcU ─┐
//!  commit(payload) ───┼─ lane 1 (standby) ─ newPayload → fcU ─┼─> first decisive answer
//!                     └─ lane 2 (standby) ─ (replay) → …    ─┘    in rank order wins
//!
//!  build(parent, attrs) ─> best usable: fcU(attrs) → getPayload
//!                          └ fails? next endpoint: fcU(attrs) → getPayload (rebuild)
//! ```
//!
//! - **Order.** Each endpoint has a *lane*: a task that runs that endpoint's calls one at a
//!   time, in submission order, so forkchoice updates reach every EL in event order even
//!   though the pool does not wait for slow standbys. A lane that is full (a hung EL) takes
//!   no more work and its endpoint is marked lagging.
//! - **Verdict.** A commit or forkchoice update succeeds with the answer of the best-ranked
//!   endpoint that gave a decisive one (VALID or INVALID); earlier endpoints that failed or
//!   were undecided count as a failover. Standbys keep running in their lanes after the
//!   verdict and record whether they reached the head.
//! - **Catch-up.** A standby that answers SYNCING/ACCEPTED to `newPayload` (it lacks the
//!   parent) or to a forkchoice update (it lacks the head, e.g. it was down while the
//!   others went on) is replayed the missing blocks from the pool's bounded buffer of recent
//!   payloads, oldest first, then asked again.
//! - **Panics.** A call that panics in its lane (a bug in the engine) fails alone with
//!   [`ClientError::LaneFailed`]: the lane watches each call's task and goes on with the
//!   next; the upcheck loop runs each endpoint's upcheck as a task it watches the same way.
//!   Each panic is counted in the endpoint's [`EndpointStatus::panics`] (and a metric), and
//!   the endpoint is marked lagging. The pool outlives its owner's restarts, so it repairs
//!   nothing by dying; the owner (the engine actor) fails when the counter grows, and its
//!   restart re-sends the forkchoice state, which catches the endpoint up.
//! - **Ranking.** Usable endpoints (breaker not open, JWT accepted) sorted by state (synced,
//!   syncing, unknown, offline) and then configured rank.

mod lane;
mod recent;

pub use recent::RecentPayload;

use crate::{
    client::{Attempts, ClientConfig, EngineClient},
    error::ClientError,
    health::{EndpointState, EndpointStatus, is_endpoint_fault},
    metrics,
    panic::task_failure,
};
use engine_types::{
    ApiVersion, EngineError, EngineMethod, ForkSchedule, ForkchoiceOutcome, GetPayloadResponse,
    PayloadStatus,
    config::EngineConfig,
    engine::{
        CancunPayloadFields, ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState,
        PayloadAttributes, PayloadId, PraguePayloadFields,
    },
    primitives::B256,
};
use lane::Lane;
use recent::RecentPayloads;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::watch,
    task::{JoinHandle, JoinSet},
};

/// Default number of calls waiting in one endpoint's lane before it is marked lagging.
pub const DEFAULT_LANE_DEPTH: usize = 16;

/// How to build an [`ExecutionPool`].
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The endpoints, best first (at least one).
    pub endpoints: Vec<ClientConfig>,
    /// Picks each call's method version.
    pub schedule: ForkSchedule,
    /// Committed payloads kept for replay to lagging standbys.
    pub replay_capacity: usize,
    /// Calls waiting per endpoint before it is marked lagging.
    pub lane_depth: usize,
    /// Time between upchecks of each endpoint.
    pub upcheck_interval: Duration,
    /// Time between the `forkchoiceUpdated` that starts a build and the `getPayload` that
    /// collects it, for the execution client to fill the block
    /// ([`EngineConfig::build_lookahead`]).
    pub build_lookahead: Duration,
}

impl PoolConfig {
    /// A pool of `endpoints` with the default policy.
    pub fn new(endpoints: Vec<ClientConfig>, schedule: ForkSchedule) -> Self {
        let engine = EngineConfig::default();
        Self {
            endpoints,
            schedule,
            replay_capacity: engine.payload_cache.capacity,
            lane_depth: DEFAULT_LANE_DEPTH,
            upcheck_interval: engine.health.upcheck_interval,
            build_lookahead: engine.build_lookahead,
        }
    }

    /// The pool of an engine configuration, reading every endpoint's JWT secret file.
    pub fn from_config(engine: &EngineConfig, schedule: ForkSchedule) -> Result<Self, ClientError> {
        let endpoints = engine
            .endpoints
            .iter()
            .map(|e| ClientConfig::from_config(e, engine))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            replay_capacity: engine.payload_cache.capacity,
            upcheck_interval: engine.health.upcheck_interval,
            build_lookahead: engine.build_lookahead,
            ..Self::new(endpoints, schedule)
        })
    }
}

/// A payload built by the pool: what `getPayload` returned, with the build's id, the endpoint
/// that built it and the sidecar `newPayload` will need. (The engine actor hands the Chain its
/// own `BuiltPayload`, made from this and the peg-ins it minted.)
#[derive(Debug, Clone)]
pub struct PoolBuild {
    /// What `getPayload` returned.
    pub response: GetPayloadResponse,
    /// The build's id on the endpoint that built it.
    pub payload_id: PayloadId,
    /// The endpoint that built it.
    pub endpoint: String,
    /// Whether a better-ranked endpoint failed first.
    pub failed_over: bool,
    /// The fields that travel beside the payload to `newPayload` (the attributes' parent
    /// beacon block root, the blobs' versioned hashes, the execution requests).
    pub sidecar: ExecutionPayloadSidecar,
}

impl PoolBuild {
    /// The sidecar of a payload built with `parent_beacon_block_root` (Cancun on).
    pub fn sidecar_for(
        response: &GetPayloadResponse,
        parent_beacon_block_root: Option<B256>,
    ) -> ExecutionPayloadSidecar {
        let Some(root) = parent_beacon_block_root else { return ExecutionPayloadSidecar::none() };
        let hashes =
            response.blobs_bundle.as_ref().map(|b| b.versioned_hashes()).unwrap_or_default();
        let cancun = CancunPayloadFields::new(root, hashes);
        match &response.execution_requests {
            Some(requests) => {
                ExecutionPayloadSidecar::v4(cancun, PraguePayloadFields::new(requests.clone()))
            }
            None => ExecutionPayloadSidecar::v3(cancun),
        }
    }
}

/// Where a standby stands after a commit or forkchoice update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandbyState {
    /// It reached the new head.
    InSync,
    /// It failed, was undecided, or was skipped: it does not have the new head.
    Lagging,
    /// Its call is still running in its lane (it records the result in its status).
    Pending,
}

/// The pool's verdict on a commit or a forkchoice update.
#[derive(Debug, Clone)]
pub struct CommitOutcome {
    /// The endpoint whose answer is the verdict.
    pub primary: String,
    /// Whether a better-ranked endpoint failed or was undecided first.
    pub failed_over: bool,
    /// The primary's `newPayload` verdict (`None` for a forkchoice update alone).
    pub payload_status: Option<PayloadStatus>,
    /// The primary's forkchoice update, when it got that far (not after INVALID).
    pub forkchoice: Option<ForkchoiceOutcome>,
    /// Every other endpoint.
    pub standbys: Vec<(String, StandbyState)>,
}

impl CommitOutcome {
    /// Whether the primary accepted the payload and made it its head.
    pub fn is_valid(&self) -> bool {
        self.payload_status.as_ref().is_none_or(PayloadStatus::is_valid)
            && self.forkchoice.as_ref().is_some_and(|f| f.status.is_valid())
    }
}

/// One endpoint's answer to a commit (newPayload + forkchoiceUpdated).
#[derive(Debug, Clone)]
struct EndpointCommit {
    payload_status: Option<PayloadStatus>,
    forkchoice: Option<ForkchoiceOutcome>,
}

impl EndpointCommit {
    /// VALID payload and head, or an INVALID payload or head: an answer that settles it.
    fn is_decisive(&self) -> bool {
        match (&self.payload_status, &self.forkchoice) {
            (Some(p), _) if p.is_invalid() => true,
            (_, Some(f)) => !f.status.is_undecided(),
            _ => false,
        }
    }

    fn reached_head(&self) -> bool {
        self.payload_status.as_ref().is_none_or(PayloadStatus::is_valid)
            && self.forkchoice.as_ref().is_some_and(|f| f.status.is_valid())
    }
}

struct Member {
    client: EngineClient,
    lane: Lane,
}

struct Shared {
    members: Vec<Member>,
    /// The runtime the pool was started on: its lanes and upcheck tasks run there, whoever
    /// calls the pool.
    runtime: tokio::runtime::Handle,
    schedule: ForkSchedule,
    build_lookahead: Duration,
    recent: Mutex<RecentPayloads>,
    /// Read-only queries spread so far ([`ExecutionPool::read_order`]): whose turn it is.
    reads: AtomicUsize,
    /// The next upcheck of the member at this index panics (unit tests of the upcheck's
    /// owner).
    #[cfg(test)]
    panic_upcheck: Mutex<Option<usize>>,
}

impl Shared {
    fn recent(&self) -> MutexGuard<'_, RecentPayloads> {
        self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How much slower than the fastest in-sync endpoint (its latency moving average) another
/// one may be and still take turns at read-only queries.
pub const READ_SPREAD: u32 = 2;

/// [`ExecutionPool::query_order`] of these statuses (in configured rank order).
fn query_order(status: &[EndpointStatus]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..status.len()).collect();
    order.sort_by_key(|&i| {
        let s = &status[i];
        (!s.is_usable(), s.lagging, s.state, i)
    });
    order
}

/// The order of the `turn`-th read-only query over endpoints with these statuses: the fast
/// set (usable, not lagging, synced, and with a latency average within [`READ_SPREAD`]× of
/// the fastest one's, or not measured yet) rotated by `turn`, then every other endpoint in
/// query order. With fewer than two fast endpoints it is the query order itself.
pub fn spread_reads(status: &[EndpointStatus], turn: usize) -> Vec<usize> {
    let order = query_order(status);
    let in_sync =
        |s: &EndpointStatus| s.is_usable() && !s.lagging && s.state == EndpointState::Synced;
    let fastest = order
        .iter()
        .filter(|&&i| in_sync(&status[i]))
        .filter_map(|&i| status[i].latency_ewma)
        .min();
    let fast: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| {
            in_sync(&status[i])
                && match (status[i].latency_ewma, fastest) {
                    (Some(latency), Some(fastest)) => latency <= fastest * READ_SPREAD,
                    _ => true,
                }
        })
        .collect();
    if fast.len() < 2 {
        return order;
    }
    let first = turn % fast.len();
    let mut spread: Vec<usize> = fast[first..].iter().chain(&fast[..first]).copied().collect();
    spread.extend(order.into_iter().filter(|i| !fast.contains(i)));
    spread
}

/// N ranked execution clients behind one high-level API. Dropping the pool stops its
/// upchecks and lanes.
pub struct ExecutionPool {
    shared: Arc<Shared>,
    upcheck: JoinHandle<()>,
}

impl std::fmt::Debug for ExecutionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.shared.members.iter().map(|m| m.client.name()).collect();
        f.debug_struct("ExecutionPool").field("endpoints", &names).finish_non_exhaustive()
    }
}

impl Drop for ExecutionPool {
    fn drop(&mut self) {
        self.upcheck.abort();
    }
}

impl ExecutionPool {
    /// Starts a pool: one client and one lane per endpoint, and the periodic upcheck. Must be
    /// called inside a tokio runtime.
    pub fn start(config: PoolConfig) -> Result<Self, ClientError> {
        if config.endpoints.is_empty() {
            return Err(ClientError::config("endpoints", "at least one endpoint is needed"));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            ClientError::config("runtime", format!("the pool needs a tokio runtime: {e}"))
        })?;
        let members = config
            .endpoints
            .into_iter()
            .map(|c| {
                let client = EngineClient::new(c)?;
                Ok(Member { lane: Lane::spawn(&runtime, config.lane_depth, &client), client })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        let shared = Arc::new(Shared {
            members,
            runtime: runtime.clone(),
            schedule: config.schedule,
            build_lookahead: config.build_lookahead,
            recent: Mutex::new(RecentPayloads::new(config.replay_capacity)),
            reads: AtomicUsize::new(0),
            #[cfg(test)]
            panic_upcheck: Mutex::new(None),
        });
        let upcheck = runtime.spawn(upcheck_loop(Arc::downgrade(&shared), config.upcheck_interval));
        Ok(Self { shared, upcheck })
    }

    /// The endpoints' clients, in configured rank order (for calls the pool does not wrap).
    pub fn clients(&self) -> impl Iterator<Item = &EngineClient> {
        self.shared.members.iter().map(|m| &m.client)
    }

    /// Every endpoint's status, in configured rank order.
    pub fn status(&self) -> Vec<EndpointStatus> {
        self.clients().map(EngineClient::status).collect()
    }

    /// The order in which to ask the endpoints a read-only `eth_*` query (indices in
    /// configured rank order): usable ones first ([`EndpointStatus::is_usable`]), then in
    /// sync before lagging (an endpoint that missed commits, e.g. back from an outage and not
    /// yet caught up, would answer queries about recent blocks with "unknown"), then by state
    /// as builds are ranked (synced, syncing, unknown), so that the EL asked for its head is
    /// the one that builds; ties keep the configured rank.
    pub fn query_order(&self) -> Vec<usize> {
        query_order(&self.status())
    }

    /// The order in which to ask a read-only query whose answer is the same on every EL in
    /// sync (a block, its receipts or a transaction receipt named by hash): the fast in-sync
    /// endpoints take turns at the front, so such reads spread over them by measured
    /// latency (see [`spread_reads`]); then the others in [`query_order`](Self::query_order).
    /// Builds, commits and reads of the head or the mempool stay on the best-ranked
    /// endpoint.
    pub fn read_order(&self) -> Vec<usize> {
        let turn = self.shared.reads.fetch_add(1, Ordering::Relaxed);
        spread_reads(&self.status(), turn)
    }

    /// Every endpoint's status channel, in configured rank order.
    pub fn subscribe(&self) -> Vec<watch::Receiver<EndpointStatus>> {
        self.clients().map(EngineClient::subscribe).collect()
    }

    /// Runs one upcheck of every endpoint now (the pool also does so periodically).
    pub async fn upcheck_now(&self) -> Vec<EndpointState> {
        upcheck_all(&self.shared).await
    }

    /// Remembers a committed payload for replay (e.g. from persisted state after a restart).
    pub fn remember(&self, payload: ExecutionPayload, sidecar: ExecutionPayloadSidecar) {
        self.shared.recent().push(RecentPayload { payload, sidecar });
    }

    /// How many committed payloads are held for replay.
    pub fn remembered(&self) -> usize {
        self.shared.recent().len()
    }

    /// Queues a call that panics in the lane of endpoint `index` (configured rank order):
    /// a bug inside a lane's call, for tests of what the pool and its owner do about one.
    /// `false` when there is no such endpoint or its lane refused the call.
    #[cfg(any(test, feature = "testing"))]
    pub fn inject_lane_panic(&self, index: usize) -> bool {
        self.shared.members.get(index).is_some_and(|m| m.lane.inject_panic(&m.client).is_ok())
    }

    /// Usable members, best first, and why the others are not.
    fn ranked(&self) -> (Vec<&Member>, Vec<&Member>) {
        let (mut usable, skipped): (Vec<_>, Vec<_>) =
            self.shared.members.iter().partition(|m| m.client.health().accepts_requests());
        // Stable sort: equal states keep their configured rank.
        usable.sort_by_key(|m| m.client.health().state());
        (usable, skipped)
    }

    fn no_usable(skipped: &[&Member]) -> ClientError {
        let reasons: Vec<String> = skipped
            .iter()
            .map(|m| {
                let s = m.client.status();
                format!("{}: {:?}, breaker {:?}", s.name, s.state, s.breaker)
            })
            .collect();
        EngineError::NoUsableEndpoint { reason: reasons.join("; ") }.into()
    }

    /// Builds a payload on `parent` with `attributes`: `forkchoiceUpdated` with the
    /// attributes, then, [`PoolConfig::build_lookahead`] later (the endpoint's lane is free
    /// meanwhile), `getPayload`, on the best usable endpoint. If that endpoint fails at
    /// either step (unreachable, garbage, hung, lost the build), the whole build is redone on
    /// the next one. An INVALID head or a refused request (e.g. bad attributes) ends it at
    /// once: another endpoint would say the same. So does a VALID answer that starts no
    /// build ([`ClientError::BuildSkipped`]): the endpoint is ahead of `parent`, and the
    /// caller must reconcile its head with it first.
    pub async fn build_payload(
        &self,
        parent: ForkchoiceState,
        attributes: PayloadAttributes,
    ) -> Result<PoolBuild, ClientError> {
        let (candidates, skipped) = self.ranked();
        let Some(first) = candidates.first() else { return Err(Self::no_usable(&skipped)) };
        let ts = attributes.timestamp;
        let fcu_version = self.shared.schedule.version_for(EngineMethod::ForkchoiceUpdated, ts);
        let get_version = self.shared.schedule.version_for(EngineMethod::GetPayload, ts);
        let attempts = if candidates.len() == 1 { Attempts::Policy } else { Attempts::Once };
        let mut first_failure: Option<ClientError> = None;
        let versions = (fcu_version, get_version);
        for member in &candidates {
            let lookahead = self.shared.build_lookahead;
            let built =
                build_on(member, lookahead, parent, attributes.clone(), versions, attempts).await;
            let err = match built {
                Ok((payload_id, response)) => {
                    let sidecar =
                        PoolBuild::sidecar_for(&response, attributes.parent_beacon_block_root);
                    let failed_over = !std::ptr::eq(*member, *first);
                    if failed_over {
                        metrics::record_failover(
                            "build",
                            first.client.name(),
                            member.client.name(),
                        );
                    }
                    return Ok(PoolBuild {
                        response,
                        payload_id,
                        endpoint: member.client.name().to_string(),
                        failed_over,
                        sidecar,
                    });
                }
                Err(e) => e,
            };
            tracing::warn!(endpoint = member.client.name(), error = %err, "build failed here");
            if !worth_another_endpoint(&err) {
                return Err(err);
            }
            first_failure.get_or_insert(err);
        }
        Err(first_failure.unwrap_or_else(|| Self::no_usable(&skipped)))
    }

    /// Commits `payload`: `newPayload`, then (when VALID) `forkchoiceUpdated(forkchoice)`,
    /// on every usable endpoint in parallel. Returns the verdict of the best-ranked endpoint
    /// that gave a decisive answer, as soon as the endpoints ranked above it have failed or
    /// been undecided; standbys finish in their lanes. Remembers the payload for replay when
    /// the verdict is VALID.
    pub async fn commit(
        &self,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
        forkchoice: ForkchoiceState,
    ) -> Result<CommitOutcome, ClientError> {
        let ts = payload.timestamp();
        let np_version = self.shared.schedule.version_for(EngineMethod::NewPayload, ts);
        let fcu_version = self.shared.schedule.version_for(EngineMethod::ForkchoiceUpdated, ts);
        let entry = RecentPayload { payload, sidecar };
        let outcome = self
            .fan_out("commit", |attempts, weak| {
                let entry = entry.clone();
                move |c: EngineClient| async move {
                    commit_on(&c, entry, np_version, fcu_version, forkchoice, attempts, weak).await
                }
            })
            .await?;
        if outcome.is_valid() {
            self.shared.recent().push(entry);
        }
        Ok(outcome)
    }

    /// Sends a forkchoice update (no attributes) to every usable endpoint; the version is
    /// that of `head_timestamp`, the head block's timestamp. An endpoint that lacks the head
    /// is replayed the missing blocks from the recent buffer and asked again. Same verdict
    /// rule as [`commit`](Self::commit).
    pub async fn forkchoice_updated(
        &self,
        state: ForkchoiceState,
        head_timestamp: u64,
    ) -> Result<CommitOutcome, ClientError> {
        let version =
            self.shared.schedule.version_for(EngineMethod::ForkchoiceUpdated, head_timestamp);
        self.fan_out("forkchoice_updated", |attempts, weak| {
            move |c: EngineClient| async move {
                forkchoice_on(&c, version, state, attempts, weak).await
            }
        })
        .await
    }

    /// Queues `job(endpoint)` in every usable endpoint's lane and returns the verdict (see
    /// the module docs). `make` builds one endpoint's job from its retry mode.
    async fn fan_out<M, J, Fut>(
        &self,
        operation: &'static str,
        make: M,
    ) -> Result<CommitOutcome, ClientError>
    where
        M: Fn(Attempts, Weak<Shared>) -> J,
        J: FnOnce(EngineClient) -> Fut + Send + 'static,
        Fut: Future<Output = Result<EndpointCommit, EngineError>> + Send + 'static,
    {
        let (candidates, skipped) = self.ranked();
        if candidates.is_empty() {
            return Err(Self::no_usable(&skipped));
        }
        for m in &skipped {
            m.client.health().set_lagging(true);
        }
        let attempts = if candidates.len() == 1 { Attempts::Policy } else { Attempts::Once };
        let mut pending: Vec<_> = candidates
            .iter()
            .map(|m| {
                let job = make(attempts, Arc::downgrade(&self.shared));
                let client = m.client.clone();
                let rx = m.lane.submit(&m.client, move |c| async move {
                    let result = job(c).await;
                    let reached = result.as_ref().is_ok_and(EndpointCommit::reached_head);
                    client.health().set_lagging(!reached);
                    result
                });
                (*m, Some(rx))
            })
            .collect();

        let mut first_error: Option<ClientError> = None;
        let mut first_undecided: Option<(usize, EndpointCommit)> = None;
        let mut verdict: Option<(usize, EndpointCommit)> = None;
        let mut states: Vec<StandbyState> = vec![StandbyState::Pending; pending.len()];
        for (i, (member, rx)) in pending.iter_mut().enumerate() {
            let answer = match rx.take() {
                Some(Ok(pending)) => pending.answer().await,
                Some(Err(refused)) => Err(lane_refused(member, refused)),
                None => continue,
            };
            match answer {
                Ok(Ok(c)) if c.is_decisive() => {
                    states[i] =
                        if c.reached_head() { StandbyState::InSync } else { StandbyState::Lagging };
                    verdict = Some((i, c));
                    break;
                }
                Ok(Ok(c)) => {
                    states[i] = StandbyState::Lagging;
                    first_undecided.get_or_insert((i, c));
                }
                Ok(Err(e)) => {
                    tracing::warn!(endpoint = member.client.name(), error = %e, operation, "endpoint failed");
                    states[i] = StandbyState::Lagging;
                    first_error.get_or_insert(e.into());
                }
                Err(e) => {
                    tracing::warn!(endpoint = member.client.name(), error = %e, operation, "endpoint's lane failed");
                    states[i] = StandbyState::Lagging;
                    first_error.get_or_insert(e);
                }
            }
        }
        let Some((index, answer)) = verdict.or(first_undecided) else {
            return Err(first_error.unwrap_or_else(|| Self::no_usable(&skipped)));
        };
        let primary = pending[index].0.client.name().to_string();
        let failed_over = index > 0;
        if failed_over {
            metrics::record_failover(operation, pending[0].0.client.name(), &primary);
        }
        let mut standbys: Vec<(String, StandbyState)> = pending
            .iter()
            .zip(states)
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, ((m, _), s))| (m.client.name().to_string(), s))
            .collect();
        standbys
            .extend(skipped.iter().map(|m| (m.client.name().to_string(), StandbyState::Lagging)));
        Ok(CommitOutcome {
            primary,
            failed_over,
            payload_status: answer.payload_status,
            forkchoice: answer.forkchoice,
            standbys,
        })
    }
}

/// Whether a build that failed with `err` on one endpoint may succeed on another.
fn worth_another_endpoint(err: &ClientError) -> bool {
    match err {
        ClientError::Engine(e) => {
            is_endpoint_fault(e)
                || matches!(
                    e,
                    EngineError::NoUsableEndpoint { .. }
                        | EngineError::Unsupported { .. }
                        | EngineError::Rpc { code: engine_types::RpcErrorCode::UnknownPayload, .. }
                )
        }
        ClientError::HeadNotValid { status, .. } => !status.is_invalid(),
        // The EL is ahead of the head: the caller must reconcile, not try elsewhere.
        ClientError::BuildSkipped { .. } => false,
        _ => false,
    }
}

/// A call `member`'s lane would not take: a full lane is a stuck endpoint (lagging, and
/// passed over like an unusable one); a lane that is gone is [`ClientError::LaneFailed`].
fn lane_refused(member: &Member, refused: lane::Refused) -> ClientError {
    member.client.health().set_lagging(true);
    let endpoint = member.client.name();
    match refused {
        lane::Refused::Full => EngineError::NoUsableEndpoint {
            reason: format!("{endpoint}: too many calls waiting (the endpoint is stuck)"),
        }
        .into(),
        lane::Refused::Gone => ClientError::LaneFailed {
            endpoint: endpoint.to_string(),
            reason: "its lane stopped (the runtime is shutting down)".into(),
        },
    }
}

/// `f(client)` in `member`'s lane: its answer, or why the lane refused it.
async fn in_lane<T, F, Fut>(member: &Member, f: F) -> Result<T, ClientError>
where
    T: Send + 'static,
    F: FnOnce(EngineClient) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, ClientError>> + Send + 'static,
{
    match member.lane.run(&member.client, f).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => Err(e),
        Err(refused) => Err(lane_refused(member, refused)),
    }
}

/// fcU with attributes, then, `lookahead` later, getPayload on one endpoint. Without a
/// lookahead both run as one call of the endpoint's lane (one task, and the pair completes
/// even if the caller stops waiting, as before there was a lookahead); with one, each is its
/// own call and the lane serves others while the EL fills the block. Never a zero sleep:
/// the timer rounds its deadline up to the next millisecond, half a block at the devnet's
/// fastest.
async fn build_on(
    member: &Member,
    lookahead: Duration,
    parent: ForkchoiceState,
    attributes: PayloadAttributes,
    (fcu_version, get_version): (ApiVersion, ApiVersion),
    attempts: Attempts,
) -> Result<(PayloadId, GetPayloadResponse), ClientError> {
    if lookahead.is_zero() {
        return in_lane(member, move |c| async move {
            let payload_id = start_build(&c, parent, attributes, fcu_version, attempts).await?;
            Ok((payload_id, c.get_payload_with(get_version, payload_id, attempts).await?))
        })
        .await;
    }
    let payload_id = in_lane(member, move |c| async move {
        start_build(&c, parent, attributes, fcu_version, attempts).await
    })
    .await?;
    tokio::time::sleep(lookahead).await;
    in_lane(member, move |c| async move {
        Ok((payload_id, c.get_payload_with(get_version, payload_id, attempts).await?))
    })
    .await
}

/// fcU with attributes on one endpoint: the id of the build it started.
async fn start_build(
    client: &EngineClient,
    parent: ForkchoiceState,
    attributes: PayloadAttributes,
    fcu_version: ApiVersion,
    attempts: Attempts,
) -> Result<PayloadId, ClientError> {
    let outcome =
        client.forkchoice_updated_with(fcu_version, parent, Some(attributes), attempts).await?;
    outcome.payload_id.ok_or_else(|| {
        let endpoint = client.name().to_string();
        // VALID without a build: the spec-allowed skip of a head behind the EL's own.
        match outcome.status {
            PayloadStatus::Valid { .. } => {
                ClientError::BuildSkipped { endpoint, head: parent.head_block_hash }
            }
            status => ClientError::HeadNotValid { endpoint, status },
        }
    })
}

/// newPayload (with catch-up replay when the endpoint lacks the parent), then fcU.
async fn commit_on(
    client: &EngineClient,
    entry: RecentPayload,
    np_version: ApiVersion,
    fcu_version: ApiVersion,
    forkchoice: ForkchoiceState,
    attempts: Attempts,
    shared: Weak<Shared>,
) -> Result<EndpointCommit, EngineError> {
    let new_payload =
        |e: RecentPayload| client.new_payload_with(np_version, e.payload, e.sidecar, attempts);
    let mut status = new_payload(entry.clone()).await?;
    if status.is_undecided()
        && catch_up(client, entry.payload.parent_hash(), attempts, &shared).await?
    {
        status = new_payload(entry).await?;
    }
    if status.is_invalid() {
        return Ok(EndpointCommit { payload_status: Some(status), forkchoice: None });
    }
    let forkchoice =
        client.forkchoice_updated_with(fcu_version, forkchoice, None, attempts).await?;
    Ok(EndpointCommit { payload_status: Some(status), forkchoice: Some(forkchoice) })
}

/// fcU (no attributes); when the endpoint answers SYNCING or ACCEPTED because it lacks the
/// head (e.g. it was down while the others went on), the missing blocks are replayed to it
/// and the update is sent again, so a returning endpoint rejoins at once rather than at
/// the next commit.
async fn forkchoice_on(
    client: &EngineClient,
    version: ApiVersion,
    state: ForkchoiceState,
    attempts: Attempts,
    shared: Weak<Shared>,
) -> Result<EndpointCommit, EngineError> {
    let mut forkchoice = client.forkchoice_updated_with(version, state, None, attempts).await?;
    if forkchoice.status.is_undecided()
        && catch_up(client, state.head_block_hash, attempts, &shared).await?
    {
        forkchoice = client.forkchoice_updated_with(version, state, None, attempts).await?;
    }
    Ok(EndpointCommit { payload_status: None, forkchoice: Some(forkchoice) })
}

/// Replays to `client` the remembered chain ending at `tip` (inclusive), oldest first,
/// from just after the last head it accepted: the catch-up of a lagging endpoint. Returns
/// whether anything was replayed (so the caller's request is worth repeating); a replayed
/// payload that is not VALID ends the replay there.
async fn catch_up(
    client: &EngineClient,
    tip: B256,
    attempts: Attempts,
    shared: &Weak<Shared>,
) -> Result<bool, EngineError> {
    let Some(shared) = shared.upgrade() else { return Ok(false) };
    let chain = shared.recent().chain_to(tip, client.status().head);
    if chain.is_empty() {
        return Ok(false);
    }
    tracing::info!(
        endpoint = client.name(),
        blocks = chain.len(),
        "replaying to a lagging endpoint"
    );
    metrics::record_replay(client.name(), chain.len() as u64);
    for old in chain {
        let version =
            shared.schedule.version_for(EngineMethod::NewPayload, old.payload.timestamp());
        let RecentPayload { payload, sidecar } = RecentPayload::clone(&old);
        let replayed = client.new_payload_with(version, payload, sidecar, attempts).await?;
        if !replayed.is_valid() {
            tracing::warn!(endpoint = client.name(), status = ?replayed, "replay stopped");
            break;
        }
    }
    Ok(true)
}

/// Upchecks every endpoint at once, each in a task of its own on the pool's runtime, whose
/// panic (a bug) is recorded on its endpoint (see [`Health::on_panic`](crate::health)) and
/// reported as the endpoint's current state, so one bad upcheck neither stops the loop nor
/// hides the others. The tasks belong to a set owned by this future: dropping it (the pool's
/// upcheck loop aborted with the pool, a caller of `upcheck_now` giving up) aborts them.
async fn upcheck_all(shared: &Shared) -> Vec<EndpointState> {
    #[cfg(test)]
    let panic_at =
        shared.panic_upcheck.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    let mut tasks = JoinSet::new();
    let mut index_of = HashMap::with_capacity(shared.members.len());
    for (i, m) in shared.members.iter().enumerate() {
        let client = m.client.clone();
        #[cfg(test)]
        let panics = panic_at == Some(i);
        let task = tasks.spawn_on(
            async move {
                #[cfg(test)]
                assert!(!panics, "injected panic in an upcheck (test)");
                client.upcheck().await
            },
            &shared.runtime,
        );
        index_of.insert(task.id(), i);
    }
    let mut states: Vec<Option<EndpointState>> = vec![None; shared.members.len()];
    while let Some(done) = tasks.join_next_with_id().await {
        match done {
            Ok((id, state)) => {
                if let Some(&i) = index_of.get(&id) {
                    states[i] = Some(state);
                }
            }
            Err(e) => {
                if let Some(&i) = index_of.get(&e.id())
                    && e.is_panic()
                {
                    shared.members[i].client.health().on_panic("upcheck", &task_failure(e));
                }
            }
        }
    }
    // A task that panicked (or was cancelled by the runtime's shutdown) reports its
    // endpoint's current state.
    states
        .into_iter()
        .zip(&shared.members)
        .map(|(state, m)| state.unwrap_or_else(|| m.client.health().state()))
        .collect()
}

/// Upchecks every endpoint each `interval` until the pool is dropped.
async fn upcheck_loop(shared: Weak<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        upcheck_all(&shared).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read-only queries take turns over the fast in-sync endpoints and leave out, to the
    /// back, a slow one (over twice the fastest's latency), a lagging one and a syncing one;
    /// with fewer than two fast endpoints every query keeps the query order.
    #[test]
    fn reads_spread_over_fast_in_sync_endpoints() {
        let ms = |n| Some(Duration::from_millis(n));
        let synced = |name: &str, latency| EndpointStatus {
            state: EndpointState::Synced,
            latency_ewma: latency,
            ..EndpointStatus::unknown(name)
        };
        let status = vec![
            synced("a", ms(10)),
            synced("b", ms(20)),
            synced("c", ms(21)),
            EndpointStatus { lagging: true, ..synced("d", ms(1)) },
            synced("e", None),
            EndpointStatus { state: EndpointState::Syncing, ..synced("f", ms(1)) },
        ];
        let fronts: Vec<usize> = (0..6).map(|turn| spread_reads(&status, turn)[0]).collect();
        assert_eq!(fronts, [0, 1, 4, 0, 1, 4]);
        let order = spread_reads(&status, 1);
        assert_eq!(order, [1, 4, 0, 2, 5, 3], "the rest in query order");
        assert_eq!(order.len(), status.len());

        let one_fast = vec![synced("a", ms(10)), synced("b", ms(50))];
        for turn in 0..3 {
            assert_eq!(spread_reads(&one_fast, turn), query_order(&one_fast));
        }
    }

    /// Only answers that settle a commit end the search for a verdict.
    #[test]
    fn decisive_answers() {
        let valid = PayloadStatus::Valid { latest_valid_hash: B256::ZERO };
        let fcu = |status| ForkchoiceOutcome { status, payload_id: None };
        let c = |p, f| EndpointCommit { payload_status: p, forkchoice: f };
        assert!(c(Some(valid.clone()), Some(fcu(valid.clone()))).is_decisive());
        assert!(c(Some(valid.clone()), Some(fcu(valid.clone()))).reached_head());
        let invalid = PayloadStatus::Invalid { latest_valid_hash: None, validation_error: None };
        assert!(c(Some(invalid.clone()), None).is_decisive());
        assert!(!c(Some(invalid), None).reached_head());
        assert!(!c(Some(PayloadStatus::Syncing), Some(fcu(PayloadStatus::Syncing))).is_decisive());
        assert!(!c(Some(PayloadStatus::Accepted), None).is_decisive());
        assert!(c(None, Some(fcu(valid))).reached_head());
    }

    /// An upcheck that panics is recorded on its endpoint (counted, lagging) and reports the
    /// endpoint's current state; the other endpoints' upchecks and the next round run.
    #[tokio::test]
    async fn a_panicking_upcheck_is_recorded_and_the_next_round_runs() {
        let secret = crate::jwt::JwtSecret::from_hex(&"11".repeat(32)).unwrap();
        // Nothing listens on port 1: a real upcheck finds the endpoints offline.
        let config = |name: &str| ClientConfig {
            name: Some(name.into()),
            ..ClientConfig::new("http://127.0.0.1:1", secret.clone())
        };
        let mut config = PoolConfig::new(vec![config("a"), config("b")], ForkSchedule::default());
        config.upcheck_interval = Duration::from_secs(3600);
        let pool = ExecutionPool::start(config).unwrap();
        // The loop's first round runs at once; the next is an hour away. Let the first end so
        // that the injected panic is the next `upcheck_now`'s.
        let first_round = async {
            while pool.status().iter().any(|s| s.state != EndpointState::Offline) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), first_round).await.unwrap();
        *pool.shared.panic_upcheck.lock().unwrap() = Some(0);
        let states = pool.upcheck_now().await;
        assert_eq!(states, vec![EndpointState::Offline, EndpointState::Offline]);
        let status = pool.status();
        assert_eq!((status[0].panics, status[0].lagging), (1, true));
        assert!(status[0].last_error.as_deref().is_some_and(|e| e.contains("injected panic")));
        assert_eq!(status[1].panics, 0);
        let states = pool.upcheck_now().await;
        assert_eq!(states, vec![EndpointState::Offline, EndpointState::Offline]);
        assert_eq!(pool.status()[0].panics, 1);
    }

    /// Failures of one endpoint move a build on; refusals of the request do not.
    #[test]
    fn which_build_failures_fail_over() {
        let timeout = engine_types::TransportError::Timeout {
            method: "m".into(),
            after: Duration::from_secs(1),
        };
        assert!(worth_another_endpoint(&EngineError::from(timeout).into()));
        assert!(worth_another_endpoint(&EngineError::bad_response("m", "garbage").into()));
        let rpc = |code| {
            ClientError::from(EngineError::Rpc {
                method: "m".into(),
                code,
                message: String::new(),
                data: None,
            })
        };
        assert!(worth_another_endpoint(&rpc(engine_types::RpcErrorCode::UnknownPayload)));
        assert!(!worth_another_endpoint(&rpc(
            engine_types::RpcErrorCode::InvalidPayloadAttributes
        )));
        let syncing =
            ClientError::HeadNotValid { endpoint: "a".into(), status: PayloadStatus::Syncing };
        assert!(worth_another_endpoint(&syncing));
        let invalid = ClientError::HeadNotValid {
            endpoint: "a".into(),
            status: PayloadStatus::Invalid { latest_valid_hash: None, validation_error: None },
        };
        assert!(!worth_another_endpoint(&invalid));
        let skipped = ClientError::BuildSkipped { endpoint: "a".into(), head: B256::ZERO };
        assert!(!worth_another_endpoint(&skipped));
    }
}
