//! The limits of the node's two HTTP servers: the `[server]` section of the configuration
//! file (engine-node's own; `engine_types::config::Config` does not carry it). Every value
//! has a default, documented in [`crate::settings::DEFAULT_CONFIG_TOML`], and an upper bound
//! (the `MAX_*` constants here): far above any useful setting, a bound keeps a typo (a few
//! digits too many) from exhausting memory or from exceeding tokio's semaphore limit
//! (`Semaphore::MAX_PERMITS`, which would panic at start).

use crate::actors::network::VERDICT_TIMEOUT;
use serde::{Deserialize, Serialize};
use std::{ops::RangeInclusive, time::Duration};
use tokio::sync::Semaphore;

/// Most connections either server may hold at once.
pub(crate) const MAX_CONNECTIONS: usize = 65_536;
/// Most transactions in flight at once.
pub(crate) const MAX_IN_FLIGHT: usize = 65_536;
/// Largest body cap of the transaction endpoint (16 MiB; a transaction is at most 128 KiB).
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Longest header or request timeout (10 minutes).
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest global burst.
pub(crate) const MAX_RATE_BURST: u32 = 1_000_000;
/// The global rate's range: at least one transaction every 1000 s (a slower rate would make
/// the retry hint overflow), at most a million a second.
pub(crate) const RATE_PER_SECOND: RangeInclusive<f64> = 0.001..=1_000_000.0;

// The bounds that size a semaphore stay within what tokio accepts.
const _: () = assert!(MAX_CONNECTIONS <= Semaphore::MAX_PERMITS);
const _: () = assert!(MAX_IN_FLIGHT <= Semaphore::MAX_PERMITS);

/// Timeouts and bounds of the operator server and the transaction endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServerLimits {
    /// Time a client has to send a request's headers (and, on a kept-alive connection, to
    /// start the next request) before the connection is closed; at most [`MAX_TIMEOUT`].
    #[serde(with = "humantime_serde")]
    pub(crate) header_timeout: Duration,
    /// Time for a whole request, body and answer included; past it the answer is 408 and
    /// the connection is closed. Longer than the engine's verdict on a transaction, at most
    /// [`MAX_TIMEOUT`].
    #[serde(with = "humantime_serde")]
    pub(crate) request_timeout: Duration,
    /// Connections the operator server holds at once; one more is answered 503. At most
    /// [`MAX_CONNECTIONS`].
    pub(crate) operator_max_connections: usize,
    /// Connections the transaction endpoint holds at once; one more is answered 503. At
    /// most [`MAX_CONNECTIONS`].
    pub(crate) tx_max_connections: usize,
    /// Largest request body the transaction endpoint reads, in bytes; a larger one is
    /// answered 413. At most [`MAX_BODY_BYTES`].
    pub(crate) tx_max_body_bytes: usize,
    /// Transactions in flight at once over all clients; one more is answered 503. At most
    /// [`MAX_IN_FLIGHT`].
    pub(crate) tx_max_in_flight: usize,
    /// Transactions accepted in a burst over all clients (on top of each client's own
    /// limit in the engine); past it the answer is 429. At most [`MAX_RATE_BURST`].
    pub(crate) tx_rate_burst: u32,
    /// Transactions per second over all clients, once the burst is spent; within
    /// [`RATE_PER_SECOND`].
    pub(crate) tx_rate_per_second: f64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(5),
            request_timeout: VERDICT_TIMEOUT + Duration::from_secs(5),
            operator_max_connections: 64,
            tx_max_connections: 256,
            // A transaction is at most 128 KiB (Geth's txMaxSize), 256 KiB in hex, plus the
            // JSON-RPC envelope.
            tx_max_body_bytes: 300 * 1024,
            tx_max_in_flight: 64,
            tx_rate_burst: 256,
            tx_rate_per_second: 64.0,
        }
    }
}

impl ServerLimits {
    /// Every problem of the section, one `server.<field>: …` line each.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        count(
            &mut problems,
            "operator_max_connections",
            self.operator_max_connections,
            MAX_CONNECTIONS,
        );
        count(&mut problems, "tx_max_connections", self.tx_max_connections, MAX_CONNECTIONS);
        count(&mut problems, "tx_max_body_bytes", self.tx_max_body_bytes, MAX_BODY_BYTES);
        count(&mut problems, "tx_max_in_flight", self.tx_max_in_flight, MAX_IN_FLIGHT);
        count(&mut problems, "tx_rate_burst", self.tx_rate_burst, MAX_RATE_BURST);
        if !RATE_PER_SECOND.contains(&self.tx_rate_per_second) {
            problems.push(format!(
                "server.tx_rate_per_second: must be within {} to {}",
                RATE_PER_SECOND.start(),
                RATE_PER_SECOND.end()
            ));
        }
        if self.header_timeout.is_zero() {
            problems.push("server.header_timeout: must be greater than zero".into());
        }
        if self.request_timeout <= VERDICT_TIMEOUT {
            problems.push(format!(
                "server.request_timeout: must be longer than the engine's {}s verdict on a \
                 transaction",
                VERDICT_TIMEOUT.as_secs()
            ));
        }
        for (name, timeout) in
            [("header_timeout", self.header_timeout), ("request_timeout", self.request_timeout)]
        {
            if timeout > MAX_TIMEOUT {
                problems.push(format!("server.{name}: must be at most {}s", MAX_TIMEOUT.as_secs()));
            }
        }
        problems
    }
}

/// Adds a problem when the count `value` of `server.<name>` is zero or above `max`.
fn count<T>(problems: &mut Vec<String>, name: &str, value: T, max: T)
where
    T: PartialOrd + Default + std::fmt::Display,
{
    if value == T::default() {
        problems.push(format!("server.{name}: must be greater than zero"));
    } else if value > max {
        problems.push(format!("server.{name}: {value} is over the limit of {max}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults are valid; each bad value is named.
    #[test]
    fn problems_name_the_field() {
        assert_eq!(ServerLimits::default().problems(), Vec::<String>::new());
        let bad = ServerLimits {
            header_timeout: Duration::ZERO,
            request_timeout: VERDICT_TIMEOUT,
            tx_max_in_flight: 0,
            tx_rate_per_second: f64::NAN,
            ..ServerLimits::default()
        };
        let problems = bad.problems().join("\n");
        for field in ["header_timeout", "request_timeout", "tx_max_in_flight", "tx_rate_per_second"]
        {
            assert!(problems.contains(&format!("server.{field}")), "{problems}");
        }
        assert_eq!(bad.problems().len(), 4);
    }

    /// Values at their upper bound are accepted (and the gate sized from them starts);
    /// one past each bound is refused with the field named, before anything would size a
    /// semaphore or a buffer from it.
    #[test]
    fn upper_bounds_are_enforced() {
        let at_max = ServerLimits {
            header_timeout: MAX_TIMEOUT,
            request_timeout: MAX_TIMEOUT,
            operator_max_connections: MAX_CONNECTIONS,
            tx_max_connections: MAX_CONNECTIONS,
            tx_max_body_bytes: MAX_BODY_BYTES,
            tx_max_in_flight: MAX_IN_FLIGHT,
            tx_rate_burst: MAX_RATE_BURST,
            tx_rate_per_second: *RATE_PER_SECOND.end(),
        };
        assert_eq!(at_max.problems(), Vec::<String>::new());
        let _gate = crate::server::gate::Gate::new(&at_max);
        let slowest = ServerLimits { tx_rate_per_second: *RATE_PER_SECOND.start(), ..at_max };
        assert_eq!(slowest.problems(), Vec::<String>::new());

        let over = ServerLimits {
            header_timeout: MAX_TIMEOUT + Duration::from_millis(1),
            request_timeout: MAX_TIMEOUT + Duration::from_millis(1),
            operator_max_connections: MAX_CONNECTIONS + 1,
            tx_max_connections: usize::MAX,
            tx_max_body_bytes: MAX_BODY_BYTES + 1,
            tx_max_in_flight: usize::MAX,
            tx_rate_burst: MAX_RATE_BURST + 1,
            tx_rate_per_second: 1e-300,
        };
        let problems = over.problems();
        assert_eq!(problems.len(), 8, "{problems:#?}");
        let text = problems.join("\n");
        for field in [
            "header_timeout: must be at most 600s",
            "request_timeout: must be at most 600s",
            "operator_max_connections: 65537 is over the limit of 65536",
            "tx_max_connections",
            "tx_max_body_bytes",
            "tx_max_in_flight",
            "tx_rate_burst",
            "tx_rate_per_second: must be within",
        ] {
            assert!(text.contains(&format!("server.{field}")), "{field}: {text}");
        }
        let fast = ServerLimits { tx_rate_per_second: f64::INFINITY, ..ServerLimits::default() };
        assert_eq!(fast.problems().len(), 1);
    }
}
