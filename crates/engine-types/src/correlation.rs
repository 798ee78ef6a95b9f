//! Correlation ids: one per request that crosses actors, recorded on every tracing span and
//! log line that the request causes, so one block's story can be read across components.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A random 64-bit id, printed as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CorrelationId(pub u64);

impl CorrelationId {
    /// A fresh random id. Collisions are possible but irrelevant: ids label logs, they do not
    /// key state.
    pub fn new() -> Self {
        Self(rand::random())
    }
}

impl Default for CorrelationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids print as fixed-width hex so log lines align and grep works.
    #[test]
    fn displays_as_fixed_width_hex() {
        assert_eq!(CorrelationId(0xab).to_string(), "00000000000000ab");
        assert_ne!(CorrelationId::new(), CorrelationId::new());
    }
}
