//! An endpoint's lane: a task that runs that endpoint's calls one at a time, in the order
//! they were queued, so forkchoice updates reach the EL in event order even when the pool
//! stops waiting for it.

use crate::{client::EngineClient, engine_api::BoxFuture};
use std::future::Future;
use tokio::{
    runtime::Handle,
    sync::{mpsc, oneshot},
};

type Job = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// The queue of one endpoint. Its task ends when the lane is dropped and the queue drained.
#[derive(Debug)]
pub(super) struct Lane {
    tx: mpsc::Sender<Job>,
}

impl Lane {
    /// A lane holding at most `depth` waiting calls, run on `runtime`.
    pub(super) fn spawn(runtime: &Handle, depth: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(depth.max(1));
        runtime.spawn(async move {
            while let Some(job) = rx.recv().await {
                job().await;
            }
        });
        Self { tx }
    }

    /// Queues `f(client)`; its result arrives on the receiver. `None` when the lane is full
    /// (the endpoint is stuck) or gone. The call runs to completion even if the receiver is
    /// dropped.
    pub(super) fn submit<T, F, Fut>(
        &self,
        client: &EngineClient,
        f: F,
    ) -> Option<oneshot::Receiver<T>>
    where
        T: Send + 'static,
        F: FnOnce(EngineClient) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let client = client.clone();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                // The caller may have stopped waiting; the call still had to run in order.
                let _ = tx.send(f(client).await);
            })
        });
        self.tx.try_send(job).ok()?;
        Some(rx)
    }

    /// Queues `f(client)` and waits for it; `None` when the lane is full or gone.
    pub(super) async fn run<T, F, Fut>(&self, client: &EngineClient, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(EngineClient) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.submit(client, f)?.await.ok()
    }
}
