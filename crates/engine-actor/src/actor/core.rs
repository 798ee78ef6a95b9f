//! What the actor, its forkchoice worker and its query tasks share: the port, the checks,
//! the cache, the peers, and the worker's published view of the forkchoice state.

use crate::{
    cache::PayloadCache,
    config::EngineActorConfig,
    error::ActorError,
    heads::ForkchoiceHeads,
    messages::BuiltPayload,
    metrics::Meters,
    peers::ActorAddresses,
    port::ExecutionPort,
    status::{ElCondition, EngineState, derive_state},
};
use engine_validation::{AdmissionPolicy, PayloadValidator, PegOutScanner};
use std::sync::{
    Arc, Mutex, MutexGuard, PoisonError, RwLock,
    atomic::{AtomicUsize, Ordering},
};

/// What the forkchoice worker publishes after every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) el: ElCondition,
    pub(crate) heads: ForkchoiceHeads,
    pub(crate) head_gas_limit: Option<u64>,
    pub(crate) next_withdrawal_index: u64,
    /// A finality intent waits for the EL's VALID: the tick has it sent again.
    pub(crate) finality_pending: bool,
    /// The newest block whose peg-outs the Bridge took (the scan cursor).
    pub(crate) peg_outs_scanned: Option<crate::heads::BlockRef>,
    /// Peg-outs of blocks below the head are owed and not in the scan lane: the tick has
    /// them handed over.
    pub(crate) peg_outs_owed: bool,
    pub(crate) last_error: Option<String>,
}

/// A payload we built, with its validated header: committed by its payload id
/// ([`ChainRequest::CommitBuilt`](crate::messages::ChainRequest::CommitBuilt)), it is not
/// validated twice.
#[derive(Debug, Clone)]
pub(crate) struct CachedBuild {
    pub(crate) built: BuiltPayload,
    /// Its header as validation rebuilt it (its hash is the payload's block hash).
    pub(crate) header: alloy_consensus::Header,
}

#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) port: Arc<dyn ExecutionPort>,
    pub(crate) config: EngineActorConfig,
    pub(crate) validator: PayloadValidator,
    pub(crate) scanner: PegOutScanner,
    pub(crate) admission: AdmissionPolicy,
    pub(crate) peers: ActorAddresses,
    pub(crate) meters: Meters,
    cache: Mutex<PayloadCache<Arc<CachedBuild>>>,
    /// Written by the worker alone, read by queries and the tick. A lock, not a `watch`
    /// channel: nothing waits for a change, and a `watch` send notifies its (absent) waiters
    /// through eight locked lists on each of a commit's several publishes.
    view: RwLock<View>,
    pending_forkchoice: AtomicUsize,
}

impl Core {
    pub(crate) fn new(
        port: Arc<dyn ExecutionPort>,
        config: EngineActorConfig,
        peers: ActorAddresses,
        view: View,
    ) -> Self {
        Self {
            port,
            validator: PayloadValidator::new(config.chain.fork_schedule),
            scanner: PegOutScanner::from_config(&config.chain),
            admission: AdmissionPolicy::from_config(&config.chain),
            meters: Meters::register(),
            cache: Mutex::new(PayloadCache::new(&config.payload_cache)),
            config,
            peers,
            view: RwLock::new(view),
            pending_forkchoice: AtomicUsize::new(0),
        }
    }

    /// The block `id` from the EL, which must have it: an unknown block is
    /// [`ActorError::UnknownBlock`] naming `id`.
    pub(crate) async fn known_block(
        &self,
        id: engine_types::eips::BlockId,
        full: bool,
    ) -> Result<alloy_rpc_types_eth::Block, ActorError> {
        self.port
            .block(id, full)
            .await?
            .ok_or_else(|| ActorError::UnknownBlock { block: id.to_string() })
    }

    pub(crate) fn cache(&self) -> MutexGuard<'_, PayloadCache<Arc<CachedBuild>>> {
        // The cache holds plain data; a panic elsewhere while it was locked cannot leave it
        // half-updated in a way that matters, so keep using it.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn view(&self) -> View {
        self.read_view().clone()
    }

    /// Updates the view in place. The updates only assign fields, so a panic while the lock
    /// is held (none can happen in them) could not leave a half-made view: a poisoned lock
    /// is used as is, like the cache's.
    pub(crate) fn publish(&self, update: impl FnOnce(&mut View)) {
        update(&mut self.view.write().unwrap_or_else(PoisonError::into_inner));
    }

    pub(crate) fn state(&self) -> EngineState {
        // Neither the pool's health nor the peers' presence touches the view: holding its
        // read lock meanwhile cannot deadlock.
        derive_state(&self.read_view().el, &self.port.endpoints(), &self.peers.presence())
    }

    fn read_view(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn pending_forkchoice(&self) -> usize {
        self.pending_forkchoice.load(Ordering::Relaxed)
    }

    pub(crate) fn forkchoice_queued(&self) {
        self.pending_forkchoice.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn forkchoice_done(&self) {
        self.pending_forkchoice.fetch_sub(1, Ordering::Relaxed);
    }
}
