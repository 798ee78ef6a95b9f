//! Helpers for the devnet's unit tests: a genesis with funded keys and the bridge, signed
//! transactions, and one-call block production through the Engine API methods.

use super::Devnet;
use crate::keys::{Transfer, dev_signer, sign_transfer};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::{eip2718::Encodable2718, eip4895::Withdrawal};
use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_rpc_types_engine::{
    ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState, PayloadAttributes,
};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use engine_types::{
    ApiVersion, EngineMethod, ForkSchedule, GetPayloadResponse, StatusKind,
    constants::{CHAIN_ID_DEV, DEAD_ADDRESS},
};

/// Wei in one ether.
pub(crate) const ETH: u128 = 1_000_000_000_000_000_000;

/// Development key `i` (0 to 3), funded in [`genesis`].
pub(crate) fn key(i: usize) -> PrivateKeySigner {
    dev_signer(i).unwrap()
}

/// The dev genesis of the devnet, Cancun at `cancun` when given.
pub(crate) fn genesis(cancun: Option<u64>) -> Genesis {
    let forks = ForkSchedule { cancun, ..ForkSchedule::shanghai_from_genesis() };
    super::dev_genesis(forks).unwrap()
}

/// A signed EIP-1559 transaction (max fee 10 gwei, tip 1 gwei).
pub(crate) fn tx1559(
    key: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: U256,
    input: Bytes,
    gas: u64,
) -> Bytes {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID_DEV,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        input,
        access_list: Default::default(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// A signed EIP-155 legacy transfer at 2 gwei.
pub(crate) fn legacy(
    key: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: U256,
    chain_id: Option<u64>,
) -> Bytes {
    let tx = TxLegacy {
        chain_id,
        nonce,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value,
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// A plain transfer.
pub(crate) fn transfer(key: &PrivateKeySigner, nonce: u64, to: Address, wei: u128) -> Bytes {
    sign_transfer(key, &Transfer::new(CHAIN_ID_DEV, nonce, to, U256::from(wei))).unwrap()
}

/// A withdrawal (peg-in) of `sats` to `address`.
pub(crate) fn peg_in(index: u64, address: Address, sats: u64) -> Withdrawal {
    Withdrawal { index, validator_index: 0, address, amount: sats * 10 }
}

/// The attributes of the next block on the head, 2 s later, fees to the dead address.
pub(crate) fn attributes(devnet: &Devnet, withdrawals: Vec<Withdrawal>) -> PayloadAttributes {
    let timestamp = devnet.head().timestamp + 2;
    let cancun = devnet.fork_schedule().is_active(engine_types::Fork::Cancun, timestamp);
    PayloadAttributes {
        timestamp,
        prev_randao: B256::with_last_byte(timestamp as u8),
        suggested_fee_recipient: DEAD_ADDRESS,
        withdrawals: Some(withdrawals),
        parent_beacon_block_root: cancun.then(|| B256::with_last_byte(0xbe)),
        slot_number: None,
        target_gas_limit: None,
    }
}

/// The version `method` takes at `timestamp`.
pub(crate) fn version(devnet: &Devnet, method: EngineMethod, timestamp: u64) -> ApiVersion {
    devnet.fork_schedule().version_for(method, timestamp)
}

/// forkchoiceUpdated(head, attrs) + getPayload: the built payload, not yet imported.
pub(crate) fn build(devnet: &mut Devnet, attrs: PayloadAttributes) -> GetPayloadResponse {
    let head = devnet.head().hash();
    let v = version(devnet, EngineMethod::ForkchoiceUpdated, attrs.timestamp);
    let ts = attrs.timestamp;
    let fcu = devnet.forkchoice_updated(v, ForkchoiceState::same_hash(head), Some(attrs)).unwrap();
    assert_eq!(fcu.payload_status.status, StatusKind::Valid);
    let id = fcu.payload_id.unwrap();
    devnet.get_payload(version(devnet, EngineMethod::GetPayload, ts), id).unwrap()
}

/// The sidecar newPayload needs for `payload` (the beacon root of `attrs` from Cancun on).
pub(crate) fn sidecar(
    payload: &ExecutionPayload,
    beacon_root: Option<B256>,
) -> ExecutionPayloadSidecar {
    match (payload, beacon_root) {
        (ExecutionPayload::V3(_), Some(root)) => ExecutionPayloadSidecar::v3(
            alloy_rpc_types_engine::CancunPayloadFields::new(root, vec![]),
        ),
        _ => ExecutionPayloadSidecar::none(),
    }
}

/// newPayload with the right version for the payload's timestamp.
pub(crate) fn import(
    devnet: &mut Devnet,
    payload: ExecutionPayload,
    beacon_root: Option<B256>,
) -> engine_types::PayloadStatusWire {
    let v = version(devnet, EngineMethod::NewPayload, payload.timestamp());
    let sidecar = sidecar(&payload, beacon_root);
    devnet.new_payload(v, payload, sidecar).unwrap()
}

/// forkchoiceUpdated to `head` without attributes, which must become the head. A canonical
/// ancestor of the head only does under a rewinding
/// [`AncestorPolicy`](crate::el_rules::AncestorPolicy); by default it is skipped.
pub(crate) fn set_head(devnet: &mut Devnet, head: B256) {
    let v = version(devnet, EngineMethod::ForkchoiceUpdated, devnet.head().timestamp);
    let fcu = devnet.forkchoice_updated(v, ForkchoiceState::same_hash(head), None).unwrap();
    assert_eq!(fcu.payload_status.status, StatusKind::Valid, "{fcu:?}");
    assert_eq!(
        devnet.head().hash(),
        head,
        "the head did not move ({:?})",
        devnet.ancestor_policy()
    );
}

/// Two children of the head, built from the same pool with different withdrawals and both
/// imported; neither becomes head, so either can later be named head as a side-chain block
/// (a reorg under every [`AncestorPolicy`](crate::el_rules::AncestorPolicy)).
pub(crate) fn two_children(
    devnet: &mut Devnet,
    first: Vec<Withdrawal>,
    second: Vec<Withdrawal>,
) -> (B256, B256) {
    let built = [first, second].map(|withdrawals| {
        let attrs = attributes(devnet, withdrawals);
        let root = attrs.parent_beacon_block_root;
        (build(devnet, attrs).payload, root)
    });
    let [a, b] = built.map(|(payload, root)| {
        let hash = payload.block_hash();
        let status = import(devnet, payload, root);
        assert_eq!(status.status, StatusKind::Valid, "{status:?}");
        hash
    });
    assert_ne!(a, b);
    (a, b)
}

/// Build, import and make head one block with `withdrawals` and whatever the pool holds.
pub(crate) fn produce(devnet: &mut Devnet, withdrawals: Vec<Withdrawal>) -> B256 {
    let attrs = attributes(devnet, withdrawals);
    let root = attrs.parent_beacon_block_root;
    let built = build(devnet, attrs);
    let hash = built.payload.block_hash();
    let status = import(devnet, built.payload, root);
    assert_eq!(status.status, StatusKind::Valid, "{status:?}");
    set_head(devnet, hash);
    hash
}
