//! Where real execution clients differ, as one set of rules that both fakes follow
//! (engine-testkit's `MockEl` and the revm devnet): what a `forkchoiceUpdated` naming an
//! older canonical block does ([`AncestorPolicy`]), and what `eth_syncing` answers
//! ([`SyncingProbe`]).
//!
//! Each fake works out where the named head stands ([`HeadPosition::locate`]), asks the
//! policy ([`AncestorPolicy::decide`]) and carries out the [`HeadDecision`]:
//!
//! ```
//! use engine_devnet::el_rules::{AncestorPolicy, HeadDecision, HeadPosition};
//!
//! // Head at 10, finalized at 8; the consensus side names block 9.
//! let old_head = HeadPosition::locate(9, true, 10, Some(8));
//! assert_eq!(AncestorPolicy::Skip.decide(old_head), HeadDecision::Skip);
//! assert_eq!(AncestorPolicy::TooDeepReorg.decide(old_head), HeadDecision::BuildOnAncestor);
//! assert_eq!(AncestorPolicy::Rewind.decide(old_head), HeadDecision::Apply);
//! // Below the finalized block, Reth refuses.
//! let below_finalized = HeadPosition::locate(7, true, 10, Some(8));
//! assert_eq!(AncestorPolicy::TooDeepReorg.decide(below_finalized), HeadDecision::TooDeepReorg);
//! ```
//!
//! The Engine API used to allow the skip for any canonical ancestor (`src/engine/paris.md`,
//! `engine_forkchoiceUpdatedV1` rule 2); execution-apis #786 (April 2026) narrowed it to
//! ancestors of the finalized block and added -38006 "Too deep reorg" (rule 6). Geth
//! v1.17.3 and Reth v2.5.0 followed, each in its own way, so the answer depends on the
//! client and its version.

use crate::rpc_server::RpcError;
use engine_types::{PayloadStatusWire, RpcErrorCode};
use serde_json::{Value, json};

/// Geth's default `--engine.maxreorgdepth` (`eth/ethconfig/config.go`,
/// `Defaults.EngineMaxReorgDepth`), for [`AncestorPolicy::BoundedRewind`].
pub const GETH_MAX_REORG_DEPTH: u64 = 32;

/// What the execution client does with a `forkchoiceUpdated` whose head is a canonical
/// ancestor of its current head. A head that is the current head, or a known block off the
/// canonical chain (a child of the head, a side chain), is applied under every policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AncestorPolicy {
    /// Geth up to v1.17.2 (`eth/catalyst/api.go`, `ConsensusAPI.forkchoiceUpdated`): logs
    /// "Ignoring beacon update to old head" and returns `valid(nil)`, i.e. VALID with
    /// latestValidHash = the named head and a null payloadId, building nothing even when
    /// attributes were sent. It returns before the finalized/safe code, so those are neither
    /// checked (no -38002) nor stored, and the head does not move. Reth before v2.5.0 did
    /// the same by default (`crates/engine/tree/src/tree/mod.rs`,
    /// `EngineApiTreeHandler::apply_chain_update`), as the spec allowed then.
    #[default]
    Skip,
    /// Reth v2.5.0 and later with its defaults (`crates/engine/tree/src/tree/mod.rs`,
    /// `EngineApiTreeHandler::apply_chain_update`, with
    /// `always_process_payload_attributes_on_canonical_head` off, as
    /// `crates/engine/primitives/src/config.rs` defaults it):
    /// - an ancestor below the finalized block the client holds answers -38006 "Too deep
    ///   reorg" (`OnForkChoiceUpdated::too_deep_reorg`, mapped in
    ///   `crates/rpc/rpc-engine-api/src/error.rs`). It is Reth's only -38006, so the one
    ///   Reth 2.5.1 was seen to answer for a head two blocks back came from a finalized
    ///   block above that head;
    /// - an ancestor at or above it keeps the current head; attributes start a build on the
    ///   ancestor (VALID with a payloadId, or -38003 for a timestamp not after the
    ///   ancestor's: `process_payload_attributes`), and without attributes the answer is
    ///   VALID with a null payloadId. The block built there reorgs the chain once it is
    ///   imported and named head.
    ///
    /// Neither path checks nor stores safe and finalized.
    TooDeepReorg,
    /// EthereumJS (`packages/client/src/rpc/modules/engine/engine.ts`,
    /// `Engine.forkchoiceUpdated`): the head moves back to the ancestor
    /// (`execution.setHead`), then safe/finalized and the attributes are handled as for any
    /// head, so a build starts on it.
    Rewind,
    /// Geth v1.17.3 and later (`eth/catalyst/api.go`, `ConsensusAPI.forkchoiceUpdated`,
    /// after go-ethereum #34767): an ancestor below the finalized block is skipped ("Skipping
    /// beacon update to finalized ancestor", as [`Skip`](Self::Skip)); one more than
    /// `max_depth` blocks below the head answers -38006 ("Refusing too deep reorg");
    /// otherwise the head moves back (`BlockChain.SetCanonical`) as with
    /// [`Rewind`](Self::Rewind). Geth also skips while it is not synced; the fakes always
    /// are.
    BoundedRewind {
        /// Geth's `--engine.maxreorgdepth` ([`GETH_MAX_REORG_DEPTH`] by default); 0 means
        /// no limit, as in Geth.
        max_depth: u64,
    },
}

/// Where the head a `forkchoiceUpdated` names stands in the client's chain, for a block the
/// client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadPosition {
    /// The client's current head.
    Current,
    /// A known block that is not on the canonical chain: a child of the head (the usual
    /// case after newPayload) or a block of a side chain.
    NotCanonical,
    /// A canonical block below the current head.
    CanonicalAncestor {
        /// How many blocks below the current head it is (at least 1).
        depth: u64,
        /// Whether it is below the finalized block the client holds (strictly: the
        /// finalized block itself is not below, as in Geth and Reth).
        below_finalized: bool,
    },
}

impl HeadPosition {
    /// Where a known block numbered `number` stands: `canonical` says whether the client's
    /// canonical chain holds it at that number; `head` and `finalized` are the numbers of
    /// the client's head and of the finalized block it holds.
    pub fn locate(number: u64, canonical: bool, head: u64, finalized: Option<u64>) -> Self {
        if !canonical {
            return Self::NotCanonical;
        }
        if number >= head {
            return Self::Current;
        }
        Self::CanonicalAncestor {
            depth: head - number,
            below_finalized: finalized.is_some_and(|f| number < f),
        }
    }
}

/// What a fake does with a `forkchoiceUpdated` naming a known, valid head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadDecision {
    /// Make the head canonical (a reorg when it is on another branch, a rewind when it is an
    /// ancestor), check safe and finalized (-38002) and store them, then the attributes:
    /// -38003 for a timestamp not after the head's (the state update stays), a build
    /// otherwise.
    Apply,
    /// Answer VALID with latestValidHash = the named head and a null payloadId; change
    /// nothing and ignore the attributes.
    Skip,
    /// Answer -38006 "Too deep reorg" ([`too_deep_reorg`]); change nothing.
    TooDeepReorg,
    /// Keep head, safe and finalized; with attributes build on the named block (VALID with a
    /// payloadId, or -38003), without them answer VALID with a null payloadId.
    BuildOnAncestor,
}

impl AncestorPolicy {
    /// Geth v1.17.3+ with its default depth limit.
    pub const GETH: Self = Self::BoundedRewind { max_depth: GETH_MAX_REORG_DEPTH };

    /// What to do with a head at `position`.
    pub const fn decide(self, position: HeadPosition) -> HeadDecision {
        let HeadPosition::CanonicalAncestor { depth, below_finalized } = position else {
            return HeadDecision::Apply;
        };
        match self {
            Self::Skip => HeadDecision::Skip,
            Self::TooDeepReorg if below_finalized => HeadDecision::TooDeepReorg,
            Self::TooDeepReorg => HeadDecision::BuildOnAncestor,
            Self::Rewind => HeadDecision::Apply,
            Self::BoundedRewind { .. } if below_finalized => HeadDecision::Skip,
            Self::BoundedRewind { max_depth } if max_depth > 0 && depth > max_depth => {
                HeadDecision::TooDeepReorg
            }
            Self::BoundedRewind { .. } => HeadDecision::Apply,
        }
    }
}

/// The -38006 error for a head at `position`: the message is Reth's
/// (`TOO_DEEP_REORG_ERROR_MSG`), the detail in `data.err` as Geth sends it
/// (`engine.TooDeepReorg.With(…)`).
pub fn too_deep_reorg(position: HeadPosition) -> RpcError {
    let detail = match position {
        HeadPosition::CanonicalAncestor { depth, below_finalized: true } => {
            format!("head is {depth} blocks back, below the finalized block")
        }
        HeadPosition::CanonicalAncestor { depth, .. } => format!("reorg depth {depth}"),
        HeadPosition::Current | HeadPosition::NotCanonical => "reorg refused".to_string(),
    };
    RpcError::new(RpcErrorCode::TooDeepReorg, "Too deep reorg").with_data(json!({ "err": detail }))
}

/// The answer to a `forkchoiceUpdated` naming the zero hash: INVALID with a null
/// latestValidHash, as Geth's `ConsensusAPI.forkchoiceUpdated` (`eth/catalyst/api.go`)
/// returns `engine.STATUS_INVALID` ("Forkchoice requested update to zero hash").
pub fn zero_head_status() -> PayloadStatusWire {
    PayloadStatusWire::invalid(None, "head block hash is zero")
}

/// What `eth_syncing` answers, on both ports. The Engine API works the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncingProbe {
    /// `false`, as a synced Geth (`internal/ethapi/api.go`, `EthereumAPI.Syncing` once
    /// `progress.Done()`) or Reth (`crates/rpc/rpc-eth-api/src/helpers/spec.rs`,
    /// `sync_status`) answers.
    #[default]
    Synced,
    /// JSON-RPC error -32603 "no peer available for synchronization", as EthereumJS started
    /// without `--isSingleNode` answers (`packages/client/src/rpc/modules/eth.ts`,
    /// `Eth.syncing`: the client is not `synchronized` and `synchronizer.best()` finds no
    /// peer). A health check must not read this as "offline": its Engine API keeps working.
    NoPeers,
}

impl SyncingProbe {
    /// The `eth_syncing` answer.
    pub fn answer(self) -> Result<Value, RpcError> {
        match self {
            Self::Synced => Ok(Value::Bool(false)),
            Self::NoPeers => Err(RpcError::new(
                RpcErrorCode::InternalError,
                "no peer available for synchronization",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ancestor(depth: u64, below_finalized: bool) -> HeadPosition {
        HeadPosition::CanonicalAncestor { depth, below_finalized }
    }

    const ALL: [AncestorPolicy; 5] = [
        AncestorPolicy::Skip,
        AncestorPolicy::TooDeepReorg,
        AncestorPolicy::Rewind,
        AncestorPolicy::GETH,
        AncestorPolicy::BoundedRewind { max_depth: 0 },
    ];

    /// The default is the skip, as Geth up to v1.17.2 and the spec's old rule 2.
    #[test]
    fn skip_is_the_default() {
        assert_eq!(AncestorPolicy::default(), AncestorPolicy::Skip);
        assert_eq!(SyncingProbe::default(), SyncingProbe::Synced);
    }

    /// Canonical at the head's number is the head; the finalized block itself is not below
    /// finalized; without a finalized block nothing is.
    #[test]
    fn positions() {
        assert_eq!(HeadPosition::locate(10, true, 10, Some(10)), HeadPosition::Current);
        assert_eq!(HeadPosition::locate(11, false, 10, None), HeadPosition::NotCanonical);
        assert_eq!(HeadPosition::locate(3, false, 10, Some(8)), HeadPosition::NotCanonical);
        assert_eq!(HeadPosition::locate(8, true, 10, Some(8)), ancestor(2, false));
        assert_eq!(HeadPosition::locate(7, true, 10, Some(8)), ancestor(3, true));
        assert_eq!(HeadPosition::locate(0, true, 10, None), ancestor(10, false));
    }

    /// The current head and anything off the canonical chain are applied under every
    /// policy: a side-chain head is a reorg everywhere.
    #[test]
    fn heads_that_are_not_ancestors_are_applied() {
        for policy in ALL {
            for position in [HeadPosition::Current, HeadPosition::NotCanonical] {
                assert_eq!(policy.decide(position), HeadDecision::Apply, "{policy:?} {position:?}");
            }
        }
    }

    /// Every policy on an ancestor above and below finalized, near and far.
    #[test]
    fn ancestors_by_policy() {
        use HeadDecision::*;
        let cases = [
            (ancestor(2, false), [Skip, BuildOnAncestor, Apply, Apply, Apply]),
            (ancestor(2, true), [Skip, TooDeepReorg, Apply, Skip, Skip]),
            (ancestor(32, false), [Skip, BuildOnAncestor, Apply, Apply, Apply]),
            (ancestor(33, false), [Skip, BuildOnAncestor, Apply, TooDeepReorg, Apply]),
            (ancestor(33, true), [Skip, TooDeepReorg, Apply, Skip, Skip]),
        ];
        for (position, expected) in cases {
            for (policy, want) in ALL.into_iter().zip(expected) {
                assert_eq!(policy.decide(position), want, "{policy:?} at {position:?}");
            }
        }
    }

    /// -38006 with Reth's message and Geth-style detail.
    #[test]
    fn too_deep_reorg_error() {
        let e = too_deep_reorg(ancestor(2, true));
        assert_eq!((e.code, e.message.as_str()), (-38006, "Too deep reorg"));
        assert_eq!(
            e.data,
            Some(json!({"err": "head is 2 blocks back, below the finalized block"}))
        );
    }

    /// EthereumJS's answer without peers: -32603 with its message.
    #[test]
    fn syncing_answers() {
        assert_eq!(SyncingProbe::Synced.answer(), Ok(Value::Bool(false)));
        let e = SyncingProbe::NoPeers.answer().unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (-32603, "no peer available for synchronization"));
    }
}
