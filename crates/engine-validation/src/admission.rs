//! Transaction admission: the checks a raw transaction must pass before the engine forwards it
//! to the execution client (`eth_sendRawTransaction`) for the network actor.
//!
//! Stateless checks come first, cheapest first (size, decoding, chain id, gas, fees, blob
//! rules), then the signer is recovered, then — only when the caller knows the sender's account
//! from the execution client — nonce and balance. The first failure is the verdict.

use alloy_consensus::{Transaction, TxEip4844Variant, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::{eip1559::MIN_PROTOCOL_BASE_FEE, eip2718::Decodable2718};
use alloy_primitives::{Address, B256, U256};
use engine_types::{Fork, ForkSchedule, config::ChainConfig};

/// The intrinsic gas of the cheapest transaction: no transaction can use less.
const MIN_TX_GAS: u64 = 21_000;

/// What a node accepts, independent of chain state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionPolicy {
    /// The only accepted EIP-155 chain id.
    pub chain_id: u64,
    /// Accept legacy transactions without a chain id (replayable on any chain; default no).
    pub allow_unprotected: bool,
    /// Largest encoded transaction, in bytes (default 128 KiB, geth's pool limit).
    pub max_tx_bytes: usize,
    /// Smallest `maxFeePerGas` (or `gasPrice`) accepted, in wei (default 7: the EIP-1559 base
    /// fee never falls below it, so a transaction offering less could never be included).
    pub min_fee_per_gas: u128,
    /// Decides whether blob transactions are allowed (from Cancun).
    pub forks: ForkSchedule,
}

impl AdmissionPolicy {
    /// The default policy for `chain_id`, Shanghai from genesis.
    pub const fn new(chain_id: u64) -> Self {
        Self {
            chain_id,
            allow_unprotected: false,
            max_tx_bytes: 128 * 1024,
            min_fee_per_gas: MIN_PROTOCOL_BASE_FEE as u128,
            forks: ForkSchedule::shanghai_from_genesis(),
        }
    }

    /// The default policy for the configured chain.
    pub const fn from_config(chain: &ChainConfig) -> Self {
        Self { forks: chain.fork_schedule, ..Self::new(chain.chain_id) }
    }
}

/// The sender's account as the execution client reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountState {
    /// The next nonce the account may use.
    pub nonce: u64,
    /// The balance in wei.
    pub balance: U256,
}

/// The chain facts a transaction is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionContext {
    /// Timestamp of the next block (decides the fork).
    pub timestamp: u64,
    /// Gas limit of the current block.
    pub block_gas_limit: u64,
    /// The sender's account, when known; without it nonce and balance are not checked.
    pub account: Option<AccountState>,
}

/// An admitted transaction and what the caller needs to track it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The recovered sender.
    pub signer: Address,
    /// The transaction's nonce.
    pub nonce: u64,
    /// The transaction hash.
    pub hash: B256,
    /// Most the sender can pay: gas limit × max fee + value (+ blob gas × max blob fee).
    pub max_cost: U256,
    /// The transaction's gas limit.
    pub gas_limit: u64,
    /// The decoded transaction.
    pub transaction: TxEnvelope,
}

/// Why a transaction is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxRejection {
    /// No bytes.
    #[error("empty transaction")]
    Empty,
    /// Larger than the policy allows.
    #[error("transaction is {got} bytes, at most {max} allowed")]
    TooLarge {
        /// The limit.
        max: usize,
        /// The size.
        got: usize,
    },
    /// Not a valid EIP-2718 transaction.
    #[error("transaction does not decode: {0}")]
    Undecodable(String),
    /// A legacy transaction without a chain id, which the policy refuses.
    #[error("legacy transaction without a chain id (replayable on any chain)")]
    MissingChainId,
    /// Signed for another chain.
    #[error("chain id {got}, expected {expected}")]
    WrongChainId {
        /// The policy's chain id.
        expected: u64,
        /// The transaction's chain id.
        got: u64,
    },
    /// Asks for more gas than a block holds.
    #[error("gas limit {got} exceeds the block gas limit {block_gas_limit}")]
    GasLimitAboveBlock {
        /// The block gas limit.
        block_gas_limit: u64,
        /// The transaction's gas limit.
        got: u64,
    },
    /// Asks for less gas than any transaction uses.
    #[error("gas limit {got} is below the intrinsic minimum {minimum}")]
    GasLimitBelowMinimum {
        /// 21,000.
        minimum: u64,
        /// The transaction's gas limit.
        got: u64,
    },
    /// The priority fee exceeds the maximum fee.
    #[error("max priority fee {max_priority_fee_per_gas} exceeds max fee {max_fee_per_gas}")]
    FeeInversion {
        /// `maxFeePerGas`.
        max_fee_per_gas: u128,
        /// `maxPriorityFeePerGas`.
        max_priority_fee_per_gas: u128,
    },
    /// The fee is below the policy's floor.
    #[error("max fee {got} is below the floor {floor}")]
    FeeBelowFloor {
        /// The floor.
        floor: u128,
        /// `maxFeePerGas` or `gasPrice`.
        got: u128,
    },
    /// A blob transaction before Cancun.
    #[error("blob transactions are not allowed before Cancun")]
    BlobBeforeCancun,
    /// A blob transaction without its sidecar (the network form is required).
    #[error("blob transaction without its blobs")]
    BlobWithoutSidecar,
    /// The signature does not recover a sender (invalid, or high `s`).
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The nonce was already used.
    #[error("nonce {got} is below the account's nonce {account}")]
    NonceTooLow {
        /// The account's next nonce.
        account: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The sender cannot pay the maximum cost.
    #[error("balance {balance} is below the maximum cost {max_cost}")]
    InsufficientFunds {
        /// The account's balance.
        balance: U256,
        /// The transaction's maximum cost.
        max_cost: U256,
    },
    /// The maximum cost does not fit in 256 bits.
    #[error("maximum cost overflows 256 bits")]
    CostOverflow,
}

/// The outcome of admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Passed every check.
    Admitted(Box<Admitted>),
    /// Refused, with the first reason found.
    Rejected(TxRejection),
}

impl AdmissionPolicy {
    /// Judge the raw transaction `raw` (as sent to `eth_sendRawTransaction`).
    pub fn admit(&self, raw: &[u8], context: &AdmissionContext) -> Verdict {
        match self.check(raw, context) {
            Ok(admitted) => Verdict::Admitted(Box::new(admitted)),
            Err(reason) => Verdict::Rejected(reason),
        }
    }

    fn check(&self, raw: &[u8], context: &AdmissionContext) -> Result<Admitted, TxRejection> {
        if raw.is_empty() {
            return Err(TxRejection::Empty);
        }
        if raw.len() > self.max_tx_bytes {
            return Err(TxRejection::TooLarge { max: self.max_tx_bytes, got: raw.len() });
        }
        let tx = TxEnvelope::decode_2718_exact(raw)
            .map_err(|e| TxRejection::Undecodable(e.to_string()))?;

        match tx.chain_id() {
            None if !self.allow_unprotected => return Err(TxRejection::MissingChainId),
            Some(got) if got != self.chain_id => {
                return Err(TxRejection::WrongChainId { expected: self.chain_id, got });
            }
            _ => {}
        }

        let gas_limit = tx.gas_limit();
        if gas_limit > context.block_gas_limit {
            return Err(TxRejection::GasLimitAboveBlock {
                block_gas_limit: context.block_gas_limit,
                got: gas_limit,
            });
        }
        if gas_limit < MIN_TX_GAS {
            return Err(TxRejection::GasLimitBelowMinimum { minimum: MIN_TX_GAS, got: gas_limit });
        }

        let max_fee_per_gas = tx.max_fee_per_gas();
        if let Some(max_priority_fee_per_gas) = tx.max_priority_fee_per_gas()
            && max_priority_fee_per_gas > max_fee_per_gas
        {
            return Err(TxRejection::FeeInversion { max_fee_per_gas, max_priority_fee_per_gas });
        }
        if max_fee_per_gas < self.min_fee_per_gas {
            return Err(TxRejection::FeeBelowFloor {
                floor: self.min_fee_per_gas,
                got: max_fee_per_gas,
            });
        }

        if let TxEnvelope::Eip4844(blob) = &tx {
            if !self.forks.is_active(Fork::Cancun, context.timestamp) {
                return Err(TxRejection::BlobBeforeCancun);
            }
            if matches!(blob.tx(), TxEip4844Variant::TxEip4844(_)) {
                return Err(TxRejection::BlobWithoutSidecar);
            }
        }

        let signer = tx.recover_signer().map_err(|e| TxRejection::BadSignature(e.to_string()))?;
        let max_cost = max_cost(&tx).ok_or(TxRejection::CostOverflow)?;
        if let Some(account) = context.account {
            if tx.nonce() < account.nonce {
                return Err(TxRejection::NonceTooLow { account: account.nonce, got: tx.nonce() });
            }
            if account.balance < max_cost {
                return Err(TxRejection::InsufficientFunds { balance: account.balance, max_cost });
            }
        }
        Ok(Admitted {
            signer,
            nonce: tx.nonce(),
            hash: *tx.tx_hash(),
            max_cost,
            gas_limit,
            transaction: tx,
        })
    }
}

/// gas limit × max fee + value + blob gas × max blob fee; `None` if it overflows 256 bits.
fn max_cost(tx: &TxEnvelope) -> Option<U256> {
    // u64 × u128 products fit in 192 bits: only the sums can overflow.
    let gas = U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas());
    let blob = U256::from(tx.blob_gas_used().unwrap_or(0))
        * U256::from(tx.max_fee_per_blob_gas().unwrap_or(0));
    gas.checked_add(tx.value())?.checked_add(blob)
}
