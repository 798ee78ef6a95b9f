//! An endpoint's lane: a task that runs that endpoint's calls one at a time, in the order
//! they were queued, so forkchoice updates reach the EL in event order even when the pool
//! stops waiting for it.
//!
//! The lane owns each call's task: it runs the call as a task of its own and watches its
//! `JoinHandle`, so a call that panics (a bug in the engine) fails that call, not the lane.
//! The panic is recorded on the endpoint's health (counted in
//! [`EndpointStatus::panics`](crate::health::EndpointStatus::panics), which the pool's owner
//! watches, and the endpoint marked lagging), and the caller gets
//! [`ClientError::LaneFailed`] instead of a silently dropped call. Each call carries the
//! caller's tracing span and correlation id into the lane, so its HTTP requests belong to the
//! caller's trace.

use crate::{
    BoxFuture, client::EngineClient, error::ClientError, panic::task_failure, traceparent::scoped,
};
use std::future::Future;
use tokio::{
    runtime::Handle,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::Instrument;

type Job = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Why a call could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// `depth` calls already wait: the endpoint is stuck.
    Full,
    /// The lane's task is gone (its runtime is shutting down).
    Gone,
}

/// A queued call's answer, or why it has none.
pub(super) type Answer<T> = Result<T, ClientError>;

/// A queued call: its answer arrives on the receiver.
pub(super) struct Pending<T> {
    rx: oneshot::Receiver<T>,
    endpoint: String,
}

impl<T> Pending<T> {
    /// Waits for the call. A call whose task panicked (or whose lane stopped) dropped its
    /// answer: that is [`ClientError::LaneFailed`].
    pub(super) async fn answer(self) -> Answer<T> {
        self.rx.await.map_err(|_| ClientError::LaneFailed {
            endpoint: self.endpoint,
            reason: "the call panicked (a bug in the engine; see the error log), or the lane \
                     stopped"
                .into(),
        })
    }
}

/// The queue of one endpoint. Its task ends when the lane is dropped and the queue drained.
#[derive(Debug)]
pub(super) struct Lane {
    tx: mpsc::Sender<Job>,
    task: JoinHandle<()>,
}

impl Lane {
    /// A lane holding at most `depth` waiting calls to `client`, run on `runtime`.
    pub(super) fn spawn(runtime: &Handle, depth: usize, client: &EngineClient) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(depth.max(1));
        let task = runtime.spawn(run(rx, client.clone(), runtime.clone()));
        Self { tx, task }
    }

    /// Queues `f(client)` in the caller's span and correlation scope; the call runs to
    /// completion even if the caller stops waiting for it.
    pub(super) fn submit<T, F, Fut>(
        &self,
        client: &EngineClient,
        f: F,
    ) -> Result<Pending<T>, Refused>
    where
        T: Send + 'static,
        F: FnOnce(EngineClient) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        if self.task.is_finished() {
            return Err(Refused::Gone);
        }
        let (tx, rx) = oneshot::channel();
        let endpoint = client.name().to_string();
        let client = client.clone();
        // The call runs in another task: it takes the caller's span (so its requests are
        // children of the caller's, in one trace) and correlation id (the requests'
        // `traceparent`) along.
        let span = tracing::Span::current();
        let correlation = crate::traceparent::current_correlation();
        let job: Job = Box::new(move || {
            Box::pin(
                async move {
                    // The caller may have stopped waiting; the call still had to run in order.
                    let _ = tx.send(scoped(correlation, f(client)).await);
                }
                .instrument(span),
            )
        });
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refused::Full,
            mpsc::error::TrySendError::Closed(_) => Refused::Gone,
        })?;
        Ok(Pending { rx, endpoint })
    }

    /// Queues `f(client)` and waits for it.
    pub(super) async fn run<T, F, Fut>(
        &self,
        client: &EngineClient,
        f: F,
    ) -> Result<Answer<T>, Refused>
    where
        T: Send + 'static,
        F: FnOnce(EngineClient) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        Ok(self.submit(client, f)?.answer().await)
    }

    /// Queues a call that panics: a bug inside a lane's call, for the tests of what the pool
    /// and its owner do about one.
    #[cfg(any(test, feature = "testing"))]
    pub(super) fn inject_panic(&self, client: &EngineClient) -> Result<Pending<()>, Refused> {
        self.submit(client, |_| async { panic!("injected panic in a lane call (testing)") })
    }
}

/// The lane's loop: each call in its own task, one at a time; a call that panicked is
/// recorded on the endpoint and the next one runs.
async fn run(mut rx: mpsc::Receiver<Job>, client: EngineClient, runtime: Handle) {
    while let Some(job) = rx.recv().await {
        if let Err(e) = runtime.spawn(job()).await
            && e.is_panic()
        {
            client.health().on_panic("lane", &task_failure(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{client::ClientConfig, jwt::JwtSecret};
    use std::time::Duration;

    fn client() -> EngineClient {
        let secret = JwtSecret::from_hex(&"11".repeat(32)).unwrap();
        EngineClient::new(ClientConfig::new("http://127.0.0.1:1", secret)).unwrap()
    }

    /// A call that panics fails with a typed error naming the endpoint; the panic is counted
    /// on the endpoint, which is marked lagging; the lane runs the next calls.
    #[tokio::test]
    async fn a_panicking_call_fails_alone() {
        let client = client();
        let lane = Lane::spawn(&Handle::current(), 4, &client);
        let err = lane.inject_panic(&client).unwrap().answer().await.unwrap_err();
        assert!(
            matches!(&err, ClientError::LaneFailed { endpoint, .. } if endpoint == client.name()),
            "{err:?}"
        );
        assert_eq!(err.severity(), engine_types::Severity::Reset);
        assert_eq!(lane.run(&client, |_| async { 7 }).await.unwrap().unwrap(), 7);
        let status = client.status();
        assert_eq!(status.panics, 1);
        assert!(status.lagging);
        assert!(
            status.last_error.as_deref().is_some_and(|e| e.contains("injected panic")),
            "{status:?}"
        );
    }

    /// A full lane refuses the next call; a lane whose task is gone says so.
    #[tokio::test]
    async fn full_and_gone() {
        let client = client();
        let lane = Lane::spawn(&Handle::current(), 1, &client);
        let (hold, held) = oneshot::channel::<()>();
        let first = lane.submit(&client, |_| async move { held.await.ok() }).unwrap();
        // Wait until the lane took the first call off its queue, then fill the queue (a
        // lane that never takes it fails the test instead of hanging it).
        let taken = async {
            while lane.tx.capacity() == 0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), taken).await.expect("the lane takes it");
        let _second = lane.submit(&client, |_| async {}).unwrap();
        assert_eq!(lane.submit(&client, |_| async {}).err(), Some(Refused::Full));
        hold.send(()).unwrap();
        assert_eq!(first.answer().await.unwrap(), Some(()));
        lane.task.abort();
        let ended = async {
            while !lane.task.is_finished() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), ended).await.expect("the lane ends");
        assert_eq!(lane.submit(&client, |_| async {}).err(), Some(Refused::Gone));
    }
}
