//! The execution-client rules of `engine_testkit::el_rules`, over HTTP, on both fakes: a
//! forkchoiceUpdated naming a canonical ancestor under each `AncestorPolicy`, side-chain
//! heads, `eth_syncing` without peers, and the Geth answers every policy shares (unknown or
//! zero head, a payload imported twice).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_testkit::ElPorts;
mod common;

use alloy_primitives::B256;
use common::Rpc;
use engine_testkit::{AncestorPolicy, MockEl, MockElConfig, SyncingProbe};
use engine_types::{
    ApiVersion, EngineRequest, GetPayloadResponse,
    engine::{ExecutionPayload, ExecutionPayloadSidecar},
};
use serde_json::{Value, json};

/// Which fake runs the scenario.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Mock,
    Devnet,
}

const KINDS: &[Kind] = &[Kind::Mock, Kind::Devnet];

/// A running fake (Shanghai from genesis, so V2 methods) and clients for its two ports.
struct El {
    kind: Kind,
    engine: Rpc,
    public: Rpc,
    genesis: B256,
    _mock: Option<MockEl>,
    _devnet: Option<engine_testkit::devnet::DevnetEl>,
}

impl El {
    async fn start(kind: Kind, ancestor_policy: AncestorPolicy, syncing: SyncingProbe) -> Self {
        match kind {
            Kind::Mock => {
                let config = MockElConfig { ancestor_policy, syncing, ..Default::default() };
                let el = MockEl::start(config).await.unwrap();
                Self {
                    kind,
                    engine: Rpc::engine(&el),
                    public: Rpc::public(&el),
                    genesis: el.genesis().hash,
                    _mock: Some(el),
                    _devnet: None,
                }
            }
            Kind::Devnet => {
                use engine_testkit::devnet::{DevnetConfig, DevnetEl, dev_genesis};
                let genesis = dev_genesis(engine_types::ForkSchedule::default()).unwrap();
                let config =
                    DevnetConfig { ancestor_policy, syncing, ..DevnetConfig::new(genesis) };
                let el = DevnetEl::start(config).await.unwrap();
                Self {
                    kind,
                    engine: Rpc::new(el.engine_url(), Some(el.jwt_secret().clone())),
                    public: Rpc::new(el.public_url(), None),
                    genesis: el.genesis_hash(),
                    _mock: None,
                    _devnet: Some(el),
                }
            }
        }
    }

    /// The whole forkchoiceUpdatedV2 response (result or error).
    async fn fcu(&self, head: B256, safe: B256, finalized: B256, attrs: Option<Value>) -> Value {
        let state =
            json!({"headBlockHash": head, "safeBlockHash": safe, "finalizedBlockHash": finalized});
        let params = match attrs {
            Some(a) => json!([state, a]),
            None => json!([state]),
        };
        self.engine.call("engine_forkchoiceUpdatedV2", params).await
    }

    /// forkchoiceUpdatedV2 that must succeed: its result.
    async fn fcu_ok(&self, head: B256, safe: B256, finalized: B256, attrs: Option<Value>) -> Value {
        let body = self.fcu(head, safe, finalized, attrs).await;
        assert!(body.get("error").is_none(), "{:?}: {body}", self.kind);
        body["result"].clone()
    }

    /// fcU(parent, attrs) + getPayload + newPayload: a block on `parent`, imported but not
    /// made head. `parent` must be the head (or a block the policy builds on).
    async fn child(&self, parent: B256, timestamp: u64, salt: u8) -> ExecutionPayload {
        let built = self.fcu_ok(parent, B256::ZERO, B256::ZERO, Some(attrs(timestamp, salt))).await;
        assert_eq!(built["payloadStatus"]["status"], "VALID", "{:?}: {built}", self.kind);
        let payload = self.get_payload(&built["payloadId"]).await;
        assert_eq!(payload.parent_hash(), parent, "{:?}", self.kind);
        assert_eq!(self.import(&payload).await["status"], "VALID", "{:?}", self.kind);
        payload
    }

    async fn get_payload(&self, id: &Value) -> ExecutionPayload {
        assert!(id.is_string(), "{:?}: no payload id", self.kind);
        let built = self.engine.result("engine_getPayloadV2", json!([id])).await;
        GetPayloadResponse::from_json(ApiVersion::V2, &built.to_string()).unwrap().payload
    }

    async fn import(&self, payload: &ExecutionPayload) -> Value {
        let params = EngineRequest::new_payload(
            ApiVersion::V2,
            payload.clone(),
            ExecutionPayloadSidecar::none(),
        )
        .unwrap()
        .params_json();
        self.engine.result("engine_newPayloadV2", params).await
    }

    /// g ← b1 ← b2 ← b3, each made head in turn with safe = its parent and finalized = the
    /// block below that; the hashes from genesis on.
    async fn three_blocks(&self) -> [B256; 4] {
        let mut chain = [self.genesis; 4];
        for n in 1..4 {
            let hash = self.child(chain[n - 1], 2 * n as u64, 0).await.block_hash();
            chain[n] = hash;
            let (safe, finalized) = (chain[n - 1], chain[n.saturating_sub(2)]);
            self.fcu_ok(hash, safe, finalized, None).await;
        }
        chain
    }

    /// The hash of the block `tag` names on the public port (`latest`, `safe`, `finalized`).
    async fn tagged(&self, tag: &str) -> B256 {
        let block = self.public.result("eth_getBlockByNumber", json!([tag, false])).await;
        serde_json::from_value(block["hash"].clone()).unwrap()
    }

    /// (latest, safe, finalized).
    async fn forkchoice(&self) -> (B256, B256, B256) {
        (self.tagged("latest").await, self.tagged("safe").await, self.tagged("finalized").await)
    }
}

fn attrs(timestamp: u64, salt: u8) -> Value {
    json!({
        "timestamp": format!("{timestamp:#x}"),
        "prevRandao": B256::repeat_byte(salt),
        "suggestedFeeRecipient": "0x000000000000000000000000000000000000dead",
        "withdrawals": [],
    })
}

fn valid_without_payload(result: &Value, head: B256) -> bool {
    *result
        == json!({
            "payloadStatus": {"status": "VALID", "latestValidHash": head, "validationError": null},
            "payloadId": null,
        })
}

/// By default (Geth up to v1.17.2) a canonical ancestor with attributes is VALID for that
/// block with a null payloadId: no build, and head, safe and finalized stay where they were
/// — even when the safe block sent is unknown, as Geth returns before checking it.
#[tokio::test]
async fn default_policy_skips_an_old_head() {
    for &kind in KINDS {
        let el = El::start(kind, AncestorPolicy::default(), SyncingProbe::default()).await;
        let [g, b1, b2, b3] = el.three_blocks().await;
        assert_eq!(el.forkchoice().await, (b3, b2, b1), "{kind:?}");

        let answer = el.fcu_ok(b1, b1, g, Some(attrs(100, 1))).await;
        assert!(valid_without_payload(&answer, b1), "{kind:?}: {answer}");
        assert_eq!(el.forkchoice().await, (b3, b2, b1), "{kind:?}: nothing moved");

        let unknown_safe = el.fcu_ok(b1, B256::repeat_byte(0x77), g, None).await;
        assert!(valid_without_payload(&unknown_safe, b1), "{kind:?}: {unknown_safe}");
        assert_eq!(el.forkchoice().await, (b3, b2, b1), "{kind:?}");

        // The current head is not an old head: attributes build on it.
        let on_head = el.fcu_ok(b3, b2, b1, Some(attrs(100, 1))).await;
        assert!(on_head["payloadId"].is_string(), "{kind:?}: {on_head}");
    }
}

/// Reth 2.5: below the finalized block it holds, -38006 and nothing changes; at the
/// finalized block or above, the head stays but attributes build on the ancestor, and the
/// block built there reorgs the chain once imported and named head.
#[tokio::test]
async fn too_deep_reorg_policy() {
    for &kind in KINDS {
        let el = El::start(kind, AncestorPolicy::TooDeepReorg, SyncingProbe::default()).await;
        let [g, b1, b2, b3] = el.three_blocks().await;
        el.fcu_ok(b3, b2, b2, None).await;
        assert_eq!(el.forkchoice().await, (b3, b2, b2), "{kind:?}");

        let refused = el.fcu(b1, b1, g, Some(attrs(100, 1))).await;
        assert_eq!(refused["error"]["code"], -38006, "{kind:?}: {refused}");
        assert_eq!(refused["error"]["message"], "Too deep reorg", "{kind:?}");
        assert_eq!(el.forkchoice().await, (b3, b2, b2), "{kind:?}: nothing moved");

        let no_attrs = el.fcu_ok(b2, b2, b2, None).await;
        assert!(valid_without_payload(&no_attrs, b2), "{kind:?}: {no_attrs}");
        let stale = el.fcu(b2, b2, b2, Some(attrs(4, 1))).await;
        assert_eq!(stale["error"]["code"], -38003, "{kind:?}: {stale}");

        let on_b2 = el.fcu_ok(b2, b2, b2, Some(attrs(100, 1))).await;
        assert_eq!(on_b2["payloadStatus"]["latestValidHash"], json!(b2), "{kind:?}");
        assert_eq!(el.forkchoice().await, (b3, b2, b2), "{kind:?}: the head stays");
        let sibling = el.get_payload(&on_b2["payloadId"]).await;
        assert_eq!(sibling.parent_hash(), b2, "{kind:?}");
        assert_eq!(el.import(&sibling).await["status"], "VALID", "{kind:?}");
        el.fcu_ok(sibling.block_hash(), b2, b2, None).await;
        assert_eq!(el.forkchoice().await, (sibling.block_hash(), b2, b2), "{kind:?}");
    }
}

/// EthereumJS: the head moves back, safe and finalized follow the request, and a build
/// starts on the old head.
#[tokio::test]
async fn rewind_policy_moves_the_head_back() {
    for &kind in KINDS {
        let el = El::start(kind, AncestorPolicy::Rewind, SyncingProbe::default()).await;
        let [g, b1, _, _] = el.three_blocks().await;
        let answer = el.fcu_ok(b1, b1, g, Some(attrs(100, 1))).await;
        assert_eq!(answer["payloadStatus"]["latestValidHash"], json!(b1), "{kind:?}");
        assert_eq!(el.forkchoice().await, (b1, b1, g), "{kind:?}");
        assert_eq!(el.public.result("eth_blockNumber", json!([])).await, "0x1", "{kind:?}");
        let built = el.get_payload(&answer["payloadId"]).await;
        assert_eq!(built.parent_hash(), b1, "{kind:?}");
    }
}

/// Geth v1.17.3+: below finalized skipped, deeper than the limit -38006, otherwise a rewind.
#[tokio::test]
async fn bounded_rewind_policy() {
    for &kind in KINDS {
        let policy = AncestorPolicy::BoundedRewind { max_depth: 1 };
        let el = El::start(kind, policy, SyncingProbe::default()).await;
        let [g, b1, b2, b3] = el.three_blocks().await;
        assert_eq!(el.forkchoice().await, (b3, b2, b1), "{kind:?}");

        let below_finalized = el.fcu_ok(g, g, g, Some(attrs(100, 1))).await;
        assert!(valid_without_payload(&below_finalized, g), "{kind:?}: {below_finalized}");
        let too_deep = el.fcu(b1, b1, b1, None).await;
        assert_eq!(too_deep["error"]["code"], -38006, "{kind:?}: {too_deep}");
        assert_eq!(el.forkchoice().await, (b3, b2, b1), "{kind:?}: nothing moved");

        let rewound = el.fcu_ok(b2, b1, b1, Some(attrs(100, 1))).await;
        assert!(rewound["payloadId"].is_string(), "{kind:?}: {rewound}");
        assert_eq!(el.forkchoice().await, (b2, b1, b1), "{kind:?}");
    }
}

/// A block off the canonical chain is applied under every policy: the head moves to it (a
/// reorg) and attributes build on it.
#[tokio::test]
async fn side_chain_heads_reorg_under_every_policy() {
    let policies = [
        AncestorPolicy::Skip,
        AncestorPolicy::TooDeepReorg,
        AncestorPolicy::Rewind,
        AncestorPolicy::GETH,
    ];
    for &kind in KINDS {
        for policy in policies {
            let el = El::start(kind, policy, SyncingProbe::default()).await;
            let g = el.genesis;
            // Two children of genesis, both imported while genesis is still the head.
            let a1 = el.child(g, 2, 1).await.block_hash();
            let c1 = el.child(g, 2, 2).await.block_hash();
            el.fcu_ok(a1, g, g, None).await;
            let a2 = el.child(a1, 4, 1).await.block_hash();
            el.fcu_ok(a2, a1, g, None).await;
            assert_eq!(el.forkchoice().await, (a2, a1, g), "{kind:?} {policy:?}");

            let answer = el.fcu_ok(c1, c1, g, Some(attrs(100, 1))).await;
            assert_eq!(answer["payloadStatus"]["latestValidHash"], json!(c1));
            assert_eq!(el.forkchoice().await, (c1, c1, g), "{kind:?} {policy:?}");
            assert_eq!(el.public.result("eth_blockNumber", json!([])).await, "0x1");
            let built = el.get_payload(&answer["payloadId"]).await;
            assert_eq!(built.parent_hash(), c1, "{kind:?} {policy:?}");
        }
    }
}

/// EthereumJS without `--isSingleNode`: eth_syncing fails with -32603 on both ports while
/// the Engine API keeps working. The default answers `false`.
#[tokio::test]
async fn no_peers_fails_eth_syncing_only() {
    for &kind in KINDS {
        let el = El::start(kind, AncestorPolicy::default(), SyncingProbe::NoPeers).await;
        for port in [&el.public, &el.engine] {
            let body = port.call("eth_syncing", json!([])).await;
            assert_eq!(
                body["error"],
                json!({"code": -32603, "message": "no peer available for synchronization"}),
                "{kind:?}: {body}"
            );
        }
        let [_, _, b2, b3] = el.three_blocks().await;
        assert_eq!(el.forkchoice().await.0, b3, "{kind:?}: the Engine API works");
        assert_eq!(el.tagged("safe").await, b2);

        let synced = El::start(kind, AncestorPolicy::default(), SyncingProbe::Synced).await;
        assert_eq!(synced.public.result("eth_syncing", json!([])).await, json!(false));
    }
}

/// Geth's answers that no policy changes: an unknown head is SYNCING with a null payloadId
/// even with attributes; the zero hash is INVALID; a payload imported again (head, ancestor
/// or side chain) is VALID for its own hash.
#[tokio::test]
async fn unknown_zero_and_known_blocks() {
    for &kind in KINDS {
        let el = El::start(kind, AncestorPolicy::default(), SyncingProbe::default()).await;
        let g = el.genesis;
        let unknown = el.fcu_ok(B256::repeat_byte(0x55), g, g, Some(attrs(2, 0))).await;
        assert_eq!(
            unknown,
            json!({"payloadStatus": {"status": "SYNCING", "latestValidHash": null,
                   "validationError": null}, "payloadId": null}),
            "{kind:?}"
        );
        let zero = el.fcu_ok(B256::ZERO, B256::ZERO, B256::ZERO, None).await;
        assert_eq!(zero["payloadStatus"]["status"], "INVALID", "{kind:?}: {zero}");
        assert_eq!(zero["payloadStatus"]["latestValidHash"], Value::Null, "{kind:?}");
        assert_eq!(zero["payloadId"], Value::Null, "{kind:?}");

        let a1 = el.child(g, 2, 1).await;
        let c1 = el.child(g, 2, 2).await;
        el.fcu_ok(a1.block_hash(), g, g, None).await;
        let a2 = el.child(a1.block_hash(), 4, 1).await;
        el.fcu_ok(a2.block_hash(), a1.block_hash(), g, None).await;
        for again in [&a2, &a1, &c1] {
            let status = el.import(again).await;
            assert_eq!(status["status"], "VALID", "{kind:?}: {status}");
            assert_eq!(status["latestValidHash"], json!(again.block_hash()), "{kind:?}");
        }
        assert_eq!(el.tagged("latest").await, a2.block_hash(), "{kind:?}: imports move nothing");
    }
}

/// A zero safe or finalized hash keeps the block held, as Geth (`SetSafe`/`SetFinalized`
/// only for non-zero hashes) and Reth (`update_safe_block` returns early) do; it does not
/// clear the `safe`/`finalized` tags.
#[tokio::test]
async fn zero_safe_and_finalized_keep_the_held_blocks() {
    for &kind in KINDS {
        let el = El::start(kind, AncestorPolicy::default(), SyncingProbe::default()).await;
        let [_, b1, b2, b3] = el.three_blocks().await;
        let answer = el.fcu_ok(b3, B256::ZERO, B256::ZERO, Some(attrs(100, 1))).await;
        assert!(answer["payloadId"].is_string(), "{kind:?}: {answer}");
        assert_eq!(el.forkchoice().await, (b3, b2, b1), "{kind:?}");
        el.fcu_ok(b3, b3, B256::ZERO, None).await;
        assert_eq!(el.forkchoice().await, (b3, b3, b1), "{kind:?}");
    }
}
