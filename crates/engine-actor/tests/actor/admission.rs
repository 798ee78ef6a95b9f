//! ValidateTransaction: admission checks, forwarding to the EL, the per-peer rate limit.

use crate::{
    fake_el::{Call, Fault, Op},
    harness::{Harness, ask},
};
use engine_actor::{NetworkRequest, messages::TxVerdict, port::Account};
use engine_testkit::fixtures::keys::{Transfer, dev_signer, sign_transfer};
use engine_types::{
    CorrelationId,
    constants::CHAIN_ID_DEV,
    primitives::{Address, Bytes, U256},
};
use engine_validation::TxRejection;

async fn validate(h: &Harness, raw: Bytes, peer: &str) -> TxVerdict {
    let peer = peer.to_string();
    ask(&h.engine, |reply| {
        NetworkRequest::ValidateTransaction { correlation: CorrelationId::new(), raw, peer, reply }
            .into()
    })
    .await
}

fn sent(h: &Harness) -> Vec<Bytes> {
    h.el.calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::SendTx(raw) => Some(raw),
            _ => None,
        })
        .collect()
}

fn transfer(nonce: u64) -> Bytes {
    let signer = dev_signer(0).unwrap();
    sign_transfer(
        &signer,
        &Transfer::new(CHAIN_ID_DEV, nonce, Address::repeat_byte(9), U256::from(1u64)),
    )
    .unwrap()
}

/// A valid transaction from a funded account is forwarded to the EL; a reused nonce, an
/// unfunded sender and junk are refused and never forwarded; an EL refusal is reported as
/// such.
#[tokio::test]
async fn admission_checks_then_forwards() {
    let h = Harness::ready().await;
    let sender = dev_signer(0).unwrap().address();
    h.el.set_account(
        sender,
        Account { nonce: 3, balance: U256::from(10u64).pow(U256::from(18u64)) },
    );

    let ok = transfer(3);
    assert!(matches!(validate(&h, ok.clone(), "p").await, TxVerdict::Accepted { .. }));
    assert_eq!(sent(&h), vec![ok]);

    let verdict = validate(&h, transfer(2), "p").await;
    assert_eq!(verdict, TxVerdict::Rejected(TxRejection::NonceTooLow { account: 3, got: 2 }));

    h.el.set_account(sender, Account { nonce: 3, balance: U256::ZERO });
    assert!(matches!(
        validate(&h, transfer(3), "p").await,
        TxVerdict::Rejected(TxRejection::InsufficientFunds { .. })
    ));
    assert!(matches!(
        validate(&h, Bytes::from_static(b"\x02junk"), "p").await,
        TxVerdict::Rejected(TxRejection::Undecodable(_))
    ));
    assert_eq!(sent(&h).len(), 1, "refused transactions must not reach the EL");

    h.el.set_account(
        sender,
        Account { nonce: 3, balance: U256::from(10u64).pow(U256::from(18u64)) },
    );
    h.el.fault(Op::SendTx, Fault::rpc(-32000));
    assert!(matches!(validate(&h, transfer(4), "p").await, TxVerdict::RefusedByEl { .. }));
}

/// A peer past its burst is answered "rate limited" without the EL being asked; another
/// peer is unaffected.
#[tokio::test]
async fn rate_limit_is_per_peer() {
    let dir = tempfile::tempdir().unwrap();
    let el = std::sync::Arc::new(crate::fake_el::FakeEl::default());
    let peers = crate::harness::Peers::spawn().await;
    let mut config = crate::harness::config(dir.path());
    config.rate_limit.burst = 2;
    config.rate_limit.per_second = 0.001;
    let engine = crate::harness::spawn_engine(&el, config, peers.addresses()).await.unwrap();
    let h = Harness { el, engine, peers, dir };
    h.wait_state(engine_actor::status::EngineState::Ready).await;
    let junk = Bytes::from_static(b"\x02junk");
    for _ in 0..2 {
        assert!(matches!(validate(&h, junk.clone(), "noisy").await, TxVerdict::Rejected(_)));
    }
    assert!(matches!(validate(&h, junk.clone(), "noisy").await, TxVerdict::RateLimited { .. }));
    assert!(matches!(validate(&h, junk, "quiet").await, TxVerdict::Rejected(_)));
}

/// The pool status reflects what was forwarded: an accepted transaction waits in the EL's
/// pool until a block is committed after it.
#[tokio::test]
async fn txpool_status_counts_forwarded_transactions() {
    let h = Harness::ready().await;
    let sender = dev_signer(0).unwrap().address();
    h.el.set_account(
        sender,
        Account { nonce: 0, balance: U256::from(10u64).pow(U256::from(18u64)) },
    );
    let pool = || {
        ask(&h.engine, |reply| {
            engine_actor::QueryMsg::GetTxPoolStatus { correlation: CorrelationId::new(), reply }
                .into()
        })
    };
    assert_eq!(pool().await.unwrap().pending, 0);
    assert!(matches!(validate(&h, transfer(0), "p").await, TxVerdict::Accepted { .. }));
    assert_eq!(pool().await.unwrap().pending, 1);
    h.produce(1, vec![]).await;
    assert_eq!(pool().await.unwrap().pending, 0);
}
