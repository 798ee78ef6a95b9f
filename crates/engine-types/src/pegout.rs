//! Peg-outs: burns on the sidechain that the federation pays out in bitcoin.
//!
//! The bridge contract at [`BRIDGE_ADDRESS`](crate::constants::BRIDGE_ADDRESS) takes
//! `requestPegOut(bytes)` with value, forwards the value to the dead address and emits
//! [`RequestPegOut`]. The ABI is declared here once; the event topic is computed from it,
//! never hard-coded.

use crate::amount::Satoshis;
use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};

alloy_sol_types::sol! {
    /// Emitted by the bridge contract for every peg-out request.
    #[derive(Debug, PartialEq, Eq)]
    event RequestPegOut(address indexed _evmAddress, bytes _bitcoinAddress, uint256 _value);

    /// The bridge contract's entry point: burn `msg.value` and ask for a bitcoin payout.
    #[derive(Debug, PartialEq, Eq)]
    function requestPegOut(bytes _bitcoinAddress) external payable;
}

/// One `RequestPegOut` event found in a committed block, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PegOutRequest {
    /// The transaction that emitted the event.
    pub tx_hash: B256,
    /// The block that contains it.
    pub block_hash: B256,
    /// The block's number.
    pub block_number: u64,
    /// The log's index within the block.
    pub log_index: u64,
    /// Who burned the coins (the event's indexed `_evmAddress`).
    pub evm_address: Address,
    /// The bitcoin address as the user sent it: raw bytes, not yet checked.
    pub bitcoin_address: Bytes,
    /// The burned value in wei.
    pub value_wei: U256,
    /// The burned value in whole satoshis (floored).
    pub amount: Satoshis,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;
    use alloy_sol_types::{SolCall, SolEvent};

    /// The topic is keccak of the canonical signature: computed by `sol!`, checked by hand.
    #[test]
    fn event_topic_is_keccak_of_signature() {
        assert_eq!(
            RequestPegOut::SIGNATURE_HASH,
            keccak256("RequestPegOut(address,bytes,uint256)")
        );
        assert_eq!(requestPegOutCall::SELECTOR, keccak256("requestPegOut(bytes)")[..4]);
    }
}
