//! The Engine API on [`Devnet`]: forkchoiceUpdated, getPayload and newPayload with the
//! spec's version and error rules.
//!
//! - A method used outside its fork answers -38005 (the version is the one
//!   [`ForkSchedule::version_for`](engine_types::ForkSchedule::version_for) gives for the
//!   timestamp of the payload or attributes).
//! - forkchoiceUpdated: zero or invalid head → INVALID; unknown head → SYNCING; a head that
//!   is a canonical ancestor of the current one → what the devnet's
//!   [`AncestorPolicy`](crate::el_rules::AncestorPolicy) decides (by default skipped as Geth
//!   up to v1.17.2 does: VALID, null payloadId, nothing changed); otherwise safe or
//!   finalized unknown or not an ancestor of the head → -38002, then the state is applied (a
//!   reorg if the head leaves the canonical chain; a zero safe/finalized hash keeps the block
//!   held) and only then the attributes are checked, so a bad timestamp (-38003) does not
//!   roll the head back.
//! - newPayload: a block hash that does not match the payload → INVALID with a null
//!   latestValidHash; unknown parent → SYNCING; a parent whose state was pruned → ACCEPTED,
//!   not executed (Geth: "State not available, ignoring new payload"); a block that fails
//!   execution → INVALID with the parent as latestValidHash.
//! - A forkchoice that would move the head to (or build on) a block whose state, or whose
//!   way back to the canonical chain, was pruned answers SYNCING: the devnet cannot
//!   recover it (Geth would re-execute from an older state; the devnet keeps none).

use super::{
    chain::{NextBlock, StoredBlock},
    el::{Devnet, MAX_PAYLOADS, PendingPayload},
};
use crate::{
    el_rules::{self, HeadDecision, HeadPosition},
    rpc_server::RpcError,
};
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
            return Ok(status(el_rules::zero_head_status()));
        }
        if let Some(latest_valid) = self.chain.invalid(&head) {
            return Ok(status(PayloadStatusWire::invalid(latest_valid, "head block is invalid")));
        }
        let Some(named) = self.chain.block(&head) else {
            return Ok(status(PayloadStatusWire::syncing()));
        };
        let position = HeadPosition::locate(
            named.number(),
            self.chain.is_canonical(&head),
            self.chain.head().number(),
            self.chain.finalized().map(|b| b.number()),
        );
        let decision = self.ancestor_policy.decide(position);
        if matches!(decision, HeadDecision::Apply | HeadDecision::BuildOnAncestor)
            && self.chain.state(&head).is_err()
        {
            return Ok(status(PayloadStatusWire::syncing()));
        }
        match decision {
            HeadDecision::Apply => {}
            HeadDecision::Skip => return Ok(status(PayloadStatusWire::valid(head))),
            HeadDecision::TooDeepReorg => return Err(el_rules::too_deep_reorg(position)),
            HeadDecision::BuildOnAncestor => return self.start_build(head, attributes),
        }
        let safe = self.ancestor_or_none(state.safe_block_hash, head, "safe")?;
        let finalized = self.ancestor_or_none(state.finalized_block_hash, head, "finalized")?;

        let Ok(orphaned) = self.chain.set_head(head) else {
            return Ok(status(PayloadStatusWire::syncing()));
        };
        let head_state = Arc::clone(self.chain.head_state());
        self.pool.reinsert(orphaned, &head_state);
        self.pool.prune(&head_state);
        self.chain.set_safe_finalized(safe, finalized);
        self.record_forkchoice()?;
        self.start_build(head, attributes)
    }

    /// Records the head, safe and finalized blocks now in force in the journal, if any.
    /// Moves its checkpoints along with the finalized block.
    fn record_forkchoice(&mut self) -> Result<(), RpcError> {
        let Some(journal) = &mut self.journal else { return Ok(()) };
        let hash = |b: Option<&Arc<StoredBlock>>| b.map_or(B256::ZERO, |b| b.hash());
        let state = ForkchoiceState {
            head_block_hash: self.chain.head().hash(),
            safe_block_hash: hash(self.chain.safe()),
            finalized_block_hash: hash(self.chain.finalized()),
        };
        journal
            .record_forkchoice(&state)
            .and_then(|_| self.checkpoint_if_due())
            .map_err(|e| RpcError::new(RpcErrorCode::InternalError, e.to_string()))
    }

    /// VALID for the known block `parent`, with a build on it when attributes are given
    /// (-38003 for a timestamp not after the parent's).
    fn start_build(
        &mut self,
        parent: B256,
        attributes: Option<PayloadAttributes>,
    ) -> Result<ForkchoiceUpdatedWire, RpcError> {
        let Some(attrs) = attributes else {
            return Ok(ForkchoiceUpdatedWire {
                payload_status: PayloadStatusWire::valid(parent),
                payload_id: None,
            });
        };
        let parent_timestamp = self
            .chain
            .block(&parent)
            .ok_or_else(|| RpcError::new(RpcErrorCode::InternalError, "the head block vanished"))?
            .header
            .timestamp;
        if attrs.timestamp <= parent_timestamp {
            return Err(RpcError::new(
                RpcErrorCode::InvalidPayloadAttributes,
                format!(
                    "Invalid payload attributes: timestamp {} is not after the head's {}",
                    attrs.timestamp, parent_timestamp
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
        let id = payload_id(parent, &attrs);
        let block = self.build_on(parent, &next)?;
        let pending = PendingPayload {
            parent,
            next,
            block,
            pool_revision: self.pool_revision,
            delivered: false,
        };
        if self.payloads.insert(id, pending).is_none() {
            self.payload_order.push_back(id);
            while self.payload_order.len() > MAX_PAYLOADS {
                if let Some(old) = self.payload_order.pop_front() {
                    self.payloads.remove(&old);
                }
            }
        }
        Ok(ForkchoiceUpdatedWire {
            payload_status: PayloadStatusWire::valid(parent),
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
        let vanished = |what: String| {
            RpcError::new(RpcErrorCode::InternalError, format!("parent of the payload: {what}"))
        };
        let state = self.chain.state(&parent).map_err(|e| vanished(e.to_string()))?;
        let parent = self.chain.block(&parent).ok_or_else(|| vanished("vanished".into()))?;
        let candidates = self.pool.pending(state);
        self.chain.build(parent, state, next, candidates).map(Arc::new).map_err(|e| {
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
        // Written to the journal (when there is one) once accepted, before the answer.
        let record = self.journal.as_ref().map(|_| crate::journal::JournalBlock {
            payload: payload.clone(),
            parent_beacon_block_root: sidecar.parent_beacon_block_root(),
        });
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
        let Ok(parent_state) = self.chain.state(&parent_hash).cloned() else {
            return Ok(PayloadStatusWire::accepted());
        };
        let withdrawals = block.body.withdrawals.map(|w| w.into_inner());
        let pool = &self.pool;
        let known_sender = |hash: &B256| pool.get(hash).map(|tx| tx.signer());
        match self.chain.verify(
            &parent,
            &parent_state,
            &block.header,
            block.body.transactions,
            withdrawals,
            known_sender,
        ) {
            Ok(stored) => {
                // On disk before it is accepted: a VALID once sent is never lost to a crash.
                if let (Some(journal), Some(record)) = (&self.journal, &record) {
                    journal.append(record).map_err(|e| {
                        RpcError::new(
                            RpcErrorCode::InternalError,
                            format!("{e}; block not accepted"),
                        )
                    })?;
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        el_rules::AncestorPolicy,
        testing::{
            ETH, attributes, build, genesis, import, key, peg_in, produce, set_head, sidecar,
            transfer, two_children,
        },
    };
    use alloy_consensus::Sealable;
    use alloy_primitives::{Address, Bloom, Bytes, U256};
    use alloy_rpc_types_engine::ExecutionPayloadV3;
    use engine_types::StatusKind;

    /// A change to one field of a payload: the field, what execution names once the payload
    /// is re-sealed, and the change.
    type Tamper = (&'static str, Option<&'static str>, Box<dyn Fn(&mut ExecutionPayloadV3)>);

    fn devnet() -> Devnet {
        Devnet::new(&genesis(None)).unwrap()
    }

    /// A Shanghai devnet with one transfer pooled, and the V2 payload built on genesis.
    fn built() -> (Devnet, ExecutionPayload) {
        let mut d = devnet();
        d.send_raw_transaction(&transfer(&key(0), 0, key(1).address(), ETH)).unwrap();
        let attrs = attributes(&d, vec![peg_in(0, key(2).address(), 5)]);
        let payload = build(&mut d, attrs).payload;
        (d, payload)
    }

    fn v2(p: &ExecutionPayload) -> ExecutionPayloadV3 {
        match p {
            ExecutionPayload::V2(v2) => ExecutionPayloadV3 {
                payload_inner: v2.clone(),
                blob_gas_used: 0,
                excess_blob_gas: 0,
            },
            _ => panic!("expected a V2 payload, got {p:?}"),
        }
    }

    /// Re-seal a tampered V2 payload so that its block hash matches its (wrong) contents:
    /// the tampering then has to be caught by execution.
    fn reseal(p: ExecutionPayloadV3) -> ExecutionPayload {
        let payload = ExecutionPayload::V2(p.payload_inner);
        let block: alloy_consensus::Block<TxEnvelope> =
            payload.clone().try_into_block_with_sidecar(&ExecutionPayloadSidecar::none()).unwrap();
        let hash = block.header.hash_slow();
        let ExecutionPayload::V2(mut v2) = payload else { unreachable!() };
        v2.payload_inner.block_hash = hash;
        ExecutionPayload::V2(v2)
    }

    /// The payload a devnet builds is VALID on import, and importing it again is still VALID.
    #[test]
    fn built_payload_imports_as_valid() {
        let (mut d, payload) = built();
        let hash = payload.block_hash();
        assert_eq!(import(&mut d, payload.clone(), None), PayloadStatusWire::valid(hash));
        assert_eq!(import(&mut d, payload, None), PayloadStatusWire::valid(hash));
    }

    /// Every field of a built payload tampered with, and what execution names when the
    /// tampered payload is re-sealed (`None`: re-sealed, it is not invalid — e.g. another
    /// prevRandao, or an unknown parent).
    fn tampers() -> Vec<Tamper> {
        fn inner(p: &mut ExecutionPayloadV3) -> &mut alloy_rpc_types_engine::ExecutionPayloadV1 {
            &mut p.payload_inner.payload_inner
        }
        vec![
            ("parentHash", None, Box::new(|p| inner(p).parent_hash = B256::repeat_byte(1))),
            (
                "feeRecipient",
                Some("stateRoot"),
                Box::new(|p| inner(p).fee_recipient = Address::repeat_byte(1)),
            ),
            (
                "stateRoot",
                Some("stateRoot"),
                Box::new(|p| inner(p).state_root = B256::repeat_byte(1)),
            ),
            (
                "receiptsRoot",
                Some("receiptsRoot"),
                Box::new(|p| inner(p).receipts_root = B256::repeat_byte(1)),
            ),
            (
                "logsBloom",
                Some("logsBloom"),
                Box::new(|p| inner(p).logs_bloom = Bloom::repeat_byte(1)),
            ),
            ("prevRandao", None, Box::new(|p| inner(p).prev_randao = B256::repeat_byte(1))),
            ("blockNumber", Some("number"), Box::new(|p| inner(p).block_number = 7)),
            ("gasLimit", Some("gas limit"), Box::new(|p| inner(p).gas_limit /= 2)),
            ("gasUsed", Some("gasUsed"), Box::new(|p| inner(p).gas_used += 1)),
            ("timestamp", Some("timestamp"), Box::new(|p| inner(p).timestamp = 0)),
            ("extraData", None, Box::new(|p| inner(p).extra_data = Bytes::from_static(b"x"))),
            (
                "baseFeePerGas",
                Some("base fee"),
                Box::new(|p| inner(p).base_fee_per_gas += U256::from(1)),
            ),
            ("blockHash", None, Box::new(|p| inner(p).block_hash = B256::repeat_byte(1))),
            ("transactions", Some("gasUsed"), Box::new(|p| inner(p).transactions.clear())),
            (
                "transaction nonce",
                Some("transaction 0"),
                Box::new(|p| inner(p).transactions = vec![transfer(&key(0), 5, Address::ZERO, 1)]),
            ),
            (
                "withdrawals",
                Some("stateRoot"),
                Box::new(|p| p.payload_inner.withdrawals[0].amount += 1),
            ),
        ]
    }

    /// Every field tampered without fixing the hash: INVALID with a null latestValidHash.
    #[test]
    fn tampered_fields_break_the_block_hash() {
        let (mut d, payload) = built();
        let base = v2(&payload);
        for (field, _, tamper) in tampers() {
            let mut p = base.clone();
            tamper(&mut p);
            let status = import(&mut d, ExecutionPayload::V2(p.payload_inner), None);
            assert_eq!(status.status, StatusKind::Invalid, "{field}: {status:?}");
            assert_eq!(status.latest_valid_hash, None, "{field}");
        }
        assert_eq!(d.head().number, 0);
    }

    /// Tampered and re-sealed, so only execution can tell: INVALID with the parent as the
    /// latest valid hash, the field named, and the verdict remembered.
    #[test]
    fn tampered_and_resealed_payloads_fail_execution() {
        let (mut d, payload) = built();
        let genesis = d.genesis_hash();
        let base = v2(&payload);
        for (field, named, tamper) in tampers() {
            let Some(named) = named else { continue };
            let mut p = base.clone();
            tamper(&mut p);
            let p = reseal(p);
            let hash = p.block_hash();
            let status = import(&mut d, p.clone(), None);
            assert_eq!(status.status, StatusKind::Invalid, "{field}: {status:?}");
            assert_eq!(status.latest_valid_hash, Some(genesis), "{field}");
            let reason = status.validation_error.unwrap_or_default();
            assert!(reason.contains(named), "{field}: {reason}");
            let again = import(&mut d, p, None);
            assert_eq!(again.latest_valid_hash, Some(genesis));
            let fcu = d
                .forkchoice_updated(ApiVersion::V2, ForkchoiceState::same_hash(hash), None)
                .unwrap();
            assert_eq!(fcu.payload_status.status, StatusKind::Invalid, "{field}");
        }
        assert_eq!(import(&mut d, payload, None).status, StatusKind::Valid);
    }

    /// A payload whose parent is unknown cannot be judged: SYNCING.
    #[test]
    fn unknown_parent_is_syncing() {
        let (d, payload) = built();
        let mut g = genesis(None);
        g.alloc.insert(Address::repeat_byte(5), Default::default());
        g.alloc.get_mut(&Address::repeat_byte(5)).unwrap().balance = U256::from(1);
        let mut other = Devnet::new(&g).unwrap();
        assert_ne!(other.genesis_hash(), d.genesis_hash());
        assert_eq!(import(&mut other, payload, None), PayloadStatusWire::syncing());
        let fcu = other
            .forkchoice_updated(
                ApiVersion::V2,
                ForkchoiceState::same_hash(B256::repeat_byte(9)),
                None,
            )
            .unwrap();
        assert_eq!(fcu.payload_status, PayloadStatusWire::syncing());
    }

    /// Moving the head to a sibling restores the sibling's state; moving back re-applies.
    /// The head goes back to genesis first, which only a rewinding client (EthereumJS) does.
    #[test]
    fn reorg_restores_the_old_state() {
        let mut d = devnet();
        d.set_ancestor_policy(AncestorPolicy::Rewind);
        let (alice, bob) = (key(0), key(1).address());
        let genesis_hash = d.genesis_hash();
        let bob0 = d.balance(&bob);
        d.send_raw_transaction(&transfer(&alice, 0, bob, ETH)).unwrap();
        let a1 = produce(&mut d, vec![]);
        assert_eq!(d.balance(&bob), bob0 + U256::from(ETH));
        assert_eq!(d.pool_len(), 0);

        // A competing block on genesis with a peg-in instead of the transfer.
        set_head(&mut d, genesis_hash);
        assert_eq!(d.balance(&bob), bob0, "back at genesis");
        assert_eq!(d.pool_len(), 1, "the orphaned transfer is pooled again");
        let mut attrs = attributes(&d, vec![peg_in(0, bob, 3)]);
        attrs.timestamp += 1;
        let b1_payload = build(&mut d, attrs);
        assert_eq!(b1_payload.payload.as_v1().transactions.len(), 1, "pool reused on the fork");
        d.send_raw_transaction(&transfer(&alice, 0, bob, 2 * ETH)).unwrap_err();
        let b1 = produce(&mut d, vec![peg_in(0, bob, 3)]);
        assert_ne!(a1, b1);
        assert_eq!(d.balance(&bob), bob0 + U256::from(ETH) + U256::from(30_000_000_000u64));
        assert_eq!(d.canonical_hash(1), Some(b1));

        set_head(&mut d, a1);
        assert_eq!(d.balance(&bob), bob0 + U256::from(ETH));
        assert_eq!(d.canonical_hash(1), Some(a1));
        assert_eq!(d.head().hash(), a1);
    }

    /// The same inputs give the same block hashes, run after run.
    #[test]
    fn same_blocks_same_hashes() {
        let run = || {
            let mut d = devnet();
            let mut hashes = Vec::new();
            for i in 0..5u64 {
                d.send_raw_transaction(&transfer(
                    &key(0),
                    i,
                    key(1).address(),
                    1_000 + u128::from(i),
                ))
                .unwrap();
                hashes.push(produce(&mut d, vec![peg_in(i, key(3).address(), i + 1)]));
            }
            hashes
        };
        assert_eq!(run(), run());
    }

    fn code<T: std::fmt::Debug>(r: Result<T, RpcError>) -> i64 {
        r.unwrap_err().code
    }

    /// Methods outside their fork answer -38005; V2 attributes with a beacon root -32602.
    #[test]
    fn versions_follow_the_fork_schedule() {
        let mut d = Devnet::new(&genesis(Some(10))).unwrap();
        let head = ForkchoiceState::same_hash(d.genesis_hash());
        let mut attrs = attributes(&d, vec![]);
        assert_eq!(attrs.timestamp, 2, "still Shanghai");
        attrs.parent_beacon_block_root = Some(B256::ZERO);
        assert_eq!(code(d.forkchoice_updated(ApiVersion::V3, head, Some(attrs.clone()))), -38005);
        assert_eq!(code(d.forkchoice_updated(ApiVersion::V2, head, Some(attrs.clone()))), -32602);
        attrs.parent_beacon_block_root = None;
        let id =
            d.forkchoice_updated(ApiVersion::V2, head, Some(attrs)).unwrap().payload_id.unwrap();
        assert_eq!(code(d.get_payload(ApiVersion::V3, id)), -38005);
        let payload = d.get_payload(ApiVersion::V2, id).unwrap().payload;
        let v3 = ExecutionPayload::V3(v2(&payload));
        let cancun_sidecar = sidecar(&v3, Some(B256::ZERO));
        assert_eq!(code(d.new_payload(ApiVersion::V3, v3, cancun_sidecar)), -38005);
        assert_eq!(code(d.get_payload(ApiVersion::V2, PayloadId::new([9; 8]))), -38001);
        assert_eq!(
            d.new_payload(ApiVersion::V2, payload, ExecutionPayloadSidecar::none()).unwrap().status,
            StatusKind::Valid
        );

        // After the Cancun timestamp: V3 only.
        let mut late = attributes(&d, vec![]);
        late.timestamp = 10;
        assert_eq!(code(d.forkchoice_updated(ApiVersion::V2, head, Some(late.clone()))), -38005);
        late.parent_beacon_block_root = None;
        assert_eq!(code(d.forkchoice_updated(ApiVersion::V3, head, Some(late))), -38003);
    }

    /// Safe/finalized off the head's chain is -38002; a stale attributes timestamp is -38003
    /// and the head still moves.
    #[test]
    fn forkchoice_state_and_attribute_errors() {
        let mut d = devnet();
        let genesis_hash = d.genesis_hash();
        let (b1, b1_sibling) = two_children(&mut d, vec![], vec![peg_in(0, key(0).address(), 1)]);
        set_head(&mut d, b1_sibling);
        let state = ForkchoiceState {
            head_block_hash: b1_sibling,
            safe_block_hash: b1,
            finalized_block_hash: B256::ZERO,
        };
        assert_eq!(d.forkchoice_updated(ApiVersion::V2, state, None).unwrap_err().code, -38002);
        let state = ForkchoiceState { safe_block_hash: B256::repeat_byte(3), ..state };
        assert_eq!(d.forkchoice_updated(ApiVersion::V2, state, None).unwrap_err().code, -38002);

        let mut stale = attributes(&d, vec![]);
        stale.timestamp = 1;
        let to_b1 = ForkchoiceState {
            head_block_hash: b1,
            safe_block_hash: genesis_hash,
            finalized_block_hash: genesis_hash,
        };
        assert_eq!(
            d.forkchoice_updated(ApiVersion::V2, to_b1, Some(stale)).unwrap_err().code,
            -38003
        );
        assert_eq!(d.head().hash(), b1, "the state update is not rolled back");
        assert_eq!(d.finalized().map(|h| h.hash()), Some(genesis_hash));
    }

    /// A Cancun chain builds and imports V3 payloads with the beacon root in the header.
    #[test]
    fn cancun_blocks_round_trip() {
        let mut d = Devnet::new(&genesis(Some(0))).unwrap();
        d.send_raw_transaction(&transfer(&key(0), 0, key(1).address(), ETH)).unwrap();
        let hash = produce(&mut d, vec![peg_in(0, key(1).address(), 1)]);
        let head = d.head();
        assert_eq!(head.hash(), hash);
        assert_eq!(head.parent_beacon_block_root, Some(B256::with_last_byte(0xbe)));
        assert_eq!(head.blob_gas_used, Some(0));
        assert_eq!(head.excess_blob_gas, Some(0));
        assert_eq!(head.clone().into_inner().seal_slow().hash(), hash);
    }

    /// Only the latest payloads are kept; an evicted id is unknown (-38001).
    #[test]
    fn old_payloads_are_forgotten() {
        let mut d = devnet();
        let head = ForkchoiceState::same_hash(d.genesis_hash());
        let ids: Vec<PayloadId> = (0..=MAX_PAYLOADS as u64)
            .map(|i| {
                let mut attrs = attributes(&d, vec![]);
                attrs.timestamp += i;
                d.forkchoice_updated(ApiVersion::V2, head, Some(attrs)).unwrap().payload_id.unwrap()
            })
            .collect();
        assert_eq!(code(d.get_payload(ApiVersion::V2, ids[0])), -38001);
        assert!(d.get_payload(ApiVersion::V2, ids[1]).is_ok());
        assert!(d.get_payload(ApiVersion::V2, ids[MAX_PAYLOADS]).is_ok());
    }

    /// Transactions that arrive between forkchoiceUpdated and getPayload are included; once
    /// delivered, the payload no longer changes.
    #[test]
    fn get_payload_includes_late_transactions_until_delivered() {
        let mut d = devnet();
        let attrs = attributes(&d, vec![]);
        let head = ForkchoiceState::same_hash(d.genesis_hash());
        let id =
            d.forkchoice_updated(ApiVersion::V2, head, Some(attrs)).unwrap().payload_id.unwrap();
        d.send_raw_transaction(&transfer(&key(0), 0, key(1).address(), 1)).unwrap();
        let first = d.get_payload(ApiVersion::V2, id).unwrap();
        assert_eq!(first.payload.as_v1().transactions.len(), 1);
        d.send_raw_transaction(&transfer(&key(0), 1, key(1).address(), 1)).unwrap();
        let second = d.get_payload(ApiVersion::V2, id).unwrap();
        assert_eq!(second.payload, first.payload);
        assert_eq!(first.block_value, U256::from(21_000u64 * 1_000_000_000));
    }
}
