//! What the operator sees per block: one progress line for every produced block, and a
//! summary line every N blocks.
//!
//! ```text
//! block 12 0x5c1f09a2… txs=1 peg-ins=2 build=4ms commit=7ms finalized
//! summary: 10 blocks in 20.0s, 2 failed slots, 20 peg-ins minted (0 pending), 3 txs
//! ```
//!
//! Peg-outs are not on the block's line: the engine scans a block's receipts after its
//! commit replied, and the Bridge actor logs each request it is told of (`peg-out
//! requested`).
//!
//! ```text
//! ```

use engine_types::primitives::B256;
use std::{
    fmt,
    time::{Duration, Instant},
};

/// One produced block, as its progress line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockLine {
    /// Its number.
    pub(crate) number: u64,
    /// Its hash.
    pub(crate) hash: B256,
    /// Transactions in it.
    pub(crate) txs: usize,
    /// Peg-ins minted by it.
    pub(crate) peg_ins: usize,
    /// Time to build it.
    pub(crate) build: Duration,
    /// Time to commit it.
    pub(crate) commit: Duration,
    /// Whether it was finalized.
    pub(crate) finalized: bool,
}

impl fmt::Display for BlockLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hash = self.hash.to_string();
        write!(
            f,
            "block {} {}… txs={} peg-ins={} build={}ms commit={}ms",
            self.number,
            &hash[..10],
            self.txs,
            self.peg_ins,
            self.build.as_millis(),
            self.commit.as_millis()
        )?;
        if self.finalized {
            f.write_str(" finalized")?;
        }
        Ok(())
    }
}

/// Counts since the last summary.
#[derive(Debug)]
pub(crate) struct Progress {
    every: u64,
    since: Instant,
    blocks: u64,
    failures: u64,
    peg_ins: usize,
    txs: usize,
}

impl Progress {
    /// A summary every `every` blocks (0: never).
    pub(crate) fn new(every: u64) -> Self {
        Self { every, since: Instant::now(), blocks: 0, failures: 0, peg_ins: 0, txs: 0 }
    }

    /// Logs a block's line, and the summary when one is due.
    pub(crate) fn block(&mut self, line: &BlockLine, pending_peg_ins: usize) {
        // A root event: the line reads the same whatever span the chain actor runs in.
        tracing::info!(parent: None, "{line}");
        self.blocks += 1;
        self.peg_ins += line.peg_ins;
        self.txs += line.txs;
        if self.every != 0 && self.blocks == self.every {
            tracing::info!(parent: None, "{}", self.summary(pending_peg_ins));
            *self = Self::new(self.every);
        }
    }

    /// Counts a slot that produced nothing.
    pub(crate) const fn failure(&mut self) {
        self.failures += 1;
    }

    /// Slots that produced nothing since the last summary.
    #[cfg(test)]
    pub(crate) const fn failures(&self) -> u64 {
        self.failures
    }

    fn summary(&self, pending: usize) -> String {
        format!(
            "summary: {} blocks in {:.1}s, {} failed slots, {} peg-ins minted ({pending} pending), {} txs",
            self.blocks,
            self.since.elapsed().as_secs_f64(),
            self.failures,
            self.peg_ins,
            self.txs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line carries number, short hash, counts and timings.
    #[test]
    fn block_line_reads_well() {
        let mut line = BlockLine {
            number: 12,
            hash: B256::repeat_byte(0xab),
            txs: 1,
            peg_ins: 2,
            build: Duration::from_millis(4),
            commit: Duration::from_millis(7),
            finalized: true,
        };
        assert_eq!(
            line.to_string(),
            "block 12 0xabababab… txs=1 peg-ins=2 build=4ms commit=7ms finalized"
        );
        line.finalized = false;
        assert!(line.to_string().ends_with("commit=7ms"));
    }

    /// The summary counts what happened since the previous one.
    #[test]
    fn summary_counts_since_the_last() {
        let mut p = Progress::new(2);
        p.failure();
        let line = BlockLine {
            number: 1,
            hash: B256::ZERO,
            txs: 3,
            peg_ins: 2,
            build: Duration::ZERO,
            commit: Duration::ZERO,
            finalized: false,
        };
        p.block(&line, 0);
        let text = p.summary(5);
        assert!(text.starts_with("summary: 1 blocks in "), "{text}");
        assert!(text.contains("1 failed slots, 2 peg-ins minted (5 pending), 3 txs"), "{text}");
        p.block(&line, 0);
        assert_eq!(p.blocks, 0, "reset after the summary");
    }
}
