//! The Engine API wiring against real execution clients, without the actor: build a block
//! carrying two peg-ins through forkchoiceUpdated → getPayload, check its hash locally, import
//! it with newPayload, make it the head, and read the minted balances back.
//!
//! EthereumJS runs from the image `cargo xtask images` builds; Geth and Reth run when their
//! images are present locally (see `engine_testkit::containers`). Run with
//! `cargo nextest run -p engine-testkit --features containers -E 'test(/container_/)'`.
#![cfg(feature = "containers")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{B256, U256, address};
use alloy_rpc_types_engine::{
    CancunPayloadFields, ExecutionPayloadSidecar, ForkchoiceState, PayloadAttributes,
};
use engine_testkit::{
    JwtSecret,
    containers::{ElContainer, ElKind, EthereumJs, Geth, Reth},
    fixtures::GenesisBuilder,
};
use engine_types::{
    ApiVersion, EngineMethod, EngineRequest, Fork, ForkSchedule, ForkchoiceUpdatedWire,
    GetPayloadResponse, PayloadStatus, PayloadStatusWire, Satoshis,
    constants::{CHAIN_ID_DEV, DEAD_ADDRESS},
    pegin::{PegIn, pack_withdrawals},
};
use serde_json::{Value, json};
use std::time::Duration;

/// Timestamp of the block the scenario builds (the genesis is at 0).
const BLOCK_TIMESTAMP: u64 = 12;
/// Per-request timeout: far above the spec's 8 s so a slow machine does not fail the test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A JSON-RPC endpoint of the client; with a secret, every request carries a fresh token.
struct Rpc {
    http: reqwest::Client,
    url: String,
    jwt: Option<JwtSecret>,
}

impl Rpc {
    fn new(url: String, jwt: Option<JwtSecret>) -> Self {
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap();
        Self { http, url, jwt }
    }

    /// POST one request, minting the token now (a cached token breaks after a minute of
    /// skew); `token` overrides the minted one.
    async fn post(&self, method: &str, params: &Value, token: Option<String>) -> reqwest::Response {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token.or_else(|| self.jwt.as_ref().map(|s| s.mint().unwrap())) {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Call and return `result`, failing the test on an HTTP or JSON-RPC error.
    async fn call(&self, method: &str, params: Value) -> Value {
        let response = self.post(method, &params, None).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method}: HTTP {status}: {text}");
        let mut reply: Value = serde_json::from_str(&text).unwrap();
        assert!(reply.get("error").is_none(), "{method} failed: {text}");
        reply["result"].take()
    }

    async fn engine(&self, request: &EngineRequest) -> Value {
        self.call(request.method_name(), serde_json::to_value(request).unwrap()).await
    }
}

fn genesis(forks: ForkSchedule) -> alloy_genesis::Genesis {
    GenesisBuilder::new(CHAIN_ID_DEV).forks(forks).build().unwrap()
}

fn peg_ins() -> [PegIn; 2] {
    [
        PegIn {
            evm_address: address!("0x1111111111111111111111111111111111111111"),
            amount: Satoshis(150_000_000),
            bitcoin_txid: B256::repeat_byte(0xb1),
        },
        PegIn {
            evm_address: address!("0x2222222222222222222222222222222222222222"),
            amount: Satoshis(2_500),
            bitcoin_txid: B256::repeat_byte(0xb2),
        },
    ]
}

fn hash(value: &Value) -> B256 {
    serde_json::from_value(value.clone()).unwrap()
}

/// Build, verify, import and adopt one block with two peg-ins on a chain where `fork` is
/// active from genesis, using the Engine API versions of that fork.
async fn peg_in_block<K: ElKind>(fork: Fork) {
    let forks = ForkSchedule::all_from_genesis(fork);
    let jwt = JwtSecret::random();
    let Some(el) = ElContainer::<K>::start_or_skip(&genesis(forks), &jwt).await.unwrap() else {
        return;
    };
    let engine = Rpc::new(el.engine_url(), Some(jwt));
    let eth = Rpc::new(el.rpc_url(), None);
    let version = |method| forks.version_for(method, BLOCK_TIMESTAMP);
    let (fcu_v, get_v, new_v) = (
        version(EngineMethod::ForkchoiceUpdated),
        version(EngineMethod::GetPayload),
        version(EngineMethod::NewPayload),
    );
    let expected = match fork {
        Fork::Cancun => ApiVersion::V3,
        _ => ApiVersion::V2,
    };
    assert_eq!((fcu_v, get_v, new_v), (expected, expected, expected));

    // The client offers every method this scenario calls.
    let ours: Vec<String> = EngineMethod::capabilities().into_iter().map(str::to_owned).collect();
    let offered = engine.engine(&EngineRequest::ExchangeCapabilities(ours)).await;
    let offered: Vec<String> = serde_json::from_value(offered).unwrap();
    for (method, v) in [
        (EngineMethod::ForkchoiceUpdated, fcu_v),
        (EngineMethod::GetPayload, get_v),
        (EngineMethod::NewPayload, new_v),
    ] {
        let name = method.rpc_name(v).unwrap();
        assert!(offered.iter().any(|m| m == name), "{} does not offer {name}", K::NAME);
    }

    let genesis_block = eth.call("eth_getBlockByNumber", json!(["0x0", false])).await;
    let genesis_hash = hash(&genesis_block["hash"]);

    // Two peg-ins become two withdrawals of the next block.
    let peg_ins = peg_ins();
    let batch = pack_withdrawals(&peg_ins, 0).unwrap();
    assert_eq!(batch.withdrawals.len(), 2);
    let beacon_root = (fork == Fork::Cancun).then(|| B256::repeat_byte(0xbe));
    let attributes = PayloadAttributes {
        timestamp: BLOCK_TIMESTAMP,
        prev_randao: B256::repeat_byte(0x42),
        suggested_fee_recipient: DEAD_ADDRESS,
        withdrawals: Some(batch.withdrawals.clone()),
        parent_beacon_block_root: beacon_root,
        slot_number: None,
        target_gas_limit: None,
    };
    let on_genesis = ForkchoiceState {
        head_block_hash: genesis_hash,
        safe_block_hash: genesis_hash,
        finalized_block_hash: genesis_hash,
    };
    let request = EngineRequest::forkchoice_updated(fcu_v, on_genesis, Some(attributes)).unwrap();
    let reply: ForkchoiceUpdatedWire =
        serde_json::from_value(engine.engine(&request).await).unwrap();
    let outcome = reply.check(request.method_name(), genesis_hash, true).unwrap();
    assert_eq!(outcome.status, PayloadStatus::Valid { latest_valid_hash: genesis_hash });
    let payload_id = outcome.payload_id.expect("a build was started");

    let request = EngineRequest::get_payload(get_v, payload_id).unwrap();
    let built = engine.engine(&request).await;
    let built = GetPayloadResponse::from_json(get_v, &built.to_string()).unwrap();
    let payload = built.payload;
    assert_eq!(payload.parent_hash(), genesis_hash);
    assert_eq!(payload.timestamp(), BLOCK_TIMESTAMP);
    assert_eq!(payload.fee_recipient(), DEAD_ADDRESS);
    assert_eq!(payload.withdrawals(), Some(&batch.withdrawals));

    // The block hash is what the header built from the payload hashes to.
    let sidecar = match beacon_root {
        Some(root) => ExecutionPayloadSidecar::v3(CancunPayloadFields::new(root, Vec::new())),
        None => ExecutionPayloadSidecar::none(),
    };
    let block = payload.clone().into_block_with_sidecar_raw(&sidecar).unwrap();
    let block_hash = payload.block_hash();
    assert_eq!(block.header.hash_slow(), block_hash, "block hash does not match its header");

    // The same payload under a hash its header does not have is refused, and not as VALID.
    let mut forged = payload.clone();
    forged.as_v1_mut().block_hash = B256::repeat_byte(0xee);
    let request = EngineRequest::new_payload(new_v, forged, sidecar.clone()).unwrap();
    let status: PayloadStatusWire = serde_json::from_value(engine.engine(&request).await).unwrap();
    let status = status.check_new_payload(request.method_name(), B256::repeat_byte(0xee)).unwrap();
    assert!(status.is_invalid(), "{} accepted a forged block hash: {status:?}", K::NAME);

    let request = EngineRequest::new_payload(new_v, payload, sidecar).unwrap();
    let status: PayloadStatusWire = serde_json::from_value(engine.engine(&request).await).unwrap();
    let status = status.check_new_payload(request.method_name(), block_hash).unwrap();
    assert_eq!(status, PayloadStatus::Valid { latest_valid_hash: block_hash });

    let on_block = ForkchoiceState {
        head_block_hash: block_hash,
        safe_block_hash: block_hash,
        finalized_block_hash: genesis_hash,
    };
    let request = EngineRequest::forkchoice_updated(fcu_v, on_block, None).unwrap();
    let reply: ForkchoiceUpdatedWire =
        serde_json::from_value(engine.engine(&request).await).unwrap();
    let outcome = reply.check(request.method_name(), block_hash, false).unwrap();
    assert_eq!(outcome.status, PayloadStatus::Valid { latest_valid_hash: block_hash });

    let head = eth.call("eth_getBlockByNumber", json!(["latest", false])).await;
    assert_eq!(hash(&head["hash"]), block_hash, "the new block is not the head");
    for peg_in in peg_ins {
        let balance = eth.call("eth_getBalance", json!([peg_in.evm_address, "latest"])).await;
        let balance: U256 = serde_json::from_value(balance).unwrap();
        assert_eq!(balance, peg_in.amount.to_wei(), "balance of {}", peg_in.evm_address);
    }
    // Fees are burned at the dead address, which no withdrawal touched.
    let dead = eth.call("eth_getBalance", json!([DEAD_ADDRESS, "latest"])).await;
    assert_eq!(serde_json::from_value::<U256>(dead).unwrap(), U256::ZERO);
}

/// EthereumJS builds and imports a Shanghai block of two peg-ins over the V2 methods.
#[tokio::test(flavor = "multi_thread")]
async fn container_ethereumjs_shanghai_peg_in_block() {
    peg_in_block::<EthereumJs>(Fork::Shanghai).await;
}

/// EthereumJS builds and imports a Cancun block of two peg-ins over the V3 methods.
#[tokio::test(flavor = "multi_thread")]
async fn container_ethereumjs_cancun_peg_in_block() {
    peg_in_block::<EthereumJs>(Fork::Cancun).await;
}

/// Geth passes the Shanghai scenario (runs when its image is present).
#[tokio::test(flavor = "multi_thread")]
async fn container_geth_shanghai_peg_in_block() {
    peg_in_block::<Geth>(Fork::Shanghai).await;
}

/// Geth passes the Cancun scenario (runs when its image is present).
#[tokio::test(flavor = "multi_thread")]
async fn container_geth_cancun_peg_in_block() {
    peg_in_block::<Geth>(Fork::Cancun).await;
}

/// Reth passes the Shanghai scenario (runs when its image is present).
#[tokio::test(flavor = "multi_thread")]
async fn container_reth_shanghai_peg_in_block() {
    peg_in_block::<Reth>(Fork::Shanghai).await;
}

/// Reth passes the Cancun scenario (runs when its image is present).
#[tokio::test(flavor = "multi_thread")]
async fn container_reth_cancun_peg_in_block() {
    peg_in_block::<Reth>(Fork::Cancun).await;
}

/// The engine port refuses a token signed with another secret, and no token at all, with
/// HTTP 401, while the right secret is accepted.
#[tokio::test(flavor = "multi_thread")]
async fn container_ethereumjs_rejects_wrong_jwt() {
    let jwt = JwtSecret::random();
    let genesis = genesis(ForkSchedule::shanghai_from_genesis());
    let Some(el) = ElContainer::<EthereumJs>::start_or_skip(&genesis, &jwt).await.unwrap() else {
        return;
    };
    let engine = Rpc::new(el.engine_url(), None);
    let request = EngineRequest::ExchangeCapabilities(vec!["engine_newPayloadV2".to_owned()]);
    let (method, params) = (request.method_name(), serde_json::to_value(&request).unwrap());

    let wrong = JwtSecret::random().mint().unwrap();
    assert_eq!(engine.post(method, &params, Some(wrong)).await.status(), 401);
    assert_eq!(engine.post(method, &params, None).await.status(), 401);
    let right = jwt.mint().unwrap();
    assert_eq!(engine.post(method, &params, Some(right)).await.status(), 200);
}
