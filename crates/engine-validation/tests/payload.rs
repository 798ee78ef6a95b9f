//! Payload validation: known block hashes per fork, every rule broken one at a time, single
//! field mutations, and random correct payloads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixtures;

use alloy_eips::{eip4895::Withdrawal, eip7685::Requests};
use alloy_primitives::{Address, B256, Bytes, U256, b256};
use alloy_rpc_types_engine::{
    CancunPayloadFields, ExecutionPayload, ExecutionPayloadSidecar, ExecutionPayloadV2,
    ExecutionPayloadV3, PraguePayloadFields,
};
use engine_types::{Fork, ForkSchedule};
use engine_validation::{Origin, PayloadViolation as V, payload::rebuild_header};
use fixtures::{Case, Spec, blob_tx, raw, transfers, withdrawals};
use proptest::prelude::*;

fn violations(case: &Case) -> Vec<V> {
    case.validate().expect_err("expected violations").violations
}

/// Rebuild the sidecar with a changed beacon root or requests.
fn residecar(case: &mut Case, root: Option<B256>, requests: Option<Requests>) {
    let cancun = case.sidecar.cancun().cloned();
    let cancun = cancun.map(|c| {
        CancunPayloadFields::new(root.unwrap_or(c.parent_beacon_block_root), c.versioned_hashes)
    });
    case.sidecar = match (cancun, requests.or_else(|| case.sidecar.requests().cloned())) {
        (Some(c), Some(r)) => ExecutionPayloadSidecar::v4(c, PraguePayloadFields::new(r)),
        (Some(c), None) => ExecutionPayloadSidecar::v3(c),
        _ => ExecutionPayloadSidecar::none(),
    };
}

// ---------------------------------------------------------------------------------------------
// Known vectors
// ---------------------------------------------------------------------------------------------

/// A real Shanghai-era payload (Base mainnet block 14931416, from alloy's test suite; its
/// header is Ethereum's Shanghai header): the rebuilt header hashes to the advertised hash.
#[test]
fn shanghai_mainnet_payload_hashes_to_its_block_hash() {
    let json = include_str!("vectors/shanghai_base_mainnet.json");
    let payload = ExecutionPayload::V2(serde_json::from_str::<ExecutionPayloadV2>(json).unwrap());
    let header = rebuild_header(&payload, &ExecutionPayloadSidecar::none()).unwrap();
    assert_eq!(
        header.hash_slow(),
        b256!("0xf5c147b2d60a519b72434f0a8e082e18599021294dd9085d7597b0ffa638f1c0")
    );
    assert_eq!(header.hash_slow(), payload.block_hash());
    assert_eq!(
        header.withdrawals_root,
        Some(alloy_consensus::proofs::calculate_withdrawals_root(&[]))
    );
}

/// A Cancun devnet payload whose advertised hash was produced by a reth bug (reth#6328): with
/// the beacon root from the sidecar the true hash is found, and the bogus one is refused.
#[test]
fn cancun_devnet_payload_needs_the_sidecar_and_catches_a_bad_hash() {
    let json = include_str!("vectors/cancun_devnet.json");
    let payload = ExecutionPayload::V3(serde_json::from_str::<ExecutionPayloadV3>(json).unwrap());
    let sidecar = ExecutionPayloadSidecar::v3(CancunPayloadFields::new(
        b256!("0x1162de8a0f4d20d86b9ad6e0a2575ab60f00a433dc70d9318c8abc9041fddf54"),
        vec![],
    ));
    let truth = b256!("0xa7cdd5f9e54147b53a15833a8c45dffccbaed534d7fdc23458f45102a4bf71b0");
    assert_eq!(rebuild_header(&payload, &sidecar).unwrap().hash_slow(), truth);
    // Without the sidecar the beacon root is missing and the hash differs.
    assert_ne!(
        rebuild_header(&payload, &ExecutionPayloadSidecar::none()).unwrap().hash_slow(),
        truth
    );

    let parent = engine_validation::ParentInfo {
        hash: payload.parent_hash(),
        number: payload.block_number() - 1,
        timestamp: payload.timestamp() - 12,
        gas_limit: payload.gas_limit(),
        gas_used: payload.gas_limit() / 2,
        base_fee_per_gas: 8,
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
    };
    let validator =
        engine_validation::PayloadValidator::new(ForkSchedule::all_from_genesis(Fork::Cancun));
    let withdrawals = payload.withdrawals().unwrap().clone();
    let err = validator
        .validate(&payload, &sidecar, &parent, Origin::Imported { withdrawals: &withdrawals })
        .unwrap_err();
    assert_eq!(err.violations, vec![V::BlockHash { computed: truth, got: payload.block_hash() }]);
}

/// Our constructed children, one per fork, validate and hash to pinned values (a change in
/// how alloy builds or hashes headers shows up here).
#[test]
fn constructed_children_per_fork_validate_with_pinned_hashes() {
    let prague_requests =
        Requests::new(vec![Bytes::from_static(&[0, 1, 2]), Bytes::from_static(&[2, 9])]);
    let cases = [
        (
            Spec {
                withdrawals: withdrawals(3, 7),
                transactions: transfers(2),
                ..Spec::new(Fork::Shanghai)
            },
            b256!("0x705ff0cb184696d1c8d9cafd4f73cbac81f8b83459344ead306b0ff624060363"),
        ),
        (
            Spec {
                withdrawals: withdrawals(2, 0),
                transactions: vec![transfers(1).remove(0), blob_tx(0, 2)],
                ..Spec::new(Fork::Cancun)
            },
            b256!("0xe37d3fe25da2117b9aa8a8bfcce4fc5c8a1597c09478d96dbe0068445b26c914"),
        ),
        (
            Spec { withdrawals: withdrawals(1, 0), ..Spec::new(Fork::Prague) },
            b256!("0x667b6f64ac1cab625d0b46c7c099d4ddc1c616529338d9688a3a1cdb3469d1c6"),
        ),
        (
            Spec { requests: Some(prague_requests), ..Spec::new(Fork::Prague) },
            b256!("0x09b187384ec7d4016015a047a91abc1d737064c68cc801a94a29867e26715242"),
        ),
    ];
    for (spec, pinned) in cases {
        let fork = spec.fork;
        let case = Case::new(spec);
        let ok = case.validate().unwrap_or_else(|e| panic!("{fork:?}: {e}"));
        assert_eq!(ok.block_hash, case.header.hash_slow(), "{fork:?}");
        assert_eq!(ok.header, case.header, "{fork:?}");
        assert_eq!(ok.fork, fork);
        assert_eq!(ok.block_hash, pinned, "{fork:?}");
        case.validate_imported().unwrap();
    }
}

/// Prague with no requests commits to the EIP-7685 empty hash, sha256 of nothing hashed.
#[test]
fn prague_without_requests_uses_the_empty_requests_hash() {
    let case = Case::new(Spec::new(Fork::Prague));
    let ok = case.validate().unwrap();
    assert_eq!(ok.header.requests_hash, Some(alloy_eips::eip7685::EMPTY_REQUESTS_HASH));
    assert_eq!(
        alloy_eips::eip7685::EMPTY_REQUESTS_HASH,
        b256!("0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
}

// ---------------------------------------------------------------------------------------------
// Each rule, broken alone (the block hash is recomputed so only that rule can fail)
// ---------------------------------------------------------------------------------------------

fn broken(fork: Fork, spec: impl Fn(Spec) -> Spec, mutate: impl Fn(&mut Case)) -> Vec<V> {
    let mut case = Case::new(spec(Spec::new(fork)));
    mutate(&mut case);
    case.rehash();
    violations(&case)
}

fn same(s: Spec) -> Spec {
    s
}

/// Lineage and requested fields: each named with expected and observed values.
#[test]
fn lineage_and_request_rules() {
    let case = Case::new(Spec::new(Fork::Shanghai));
    let (parent, request) = (case.parent, case.request);
    assert_eq!(
        broken(Fork::Shanghai, same, |c| c.payload.as_v1_mut().parent_hash = B256::ZERO),
        vec![V::ParentHash { expected: parent.hash, got: B256::ZERO }]
    );
    assert_eq!(
        broken(Fork::Shanghai, same, |c| c.payload.as_v1_mut().block_number += 1),
        vec![V::Number { expected: parent.number + 1, got: parent.number + 2 }]
    );
    assert_eq!(
        broken(Fork::Shanghai, |s| Spec { timestamp_delta: 0, ..s }, |_| {}),
        vec![V::TimestampNotAfterParent { parent: parent.timestamp, got: parent.timestamp }]
    );
    assert_eq!(
        broken(Fork::Shanghai, same, |c| c.request.timestamp += 1),
        vec![V::Timestamp { expected: request.timestamp + 1, got: request.timestamp }]
    );
    assert_eq!(
        broken(Fork::Shanghai, same, |c| c.payload.as_v1_mut().prev_randao = B256::ZERO),
        vec![V::PrevRandao { expected: request.prev_randao, got: B256::ZERO }]
    );
    let miner = Address::with_last_byte(9);
    assert_eq!(
        broken(Fork::Shanghai, same, |c| c.payload.as_v1_mut().fee_recipient =
            Address::with_last_byte(9)),
        vec![V::FeeRecipient { expected: request.fee_recipient, got: miner }]
    );
}

/// Gas rules follow Ethereum: used ≤ limit, change strictly below parent/1024, ≥ 5000,
/// base fee from EIP-1559, extra data ≤ 32 bytes.
#[test]
fn gas_base_fee_and_extra_data_rules() {
    let parent = Case::new(Spec::new(Fork::Shanghai)).parent;
    let bound = parent.gas_limit / 1024;
    // One below the bound either way passes; the bound itself fails.
    for delta in [bound as i64 - 1, -(bound as i64) + 1] {
        Case::new(Spec { gas_limit_delta: delta, ..Spec::new(Fork::Shanghai) }).validate().unwrap();
    }
    for delta in [bound as i64, -(bound as i64)] {
        let case = Case::new(Spec { gas_limit_delta: delta, ..Spec::new(Fork::Shanghai) });
        assert_eq!(
            violations(&case),
            vec![V::GasLimitChange {
                parent: parent.gas_limit,
                got: parent.gas_limit.checked_add_signed(delta).unwrap(),
                max_change: bound
            }]
        );
    }
    assert_eq!(
        broken(Fork::Shanghai, same, |c| c.payload.as_v1_mut().gas_used = 30_000_001),
        vec![V::GasUsedAboveLimit { gas_used: 30_000_001, gas_limit: 30_000_000 }]
    );
    let expected = fixtures::parent_header(Fork::Shanghai); // 17M of 30M used at 1 gwei
    assert_eq!(expected.gas_used, 17_000_000);
    assert_eq!(
        broken(Fork::Shanghai, same, |c| c.payload.as_v1_mut().base_fee_per_gas =
            U256::from(1_000_000_000u64)),
        vec![V::BaseFee { expected: 1_016_666_666, got: U256::from(1_000_000_000u64) }]
    );
    let case =
        Case::new(Spec { extra_data: Bytes::from(vec![7; 33]), ..Spec::new(Fork::Shanghai) });
    assert_eq!(violations(&case), vec![V::ExtraDataTooLong { max: 32, got: 33 }]);
    Case::new(Spec { extra_data: Bytes::from(vec![7; 32]), ..Spec::new(Fork::Shanghai) })
        .validate()
        .unwrap();
}

/// A tiny parent gas limit makes every child fail the minimum, as in geth.
#[test]
fn gas_limit_minimum() {
    let mut case = Case::new(Spec::new(Fork::Shanghai));
    case.parent.gas_limit = 5_000;
    case.parent.gas_used = 2_500;
    case.payload.as_v1_mut().gas_limit = 4_999;
    case.payload.as_v1_mut().base_fee_per_gas = U256::from(1_000_000_000u64);
    case.rehash();
    assert_eq!(violations(&case), vec![V::GasLimitBelowMinimum { minimum: 5000, got: 4_999 }]);
}

/// Withdrawals: an extra one (the old minting hole) is refused for built and imported blocks.
#[test]
fn extra_withdrawal_is_refused_for_built_and_imported() {
    let mut case = Case::new(Spec { withdrawals: withdrawals(2, 0), ..Spec::new(Fork::Shanghai) });
    let mint = Withdrawal {
        index: 2,
        validator_index: 0,
        address: Address::with_last_byte(0xee),
        amount: 21_000_000,
    };
    case.payload.as_v2_mut().unwrap().withdrawals.push(mint);
    case.rehash();
    let expected = vec![V::WithdrawalCount { expected: 2, got: 3 }];
    assert_eq!(violations(&case), expected);
    assert_eq!(case.validate_imported().unwrap_err().violations, expected);
}

/// Transactions: empty, garbage, blob before Cancun, too large in total.
#[test]
fn transaction_rules() {
    fn txs(c: &mut Case) -> &mut Vec<Bytes> {
        &mut c.payload.as_v1_mut().transactions
    }
    let mut case = Case::new(Spec { transactions: transfers(2), ..Spec::new(Fork::Shanghai) });
    txs(&mut case).push(Bytes::new());
    txs(&mut case).push(Bytes::from_static(&[0x02, 0xc1, 0x80]));
    case.rehash();
    let found = violations(&case);
    assert_eq!(found[0], V::EmptyTransaction { position: 2 });
    assert!(matches!(found[1], V::UndecodableTransaction { position: 3, .. }), "{found:?}");
    assert_eq!(found.len(), 2);

    let mut case = Case::new(Spec::new(Fork::Shanghai));
    txs(&mut case).push(raw(&blob_tx(0, 1)));
    case.rehash();
    assert_eq!(violations(&case), vec![V::BlobTransactionBeforeCancun { position: 0 }]);

    let mut case = Case::new(Spec { transactions: transfers(3), ..Spec::new(Fork::Shanghai) });
    let total: usize = case.payload.transactions().iter().map(|t| t.len()).sum();
    case.validator.limits.max_transaction_bytes = total - 1;
    assert_eq!(violations(&case), vec![V::TransactionsTooLarge { max: total - 1, got: total }]);
}

/// Fork fields: payload version, beacon root presence and value, requests presence and order.
#[test]
fn fork_field_rules() {
    // A Cancun (V3) payload at a Shanghai timestamp.
    let mut case = Case::new(Spec::new(Fork::Cancun));
    case.validator.forks = ForkSchedule::all_from_genesis(Fork::Shanghai);
    let found = violations(&case);
    assert!(
        found.contains(&V::PayloadVersion { fork: Fork::Shanghai, expected: 2, got: 3 }),
        "{found:?}"
    );
    assert!(found.contains(&V::BeaconRootUnexpected), "{found:?}");

    // A Shanghai (V2) payload at a Cancun timestamp, and the sidecar missing.
    let mut case = Case::new(Spec::new(Fork::Shanghai));
    case.validator.forks = ForkSchedule::all_from_genesis(Fork::Cancun);
    assert_eq!(
        violations(&case),
        vec![V::PayloadVersion { fork: Fork::Cancun, expected: 3, got: 2 }, V::BeaconRootMissing]
    );

    let asked = Case::new(Spec::new(Fork::Cancun)).request.parent_beacon_block_root.unwrap();
    assert_eq!(
        broken(Fork::Cancun, same, |c| residecar(c, Some(B256::ZERO), None)),
        vec![V::BeaconRoot { expected: asked, got: B256::ZERO }]
    );

    let mut case = Case::new(Spec::new(Fork::Cancun));
    case.validator.forks = ForkSchedule::all_from_genesis(Fork::Prague);
    assert!(violations(&case).contains(&V::RequestsMissing));
    let mut case = Case::new(Spec::new(Fork::Prague));
    case.validator.forks = ForkSchedule::all_from_genesis(Fork::Cancun);
    assert!(violations(&case).contains(&V::RequestsUnexpected));

    let unordered = Requests::new(vec![
        Bytes::from_static(&[2, 1]),
        Bytes::from_static(&[1, 1]),
        Bytes::from_static(&[3]),
    ]);
    assert_eq!(
        broken(Fork::Prague, |s| Spec { requests: Some(unordered.clone()), ..s }, |_| {}),
        vec![
            V::RequestsUnordered { position: 1, previous: 2, got: 1 },
            V::RequestTooShort { position: 2, len: 1 },
        ]
    );
}

/// Blob gas: used must match the blobs carried, excess must follow the parent, and the
/// versioned hashes sent with the payload must be those of the transactions.
#[test]
fn blob_gas_rules() {
    let blob = |s: Spec| Spec { transactions: vec![blob_tx(0, 2)], ..s };
    let gas = alloy_eips::eip4844::DATA_GAS_PER_BLOB;
    assert_eq!(
        broken(Fork::Cancun, blob, |c| c.payload.as_v3_mut().unwrap().blob_gas_used = gas),
        vec![V::BlobGasUsed { expected: 2 * gas, got: gas }]
    );
    assert_eq!(
        broken(Fork::Cancun, blob, |c| c.payload.as_v3_mut().unwrap().excess_blob_gas += 1),
        vec![V::ExcessBlobGas { expected: 4 * gas, got: 4 * gas + 1 }]
    );
    let mut case = Case::new(blob(Spec::new(Fork::Cancun)));
    let root = case.sidecar.parent_beacon_block_root().unwrap();
    let hashes = case.sidecar.versioned_hashes().unwrap().clone();
    case.sidecar =
        ExecutionPayloadSidecar::v3(CancunPayloadFields::new(root, vec![hashes[1], hashes[0]]));
    assert_eq!(
        violations(&case),
        vec![V::BlobVersionedHashes { expected: hashes.clone(), got: vec![hashes[1], hashes[0]] }]
    );
}

/// Several broken rules are all reported, in check order, not just the first.
#[test]
fn every_violation_is_listed() {
    let mut case = Case::new(Spec { withdrawals: withdrawals(1, 0), ..Spec::new(Fork::Shanghai) });
    let v1 = case.payload.as_v1_mut();
    v1.block_number += 5;
    v1.fee_recipient = Address::ZERO;
    v1.gas_used = v1.gas_limit + 1;
    case.payload.as_v2_mut().unwrap().withdrawals.clear();
    let found = violations(&case);
    let kinds: Vec<_> = found
        .iter()
        .map(|v| format!("{v:?}").split([' ', '{']).next().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["Number", "FeeRecipient", "GasUsedAboveLimit", "WithdrawalCount", "BlockHash"]
    );
    let text = case.validate().unwrap_err().to_string();
    assert!(text.contains("5 violation(s)") && text.contains("fee recipient"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Mutations: flipping one bit of any field the hash commits to is caught
// ---------------------------------------------------------------------------------------------

/// Flip bit `bit` of a field of the case.
type Mutation = fn(&mut Case, usize);

fn flip_b256(x: &mut B256, bit: usize) {
    x.0[(bit / 8) % 32] ^= 1 << (bit % 8);
}

/// Every single-bit mutation of a header field, a transaction, a withdrawal or a sidecar field
/// (the block hash left as advertised).
fn mutations() -> Vec<(&'static str, Mutation)> {
    vec![
        ("parent_hash", |c, b| flip_b256(&mut c.payload.as_v1_mut().parent_hash, b)),
        ("fee_recipient", |c, b| {
            c.payload.as_v1_mut().fee_recipient.0[(b / 8) % 20] ^= 1 << (b % 8)
        }),
        ("state_root", |c, b| flip_b256(&mut c.payload.as_v1_mut().state_root, b)),
        ("receipts_root", |c, b| flip_b256(&mut c.payload.as_v1_mut().receipts_root, b)),
        ("logs_bloom", |c, b| c.payload.as_v1_mut().logs_bloom.0[(b / 8) % 256] ^= 1 << (b % 8)),
        ("prev_randao", |c, b| flip_b256(&mut c.payload.as_v1_mut().prev_randao, b)),
        ("block_number", |c, b| c.payload.as_v1_mut().block_number ^= 1 << (b % 64)),
        ("gas_limit", |c, b| c.payload.as_v1_mut().gas_limit ^= 1 << (b % 64)),
        ("gas_used", |c, b| c.payload.as_v1_mut().gas_used ^= 1 << (b % 64)),
        ("timestamp", |c, b| c.payload.as_v1_mut().timestamp ^= 1 << (b % 64)),
        ("extra_data", |c, b| {
            let mut v = c.payload.as_v1().extra_data.to_vec();
            let i = (b / 8) % v.len();
            v[i] ^= 1 << (b % 8);
            c.payload.as_v1_mut().extra_data = v.into();
        }),
        ("base_fee", |c, b| {
            c.payload.as_v1_mut().base_fee_per_gas ^= U256::from(1u64) << (b % 256)
        }),
        ("block_hash", |c, b| flip_b256(&mut c.payload.as_v1_mut().block_hash, b)),
        ("transaction", |c, b| {
            let txs = &mut c.payload.as_v1_mut().transactions;
            let mut t = txs[0].to_vec();
            let i = (b / 8) % t.len();
            t[i] ^= 1 << (b % 8);
            txs[0] = t.into();
        }),
        ("withdrawal", |c, b| {
            let w = &mut c.payload.as_v2_mut().unwrap().withdrawals[0];
            match b % 3 {
                0 => w.amount ^= 1 << (b % 64),
                1 => w.index ^= 1 << (b % 64),
                _ => w.address.0[(b / 8) % 20] ^= 1 << (b % 8),
            }
        }),
        ("blob_gas_used", |c, b| c.payload.as_v3_mut().unwrap().blob_gas_used ^= 1 << (b % 64)),
        ("excess_blob_gas", |c, b| c.payload.as_v3_mut().unwrap().excess_blob_gas ^= 1 << (b % 64)),
        ("beacon_root", |c, b| {
            let mut root = c.sidecar.parent_beacon_block_root().unwrap();
            flip_b256(&mut root, b);
            residecar(c, Some(root), None);
        }),
        ("requests", |c, b| {
            let mut list = c.sidecar.requests().unwrap().clone().take();
            let mut r = list[0].to_vec();
            // Keep the type byte, so only the hash (not the ordering rule) can catch it.
            let i = 1 + (b / 8) % (r.len() - 1);
            r[i] ^= 1 << (b % 8);
            list[0] = r.into();
            residecar(c, None, Some(Requests::new(list)));
        }),
    ]
}

/// A Prague case exercising every mutable field: transactions, withdrawals, blobs, requests.
fn full_case() -> Case {
    Case::new(Spec {
        transactions: vec![transfers(1).remove(0), blob_tx(0, 1)],
        withdrawals: withdrawals(2, 10),
        requests: Some(Requests::new(vec![Bytes::from_static(&[0, 1, 2, 3])])),
        ..Spec::new(Fork::Prague)
    })
}

/// Flipping one bit of any field (without fixing the hash) makes validation fail with a
/// block hash mismatch.
#[test]
fn any_single_bit_flip_is_a_block_hash_mismatch() {
    let pristine = full_case();
    pristine.validate().unwrap();
    for (name, mutate) in mutations() {
        for bit in [0, 7, 9, 63] {
            let mut case = pristine.clone();
            mutate(&mut case, bit);
            let err = case.validate().expect_err(name);
            assert!(
                err.violations.iter().any(|v| matches!(v, V::BlockHash { .. })),
                "{name} bit {bit}: {err}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Randomly shaped but correctly built payloads of every fork pass, as built and as
    /// imported.
    #[test]
    fn correct_payloads_pass(
        fork in prop_oneof![Just(Fork::Paris), Just(Fork::Shanghai), Just(Fork::Cancun), Just(Fork::Prague)],
        n_tx in 0usize..4,
        n_w in 0usize..=16,
        w_start in 0u64..1_000_000,
        gas_used in 0u64..=30_000_000,
        gas_delta in -29_000i64..29_000,
        ts in 1u64..100,
        extra in proptest::collection::vec(any::<u8>(), 0..=32),
        randao in any::<[u8; 32]>(),
        blobs in 0u8..3,
    ) {
        let mut transactions = transfers(n_tx);
        if fork >= Fork::Cancun && blobs > 0 {
            transactions.push(blob_tx(0, blobs));
        }
        let spec = Spec {
            transactions,
            withdrawals: if fork >= Fork::Shanghai { withdrawals(n_w, w_start) } else { vec![] },
            gas_used: gas_used.min((30_000_000i64 + gas_delta) as u64),
            gas_limit_delta: gas_delta,
            timestamp_delta: ts,
            extra_data: extra.into(),
            prev_randao: B256::from(randao),
            ..Spec::new(fork)
        };
        let case = Case::new(spec);
        let ok = case.validate();
        prop_assert!(ok.is_ok(), "{:?}", ok.err());
        prop_assert!(case.validate_imported().is_ok());
    }

    /// Any single-bit mutation of any field of a full Prague payload is refused.
    #[test]
    fn any_mutation_fails(which in 0usize..19, bit in 0usize..2048) {
        let all = mutations();
        let (name, mutate) = all[which % all.len()];
        let mut case = full_case();
        mutate(&mut case, bit);
        prop_assert!(case.validate().is_err(), "{} bit {} passed", name, bit);
    }
}

/// `validate_and_decode` hands the decoded transactions back in order and equal to the
/// payload's bytes; `validate` keeps none (same verdict, see `Case::validate_as`).
#[test]
fn validated_payload_keeps_the_decoded_transactions() {
    let txs = transfers(3);
    let case = Case::new(Spec { transactions: txs.clone(), ..Spec::new(Fork::Shanghai) });
    let ok = case.validate().unwrap();
    let (_, decoded) = case
        .validator
        .validate_and_decode(
            &case.payload,
            &case.sidecar,
            &case.parent,
            Origin::Built(&case.request),
        )
        .unwrap();
    assert_eq!(decoded, txs);
    assert_eq!(
        decoded.iter().map(|t| *t.tx_hash()).collect::<Vec<_>>(),
        txs.iter().map(|t| *t.tx_hash()).collect::<Vec<_>>()
    );
    let parent = ok.as_parent();
    assert_eq!((parent.hash, parent.number), (ok.block_hash, case.parent.number + 1));
}
