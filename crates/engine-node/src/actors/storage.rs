//! The Storage actor: persists the execution data the engine hands over after every
//! commit (`StoreExecutionData`, sent by its peg-out scan with the block's receipts) as a
//! receipts summary in the embedded database. It is fed on that one path only: the blocks
//! themselves are the execution client's to keep (the embedded devnet has its own journal).
//!
//! Writes run on the blocking pool (each is a durable redb commit) and are awaited, so the
//! actor handles one write at a time in arrival order.

use crate::{
    metrics,
    store::{ExecutionStore, ReceiptsSummary},
};
use engine_actor::peers::StoreExecutionData;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;

/// What the Storage actor accepts.
#[derive(Debug)]
pub(crate) enum StorageMsg {
    /// The engine's receipts of a committed block.
    Execution(StoreExecutionData),
    /// Answered once every earlier message is written (used before stopping: ractor's stop
    /// does not wait for queued messages).
    Flush(RpcReplyPort<()>),
}

impl From<StoreExecutionData> for StorageMsg {
    fn from(data: StoreExecutionData) -> Self {
        Self::Execution(data)
    }
}

impl TryFrom<StorageMsg> for StoreExecutionData {
    type Error = StorageMsg;

    fn try_from(msg: StorageMsg) -> Result<Self, StorageMsg> {
        match msg {
            StorageMsg::Execution(data) => Ok(data),
            other => Err(other),
        }
    }
}

/// The Storage actor (the database is its argument, opened by the node before the tree so
/// that a corrupt file stops the start with a clear message).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StorageActor;

/// Summarizes a block's receipts.
pub(crate) fn summarize(data: &StoreExecutionData) -> ReceiptsSummary {
    ReceiptsSummary {
        hash: data.block_hash,
        receipts: data.receipts.len(),
        failed: data.receipts.iter().filter(|r| !r.status()).count(),
        logs: data.receipts.iter().map(|r| r.inner.logs().len()).sum(),
        gas_used: data.receipts.iter().map(|r| r.gas_used).sum(),
    }
}

impl Actor for StorageActor {
    type Msg = StorageMsg;
    type State = Arc<ExecutionStore>;
    type Arguments = Arc<ExecutionStore>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        store: Arc<ExecutionStore>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(store)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: StorageMsg,
        store: &mut Arc<ExecutionStore>,
    ) -> Result<(), ActorProcessingErr> {
        #[cfg(test)]
        crate::actors::fault::check(engine_actor::supervision::tree::names::STORAGE_ACTOR);
        let store = Arc::clone(store);
        let (what, number) = match &msg {
            StorageMsg::Execution(data) => ("receipts", data.block_number),
            StorageMsg::Flush(_) => ("flush", 0),
        };
        let written = tokio::task::spawn_blocking(move || match msg {
            StorageMsg::Execution(data) => store.put_receipts(data.block_number, &summarize(&data)),
            StorageMsg::Flush(reply) => {
                // Every write before this one has committed durably (they are awaited in
                // turn); the caller may have given up, which changes nothing.
                let _ = reply.send(());
                Ok(())
            }
        })
        .await;
        match written {
            Ok(Ok(())) => {
                if what == "receipts" {
                    ::metrics::counter!(metrics::STORED_RECEIPTS).increment(1);
                }
                Ok(())
            }
            Ok(Err(e)) => {
                // A failed write is reported and counted; the chain goes on (the data can be
                // fetched again from the execution client), but an operator must see it.
                ::metrics::counter!(metrics::STORAGE_ERRORS).increment(1);
                tracing::error!(number, what, error = %e, "storing execution data failed");
                Ok(())
            }
            Err(join) => Err(format!("the storage writer task failed: {join}").into()),
        }
    }
}
