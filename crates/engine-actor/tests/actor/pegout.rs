//! ValidatePegOut and GetTransactionReceipt: what the Bridge asks before paying.

use crate::{
    fake_el::{FakeEl, pegout_receipt},
    harness::{Harness, ask, forkchoice, set_finalized},
};
use engine_actor::{
    ActorError, QueryMsg, error::PegOutRefusal, messages::PegOutValidated, status::EngineState,
};
use engine_types::{
    CorrelationId, Satoshis, Severity,
    constants::WEI_PER_SAT,
    primitives::{Address, B256, U256},
};
use std::sync::Arc;

const BTC: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

async fn validate(h: &Harness, tx: B256) -> Result<PegOutValidated, ActorError> {
    ask(&h.engine, |reply| {
        QueryMsg::ValidatePegOut { correlation: CorrelationId::new(), tx, reply }.into()
    })
    .await
}

fn sats(n: u64) -> U256 {
    U256::from(n) * U256::from(WEI_PER_SAT)
}

/// A peg-out in a canonical block is read back with its amount and address decoded, its
/// depth below the head, and whether it is final; its receipt is served as is.
#[tokio::test]
async fn a_canonical_peg_out_is_validated_with_depth_and_finality() {
    let h = Harness::ready().await;
    let user = Address::repeat_byte(0x42);
    let tx = B256::repeat_byte(1);
    h.el.next_block_receipts(vec![pegout_receipt(1, user, BTC, sats(2_000_000))]);
    let (b1, _) = h.produce(1, vec![]).await;
    h.produce(2, vec![]).await;
    let v = validate(&h, tx).await.unwrap();
    assert_eq!(v.block.hash, b1.payload.block_hash());
    assert_eq!((v.depth, v.finalized), (1, false));
    assert_eq!(v.payable.len(), 1);
    assert_eq!(v.payable[0].amount, Satoshis(2_000_000));
    assert_eq!(v.payable[0].evm_address, user);
    assert_eq!(v.payable[0].bitcoin_address.as_ref(), BTC.as_bytes());
    set_finalized(&h.engine, b1.payload.block_hash()).await.unwrap();
    assert!(validate(&h, tx).await.unwrap().finalized);

    let receipt = ask(&h.engine, |reply| {
        QueryMsg::GetTransactionReceipt { correlation: CorrelationId::new(), tx, reply }.into()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(receipt.block_hash, Some(b1.payload.block_hash()));
}

/// Dust is reported as not payable (never dropped); a transaction without a bridge event,
/// a reverted one and an unknown one are refused with their own typed reason.
#[tokio::test]
async fn refusals_are_typed() {
    let h = Harness::ready().await;
    let user = Address::repeat_byte(0x42);
    let mut reverted = pegout_receipt(3, user, BTC, sats(2_000_000));
    if let alloy_consensus::ReceiptEnvelope::Eip1559(r) = &mut reverted.inner {
        r.receipt.status = false.into();
    }
    let mut no_event = pegout_receipt(4, user, BTC, sats(2_000_000));
    if let alloy_consensus::ReceiptEnvelope::Eip1559(r) = &mut no_event.inner {
        r.receipt.logs.clear();
    }
    h.el.next_block_receipts(vec![pegout_receipt(2, user, BTC, sats(10)), reverted, no_event]);
    h.produce(1, vec![]).await;
    let dust = validate(&h, B256::repeat_byte(2)).await.unwrap();
    assert!(dust.payable.is_empty());
    assert_eq!(dust.not_payable.len(), 1);
    let err = validate(&h, B256::repeat_byte(3)).await.unwrap_err();
    assert!(matches!(err, ActorError::PegOut(PegOutRefusal::Reverted { .. })), "{err}");
    assert_eq!(err.severity(), Severity::Reset);
    let err = validate(&h, B256::repeat_byte(4)).await.unwrap_err();
    assert!(matches!(err, ActorError::PegOut(PegOutRefusal::NoPegOut { .. })), "{err}");
    let err = validate(&h, B256::repeat_byte(9)).await.unwrap_err();
    assert!(matches!(err, ActorError::PegOut(PegOutRefusal::NotFound { .. })), "{err}");
    assert_eq!(err.severity(), Severity::Retry);
}

/// A peg-out whose block a reorg took off the canonical chain is not validated (the Bridge
/// must not pay it), though the EL still has its receipt.
#[tokio::test]
async fn a_peg_out_in_a_reorged_block_is_not_canonical() {
    let h = Harness::start(Arc::new(FakeEl::rewinding())).await;
    h.wait_state(EngineState::Ready).await;
    let user = Address::repeat_byte(0x42);
    h.el.next_block_receipts(vec![pegout_receipt(5, user, BTC, sats(2_000_000))]);
    let (b1, _) = h.produce(1, vec![]).await;
    assert!(validate(&h, B256::repeat_byte(5)).await.is_ok());
    forkchoice(&h.engine, h.el.genesis(), B256::ZERO, B256::ZERO).await.unwrap();
    h.produce(2, vec![]).await;
    let err = validate(&h, B256::repeat_byte(5)).await.unwrap_err();
    let ActorError::PegOut(PegOutRefusal::NotCanonical { block, .. }) = err else {
        panic!("{err}")
    };
    assert_eq!(block.hash, b1.payload.block_hash());
}
