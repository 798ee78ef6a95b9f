//! Payload validation (engine-validation `PayloadValidator::validate`) on mutations of a
//! valid payload: the Cancun devnet vector of the crate's tests, its block hash made true,
//! with a consistent parent, as an imported block or as our own build.
//!
//! Input: a list of [`Op`]s (structured by `arbitrary`), each changing one field of the
//! payload, its sidecar, its parent, the expected withdrawals or the fork schedule; `Rehash`
//! makes the block hash true again so that the checks behind it are reached. An empty input
//! is the valid payload itself. A mutated payload must give typed violations, never a
//! panic; an accepted one must keep what the engine relies on (lineage, requested fields,
//! exactly the expected withdrawals, a block hash that is the rebuilt header's, a header
//! that is alloy's own conversion's).
#![no_main]

use alloy_eips::{eip4895::Withdrawal, eip7685::Requests};
use alloy_primitives::{Address, B256, Bytes, U256, hex};
use alloy_rpc_types_engine::{
    CancunPayloadFields, ExecutionPayload, ExecutionPayloadSidecar, ExecutionPayloadV3,
    PraguePayloadFields,
};
use arbitrary::Arbitrary;
use engine_types::{Fork, ForkSchedule};
use engine_validation::{
    BuildRequest, Origin, ParentInfo, PayloadValidator, payload::rebuild_header,
};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// The payload every input starts from (engine-validation/tests/vectors/cancun_devnet.json).
const VECTOR: &str =
    include_str!("../../crates/engine-validation/tests/vectors/cancun_devnet.json");

/// The vector's parent beacon block root (from engine-validation/tests/payload.rs).
const BEACON_ROOT: B256 =
    B256::new(hex!("1162de8a0f4d20d86b9ad6e0a2575ab60f00a433dc70d9318c8abc9041fddf54"));

/// Signed EIP-1559 transfers of the dev chain, from engine-testkit's wire snapshots.
const KNOWN_TRANSACTIONS: [&str; 2] = [
    "02f8768301d97c80843b9aca008502540be400825208942222222222222222222222222222222222222222880de0b6b3a764000080c001a0a322d7765c94ab3d6f3207af2aa2d54f50be6232e4087a3cb21cf8badf68b9f0a03526a3a05c8ddf8b5d6aee9d853a940034e3690c4707005ee1fcbe8a4ad6fcda",
    "02f8708301d97c80843b9aca008502540be4008252089442424242424242424242424242424242424242428203e880c080a0c180f060c17aa49f0e667a955d9e114dfd2c30977d56b2bd96f6bac59040d5fca06db13e5016c738ccf0d10d372e5a6cd1d8c14ce2c00f1ef276444383f86b19d9",
];

/// One valid case: the payload, its sidecar, its parent, and what the engine expects.
#[derive(Clone)]
struct Case {
    payload: ExecutionPayloadV3,
    /// 1, 2 or 3: which `ExecutionPayload` variant is validated.
    version: u8,
    beacon_root: Option<B256>,
    versioned_hashes: Vec<B256>,
    requests: Option<Vec<Bytes>>,
    parent: ParentInfo,
    expected_withdrawals: Vec<Withdrawal>,
    forks: ForkSchedule,
    built: bool,
    /// What was asked for when the case is our own build: the base payload's timestamp,
    /// `prevRandao` and fee recipient.
    requested: (u64, B256, Address),
}

static BASE: LazyLock<Case> = LazyLock::new(|| {
    let payload: ExecutionPayloadV3 =
        serde_json::from_str(VECTOR).expect("the committed vector parses");
    let v1 = payload.payload_inner.payload_inner.clone();
    let parent = ParentInfo {
        hash: v1.parent_hash,
        number: v1.block_number - 1,
        timestamp: v1.timestamp - 12,
        gas_limit: v1.gas_limit,
        // Exactly the target: the child's base fee equals the parent's.
        gas_used: v1.gas_limit / 2,
        base_fee_per_gas: 8,
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
    };
    let mut case = Case {
        expected_withdrawals: payload.payload_inner.withdrawals.clone(),
        payload,
        version: 3,
        beacon_root: Some(BEACON_ROOT),
        versioned_hashes: Vec::new(),
        requests: None,
        parent,
        forks: ForkSchedule::all_from_genesis(Fork::Cancun),
        built: false,
        requested: (v1.timestamp, v1.prev_randao, v1.fee_recipient),
    };
    case.rehash();
    assert!(case.check().is_ok(), "the base case must be valid");
    case
});

/// One change to a case.
#[derive(Arbitrary, Debug)]
enum Op {
    ParentHash([u8; 32]),
    FeeRecipient([u8; 20]),
    StateRoot([u8; 32]),
    LogsBloom { at: u8, value: u8 },
    PrevRandao([u8; 32]),
    BlockNumber(u64),
    GasLimit(u64),
    GasUsed(u64),
    Timestamp(u64),
    ExtraData(Vec<u8>),
    BaseFee([u8; 32]),
    BaseFeeSmall(u64),
    BlockHash([u8; 32]),
    PushTransaction(Vec<u8>),
    PushKnownTransaction(u8),
    DropTransaction(u8),
    FlipTransactionByte { tx: u8, at: u16, xor: u8 },
    Withdrawal { at: u8, index: u64, validator_index: u64, address: [u8; 20], amount: u64 },
    PushWithdrawal { index: u64, validator_index: u64, address: [u8; 20], amount: u64 },
    DropWithdrawal(u8),
    ExpectWithdrawals(u8),
    BlobGasUsed(u64),
    ExcessBlobGas(u64),
    Version(u8),
    BeaconRoot(Option<[u8; 32]>),
    PushVersionedHash([u8; 32]),
    Requests(Option<Vec<Vec<u8>>>),
    ParentNumber(u64),
    ParentTimestamp(u64),
    ParentGasLimit(u64),
    ParentGasUsed(u64),
    ParentBaseFee(u64),
    ParentBlobGas(Option<u64>, Option<u64>),
    Forks { shanghai: Option<u64>, cancun: Option<u64>, prague: Option<u64> },
    Built(bool),
    Rehash,
}

impl Case {
    fn apply(&mut self, op: Op) {
        let v2 = &mut self.payload.payload_inner;
        let v1 = &mut v2.payload_inner;
        match op {
            Op::ParentHash(h) => v1.parent_hash = B256::new(h),
            Op::FeeRecipient(a) => v1.fee_recipient = Address::new(a),
            Op::StateRoot(h) => v1.state_root = B256::new(h),
            Op::LogsBloom { at, value } => v1.logs_bloom.0[usize::from(at)] = value,
            Op::PrevRandao(h) => v1.prev_randao = B256::new(h),
            Op::BlockNumber(n) => v1.block_number = n,
            Op::GasLimit(n) => v1.gas_limit = n,
            Op::GasUsed(n) => v1.gas_used = n,
            Op::Timestamp(n) => v1.timestamp = n,
            Op::ExtraData(bytes) => v1.extra_data = bytes.into(),
            Op::BaseFee(word) => v1.base_fee_per_gas = U256::from_be_bytes(word),
            Op::BaseFeeSmall(n) => v1.base_fee_per_gas = U256::from(n),
            Op::BlockHash(h) => v1.block_hash = B256::new(h),
            Op::PushTransaction(bytes) => v1.transactions.push(bytes.into()),
            Op::PushKnownTransaction(i) => {
                let raw = KNOWN_TRANSACTIONS[usize::from(i) % KNOWN_TRANSACTIONS.len()];
                v1.transactions.push(hex::decode(raw).expect("committed hex").into());
            }
            Op::DropTransaction(i) => {
                if !v1.transactions.is_empty() {
                    v1.transactions.remove(usize::from(i) % v1.transactions.len());
                }
            }
            Op::FlipTransactionByte { tx, at, xor } => {
                let count = v1.transactions.len();
                if let Some(raw) = v1.transactions.get_mut(usize::from(tx) % count.max(1))
                    && !raw.is_empty()
                {
                    let mut bytes = raw.to_vec();
                    let at = usize::from(at) % bytes.len();
                    bytes[at] ^= xor;
                    *raw = bytes.into();
                }
            }
            Op::Withdrawal { at, index, validator_index, address, amount } => {
                let count = v2.withdrawals.len();
                if let Some(w) = v2.withdrawals.get_mut(usize::from(at) % count.max(1)) {
                    *w = Withdrawal {
                        index,
                        validator_index,
                        address: Address::new(address),
                        amount,
                    };
                }
            }
            Op::PushWithdrawal { index, validator_index, address, amount } => {
                v2.withdrawals.push(Withdrawal {
                    index,
                    validator_index,
                    address: Address::new(address),
                    amount,
                })
            }
            Op::DropWithdrawal(i) => {
                if !v2.withdrawals.is_empty() {
                    v2.withdrawals.remove(usize::from(i) % v2.withdrawals.len());
                }
            }
            // The consensus layer expects the first `n` of the payload's withdrawals.
            Op::ExpectWithdrawals(n) => {
                self.expected_withdrawals =
                    v2.withdrawals.iter().take(usize::from(n)).copied().collect();
            }
            Op::BlobGasUsed(n) => self.payload.blob_gas_used = n,
            Op::ExcessBlobGas(n) => self.payload.excess_blob_gas = n,
            Op::Version(v) => self.version = 1 + v % 3,
            Op::BeaconRoot(root) => self.beacon_root = root.map(B256::new),
            Op::PushVersionedHash(h) => self.versioned_hashes.push(B256::new(h)),
            Op::Requests(requests) => {
                self.requests = requests.map(|r| r.into_iter().map(Bytes::from).collect());
            }
            Op::ParentNumber(n) => self.parent.number = n,
            Op::ParentTimestamp(n) => self.parent.timestamp = n,
            Op::ParentGasLimit(n) => self.parent.gas_limit = n,
            Op::ParentGasUsed(n) => self.parent.gas_used = n,
            Op::ParentBaseFee(n) => self.parent.base_fee_per_gas = n,
            Op::ParentBlobGas(used, excess) => {
                self.parent.blob_gas_used = used;
                self.parent.excess_blob_gas = excess;
            }
            Op::Forks { shanghai, cancun, prague } => {
                let forks = ForkSchedule { shanghai, cancun, prague };
                // The engine only ever runs with a schedule its config check accepted.
                if forks.problems().is_empty() {
                    self.forks = forks;
                }
            }
            Op::Built(built) => self.built = built,
            Op::Rehash => self.rehash(),
        }
    }

    fn execution_payload(&self) -> ExecutionPayload {
        match self.version {
            1 => ExecutionPayload::V1(self.payload.payload_inner.payload_inner.clone()),
            2 => ExecutionPayload::V2(self.payload.payload_inner.clone()),
            _ => ExecutionPayload::V3(self.payload.clone()),
        }
    }

    fn sidecar(&self) -> ExecutionPayloadSidecar {
        let Some(root) = self.beacon_root else { return ExecutionPayloadSidecar::none() };
        let cancun = CancunPayloadFields::new(root, self.versioned_hashes.clone());
        match &self.requests {
            Some(requests) => ExecutionPayloadSidecar::v4(
                cancun,
                PraguePayloadFields::new(Requests::new(requests.clone())),
            ),
            None => ExecutionPayloadSidecar::v3(cancun),
        }
    }

    /// Makes the advertised block hash the rebuilt header's, when a header can be rebuilt.
    fn rehash(&mut self) {
        if let Ok(header) = rebuild_header(&self.execution_payload(), &self.sidecar()) {
            self.payload.payload_inner.payload_inner.block_hash = header.hash_slow();
        }
    }

    fn request(&self) -> BuildRequest {
        let (timestamp, prev_randao, fee_recipient) = self.requested;
        BuildRequest {
            timestamp,
            prev_randao,
            fee_recipient,
            withdrawals: self.expected_withdrawals.clone(),
            parent_beacon_block_root: Some(BEACON_ROOT),
        }
    }

    /// Validates the case and checks what an accepted payload promises.
    fn check(&self) -> Result<(), usize> {
        let payload = self.execution_payload();
        let sidecar = self.sidecar();
        let request = self.request();
        let origin = if self.built {
            Origin::Built(&request)
        } else {
            Origin::Imported { withdrawals: &self.expected_withdrawals }
        };
        let validator = PayloadValidator::new(self.forks);
        let verdict = validator.validate(&payload, &sidecar, &self.parent, origin);
        let decoding = validator.validate_and_decode(&payload, &sidecar, &self.parent, origin);
        // The two entry points differ only in what they hand back.
        assert_eq!(verdict, decoding.clone().map(|(valid, _)| valid));
        match decoding {
            Ok((valid, transactions)) => {
                assert_eq!(valid.block_hash, payload.block_hash());
                assert_eq!(valid.header.hash_slow(), valid.block_hash);
                // The header (its roots from engine-validation's own trie and keccak) is
                // alloy's conversion's, field for field.
                let alloy = payload.clone().into_block_with_sidecar_raw(&sidecar);
                assert_eq!(alloy.map(|b| b.header).ok(), Some(valid.header.clone()));
                assert_eq!(payload.parent_hash(), self.parent.hash);
                assert_eq!(Some(payload.block_number()), self.parent.number.checked_add(1));
                assert!(payload.timestamp() > self.parent.timestamp);
                assert!(payload.as_v1().gas_used <= payload.as_v1().gas_limit);
                assert!(payload.as_v1().extra_data.len() <= 32);
                let withdrawals = payload.withdrawals().map_or(&[][..], Vec::as_slice);
                assert_eq!(withdrawals, self.expected_withdrawals.as_slice());
                assert_eq!(transactions.len(), payload.transactions().len());
                if self.built {
                    assert_eq!(payload.timestamp(), request.timestamp);
                    assert_eq!(payload.as_v1().prev_randao, request.prev_randao);
                    assert_eq!(payload.as_v1().fee_recipient, request.fee_recipient);
                }
                Ok(())
            }
            Err(invalid) => {
                assert!(!invalid.violations.is_empty(), "refused without a violation");
                assert_eq!(invalid.block_hash, payload.block_hash());
                // Every violation renders (its Display is what the logs carry).
                let _ = invalid.to_string();
                Err(invalid.violations.len())
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mut case = BASE.clone();
    for op in input.ops.into_iter().take(64) {
        case.apply(op);
    }
    let _ = case.check();
});
