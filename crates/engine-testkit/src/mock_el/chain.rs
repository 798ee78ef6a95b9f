//! The mock's chain: known blocks, the canonical path, the forkchoice, the transaction pool
//! and the payloads being built. Pure state, no JSON.

use super::{
    FillPolicy,
    block::{self, GenesisParams, PooledTx, StoredBlock},
};
use crate::{
    el_rules::{self, AncestorPolicy, HeadDecision, HeadPosition},
    rpc_server::RpcError,
};
use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_engine::{ForkchoiceState, PayloadAttributes, PayloadId};
use engine_types::{ForkSchedule, PayloadStatusWire, RpcErrorCode};
use std::{collections::HashMap, sync::Arc, time::Instant};

/// What [`Chain::forkchoice_updated`] decided.
#[derive(Debug)]
pub(super) enum ForkchoiceResult {
    /// The head is unknown: SYNCING, nothing changed.
    Syncing,
    /// The head is the zero hash: INVALID, nothing changed.
    ZeroHead,
    /// VALID for `head`; a build was started when `payload_id` is set.
    Valid { head: B256, payload_id: Option<PayloadId> },
}

/// A payload being built, as [`FillPolicy`] says.
#[derive(Debug)]
enum Build {
    /// Settled: what every `getPayload` of this id returns.
    Settled(Arc<StoredBlock>),
    /// [`FillPolicy::Background`] before the first `getPayload`: the empty block now, the
    /// full one from `full_at` on.
    Filling { empty: Arc<StoredBlock>, full: Arc<StoredBlock>, full_at: Instant },
}

/// The whole state of the mock execution layer.
#[derive(Debug)]
pub(super) struct Chain {
    forks: ForkSchedule,
    extra_data: Bytes,
    blocks: HashMap<B256, Arc<StoredBlock>>,
    /// Hashes of the canonical chain, indexed by block number.
    canonical: Vec<B256>,
    safe: B256,
    finalized: B256,
    pool: Vec<PooledTx>,
    fill: FillPolicy,
    builds: HashMap<PayloadId, Build>,
    next_payload_id: u64,
}

impl Chain {
    /// A chain holding only the genesis block.
    pub(super) fn new(forks: ForkSchedule, genesis: &GenesisParams, fill: FillPolicy) -> Self {
        let genesis_block = Arc::new(block::genesis(&forks, genesis));
        let hash = genesis_block.hash;
        Self {
            forks,
            extra_data: genesis.extra_data.clone(),
            blocks: HashMap::from([(hash, genesis_block)]),
            canonical: vec![hash],
            safe: B256::ZERO,
            finalized: B256::ZERO,
            pool: Vec::new(),
            fill,
            builds: HashMap::new(),
            next_payload_id: 1,
        }
    }

    pub(super) const fn forks(&self) -> &ForkSchedule {
        &self.forks
    }

    pub(super) fn block(&self, hash: &B256) -> Option<&Arc<StoredBlock>> {
        self.blocks.get(hash)
    }

    pub(super) fn head(&self) -> &Arc<StoredBlock> {
        self.canonical_at(self.head_number()).unwrap_or_else(|| self.genesis())
    }

    fn genesis(&self) -> &Arc<StoredBlock> {
        // The canonical chain always starts with genesis, which is never removed.
        let first = self.canonical.first().copied().unwrap_or_default();
        &self.blocks[&first]
    }

    pub(super) fn head_number(&self) -> u64 {
        self.canonical.len().saturating_sub(1) as u64
    }

    pub(super) fn canonical_at(&self, number: u64) -> Option<&Arc<StoredBlock>> {
        let hash = self.canonical.get(usize::try_from(number).ok()?)?;
        self.blocks.get(hash)
    }

    pub(super) fn safe(&self) -> Option<&Arc<StoredBlock>> {
        self.blocks.get(&self.safe)
    }

    pub(super) fn finalized(&self) -> Option<&Arc<StoredBlock>> {
        self.blocks.get(&self.finalized)
    }

    pub(super) fn pool(&self) -> &[PooledTx] {
        &self.pool
    }

    /// The canonical block holding transaction `hash`, with its index.
    pub(super) fn find_tx(&self, hash: &B256) -> Option<(&Arc<StoredBlock>, usize)> {
        self.canonical
            .iter()
            .rev()
            .filter_map(|h| self.blocks.get(h))
            .find_map(|b| b.txs.iter().position(|t| t.hash == *hash).map(|i| (b, i)))
    }

    /// Queue a transaction for the next build.
    pub(super) fn add_to_pool(&mut self, tx: PooledTx) -> Result<B256, RpcError> {
        if self.pool.iter().any(|t| t.hash == tx.hash) || self.find_tx(&tx.hash).is_some() {
            return Err(RpcError::server("already known"));
        }
        let hash = tx.hash;
        self.pool.push(tx);
        Ok(hash)
    }

    /// `newPayload` of a block whose hash has been checked: VALID, SYNCING for an unknown
    /// parent, INVALID for a child that does not follow its parent.
    pub(super) fn insert(&mut self, block: StoredBlock) -> PayloadStatusWire {
        if self.blocks.contains_key(&block.hash) {
            return PayloadStatusWire::valid(block.hash);
        }
        let Some(parent) = self.blocks.get(&block.header().parent_hash) else {
            return PayloadStatusWire::syncing();
        };
        let (p, h) = (parent.header(), block.header());
        let problem = if h.number != p.number + 1 {
            Some(format!("block number {} does not follow parent {}", h.number, p.number))
        } else if h.timestamp <= p.timestamp {
            Some(format!("timestamp {} is not after parent's {}", h.timestamp, p.timestamp))
        } else {
            None
        };
        if let Some(reason) = problem {
            return PayloadStatusWire::invalid(Some(parent.hash), reason);
        }
        let hash = block.hash;
        self.blocks.insert(hash, Arc::new(block));
        PayloadStatusWire::valid(hash)
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    fn is_ancestor(&self, ancestor: &StoredBlock, descendant: &StoredBlock) -> bool {
        let mut cursor = Some(descendant);
        while let Some(b) = cursor {
            if b.hash == ancestor.hash {
                return true;
            }
            if b.number() <= ancestor.number() {
                return false;
            }
            cursor = self.blocks.get(&b.header().parent_hash).map(AsRef::as_ref);
        }
        false
    }

    /// Whether `block` is on the canonical chain.
    fn is_canonical(&self, block: &StoredBlock) -> bool {
        usize::try_from(block.number())
            .ok()
            .and_then(|n| self.canonical.get(n))
            .is_some_and(|h| *h == block.hash)
    }

    /// Apply a forkchoice state, then start a build when attributes are given. The state is
    /// applied before the attributes are checked, so -38003 leaves the new head in place. A
    /// head that is a canonical ancestor of the current one is handled as `policy` says.
    pub(super) fn forkchoice_updated(
        &mut self,
        state: &ForkchoiceState,
        attrs: Option<&PayloadAttributes>,
        policy: AncestorPolicy,
    ) -> Result<ForkchoiceResult, RpcError> {
        if state.head_block_hash.is_zero() {
            return Ok(ForkchoiceResult::ZeroHead);
        }
        let Some(head) = self.blocks.get(&state.head_block_hash).cloned() else {
            return Ok(ForkchoiceResult::Syncing);
        };
        let position = HeadPosition::locate(
            head.number(),
            self.is_canonical(&head),
            self.head_number(),
            self.finalized().map(|b| b.number()),
        );
        match policy.decide(position) {
            HeadDecision::Apply => {}
            HeadDecision::Skip => {
                return Ok(ForkchoiceResult::Valid { head: head.hash, payload_id: None });
            }
            HeadDecision::TooDeepReorg => return Err(el_rules::too_deep_reorg(position)),
            HeadDecision::BuildOnAncestor => return self.start_build(&head, attrs),
        }
        for (name, hash) in
            [("finalized", state.finalized_block_hash), ("safe", state.safe_block_hash)]
        {
            if hash.is_zero() {
                continue;
            }
            let consistent = self.blocks.get(&hash).is_some_and(|b| self.is_ancestor(b, &head));
            if !consistent {
                return Err(RpcError::new(
                    RpcErrorCode::InvalidForkchoiceState,
                    format!("{name} block {hash} is not an ancestor of head {}", head.hash),
                ));
            }
        }
        self.set_head(&head);
        // A zero hash keeps the block held, as Geth and Reth do (see the devnet's
        // `Chain::set_safe_finalized`).
        for (held, sent) in [
            (&mut self.safe, state.safe_block_hash),
            (&mut self.finalized, state.finalized_block_hash),
        ] {
            if !sent.is_zero() {
                *held = sent;
            }
        }
        self.start_build(&head, attrs)
    }

    /// VALID for `parent`, with a build on it when attributes are given (-38003 for a
    /// timestamp not after the parent's).
    fn start_build(
        &mut self,
        parent: &StoredBlock,
        attrs: Option<&PayloadAttributes>,
    ) -> Result<ForkchoiceResult, RpcError> {
        let Some(attrs) = attrs else {
            return Ok(ForkchoiceResult::Valid { head: parent.hash, payload_id: None });
        };
        if attrs.timestamp <= parent.header().timestamp {
            return Err(RpcError::new(
                RpcErrorCode::InvalidPayloadAttributes,
                format!(
                    "payload attributes timestamp {} is not after head timestamp {}",
                    attrs.timestamp,
                    parent.header().timestamp
                ),
            ));
        }
        let full = Arc::new(block::build(&self.forks, parent, attrs, &self.pool, &self.extra_data));
        let build = match self.fill {
            FillPolicy::AtOnce => Build::Settled(full),
            FillPolicy::Background { after } if !full.txs.is_empty() => {
                let empty =
                    Arc::new(block::build(&self.forks, parent, attrs, &[], &self.extra_data));
                // An `after` too large for the clock never fills: Instant cannot overflow.
                match Instant::now().checked_add(after) {
                    Some(full_at) => Build::Filling { empty, full, full_at },
                    None => Build::Settled(empty),
                }
            }
            FillPolicy::Background { .. } => Build::Settled(full),
        };
        let payload_id = PayloadId::new(self.next_payload_id.to_be_bytes());
        self.next_payload_id += 1;
        self.builds.insert(payload_id, build);
        Ok(ForkchoiceResult::Valid { head: parent.hash, payload_id: Some(payload_id) })
    }

    /// `getPayload`: the payload built under `id` so far. Under [`FillPolicy::Background`]
    /// the first call settles the build, as Geth's `Payload.Resolve` stops its builder: the
    /// full block if it was ready, else the empty one, and every later call returns the same.
    pub(super) fn resolve(&mut self, id: &PayloadId) -> Option<Arc<StoredBlock>> {
        let build = self.builds.get_mut(id)?;
        let settled = match build {
            Build::Settled(block) => Arc::clone(block),
            Build::Filling { empty, full, full_at } => {
                Arc::clone(if Instant::now() >= *full_at { full } else { empty })
            }
        };
        *build = Build::Settled(Arc::clone(&settled));
        Some(settled)
    }

    /// Make `head` canonical and drop the pool's transactions that the chain now includes.
    fn set_head(&mut self, head: &StoredBlock) {
        let mut path = Vec::with_capacity(head.number() as usize + 1);
        let mut cursor = Some(head);
        while let Some(b) = cursor {
            path.push(b.hash);
            cursor = self.blocks.get(&b.header().parent_hash).map(AsRef::as_ref);
        }
        path.reverse();
        self.canonical = path;
        let included: std::collections::HashSet<B256> = self
            .canonical
            .iter()
            .filter_map(|h| self.blocks.get(h))
            .flat_map(|b| b.txs.iter().map(|t| t.hash))
            .collect();
        self.pool.retain(|t| !included.contains(&t.hash));
    }
}
