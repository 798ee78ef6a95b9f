//! [`Devnet`]: the execution layer itself, in process, without HTTP.

use super::{
    chain::Retention,
    chain::{Chain, StoredBlock},
    error::DevnetError,
    genesis::{ChainSpec, genesis_header, genesis_state},
    pool::{AdmissionRules, PoolLimits, TxPool},
};
use crate::{
    el_rules::{AncestorPolicy, SyncingProbe},
    rpc_server::RpcError,
};
use alloy_consensus::{Block, BlockBody, Header, ReceiptEnvelope, Sealed, TxEnvelope};
use alloy_eips::eip4895::Withdrawals;
use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, Bytes, U256, map::HashMap};
use alloy_rpc_types_engine::PayloadId;
use engine_types::ForkSchedule;
use std::{collections::VecDeque, fmt, sync::Arc};

/// A payload being built: what it was built from and the latest build.
#[derive(Debug)]
pub(crate) struct PendingPayload {
    /// The parent block.
    pub(crate) parent: B256,
    /// The attributes.
    pub(crate) next: super::chain::NextBlock,
    /// The latest build.
    pub(crate) block: Arc<StoredBlock>,
    /// The pool revision the build saw; a getPayload after new transactions rebuilds.
    pub(crate) pool_revision: u64,
    /// Set once getPayload returned it: the build is final from then on.
    pub(crate) delivered: bool,
}

/// An in-memory execution layer that really executes: blocks, state, receipts and a
/// transaction pool, driven through the Engine API methods and queried through `eth_*`.
///
/// Serve it over HTTP with [`DevnetEl`](super::DevnetEl), or drive it directly in tests and
/// benchmarks.
pub struct Devnet {
    pub(crate) chain: Chain,
    pub(crate) pool: TxPool,
    pub(crate) pool_revision: u64,
    pub(crate) payloads: HashMap<PayloadId, PendingPayload>,
    /// Payload ids oldest first, so that only the latest [`MAX_PAYLOADS`] are kept.
    pub(crate) payload_order: VecDeque<PayloadId>,
    /// What a forkchoiceUpdated naming a canonical ancestor of the head does.
    pub(crate) ancestor_policy: AncestorPolicy,
    /// What `eth_syncing` answers.
    pub(crate) syncing: SyncingProbe,
    /// Its disk, when it has one: accepted blocks and the forkchoice state applied.
    pub(crate) journal: Option<crate::journal::Journal>,
}

/// How many built payloads the devnet keeps for getPayload; older ids answer -38001, as a
/// real client's do once it has moved on.
pub(crate) const MAX_PAYLOADS: usize = 64;

impl fmt::Debug for Devnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Devnet")
            .field("chain_id", &self.chain_id())
            .field("head", &self.head().hash())
            .field("head_number", &self.head().number)
            .field("pooled", &self.pool.len())
            .field("payloads", &self.payloads.len())
            .field("ancestor_policy", &self.ancestor_policy)
            .field("syncing", &self.syncing)
            .finish()
    }
}

impl Devnet {
    /// A devnet at the genesis block of `genesis` (geth-style genesis JSON, parsed), with
    /// the default [`AncestorPolicy`] and [`SyncingProbe`].
    ///
    /// Shanghai must be active at genesis; Cancun may be scheduled at any later time. What
    /// it keeps is bounded by the default [`Retention`] and [`PoolLimits`].
    pub fn new(genesis: &Genesis) -> Result<Self, DevnetError> {
        Self::with_limits(genesis, Retention::default(), PoolLimits::default())
    }

    /// [`new`](Self::new), keeping `retention` of its past and at most `pool` transactions.
    pub fn with_limits(
        genesis: &Genesis,
        retention: Retention,
        pool: PoolLimits,
    ) -> Result<Self, DevnetError> {
        retention.validate()?;
        pool.validate()?;
        let spec = ChainSpec::from_genesis(genesis)?;
        let state = genesis_state(genesis);
        let header = genesis_header(genesis, &spec, &state)?;
        Ok(Self {
            chain: Chain::new(spec, header, state, retention),
            pool: TxPool::new(pool),
            pool_revision: 0,
            payloads: HashMap::default(),
            payload_order: VecDeque::new(),
            ancestor_policy: AncestorPolicy::default(),
            syncing: SyncingProbe::default(),
            journal: None,
        })
    }

    /// What a forkchoiceUpdated naming a canonical ancestor of the head does.
    pub const fn ancestor_policy(&self) -> AncestorPolicy {
        self.ancestor_policy
    }

    /// Change what a forkchoiceUpdated naming a canonical ancestor of the head does.
    pub const fn set_ancestor_policy(&mut self, policy: AncestorPolicy) {
        self.ancestor_policy = policy;
    }

    /// What `eth_syncing` answers.
    pub const fn syncing(&self) -> SyncingProbe {
        self.syncing
    }

    /// Change what `eth_syncing` answers.
    pub const fn set_syncing(&mut self, probe: SyncingProbe) {
        self.syncing = probe;
    }

    /// The chain id from the genesis `config`.
    pub fn chain_id(&self) -> u64 {
        self.chain.spec().chain_id
    }

    /// The fork schedule from the genesis `config`.
    pub fn fork_schedule(&self) -> ForkSchedule {
        self.chain.spec().forks
    }

    /// The genesis block's hash.
    pub fn genesis_hash(&self) -> B256 {
        self.chain.genesis().hash()
    }

    /// The head header (with its hash).
    pub fn head(&self) -> &Sealed<Header> {
        &self.chain.head().header
    }

    /// The header of the safe block, once a forkchoice update named one.
    pub fn safe(&self) -> Option<&Sealed<Header>> {
        self.chain.safe().map(|b| &b.header)
    }

    /// The header of the finalized block, once a forkchoice update named one.
    pub fn finalized(&self) -> Option<&Sealed<Header>> {
        self.chain.finalized().map(|b| &b.header)
    }

    /// A block the devnet knows (on any branch), with its transactions and withdrawals.
    pub fn block(&self, hash: &B256) -> Option<Block<TxEnvelope>> {
        let b = self.chain.block(hash)?;
        Some(Block {
            header: b.header.inner().clone(),
            body: BlockBody {
                transactions: b.txs.iter().map(|t| t.tx.inner().clone()).collect(),
                ommers: Vec::new(),
                withdrawals: b.withdrawals.clone().map(Withdrawals::new),
            },
        })
    }

    /// The canonical block hash at `number`.
    pub fn canonical_hash(&self, number: u64) -> Option<B256> {
        self.chain.canonical(number).map(|b| b.hash())
    }

    /// The receipts of a known block, in transaction order.
    pub fn receipts(&self, hash: &B256) -> Option<Vec<ReceiptEnvelope>> {
        Some(self.chain.block(hash)?.txs.iter().map(|t| t.receipt.clone()).collect())
    }

    /// The balance of `address` at the head, in wei.
    pub fn balance(&self, address: &Address) -> U256 {
        self.chain.head_state().balance(address)
    }

    /// The nonce of `address` at the head.
    pub fn nonce(&self, address: &Address) -> u64 {
        self.chain.head_state().nonce(address)
    }

    /// The code of `address` at the head.
    pub fn code(&self, address: &Address) -> Bytes {
        self.chain.head_state().code_at(address)
    }

    /// A storage slot of `address` at the head.
    pub fn storage(&self, address: &Address, slot: U256) -> U256 {
        self.chain.head_state().storage(address, &slot)
    }

    /// How many transactions wait in the pool.
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    /// `eth_sendRawTransaction`: check a signed EIP-2718 transaction against the head and
    /// queue it; its hash on success, a -32000 error naming the problem otherwise.
    pub fn send_raw_transaction(&mut self, raw: &[u8]) -> Result<B256, RpcError> {
        let rules = AdmissionRules {
            state: self.chain.head_state(),
            chain_id: self.chain.spec().chain_id,
            block_gas_limit: self.chain.head().header.gas_limit,
        };
        let hash = self.pool.admit(raw, rules).map_err(|e| RpcError::server(e.to_string()))?;
        self.pool_revision += 1;
        Ok(hash)
    }
}
