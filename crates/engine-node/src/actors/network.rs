//! The Network actor: the node's entry point for transactions. Each raw transaction (from the
//! loopback JSON-RPC endpoint, standing in for gossip) goes to the engine as
//! `ValidateTransaction`, which checks it, rate-limits its peer and forwards it to the
//! execution client; the verdict goes back to the sender.
//!
//! The engine's answer is awaited in a task, so a slow execution client never blocks this
//! actor's mailbox. The tasks are the actor's own: held in a bounded [`JoinSet`]
//! ([`MAX_VERDICTS_IN_FLIGHT`]; one more transaction is answered [`TxVerdict::Unavailable`]
//! at once, which the endpoint answers with its JSON-RPC "unavailable" error), reaped as
//! each ends (it tells the actor, `TaskEnded`), aborted with the actor; a task that panics
//! fails the actor ([`NetworkFailure`]), so that its supervisor restarts it.

use crate::{actors::call_engine, metrics};
use engine_actor::{NetworkRequest, messages::TxVerdict};
use engine_types::{CorrelationId, primitives::Bytes};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::time::Duration;
use tokio::task::JoinSet;
use tracing::Instrument;

/// How long the Network actor waits for the engine's verdict (admission checks plus one
/// `eth_sendRawTransaction`, with the client's own timeout and retries inside).
pub(crate) const VERDICT_TIMEOUT: Duration = Duration::from_secs(15);

/// Verdict tasks in flight at once; one more is answered [`TxVerdict::Unavailable`] (busy)
/// at once. The transaction endpoint's own limit (`[server] tx_max_in_flight`, 64 by
/// default) normally answers its clients first; this bound holds whoever sends to the
/// actor, whatever that limit is set to. Each task is a few hundred bytes and one pending
/// engine call.
pub(crate) const MAX_VERDICTS_IN_FLIGHT: usize = 4096;

/// Tests: the name under which a panic is armed for the next verdict task
/// (`actors::fault`).
#[cfg(test)]
pub(crate) const VERDICT_TASK: &str = "NetworkActor verdict task";

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
    /// A verdict task ended (sent as it ends, or unwinds): the actor reaps it.
    TaskEnded,
}

/// Why the Network actor stopped itself (its supervisor logs it as the child's reason).
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetworkFailure {
    /// A verdict task panicked.
    #[error("a transaction verdict task panicked: {0}")]
    VerdictTaskPanicked(String),
}

/// The Network actor's state: its verdict tasks.
#[derive(Debug, Default)]
pub(crate) struct NetworkState {
    tasks: JoinSet<()>,
}

impl NetworkState {
    /// Reaps the tasks that ended; a panic fails the actor.
    fn reap(&mut self) -> Result<(), NetworkFailure> {
        while let Some(ended) = self.tasks.try_join_next() {
            match ended {
                Ok(()) => {}
                Err(e) if e.is_panic() => {
                    return Err(NetworkFailure::VerdictTaskPanicked(e.to_string()));
                }
                // Only the actor aborts them (by dropping the set): not seen here.
                Err(_) => {}
            }
        }
        Ok(())
    }
}

/// Tells the actor its verdict task ended, when dropped (at its end, or as it unwinds).
struct TaskEnded(ActorRef<NetworkCmd>);

impl Drop for TaskEnded {
    fn drop(&mut self) {
        // The actor may be stopping; the set it held is gone with it then.
        let _ = self.0.send_message(NetworkCmd::TaskEnded);
    }
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
    type State = NetworkState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<NetworkState, ActorProcessingErr> {
        Ok(NetworkState::default())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: NetworkCmd,
        state: &mut NetworkState,
    ) -> Result<(), ActorProcessingErr> {
        state.reap()?;
        let NetworkCmd::Submit { raw, peer, reply } = msg else { return Ok(()) };
        #[cfg(test)]
        crate::actors::fault::check(engine_actor::supervision::tree::names::NETWORK_ACTOR);
        if state.tasks.len() >= MAX_VERDICTS_IN_FLIGHT {
            let verdict = TxVerdict::Unavailable {
                reason: format!(
                    "busy: {MAX_VERDICTS_IN_FLIGHT} transactions are being judged; try again"
                ),
            };
            ::metrics::counter!(metrics::TXS, "verdict" => verdict_label(&verdict)).increment(1);
            if !reply.is_closed() {
                // The sender may have gone in the meantime; nothing to do then.
                let _ = reply.send(verdict);
            }
            return Ok(());
        }
        let ended = TaskEnded(myself);
        state.tasks.spawn(
            async move {
                let _ended = ended;
                #[cfg(test)]
                crate::actors::fault::check(VERDICT_TASK);
                let correlation = CorrelationId::new();
                let verdict = call_engine(
                    |reply| {
                        NetworkRequest::ValidateTransaction { correlation, raw, peer, reply }.into()
                    },
                    VERDICT_TIMEOUT,
                )
                .await
                .unwrap_or_else(|reason| TxVerdict::Unavailable { reason });
                ::metrics::counter!(metrics::TXS, "verdict" => verdict_label(&verdict))
                    .increment(1);
                tracing::debug!(%correlation, verdict = ?verdict, "transaction judged");
                if !reply.is_closed() {
                    // The sender may have gone in the meantime; nothing to do then.
                    let _ = reply.send(verdict);
                }
            }
            .in_current_span(),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::fault::{self, REGISTRY, SilentEngine};
    use engine_actor::supervision::tree::names::ENGINE_ACTOR;
    use ractor::SupervisionEvent;
    use tokio::sync::mpsc;
    use tokio::sync::oneshot;

    /// Only guards against a hang.
    const HANG: Duration = Duration::from_secs(30);

    /// Reports why its children failed.
    struct Watcher;

    impl Actor for Watcher {
        type Msg = ();
        type State = mpsc::UnboundedSender<String>;
        type Arguments = mpsc::UnboundedSender<String>;

        async fn pre_start(
            &self,
            _myself: ActorRef<()>,
            tx: mpsc::UnboundedSender<String>,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(tx)
        }

        async fn handle_supervisor_evt(
            &self,
            _myself: ActorRef<()>,
            event: SupervisionEvent,
            tx: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            if let SupervisionEvent::ActorFailed(_, reason) = event {
                let _ = tx.send(reason.to_string());
            }
            Ok(())
        }
    }

    fn submit(network: &ActorRef<NetworkCmd>) -> oneshot::Receiver<TxVerdict> {
        let (tx, rx) = oneshot::channel();
        let cmd = NetworkCmd::Submit {
            raw: Bytes::from_static(&[0x02]),
            peer: "127.0.0.1".into(),
            reply: tx.into(),
        };
        network.send_message(cmd).unwrap();
        rx
    }

    /// With the bound's worth of transactions waiting for the engine, one more is answered
    /// busy at once; once they end (the engine stops) they are reaped and the next one is
    /// judged again (here: the engine is not running).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transactions_past_the_bound_are_answered_busy() {
        let _turn = REGISTRY.lock().await;
        let (engine, engine_join) =
            Actor::spawn(Some(ENGINE_ACTOR.into()), SilentEngine, ()).await.unwrap();
        let (network, network_join) = Actor::spawn(None, NetworkActor, ()).await.unwrap();
        let waiting: Vec<_> = (0..MAX_VERDICTS_IN_FLIGHT).map(|_| submit(&network)).collect();
        let busy = tokio::time::timeout(HANG, submit(&network)).await.unwrap().unwrap();
        let TxVerdict::Unavailable { reason } = busy else { panic!("{busy:?}") };
        assert!(reason.starts_with("busy"), "{reason}");

        engine.stop(None);
        engine_join.await.unwrap();
        for verdict in waiting {
            let verdict = tokio::time::timeout(HANG, verdict).await.unwrap().unwrap();
            assert!(matches!(verdict, TxVerdict::Unavailable { .. }), "{verdict:?}");
        }
        // The ended tasks are reaped (each told the actor): there is room again.
        let mut next = busy_or_not(&network).await;
        for _ in 0..100 {
            if !next.starts_with("busy") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            next = busy_or_not(&network).await;
        }
        assert!(next.contains("not running"), "{next}");
        network.stop(None);
        network_join.await.unwrap();
    }

    async fn busy_or_not(network: &ActorRef<NetworkCmd>) -> String {
        match tokio::time::timeout(HANG, submit(network)).await.unwrap().unwrap() {
            TxVerdict::Unavailable { reason } => reason,
            other => panic!("{other:?}"),
        }
    }

    /// A verdict task that panics fails the actor with the typed reason (its supervisor
    /// restarts it); its sender gets no verdict rather than a made-up one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_verdict_task_fails_the_actor() {
        let _turn = REGISTRY.lock().await;
        let (tx, mut failures) = mpsc::unbounded_channel();
        let (watcher, watcher_join) = Actor::spawn(None, Watcher, tx).await.unwrap();
        let (network, network_join) =
            Actor::spawn_linked(None, NetworkActor, (), watcher.get_cell()).await.unwrap();
        fault::arm(VERDICT_TASK);
        let verdict = submit(&network);
        let reason = tokio::time::timeout(HANG, failures.recv()).await.unwrap().unwrap();
        assert!(reason.contains("a transaction verdict task panicked"), "{reason}");
        assert!(reason.contains("scripted panic"), "{reason}");
        tokio::time::timeout(HANG, network_join).await.unwrap().unwrap();
        assert!(verdict.await.is_err(), "no verdict from a task that panicked");
        watcher.stop(None);
        watcher_join.await.unwrap();
    }
}
