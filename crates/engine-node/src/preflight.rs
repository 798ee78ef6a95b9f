//! Checks made before the engine starts, so that the usual mistakes get a clear message
//! instead of an engine stuck in its error state: each execution client is reached on its
//! Engine API port with its JWT (`eth_chainId`), and its chain id is compared with the
//! genesis. An unreachable client is waited for with a visible countdown (unless
//! `--fail-fast`); a refused JWT or another chain stops the start at once. URLs appear in
//! its logs and errors only redacted (no `user:password@`, no query).

use crate::{
    error::{NodeError, START_RETRY_INTERVAL},
    rpc::RpcClient,
    settings::ExternalEndpoint,
};
use engine_actor::client::urls::redact_url;
use engine_types::{EngineError, Severity, TransportError};
use std::future::Future;

/// What the probe of one endpoint found.
enum Probe {
    /// It answered with the right chain id.
    Ok,
    /// It could not be reached.
    Unreachable(String),
}

async fn probe(
    endpoint: &ExternalEndpoint,
    expected: u64,
    expected_from: &str,
) -> Result<Probe, NodeError> {
    let url = redact_url(&endpoint.engine_url);
    let client = RpcClient::new(&endpoint.engine_url, &endpoint.name, Some(&endpoint.secret))
        .map_err(|e| NodeError::Runtime { reason: e.to_string() })?;
    match client.call_u64("eth_chainId", &[(); 0]).await {
        Ok(actual) if actual == expected => Ok(Probe::Ok),
        Ok(actual) => Err(NodeError::ChainIdMismatch {
            url,
            actual,
            expected,
            expected_from: expected_from.to_string(),
        }),
        // The secrets differ or the clocks are apart: the message says which.
        Err(e @ EngineError::Auth { .. }) => Err(NodeError::ElUnauthorized {
            url,
            jwt: endpoint.jwt_path.clone(),
            cause: e.to_string(),
        }),
        Err(e) => match e.severity() {
            // Not up yet (refused, timed out, 5xx while it starts): waited for.
            Severity::Retry => Ok(Probe::Unreachable(match e {
                EngineError::Transport(TransportError::Connect { reason, .. }) => reason,
                other => other.to_string(),
            })),
            // Something else answers there (an oversized or non-JSON-RPC reply included).
            Severity::Reset | Severity::Fatal => {
                Err(NodeError::ElBadAnswer { url, reason: e.to_string() })
            }
        },
    }
}

/// Probes every endpoint until at least one answers; the others are reported as down (the
/// pool keeps probing them). Returns `false` when `interrupted` completed first.
pub(crate) async fn wait_for_clients(
    endpoints: &[ExternalEndpoint],
    expected_chain_id: u64,
    expected_from: &str,
    fail_fast: bool,
    interrupted: impl Future<Output = ()>,
) -> Result<bool, NodeError> {
    tokio::pin!(interrupted);
    let mut attempt = 1u32;
    loop {
        let mut down = Vec::new();
        for endpoint in endpoints {
            match probe(endpoint, expected_chain_id, expected_from).await? {
                Probe::Ok => {
                    tracing::info!(endpoint = %endpoint.name, chain_id = expected_chain_id,
                    "execution client reachable")
                }
                Probe::Unreachable(reason) => down.push((endpoint, reason)),
            }
        }
        if down.len() < endpoints.len() {
            for (endpoint, reason) in down {
                tracing::warn!(endpoint = %endpoint.name, %reason,
                    "execution client unreachable; starting with the others");
            }
            return Ok(true);
        }
        let (first, reason) = &down[0];
        if fail_fast {
            return Err(NodeError::ElUnreachable {
                url: redact_url(&first.engine_url),
                reason: reason.clone(),
            });
        }
        let secs = START_RETRY_INTERVAL.as_secs();
        tracing::warn!(url = %redact_url(&first.engine_url), %reason, attempt,
            "execution client unreachable; is it running? retrying (Ctrl-C to stop, --fail-fast to exit)");
        for left in (1..=secs).rev() {
            tracing::info!("retrying in {left}s");
            tokio::select! {
                () = &mut interrupted => return Ok(false),
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{
        MAX_REPLY_BYTES,
        tests::{Framing, serve},
    };
    use engine_types::jwt::JwtSecret;

    /// A URL that answers an endless body (another service, not an execution client) stops
    /// the start with the bad-answer error naming the limit, without waiting for it.
    #[tokio::test]
    async fn an_endless_answer_stops_the_start() {
        let endpoint = ExternalEndpoint {
            name: "el".into(),
            engine_url: serve(Framing::Endless).await,
            jwt_path: "/unused/jwt.hex".into(),
            secret: JwtSecret::random(),
        };
        let never = std::future::pending::<()>();
        let started = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            wait_for_clients(&[endpoint], 1, "the test", false, never),
        )
        .await
        .expect("decided without waiting");
        let Err(error @ NodeError::ElBadAnswer { .. }) = started else { panic!("{started:?}") };
        let text = error.to_string();
        assert!(text.contains(&format!("exceeds the {MAX_REPLY_BYTES}-byte limit")), "{text}");
        assert_eq!(error.severity(), Severity::Fatal);
    }
}
