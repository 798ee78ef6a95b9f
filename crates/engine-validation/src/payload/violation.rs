//! Every way a payload can be wrong, one variant per reason, with what was expected and what
//! was found.

use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256, U256};
use engine_types::Fork;

/// One broken rule of a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadViolation {
    /// The advertised `blockHash` is not the hash of the header the payload describes.
    #[error("block hash {got} does not match the header, which hashes to {computed}")]
    BlockHash {
        /// keccak256 of the RLP of the rebuilt header.
        computed: B256,
        /// The payload's `blockHash`.
        got: B256,
    },
    /// alloy could not rebuild the header for a reason no other variant names.
    #[error("the header cannot be rebuilt: {reason}")]
    HeaderUnbuildable {
        /// alloy's conversion error.
        reason: String,
    },
    /// The payload's version does not belong to the fork active at its timestamp.
    #[error("payload V{got} at a {fork:?} timestamp, which takes V{expected}")]
    PayloadVersion {
        /// The fork active at the payload's timestamp.
        fork: Fork,
        /// The payload version that fork uses.
        expected: u8,
        /// The payload version received.
        got: u8,
    },
    /// `parentHash` is not the parent's hash.
    #[error("parent hash {got}, expected {expected}")]
    ParentHash {
        /// The parent's hash.
        expected: B256,
        /// The payload's `parentHash`.
        got: B256,
    },
    /// `blockNumber` is not the parent's number plus one.
    #[error("block number {got}, expected {expected}")]
    Number {
        /// Parent number + 1.
        expected: u64,
        /// The payload's `blockNumber`.
        got: u64,
    },
    /// `timestamp` is not after the parent's.
    #[error("timestamp {got} is not after the parent's {parent}")]
    TimestampNotAfterParent {
        /// The parent's timestamp.
        parent: u64,
        /// The payload's timestamp.
        got: u64,
    },
    /// `timestamp` is not the slot timestamp we asked for.
    #[error("timestamp {got}, requested {expected}")]
    Timestamp {
        /// The requested timestamp.
        expected: u64,
        /// The payload's timestamp.
        got: u64,
    },
    /// `prevRandao` is not the one we asked for.
    #[error("prevRandao {got}, requested {expected}")]
    PrevRandao {
        /// The requested value.
        expected: B256,
        /// The payload's value.
        got: B256,
    },
    /// `feeRecipient` is not the configured one (fees must be burned).
    #[error("fee recipient {got}, requested {expected}")]
    FeeRecipient {
        /// The requested fee recipient.
        expected: Address,
        /// The payload's fee recipient.
        got: Address,
    },
    /// `gasUsed` exceeds `gasLimit`.
    #[error("gas used {gas_used} exceeds the gas limit {gas_limit}")]
    GasUsedAboveLimit {
        /// The payload's `gasUsed`.
        gas_used: u64,
        /// The payload's `gasLimit`.
        gas_limit: u64,
    },
    /// `gasLimit` moved by `parent / 1024` or more from the parent's.
    #[error("gas limit {got} moves by at least {max_change} from the parent's {parent}")]
    GasLimitChange {
        /// The parent's gas limit.
        parent: u64,
        /// The payload's gas limit.
        got: u64,
        /// `parent / 1024`: the change must stay strictly below it.
        max_change: u64,
    },
    /// `gasLimit` is below the protocol minimum of 5000.
    #[error("gas limit {got} is below the minimum {minimum}")]
    GasLimitBelowMinimum {
        /// The protocol minimum.
        minimum: u64,
        /// The payload's gas limit.
        got: u64,
    },
    /// `baseFeePerGas` is not the EIP-1559 value computed from the parent.
    #[error("base fee {got}, expected {expected} from the parent")]
    BaseFee {
        /// The EIP-1559 base fee of the child of the parent.
        expected: u64,
        /// The payload's `baseFeePerGas`.
        got: U256,
    },
    /// The parent's fields are out of any valid range (gas used above its limit, or a base fee
    /// so large that the next one overflows), so the next base fee cannot be computed.
    #[error(
        "the base fee after a parent with base fee {parent_base_fee}, gas used \
         {parent_gas_used} and gas limit {parent_gas_limit} cannot be computed"
    )]
    BaseFeeUncomputable {
        /// The parent's base fee.
        parent_base_fee: u64,
        /// The parent's gas used.
        parent_gas_used: u64,
        /// The parent's gas limit.
        parent_gas_limit: u64,
    },
    /// `extraData` is longer than 32 bytes.
    #[error("extra data is {got} bytes, at most {max} allowed")]
    ExtraDataTooLong {
        /// The limit.
        max: usize,
        /// The payload's extra data length.
        got: usize,
    },
    /// More withdrawals than a payload may carry.
    #[error("{got} withdrawals, at most {max} allowed")]
    TooManyWithdrawals {
        /// `MAX_WITHDRAWALS_PER_PAYLOAD`.
        max: usize,
        /// The payload's count.
        got: usize,
    },
    /// Not as many withdrawals as peg-ins expected: extra ones mint coins, missing ones lose
    /// peg-ins.
    #[error("{got} withdrawals, expected {expected}")]
    WithdrawalCount {
        /// The expected count.
        expected: usize,
        /// The payload's count.
        got: usize,
    },
    /// A withdrawal differs from the expected one at the same position.
    #[error("withdrawal #{position} is {got:?}, expected {expected:?}")]
    Withdrawal {
        /// Position in the list.
        position: usize,
        /// The expected withdrawal.
        expected: Withdrawal,
        /// The payload's withdrawal.
        got: Withdrawal,
    },
    /// Two withdrawals share an index.
    #[error("withdrawal #{position} repeats index {index}")]
    DuplicateWithdrawalIndex {
        /// Position of the repeat.
        position: usize,
        /// The repeated index.
        index: u64,
    },
    /// A transaction is zero bytes long.
    #[error("transaction #{position} is empty")]
    EmptyTransaction {
        /// Position in the payload.
        position: usize,
    },
    /// A transaction is not a valid EIP-2718 envelope.
    #[error("transaction #{position} does not decode: {reason}")]
    UndecodableTransaction {
        /// Position in the payload.
        position: usize,
        /// The decoder's reason.
        reason: String,
    },
    /// A blob transaction in a payload before Cancun.
    #[error("transaction #{position} is a blob transaction before Cancun")]
    BlobTransactionBeforeCancun {
        /// Position in the payload.
        position: usize,
    },
    /// The transactions add up to more bytes than allowed.
    #[error("transactions total {got} bytes, at most {max} allowed")]
    TransactionsTooLarge {
        /// The limit.
        max: usize,
        /// The total.
        got: usize,
    },
    /// From Cancun, `newPayload` must carry the parent beacon block root.
    #[error("the parent beacon block root is missing (Cancun is active)")]
    BeaconRootMissing,
    /// Before Cancun there is no parent beacon block root.
    #[error("a parent beacon block root was given before Cancun")]
    BeaconRootUnexpected,
    /// The parent beacon block root is not the one we asked for.
    #[error("parent beacon block root {got}, requested {expected}")]
    BeaconRoot {
        /// The requested root.
        expected: B256,
        /// The root given with the payload.
        got: B256,
    },
    /// From Prague, `newPayload` must carry the execution requests.
    #[error("execution requests are missing (Prague is active)")]
    RequestsMissing,
    /// Before Prague there are no execution requests.
    #[error("execution requests were given before Prague")]
    RequestsUnexpected,
    /// An execution request has no data after its type byte.
    #[error("execution request #{position} is {len} byte(s); more than 1 required")]
    RequestTooShort {
        /// Position in the list.
        position: usize,
        /// Its length.
        len: usize,
    },
    /// Execution requests are not sorted by type, or a type repeats.
    #[error("execution request #{position} has type {got}, not above the previous {previous}")]
    RequestsUnordered {
        /// Position in the list.
        position: usize,
        /// The previous request's type.
        previous: u8,
        /// This request's type.
        got: u8,
    },
    /// `blobGasUsed` is not the blob gas of the payload's blob transactions.
    #[error("blob gas used {got}, the transactions use {expected}")]
    BlobGasUsed {
        /// Blobs × 131072.
        expected: u64,
        /// The payload's `blobGasUsed`.
        got: u64,
    },
    /// `blobGasUsed` is above the fork's per-block maximum.
    #[error("blob gas used {got} exceeds the maximum {max}")]
    BlobGasAboveMax {
        /// The fork's maximum.
        max: u64,
        /// The payload's `blobGasUsed`.
        got: u64,
    },
    /// `excessBlobGas` is not the EIP-4844 value computed from the parent.
    #[error("excess blob gas {got}, expected {expected} from the parent")]
    ExcessBlobGas {
        /// The computed value.
        expected: u64,
        /// The payload's `excessBlobGas`.
        got: u64,
    },
    /// The versioned hashes given with `newPayload` are not those of the blob transactions.
    #[error("versioned hashes {got:?}, the transactions carry {expected:?}")]
    BlobVersionedHashes {
        /// The hashes of the payload's blob transactions, in order.
        expected: Vec<B256>,
        /// The hashes given with the payload.
        got: Vec<B256>,
    },
}
