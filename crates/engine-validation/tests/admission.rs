//! Transaction admission: stateless checks, signer recovery, and the stateful checks when the
//! account is known.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixtures;

use alloy_consensus::{
    SignableTransaction, TxEip4844, TxEip4844Variant, TxEip4844WithSidecar, TxEnvelope, TxLegacy,
};
use alloy_eips::{
    eip2718::Encodable2718, eip4844::BlobTransactionSidecar, eip7594::BlobTransactionSidecarVariant,
};
use alloy_primitives::{Address, B256, Signature, TxKind, U256};
use engine_types::{Fork, ForkSchedule, Severity};
use engine_validation::{
    AccountState, AdmissionContext, AdmissionPolicy, TxRejection as R, ValidationError, Verdict,
};
use fixtures::{CHAIN_ID, sign, signer, transfer_tx};

fn policy() -> AdmissionPolicy {
    AdmissionPolicy::new(CHAIN_ID)
}

fn ctx(account: Option<AccountState>) -> AdmissionContext {
    AdmissionContext { timestamp: 1_000, block_gas_limit: 30_000_000, account }
}

fn encode(tx: impl Into<TxEnvelope>) -> Vec<u8> {
    tx.into().encoded_2718()
}

fn rejected(policy: &AdmissionPolicy, raw: &[u8], ctx: &AdmissionContext) -> R {
    match policy.admit(raw, ctx) {
        Verdict::Rejected(r) => r,
        Verdict::Admitted(a) => panic!("admitted {} from {}", a.hash, a.signer),
    }
}

/// A good transfer is admitted with its signer, nonce, hash and maximum cost.
#[test]
fn good_transfer_is_admitted() {
    let key = signer(1);
    let signed = sign(&key, transfer_tx(3));
    let hash = *signed.hash();
    let raw = encode(signed);
    let account = AccountState { nonce: 3, balance: U256::from(10u64).pow(U256::from(18)) };
    let Verdict::Admitted(a) = policy().admit(&raw, &ctx(Some(account))) else { panic!() };
    assert_eq!(a.signer, key.address());
    assert_eq!((a.nonce, a.hash, a.gas_limit), (3, hash, 21_000));
    assert_eq!(a.max_cost, U256::from(21_000u64 * 2_000_000_000 + 1));
    // Without account state the stateful checks are skipped.
    assert!(matches!(policy().admit(&raw, &ctx(None)), Verdict::Admitted(_)));
}

/// A transaction signed for another chain is refused, naming both ids.
#[test]
fn wrong_chain_id() {
    let raw =
        encode(sign(&signer(1), alloy_consensus::TxEip1559 { chain_id: 1, ..transfer_tx(0) }));
    assert_eq!(
        rejected(&policy(), &raw, &ctx(None)),
        R::WrongChainId { expected: CHAIN_ID, got: 1 }
    );
}

/// A legacy transaction without chain id is refused by default and allowed when configured.
#[test]
fn unprotected_legacy() {
    let tx = TxLegacy {
        chain_id: None,
        gas_price: 1_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(Address::with_last_byte(1)),
        ..Default::default()
    };
    let raw = encode(sign(&signer(1), tx.clone()));
    assert_eq!(rejected(&policy(), &raw, &ctx(None)), R::MissingChainId);
    let lenient = AdmissionPolicy { allow_unprotected: true, ..policy() };
    assert!(matches!(lenient.admit(&raw, &ctx(None)), Verdict::Admitted(_)));
    let protected = encode(sign(&signer(1), TxLegacy { chain_id: Some(CHAIN_ID), ..tx }));
    assert!(matches!(policy().admit(&protected, &ctx(None)), Verdict::Admitted(_)));
}

/// Size, gas and fee rules, each with its numbers.
#[test]
fn size_gas_and_fee_rules() {
    let big = alloy_consensus::TxEip1559 {
        input: vec![1u8; 140_000].into(),
        gas_limit: 3_000_000,
        ..transfer_tx(0)
    };
    let raw = encode(sign(&signer(1), big));
    assert!(
        matches!(rejected(&policy(), &raw, &ctx(None)), R::TooLarge { max: 131_072, got } if got > 140_000)
    );

    let greedy = encode(sign(
        &signer(1),
        alloy_consensus::TxEip1559 { gas_limit: 30_000_001, ..transfer_tx(0) },
    ));
    assert_eq!(
        rejected(&policy(), &greedy, &ctx(None)),
        R::GasLimitAboveBlock { block_gas_limit: 30_000_000, got: 30_000_001 }
    );

    let stingy = encode(sign(
        &signer(1),
        alloy_consensus::TxEip1559 { gas_limit: 20_999, ..transfer_tx(0) },
    ));
    assert_eq!(
        rejected(&policy(), &stingy, &ctx(None)),
        R::GasLimitBelowMinimum { minimum: 21_000, got: 20_999 }
    );

    let inverted = encode(sign(
        &signer(1),
        alloy_consensus::TxEip1559 {
            max_fee_per_gas: 5,
            max_priority_fee_per_gas: 6,
            ..transfer_tx(0)
        },
    ));
    assert_eq!(
        rejected(&policy(), &inverted, &ctx(None)),
        R::FeeInversion { max_fee_per_gas: 5, max_priority_fee_per_gas: 6 }
    );

    let cheap = encode(sign(
        &signer(1),
        alloy_consensus::TxEip1559 {
            max_fee_per_gas: 6,
            max_priority_fee_per_gas: 0,
            ..transfer_tx(0)
        },
    ));
    assert_eq!(rejected(&policy(), &cheap, &ctx(None)), R::FeeBelowFloor { floor: 7, got: 6 });
}

fn blob_network_form() -> Vec<u8> {
    let tx = TxEip4844WithSidecar::from_tx_and_sidecar(
        TxEip4844 {
            chain_id: CHAIN_ID,
            gas_limit: 21_000,
            max_fee_per_gas: 1_000_000_000,
            max_fee_per_blob_gas: 1,
            blob_versioned_hashes: vec![B256::repeat_byte(1)],
            ..Default::default()
        },
        BlobTransactionSidecarVariant::Eip4844(BlobTransactionSidecar::default()),
    );
    // eth_sendRawTransaction takes `0x03 || rlp([tx, blobs, commitments, proofs])`.
    let tx: TxEip4844Variant = TxEip4844Variant::TxEip4844WithSidecar(tx);
    TxEnvelope::Eip4844(sign(&signer(1), tx)).encoded_2718()
}

/// Blob transactions are refused before Cancun; from Cancun the network form is required.
#[test]
fn blob_rules() {
    let raw = blob_network_form();
    assert_eq!(rejected(&policy(), &raw, &ctx(None)), R::BlobBeforeCancun);
    let cancun =
        AdmissionPolicy { forks: ForkSchedule::all_from_genesis(Fork::Cancun), ..policy() };
    let Verdict::Admitted(a) = cancun.admit(&raw, &ctx(None)) else { panic!() };
    // Blob gas counts in the maximum cost: 21000 × 1 gwei + 131072 × 1.
    assert_eq!(a.max_cost, U256::from(21_000u64 * 1_000_000_000 + 131_072));

    let bare = fixtures::raw(&fixtures::blob_tx(0, 1));
    assert_eq!(rejected(&cancun, &bare, &ctx(None)), R::BlobWithoutSidecar);
}

/// Garbage, empty input and a signature that recovers nothing are refused, never a panic.
#[test]
fn garbage_and_bad_signatures() {
    assert_eq!(rejected(&policy(), &[], &ctx(None)), R::Empty);
    assert!(matches!(rejected(&policy(), &[0x02, 0xc0], &ctx(None)), R::Undecodable(_)));
    assert!(matches!(rejected(&policy(), b"hello world", &ctx(None)), R::Undecodable(_)));
    let mut raw = encode(sign(&signer(1), transfer_tx(0)));
    raw.push(0);
    assert!(matches!(rejected(&policy(), &raw, &ctx(None)), R::Undecodable(_)));

    // r = 0 recovers no key; a high s is refused by EIP-2.
    let zero_r = transfer_tx(0).into_signed(Signature::new(U256::ZERO, U256::from(1), false));
    assert!(matches!(rejected(&policy(), &encode(zero_r), &ctx(None)), R::BadSignature(_)));
    let good = sign(&signer(1), transfer_tx(0));
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let high =
        Signature::new(good.signature().r(), n - good.signature().s(), !good.signature().v());
    let malleated = transfer_tx(0).into_signed(high);
    assert!(matches!(rejected(&policy(), &encode(malleated), &ctx(None)), R::BadSignature(_)));
}

/// With the account known: a used nonce and too small a balance are refused.
#[test]
fn nonce_too_low_and_insufficient_funds() {
    let raw = encode(sign(&signer(1), transfer_tx(4)));
    let rich = U256::from(10u64).pow(U256::from(18));
    assert_eq!(
        rejected(&policy(), &raw, &ctx(Some(AccountState { nonce: 5, balance: rich }))),
        R::NonceTooLow { account: 5, got: 4 }
    );
    let cost = U256::from(21_000u64 * 2_000_000_000 + 1);
    assert_eq!(
        rejected(
            &policy(),
            &raw,
            &ctx(Some(AccountState { nonce: 4, balance: cost - U256::from(1) }))
        ),
        R::InsufficientFunds { balance: cost - U256::from(1), max_cost: cost }
    );
    assert!(matches!(
        policy().admit(&raw, &ctx(Some(AccountState { nonce: 4, balance: cost }))),
        Verdict::Admitted(_)
    ));
    // A future nonce is the pool's business, not a rejection.
    assert!(matches!(
        policy().admit(&raw, &ctx(Some(AccountState { nonce: 0, balance: cost }))),
        Verdict::Admitted(_)
    ));
}

/// A value so large the maximum cost overflows 256 bits is refused, not wrapped.
#[test]
fn cost_overflow() {
    let raw =
        encode(sign(&signer(1), alloy_consensus::TxEip1559 { value: U256::MAX, ..transfer_tx(0) }));
    assert_eq!(rejected(&policy(), &raw, &ctx(None)), R::CostOverflow);
    assert_eq!(ValidationError::from(R::CostOverflow).severity(), Severity::Fatal);
}
