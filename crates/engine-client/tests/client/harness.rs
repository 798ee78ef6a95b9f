//! Shared setup: mocks, client configs (timeouts generous unless a test means a call to time
//! out), attributes per fork, a helper that produces one block through the version-picking
//! layer, and a [`Driver`] of a pool.

use engine_client::{
    client::{ClientConfig, EngineClient},
    jwt::JwtSecret,
    pool::{CommitOutcome, ExecutionPool, PoolConfig},
};
use engine_testkit::ElPorts;
use engine_testkit::{MockEl, MockElConfig};
use engine_types::{
    EngineError, EngineMethod, Fork, ForkSchedule, ForkchoiceOutcome, GetPayloadResponse,
    PayloadStatus,
    config::{RetryConfig, TimeoutConfig},
    constants::DEAD_ADDRESS,
    eips::eip4895::Withdrawal,
    engine::{
        CancunPayloadFields, ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState,
        PayloadAttributes, PayloadId, PraguePayloadFields,
    },
    primitives::{Address, B256},
};
use std::{future::Future, time::Duration};

/// The timeout of a call a test means to time out (a hang, a long delay): short, so a hang
/// costs little. Only such calls get it ([`timeouts`]); a call a test expects answered must
/// not fail because a loaded host was slow.
pub(crate) const SHORT: Duration = Duration::from_millis(400);

/// The timeout of every other call: a local mock answers in milliseconds, but a shared
/// 2-core host can stall a test for hundreds, and a timeout there would fail the call or,
/// retried, add an attempt the mock still records.
pub(crate) const ANSWERED: Duration = Duration::from_secs(10);

/// Every method's timeout set to `after`.
pub(crate) const fn timeouts(after: Duration) -> TimeoutConfig {
    TimeoutConfig {
        forkchoice_updated: after,
        get_payload: after,
        new_payload: after,
        exchange_capabilities: after,
        get_client_version: after,
        get_payload_bodies: after,
        eth: after,
    }
}

pub(crate) async fn mock(fork: Fork) -> MockEl {
    MockEl::start(MockElConfig::with_forks(ForkSchedule::all_from_genesis(fork))).await.unwrap()
}

pub(crate) fn secret_of(el: &MockEl) -> JwtSecret {
    JwtSecret::from_hex(&el.jwt_secret_hex()).unwrap()
}

/// A [`Driver::with`] tweak: `el`'s calls time out after [`SHORT`] (a test makes it hang),
/// every other endpoint's keep [`ANSWERED`].
pub(crate) fn short_for(el: &MockEl) -> impl Fn(&mut ClientConfig) + use<> {
    let url = el.engine_url();
    move |c| {
        if c.url == url {
            c.timeouts = timeouts(SHORT);
        }
    }
}

/// A client config for `el`: [`ANSWERED`] timeouts, quick retries.
pub(crate) fn config(el: &MockEl) -> ClientConfig {
    let mut c = ClientConfig::new(el.engine_url(), secret_of(el));
    c.timeouts = timeouts(ANSWERED);
    c.retry = RetryConfig {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
        jitter: 0.2,
    };
    c
}

pub(crate) fn client(el: &MockEl) -> EngineClient {
    EngineClient::new(config(el)).unwrap()
}

pub(crate) fn forkchoice(head: B256) -> ForkchoiceState {
    ForkchoiceState {
        head_block_hash: head,
        safe_block_hash: head,
        finalized_block_hash: B256::ZERO,
    }
}

/// Attributes for a child of a block with `parent_timestamp`, shaped for the fork at the
/// child's timestamp; one peg-in withdrawal from Shanghai on.
pub(crate) fn attributes(schedule: &ForkSchedule, parent_timestamp: u64) -> PayloadAttributes {
    let timestamp = parent_timestamp + 2;
    let fork = schedule.fork_at(timestamp);
    PayloadAttributes {
        timestamp,
        prev_randao: B256::repeat_byte(0x5a),
        suggested_fee_recipient: DEAD_ADDRESS,
        withdrawals: (fork >= Fork::Shanghai).then(|| {
            vec![Withdrawal {
                index: parent_timestamp,
                validator_index: 0,
                address: Address::repeat_byte(0xaa),
                amount: 10_000_000,
            }]
        }),
        parent_beacon_block_root: (fork >= Fork::Cancun).then(|| B256::repeat_byte(0xbe)),
        slot_number: None,
        target_gas_limit: None,
    }
}

/// The sidecar `newPayload` needs for a payload built with `attrs`.
pub(crate) fn sidecar(
    attrs: &PayloadAttributes,
    schedule: &ForkSchedule,
) -> ExecutionPayloadSidecar {
    match attrs.parent_beacon_block_root {
        None => ExecutionPayloadSidecar::none(),
        Some(root) => {
            let cancun = CancunPayloadFields::new(root, vec![]);
            if schedule.fork_at(attrs.timestamp) >= Fork::Prague {
                ExecutionPayloadSidecar::v4(
                    cancun,
                    PraguePayloadFields::new(engine_types::eips::eip7685::Requests::default()),
                )
            } else {
                ExecutionPayloadSidecar::v3(cancun)
            }
        }
    }
}

/// Builds on `el`'s head and commits the result: fcU(attrs) → getPayload → newPayload →
/// fcU(new head), each in the version the schedule picks. Returns the new block.
/// One client whose calls take the version of the fork at the timestamp they concern (never
/// the wall clock), as the pool picks them.
#[derive(Debug, Clone)]
pub(crate) struct Versioned {
    client: EngineClient,
    schedule: ForkSchedule,
}

impl Versioned {
    pub(crate) const fn new(client: EngineClient, schedule: ForkSchedule) -> Self {
        Self { client, schedule }
    }

    pub(crate) const fn inner(&self) -> &EngineClient {
        &self.client
    }

    pub(crate) const fn schedule(&self) -> &ForkSchedule {
        &self.schedule
    }

    /// `forkchoiceUpdated` in the version of the attributes' timestamp, or, without
    /// attributes, of `head_timestamp`.
    pub(crate) async fn forkchoice_updated(
        &self,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
        head_timestamp: u64,
    ) -> Result<ForkchoiceOutcome, EngineError> {
        let ts = attributes.as_ref().map_or(head_timestamp, |a| a.timestamp);
        let version = self.schedule.version_for(EngineMethod::ForkchoiceUpdated, ts);
        self.client.forkchoice_updated(version, state, attributes).await
    }

    /// `getPayload` in the version of the build's timestamp.
    pub(crate) async fn get_payload(
        &self,
        payload_id: PayloadId,
        timestamp: u64,
    ) -> Result<GetPayloadResponse, EngineError> {
        let version = self.schedule.version_for(EngineMethod::GetPayload, timestamp);
        self.client.get_payload(version, payload_id).await
    }

    /// `newPayload` in the version of the payload's timestamp.
    pub(crate) async fn new_payload(
        &self,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
    ) -> Result<PayloadStatus, EngineError> {
        let version = self.schedule.version_for(EngineMethod::NewPayload, payload.timestamp());
        self.client.new_payload(version, payload, sidecar).await
    }
}

pub(crate) async fn produce(el: &MockEl, api: &Versioned) -> ExecutionPayload {
    let head = el.head();
    let attrs = attributes(api.schedule(), head.header.timestamp);
    let sidecar = sidecar(&attrs, api.schedule());
    let ts = attrs.timestamp;
    let started = api.forkchoice_updated(forkchoice(head.hash), Some(attrs), 0).await.unwrap();
    let id = started.payload_id.expect("a build starts on a VALID head");
    let built = api.get_payload(id, ts).await.unwrap();
    let payload = built.payload;
    assert_eq!(payload.parent_hash(), head.hash);
    let status = api.new_payload(payload.clone(), sidecar).await.unwrap();
    assert_eq!(status, PayloadStatus::Valid { latest_valid_hash: payload.block_hash() });
    let head = api.forkchoice_updated(forkchoice(payload.block_hash()), None, ts).await.unwrap();
    assert!(head.status.is_valid());
    payload
}

/// The versioned method names `el` received, in order, without the health checks.
pub(crate) fn engine_calls(el: &MockEl) -> Vec<String> {
    el.all_calls()
        .into_iter()
        .map(|c| c.method)
        .filter(|m| m.starts_with("engine_") && m != "engine_exchangeCapabilities")
        .collect()
}

/// The method name of `method` at `fork`.
pub(crate) fn name(method: EngineMethod, fork: Fork) -> &'static str {
    method.rpc_name(method.version_at(fork)).unwrap()
}

/// Polls `check` every few milliseconds until it holds or `within` passes.
pub(crate) async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The chain as the consensus side sees it.
pub(crate) struct Driver {
    pub(crate) pool: ExecutionPool,
    pub(crate) head: B256,
    pub(crate) timestamp: u64,
}

impl Driver {
    /// A driver of a pool of `els`, best first, at their genesis.
    pub(crate) async fn new(els: &[&MockEl]) -> Self {
        Self::with(els, |_| {}).await
    }

    /// A driver whose endpoints' configs are adjusted by `tweak` first.
    pub(crate) async fn with(els: &[&MockEl], tweak: impl Fn(&mut ClientConfig)) -> Self {
        let configs = els.iter().map(|el| {
            let mut c = config(el);
            tweak(&mut c);
            c
        });
        let mut cfg = PoolConfig::new(configs.collect(), ForkSchedule::default());
        // Upchecks run when a test asks, so that they do not race its assertions.
        cfg.upcheck_interval = Duration::from_secs(3600);
        let pool = ExecutionPool::start(cfg).unwrap();
        let genesis = els[0].genesis();
        Self { pool, head: genesis.hash, timestamp: genesis.header.timestamp }
    }

    /// The name of endpoint `i`.
    pub(crate) fn name(&self, i: usize) -> String {
        self.pool.status()[i].name.clone()
    }

    /// Builds on the head and commits the block; returns where it was built and the verdict.
    pub(crate) async fn produce(&mut self) -> (String, bool, CommitOutcome) {
        let attrs = attributes(&ForkSchedule::default(), self.timestamp);
        let built = self.pool.build_payload(forkchoice(self.head), attrs).await.unwrap();
        let payload = built.response.payload.clone();
        assert_eq!(payload.parent_hash(), self.head);
        let hash = payload.block_hash();
        let outcome = self.pool.commit(payload, built.sidecar, forkchoice(hash)).await.unwrap();
        assert!(outcome.is_valid(), "{outcome:?}");
        self.head = hash;
        self.timestamp += 2;
        (built.endpoint, built.failed_over, outcome)
    }
}
