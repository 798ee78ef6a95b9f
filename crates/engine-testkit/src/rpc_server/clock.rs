//! The server's clock: the system's, shifted by a number of seconds a test sets, so that an
//! execution client whose clock is off can be stood in for. It decides the JWT `iat` check
//! and the `Date` header of every answer, as one clock does on a real server (Geth's
//! node/jwt_handler.go compares `iat` with `time.Now()`, and Go's net/http writes `Date`
//! from the same clock).

use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::{Duration, SystemTime},
};

/// A clock `offset` seconds ahead of the system's (behind when negative).
#[derive(Debug, Default)]
pub(super) struct ServerClock {
    offset: AtomicI64,
}

impl ServerClock {
    /// Shift the clock by `seconds` from the system's (0: the system's own).
    pub(super) fn set_offset(&self, seconds: i64) {
        self.offset.store(seconds, Ordering::Relaxed);
    }

    /// The current shift in seconds.
    pub(super) fn offset(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// The time by this clock.
    pub(super) fn now(&self) -> SystemTime {
        shift(SystemTime::now(), self.offset())
    }

    /// The `Date` header of an answer sent now (RFC 9110's IMF-fixdate).
    pub(super) fn http_date(&self) -> String {
        httpdate::fmt_http_date(self.now())
    }
}

fn shift(time: SystemTime, seconds: i64) -> SystemTime {
    let by = Duration::from_secs(seconds.unsigned_abs());
    // Out of `SystemTime`'s range only for shifts of billions of years: keep the system time.
    if seconds >= 0 { time.checked_add(by) } else { time.checked_sub(by) }.unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// A shifted clock reads the system time plus the shift, in seconds and in its `Date`.
    #[test]
    fn shifts_both_ways() {
        let clock = ServerClock::default();
        for offset in [0i64, 61, -61] {
            clock.set_offset(offset);
            assert_eq!(clock.offset(), offset);
            let system = crate::jwt::unix_now();
            let shifted = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            let later = crate::jwt::unix_now();
            let range = system.saturating_add_signed(offset)..=later.saturating_add_signed(offset);
            assert!(range.contains(&shifted), "{offset}: {shifted} not in {range:?}");
            let date = httpdate::parse_http_date(&clock.http_date()).unwrap();
            let date = date.duration_since(UNIX_EPOCH).unwrap().as_secs();
            assert!(date.abs_diff(shifted) <= 1, "{offset}: Date {date} vs {shifted}");
        }
    }
}
