//! The devnet over HTTP, as a consensus node drives it: 100 blocks with peg-ins, transfers
//! and peg-outs across the Shanghai → Cancun boundary, then balances, receipts and logs
//! checked through the public port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_testkit::ElPorts;
mod common;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::{eip2718::Encodable2718, eip4895::Withdrawal};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_rpc_types_eth::{Log, TransactionReceipt};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent};
use common::Rpc;
use engine_testkit::{
    Restart,
    devnet::{DevnetConfig, DevnetEl, dev_genesis},
    fixtures::{Transfer, dev_signer, sign_transfer},
    rpc_server::{Recording, Script},
};
use engine_types::{
    EngineMethod, EngineRequest, Fork, ForkSchedule, GetPayloadResponse, Satoshis,
    constants::{BRIDGE_ADDRESS, CHAIN_ID_DEV, DEAD_ADDRESS},
    engine::{CancunPayloadFields, ExecutionPayloadSidecar, ForkchoiceState, PayloadAttributes},
    pegout::{RequestPegOut, requestPegOutCall},
};
use serde_json::{Value, json};

/// Seconds between blocks, and when Cancun starts (block 50).
const SLOT: u64 = 2;
const CANCUN_AT: u64 = 100;

struct Harness {
    el: DevnetEl,
    engine: Rpc,
    public: Rpc,
    forks: ForkSchedule,
}

impl Harness {
    async fn start() -> Self {
        Self::start_in(None).await
    }

    /// A devnet keeping its journal in `data_dir`, when given.
    async fn start_in(data_dir: Option<std::path::PathBuf>) -> Self {
        let forks = ForkSchedule { cancun: Some(CANCUN_AT), ..ForkSchedule::default() };
        let config = DevnetConfig { data_dir, ..DevnetConfig::new(dev_genesis(forks).unwrap()) };
        let el = DevnetEl::start(config).await.unwrap();
        let engine = Rpc::new(el.engine_url(), Some(el.jwt_secret().clone()));
        let public = Rpc::new(el.public_url(), None);
        Self { el, engine, public, forks }
    }

    async fn engine_call(&self, request: EngineRequest) -> Value {
        self.engine.result(request.method_name(), request.params_json()).await
    }

    /// fcU(attrs) → getPayload → newPayload → fcU(new head, safe/finalized two behind).
    async fn produce(&self, parent: B256, timestamp: u64, withdrawals: Vec<Withdrawal>) -> B256 {
        let cancun = self.forks.is_active(Fork::Cancun, timestamp);
        let beacon_root = cancun.then(|| B256::with_last_byte(timestamp as u8));
        let attrs = PayloadAttributes {
            timestamp,
            prev_randao: B256::repeat_byte(0x42),
            suggested_fee_recipient: DEAD_ADDRESS,
            withdrawals: Some(withdrawals),
            parent_beacon_block_root: beacon_root,
            slot_number: None,
            target_gas_limit: None,
        };
        let version = |m| self.forks.version_for(m, timestamp);
        let fcu = EngineRequest::forkchoice_updated(
            version(EngineMethod::ForkchoiceUpdated),
            ForkchoiceState::same_hash(parent),
            Some(attrs),
        )
        .unwrap();
        let answer = self.engine_call(fcu).await;
        assert_eq!(answer["payloadStatus"]["status"], "VALID", "{answer}");
        let id = serde_json::from_value(answer["payloadId"].clone()).unwrap();

        let get = EngineRequest::get_payload(version(EngineMethod::GetPayload), id).unwrap();
        let version_used = version(EngineMethod::GetPayload);
        let built = self.engine_call(get).await;
        let built = GetPayloadResponse::from_json(version_used, &built.to_string()).unwrap();
        let hash = built.payload.block_hash();

        let sidecar = match beacon_root {
            Some(root) => ExecutionPayloadSidecar::v3(CancunPayloadFields::new(root, vec![])),
            None => ExecutionPayloadSidecar::none(),
        };
        let new =
            EngineRequest::new_payload(version(EngineMethod::NewPayload), built.payload, sidecar)
                .unwrap();
        let status = self.engine_call(new).await;
        assert_eq!(status["status"], "VALID", "{status}");
        assert_eq!(status["latestValidHash"], json!(hash));

        let number = self.block_number().await;
        let behind = self
            .public
            .result(
                "eth_getBlockByNumber",
                json!([format!("0x{:x}", number.saturating_sub(1)), false]),
            )
            .await;
        let finalized: B256 = serde_json::from_value(behind["hash"].clone()).unwrap();
        let state = ForkchoiceState {
            head_block_hash: hash,
            safe_block_hash: finalized,
            finalized_block_hash: finalized,
        };
        let fcu = EngineRequest::forkchoice_updated(
            version(EngineMethod::ForkchoiceUpdated),
            state,
            None,
        )
        .unwrap();
        let answer = self.engine_call(fcu).await;
        assert_eq!(answer["payloadStatus"]["status"], "VALID", "{answer}");
        hash
    }

    async fn block_number(&self) -> u64 {
        let n: alloy_primitives::U64 =
            serde_json::from_value(self.public.result("eth_blockNumber", json!([])).await).unwrap();
        n.to()
    }

    async fn balance(&self, address: Address) -> U256 {
        serde_json::from_value(
            self.public.result("eth_getBalance", json!([address, "latest"])).await,
        )
        .unwrap()
    }

    async fn send(&self, raw: Bytes) -> B256 {
        serde_json::from_value(self.public.result("eth_sendRawTransaction", json!([raw])).await)
            .unwrap()
    }

    async fn receipt(&self, hash: B256) -> TransactionReceipt {
        serde_json::from_value(self.public.result("eth_getTransactionReceipt", json!([hash])).await)
            .unwrap()
    }
}

fn peg_out_tx(signer: &PrivateKeySigner, nonce: u64, btc: &'static [u8], value: U256) -> Bytes {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID_DEV,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(BRIDGE_ADDRESS),
        value,
        input: requestPegOutCall { _bitcoinAddress: Bytes::from_static(btc) }.abi_encode().into(),
        access_list: Default::default(),
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// 100 blocks through the real HTTP ports: every peg-in credits sats × 10^10 wei, every
/// transfer lands, both peg-outs burn their value and show up in receipts and eth_getLogs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_blocks_over_http() {
    let h = Harness::start().await;
    let sender = dev_signer(0).unwrap();
    let burner = dev_signer(1).unwrap();
    let recipients: Vec<Address> = (0x21..=0x25).map(Address::repeat_byte).collect();
    let pegged: Vec<Address> = (0x31..=0x34).map(Address::repeat_byte).collect();

    let mut parent = h.el.genesis_hash();
    let mut transfers = Vec::new();
    let mut peg_outs = Vec::new();
    let mut expected_recipient = vec![U256::ZERO; recipients.len()];
    let mut expected_pegged = vec![U256::ZERO; pegged.len()];
    for block in 1..=100u64 {
        let to = (block as usize) % recipients.len();
        let wei = U256::from(1_000_000_000_000u64 * block);
        let raw =
            sign_transfer(&sender, &Transfer::new(CHAIN_ID_DEV, block - 1, recipients[to], wei))
                .unwrap();
        transfers.push(h.send(raw).await);
        expected_recipient[to] += wei;
        if block == 30 || block == 70 {
            let value = U256::from(3_000_000u64) * U256::from(10_000_000_000u64);
            peg_outs.push((
                h.send(peg_out_tx(&burner, peg_outs.len() as u64, b"bcrt1qdevnet", value)).await,
                value,
            ));
        }
        let who = (block as usize) % pegged.len();
        let sats = 1_000 + block;
        let w = Withdrawal {
            index: block - 1,
            validator_index: 0,
            address: pegged[who],
            amount: sats * 10,
        };
        expected_pegged[who] += Satoshis(sats).to_wei();
        parent = h.produce(parent, block * SLOT, vec![w]).await;
    }

    assert_eq!(h.block_number().await, 100);
    for (address, expected) in recipients.iter().zip(&expected_recipient) {
        assert_eq!(h.balance(*address).await, *expected, "recipient {address}");
    }
    for (address, expected) in pegged.iter().zip(&expected_pegged) {
        assert_eq!(h.balance(*address).await, *expected, "peg-in to {address}");
    }
    for hash in &transfers {
        let receipt = h.receipt(*hash).await;
        assert!(receipt.status(), "transfer {hash}");
        assert_eq!(receipt.gas_used, 21_000);
    }
    let mut burned = U256::ZERO;
    for (hash, value) in &peg_outs {
        let receipt = h.receipt(*hash).await;
        assert!(receipt.status());
        let logs: &[Log] = receipt.inner.logs();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].address(), BRIDGE_ADDRESS);
        let event = RequestPegOut::decode_log(&logs[0].inner).unwrap();
        assert_eq!((event._evmAddress, event._value), (burner.address(), *value));
        assert_eq!(event._bitcoinAddress.as_ref(), b"bcrt1qdevnet");
        burned += *value;
    }
    assert!(h.balance(DEAD_ADDRESS).await > burned, "peg-out value plus tips reach 0x…dEaD");

    let filter = json!([{
        "fromBlock": "0x0", "toBlock": "latest", "address": BRIDGE_ADDRESS,
        "topics": [RequestPegOut::SIGNATURE_HASH, burner.address().into_word()],
    }]);
    let logs: Vec<Log> =
        serde_json::from_value(h.public.result("eth_getLogs", filter).await).unwrap();
    let found: Vec<B256> = logs.iter().map(|l| l.transaction_hash.unwrap()).collect();
    assert_eq!(found, peg_outs.iter().map(|(h, _)| *h).collect::<Vec<_>>());

    // The chain crossed into Cancun: the last block carries the beacon root and blob fields.
    let head = h.public.result("eth_getBlockByNumber", json!(["latest", true])).await;
    assert_eq!(head["number"], "0x64");
    assert!(head["parentBeaconBlockRoot"].is_string(), "{head}");
    assert_eq!(head["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(head["hash"], json!(parent));
    assert_eq!(h.el.head().hash(), parent);
    let finalized = h.public.result("eth_getBlockByNumber", json!(["finalized", false])).await;
    assert_eq!(finalized["number"], "0x62", "two behind the head");
    h.el.shutdown().await;
}

/// The engine port wants a JWT; the public port refuses engine methods; versions are
/// checked against the fork of the timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_port_rules() {
    let h = Harness::start().await;
    let unauthenticated = Rpc::new(h.el.engine_url(), None);
    let resp = unauthenticated.send("eth_chainId", json!([])).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(h.public.error_code("engine_exchangeCapabilities", json!([[]])).await, -32601);
    let caps =
        h.engine.result("engine_exchangeCapabilities", json!([["engine_newPayloadV3"]])).await;
    assert!(caps.as_array().unwrap().contains(&json!("engine_forkchoiceUpdatedV3")));
    let secret_file = std::fs::read_to_string(h.el.jwt_secret_path()).unwrap();
    assert_eq!(secret_file, h.el.jwt_secret_hex());
    let chain_id = h.engine.result("eth_chainId", json!([])).await;
    assert_eq!(chain_id, json!(format!("0x{CHAIN_ID_DEV:x}")));
    let version = h
        .engine
        .result(
            "engine_getClientVersionV1",
            json!([{"code": "RH", "name": "x", "version": "1", "commit": "0x01020304"}]),
        )
        .await;
    assert_eq!(version[0]["name"], "alys-devnet");

    // V3 attributes at a Shanghai timestamp: -38005.
    let attrs = json!({"timestamp": "0x2", "prevRandao": B256::ZERO, "suggestedFeeRecipient": DEAD_ADDRESS,
                       "withdrawals": [], "parentBeaconBlockRoot": B256::ZERO});
    let state = ForkchoiceState::same_hash(h.el.genesis_hash());
    assert_eq!(
        h.engine.error_code("engine_forkchoiceUpdatedV3", json!([state, attrs])).await,
        -38005
    );
    // newPayloadV3 with two params instead of three: -32602.
    assert_eq!(h.engine.error_code("engine_newPayloadV3", json!([{}, []])).await, -32602);
    assert_eq!(
        h.engine.error_code("engine_getPayloadV2", json!(["0x0000000000000001"])).await,
        -38001
    );
    assert_eq!(h.public.error_code("eth_noSuchMethod", json!([])).await, -32601);
}

/// A restart that keeps the chain keeps the head; one that loses it starts from genesis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_keep_or_lose_the_chain() {
    let h = Harness::start().await;
    let genesis = h.el.genesis_hash();
    let first = h.produce(genesis, SLOT, vec![]).await;
    h.el.server().go_down().await;
    h.el.server().come_back(Restart::KeepChain).await.unwrap();
    assert_eq!(h.block_number().await, 1);
    assert_eq!(h.el.head().hash(), first);
    h.el.server().go_down().await;
    h.el.server().come_back(Restart::LoseChain).await.unwrap();
    assert_eq!(h.block_number().await, 0);
    assert_eq!(h.el.head().hash(), genesis);
}

/// A devnet with a disk that loses its memory comes back with what its journal holds, as a
/// restarted client does: the head it had, not genesis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_that_loses_memory_keeps_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start_in(Some(dir.path().to_path_buf())).await;
    let first = h.produce(h.el.genesis_hash(), SLOT, vec![]).await;
    let second = h.produce(first, 2 * SLOT, vec![]).await;
    h.el.server().go_down().await;
    h.el.server().come_back(Restart::LoseChain).await.unwrap();
    assert_eq!(h.block_number().await, 2);
    assert_eq!(h.el.head().hash(), second);
}

/// A devnet serves through a script when a test attaches one: the script's recording starts
/// off (nothing kept), and switched on it keeps a bounded ring of the latest calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_records_the_devnet_s_calls_within_its_bound() {
    let script = Script::new(Recording::Off);
    let config = DevnetConfig {
        hook: Some(script.hook()),
        ..DevnetConfig::new(dev_genesis(ForkSchedule::default()).unwrap())
    };
    let el = DevnetEl::start(config).await.unwrap();
    let public = Rpc::new(el.public_url(), None);
    let block_number = || public.result("eth_blockNumber", json!([]));
    assert_eq!(block_number().await, json!("0x0"));
    assert!(script.all_calls().is_empty(), "nothing kept while recording is off");
    script.set_recording(Recording::Last(2));
    for _ in 0..3 {
        block_number().await;
    }
    let calls = script.calls("eth_blockNumber");
    assert_eq!(calls.len(), 2, "the two most recent of three");
    assert!(calls[0].seq < calls[1].seq);
}
