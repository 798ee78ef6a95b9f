//! A parent that supervises nothing but records why its linked child failed, shared by the
//! `actor` and `e2e` test binaries (each includes this file with `#[path]`).

use engine_actor::ActorError;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::mpsc;

/// Records why its linked child failed: the reason downcast to [`ActorError`], `None` when
/// it is another error.
#[derive(Debug, Default)]
pub(crate) struct FailureWatch;

/// Where a [`FailureWatch`] reports. Unbounded on purpose: a watched child fails at most
/// once per incarnation, and a test reads every report.
pub(crate) type Failures = mpsc::UnboundedReceiver<Option<ActorError>>;

impl FailureWatch {
    /// A running watch and the receiver of its reports; link children to the cell.
    pub(crate) async fn start() -> (ActorCell, Failures) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (watch, _) = Actor::spawn(None, Self, tx).await.expect("the watch starts");
        (watch.get_cell(), rx)
    }
}

impl Actor for FailureWatch {
    type Msg = ();
    type State = mpsc::UnboundedSender<Option<ActorError>>;
    type Arguments = mpsc::UnboundedSender<Option<ActorError>>;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        tx: Self::Arguments,
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
            let _ = tx.send(reason.downcast_ref::<ActorError>().cloned());
        }
        Ok(())
    }
}
