//! Scanning a new head's receipts for peg-outs and telling the Bridge, with the outcome
//! always in the reply (never silent), and delivering the peg-outs still owed for blocks
//! below the head, in block order, behind a persisted cursor
//! ([`PersistedState::peg_outs_scanned`]): a scan that failed, or that a crash cut off
//! after its commit was saved, is made good later, so no burn is ever lost.

use super::*;

/// How many blocks one catch-up walks back from the head looking for the scan cursor; a
/// cursor further back is an error the tick keeps reporting (an operator must look).
const MAX_OWED_BLOCKS: usize = 4096;

impl Worker {
    /// The block whose peg-outs were delivered last (the head when nothing is recorded).
    pub(super) fn peg_outs_scanned(&self) -> BlockRef {
        self.state.peg_outs_scanned.unwrap_or(self.state.heads.head)
    }

    /// Scans the new head `block`, whose parent was the head, when nothing older is owed;
    /// otherwise leaves it owed, to be delivered after the older blocks, in order.
    pub(super) async fn scan_new_head(
        &mut self,
        correlation: CorrelationId,
        block: BlockRef,
        parent: BlockRef,
    ) -> PegOutReport {
        if self.peg_outs_scanned() != parent {
            return PegOutReport::Deferred;
        }
        self.scan_and_advance(correlation, block).await
    }

    /// Delivers the peg-outs owed, oldest block first, stopping at the first block that
    /// cannot be scanned.
    pub(super) async fn scan_owed(&mut self, correlation: CorrelationId) -> Result<(), ActorError> {
        for block in self.owed_blocks().await? {
            if let PegOutReport::Failed { reason } = self.scan_and_advance(correlation, block).await
            {
                return Err(EngineError::bad_response("eth_getBlockReceipts", reason).into());
            }
        }
        Ok(())
    }

    /// Scans `block` and, once the Bridge was told, moves the cursor to it: saved at once
    /// when it found burns, else with the next write.
    async fn scan_and_advance(
        &mut self,
        correlation: CorrelationId,
        block: BlockRef,
    ) -> PegOutReport {
        let report = self.report_peg_outs(correlation, block).await;
        let PegOutReport::Scanned { payable, not_payable, malformed, .. } = &report else {
            return report;
        };
        if payable + not_payable + malformed > 0 {
            let mut next = self.state.clone();
            next.peg_outs_scanned = Some(block);
            if let Err(e) = self.commit_state(next).await {
                // Delivered, but a restart may deliver these burns again (the Bridge keys
                // them by block hash and log index).
                tracing::error!(block = %block.hash, error = %e,
                    "peg-outs delivered but the scan cursor could not be saved");
            }
        } else {
            // Not written now, and not a reason to write later either (the file may say an
            // older cursor: re-scanning a block without burns tells the Bridge nothing).
            self.state.peg_outs_scanned = Some(block);
            let owed = owes_peg_outs(&self.state);
            self.core.publish(|v| v.peg_outs_owed = owed);
        }
        report
    }

    /// The canonical blocks above the newest block the scan cursor shares with the head,
    /// oldest first: walked down from the head (and from the cursor, when a reorg left it
    /// on another branch) until the two meet.
    async fn owed_blocks(&mut self) -> Result<Vec<BlockRef>, ActorError> {
        let (mut ours, mut theirs) = (self.state.heads.head, self.peg_outs_scanned());
        let mut owed = Vec::new();
        while ours.hash != theirs.hash {
            if owed.len() >= MAX_OWED_BLOCKS {
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
        Ok(owed)
    }

    async fn parent_of(&mut self, block: BlockRef) -> Result<BlockRef, ActorError> {
        let (_, header) = self.block_ref(block.hash).await?;
        Ok(self.block_ref(header.parent_hash).await?.0)
    }

    /// Fetches the block's receipts, scans them for peg-outs and tells the Bridge (and hands
    /// the receipts to Storage). Never silent: the outcome goes back in the reply.
    pub(super) async fn report_peg_outs(
        &self,
        correlation: CorrelationId,
        block: BlockRef,
    ) -> PegOutReport {
        let receipts = match self.core.port.block_receipts(block.hash).await {
            Ok(Some(receipts)) => receipts,
            Ok(None) => {
                return failed(block, "the EL does not know the block's receipts".into());
            }
            Err(e) => return failed(block, e.to_string()),
        };
        let indexed = ReceiptWithContext::index_block(
            receipts
                .iter()
                .map(|r| (r.transaction_hash, r.inner.clone().into_primitives_receipt())),
        );
        let scan =
            match self.core.scanner.scan(BlockNumHash::new(block.number, block.hash), &indexed) {
                Ok(scan) => scan,
                Err(e) => return failed(block, e.to_string()),
            };
        for (kind, n) in [
            ("payable", scan.payable.len()),
            ("not_payable", scan.unpayable.len()),
            ("malformed", scan.malformed.len()),
        ] {
            if n > 0 {
                ::metrics::counter!(metrics::BURN_EVENTS, "kind" => kind).increment(n as u64);
            }
        }
        let (payable, not_payable, malformed) =
            (scan.payable.len(), scan.unpayable.len(), scan.malformed.len());
        let any = payable + not_payable + malformed > 0;
        let delivered = any
            && self.core.peers.bridge.as_ref().is_some_and(|bridge| {
                bridge.send(BurnEventsDetected {
                    correlation,
                    block_hash: block.hash,
                    block_number: block.number,
                    payable: scan.payable,
                    not_payable: scan.unpayable,
                    malformed: scan.malformed,
                })
            });
        if any && !delivered {
            tracing::error!(block = %block.hash, payable, not_payable, malformed,
                "peg-outs found but no Bridge actor took them");
        }
        if let Some(storage) = &self.core.peers.storage
            && !storage.send(StoreExecutionData {
                correlation,
                block_hash: block.hash,
                block_number: block.number,
                receipts,
            })
        {
            tracing::warn!(block = %block.hash, "no Storage actor took the receipts");
        }
        PegOutReport::Scanned { payable, not_payable, malformed, delivered }
    }
}

fn failed(block: BlockRef, reason: String) -> PegOutReport {
    tracing::error!(block = %block.hash, %reason, "peg-out scan failed: the chain must retry");
    PegOutReport::Failed { reason }
}
