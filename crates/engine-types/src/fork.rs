//! The fork schedule and the Engine API method versions it implies.
//!
//! | fork     | forkchoiceUpdated | getPayload | newPayload |
//! |----------|-------------------|------------|------------|
//! | Paris    | V1                | V1         | V1         |
//! | Shanghai | V2                | V2         | V2         |
//! | Cancun   | V3                | V3         | V3         |
//! | Prague   | V3                | V4         | V4         |
//!
//! The version of a call is chosen by the timestamp of the payload (or of the attributes) it
//! concerns, never by wall-clock time.

use serde::{Deserialize, Serialize};
use std::{fmt, time::Duration};

/// An execution-layer fork that changes the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fork {
    /// The merge: proof-of-stake style engine, no withdrawals.
    Paris,
    /// Withdrawals (peg-ins) in payloads and attributes.
    Shanghai,
    /// Blob gas fields and the parent beacon block root.
    Cancun,
    /// EIP-7685 execution requests.
    Prague,
}

/// Activation timestamps of the forks after Paris; `None` means never activated.
///
/// The deployed Alys chain is Shanghai from genesis, which is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkSchedule {
    /// Shanghai activation timestamp (default 0: active from genesis).
    #[serde(default)]
    pub shanghai: Option<u64>,
    /// Cancun activation timestamp (default: never).
    #[serde(default)]
    pub cancun: Option<u64>,
    /// Prague activation timestamp (default: never).
    #[serde(default)]
    pub prague: Option<u64>,
}

impl Default for ForkSchedule {
    fn default() -> Self {
        Self::shanghai_from_genesis()
    }
}

impl ForkSchedule {
    /// Shanghai from genesis, no later fork: the deployed Alys chain.
    pub const fn shanghai_from_genesis() -> Self {
        Self { shanghai: Some(0), cancun: None, prague: None }
    }

    /// Every fork up to and including `fork` active from genesis.
    pub fn all_from_genesis(fork: Fork) -> Self {
        let at = |f: Fork| (f <= fork).then_some(0);
        Self { shanghai: at(Fork::Shanghai), cancun: at(Fork::Cancun), prague: at(Fork::Prague) }
    }

    /// The fork active at `timestamp`.
    pub fn fork_at(&self, timestamp: u64) -> Fork {
        let active = |t: Option<u64>| t.is_some_and(|t| timestamp >= t);
        if active(self.prague) {
            Fork::Prague
        } else if active(self.cancun) {
            Fork::Cancun
        } else if active(self.shanghai) {
            Fork::Shanghai
        } else {
            Fork::Paris
        }
    }

    /// Whether `fork` is active at `timestamp`.
    pub fn is_active(&self, fork: Fork, timestamp: u64) -> bool {
        self.fork_at(timestamp) >= fork
    }

    /// The version of `method` to call for a payload or attributes with this `timestamp`.
    pub fn version_for(&self, method: EngineMethod, timestamp: u64) -> ApiVersion {
        method.version_at(self.fork_at(timestamp))
    }

    /// Problems with the schedule: a later fork activated without, or before, an earlier one.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let pairs = [
            ("cancun", self.cancun, "shanghai", self.shanghai),
            ("prague", self.prague, "cancun", self.cancun),
        ];
        for (later, later_at, earlier, earlier_at) in pairs {
            match (later_at, earlier_at) {
                (Some(_), None) => out.push(format!("{later} is scheduled but {earlier} is not")),
                (Some(l), Some(e)) if l < e => {
                    out.push(format!("{later} ({l}) activates before {earlier} ({e})"))
                }
                _ => {}
            }
        }
        out
    }
}

/// A version suffix of an Engine API method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ApiVersion {
    /// `…V1`
    V1 = 1,
    /// `…V2`
    V2 = 2,
    /// `…V3`
    V3 = 3,
    /// `…V4`
    V4 = 4,
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V{}", *self as u8)
    }
}

/// An Engine API method, independent of its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EngineMethod {
    /// `engine_forkchoiceUpdatedV*`
    ForkchoiceUpdated,
    /// `engine_getPayloadV*`
    GetPayload,
    /// `engine_newPayloadV*`
    NewPayload,
    /// `engine_exchangeCapabilities` (unversioned)
    ExchangeCapabilities,
    /// `engine_getClientVersionV1`
    GetClientVersion,
    /// `engine_getPayloadBodiesByHashV1`
    GetPayloadBodiesByHash,
    /// `engine_getPayloadBodiesByRangeV1`
    GetPayloadBodiesByRange,
}

impl EngineMethod {
    /// Every method, in a fixed order.
    pub const ALL: [Self; 7] = [
        Self::ForkchoiceUpdated,
        Self::GetPayload,
        Self::NewPayload,
        Self::ExchangeCapabilities,
        Self::GetClientVersion,
        Self::GetPayloadBodiesByHash,
        Self::GetPayloadBodiesByRange,
    ];

    /// The version of this method that `fork` uses.
    pub const fn version_at(self, fork: Fork) -> ApiVersion {
        match (self, fork) {
            (Self::ForkchoiceUpdated | Self::GetPayload | Self::NewPayload, Fork::Paris) => {
                ApiVersion::V1
            }
            (Self::ForkchoiceUpdated | Self::GetPayload | Self::NewPayload, Fork::Shanghai) => {
                ApiVersion::V2
            }
            (Self::ForkchoiceUpdated, Fork::Cancun | Fork::Prague) => ApiVersion::V3,
            (Self::GetPayload | Self::NewPayload, Fork::Cancun) => ApiVersion::V3,
            (Self::GetPayload | Self::NewPayload, Fork::Prague) => ApiVersion::V4,
            (
                Self::ExchangeCapabilities
                | Self::GetClientVersion
                | Self::GetPayloadBodiesByHash
                | Self::GetPayloadBodiesByRange,
                _,
            ) => ApiVersion::V1,
        }
    }

    /// The JSON-RPC method name for `version`, or `None` when the method has no such version.
    pub const fn rpc_name(self, version: ApiVersion) -> Option<&'static str> {
        use ApiVersion::*;
        Some(match (self, version) {
            (Self::ForkchoiceUpdated, V1) => "engine_forkchoiceUpdatedV1",
            (Self::ForkchoiceUpdated, V2) => "engine_forkchoiceUpdatedV2",
            (Self::ForkchoiceUpdated, V3) => "engine_forkchoiceUpdatedV3",
            (Self::GetPayload, V1) => "engine_getPayloadV1",
            (Self::GetPayload, V2) => "engine_getPayloadV2",
            (Self::GetPayload, V3) => "engine_getPayloadV3",
            (Self::GetPayload, V4) => "engine_getPayloadV4",
            (Self::NewPayload, V1) => "engine_newPayloadV1",
            (Self::NewPayload, V2) => "engine_newPayloadV2",
            (Self::NewPayload, V3) => "engine_newPayloadV3",
            (Self::NewPayload, V4) => "engine_newPayloadV4",
            (Self::ExchangeCapabilities, V1) => "engine_exchangeCapabilities",
            (Self::GetClientVersion, V1) => "engine_getClientVersionV1",
            (Self::GetPayloadBodiesByHash, V1) => "engine_getPayloadBodiesByHashV1",
            (Self::GetPayloadBodiesByRange, V1) => "engine_getPayloadBodiesByRangeV1",
            _ => return None,
        })
    }

    /// The method and version named by a JSON-RPC method name.
    pub fn from_rpc_name(name: &str) -> Option<(Self, ApiVersion)> {
        Self::ALL.into_iter().find_map(|m| {
            [ApiVersion::V1, ApiVersion::V2, ApiVersion::V3, ApiVersion::V4]
                .into_iter()
                .find(|v| m.rpc_name(*v) == Some(name))
                .map(|v| (m, v))
        })
    }

    /// The spec's minimum client-side timeout for this method.
    pub const fn spec_timeout(self) -> Duration {
        match self {
            Self::ForkchoiceUpdated | Self::NewPayload => Duration::from_secs(8),
            Self::GetPayload | Self::ExchangeCapabilities | Self::GetClientVersion => {
                Duration::from_secs(1)
            }
            Self::GetPayloadBodiesByHash | Self::GetPayloadBodiesByRange => Duration::from_secs(10),
        }
    }

    /// Every versioned method name this engine can speak, as sent in
    /// `engine_exchangeCapabilities` (which itself is not listed, per the spec).
    pub fn capabilities() -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|m| *m != Self::ExchangeCapabilities)
            .flat_map(|m| {
                [ApiVersion::V1, ApiVersion::V2, ApiVersion::V3, ApiVersion::V4]
                    .into_iter()
                    .filter_map(move |v| m.rpc_name(v))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApiVersion::*;
    use EngineMethod::*;

    /// The version table of the spec, fork by fork.
    #[test]
    fn versions_follow_the_spec_table() {
        let s = ForkSchedule { shanghai: Some(10), cancun: Some(20), prague: Some(30) };
        let at = |t| {
            (
                s.version_for(ForkchoiceUpdated, t),
                s.version_for(GetPayload, t),
                s.version_for(NewPayload, t),
            )
        };
        assert_eq!(at(9), (V1, V1, V1));
        assert_eq!(at(10), (V2, V2, V2));
        assert_eq!(at(19), (V2, V2, V2));
        assert_eq!(at(20), (V3, V3, V3));
        assert_eq!(at(30), (V3, V4, V4));
        assert_eq!(at(u64::MAX), (V3, V4, V4));
    }

    /// A fork left unscheduled is never active, whatever the timestamp.
    #[test]
    fn unscheduled_forks_never_activate() {
        let s = ForkSchedule::default();
        assert_eq!(s.fork_at(0), Fork::Shanghai);
        assert_eq!(s.fork_at(u64::MAX), Fork::Shanghai);
        assert_eq!(ForkSchedule::all_from_genesis(Fork::Prague).fork_at(0), Fork::Prague);
        assert_eq!(ForkSchedule::all_from_genesis(Fork::Paris).fork_at(5), Fork::Paris);
    }

    /// Names round-trip, and a version a method lacks has no name.
    #[test]
    fn rpc_names_round_trip() {
        for name in EngineMethod::capabilities() {
            let (m, v) = EngineMethod::from_rpc_name(name).unwrap();
            assert_eq!(m.rpc_name(v), Some(name));
        }
        assert_eq!(ForkchoiceUpdated.rpc_name(V4), None);
        assert_eq!(EngineMethod::from_rpc_name("engine_forkchoiceUpdatedV4"), None);
        assert!(!EngineMethod::capabilities().contains(&"engine_exchangeCapabilities"));
    }

    /// An out-of-order schedule is reported with the forks named.
    #[test]
    fn inconsistent_schedules_are_reported() {
        let s = ForkSchedule { shanghai: Some(10), cancun: Some(5), prague: Some(1) };
        assert_eq!(
            s.problems(),
            vec![
                "cancun (5) activates before shanghai (10)",
                "prague (1) activates before cancun (5)"
            ]
        );
        let s = ForkSchedule { shanghai: None, cancun: Some(5), prague: None };
        assert_eq!(s.problems(), vec!["cancun is scheduled but shanghai is not"]);
        assert!(ForkSchedule::default().problems().is_empty());
    }
}
