//! Peg-outs: `RequestPegOut` events of the bridge contract in a committed block's receipts.
//!
//! Only logs whose emitter is the bridge and whose first topic is the event's signature hash
//! count, and only from successful receipts (a reverted burn burned nothing). Each event is
//! classified: *payable* (at least the minimum and a well-formed bitcoin address of the
//! configured network) or *unpayable* with every reason. An event from the bridge that does not
//! decode is reported as *malformed*. Nothing is dropped: the caller gets all three lists.
//!
//! Log indices are block-wide: each receipt says where its logs start
//! ([`ReceiptWithContext::first_log_index`]); [`ReceiptWithContext::index_block`] computes
//! that for callers holding a block's receipts in order.

mod bitcoin_address;

pub use bitcoin_address::{BitcoinAddressError, check_bitcoin_address};

use alloy_consensus::ReceiptEnvelope;
use alloy_eips::BlockNumHash;
use alloy_primitives::{Address, B256, Log};
use alloy_sol_types::SolEvent;
use engine_types::{
    PegOutRequest, Satoshis,
    config::{BitcoinNetwork, ChainConfig},
    constants::{BRIDGE_ADDRESS, MIN_PEGOUT_SATS},
    pegout::RequestPegOut,
};

/// One transaction's receipt, reduced to what peg-out extraction needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptWithContext {
    /// The transaction's hash.
    pub tx_hash: B256,
    /// Whether the transaction succeeded (EIP-658 status).
    pub success: bool,
    /// Its logs, in order.
    pub logs: Vec<Log>,
    /// Block-wide index of its first log (the number of logs of the block's earlier receipts).
    pub first_log_index: u64,
}

impl ReceiptWithContext {
    /// From a consensus receipt (as decoded from RPC or produced by an EVM).
    pub fn from_envelope(tx_hash: B256, receipt: &ReceiptEnvelope, first_log_index: u64) -> Self {
        Self { tx_hash, success: receipt.status(), logs: receipt.logs().to_vec(), first_log_index }
    }

    /// A block's receipts, in transaction order, with their block-wide log indices computed.
    pub fn index_block(receipts: impl IntoIterator<Item = (B256, ReceiptEnvelope)>) -> Vec<Self> {
        let mut next = 0u64;
        receipts
            .into_iter()
            .map(|(tx_hash, receipt)| {
                let r = Self::from_envelope(tx_hash, &receipt, next);
                next = next.saturating_add(r.logs.len() as u64);
                r
            })
            .collect()
    }
}

/// Receipts whose log indices overlap or go backwards: block-wide indices would be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "receipt #{position} ({tx_hash}) starts at log index {first_log_index}, but earlier \
     receipts reach {expected_at_least}"
)]
pub struct ReceiptLayoutError {
    /// Position of the receipt in the list.
    pub position: usize,
    /// Its transaction.
    pub tx_hash: B256,
    /// The index it claims for its first log.
    pub first_log_index: u64,
    /// The first index after the previous receipt's logs.
    pub expected_at_least: u64,
}

/// Why a well-formed peg-out request will not be paid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnpayableReason {
    /// Below the minimum payable amount (burned, not paid).
    Dust {
        /// The minimum.
        min: Satoshis,
        /// The requested amount.
        got: Satoshis,
    },
    /// The bitcoin address bytes are not UTF-8 text.
    AddressNotUtf8,
    /// The address text is not a valid address of the configured network.
    BadAddress(BitcoinAddressError),
}

/// A peg-out request that will not be paid, and every reason why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpayablePegOut {
    /// The request as found.
    pub request: PegOutRequest,
    /// Every reason it is not payable (at least one).
    pub reasons: Vec<UnpayableReason>,
}

/// A log from the bridge with the `RequestPegOut` topic that does not decode: the contract
/// should never emit one, so it is reported for an operator rather than skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedPegOut {
    /// The transaction that emitted it.
    pub tx_hash: B256,
    /// The block-wide log index.
    pub log_index: u64,
    /// What is wrong.
    pub reason: String,
}

/// Everything found in one block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PegOutScan {
    /// Requests to pay, in log order.
    pub payable: Vec<PegOutRequest>,
    /// Requests burned but not payable, in log order.
    pub unpayable: Vec<UnpayablePegOut>,
    /// Bridge events that do not decode.
    pub malformed: Vec<MalformedPegOut>,
}

/// Finds and classifies peg-out requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PegOutScanner {
    /// The bridge contract: the only accepted emitter.
    pub bridge: Address,
    /// The smallest payable amount.
    pub min_amount: Satoshis,
    /// The network payout addresses must belong to.
    pub network: BitcoinNetwork,
}

impl Default for PegOutScanner {
    fn default() -> Self {
        Self {
            bridge: BRIDGE_ADDRESS,
            min_amount: Satoshis(MIN_PEGOUT_SATS),
            network: BitcoinNetwork::default(),
        }
    }
}

impl PegOutScanner {
    /// The scanner described by the chain configuration.
    pub const fn from_config(chain: &ChainConfig) -> Self {
        Self {
            bridge: chain.bridge_address,
            min_amount: Satoshis(chain.min_pegout_sats),
            network: chain.bitcoin_network,
        }
    }

    /// Every peg-out request in `receipts` of `block`.
    ///
    /// Fails only when the receipts' log indices overlap or go backwards, which would give
    /// the bridge wrong identifiers.
    pub fn scan(
        &self,
        block: BlockNumHash,
        receipts: &[ReceiptWithContext],
    ) -> Result<PegOutScan, ReceiptLayoutError> {
        check_layout(receipts)?;
        let mut scan = PegOutScan::default();
        for receipt in receipts.iter().filter(|r| r.success) {
            for (offset, log) in receipt.logs.iter().enumerate() {
                if log.address != self.bridge
                    || log.topics().first() != Some(&RequestPegOut::SIGNATURE_HASH)
                {
                    continue;
                }
                let log_index = receipt.first_log_index.saturating_add(offset as u64);
                match self.decode(block, receipt.tx_hash, log_index, log) {
                    Ok(request) => {
                        let reasons = self.unpayable_reasons(&request);
                        if reasons.is_empty() {
                            scan.payable.push(request);
                        } else {
                            scan.unpayable.push(UnpayablePegOut { request, reasons });
                        }
                    }
                    Err(reason) => scan.malformed.push(MalformedPegOut {
                        tx_hash: receipt.tx_hash,
                        log_index,
                        reason,
                    }),
                }
            }
        }
        Ok(scan)
    }

    fn decode(
        &self,
        block: BlockNumHash,
        tx_hash: B256,
        log_index: u64,
        log: &Log,
    ) -> Result<PegOutRequest, String> {
        // The validating decoder also refuses non-canonical encodings (e.g. dirty high bytes
        // in the address topic), so one event has one meaning.
        let event =
            RequestPegOut::decode_log_data_validate(&log.data).map_err(|e| e.to_string())?;
        let amount = Satoshis::from_wei_floor(event._value).map_err(|e| e.to_string())?;
        Ok(PegOutRequest {
            tx_hash,
            block_hash: block.hash,
            block_number: block.number,
            log_index,
            evm_address: event._evmAddress,
            bitcoin_address: event._bitcoinAddress,
            value_wei: event._value,
            amount,
        })
    }

    fn unpayable_reasons(&self, request: &PegOutRequest) -> Vec<UnpayableReason> {
        let mut reasons = Vec::new();
        if request.amount < self.min_amount {
            reasons.push(UnpayableReason::Dust { min: self.min_amount, got: request.amount });
        }
        match std::str::from_utf8(&request.bitcoin_address) {
            Err(_) => reasons.push(UnpayableReason::AddressNotUtf8),
            Ok(text) => {
                if let Err(err) = check_bitcoin_address(text, self.network) {
                    reasons.push(UnpayableReason::BadAddress(err));
                }
            }
        }
        reasons
    }
}

fn check_layout(receipts: &[ReceiptWithContext]) -> Result<(), ReceiptLayoutError> {
    let mut next = 0u64;
    for (position, r) in receipts.iter().enumerate() {
        if r.first_log_index < next {
            return Err(ReceiptLayoutError {
                position,
                tx_hash: r.tx_hash,
                first_log_index: r.first_log_index,
                expected_at_least: next,
            });
        }
        next = r.first_log_index.saturating_add(r.logs.len() as u64);
    }
    Ok(())
}
