//! The node's own metric names (constants, described once), the Prometheus recorder, and the
//! description of the metrics of the crates the node can reach.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Counter: blocks the Chain actor produced and committed in this run.
pub(crate) const BLOCKS: &str = "engine_node_blocks_total";
/// Histogram, seconds: one slot from BuildPayload sent to the commit answered.
pub(crate) const SLOT_SECONDS: &str = "engine_node_slot_seconds";
/// Counter: slot stages that failed, label `stage`: `engine`, `settle` (what became of an
/// earlier block is unknown), `build`, `validate`, `queue` (the peg-in queue could not be
/// saved), `store`, `commit` (no block from this slot), `finalize` (the block stands,
/// finality was not recorded) and `queue_full` (new peg-ins refused: the queue is at its
/// bound).
pub(crate) const SLOT_FAILURES: &str = "engine_node_slot_failures_total";
/// Counter: slot ticks that came while the previous slot was still running. The first of
/// them starts its slot as soon as the running one ends; the others are dropped.
pub(crate) const SLOTS_SKIPPED: &str = "engine_node_slots_skipped_total";
/// Counter: peg-ins minted in committed blocks.
pub(crate) const PEG_INS_MINTED: &str = "engine_node_peg_ins_minted_total";
/// Gauge: peg-ins waiting for a block (those of the build in flight included; not those
/// of a block whose fate is still unknown).
pub(crate) const PEG_INS_PENDING: &str = "engine_node_peg_ins_pending";
/// Counter: peg-out requests the Bridge actor received, label `kind` (`payable`,
/// `not_payable`, `malformed`).
pub(crate) const PEG_OUTS: &str = "engine_node_peg_outs_total";
/// Counter: transactions submitted to the transaction endpoint, label `verdict`.
pub(crate) const TXS: &str = "engine_node_transactions_total";
/// Counter: blocks whose receipts summary the Storage actor persisted.
pub(crate) const STORED_RECEIPTS: &str = "engine_node_stored_receipts_total";
/// Counter: Storage actor write failures.
pub(crate) const STORAGE_ERRORS: &str = "engine_node_storage_errors_total";

/// Buckets for every `*_seconds` histogram: 1 ms to 10 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the global Prometheus recorder and describes every metric the node knows.
pub(crate) fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets(SECONDS_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    describe();
    engine_actor::metrics::describe();
    engine_actor::client::metrics::describe();
    engine_actor::supervision::metrics::describe();
    Ok(handle)
}

fn describe() {
    describe_counter!(BLOCKS, "Blocks produced and committed by the Chain actor in this run");
    describe_histogram!(SLOT_SECONDS, Unit::Seconds, "Slot duration from build to committed");
    describe_counter!(
        SLOT_FAILURES,
        "Slot stages that failed (most leave the slot without a block), by stage"
    );
    describe_counter!(
        SLOTS_SKIPPED,
        "Slot ticks that came while the previous slot was still running (one of them starts its slot when that one ends)"
    );
    describe_counter!(PEG_INS_MINTED, "Peg-ins minted in committed blocks");
    describe_gauge!(PEG_INS_PENDING, "Peg-ins waiting for a block");
    describe_counter!(PEG_OUTS, "Peg-out requests received by the Bridge actor, by kind");
    describe_counter!(TXS, "Transactions submitted to the transaction endpoint, by verdict");
    describe_counter!(STORED_RECEIPTS, "Blocks whose receipts the Storage actor persisted");
    describe_counter!(STORAGE_ERRORS, "Storage actor write failures");
}
