//! Scanning a new head's receipts for peg-outs and telling the Bridge, with the outcome
//! always in the reply (never silent).

use super::*;

impl Worker {
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
