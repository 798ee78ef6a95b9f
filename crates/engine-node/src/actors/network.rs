//! The Network actor: the node's entry point for transactions. Each raw transaction (from the
//! loopback JSON-RPC endpoint, standing in for gossip) goes to the engine as
//! `ValidateTransaction`, which checks it, rate-limits its peer and forwards it to the
//! execution client; the verdict goes back to the sender.
//!
//! The engine's answer is awaited in a task, so a slow execution client never blocks this
//! actor's mailbox.

use crate::{actors::call_engine, metrics};
use engine_actor::{NetworkMsg, messages::TxVerdict};
use engine_types::{CorrelationId, primitives::Bytes};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::time::Duration;

/// How long the Network actor waits for the engine's verdict (admission checks plus one
/// `eth_sendRawTransaction`, with the client's own timeout and retries inside).
pub(crate) const VERDICT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the Network actor accepts.
#[derive(Debug)]
pub(crate) enum NetworkCmd {
    /// A transaction from `peer`.
    Submit {
        /// The EIP-2718 encoded transaction.
        raw: Bytes,
        /// Who sent it (the rate limit is per peer).
        peer: String,
        /// The verdict.
        reply: RpcReplyPort<TxVerdict>,
    },
}

/// The Network actor (no configuration).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NetworkActor;

/// The label of a verdict in metrics.
pub(crate) const fn verdict_label(verdict: &TxVerdict) -> &'static str {
    match verdict {
        TxVerdict::Accepted { .. } => "accepted",
        TxVerdict::Rejected(_) => "rejected",
        TxVerdict::RefusedByEl { .. } => "refused_by_el",
        TxVerdict::RateLimited { .. } => "rate_limited",
        TxVerdict::Unavailable { .. } => "unavailable",
    }
}

impl Actor for NetworkActor {
    type Msg = NetworkCmd;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: NetworkCmd,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let NetworkCmd::Submit { raw, peer, reply } = msg;
        tokio::spawn(async move {
            let correlation = CorrelationId::new();
            let verdict = call_engine(
                |reply| NetworkMsg::ValidateTransaction { correlation, raw, peer, reply }.into(),
                VERDICT_TIMEOUT,
            )
            .await
            .unwrap_or_else(|reason| TxVerdict::Unavailable { reason });
            ::metrics::counter!(metrics::TXS, "verdict" => verdict_label(&verdict)).increment(1);
            tracing::debug!(%correlation, verdict = ?verdict, "transaction judged");
            if !reply.is_closed() {
                // The sender may have gone in the meantime; nothing to do then.
                let _ = reply.send(verdict);
            }
        });
        Ok(())
    }
}
