//! Metric names of the engine actor, described once by [`describe`].

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use std::sync::Once;

/// Histogram: seconds from `BuildPayload` received to the built payload replied.
pub const BUILD_SECONDS: &str = "engine_actor_build_seconds";
/// Histogram: seconds from `CommitBuilt` or `CommitPayload` received to the commit replied.
pub const COMMIT_SECONDS: &str = "engine_actor_commit_seconds";
/// Counter: handled messages, labels `message` and `outcome` (`ok` or an error class).
pub const MESSAGES: &str = "engine_actor_messages_total";
/// Gauge: the engine state (see `EngineState::gauge`).
pub const STATE: &str = "engine_actor_state";
/// Gauge: number of the head block.
pub const HEAD_NUMBER: &str = "engine_actor_head_number";
/// Gauge: number of the safe block.
pub const SAFE_NUMBER: &str = "engine_actor_safe_number";
/// Gauge: number of the finalized block.
pub const FINALIZED_NUMBER: &str = "engine_actor_finalized_number";
/// Counter: peg-out events found in committed blocks, label `kind` (`payable`,
/// `not_payable`, `malformed`).
pub const BURN_EVENTS: &str = "engine_actor_burn_events_total";
/// Counter: payload cache lookups that hit.
pub const CACHE_HITS: &str = "engine_actor_payload_cache_hits_total";
/// Counter: payload cache lookups that missed.
pub const CACHE_MISSES: &str = "engine_actor_payload_cache_misses_total";
/// Gauge: payloads in the cache.
pub const CACHE_ENTRIES: &str = "engine_actor_payload_cache_entries";
/// Gauge: work accepted but not answered yet (forkchoice queue plus running queries);
/// ractor 0.16 exposes no mailbox length, so this is the depth the engine can see.
pub const MAILBOX_DEPTH: &str = "engine_actor_mailbox_depth";
/// Gauge: 1 while peg-outs of blocks below the head are owed to the Bridge (a scan failed
/// or a crash cut one off); the engine retries every tick. Alert if it stays 1.
pub const PEG_OUTS_OWED: &str = "engine_actor_peg_outs_owed";
/// Counter: transactions refused by the per-peer rate limit.
pub const RATE_LIMITED: &str = "engine_actor_rate_limited_total";

static DESCRIBE: Once = Once::new();

/// Describes every metric (idempotent; the node calls it after installing its recorder).
pub fn describe() {
    DESCRIBE.call_once(|| {
        describe_histogram!(BUILD_SECONDS, Unit::Seconds, "BuildPayload latency through the actor");
        describe_histogram!(
            COMMIT_SECONDS,
            Unit::Seconds,
            "CommitBuilt / CommitPayload latency through the actor"
        );
        describe_counter!(MESSAGES, "Messages handled by the engine actor, by outcome");
        describe_gauge!(
            STATE,
            "Engine state: 0 initializing, 1 syncing, 2 ready, 3 degraded, 4 error"
        );
        describe_gauge!(HEAD_NUMBER, "Head block number");
        describe_gauge!(SAFE_NUMBER, "Safe block number");
        describe_gauge!(FINALIZED_NUMBER, "Finalized block number");
        describe_counter!(BURN_EVENTS, "Peg-out events found in committed blocks");
        describe_counter!(CACHE_HITS, "Payload cache hits");
        describe_counter!(CACHE_MISSES, "Payload cache misses");
        describe_gauge!(CACHE_ENTRIES, "Payloads in the cache");
        describe_gauge!(MAILBOX_DEPTH, "Engine work accepted but not answered yet");
        describe_gauge!(PEG_OUTS_OWED, "1 while peg-outs below the head are owed to the Bridge");
        describe_counter!(RATE_LIMITED, "Transactions refused by the per-peer rate limit");
    });
}

/// The messages whose `ok` outcome has a handle in [`Meters`] (the others, and every error,
/// are looked up when they happen).
const COUNTED: [&str; 6] = [
    "build_payload",
    "get_payload",
    "commit_payload",
    "forkchoice_update",
    "set_finalized",
    "what_landed",
];

/// Handles of the metrics a block's build and commit update, taken from the recorder once,
/// when the engine starts. Updating a handle is an atomic operation; the `counter!` family of
/// macros looks the metric up in the recorder's registry on every call (the key hashed, a
/// sharded lock, the handle cloned and dropped). With the node's Prometheus recorder, the
/// actor's metric updates were 4.1 % of the CPU samples of a build + commit cycle with the
/// lookups, 1.0 % with handles (`perf` of `cargo bench -p engine-actor --bench cycle --
/// in_process/line_port`, which installs that recorder).
///
/// A recorder installed after the engine started does not see these metrics: the node
/// installs its recorder before it starts any actor.
#[derive(Debug, Clone)]
pub(crate) struct Meters {
    pub(crate) build_seconds: metrics::Histogram,
    pub(crate) commit_seconds: metrics::Histogram,
    pub(crate) head: metrics::Gauge,
    pub(crate) safe: metrics::Gauge,
    pub(crate) finalized: metrics::Gauge,
    ok: [metrics::Counter; COUNTED.len()],
}

impl Meters {
    /// Takes the handles from the recorder in effect.
    pub(crate) fn register() -> Self {
        Self {
            build_seconds: metrics::histogram!(BUILD_SECONDS),
            commit_seconds: metrics::histogram!(COMMIT_SECONDS),
            head: metrics::gauge!(HEAD_NUMBER),
            safe: metrics::gauge!(SAFE_NUMBER),
            finalized: metrics::gauge!(FINALIZED_NUMBER),
            ok: COUNTED.map(
                |message| metrics::counter!(MESSAGES, "message" => message, "outcome" => "ok"),
            ),
        }
    }

    /// Counts the outcome of a handled `message`: `ok`, or its error's class.
    pub(crate) fn outcome<T>(&self, message: &'static str, result: &Result<T, crate::ActorError>) {
        match result {
            Ok(_) => match COUNTED.iter().position(|m| *m == message) {
                Some(i) => self.ok[i].increment(1),
                None => metrics::counter!(MESSAGES, "message" => message, "outcome" => "ok")
                    .increment(1),
            },
            Err(e) => {
                metrics::counter!(MESSAGES, "message" => message, "outcome" => e.class())
                    .increment(1);
            }
        }
    }
}
