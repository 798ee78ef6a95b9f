//! A server running in its own task, watched by the node: a server that panics or ends
//! before it is told to stop ends the node with [`NodeError::ServerStopped`] naming it,
//! instead of leaving the node running without `/status` or the transaction endpoint.

use crate::error::NodeError;
use std::future::Future;
use tokio::task::{JoinError, JoinHandle};

/// One of the node's servers, spawned and watched.
#[derive(Debug)]
pub(crate) struct ServerTask {
    /// The server, in the node's words ("the operator server").
    what: &'static str,
    /// `None` once it has ended and [`Self::ended`] reported it.
    handle: Option<JoinHandle<()>>,
}

impl ServerTask {
    /// Spawns `server` (a future that returns once it is told to stop) as `what`.
    pub(crate) fn spawn(
        what: &'static str,
        server: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self { what, handle: Some(tokio::spawn(server)) }
    }

    /// Resolves when the server has ended, with why, as the error that ends the node; meant
    /// as an arm of the node's `select!` while the server should be running (an end before
    /// the stop signal is always a failure). Cancel-safe; pending forever once it has
    /// resolved.
    pub(crate) async fn ended(&mut self) -> NodeError {
        let Some(handle) = self.handle.as_mut() else { return std::future::pending().await };
        let result = handle.await;
        self.handle = None;
        let reason = match result {
            Ok(()) => "it returned before the node told it to stop".to_string(),
            Err(e) => end_reason(e),
        };
        NodeError::ServerStopped { what: self.what, reason }
    }

    /// Waits for the server to finish once it has been told to stop (its own graceful stop
    /// is bounded by its request timeout); at once if it has ended already. A failure now
    /// concerns a node that is stopping anyway, so it is only logged.
    pub(crate) async fn join(self) {
        let Some(handle) = self.handle else { return };
        if let Err(e) = handle.await {
            tracing::warn!(server = self.what, reason = %end_reason(e), "failed while stopping");
        }
    }
}

/// Why a server's task failed: its panic message, or that it was cancelled (one wording for
/// every owner of a task: engine-client's `panic::task_failure`).
fn end_reason(error: JoinError) -> String {
    let cancelled = error.is_cancelled();
    let reason = engine_actor::client::panic::task_failure(error);
    if cancelled {
        format!("its task was cancelled: {reason}")
    } else {
        format!("it panicked: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        pin::pin,
        task::{Context, Waker},
        time::Duration,
    };

    /// Only guards against a hang; no assertion depends on it.
    const HANG: Duration = Duration::from_secs(30);

    /// Whether `future` is still pending when polled once.
    fn pending(future: impl Future) -> bool {
        pin!(future).as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending()
    }

    /// A server that panics ends the node with an error naming it and the panic; after
    /// that, `ended` stays pending and `join` returns at once.
    #[tokio::test]
    async fn a_panicking_server_is_reported_by_name() {
        let mut task = ServerTask::spawn("the operator server", async {
            panic!("scripted server panic");
        });
        let error = tokio::time::timeout(HANG, task.ended()).await.expect("reported");
        let NodeError::ServerStopped { what, reason } = &error else { panic!("{error:?}") };
        assert_eq!(*what, "the operator server");
        assert_eq!(reason, "it panicked: scripted server panic");
        assert!(error.to_string().contains("the operator server"), "{error}");
        assert_eq!(error.exit_code(), 3, "a restart may help");
        assert!(pending(task.ended()), "reported once");
        tokio::time::timeout(HANG, task.join()).await.expect("joined at once");
    }

    /// A server that returns before it is told to stop is a failure too; one still serving
    /// is not reported, and `join` waits for it to finish.
    #[tokio::test]
    async fn an_early_return_is_reported_and_a_running_server_is_not() {
        let mut early = ServerTask::spawn("the transaction endpoint", async {});
        let error = tokio::time::timeout(HANG, early.ended()).await.expect("reported");
        assert!(
            matches!(&error, NodeError::ServerStopped { what: "the transaction endpoint", reason }
                if reason.contains("returned before")),
            "{error:?}"
        );

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut running = ServerTask::spawn("the operator server", async {
            let _ = stopped.await;
        });
        tokio::task::yield_now().await;
        assert!(pending(running.ended()), "a serving server is not reported");
        stop.send(()).unwrap();
        tokio::time::timeout(HANG, running.join()).await.expect("joined once stopped");
    }
}
