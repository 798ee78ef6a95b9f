//! Metric names (one place) and their descriptions.
//!
//! Labels: `supervisor` (its name), `child` (the child's name), `reason` (see
//! [`RESTARTS_TOTAL`]).

use metrics::{Unit, describe_counter, describe_gauge};

/// Counter: restarts decided by a supervisor, by `supervisor`, `child` and `reason`
/// (`failed`: the child panicked or returned an error; `stopped`: it stopped cleanly;
/// `sibling`: restarted because a sibling exited under one-for-all / rest-for-one;
/// `start_failed`: a start attempt failed and is retried).
pub const RESTARTS_TOTAL: &str = "engine_supervision_restarts_total";

/// Counter: supervisors that exceeded their restart intensity and failed themselves, by
/// `supervisor`.
pub const ESCALATIONS_TOTAL: &str = "engine_supervision_escalations_total";

/// Gauge: the backoff delay currently pending before a child's restart, in seconds (0 while
/// it runs), by `supervisor` and `child`.
pub const BACKOFF_SECONDS: &str = "engine_supervision_backoff_seconds";

/// Counter: children stopped by force because they overran their shutdown timeout, by
/// `supervisor` and `child`.
pub const SHUTDOWN_KILLS_TOTAL: &str = "engine_supervision_shutdown_kills_total";

/// Registers the descriptions of this crate's metrics with the installed recorder.
pub fn describe() {
    describe_counter!(RESTARTS_TOTAL, Unit::Count, "Restarts decided by a supervisor");
    describe_counter!(
        ESCALATIONS_TOTAL,
        Unit::Count,
        "Supervisors that exceeded their restart intensity and escalated"
    );
    describe_gauge!(BACKOFF_SECONDS, Unit::Seconds, "Pending backoff before a child's restart");
    describe_counter!(
        SHUTDOWN_KILLS_TOTAL,
        Unit::Count,
        "Children killed after overrunning their shutdown timeout"
    );
}
