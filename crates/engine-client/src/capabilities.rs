//! What the execution client says it offers (`engine_exchangeCapabilities`), cached for a
//! while, so that a method version it lacks is refused here with
//! [`EngineError::Unsupported`](engine_types::EngineError::Unsupported) rather than sent.
//!
//! The cache is cleared when the endpoint goes offline or refuses our JWT (it may come back
//! as another client or version). When the list cannot be learned (the call failed, or the EL
//! predates the method), nothing is refused and the list is asked for again sooner.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// The answer for one method name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The EL listed it.
    Offered,
    /// The EL's list does not have it.
    NotOffered,
    /// No usable list: ask the EL (again).
    Unknown,
    /// The list could not be learned recently: send the call and let it fail on its own.
    Unlearnable,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    methods: Option<Arc<HashSet<String>>>,
}

/// The cached capabilities of one endpoint.
#[derive(Debug)]
pub(crate) struct Capabilities {
    ttl: Duration,
    retry_after: Duration,
    entry: Mutex<Option<Entry>>,
}

impl Capabilities {
    /// Lists live for `ttl`; a failure to learn one is remembered for `retry_after` (at most
    /// `ttl`).
    pub(crate) fn new(ttl: Duration, retry_after: Duration) -> Self {
        Self { ttl, retry_after: retry_after.min(ttl), entry: Mutex::new(None) }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Entry>> {
        self.entry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the cache says about `method` at `now`.
    pub(crate) fn lookup(&self, method: &str, now: Instant) -> Lookup {
        match &*self.lock() {
            Some(Entry { at, methods: Some(m) }) if now.duration_since(*at) < self.ttl => {
                if m.contains(method) { Lookup::Offered } else { Lookup::NotOffered }
            }
            Some(Entry { at, methods: None }) if now.duration_since(*at) < self.retry_after => {
                Lookup::Unlearnable
            }
            _ => Lookup::Unknown,
        }
    }

    /// Whether a fresh list is held (the upcheck refreshes it otherwise).
    pub(crate) fn is_fresh(&self, now: Instant) -> bool {
        !matches!(self.lookup("", now), Lookup::Unknown)
    }

    /// Stores the EL's list, or `None` when it could not be learned.
    pub(crate) fn store(&self, methods: Option<Vec<String>>, now: Instant) {
        let methods = methods.map(|m| Arc::new(m.into_iter().collect()));
        *self.lock() = Some(Entry { at: now, methods });
    }

    /// Forgets the list.
    pub(crate) fn clear(&self) {
        *self.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A learned list answers until its TTL, a failed lookup is retried sooner, and clearing
    /// forgets both.
    #[test]
    fn ttl_and_negative_entries() {
        let c = Capabilities::new(Duration::from_secs(60), Duration::from_secs(2));
        let t0 = Instant::now();
        assert_eq!(c.lookup("engine_newPayloadV2", t0), Lookup::Unknown);
        c.store(Some(vec!["engine_newPayloadV2".into()]), t0);
        assert_eq!(c.lookup("engine_newPayloadV2", t0), Lookup::Offered);
        assert_eq!(c.lookup("engine_newPayloadV4", t0), Lookup::NotOffered);
        assert_eq!(c.lookup("engine_newPayloadV2", t0 + Duration::from_secs(60)), Lookup::Unknown);
        c.store(None, t0);
        assert_eq!(
            c.lookup("engine_newPayloadV4", t0 + Duration::from_secs(1)),
            Lookup::Unlearnable
        );
        assert_eq!(c.lookup("engine_newPayloadV4", t0 + Duration::from_secs(2)), Lookup::Unknown);
        c.store(Some(vec![]), t0);
        assert!(c.is_fresh(t0));
        c.clear();
        assert!(!c.is_fresh(t0));
    }
}
