//! Every Engine API method and version against the mock, with the version picked from the
//! fork schedule, and the checks that turn spec violations into errors.

use crate::harness::Versioned;
use crate::harness::{self, client, engine_calls, mock, name, produce};
use engine_testkit::Fault;
use engine_types::{
    ApiVersion, EngineError,
    EngineMethod::*,
    Fork, ForkSchedule, PayloadStatus, PayloadStatusWire,
    engine::{ClientCode, ClientVersionV1, ExecutionPayloadSidecar},
    primitives::B256,
};

/// Each fork's block production uses exactly that fork's method versions, and the EL
/// accepts the result as its new head.
#[tokio::test]
async fn produces_blocks_in_every_fork() {
    for fork in [Fork::Paris, Fork::Shanghai, Fork::Cancun, Fork::Prague] {
        let el = mock(fork).await;
        let api = Versioned::new(client(&el), ForkSchedule::all_from_genesis(fork));
        let payload = produce(&el, &api).await;
        assert_eq!(el.head().hash, payload.block_hash(), "{fork:?}");
        let want = [
            name(ForkchoiceUpdated, fork),
            name(GetPayload, fork),
            name(NewPayload, fork),
            name(ForkchoiceUpdated, fork),
        ];
        assert_eq!(engine_calls(&el), want, "{fork:?}");
        // What went over the wire is what the request type serializes.
        let sent = el.calls(name(NewPayload, fork));
        let params = sent[0].params.as_array().unwrap();
        let expected_len = match fork {
            Fork::Paris | Fork::Shanghai => 1,
            Fork::Cancun => 3,
            Fork::Prague => 4,
        };
        assert_eq!(params.len(), expected_len, "{fork:?}");
    }
}

/// A chain that crosses a fork switches versions at the fork's timestamp, not before.
#[tokio::test]
async fn switches_version_at_the_fork_timestamp() {
    let schedule = ForkSchedule { shanghai: Some(0), cancun: Some(4), prague: None };
    let el = engine_testkit::MockEl::start(engine_testkit::MockElConfig::with_forks(schedule))
        .await
        .unwrap();
    let api = Versioned::new(client(&el), schedule);
    produce(&el, &api).await; // timestamp 2: Shanghai
    produce(&el, &api).await; // timestamp 4: Cancun
    let calls = engine_calls(&el);
    assert_eq!(
        calls[..4],
        [
            "engine_forkchoiceUpdatedV2",
            "engine_getPayloadV2",
            "engine_newPayloadV2",
            "engine_forkchoiceUpdatedV2"
        ]
    );
    assert_eq!(
        calls[4..],
        [
            "engine_forkchoiceUpdatedV3",
            "engine_getPayloadV3",
            "engine_newPayloadV3",
            "engine_forkchoiceUpdatedV3"
        ]
    );
}

/// Capabilities, client version and payload bodies by hash and by range.
#[tokio::test]
async fn auxiliary_methods() {
    let el = mock(Fork::Shanghai).await;
    let api = Versioned::new(client(&el), ForkSchedule::default());
    let b1 = produce(&el, &api).await;
    let b2 = produce(&el, &api).await;
    let c = api.inner();

    let caps = c.exchange_capabilities(vec!["engine_newPayloadV2".into()]).await.unwrap();
    assert!(caps.iter().any(|m| m == "engine_newPayloadV2"));

    let ours = ClientVersionV1 {
        code: ClientCode::RH,
        name: "alys".into(),
        version: "0.1.0".into(),
        commit: "0x00000000".into(),
    };
    let theirs = c.get_client_version(ours).await.unwrap();
    assert_eq!(theirs[0].name, "engine-testkit MockEl");

    let unknown = B256::repeat_byte(0x77);
    let bodies = c
        .get_payload_bodies_by_hash(vec![b1.block_hash(), unknown, b2.block_hash()])
        .await
        .unwrap();
    assert_eq!(bodies.len(), 3);
    assert!(bodies[0].is_some() && bodies[1].is_none() && bodies[2].is_some());
    assert_eq!(bodies[0].as_ref().unwrap().withdrawals.as_ref().unwrap().len(), 1);

    let range = c.get_payload_bodies_by_range(1, 2).await.unwrap();
    assert_eq!(range.len(), 2);
    assert_eq!(range[1], bodies[2]);
}

/// A method version the EL does not list is refused before anything is sent.
#[tokio::test]
async fn refuses_versions_the_el_does_not_offer() {
    let el = mock(Fork::Shanghai).await;
    el.fail_always(
        "engine_exchangeCapabilities",
        Fault::Result(serde_json::json!(["engine_forkchoiceUpdatedV1", "engine_newPayloadV1"])),
    );
    let c = client(&el);
    let err = c.get_payload(ApiVersion::V2, Default::default()).await.unwrap_err();
    assert_eq!(
        err,
        EngineError::Unsupported { method: "engine_getPayload".into(), version: ApiVersion::V2 }
    );
    assert!(el.calls("engine_getPayloadV2").is_empty());
    assert_eq!(el.calls("engine_exchangeCapabilities").len(), 1, "the list is cached");
    let err = c.get_payload(ApiVersion::V2, Default::default()).await.unwrap_err();
    assert!(matches!(err, EngineError::Unsupported { .. }));
    assert_eq!(el.calls("engine_exchangeCapabilities").len(), 1);
}

/// VALID naming another block is a bad response, never a success; INVALID and SYNCING are
/// verdicts, passed through.
#[tokio::test]
async fn new_payload_verdicts_are_checked() {
    let el = mock(Fork::Shanghai).await;
    let api = Versioned::new(client(&el), ForkSchedule::default());
    let payload = produce(&el, &api).await;
    let c = api.inner();
    let send = || c.new_payload(ApiVersion::V2, payload.clone(), ExecutionPayloadSidecar::none());

    el.fail_next(
        "engine_newPayloadV2",
        Fault::Status(PayloadStatusWire::valid(B256::repeat_byte(3))),
        1,
    );
    let err = send().await.unwrap_err();
    assert!(matches!(err, EngineError::BadResponse { .. }), "{err}");
    assert_eq!(el.calls("engine_newPayloadV2").len(), 2, "a bad response is not retried");

    el.fail_next(
        "engine_newPayloadV2",
        Fault::Status(PayloadStatusWire::invalid(Some(B256::ZERO), "bad state root")),
        1,
    );
    let invalid = send().await.unwrap();
    assert_eq!(
        invalid,
        PayloadStatus::Invalid {
            latest_valid_hash: Some(B256::ZERO),
            validation_error: Some("bad state root".into())
        }
    );
    assert_eq!(el.calls("engine_newPayloadV2").len(), 3, "INVALID is an answer, not retried");

    el.fail_next("engine_newPayloadV2", Fault::Status(PayloadStatusWire::syncing()), 1);
    assert_eq!(send().await.unwrap(), PayloadStatus::Syncing);
}

/// A forkchoice answer that breaks the spec (a payload id without attributes) is a bad
/// response; SYNCING for an unknown head is passed through without a payload id.
#[tokio::test]
async fn forkchoice_answers_are_checked() {
    let el = mock(Fork::Shanghai).await;
    let c = client(&el);
    let genesis = el.genesis().hash;
    el.fail_next(
        "engine_forkchoiceUpdatedV2",
        Fault::Result(serde_json::json!({
            "payloadStatus": {"status": "VALID", "latestValidHash": genesis},
            "payloadId": "0x0000000000000001"
        })),
        1,
    );
    let err =
        c.forkchoice_updated(ApiVersion::V2, harness::forkchoice(genesis), None).await.unwrap_err();
    assert!(
        matches!(err, EngineError::BadResponse { ref reason, .. } if reason.contains("without payload attributes")),
        "{err}"
    );

    let unknown = c
        .forkchoice_updated(ApiVersion::V2, harness::forkchoice(B256::repeat_byte(9)), None)
        .await
        .unwrap();
    assert_eq!(unknown.status, PayloadStatus::Syncing);
    assert_eq!(unknown.payload_id, None);
}

/// Bad attributes come back as the typed -38003 error, and the request is not repeated.
#[tokio::test]
async fn invalid_attributes_are_a_typed_error() {
    let el = mock(Fork::Shanghai).await;
    let c = client(&el);
    let genesis = el.genesis();
    let mut attrs = harness::attributes(&ForkSchedule::default(), genesis.header.timestamp);
    attrs.timestamp = genesis.header.timestamp; // not after the head
    let err = c
        .forkchoice_updated(ApiVersion::V2, harness::forkchoice(genesis.hash), Some(attrs))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Rpc { code: engine_types::RpcErrorCode::InvalidPayloadAttributes, .. }
        ),
        "{err}"
    );
    assert_eq!(err.severity(), engine_types::Severity::Reset);
    assert_eq!(el.calls("engine_forkchoiceUpdatedV2").len(), 1);
}
