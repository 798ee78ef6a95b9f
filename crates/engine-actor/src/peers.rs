//! The engine's peers: the Chain actor (critical) and the optional Bridge, Storage and
//! Network actors, with the two notifications the engine sends them.
//!
//! Peers are addressed through ractor [`DerivedActorRef`]s, so a peer keeps its own message
//! enum and only implements `From<BurnEventsDetected>` (and `TryFrom` back, as ractor
//! requires). A peer under a supervisor is restarted with a new ref; [`PeerRef::named`]
//! resolves it through the registry on every send, so the engine never holds a stale one.

use crate::heads::BlockRef;
use engine_types::{CorrelationId, PegIn, PegOutRequest, primitives::B256};
use engine_validation::{MalformedPegOut, UnpayablePegOut};
use ractor::{ActorCell, ActorStatus, DerivedActorRef};
use std::{fmt, sync::Arc};

/// To the Bridge, after every committed block that contains peg-out requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BurnEventsDetected {
    /// The request that caused this commit.
    pub correlation: CorrelationId,
    /// The committed block's hash.
    pub block_hash: B256,
    /// Its number.
    pub block_number: u64,
    /// Requests to pay, in log order.
    pub payable: Vec<PegOutRequest>,
    /// Requests burned but not payable (dust, bad address), with every reason.
    pub not_payable: Vec<UnpayablePegOut>,
    /// Bridge events that did not decode (reported, never dropped).
    pub malformed: Vec<MalformedPegOut>,
}

/// To Storage, after every committed block, when a storage actor is present.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreExecutionData {
    /// The request that caused this commit.
    pub correlation: CorrelationId,
    /// The committed block's hash.
    pub block_hash: B256,
    /// Its number.
    pub block_number: u64,
    /// Its receipts, in transaction order.
    pub receipts: Vec<alloy_rpc_types_eth::TransactionReceipt>,
}

/// Why the engine moved its head by itself (not at the Chain's request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadChangeCause {
    /// The execution client was ahead on a descendant of our head (a crash between its
    /// commit and our state write): its blocks were validated and adopted.
    AdoptedFromEl,
    /// The execution client answered INVALID for our head: the head walked back to the
    /// newest valid ancestor it named.
    InvalidHead,
    /// The Chain set another head ([`ChainRequest::ForkchoiceUpdate`](crate::ChainRequest)):
    /// what the abandoned branch minted is returned.
    Requested,
    /// Peg-ins handed back before the engine restarted and not minted again since: sent
    /// again (the Chain keeps one of each txid), so a crash or an absent Chain loses none.
    Redelivered,
}

/// To the Chain, whenever the engine moves its head by itself. The Chain re-reads the head
/// and queues `returned_peg_ins` again (they were minted by discarded blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadChanged {
    /// The request (or tick) that found the change.
    pub correlation: CorrelationId,
    /// Why.
    pub cause: HeadChangeCause,
    /// The head before.
    pub from: BlockRef,
    /// The head now.
    pub to: BlockRef,
    /// Blocks that joined the canonical chain, oldest first.
    pub adopted: Vec<BlockRef>,
    /// Blocks that left it, newest first.
    pub discarded: Vec<BlockRef>,
    /// Peg-ins the discarded blocks had minted: no longer minted, to be queued again.
    pub returned_peg_ins: Vec<PegIn>,
}

type Resolver<T> = Arc<dyn Fn() -> Option<DerivedActorRef<T>> + Send + Sync>;

/// How the engine reaches one peer that accepts `T`.
pub struct PeerRef<T> {
    resolve: Resolver<T>,
}

impl<T> Clone for PeerRef<T> {
    fn clone(&self) -> Self {
        Self { resolve: self.resolve.clone() }
    }
}

impl<T> fmt::Debug for PeerRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerRef(..)")
    }
}

impl<T: Send + 'static> PeerRef<T> {
    /// A fixed peer.
    pub fn to(actor: DerivedActorRef<T>) -> Self {
        Self { resolve: Arc::new(move || Some(actor.clone())) }
    }

    /// A peer looked up on every send by `resolve` (e.g. `ractor::registry::where_is` plus
    /// `ActorRef::<TheirMsg>::from(cell).get_derived()`), so restarts are followed.
    pub fn named(resolve: impl Fn() -> Option<DerivedActorRef<T>> + Send + Sync + 'static) -> Self {
        Self { resolve: Arc::new(resolve) }
    }

    /// The live peer, if any.
    pub fn current(&self) -> Option<DerivedActorRef<T>> {
        (self.resolve)().filter(|r| is_alive(&r.get_cell()))
    }

    /// Sends `msg`; `false` when the peer is absent or its mailbox is closed.
    pub fn send(&self, msg: T) -> bool {
        self.current().is_some_and(|peer| peer.send_message(msg).is_ok())
    }
}

/// A peer the engine only watches (Chain, Network): a fixed cell or a registered name.
#[derive(Debug, Clone)]
pub enum Watched {
    /// This incarnation.
    Cell(ActorCell),
    /// Whatever is registered under this name.
    Named(String),
}

impl Watched {
    /// Whether the peer is running.
    pub fn is_alive(&self) -> bool {
        match self {
            Self::Cell(cell) => is_alive(cell),
            Self::Named(name) => {
                ractor::registry::where_is(name.as_str()).is_some_and(|c| is_alive(&c))
            }
        }
    }
}

fn is_alive(cell: &ActorCell) -> bool {
    !matches!(cell.get_status(), ActorStatus::Stopping | ActorStatus::Stopped)
}

/// Where the engine's peers are. Only the Chain is required.
#[derive(Debug, Clone)]
pub struct ActorAddresses {
    /// The Chain actor: if it dies, the engine fails so that its supervisor decides.
    pub chain: Watched,
    /// Where the Chain takes [`HeadChanged`] (the head moved by itself, peg-ins returned).
    /// Without it such a change is logged at error level with every returned peg-in.
    pub chain_events: Option<PeerRef<HeadChanged>>,
    /// The Bridge actor, told about peg-outs.
    pub bridge: Option<PeerRef<BurnEventsDetected>>,
    /// The Storage actor, handed receipts.
    pub storage: Option<PeerRef<StoreExecutionData>>,
    /// The Network actor (it calls the engine; the engine only reports whether it runs).
    pub network: Option<Watched>,
}

/// Which optional peers are missing (reported in status; the engine runs degraded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PeerPresence {
    /// The Chain actor runs.
    pub chain: bool,
    /// A Bridge actor is configured and runs.
    pub bridge: bool,
    /// A Storage actor is configured and runs.
    pub storage: bool,
    /// A Network actor is configured and runs.
    pub network: bool,
}

impl PeerPresence {
    /// Whether an optional peer is missing.
    pub const fn optional_missing(&self) -> bool {
        !(self.bridge && self.storage && self.network)
    }
}

impl ActorAddresses {
    /// Who is there right now.
    pub fn presence(&self) -> PeerPresence {
        PeerPresence {
            chain: self.chain.is_alive(),
            bridge: self.bridge.as_ref().is_some_and(|p| p.current().is_some()),
            storage: self.storage.as_ref().is_some_and(|p| p.current().is_some()),
            network: self.network.as_ref().is_some_and(Watched::is_alive),
        }
    }
}
