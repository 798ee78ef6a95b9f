//! Every block the devnet has seen, the canonical chain, and how blocks are made and checked.
//!
//! Recent blocks keep their post-state (shared where unchanged, see [`state`](super::state)),
//! so moving the head to any of them — a reorg — is a pointer move plus an update of the
//! number → hash index. What is kept is bounded by a [`Retention`]: the devnet runs inside
//! `engine-node` for as long as the node does, so old states and blocks are pruned (see
//! [`retention`] for the rule and its defaults).

mod retention;

pub use retention::Retention;

use super::{
    execute::{BlockOutcome, ExecEnv, ExecError, Mode, TxOutcome, execute_block, spec_for},
    genesis::ChainSpec,
    state::WorldState,
};
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Header, Sealable, Sealed, TxEnvelope, proofs,
    transaction::{Recovered, SignerRecoverable},
};
use alloy_eips::{
    eip1559::BaseFeeParams, eip2718::Encodable2718, eip4844::MAX_DATA_GAS_PER_BLOCK_DENCUN,
    eip4895::Withdrawal, eip7840::BlobParams,
};
use alloy_primitives::{Address, B64, B256, Bytes, U256, map::HashMap};
use alloy_rpc_types_engine::{ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3};
use alloy_trie::root::ordered_trie_root_with_encoder;
use engine_types::Fork;
use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

/// A block the devnet holds: header, executed transactions with receipts and withdrawals.
/// Its post-state is kept apart, for recent blocks only ([`Chain::state`]).
#[derive(Debug)]
pub(crate) struct StoredBlock {
    /// The header and its hash.
    pub(crate) header: Sealed<Header>,
    /// Transactions with their receipts, in order.
    pub(crate) txs: Vec<TxOutcome>,
    /// Withdrawals (Shanghai on).
    pub(crate) withdrawals: Option<Vec<Withdrawal>>,
    /// Tips paid to the fee recipient, in wei.
    pub(crate) block_value: U256,
}

/// A block just executed, with the state after it.
#[derive(Debug)]
pub(crate) struct Executed {
    /// The block.
    pub(crate) block: StoredBlock,
    /// Its post-state.
    pub(crate) state: Arc<WorldState>,
}

/// Why the post-state of a block cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StateError {
    /// The block is not known (never seen, or pruned with its state).
    #[error("header not found")]
    UnknownBlock,
    /// The block is known but its state was pruned ([`Retention`]); the message is Reth's
    /// (`ProviderError::StateAtBlockPruned`).
    #[error("state at block #{0} is pruned")]
    Pruned(u64),
}

/// Why the head could not move to a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    /// The block's state cannot be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// An ancestor between the block and the canonical chain was pruned, so the canonical
    /// index cannot be rebuilt.
    #[error("an ancestor of the block was pruned")]
    PrunedAncestry,
}

impl StoredBlock {
    /// The block hash.
    pub(crate) fn hash(&self) -> B256 {
        self.header.hash()
    }

    /// The block number.
    pub(crate) fn number(&self) -> u64 {
        self.header.number
    }

    /// The payload of this block in its richest shape (V3 when it has Cancun fields).
    pub(crate) fn payload_v3(&self) -> ExecutionPayloadV3 {
        let h = &self.header;
        let v1 = ExecutionPayloadV1 {
            parent_hash: h.parent_hash,
            fee_recipient: h.beneficiary,
            state_root: h.state_root,
            receipts_root: h.receipts_root,
            logs_bloom: h.logs_bloom,
            prev_randao: h.mix_hash,
            block_number: h.number,
            gas_limit: h.gas_limit,
            gas_used: h.gas_used,
            timestamp: h.timestamp,
            extra_data: h.extra_data.clone(),
            base_fee_per_gas: U256::from(h.base_fee_per_gas.unwrap_or_default()),
            block_hash: self.hash(),
            transactions: self.txs.iter().map(|t| t.tx.inner().encoded_2718().into()).collect(),
        };
        ExecutionPayloadV3 {
            payload_inner: ExecutionPayloadV2 {
                payload_inner: v1,
                withdrawals: self.withdrawals.clone().unwrap_or_default(),
            },
            blob_gas_used: h.blob_gas_used.unwrap_or_default(),
            excess_blob_gas: h.excess_blob_gas.unwrap_or_default(),
        }
    }
}

/// What a new block on top of a parent is built from (the payload attributes).
#[derive(Debug, Clone)]
pub(crate) struct NextBlock {
    /// Its timestamp.
    pub(crate) timestamp: u64,
    /// Who receives the tips.
    pub(crate) fee_recipient: Address,
    /// `prevRandao` (the header's mix hash).
    pub(crate) prev_randao: B256,
    /// Withdrawals, Shanghai on.
    pub(crate) withdrawals: Option<Vec<Withdrawal>>,
    /// The parent beacon block root, Cancun on.
    pub(crate) parent_beacon_block_root: Option<B256>,
}

/// Why a block was refused on import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BlockError {
    /// The header does not follow from its parent.
    #[error("{0}")]
    Header(String),
    /// A transaction's signature does not recover.
    #[error("transaction {index}: invalid signature: {reason}")]
    Signature {
        /// Its index.
        index: usize,
        /// Why.
        reason: String,
    },
    /// Execution failed.
    #[error(transparent)]
    Execution(#[from] ExecError),
    /// A header field does not match what executing the block produced.
    #[error("{field} mismatch: header has {header}, execution gives {computed}")]
    Mismatch {
        /// The field.
        field: &'static str,
        /// The header's value.
        header: String,
        /// The computed value.
        computed: String,
    },
}

/// The extra data of blocks the devnet builds.
const EXTRA_DATA: &[u8] = b"alys devnet";

/// How many invalid blocks the devnet remembers, as Geth's `invalidTipsetsCap` (512) in
/// `eth/catalyst/api.go`; the oldest verdict is forgotten first.
pub(crate) const MAX_INVALID: usize = 512;

/// The known blocks, the canonical chain and the forkchoice.
#[derive(Debug)]
pub(crate) struct Chain {
    spec: ChainSpec,
    retention: Retention,
    blocks: HashMap<B256, Arc<StoredBlock>>,
    /// Known block hashes by number (every branch), for pruning by height.
    by_number: BTreeMap<u64, Vec<B256>>,
    /// Post-states of recent blocks, with their block numbers.
    states: HashMap<B256, (u64, Arc<WorldState>)>,
    /// The head's post-state (always kept).
    head_state: Arc<WorldState>,
    /// Canonical hashes by number from `canonical_start` (the genesis is looked up apart).
    canonical: VecDeque<B256>,
    canonical_start: u64,
    genesis: B256,
    genesis_number: u64,
    /// The highest block number ever stored: the window of what is kept follows it.
    tip: u64,
    head: B256,
    safe: Option<B256>,
    finalized: Option<B256>,
    /// Where each transaction hash was included (on any branch).
    tx_index: HashMap<B256, Vec<(B256, usize)>>,
    /// Blocks found invalid, with their latest valid ancestor; at most [`MAX_INVALID`].
    invalid: HashMap<B256, Option<B256>>,
    /// The keys of `invalid`, oldest first.
    invalid_order: VecDeque<B256>,
    /// The block a restart began from instead of the genesis, when its journal had a
    /// checkpoint ([`start_from`](Self::start_from)).
    anchor: Option<Anchor>,
}

/// The block a chain was restarted from: a checkpoint's, whose ancestors are not blocks of
/// the chain but whose hashes `BLOCKHASH` still reads.
#[derive(Debug)]
struct Anchor {
    hash: B256,
    /// The hashes of the [`BLOCKHASH_WINDOW`] blocks below it (fewer near the genesis),
    /// lowest first.
    ancestors: Vec<B256>,
}

/// The root of the transactions trie of a block's executed transactions.
pub(crate) fn transactions_root(txs: &[TxOutcome]) -> B256 {
    ordered_trie_root_with_encoder(txs, |t, buf| t.tx.inner().encode_2718(buf))
}

/// How far back `BLOCKHASH` reads: the 256 most recent ancestors.
pub(crate) const BLOCKHASH_WINDOW: u64 = 256;

impl Chain {
    /// A chain holding only `genesis`, keeping what `retention` says.
    pub(crate) fn new(
        spec: ChainSpec,
        genesis: Header,
        state: WorldState,
        retention: Retention,
    ) -> Self {
        let genesis = genesis.seal_slow();
        let hash = genesis.hash();
        let genesis_number = genesis.number;
        let block = StoredBlock {
            header: genesis,
            txs: Vec::new(),
            withdrawals: None,
            block_value: U256::ZERO,
        };
        let state = Arc::new(state);
        let mut blocks = HashMap::default();
        blocks.insert(hash, Arc::new(block));
        let mut states = HashMap::default();
        states.insert(hash, (genesis_number, Arc::clone(&state)));
        Self {
            spec,
            retention,
            blocks,
            by_number: BTreeMap::from([(genesis_number, vec![hash])]),
            states,
            head_state: state,
            canonical: VecDeque::from([hash]),
            canonical_start: genesis_number,
            genesis: hash,
            genesis_number,
            tip: genesis_number,
            head: hash,
            safe: None,
            finalized: None,
            tx_index: HashMap::default(),
            invalid: HashMap::default(),
            invalid_order: VecDeque::new(),
            anchor: None,
        }
    }

    /// Makes `anchor` (a block of this chain's past, executed on another run, with the
    /// hashes of its [`BLOCKHASH_WINDOW`] ancestors) the head of this fresh chain, as if
    /// every block between the genesis and it had been imported and pruned: blocks build
    /// on it, `BLOCKHASH` reads its ancestors, and nothing below it is served.
    pub(crate) fn start_from(&mut self, anchor: Executed, ancestors: Vec<B256>) {
        let state = Arc::clone(&anchor.state);
        let block = self.insert(anchor);
        let (hash, number) = (block.hash(), block.number());
        self.canonical = VecDeque::from([hash]);
        self.canonical_start = number;
        self.head = hash;
        self.head_state = state;
        self.anchor = Some(Anchor { hash, ancestors });
        self.prune();
    }

    /// The hashes of the `count` nearest ancestors of the known block `hash`, lowest
    /// first; fewer when the walk meets the genesis or a block no longer kept. (A journal
    /// checkpoint asks for [`BLOCKHASH_WINDOW`] of them at a finalized block, at least
    /// `history_blocks` ≥ that window above a restart's anchor: all are kept.)
    pub(crate) fn ancestors(&self, hash: B256, count: u64) -> Vec<B256> {
        let mut found = Vec::new();
        let mut cursor = self.blocks.get(&hash);
        while let Some(block) = cursor {
            if found.len() as u64 >= count || block.number() == self.genesis_number {
                break;
            }
            found.push(block.header.parent_hash);
            cursor = self.blocks.get(&block.header.parent_hash);
        }
        found.reverse();
        found
    }

    /// What this chain keeps of its past.
    pub(crate) const fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The chain configuration.
    pub(crate) const fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// A known block.
    pub(crate) fn block(&self, hash: &B256) -> Option<&Arc<StoredBlock>> {
        self.blocks.get(hash)
    }

    /// The genesis block.
    pub(crate) fn genesis(&self) -> &Arc<StoredBlock> {
        // Pruning never removes the genesis block (its state, yes).
        &self.blocks[&self.genesis]
    }

    /// The head block.
    pub(crate) fn head(&self) -> &Arc<StoredBlock> {
        // The head is always a known block: it starts at genesis, only moves to known ones,
        // and pruning never removes it.
        &self.blocks[&self.head]
    }

    /// The head's post-state.
    pub(crate) fn head_state(&self) -> &Arc<WorldState> {
        &self.head_state
    }

    /// The post-state of a known block, unless pruned.
    pub(crate) fn state(&self, hash: &B256) -> Result<&Arc<WorldState>, StateError> {
        match self.states.get(hash) {
            Some((_, state)) => Ok(state),
            None => match self.blocks.get(hash) {
                Some(block) => Err(StateError::Pruned(block.number())),
                None => Err(StateError::UnknownBlock),
            },
        }
    }

    /// The safe block, once a forkchoice update named one.
    pub(crate) fn safe(&self) -> Option<&Arc<StoredBlock>> {
        self.safe.and_then(|h| self.blocks.get(&h))
    }

    /// The finalized block, once a forkchoice update named one.
    pub(crate) fn finalized(&self) -> Option<&Arc<StoredBlock>> {
        self.finalized.and_then(|h| self.blocks.get(&h))
    }

    /// The canonical block with `number` (`None` past the head or once pruned).
    pub(crate) fn canonical(&self, number: u64) -> Option<&Arc<StoredBlock>> {
        if number == self.genesis_number {
            return self.blocks.get(&self.genesis);
        }
        let index = usize::try_from(number.checked_sub(self.canonical_start)?).ok()?;
        self.canonical.get(index).and_then(|h| self.blocks.get(h))
    }

    /// Whether `hash` is on the canonical chain.
    pub(crate) fn is_canonical(&self, hash: &B256) -> bool {
        self.blocks
            .get(hash)
            .is_some_and(|b| self.canonical(b.number()).is_some_and(|c| c.hash() == *hash))
    }

    /// The canonical inclusion of a transaction: block and index.
    pub(crate) fn find_tx(&self, hash: &B256) -> Option<(&Arc<StoredBlock>, usize)> {
        self.tx_index
            .get(hash)?
            .iter()
            .find(|(block, _)| self.is_canonical(block))
            .and_then(|(block, index)| Some((self.blocks.get(block)?, *index)))
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub(crate) fn is_ancestor(&self, ancestor: &B256, descendant: &B256) -> bool {
        let Some(target) = self.blocks.get(ancestor) else { return false };
        let mut cursor = self.blocks.get(descendant);
        while let Some(block) = cursor {
            if block.number() <= target.number() {
                return block.hash() == *ancestor;
            }
            cursor = self.blocks.get(&block.header.parent_hash);
        }
        false
    }

    /// The latest valid ancestor recorded for an invalid block, if it is one.
    pub(crate) fn invalid(&self, hash: &B256) -> Option<Option<B256>> {
        self.invalid.get(hash).copied()
    }

    /// Remember that `hash` is invalid (forgetting the oldest verdict beyond
    /// [`MAX_INVALID`]).
    pub(crate) fn mark_invalid(&mut self, hash: B256, latest_valid: Option<B256>) {
        if self.invalid.insert(hash, latest_valid).is_none() {
            self.invalid_order.push_back(hash);
            while self.invalid_order.len() > MAX_INVALID {
                if let Some(old) = self.invalid_order.pop_front() {
                    self.invalid.remove(&old);
                }
            }
        }
    }

    /// Record the safe and finalized blocks (already checked to be ancestors of the head);
    /// `None` (a zero hash in the request) keeps the one held, as Geth
    /// (`ConsensusAPI.forkchoiceUpdated` only calls `SetFinalized`/`SetSafe` for non-zero
    /// hashes) and Reth (`update_finalized_block`/`update_safe_block` return early) do.
    /// Prunes what the new finalized block lets go.
    pub(crate) fn set_safe_finalized(&mut self, safe: Option<B256>, finalized: Option<B256>) {
        self.safe = safe.or(self.safe);
        self.finalized = finalized.or(self.finalized);
        self.prune();
    }

    /// Make the known block `hash` the head; the canonical index follows. Returns the
    /// transactions of blocks that left the canonical chain (for the pool to take back).
    /// Nothing changes when the block's state, or an ancestor on its way to the canonical
    /// chain, was pruned.
    pub(crate) fn set_head(&mut self, hash: B256) -> Result<Vec<Recovered<TxEnvelope>>, HeadError> {
        let mut orphaned = Vec::new();
        if hash == self.head {
            return Ok(orphaned);
        }
        let state = Arc::clone(self.state(&hash)?);
        let mut branch = Vec::new();
        let mut cursor = hash;
        while !self.is_canonical(&cursor) {
            branch.push(cursor);
            let block = self.blocks.get(&cursor).ok_or(HeadError::PrunedAncestry)?;
            cursor = block.header.parent_hash;
        }
        let fork_number = self.blocks.get(&cursor).map_or(self.genesis_number, |b| b.number());
        // The window starts above the fork only when the fork is the genesis and the blocks
        // right above it were pruned: the branch then starts the window anew.
        let keep = usize::try_from((fork_number + 1).saturating_sub(self.canonical_start))
            .unwrap_or(usize::MAX)
            .min(self.canonical.len());
        for gone in self.canonical.drain(keep..) {
            if let Some(b) = self.blocks.get(&gone) {
                orphaned.extend(b.txs.iter().map(|t| t.tx.clone()));
            }
        }
        if self.canonical.is_empty() {
            self.canonical_start = fork_number + 1;
        }
        self.canonical.extend(branch.into_iter().rev());
        self.head = hash;
        self.head_state = state;
        Ok(orphaned)
    }

    /// The header of a child of `parent` before execution: the fields that follow from the
    /// parent (number, base fee, excess blob gas) and from `next`.
    fn child_header(
        &self,
        parent: &Header,
        next: &NextBlock,
        gas_limit: u64,
        extra: Bytes,
    ) -> Header {
        let fork = self.spec.fork_at(next.timestamp);
        let cancun = fork >= Fork::Cancun;
        Header {
            parent_hash: parent.hash_slow(),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: next.fee_recipient,
            difficulty: U256::ZERO,
            number: parent.number + 1,
            gas_limit,
            timestamp: next.timestamp,
            extra_data: extra,
            mix_hash: next.prev_randao,
            nonce: B64::ZERO,
            base_fee_per_gas: parent.next_block_base_fee(BaseFeeParams::ethereum()),
            excess_blob_gas: cancun.then(|| {
                parent.next_block_excess_blob_gas(BlobParams::cancun()).unwrap_or_default()
            }),
            parent_beacon_block_root: next.parent_beacon_block_root,
            ..Header::default()
        }
    }

    /// Execute `txs` on top of `parent` (whose post-state is `parent_state`) into a block;
    /// roots and gas come from execution.
    fn assemble(
        &self,
        parent: &StoredBlock,
        parent_state: &Arc<WorldState>,
        mut header: Header,
        txs: Vec<Recovered<TxEnvelope>>,
        withdrawals: Option<Vec<Withdrawal>>,
        mode: Mode,
    ) -> Result<(Executed, Vec<(B256, String)>), ExecError> {
        header.parent_hash = parent.hash();
        let spec = spec_for(self.spec.fork_at(header.timestamp));
        let lookup = |number: u64| self.ancestor_hash(parent.hash(), number);
        let env = ExecEnv { chain_id: self.spec.chain_id, spec, block_hashes: &lookup };
        let outcome: BlockOutcome = execute_block(
            parent_state,
            &header,
            &env,
            txs,
            withdrawals.as_deref().unwrap_or_default(),
            mode,
        )?;
        let state = parent_state.apply(outcome.diff);
        header.state_root = state.root();
        header.transactions_root = transactions_root(&outcome.txs);
        header.receipts_root =
            ordered_trie_root_with_encoder(&outcome.txs, |t, buf| t.receipt.encode_2718(buf));
        header.logs_bloom = outcome.logs_bloom;
        header.gas_used = outcome.gas_used;
        header.withdrawals_root = withdrawals.as_deref().map(proofs::calculate_withdrawals_root);
        if header.excess_blob_gas.is_some() {
            header.blob_gas_used = Some(outcome.blob_gas_used);
        }
        let block = StoredBlock {
            header: header.seal_slow(),
            txs: outcome.txs,
            withdrawals,
            block_value: outcome.block_value,
        };
        Ok((Executed { block, state }, outcome.skipped))
    }

    /// The hash of the ancestor of `from` (inclusive) with `number`.
    pub(crate) fn ancestor_hash(&self, from: B256, number: u64) -> Option<B256> {
        let mut cursor = self.blocks.get(&from);
        while let Some(block) = cursor {
            if block.number() == number {
                return Some(block.hash());
            }
            if block.number() < number {
                return None;
            }
            if let Some(anchor) = self.anchor.as_ref().filter(|a| a.hash == block.hash()) {
                // Below the restart's first block: the hashes its checkpoint carried.
                let back = usize::try_from(block.number() - number).ok()?;
                let index = anchor.ancestors.len().checked_sub(back)?;
                return anchor.ancestors.get(index).copied();
            }
            cursor = self.blocks.get(&block.header.parent_hash);
        }
        None
    }

    /// Build a block on `parent` (whose post-state is `parent_state`) from `next` and the
    /// candidate transactions (those that cannot be included are left out). The block is
    /// not stored.
    pub(crate) fn build(
        &self,
        parent: &StoredBlock,
        parent_state: &Arc<WorldState>,
        next: &NextBlock,
        candidates: Vec<Recovered<TxEnvelope>>,
    ) -> Result<StoredBlock, ExecError> {
        let header = self.child_header(
            &parent.header,
            next,
            parent.header.gas_limit,
            Bytes::from_static(EXTRA_DATA),
        );
        let (executed, _skipped) = self.assemble(
            parent,
            parent_state,
            header,
            candidates,
            next.withdrawals.clone(),
            Mode::Build,
        )?;
        Ok(executed.block)
    }

    /// Check a block received from outside against its (known) parent by executing it;
    /// the block is not stored.
    ///
    /// `known_sender` names the sender of a transaction whose hash was already recovered
    /// (e.g. by the pool): the hash covers the signature, so the sender is the same, and
    /// recovery — most of the cost of importing a block of transfers — is skipped.
    pub(crate) fn verify(
        &self,
        parent: &StoredBlock,
        parent_state: &Arc<WorldState>,
        header: &Header,
        txs: Vec<TxEnvelope>,
        withdrawals: Option<Vec<Withdrawal>>,
        known_sender: impl Fn(&B256) -> Option<Address>,
    ) -> Result<Executed, BlockError> {
        self.check_header(&parent.header, header, withdrawals.is_some())?;
        let txs = txs
            .into_iter()
            .enumerate()
            .map(|(index, tx)| match known_sender(tx.tx_hash()) {
                Some(sender) => Ok(Recovered::new_unchecked(tx, sender)),
                None => tx
                    .try_into_recovered()
                    .map_err(|e| BlockError::Signature { index, reason: e.to_string() }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = NextBlock {
            timestamp: header.timestamp,
            fee_recipient: header.beneficiary,
            prev_randao: header.mix_hash,
            withdrawals: withdrawals.clone(),
            parent_beacon_block_root: header.parent_beacon_block_root,
        };
        let pre =
            self.child_header(&parent.header, &next, header.gas_limit, header.extra_data.clone());
        let (executed, _) =
            self.assemble(parent, parent_state, pre, txs, withdrawals, Mode::Import)?;
        let computed = &executed.block.header;
        let checks: [(&'static str, String, String); 6] = [
            ("gasUsed", header.gas_used.to_string(), computed.gas_used.to_string()),
            (
                "blobGasUsed",
                format!("{:?}", header.blob_gas_used),
                format!("{:?}", computed.blob_gas_used),
            ),
            ("logsBloom", header.logs_bloom.to_string(), computed.logs_bloom.to_string()),
            ("receiptsRoot", header.receipts_root.to_string(), computed.receipts_root.to_string()),
            ("stateRoot", header.state_root.to_string(), computed.state_root.to_string()),
            ("blockHash", header.hash_slow().to_string(), computed.hash().to_string()),
        ];
        for (field, header, computed) in checks {
            if header != computed {
                return Err(BlockError::Mismatch { field, header, computed });
            }
        }
        Ok(executed)
    }

    /// The header rules that do not need execution.
    fn check_header(
        &self,
        parent: &Header,
        header: &Header,
        has_withdrawals: bool,
    ) -> Result<(), BlockError> {
        let bad = |reason: String| Err(BlockError::Header(reason));
        let fork = self.spec.fork_at(header.timestamp);
        if header.number != parent.number + 1 {
            return bad(format!(
                "number {} does not follow parent {}",
                header.number, parent.number
            ));
        }
        if header.timestamp <= parent.timestamp {
            return bad(format!(
                "timestamp {} is not after the parent's {}",
                header.timestamp, parent.timestamp
            ));
        }
        let (gl, pgl) = (header.gas_limit, parent.gas_limit);
        if gl < 5000 || gl.abs_diff(pgl) >= pgl / 1024 && gl != pgl {
            return bad(format!("gas limit {gl} is not within 1/1024 of the parent's {pgl}"));
        }
        if header.gas_used > gl {
            return bad(format!("gas used {} exceeds the gas limit {gl}", header.gas_used));
        }
        let expected = parent.next_block_base_fee(BaseFeeParams::ethereum());
        if header.base_fee_per_gas != expected {
            return bad(format!(
                "base fee {:?} differs from {:?} computed from the parent",
                header.base_fee_per_gas, expected
            ));
        }
        if header.extra_data.len() > engine_types::constants::MAX_EXTRA_DATA_BYTES {
            return bad(format!("extra data is {} bytes, more than 32", header.extra_data.len()));
        }
        if has_withdrawals != (fork >= Fork::Shanghai) {
            return bad(format!(
                "withdrawals {} in {fork:?}",
                if has_withdrawals { "present" } else { "missing" }
            ));
        }
        if fork >= Fork::Cancun {
            if header.parent_beacon_block_root.is_none() {
                return bad("parentBeaconBlockRoot missing in Cancun".into());
            }
            let expected =
                parent.next_block_excess_blob_gas(BlobParams::cancun()).unwrap_or_default();
            if header.excess_blob_gas != Some(expected) {
                return bad(format!(
                    "excess blob gas {:?} differs from {expected} computed from the parent",
                    header.excess_blob_gas
                ));
            }
            if header.blob_gas_used.is_some_and(|used| used > MAX_DATA_GAS_PER_BLOCK_DENCUN) {
                return bad("blob gas used exceeds the Cancun maximum".into());
            }
        } else if header.parent_beacon_block_root.is_some() || header.excess_blob_gas.is_some() {
            return bad(format!("Cancun fields in a {fork:?} block"));
        }
        Ok(())
    }

    /// Store a verified block and its post-state (its parent must be known), then prune
    /// what the [`Retention`] no longer keeps.
    pub(crate) fn insert(&mut self, executed: Executed) -> Arc<StoredBlock> {
        let Executed { block, state } = executed;
        let (hash, number) = (block.hash(), block.number());
        for (index, t) in block.txs.iter().enumerate() {
            let at = self.tx_index.entry(*t.tx.tx_hash()).or_default();
            if !at.contains(&(hash, index)) {
                at.push((hash, index));
            }
        }
        let block = Arc::new(block);
        if self.blocks.insert(hash, Arc::clone(&block)).is_none() {
            self.by_number.entry(number).or_default().push(hash);
        }
        self.states.insert(hash, (number, state));
        self.tip = self.tip.max(number);
        self.prune();
        block
    }

    /// The canonical blocks from `from` to `to` inclusive (clamped to the head).
    pub(crate) fn canonical_range(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = &Arc<StoredBlock>> {
        (from..=to).map_while(move |n| self.canonical(n))
    }
}
