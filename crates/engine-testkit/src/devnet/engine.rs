//! The Engine API on [`Devnet`]: forkchoiceUpdated, getPayload and newPayload with the
//! spec's version and error rules.
//!
//! - A method used outside its fork answers -38005 (the version is the one
//!   [`ForkSchedule::version_for`](engine_types::ForkSchedule::version_for) gives for the
//!   timestamp of the payload or attributes).
//! - forkchoiceUpdated: unknown head → SYNCING; invalid head → INVALID; safe or finalized
//!   unknown or not an ancestor of the head → -38002; then the state is applied (a reorg if
//!   the head leaves the canonical chain) and only then the attributes are checked, so a bad
//!   timestamp (-38003) does not roll the head back.
//! - newPayload: a block hash that does not match the payload → INVALID with a null
//!   latestValidHash; unknown parent → SYNCING; a block that fails execution → INVALID with
//!   the parent as latestValidHash.

use super::{
    chain::{NextBlock, StoredBlock},
    el::{Devnet, PendingPayload},
};
use crate::rpc_server::RpcError;
use alloy_consensus::{Block, Transaction, TxEnvelope};
use alloy_primitives::{B256, keccak256};
use alloy_rpc_types_engine::{
    ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState, PayloadAttributes, PayloadId,
};
use engine_types::{
    ApiVersion, EngineMethod, ForkchoiceUpdatedWire, GetPayloadResponse, PayloadStatusWire,
    RpcErrorCode,
};
use std::sync::Arc;

impl Devnet {
    /// -38005 unless `version` is the one `method` uses at `timestamp`.
    fn check_fork(
        &self,
        method: EngineMethod,
        version: ApiVersion,
        timestamp: u64,
    ) -> Result<(), RpcError> {
        let expected = self.fork_schedule().version_for(method, timestamp);
        if expected == version {
            return Ok(());
        }
        let fork = self.fork_schedule().fork_at(timestamp);
        Err(RpcError::new(
            RpcErrorCode::UnsupportedFork,
            format!(
                "Unsupported fork: {} is not for timestamp {timestamp} ({fork:?} uses {})",
                method.rpc_name(version).unwrap_or("this method"),
                method.rpc_name(expected).unwrap_or("another version"),
            ),
        ))
    }

    /// `engine_forkchoiceUpdatedV*`.
    pub fn forkchoice_updated(
        &mut self,
        version: ApiVersion,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
    ) -> Result<ForkchoiceUpdatedWire, RpcError> {
        if let Some(attrs) = &attributes {
            check_attribute_shape(version, attrs)?;
            self.check_fork(EngineMethod::ForkchoiceUpdated, version, attrs.timestamp)?;
        }
        let head = state.head_block_hash;
        let status = |payload_status| ForkchoiceUpdatedWire { payload_status, payload_id: None };
        if head.is_zero() {
            return Ok(status(PayloadStatusWire::invalid(None, "head block hash is zero")));
        }
        if let Some(latest_valid) = self.chain.invalid(&head) {
            return Ok(status(PayloadStatusWire::invalid(latest_valid, "head block is invalid")));
        }
        if self.chain.block(&head).is_none() {
            return Ok(status(PayloadStatusWire::syncing()));
        }
        let safe = self.ancestor_or_none(state.safe_block_hash, head, "safe")?;
        let finalized = self.ancestor_or_none(state.finalized_block_hash, head, "finalized")?;

        let orphaned = self.chain.set_head(head);
        let head_block = Arc::clone(self.chain.head());
        self.pool.reinsert(orphaned, &head_block.state);
        self.pool.prune(&head_block.state);
        self.chain.set_safe_finalized(safe, finalized);

        let Some(attrs) = attributes else {
            return Ok(status(PayloadStatusWire::valid(head)));
        };
        if attrs.timestamp <= head_block.header.timestamp {
            return Err(RpcError::new(
                RpcErrorCode::InvalidPayloadAttributes,
                format!(
                    "Invalid payload attributes: timestamp {} is not after the head's {}",
                    attrs.timestamp, head_block.header.timestamp
                ),
            ));
        }
        let next = NextBlock {
            timestamp: attrs.timestamp,
            fee_recipient: attrs.suggested_fee_recipient,
            prev_randao: attrs.prev_randao,
            withdrawals: attrs.withdrawals.clone(),
            parent_beacon_block_root: attrs.parent_beacon_block_root,
        };
        let id = payload_id(head, &attrs);
        let block = self.build_on(head, &next)?;
        let pending = PendingPayload {
            parent: head,
            next,
            block,
            pool_revision: self.pool_revision,
            delivered: false,
        };
        self.payloads.insert(id, pending);
        Ok(ForkchoiceUpdatedWire {
            payload_status: PayloadStatusWire::valid(head),
            payload_id: Some(id),
        })
    }

    /// `hash` as a safe/finalized block: zero means "not set"; otherwise it must be a known
    /// ancestor of `head` (-38002).
    fn ancestor_or_none(
        &self,
        hash: B256,
        head: B256,
        what: &str,
    ) -> Result<Option<B256>, RpcError> {
        if hash.is_zero() {
            return Ok(None);
        }
        if self.chain.is_ancestor(&hash, &head) {
            return Ok(Some(hash));
        }
        let why = if self.chain.block(&hash).is_some() {
            "is not an ancestor of the head"
        } else {
            "is unknown"
        };
        Err(RpcError::new(
            RpcErrorCode::InvalidForkchoiceState,
            format!("Invalid forkchoice state: {what} block {hash} {why}"),
        ))
    }

    fn build_on(&self, parent: B256, next: &NextBlock) -> Result<Arc<StoredBlock>, RpcError> {
        let parent = self.chain.block(&parent).ok_or_else(|| {
            RpcError::new(RpcErrorCode::InternalError, "parent of the payload vanished")
        })?;
        let candidates = self.pool.pending(&parent.state);
        self.chain.build(parent, next, candidates).map(Arc::new).map_err(|e| {
            RpcError::new(RpcErrorCode::InternalError, format!("building the payload failed: {e}"))
        })
    }

    /// `engine_getPayloadV*`. A payload not yet delivered is rebuilt first when
    /// transactions arrived since the last build; once delivered it stays as it is.
    pub fn get_payload(
        &mut self,
        version: ApiVersion,
        id: PayloadId,
    ) -> Result<GetPayloadResponse, RpcError> {
        let Some(pending) = self.payloads.get(&id) else {
            return Err(RpcError::new(
                RpcErrorCode::UnknownPayload,
                format!("Unknown payload {id}"),
            ));
        };
        self.check_fork(EngineMethod::GetPayload, version, pending.next.timestamp)?;
        if !pending.delivered && pending.pool_revision != self.pool_revision {
            let block = self.build_on(pending.parent, &pending.next)?;
            let revision = self.pool_revision;
            if let Some(p) = self.payloads.get_mut(&id) {
                p.block = block;
                p.pool_revision = revision;
            }
        }
        let Some(pending) = self.payloads.get_mut(&id) else {
            return Err(RpcError::new(
                RpcErrorCode::UnknownPayload,
                format!("Unknown payload {id}"),
            ));
        };
        pending.delivered = true;
        let payload = pending.block.payload_v3();
        let payload = if pending.block.header.excess_blob_gas.is_some() {
            ExecutionPayload::V3(payload)
        } else {
            ExecutionPayload::V2(payload.payload_inner)
        };
        Ok(GetPayloadResponse {
            payload,
            block_value: pending.block.block_value,
            blobs_bundle: (version >= ApiVersion::V3).then(Default::default),
            should_override_builder: false,
            execution_requests: None,
        })
    }

    /// `engine_newPayloadV*`: re-execute the payload on its parent and verify every root.
    pub fn new_payload(
        &mut self,
        version: ApiVersion,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
    ) -> Result<PayloadStatusWire, RpcError> {
        self.check_fork(EngineMethod::NewPayload, version, payload.timestamp())?;
        if version >= ApiVersion::V2 && payload.withdrawals().is_none() {
            return Err(RpcError::invalid_params("a Shanghai payload must carry withdrawals"));
        }
        let claimed = payload.block_hash();
        let block: Block<TxEnvelope> = match payload.try_into_block_with_sidecar(&sidecar) {
            Ok(block) => block,
            Err(e) => {
                return Ok(PayloadStatusWire::invalid(None, format!("malformed payload: {e}")));
            }
        };
        let actual = block.header.hash_slow();
        if actual != claimed {
            return Ok(PayloadStatusWire::invalid(
                None,
                format!("block hash mismatch: payload says {claimed}, header hashes to {actual}"),
            ));
        }
        if let Some(expected) = sidecar.versioned_hashes() {
            let actual: Vec<B256> = block
                .body
                .transactions
                .iter()
                .flat_map(|tx| tx.blob_versioned_hashes().unwrap_or_default().iter().copied())
                .collect();
            if &actual != expected {
                return Ok(PayloadStatusWire::invalid(
                    None,
                    "versioned hashes do not match the blob transactions",
                ));
            }
        }
        if self.chain.block(&claimed).is_some() {
            return Ok(PayloadStatusWire::valid(claimed));
        }
        if let Some(latest_valid) = self.chain.invalid(&claimed) {
            return Ok(PayloadStatusWire::invalid(latest_valid, "block was found invalid before"));
        }
        let parent_hash = block.header.parent_hash;
        if let Some(latest_valid) = self.chain.invalid(&parent_hash) {
            self.chain.mark_invalid(claimed, latest_valid);
            return Ok(PayloadStatusWire::invalid(latest_valid, "parent block is invalid"));
        }
        let Some(parent) = self.chain.block(&parent_hash).cloned() else {
            return Ok(PayloadStatusWire::syncing());
        };
        let withdrawals = block.body.withdrawals.map(|w| w.into_inner());
        match self.chain.verify(&parent, &block.header, block.body.transactions, withdrawals) {
            Ok(stored) => {
                self.chain.insert(stored);
                Ok(PayloadStatusWire::valid(claimed))
            }
            Err(e) => {
                self.chain.mark_invalid(claimed, Some(parent_hash));
                Ok(PayloadStatusWire::invalid(Some(parent_hash), e.to_string()))
            }
        }
    }
}

/// The attribute fields each version takes: V1 none of withdrawals and beacon root, V2
/// withdrawals, V3 both. A field the version does not know is -32602; one it requires but
/// misses is -38003.
fn check_attribute_shape(version: ApiVersion, attrs: &PayloadAttributes) -> Result<(), RpcError> {
    let has_withdrawals = attrs.withdrawals.is_some();
    let has_root = attrs.parent_beacon_block_root.is_some();
    let invalid =
        |m: &str| Err(RpcError::new(RpcErrorCode::InvalidPayloadAttributes, m.to_string()));
    match version {
        ApiVersion::V1 if has_withdrawals || has_root => Err(RpcError::invalid_params(
            "forkchoiceUpdatedV1 attributes take no withdrawals or beacon root",
        )),
        ApiVersion::V2 if has_root => Err(RpcError::invalid_params(
            "forkchoiceUpdatedV2 attributes take no parentBeaconBlockRoot",
        )),
        ApiVersion::V2 | ApiVersion::V3 if !has_withdrawals => {
            invalid("Invalid payload attributes: withdrawals missing")
        }
        ApiVersion::V3 if !has_root => {
            invalid("Invalid payload attributes: parentBeaconBlockRoot missing")
        }
        _ => Ok(()),
    }
}

/// A payload id that depends only on the parent and the attributes, as in geth: the same
/// request gets the same id.
fn payload_id(parent: B256, attrs: &PayloadAttributes) -> PayloadId {
    let mut input = parent.to_vec();
    // Serializing attributes to JSON cannot fail: plain fields with string keys.
    input.extend(serde_json::to_vec(attrs).unwrap_or_default());
    let hash = keccak256(input);
    let mut id = [0u8; 8];
    id.copy_from_slice(&hash[..8]);
    PayloadId::new(id)
}
