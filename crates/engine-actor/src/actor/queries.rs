//! Read-only requests and transaction admission: independent of the forkchoice order, so
//! each runs as its own task and answers through its reply port.

use super::core::Core;
use crate::{
    error::ActorError,
    messages::{HeadTag, TxVerdict},
};
use engine_types::{
    EngineError,
    eips::BlockId,
    engine::{ExecutionPayload, ExecutionPayloadSidecar},
    primitives::{B256, Bytes},
};
use engine_validation::{AccountState, AdmissionContext, Verdict};
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
    let block = core
        .port
        .block(BlockId::hash(target.hash), true)
        .await?
        .ok_or_else(|| ActorError::UnknownBlock { block: target.hash.to_string() })?;
    let hash = block.header.hash;
    let block = block.into_consensus().map_transactions(|tx| tx.into_inner());
    Ok(ExecutionPayload::from_block_unchecked(hash, &block))
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
