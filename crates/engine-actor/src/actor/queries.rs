//! Read-only requests and transaction admission: independent of the forkchoice order, so
//! each runs as its own task and answers through its reply port.

use super::core::Core;
use crate::{
    error::{ActorError, PegOutRefusal},
    heads::BlockRef,
    messages::{HeadTag, PegOutValidated, TxVerdict},
};
use engine_types::{
    EngineError,
    eips::{BlockId, BlockNumHash},
    engine::{ExecutionPayload, ExecutionPayloadSidecar},
    primitives::{B256, Bytes},
};
use engine_validation::{AccountState, AdmissionContext, ReceiptWithContext, Verdict};
use std::sync::Arc;

pub(crate) async fn get_block(
    core: Arc<Core>,
    block: BlockId,
    with_txs: bool,
) -> Result<Option<alloy_rpc_types_eth::Block>, ActorError> {
    Ok(core.port.block(block, with_txs).await?)
}

pub(crate) async fn get_receipts(
    core: Arc<Core>,
    block: B256,
) -> Result<Vec<alloy_rpc_types_eth::TransactionReceipt>, ActorError> {
    core.port
        .block_receipts(block)
        .await?
        .ok_or_else(|| ActorError::UnknownBlock { block: block.to_string() })
}

pub(crate) async fn payload_by_tag(
    core: Arc<Core>,
    tag: HeadTag,
) -> Result<(ExecutionPayload, ExecutionPayloadSidecar), ActorError> {
    let heads = core.view().heads;
    let target = match tag {
        HeadTag::Latest => heads.head,
        HeadTag::Safe => heads.safe,
        HeadTag::Finalized => heads.finalized,
    };
    if target.is_unset() {
        return Err(ActorError::UnknownBlock { block: format!("{tag:?} (none yet)") });
    }
    let block = core.known_block(BlockId::hash(target.hash), true).await?;
    let hash = block.header.hash;
    let block = block.into_consensus().map_transactions(|tx| tx.into_inner());
    Ok(ExecutionPayload::from_block_unchecked(hash, &block))
}

/// A peg-out transaction read back from the canonical chain: its receipt, its block's place
/// on the canonical chain, and the bridge's events in it, scanned with the block's other
/// receipts (so log indices are the block's).
pub(crate) async fn validate_peg_out(
    core: Arc<Core>,
    tx: B256,
) -> Result<PegOutValidated, ActorError> {
    let receipt = core.port.transaction_receipt(tx).await?.ok_or(PegOutRefusal::NotFound { tx })?;
    let (Some(hash), Some(number)) = (receipt.block_hash, receipt.block_number) else {
        return Err(PegOutRefusal::NotFound { tx }.into());
    };
    let canonical = core.port.block(BlockId::number(number), false).await?;
    let Some(canonical) = canonical.filter(|b| b.header.hash == hash) else {
        return Err(
            PegOutRefusal::NotCanonical { tx, block: BlockRef::new(hash, number, 0) }.into()
        );
    };
    let block = BlockRef::new(hash, number, canonical.header.timestamp);
    if !receipt.status() {
        return Err(PegOutRefusal::Reverted { tx, block }.into());
    }
    let receipts =
        core.port.block_receipts(hash).await?.ok_or(PegOutRefusal::NotCanonical { tx, block })?;
    let indexed = ReceiptWithContext::index_block(
        receipts.iter().map(|r| (r.transaction_hash, r.inner.clone().into_primitives_receipt())),
    );
    let scan = core
        .scanner
        .scan(BlockNumHash::new(number, hash), &indexed)
        .map_err(|e| EngineError::bad_response("eth_getBlockReceipts", e.to_string()))?;
    let payable: Vec<_> = scan.payable.into_iter().filter(|r| r.tx_hash == tx).collect();
    let not_payable: Vec<_> =
        scan.unpayable.into_iter().filter(|r| r.request.tx_hash == tx).collect();
    let malformed: Vec<_> = scan.malformed.into_iter().filter(|m| m.tx_hash == tx).collect();
    if payable.is_empty() && not_payable.is_empty() && malformed.is_empty() {
        return Err(PegOutRefusal::NoPegOut { tx, block }.into());
    }
    let heads = core.view().heads;
    Ok(PegOutValidated {
        tx,
        block,
        depth: heads.head.number.saturating_sub(number),
        finalized: !heads.finalized.is_unset() && number <= heads.finalized.number,
        payable,
        not_payable,
        malformed,
    })
}

pub(crate) async fn validate_transaction(core: Arc<Core>, raw: Bytes) -> TxVerdict {
    let view = core.view();
    let context = AdmissionContext {
        timestamp: view
            .heads
            .head
            .timestamp
            .saturating_add(core.config.chain.slot_duration.as_secs()),
        block_gas_limit: view.head_gas_limit.unwrap_or(u64::MAX),
        account: None,
    };
    // Stateless checks first: they find the signer, and spare the EL the obvious junk.
    let signer = match core.admission.admit(&raw, &context) {
        Verdict::Admitted(admitted) => admitted.signer,
        Verdict::Rejected(reason) => return TxVerdict::Rejected(reason),
    };
    let account = match core.port.account(signer).await {
        Ok(a) => AccountState { nonce: a.nonce, balance: a.balance },
        Err(e) => return TxVerdict::Unavailable { reason: e.to_string() },
    };
    let context = AdmissionContext { account: Some(account), ..context };
    if let Verdict::Rejected(reason) = core.admission.admit(&raw, &context) {
        return TxVerdict::Rejected(reason);
    }
    match core.port.send_raw_transaction(raw).await {
        Ok(hash) => TxVerdict::Accepted { hash },
        Err(EngineError::Rpc { message, .. }) => TxVerdict::RefusedByEl { reason: message },
        Err(e) => TxVerdict::Unavailable { reason: e.to_string() },
    }
}
