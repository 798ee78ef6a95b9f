//! One execution client's Engine API: [`EngineClient`], one method per Engine API call over
//! an authenticated [`HttpTransport`], with the policy around every call in one place
//! (`EngineClient::send`): capability check, circuit breaker, per-method timeout, retries
//! of idempotent calls, and health bookkeeping.

use crate::{
    EngineResult,
    capabilities::{Capabilities, Lookup},
    error::ClientError,
    health::{EndpointState, EndpointStatus, Health},
    jwt::{JwtAuth, JwtSecret, read_secret_file},
    metrics,
    retry::{RetryPolicy, is_idempotent, retrying},
    transport::{HttpTransport, ReadResult, ResultReader, TransportOptions},
    urls::redact_url,
};
use alloy_rpc_types_eth::SyncStatus;
use engine_types::{
    ApiVersion, EngineError, EngineMethod, EngineRequest, ForkchoiceOutcome, ForkchoiceUpdatedWire,
    GetPayloadResponse, GetPayloadSeed, PayloadStatus, PayloadStatusWire,
    config::{EndpointConfig, EngineConfig, HealthConfig, RetryConfig, TimeoutConfig},
    engine::{
        ClientVersionV1, ExecutionPayload, ExecutionPayloadBodyV1, ExecutionPayloadSidecar,
        ForkchoiceState, PayloadAttributes, PayloadId,
    },
    primitives::B256,
};
use std::{fmt, marker::PhantomData, path::PathBuf, sync::Arc, time::Duration};
use tokio::sync::watch;

/// Default lifetime of a learned capability list.
pub const DEFAULT_CAPABILITIES_TTL: Duration = Duration::from_secs(60);

/// Everything one [`EngineClient`] needs. Its `Debug` shows the URL and the proxy redacted
/// and never the secret.
#[derive(Clone)]
pub struct ClientConfig {
    /// Name in logs, metrics and errors (default: the URL's host and port).
    pub name: Option<String>,
    /// The authenticated Engine API URL.
    pub url: String,
    /// The JWT secret shared with the EL.
    pub secret: JwtSecret,
    /// The file `secret` was read from. When set, the client follows it: a rotated secret
    /// is used from the next request on, without a restart, and a file that becomes invalid
    /// keeps the current secret (see [`crate::jwt`]). `None`: `secret` is used for good.
    pub secret_file: Option<PathBuf>,
    /// Optional `id` claim.
    pub jwt_id: Option<String>,
    /// Optional `clv` claim.
    pub jwt_clv: Option<String>,
    /// Per-method timeouts.
    pub timeouts: TimeoutConfig,
    /// Retries of idempotent calls.
    pub retry: RetryConfig,
    /// Upcheck interval and breaker thresholds.
    pub health: HealthConfig,
    /// Largest response body accepted.
    pub max_response_bytes: u64,
    /// How long a learned capability list is trusted.
    pub capabilities_ttl: Duration,
    /// The proxy Engine API requests go through (`http://`, `https://` or `socks5://` URL).
    /// `None` (the default): no proxy, and `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` are
    /// ignored; Engine API traffic carries the JWT and should not follow a proxy set for
    /// other programs.
    pub proxy: Option<String>,
    /// A PEM file of extra root certificates for an `https://` execution client, trusted on
    /// top of the platform's (default: none).
    pub tls_ca_bundle: Option<PathBuf>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("secret", &self.secret)
            .field("secret_file", &self.secret_file)
            .field("jwt_id", &self.jwt_id)
            .field("jwt_clv", &self.jwt_clv)
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("health", &self.health)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("capabilities_ttl", &self.capabilities_ttl)
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .field("tls_ca_bundle", &self.tls_ca_bundle)
            .finish()
    }
}

impl ClientConfig {
    /// A client of `url` with `secret` and the default policy.
    pub fn new(url: impl Into<String>, secret: JwtSecret) -> Self {
        let engine = EngineConfig::default();
        Self {
            name: None,
            url: url.into(),
            secret,
            secret_file: None,
            jwt_id: None,
            jwt_clv: None,
            timeouts: engine.timeouts,
            retry: engine.retry,
            health: engine.health,
            max_response_bytes: engine.max_response_bytes,
            capabilities_ttl: DEFAULT_CAPABILITIES_TTL,
            proxy: None,
            tls_ca_bundle: None,
        }
    }

    /// The client of one configured endpoint, reading its JWT secret file (size-capped,
    /// warning when others may read it) and following it for rotation, with the endpoint's
    /// proxy and CA bundle. A missing or bad secret is an error naming the endpoint's file
    /// and the problem.
    pub fn from_config(
        endpoint: &EndpointConfig,
        engine: &EngineConfig,
    ) -> Result<Self, ClientError> {
        let path = endpoint.jwt_secret_file.as_deref().ok_or_else(|| ClientError::JwtSecret {
            path: None,
            problem: format!(
                "no jwt_secret_file configured for {}",
                redact_url(&endpoint.engine_url)
            ),
        })?;
        let secret = read_secret_file(path)?;
        Ok(Self {
            secret_file: Some(path.to_path_buf()),
            name: endpoint.name.clone(),
            jwt_id: endpoint.jwt_id.clone(),
            timeouts: engine.timeouts,
            retry: engine.retry,
            health: engine.health,
            max_response_bytes: engine.max_response_bytes,
            proxy: endpoint.proxy.clone(),
            tls_ca_bundle: endpoint.tls_ca_bundle.clone(),
            ..Self::new(endpoint.engine_url.clone(), secret)
        })
    }
}

impl ClientConfig {
    /// The signer of this endpoint's tokens: following `secret_file` when set.
    pub(crate) fn auth(&self) -> JwtAuth {
        let (id, clv) = (self.jwt_id.clone(), self.jwt_clv.clone());
        match &self.secret_file {
            Some(path) => JwtAuth::watching(&self.secret, path, id, clv),
            None => JwtAuth::new(&self.secret, id, clv),
        }
    }

    /// How the transport reaches the endpoint.
    pub(crate) fn transport_options(&self) -> TransportOptions {
        TransportOptions {
            max_response_bytes: self.max_response_bytes,
            proxy: self.proxy.clone(),
            tls_ca_bundle: self.tls_ca_bundle.clone(),
        }
    }
}

/// What a JSON-RPC error answer says about the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RpcErrors {
    /// Judged by its code: internal and server errors are the endpoint's fault.
    ByCode,
    /// Any code proves the endpoint reachable and authenticated: the health probe, which
    /// EthereumJS without peers answers with -32603 while its Engine API works.
    Reachable,
}

/// Whether a call may be repeated on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempts {
    /// The client's retry policy (for idempotent calls).
    Policy,
    /// One attempt: the caller has somewhere else to go (the pool fails over instead).
    Once,
}

struct Inner {
    transport: HttpTransport,
    timeouts: TimeoutConfig,
    retry: RetryPolicy,
    health: Health,
    capabilities: Capabilities,
}

/// The Engine API client of one execution client. Cheap to clone (shared state).
#[derive(Clone)]
pub struct EngineClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for EngineClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineClient")
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

impl EngineClient {
    /// A client for `config`. Fails only on configuration problems (bad URL, proxy, TLS
    /// setup); nothing is sent yet. Warns once when the JWT would travel in clear text
    /// (plain `http://` to a host that is not loopback).
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let auth = config.auth();
        let options = config.transport_options();
        let transport = HttpTransport::with_options(&config.url, config.name, Some(auth), options)?;
        let health = Health::new(transport.name(), &config.health);
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                timeouts: config.timeouts,
                retry: RetryPolicy::new(config.retry),
                health,
                capabilities: Capabilities::new(
                    config.capabilities_ttl,
                    config.health.upcheck_interval,
                ),
            }),
        })
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        self.inner.transport.name()
    }

    /// The endpoint's current status.
    pub fn status(&self) -> EndpointStatus {
        self.inner.health.status()
    }

    /// Status changes, as they happen.
    pub fn subscribe(&self) -> watch::Receiver<EndpointStatus> {
        self.inner.health.subscribe()
    }

    pub(crate) fn health(&self) -> &Health {
        &self.inner.health
    }

    /// `eth_syncing` on the Engine API port: `None` when synced, the progress otherwise.
    ///
    /// This is the health probe: a JSON-RPC error answer (any code) is returned as
    /// [`EngineError::Rpc`] but counts as proof that the endpoint is reachable and accepts
    /// our JWT, not as a failure (see [`upcheck`](Self::upcheck)).
    pub async fn syncing(&self) -> EngineResult<SyncStatus> {
        let timeout = self.inner.timeouts.exchange_capabilities;
        let reader = ResultReader::typed();
        self.call("eth_syncing", &[(); 0], timeout, Attempts::Once, RpcErrors::Reachable, reader)
            .await
    }

    /// One health check: `eth_syncing`, then a capability refresh when the cached list is
    /// stale. Sets and returns the endpoint's state. Skipped (reporting the current state)
    /// while the breaker is open and cooling down.
    ///
    /// `false` gives `Synced` and a progress object `Syncing`. A JSON-RPC error answer
    /// (EthereumJS without peers: -32603 "no peer available for synchronization") proves
    /// the endpoint reachable but gives no sync state: it stays `Synced` or `Syncing` if it
    /// was, and is `Unknown` otherwise; the breaker counts a success. A refused JWT gives
    /// `AuthFailed`, any other failure `Offline`. When our own breaker refuses to send the
    /// probe (an AuthFailed endpoint cooling down), nothing was learned and the state is kept.
    pub async fn upcheck(&self) -> EndpointState {
        let health = &self.inner.health;
        if !health.accepts_requests() && health.state() != EndpointState::AuthFailed {
            let state = health.state();
            metrics::record_upcheck(self.name(), state);
            return state;
        }
        let verdict = match self.syncing().await {
            Ok(SyncStatus::None) => Some(EndpointState::Synced),
            Ok(SyncStatus::Info(_)) => Some(EndpointState::Syncing),
            // Answered without a sync state: `call` recorded it (`Health::on_probe_error`).
            Err(EngineError::Rpc { .. }) => None,
            // Only our breaker refuses a call this way: the probe was not sent.
            Err(EngineError::NoUsableEndpoint { .. }) => {
                let state = health.state();
                metrics::record_upcheck(self.name(), state);
                return state;
            }
            Err(EngineError::Auth { .. }) => Some(EndpointState::AuthFailed),
            Err(_) => Some(EndpointState::Offline),
        };
        if let Some(state) = verdict {
            health.set_state(state);
        }
        let state = health.state();
        if state == EndpointState::AuthFailed || state == EndpointState::Offline {
            self.inner.capabilities.clear();
        } else if !self.inner.capabilities.is_fresh(std::time::Instant::now()) {
            // A failure is stored as "unlearnable" by the refresh itself.
            let _ = self.refresh_capabilities().await;
        }
        metrics::record_upcheck(self.name(), state);
        state
    }

    /// Asks the EL for its capabilities and caches the answer (or the failure to get one).
    pub async fn refresh_capabilities(&self) -> EngineResult<Vec<String>> {
        let ours = EngineMethod::capabilities().into_iter().map(String::from).collect();
        self.exchange(ours, Attempts::Once).await
    }

    async fn exchange(&self, ours: Vec<String>, attempts: Attempts) -> EngineResult<Vec<String>> {
        let request = EngineRequest::ExchangeCapabilities(ours);
        let now = std::time::Instant::now();
        let method = request.method_name();
        let timeout = self.inner.timeouts.exchange_capabilities;
        // Straight to `call`: the capability check would ask for the list it is fetching.
        let reader = ResultReader::typed();
        let result: EngineResult<Vec<String>> =
            self.call(method, &request, timeout, attempts, RpcErrors::ByCode, reader).await;
        let learned = match &result {
            Ok(list) => Some(list.clone()),
            Err(_) => None,
        };
        self.inner.capabilities.store(learned, now);
        result
    }

    /// Refuses `request` if the EL's capability list lacks it, learning the list first when
    /// none is cached and the endpoint is reachable.
    async fn check_capability(&self, request: &EngineRequest) -> EngineResult<()> {
        let name = request.method_name();
        let caps = &self.inner.capabilities;
        let mut lookup = caps.lookup(name, std::time::Instant::now());
        // Unknown is worth asking: it may well answer (a new endpoint starts there).
        let reachable = !matches!(
            self.inner.health.state(),
            EndpointState::Offline | EndpointState::AuthFailed
        );
        if lookup == Lookup::Unknown && reachable {
            match self.refresh_capabilities().await {
                // The call itself would be refused the same way.
                Err(e @ EngineError::Auth { .. }) => return Err(e),
                _ => lookup = caps.lookup(name, std::time::Instant::now()),
            }
        }
        if lookup == Lookup::NotOffered {
            let (base, _) = metrics::split_method(name);
            let version = EngineMethod::from_rpc_name(name).map_or(ApiVersion::V1, |(_, v)| v);
            return Err(EngineError::Unsupported { method: base.to_string(), version });
        }
        Ok(())
    }

    /// Sends an Engine API request under the client's policy and reads its result.
    pub(crate) async fn send<R: ReadResult>(
        &self,
        request: &EngineRequest,
        attempts: Attempts,
        reader: R,
    ) -> EngineResult<R::Output> {
        self.check_capability(request).await?;
        let timeout = self.inner.timeouts.for_method(request.method());
        let attempts = if is_idempotent(request) { attempts } else { Attempts::Once };
        self.call(request.method_name(), request, timeout, attempts, RpcErrors::ByCode, reader)
            .await
    }

    /// Calls any method on the Engine API port under the breaker, the timeout and the retry
    /// policy, recording each attempt's outcome in the endpoint's health (a JSON-RPC error
    /// as `rpc_errors` says). A refusal of the breaker is
    /// [`EngineError::NoUsableEndpoint`], and nothing is sent.
    async fn call<P, R>(
        &self,
        method: &'static str,
        params: &P,
        timeout: Duration,
        attempts: Attempts,
        rpc_errors: RpcErrors,
        reader: R,
    ) -> EngineResult<R::Output>
    where
        P: serde::Serialize + ?Sized,
        R: ReadResult,
    {
        let policy = match attempts {
            Attempts::Policy => self.inner.retry,
            Attempts::Once => RetryPolicy::never(),
        };
        let health = &self.inner.health;
        retrying(policy, || async {
            if !health.allow() {
                return Err(EngineError::NoUsableEndpoint {
                    reason: format!("{}: circuit breaker open", self.name()),
                });
            }
            let started = std::time::Instant::now();
            let result = self.inner.transport.call(method, params, timeout, &reader).await;
            let latency = started.elapsed();
            let state = match (&result, rpc_errors) {
                (Err(e @ EngineError::Rpc { .. }), RpcErrors::Reachable) => {
                    health.on_probe_error(e, latency)
                }
                _ => health.on_outcome(result.as_ref().map(|_| ()), latency),
            };
            if matches!(state, EndpointState::Offline | EndpointState::AuthFailed) {
                self.inner.capabilities.clear();
            }
            result
        })
        .await
    }

    pub(crate) async fn forkchoice_updated_with(
        &self,
        version: ApiVersion,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
        attempts: Attempts,
    ) -> EngineResult<ForkchoiceOutcome> {
        let with_attributes = attributes.is_some();
        let request = EngineRequest::forkchoice_updated(version, state, attributes)?;
        let method = request.method_name();
        let head = state.head_block_hash;
        let outcome = self
            .send(
                &request,
                attempts,
                ResultReader::new(PhantomData::<ForkchoiceUpdatedWire>, |wire| {
                    wire.check(method, head, with_attributes)
                }),
            )
            .await?;
        self.note_status(&outcome.status, Some(head));
        Ok(outcome)
    }

    pub(crate) async fn get_payload_with(
        &self,
        version: ApiVersion,
        payload_id: PayloadId,
        attempts: Attempts,
    ) -> EngineResult<GetPayloadResponse> {
        let request = EngineRequest::get_payload(version, payload_id)?;
        self.send(&request, attempts, ResultReader::new(GetPayloadSeed(version), Ok)).await
    }

    pub(crate) async fn new_payload_with(
        &self,
        version: ApiVersion,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
        attempts: Attempts,
    ) -> EngineResult<PayloadStatus> {
        let block_hash = payload.block_hash();
        let request = EngineRequest::new_payload(version, payload, sidecar)?;
        let method = request.method_name();
        let status = self
            .send(
                &request,
                attempts,
                ResultReader::new(PhantomData::<PayloadStatusWire>, |wire| {
                    wire.check_new_payload(method, block_hash)
                }),
            )
            .await?;
        self.note_status(&status, None);
        Ok(status)
    }

    /// A SYNCING verdict says the endpoint is syncing; a VALID head says it is synced there.
    fn note_status(&self, status: &PayloadStatus, head: Option<B256>) {
        match (status, head) {
            (PayloadStatus::Syncing, _) => self.inner.health.set_state(EndpointState::Syncing),
            (PayloadStatus::Valid { .. }, Some(head)) => self.inner.health.set_head(head),
            _ => {}
        }
    }

    async fn bodies(
        &self,
        request: EngineRequest,
        max: usize,
        exact: bool,
    ) -> EngineResult<Vec<Option<ExecutionPayloadBodyV1>>> {
        let method = request.method_name();
        let seed = PhantomData::<Vec<Option<ExecutionPayloadBodyV1>>>;
        let reader = ResultReader::new(seed, |bodies: Vec<_>| {
            if bodies.len() > max || (exact && bodies.len() != max) {
                return Err(EngineError::bad_response(
                    method,
                    format!("{} bodies for {max} requested", bodies.len()),
                ));
            }
            Ok(bodies)
        });
        self.send(&request, Attempts::Policy, reader).await
    }
}

/// The Engine API of this one execution client: one method per JSON-RPC method, with an
/// explicit version (the pool picks versions from the fork schedule; a caller holding one
/// client does the same with [`ForkSchedule::version_for`](engine_types::ForkSchedule::version_for)),
/// each answer held to the spec before it is returned, under this client's retry policy.
impl EngineClient {
    /// `engine_forkchoiceUpdatedV{1,2,3}`: set the head (and safe/finalized); with
    /// attributes, start a build on it.
    pub async fn forkchoice_updated(
        &self,
        version: ApiVersion,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
    ) -> EngineResult<ForkchoiceOutcome> {
        self.forkchoice_updated_with(version, state, attributes, Attempts::Policy).await
    }

    /// `engine_getPayloadV{1,2,3,4}`: fetch a build.
    pub async fn get_payload(
        &self,
        version: ApiVersion,
        payload_id: PayloadId,
    ) -> EngineResult<GetPayloadResponse> {
        self.get_payload_with(version, payload_id, Attempts::Policy).await
    }

    /// `engine_newPayloadV{1,2,3,4}`: hand over a block to validate.
    pub async fn new_payload(
        &self,
        version: ApiVersion,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
    ) -> EngineResult<PayloadStatus> {
        self.new_payload_with(version, payload, sidecar, Attempts::Policy).await
    }

    /// `engine_exchangeCapabilities`: our methods in, the EL's out.
    pub async fn exchange_capabilities(&self, ours: Vec<String>) -> EngineResult<Vec<String>> {
        self.exchange(ours, Attempts::Policy).await
    }

    /// `engine_getClientVersionV1`: our version in, the EL's out (one per client in a
    /// multiplexer).
    pub async fn get_client_version(
        &self,
        ours: ClientVersionV1,
    ) -> EngineResult<Vec<ClientVersionV1>> {
        let request = EngineRequest::GetClientVersion(ours);
        self.send(&request, Attempts::Policy, ResultReader::typed()).await
    }

    /// `engine_getPayloadBodiesByHashV1`: one entry per hash, `None` for unknown blocks.
    pub async fn get_payload_bodies_by_hash(
        &self,
        hashes: Vec<B256>,
    ) -> EngineResult<Vec<Option<ExecutionPayloadBodyV1>>> {
        let n = hashes.len();
        self.bodies(EngineRequest::GetPayloadBodiesByHash(hashes), n, true).await
    }

    /// `engine_getPayloadBodiesByRangeV1`: `count` bodies from block `start`.
    pub async fn get_payload_bodies_by_range(
        &self,
        start: u64,
        count: u64,
    ) -> EngineResult<Vec<Option<ExecutionPayloadBodyV1>>> {
        let max = usize::try_from(count).unwrap_or(usize::MAX);
        self.bodies(EngineRequest::GetPayloadBodiesByRange { start, count }, max, false).await
    }
}
