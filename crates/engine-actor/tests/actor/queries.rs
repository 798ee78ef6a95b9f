//! GetBlock, GetReceipts, GetPayloadByTag, GetStatus.

use crate::{
    fake_el::{Fault, Op, pegout_receipt},
    harness::{Harness, ask, set_finalized},
};
use engine_actor::{ActorError, QueryMsg, messages::HeadTag, status::EngineState};
use engine_types::{
    CorrelationId, EngineError,
    eips::BlockId,
    primitives::{Address, B256, U256},
};

async fn by_tag(
    h: &Harness,
    tag: HeadTag,
) -> Result<engine_types::engine::ExecutionPayload, ActorError> {
    ask(&h.engine, |reply| {
        QueryMsg::GetPayloadByTag { correlation: CorrelationId::new(), tag, reply }.into()
    })
    .await
    .map(|(payload, _)| payload)
}

/// Blocks come back by number and by hash; an unknown one is `None`; an EL error is typed.
#[tokio::test]
async fn get_block_by_number_and_hash() {
    let h = Harness::ready().await;
    let (built, _) = h.produce(1, vec![crate::harness::peg_in(1, 1)]).await;
    let get = |block: BlockId| {
        ask(&h.engine, move |reply| {
            QueryMsg::GetBlock { correlation: CorrelationId::new(), block, with_txs: true, reply }
                .into()
        })
    };
    let by_number = get(BlockId::number(1)).await.unwrap().unwrap();
    assert_eq!(by_number.header.hash, built.payload.block_hash());
    let by_hash = get(BlockId::hash(built.payload.block_hash())).await.unwrap().unwrap();
    assert_eq!(by_hash.header.inner.number, 1);
    assert!(get(BlockId::hash(B256::repeat_byte(0xab))).await.unwrap().is_none());
    h.el.fault(Op::Block, Fault::timeout());
    assert!(matches!(
        get(BlockId::number(1)).await,
        Err(ActorError::Engine(EngineError::Transport(_)))
    ));
}

/// Receipts come back complete; an unknown block is an error, not an empty list.
#[tokio::test]
async fn get_receipts_complete_or_error() {
    let h = Harness::ready().await;
    let built = h.build(1, vec![]).await.unwrap();
    h.el.next_block_receipts(vec![pegout_receipt(1, Address::ZERO, "x", U256::from(1u64))]);
    h.commit(&built).await.unwrap();
    let get = |block| {
        ask(&h.engine, move |reply| {
            QueryMsg::GetReceipts { correlation: CorrelationId::new(), block, reply }.into()
        })
    };
    assert_eq!(get(built.payload.block_hash()).await.unwrap().len(), 1);
    let err = get(B256::repeat_byte(0xab)).await.unwrap_err();
    assert!(matches!(err, ActorError::UnknownBlock { .. }), "{err}");
}

/// Latest and finalized come back as execution payloads of the tracked blocks, with their
/// withdrawals; finalized before any finality is an error.
#[tokio::test]
async fn payload_by_tag_follows_the_heads() {
    let h = Harness::ready().await;
    assert!(matches!(by_tag(&h, HeadTag::Finalized).await, Err(ActorError::UnknownBlock { .. })));
    let (b1, _) = h.produce(1, vec![crate::harness::peg_in(1, 3)]).await;
    let (b2, _) = h.produce(2, vec![]).await;
    set_finalized(&h.engine, b1.payload.block_hash()).await.unwrap();
    let latest = by_tag(&h, HeadTag::Latest).await.unwrap();
    assert_eq!(latest.block_hash(), b2.payload.block_hash());
    let finalized = by_tag(&h, HeadTag::Finalized).await.unwrap();
    assert_eq!(finalized, b1.payload);
    assert_eq!(by_tag(&h, HeadTag::Safe).await.unwrap().block_hash(), b1.payload.block_hash());
}

/// Status shows state, heads, endpoints, peers, cache and uptime; a standby down degrades.
#[tokio::test]
async fn status_reports_everything() {
    let h = Harness::ready().await;
    h.produce(1, vec![]).await;
    let s = h.status().await;
    assert_eq!(s.state, EngineState::Ready);
    assert_eq!(s.heads.head.number, 1);
    assert!(s.peers.chain && s.peers.bridge && s.peers.storage && s.peers.network);
    assert_eq!(s.endpoints.len(), 1);
    assert_eq!(s.cache.entries, 1);
    assert_eq!(s.pending_forkchoice, 0);
    use engine_client::{breaker::BreakerState, health::EndpointState};
    h.el.set_endpoints(vec![
        crate::fake_el::endpoint("primary", EndpointState::Synced, BreakerState::Closed),
        crate::fake_el::endpoint("standby", EndpointState::Offline, BreakerState::Open),
    ]);
    assert_eq!(h.status().await.state, EngineState::Degraded);
    assert!(h.build(2, vec![]).await.is_ok(), "degraded still builds");
}
