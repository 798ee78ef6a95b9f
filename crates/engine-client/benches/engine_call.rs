//! An Engine API call through the client against a raw `reqwest` POST of the same bytes,
//! both to the same `MockEl`, for an empty payload and a 1,000-transaction payload, in both
//! directions: `engine_newPayloadV2` (the client serializes the payload) and
//! `engine_getPayloadV2` (the client parses it).
//!
//! The client's side is everything it does per call: serializing the request, minting the
//! JWT, the traceparent, the span and the metrics, reading the body under the size limit, the
//! envelope and typed parse, and the status check. The raw side
//! posts a pre-serialized body with a pre-minted token and does not parse the answer: it is
//! the floor.
//!
//! The mock recovers every transaction's signature on `newPayload`, so a 1,000-transaction
//! `newPayload` costs the mock ~0.5 s and is sampled less.
//!
//! After criterion's groups, a percentile pass interleaves the two sides (so drift hits both
//! alike) and prints p50/p99 and their ratio.
//!
//! `cargo bench -p engine-client --bench engine_call -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

/// Where `cargo xtask bench` reads the interleaved medians from.
#[path = "../../../xtask/src/pairs.rs"]
#[allow(dead_code)]
mod pairs;

use criterion::{BenchmarkId, Criterion};
use engine_client::{
    client::{ClientConfig, EngineClient},
    eth::{EthApi, EthClient},
    jwt::{JwtAuth, JwtSecret},
    retry::RetryPolicy,
    transport::{HttpTransport, ReadResult, ResultReader, decode_response, encode_request},
};
use engine_testkit::ElPorts;
use engine_testkit::{
    MockEl,
    fixtures::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{
    ApiVersion, EngineRequest, GetPayloadResponse, GetPayloadSeed, PayloadStatusWire, StatusKind,
    constants::{CHAIN_ID_DEV, DEAD_ADDRESS},
    eips::eip4895::Withdrawal,
    engine::{
        ExecutionPayload, ExecutionPayloadSidecar, ExecutionPayloadV2, ForkchoiceState,
        PayloadAttributes, PayloadId,
    },
    primitives::{Address, B256, U256},
};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Clone)]
enum Call {
    NewPayload(Box<ExecutionPayload>),
    GetPayload(PayloadId),
}

struct Case {
    method: &'static str,
    size: &'static str,
    call: Call,
    body: Vec<u8>,
    /// Calls per side in the percentile pass.
    rounds: usize,
}

/// A token re-minted every 30 s, inside the EL's ±60 s window, for the raw side.
struct Token {
    secret: JwtSecret,
    cached: Mutex<(Instant, String)>,
}

impl Token {
    fn get(&self) -> String {
        let mut c = self.cached.lock().unwrap();
        if c.0.elapsed() > Duration::from_secs(30) {
            *c = (Instant::now(), JwtAuth::new(&self.secret, None, None).token().unwrap());
        }
        c.1.clone()
    }
}

struct Setup {
    el: MockEl,
    client: Arc<EngineClient>,
    raw: reqwest::Client,
    token: Token,
    cases: Vec<Case>,
}

/// Starts a build on genesis with the transactions currently pending and imports it (not
/// as head), so that both its getPayload and its newPayload answer the same way every time.
async fn build(el: &MockEl, client: &EngineClient, randao: u8) -> (PayloadId, ExecutionPayload) {
    let genesis = el.genesis();
    let state = ForkchoiceState {
        head_block_hash: genesis.hash,
        safe_block_hash: B256::ZERO,
        finalized_block_hash: B256::ZERO,
    };
    let attrs = PayloadAttributes {
        timestamp: genesis.header.timestamp + 2,
        prev_randao: B256::repeat_byte(randao),
        suggested_fee_recipient: DEAD_ADDRESS,
        withdrawals: Some(vec![Withdrawal::default()]),
        parent_beacon_block_root: None,
        slot_number: None,
        target_gas_limit: None,
    };
    let id = client
        .forkchoice_updated(ApiVersion::V2, state, Some(attrs))
        .await
        .unwrap()
        .payload_id
        .unwrap();
    let payload = client.get_payload(ApiVersion::V2, id).await.unwrap().payload;
    let status =
        client.new_payload(ApiVersion::V2, payload.clone(), ExecutionPayloadSidecar::none()).await;
    assert!(status.unwrap().is_valid());
    (id, payload)
}

fn body(request: &EngineRequest) -> Vec<u8> {
    encode_request(1, request.method_name(), request).unwrap()
}

async fn setup() -> Setup {
    let el = MockEl::start(Default::default()).await.unwrap();
    let secret = JwtSecret::from_hex(&el.jwt_secret_hex()).unwrap();
    let client = EngineClient::new(ClientConfig::new(el.engine_url(), secret.clone())).unwrap();
    let (empty_id, empty) = build(&el, &client, 1).await;
    let public = EthClient::new(
        &el.public_url(),
        None,
        Duration::from_secs(5),
        RetryPolicy::never(),
        1 << 26,
    )
    .unwrap();
    let signer = dev_signer(0).unwrap();
    for nonce in 0..1000 {
        let t = Transfer::new(CHAIN_ID_DEV, nonce, Address::repeat_byte(0x42), U256::from(1));
        public.send_raw_transaction(sign_transfer(&signer, &t).unwrap()).await.unwrap();
    }
    let (full_id, full) = build(&el, &client, 2).await;
    assert_eq!(full.as_v1().transactions.len(), 1000);
    let np = |p: &ExecutionPayload| {
        body(
            &EngineRequest::new_payload(ApiVersion::V2, p.clone(), ExecutionPayloadSidecar::none())
                .unwrap(),
        )
    };
    let gp = |id| body(&EngineRequest::get_payload(ApiVersion::V2, id).unwrap());
    let cases = vec![
        Case {
            method: "new_payload",
            size: "empty",
            body: np(&empty),
            call: Call::NewPayload(Box::new(empty)),
            rounds: 2000,
        },
        Case {
            method: "get_payload",
            size: "empty",
            body: gp(empty_id),
            call: Call::GetPayload(empty_id),
            rounds: 2000,
        },
        Case {
            method: "get_payload",
            size: "1000_txs",
            body: gp(full_id),
            call: Call::GetPayload(full_id),
            rounds: 400,
        },
        Case {
            method: "new_payload",
            size: "1000_txs",
            body: np(&full),
            call: Call::NewPayload(Box::new(full)),
            rounds: 20,
        },
    ];
    let token = Token {
        cached: Mutex::new((Instant::now(), JwtAuth::new(&secret, None, None).token().unwrap())),
        secret,
    };
    Setup { el, client: Arc::new(client), raw: reqwest::Client::new(), token, cases }
}

async fn via_client(s: &Setup, case: &Case) {
    match &case.call {
        Call::NewPayload(p) => {
            let status = s
                .client
                .new_payload(ApiVersion::V2, (**p).clone(), ExecutionPayloadSidecar::none())
                .await;
            assert!(status.unwrap().is_valid());
        }
        Call::GetPayload(id) => {
            let built = s.client.get_payload(ApiVersion::V2, *id).await.unwrap();
            assert!(built.payload.block_number() == 1);
        }
    }
}

async fn via_raw(s: &Setup, case: &Case) -> impl AsRef<[u8]> + use<> {
    let response = s
        .raw
        .post(s.el.engine_url())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", s.token.get()))
        .body(case.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert!(!body.is_empty());
    body
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let s = rt.block_on(setup());
    let mut c = Criterion::default().configure_from_args();
    for case in &s.cases {
        let mut group = c.benchmark_group(format!("engine_call/{}", case.method));
        if case.rounds < 100 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("client", case.size), case, |b, case| {
            b.to_async(&rt).iter(|| via_client(&s, case));
        });
        group.bench_with_input(BenchmarkId::new("raw_reqwest", case.size), case, |b, case| {
            b.to_async(&rt).iter(|| via_raw(&s, case));
        });
        group.finish();
    }

    println!("\nengine_call percentiles (client vs raw reqwest, interleaved):");
    println!(
        "{:<24} {:>6} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7}",
        "case", "calls", "client p50", "raw p50", "client p99", "raw p99", "p50 x", "p99 x"
    );
    for case in &s.cases {
        let (mut ours, mut raw) = (Vec::new(), Vec::new());
        rt.block_on(async {
            for _ in 0..case.rounds {
                let t = Instant::now();
                via_client(&s, case).await;
                ours.push(t.elapsed());
                let t = Instant::now();
                via_raw(&s, case).await;
                raw.push(t.elapsed());
            }
        });
        ours.sort();
        raw.sort();
        let (o50, r50) = (percentile(&ours, 0.5), percentile(&raw, 0.5));
        pairs::record(
            &format!("engine_call/{}/client/{}", case.method, case.size),
            &format!("engine_call/{}/raw_reqwest/{}", case.method, case.size),
            o50,
            r50,
        );
        let (o99, r99) = (percentile(&ours, 0.99), percentile(&raw, 0.99));
        println!(
            "{:<24} {:>6} {:>11.1?} {:>11.1?} {:>11.1?} {:>11.1?} {:>7.3} {:>7.3}",
            format!("{}/{}", case.method, case.size),
            case.rounds,
            o50,
            r50,
            o99,
            r99,
            o50.as_secs_f64() / r50.as_secs_f64(),
            o99.as_secs_f64() / r99.as_secs_f64()
        );
    }
    breakdown(&mut c, &rt, &s);
    c.final_summary();
}

/// Where the client's time goes beyond the raw POST, piece by piece, for the 1,000-tx cases.
fn breakdown(c: &mut Criterion, rt: &tokio::runtime::Runtime, s: &Setup) {
    let (Some(get), Some(new)) = (
        s.cases.iter().find(|c| c.method == "get_payload" && c.size == "1000_txs"),
        s.cases.iter().find(|c| c.method == "new_payload" && c.size == "1000_txs"),
    ) else {
        return;
    };
    let Call::NewPayload(payload) = &new.call else { return };
    let answer = rt.block_on(via_raw(s, get)).as_ref().to_vec();
    let mut group = c.benchmark_group("engine_call/breakdown");
    // The empty newPayload through the bare transport (JWT, traceparent, timeout, span,
    // metrics, strict envelope), without the client's policy layer (capability check,
    // breaker, retries, health).
    if let Some(empty) = s.cases.iter().find(|c| c.method == "new_payload" && c.size == "empty") {
        let Call::NewPayload(p) = &empty.call else { return };
        let auth = JwtAuth::new(&s.token.secret, None, None);
        let transport = HttpTransport::new(&s.el.engine_url(), None, Some(auth), 1 << 26).unwrap();
        group.bench_function("new_payload_empty_transport_only", |b| {
            b.to_async(rt).iter(|| async {
                let request = EngineRequest::new_payload(
                    ApiVersion::V2,
                    (**p).clone(),
                    ExecutionPayloadSidecar::none(),
                )
                .unwrap();
                let reader = ResultReader::typed();
                let status: PayloadStatusWire = transport
                    .call(request.method_name(), &request, Duration::from_secs(8), &reader)
                    .await
                    .unwrap();
                assert_eq!(status.status, StatusKind::Valid);
            })
        });
        // The per-call deadline: one timer registered and cancelled on the runtime.
        group.bench_function("yield", |b| b.to_async(rt).iter(tokio::task::yield_now));
        group.bench_function("yield_under_timeout", |b| {
            b.to_async(rt)
                .iter(|| tokio::time::timeout(Duration::from_secs(8), tokio::task::yield_now()))
        });
        group.bench_function("new_payload_empty_client", |b| {
            b.to_async(rt).iter(|| via_client(s, empty))
        });
        group
            .bench_function("new_payload_empty_raw", |b| b.to_async(rt).iter(|| via_raw(s, empty)));
    }
    // The call's future lives in the caller's task (no box since the client's methods are
    // inherent `async fn`s): its size, for scale.
    let future =
        s.client.new_payload(ApiVersion::V2, (**payload).clone(), ExecutionPayloadSidecar::none());
    let size = std::mem::size_of_val(&future);
    drop(future);
    println!("new_payload future: {size} bytes");
    let auth = JwtAuth::new(&s.token.secret, None, None);
    // A new `iat` each time: the cost of minting (serialize, HMAC, base64), not of the
    // reuse within a second that `token()` mostly is.
    let mut iat = auth.now();
    group.bench_function("jwt_mint", |b| {
        b.iter(|| {
            iat += 1;
            auth.token_at(iat).unwrap()
        })
    });
    group.bench_function("jwt_token_same_second", |b| b.iter(|| auth.token().unwrap()));
    group.bench_function("encode_new_payload_1000_txs", |b| {
        b.iter(|| {
            let request = EngineRequest::new_payload(
                ApiVersion::V2,
                (**payload).clone(),
                ExecutionPayloadSidecar::none(),
            )
            .unwrap();
            encode_request(1, request.method_name(), &request).unwrap()
        })
    });
    group.bench_function("decode_envelope_1000_txs", |b| {
        b.iter(|| decode_response(&answer, 1, "engine_getPayloadV2").unwrap().get().len())
    });
    let raw = decode_response(&answer, 1, "engine_getPayloadV2").unwrap().get().to_string();
    group.bench_function("parse_get_payload_v2_1000_txs", |b| {
        b.iter(|| GetPayloadResponse::from_json(ApiVersion::V2, &raw).unwrap())
    });
    // What the client does with the body: envelope and typed result in one pass.
    let reader = ResultReader::new(GetPayloadSeed(ApiVersion::V2), Ok);
    group.bench_function("read_get_payload_v2_1000_txs_one_pass", |b| {
        b.iter(|| reader.read(&answer, 1, "engine_getPayloadV2").unwrap())
    });
    if let Some(empty) = s.cases.iter().find(|c| c.method == "get_payload" && c.size == "empty") {
        let answer = rt.block_on(via_raw(s, empty)).as_ref().to_vec();
        group.bench_function("read_get_payload_v2_empty_one_pass", |b| {
            b.iter(|| reader.read(&answer, 1, "engine_getPayloadV2").unwrap())
        });
    }
    // The same payload parsed as its concrete type, without the untagged V1/V2 enum of the
    // V2 envelope (which buffers the whole payload and tries each variant in turn).
    let inner =
        serde_json::from_str::<serde_json::Value>(&raw).unwrap()["executionPayload"].to_string();
    group.bench_function("parse_payload_v2_concrete_1000_txs", |b| {
        b.iter(|| serde_json::from_str::<ExecutionPayloadV2>(&inner).unwrap())
    });
    group.finish();
}
