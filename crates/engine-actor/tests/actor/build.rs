//! BuildPayload and GetPayload.

use crate::{
    fake_el::{Call, Fault, Op},
    harness::{Harness, peg_in},
};
use engine_actor::error::BuildRefusal;
use engine_actor::{ActorError, ChainRequest, status::EngineState};
use engine_types::{CorrelationId, EngineError, RpcErrorCode, Severity};

/// A built and committed block mints the peg-ins as withdrawals with indices that keep
/// increasing across blocks, and becomes the EL's head.
#[tokio::test]
async fn build_and_commit_mint_peg_ins_with_increasing_indices() {
    let h = Harness::ready().await;
    let (built, committed) = h.produce(1, vec![peg_in(1, 5), peg_in(2, 7), peg_in(1, 3)]).await;
    let minted: Vec<_> = built.withdrawals.iter().map(|w| (w.index, w.amount)).collect();
    assert_eq!(minted, vec![(0, 80), (1, 70)]);
    assert!(committed.head);
    assert_eq!(h.el.head(), built.payload.block_hash());
    assert_eq!(h.el.withdrawals_of(h.el.head()).unwrap(), built.withdrawals);

    let (second, _) = h.produce(2, vec![peg_in(3, 1)]).await;
    assert_eq!(second.withdrawals[0].index, 2);
    let status = h.status().await;
    assert_eq!(status.heads.head.number, 2);
    assert_eq!(status.next_withdrawal_index, 3);
}

/// Seventeen distinct addresses: sixteen withdrawals, the seventeenth comes back pending.
#[tokio::test]
async fn seventeenth_address_comes_back_pending() {
    let h = Harness::ready().await;
    let peg_ins: Vec<_> = (1..=17).map(|a| peg_in(a, 1)).collect();
    let built = h.build(1, peg_ins).await.unwrap();
    assert_eq!(built.withdrawals.len(), 16);
    assert_eq!(built.included.len(), 16);
    assert_eq!(built.pending, vec![peg_in(17, 1)]);
}

/// The cache answers GetPayload with the built payload; an unknown id is a typed error.
#[tokio::test]
async fn get_payload_from_cache() {
    let h = Harness::ready().await;
    let built = h.build(1, vec![]).await.unwrap();
    let cached = crate::harness::ask(&h.engine, |reply| {
        ChainRequest::GetPayload { correlation: CorrelationId::new(), id: built.payload_id, reply }
            .into()
    })
    .await
    .unwrap();
    assert_eq!(cached.payload, built.payload);
    let unknown = engine_types::engine::PayloadId::new([9; 8]);
    let err = crate::harness::ask(&h.engine, |reply| {
        ChainRequest::GetPayload { correlation: CorrelationId::new(), id: unknown, reply }.into()
    })
    .await
    .unwrap_err();
    assert_eq!(err, ActorError::Build(BuildRefusal::UnknownPayload { id: unknown }));
    let stats = h.status().await.cache;
    assert_eq!((stats.entries, stats.hits, stats.misses), (1, 1, 1));
}

/// The build asks the EL for exactly the requested attributes on the current forkchoice.
#[tokio::test]
async fn build_sends_the_requested_attributes() {
    let h = Harness::ready().await;
    let genesis = h.el.genesis();
    h.build(7, vec![peg_in(1, 2)]).await.unwrap();
    let Some(Call::Build { state, attributes }) =
        h.el.calls().into_iter().rev().find(|c| matches!(c, Call::Build { .. }))
    else {
        panic!("no build call")
    };
    assert_eq!(state.head_block_hash, genesis);
    assert_eq!(attributes.timestamp, 7);
    assert_eq!(attributes.suggested_fee_recipient, engine_types::constants::DEAD_ADDRESS);
    assert_eq!(attributes.withdrawals.unwrap()[0].amount, 20);
}

/// Each EL failure of a build comes back as the documented typed error.
#[tokio::test]
async fn build_failures_are_typed() {
    let h = Harness::ready().await;
    h.el.fault(Op::Build, Fault::rpc(-38003));
    let err = h.build(1, vec![]).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ActorError::Engine(EngineError::Rpc {
                code: RpcErrorCode::InvalidPayloadAttributes,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.severity(), Severity::Reset);

    h.el.fault(Op::Build, Fault::timeout());
    let err = h.build(1, vec![]).await.unwrap_err();
    assert!(matches!(&err, ActorError::Engine(EngineError::Transport(_))), "{err}");
    assert_eq!(err.severity(), Severity::Retry);

    h.el.fault(Op::Build, Fault::auth());
    let err = h.build(1, vec![]).await.unwrap_err();
    assert!(matches!(&err, ActorError::Engine(EngineError::Auth { .. })), "{err}");
    assert_eq!(err.severity(), Severity::Fatal);

    h.el.fault(Op::Build, Fault::ForkchoiceStatus(engine_types::PayloadStatus::Syncing));
    let err = h.build(1, vec![]).await.unwrap_err();
    assert!(matches!(err, ActorError::Syncing { .. }), "{err}");

    h.el.fault(Op::Build, Fault::rpc(-38001));
    let err = h.build(1, vec![]).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ActorError::Engine(EngineError::Rpc { code: RpcErrorCode::UnknownPayload, .. })
        ),
        "{err}"
    );
    // Nothing was committed by any of them.
    assert_eq!(h.el.head(), h.el.genesis());
}

/// Before the EL is reconciled, and with no usable endpoint, a build is refused at once.
#[tokio::test]
async fn build_while_not_ready_is_refused_at_once() {
    let el = std::sync::Arc::new(crate::fake_el::FakeEl::default());
    el.fault(Op::Forkchoice, Fault::Hang);
    let h = Harness::start(el).await;
    let err = h.build(1, vec![]).await.unwrap_err();
    assert_eq!(err, ActorError::Build(BuildRefusal::NotReady { state: EngineState::Initializing }));

    let h = Harness::ready().await;
    h.el.set_endpoints(vec![crate::fake_el::endpoint(
        "down",
        engine_client::health::EndpointState::Offline,
        engine_client::breaker::BreakerState::Open,
    )]);
    let err = h.build(1, vec![]).await.unwrap_err();
    assert_eq!(err, ActorError::Build(BuildRefusal::NotReady { state: EngineState::Error }));
    assert!(!h.el.calls().iter().any(|c| matches!(c, Call::Build { .. })));
}

/// A hung build does not block the mailbox: status still answers and shows the queued work.
#[tokio::test]
async fn hung_build_leaves_the_mailbox_free() {
    let h = Harness::ready().await;
    h.el.fault(Op::Build, Fault::Hang);
    let engine = h.engine.clone();
    let pending =
        tokio::spawn(async move { crate::harness::build(&engine, None, 1, vec![]).await });
    crate::harness::wait_for(&h.engine, |s| s.pending_forkchoice == 1, "one pending build").await;
    assert!(!pending.is_finished());
    pending.abort();
}
