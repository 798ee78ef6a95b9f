//! SIGINT (Ctrl-C) and SIGTERM, turned into one signal every part of the node can wait on.

use tokio::sync::watch;

/// Fires once, when the first SIGINT or SIGTERM arrives.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    rx: watch::Receiver<Option<&'static str>>,
}

impl Shutdown {
    /// Installs the signal handlers (inside the runtime).
    pub(crate) fn install() -> std::io::Result<Self> {
        let (tx, rx) = watch::channel(None);
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            #[cfg(unix)]
            let name = tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            #[cfg(not(unix))]
            let name = {
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            };
            // Receivers live as long as the node; if none is left, nobody needs to know.
            let _ = tx.send(Some(name));
        });
        Ok(Self { rx })
    }

    /// Resolves with the signal's name once one arrived.
    pub(crate) async fn wait(&self) -> &'static str {
        let mut rx = self.rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(name) => name.unwrap_or("signal"),
            // The handler task is gone (the runtime is ending): treat it as a signal.
            Err(_) => "shutdown",
        }
    }
}
