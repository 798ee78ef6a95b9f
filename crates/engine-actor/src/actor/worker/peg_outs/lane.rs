//! The peg-out scan lane: one task, owned by the forkchoice worker, that fetches each new
//! head's receipts, scans them for burns and tells the Bridge (and hands the receipts to
//! Storage), in the order the worker hands the blocks over, so that a commit's reply never
//! waits for a receipts round trip.
//!
//! Each block comes back to the worker as an [`Outcome`]; only the worker moves the scan
//! cursor. A scan that fails stops the lane for that generation: the blocks queued behind it
//! are skipped (never delivered ahead of it), and the worker hands them again, oldest first,
//! under a new generation once the lane is idle.

use crate::{
    actor::{AbortOnDrop, core::Core, ended_because},
    heads::BlockRef,
    metrics,
    peers::{BurnEventsDetected, StoreExecutionData},
};
use engine_client::traceparent::with_correlation;
use engine_types::{CorrelationId, eips::BlockNumHash};
use engine_validation::ReceiptWithContext;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::Instrument;

/// A block handed to the lane.
#[derive(Debug)]
pub(in crate::actor::worker) struct Order {
    generation: u64,
    correlation: CorrelationId,
    /// The span of the job that handed it over: the scan's span is its child.
    span: tracing::Span,
    block: BlockRef,
}

/// What the lane did with an [`Order`].
#[derive(Debug)]
pub(in crate::actor::worker) struct Outcome {
    pub(in crate::actor::worker) generation: u64,
    pub(in crate::actor::worker) block: BlockRef,
    pub(in crate::actor::worker) scan: Scan,
}

/// The result of one block's scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::actor::worker) enum Scan {
    /// Scanned, and the Bridge took its `burns` peg-out events (payable, not payable and
    /// malformed together; none to tell when zero).
    Done { burns: usize },
    /// The receipts could not be fetched or scanned: the block stays owed.
    Failed { reason: String },
    /// Not scanned: an earlier block of its generation failed.
    Skipped,
}

/// The worker's end of the lane: at most `depth` blocks handed and not yet answered.
#[derive(Debug)]
pub(in crate::actor::worker) struct Lane {
    orders: mpsc::Sender<Order>,
    outcomes: mpsc::Receiver<Outcome>,
    task: AbortOnDrop<()>,
    depth: usize,
    /// Bumped when a scan fails, so that the answers still due for blocks handed before it
    /// are told apart from the blocks handed again.
    generation: u64,
    /// Blocks handed and not yet answered.
    outstanding: usize,
    /// The last block handed, while any is unanswered.
    handed: Option<BlockRef>,
    /// Whether the last answer of the current generation was a failed scan.
    failing: bool,
}

impl Lane {
    /// Starts the lane's task, which holds at most `depth` blocks.
    pub(in crate::actor::worker) fn start(core: Arc<Core>, depth: usize) -> Self {
        let (orders, inbox) = mpsc::channel(depth);
        let (outbox, outcomes) = mpsc::channel(depth);
        let task = tokio::spawn(run(core, inbox, outbox));
        Self {
            orders,
            outcomes,
            task: AbortOnDrop(task),
            depth,
            generation: 0,
            outstanding: 0,
            handed: None,
            failing: false,
        }
    }

    /// The last block handed over while any is unanswered.
    pub(in crate::actor::worker) const fn handed(&self) -> Option<BlockRef> {
        self.handed
    }

    /// Whether the last scan answered (of the blocks handed since the last failure, or
    /// that failure itself) failed: what is owed then waits for the tick's retry rather than
    /// being handed again at every answer or commit.
    pub(in crate::actor::worker) const fn failing(&self) -> bool {
        self.failing
    }

    /// Whether every block handed over was answered.
    pub(in crate::actor::worker) const fn is_idle(&self) -> bool {
        self.outstanding == 0
    }

    /// Hands `block` over, unless `depth` blocks wait already; says whether it did.
    pub(in crate::actor::worker) fn hand(
        &mut self,
        correlation: CorrelationId,
        block: BlockRef,
    ) -> bool {
        if self.outstanding >= self.depth {
            return false;
        }
        let order = Order {
            generation: self.generation,
            correlation,
            span: tracing::Span::current(),
            block,
        };
        // With fewer than `depth` unanswered, the channel (of capacity `depth`) has room; a
        // closed one means the task ended, which the next `next_outcome` reports.
        if self.orders.try_send(order).is_err() {
            return false;
        }
        self.outstanding += 1;
        self.handed = Some(block);
        true
    }

    /// The next answer, or why the lane's task ended (it only ends by panicking: the
    /// worker holds the sender of its orders).
    pub(in crate::actor::worker) async fn next_outcome(&mut self) -> Result<Outcome, String> {
        match self.outcomes.recv().await {
            Some(outcome) => Ok(outcome),
            None => Err(ended_because((&mut self.task.0).await, "it panicked", |()| {
                "it returned".into()
            })),
        }
    }

    /// Takes `outcome` off the count of unanswered blocks; says whether it belongs to the
    /// current generation (answers to blocks handed before a failure do not).
    pub(in crate::actor::worker) fn answered(&mut self, outcome: &Outcome) -> bool {
        self.outstanding = self.outstanding.saturating_sub(1);
        if self.outstanding == 0 {
            self.handed = None;
        }
        let current = outcome.generation == self.generation;
        if current {
            self.failing = matches!(outcome.scan, Scan::Failed { .. });
        }
        current
    }

    /// After a failed scan: the blocks still unanswered are skipped by the task, and the
    /// next block handed starts a new generation.
    pub(in crate::actor::worker) fn restart(&mut self) {
        self.generation += 1;
        self.handed = None;
    }
}

/// The lane's task: scans each order in turn until the worker drops its sender.
async fn run(core: Arc<Core>, mut inbox: mpsc::Receiver<Order>, outbox: mpsc::Sender<Outcome>) {
    // The generation whose scan failed: its later blocks are skipped.
    let mut failed: Option<u64> = None;
    while let Some(Order { generation, correlation, span, block }) = inbox.recv().await {
        let scan = if failed.is_some_and(|g| generation <= g) {
            Scan::Skipped
        } else {
            let span = tracing::info_span!(parent: &span, "engine_peg_out_scan",
                block = block.number, %correlation);
            with_correlation(correlation, scan(&core, correlation, block)).instrument(span).await
        };
        if matches!(scan, Scan::Failed { .. }) {
            failed = Some(generation);
        }
        // The worker is gone (the actor stopped): nothing is left to answer.
        if outbox.send(Outcome { generation, block, scan }).await.is_err() {
            return;
        }
    }
}

/// Fetches `block`'s receipts, scans them for peg-outs and tells the Bridge (and hands the
/// receipts to Storage).
async fn scan(core: &Core, correlation: CorrelationId, block: BlockRef) -> Scan {
    let receipts = match core.port.block_receipts(block.hash).await {
        Ok(Some(receipts)) => receipts,
        Ok(None) => return failed(block, "the EL does not know the block's receipts".into()),
        Err(e) => return failed(block, e.to_string()),
    };
    let indexed = ReceiptWithContext::index_block(
        receipts.iter().map(|r| (r.transaction_hash, r.inner.clone().into_primitives_receipt())),
    );
    let found = match core.scanner.scan(BlockNumHash::new(block.number, block.hash), &indexed) {
        Ok(found) => found,
        Err(e) => return failed(block, e.to_string()),
    };
    let (payable, not_payable, malformed) =
        (found.payable.len(), found.unpayable.len(), found.malformed.len());
    let burns = payable + not_payable + malformed;
    let delivered = burns == 0
        || core.peers.bridge.as_ref().is_some_and(|bridge| {
            bridge.send(BurnEventsDetected {
                correlation,
                block_hash: block.hash,
                block_number: block.number,
                payable: found.payable,
                not_payable: found.unpayable,
                malformed: found.malformed,
            })
        });
    if !delivered {
        // Owed until a Bridge takes them (one restarting, or none attached yet): a burn
        // is never dropped for want of a receiver.
        return failed(
            block,
            format!(
                "no Bridge actor took its {burns} peg-out event(s) ({payable} payable, \
                 {not_payable} not payable, {malformed} malformed)"
            ),
        );
    }
    // Counted once delivered: a block retried behind a missing Bridge is counted once.
    for (kind, n) in [("payable", payable), ("not_payable", not_payable), ("malformed", malformed)]
    {
        if n > 0 {
            ::metrics::counter!(metrics::BURN_EVENTS, "kind" => kind).increment(n as u64);
        }
    }
    if let Some(storage) = &core.peers.storage
        && !storage.send(StoreExecutionData {
            correlation,
            block_hash: block.hash,
            block_number: block.number,
            receipts,
        })
    {
        tracing::warn!(block = %block.hash, "no Storage actor took the receipts");
    }
    Scan::Done { burns }
}

fn failed(block: BlockRef, reason: String) -> Scan {
    tracing::error!(block = %block.hash, %reason, "peg-out scan failed: the engine retries");
    Scan::Failed { reason }
}
