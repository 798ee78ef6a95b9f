//! Peg-outs after a new head: the block is handed to the scan [`lane`](lane::Lane), which
//! fetches its receipts, tells the Bridge of its burns and answers back, so that a commit's
//! reply never waits for the scan; the worker moves a persisted cursor
//! ([`PersistedState::peg_outs_scanned`]) as the answers come, in block order. A scan that
//! failed (the EL did not give the receipts, no Bridge took the burns), or that a crash cut
//! off after its commit was saved, leaves the block owed: the owed blocks are handed again,
//! oldest first, so no burn is ever lost or delivered out of order. Blocks owed behind a
//! full lane or a restart are handed as soon as the lane drains ([`Worker::catch_up`]);
//! after a failed scan, at the tick.

mod lane;

pub(super) use lane::{Lane, Outcome};

use super::*;
use lane::Scan;

/// How many blocks one catch-up walks back from the head looking for the scan cursor; a
/// cursor further back is an error the tick keeps reporting (an operator must look).
const MAX_OWED_BLOCKS: usize = 4096;

/// Owed blocks a catch-up found and the full lane did not take, oldest first: the next
/// catch-up goes on from them if the cursor reached `from` (the last block it handed). A
/// failed scan, or anything else that moved the cursor, leaves it elsewhere: the tail is
/// dropped and the walk goes down to the cursor again.
#[derive(Debug)]
pub(super) struct OwedTail {
    from: BlockRef,
    blocks: VecDeque<BlockRef>,
}

impl Worker {
    /// The block whose peg-outs were delivered last (the head when nothing is recorded).
    pub(super) fn peg_outs_scanned(&self) -> BlockRef {
        self.state.peg_outs_scanned.unwrap_or(self.state.heads.head)
    }

    /// Hands the new head `block` to the lane when the block before it, `parent` (the head
    /// it replaced), was delivered or handed over already; otherwise (older blocks owed, the
    /// lane full) leaves it owed, to be handed over after the older blocks, in order.
    pub(super) fn scan_new_head(
        &mut self,
        correlation: CorrelationId,
        block: BlockRef,
        parent: BlockRef,
    ) -> PegOutReport {
        let tip = self.lane.handed().unwrap_or_else(|| self.peg_outs_scanned());
        let report = if tip == parent && self.lane.hand(correlation, block) {
            PegOutReport::Queued
        } else {
            PegOutReport::Deferred
        };
        // The commit published the new head as owed; handed over, it is not (the tick
        // leaves the lane's blocks to it).
        self.publish_cursor();
        report
    }

    /// Hands the owed blocks to the lane, oldest first, once it answered everything it was
    /// given (its answers move the cursor this walk starts from).
    pub(super) async fn scan_owed(&mut self, correlation: CorrelationId) -> Result<(), ActorError> {
        if !self.lane.is_idle() {
            return Ok(());
        }
        let mut owed = self.owed_blocks().await?;
        while let Some(&block) = owed.front() {
            if !self.lane.hand(correlation, block) {
                break;
            }
            owed.pop_front();
        }
        // What the full lane could not take, for the next catch-up to go on from.
        self.owed = match (self.lane.handed(), owed.is_empty()) {
            (Some(from), false) => Some(OwedTail { from, blocks: owed }),
            _ => None,
        };
        self.publish_cursor();
        Ok(())
    }

    /// Takes the lane's answer for one block: a delivered block moves the cursor to it
    /// (saved at once when it had burns, else with the next write); a failed one stops the
    /// lane's generation and leaves the block owed.
    pub(super) async fn scanned(&mut self, outcome: Outcome) {
        // Answers to blocks handed before a failure were skipped: owed, handed again.
        if self.lane.answered(&outcome) {
            let block = outcome.block;
            match outcome.scan {
                Scan::Done { burns: 0 } => {
                    // Not written now, and not a reason to write later either (the file may
                    // say an older cursor: re-scanning a block without burns tells the
                    // Bridge nothing).
                    self.state.peg_outs_scanned = Some(block);
                }
                Scan::Done { .. } => {
                    let mut next = self.state.clone();
                    next.peg_outs_scanned = Some(block);
                    if let Err(e) = self.commit_state(next).await {
                        // Delivered, but a restart may deliver these burns again (the Bridge
                        // keys them by block hash and log index).
                        tracing::error!(block = %block.hash, error = %e,
                            "peg-outs delivered but the scan cursor could not be saved");
                        self.state.peg_outs_scanned = Some(block);
                    }
                }
                Scan::Failed { .. } => self.lane.restart(),
                Scan::Skipped => {}
            }
        }
        self.publish_cursor();
        self.catch_up().await;
    }

    /// Hands the owed blocks over now when the lane went idle and its last scan did not
    /// fail: after an answer, and after a commit that found older blocks owed (a restart's
    /// first slot). So blocks left owed by a full lane or a restart are caught up at the
    /// lane's pace, not one lane-load per tick (a tick that also waits for an idle job
    /// queue): at a slot per millisecond the tick's pace never caught up after a restart,
    /// and the owed blocks fell out of the devnet's history. A failing scan (an EL that
    /// does not answer, no Bridge) is retried by the tick alone.
    pub(super) async fn catch_up(&mut self) {
        if self.peg_outs_owed()
            && !self.lane.failing()
            && let Err(e) = self.scan_owed(CorrelationId::new()).await
        {
            tracing::warn!(error = %e, "owed peg-outs not delivered yet");
        }
    }

    /// Whether blocks below the head are owed to the Bridge and not in the lane: the tick
    /// then has them handed over.
    pub(super) fn peg_outs_owed(&self) -> bool {
        owes_peg_outs(&self.state) && self.lane.is_idle()
    }

    /// Publishes the cursor and whether anything is owed.
    fn publish_cursor(&self) {
        let (scanned, owed) = (self.state.peg_outs_scanned, self.peg_outs_owed());
        self.core.publish(|v| {
            v.peg_outs_scanned = scanned;
            v.peg_outs_owed = owed;
        });
    }

    /// The canonical blocks above the newest block the scan cursor shares with the head,
    /// oldest first. When the last catch-up left blocks for later ([`OwedTail`]) and the
    /// cursor is where it left off, they are still owed if the newest of them is still on
    /// the head's chain: the walk goes down only to it, so a backlog of `n` blocks costs
    /// `n` header reads in all, not `n` per lane-load.
    async fn owed_blocks(&mut self) -> Result<VecDeque<BlockRef>, ActorError> {
        let head = self.state.heads.head;
        if let Some(tail) = self.owed.take()
            && tail.from == self.peg_outs_scanned()
            && let Some(&newest) = tail.blocks.back()
        {
            let (above, met) = self.walk_to(head, newest, tail.blocks.len()).await?;
            if met == newest {
                let mut owed = tail.blocks;
                owed.extend(above);
                return Ok(owed);
            }
        }
        let (owed, _) = self.walk_to(head, self.peg_outs_scanned(), 0).await?;
        Ok(owed.into())
    }

    /// The blocks above the newest block `theirs` shares with `ours`, oldest first, and
    /// that block: walked down from `ours` (and from `theirs`, when a reorg left it on
    /// another branch) until the two meet. `known` blocks owed below `theirs` count toward
    /// [`MAX_OWED_BLOCKS`].
    async fn walk_to(
        &mut self,
        mut ours: BlockRef,
        mut theirs: BlockRef,
        known: usize,
    ) -> Result<(Vec<BlockRef>, BlockRef), ActorError> {
        let mut owed = Vec::new();
        while ours.hash != theirs.hash {
            if known + owed.len() >= MAX_OWED_BLOCKS {
                return Err(EngineError::bad_response(
                    "eth_getBlockByHash",
                    format!(
                        "the peg-out scan cursor (block {} {}) is more than {MAX_OWED_BLOCKS} \
                         blocks below the head",
                        theirs.number, theirs.hash
                    ),
                )
                .into());
            }
            if ours.number >= theirs.number && ours.number > 0 {
                owed.push(ours);
                ours = self.parent_of(ours).await?;
            } else if theirs.number > 0 {
                theirs = self.parent_of(theirs).await?;
            } else {
                break;
            }
        }
        owed.reverse();
        Ok((owed, theirs))
    }

    async fn parent_of(&mut self, block: BlockRef) -> Result<BlockRef, ActorError> {
        let (_, header) = self.block_ref(block.hash).await?;
        Ok(self.block_ref(header.parent_hash).await?.0)
    }
}
