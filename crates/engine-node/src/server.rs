//! The node's two HTTP servers, both on addresses bound at start (so a port in use is
//! reported before anything else runs):
//!
//! - the operator server (`--metrics-addr`): `/metrics` (Prometheus text), `/healthz` (the
//!   process is up), `/readyz` (the engine can build and an execution client is usable),
//!   `/status` (the engine's `GetStatus` and the supervision tree's status as JSON; `503`
//!   with the tree's part and the engine's error while the engine does not answer);
//! - the transaction endpoint (`--tx-addr`): JSON-RPC `eth_sendRawTransaction`, handed to
//!   the Network actor, which has the engine check it before it reaches the execution client.
//!
//! Both are bounded by the `[server]` section ([`limits::ServerLimits`]): connections,
//! header and request deadlines ([`listen`]); the transaction endpoint also by a body cap
//! (`413`) and a global in-flight and rate limit ([`gate`]). A server bound beyond loopback
//! is warned about once at start ([`listen::warn_if_exposed`]). Each runs in a task the node
//! watches ([`task::ServerTask`]): a server that fails ends the node.

pub(crate) mod gate;
pub(crate) mod limits;
pub(crate) mod listen;
pub(crate) mod task;

use crate::{
    actors::{
        engine_status,
        network::{NetworkCmd, VERDICT_TIMEOUT},
    },
    error::NodeError,
};
use axum::{
    Json, Router,
    extract::{ConnectInfo, DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use engine_actor::{messages::TxVerdict, supervision::tree::names::NETWORK_ACTOR};
use engine_types::primitives::Bytes;
use limits::ServerLimits;
use listen::ConnLimits;
use metrics_exporter_prometheus::PrometheusHandle;
use ractor::{ActorRef, registry, rpc::CallResult};
use serde_json::{Value, json};
use std::{future::Future, io::ErrorKind, net::SocketAddr};
use tokio::net::TcpListener;

/// Binds `addr` for `what`, turning "address in use" into its own error.
pub(crate) async fn bind(
    addr: SocketAddr,
    what: &'static str,
    flag: &'static str,
) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        ErrorKind::AddrInUse => NodeError::PortInUse { what, flag, addr },
        _ => NodeError::Listen { what, flag, addr, reason: e.to_string() },
    })
}

/// Serves the operator endpoints within `limits` until `shutdown` completes.
pub(crate) async fn serve_operator(
    listener: TcpListener,
    metrics: PrometheusHandle,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/status", get(status))
        .with_state(metrics.clone());
    let conn = ConnLimits {
        max_connections: limits.operator_max_connections,
        header_timeout: limits.header_timeout,
        request_timeout: limits.request_timeout,
    };
    // The recorder keeps every histogram sample until upkeep folds it into the buckets; a
    // node nobody scrapes would otherwise grow by each sample (about 0.25 KB a block, seen
    // in `cargo xtask soak`). The upkeep runs inside this task, so it is watched with it.
    tokio::select! {
        () = listen::serve(listener, app, conn, shutdown) => {}
        () = upkeep(metrics) => {}
    }
}

/// How often the recorder's histogram samples are folded into their buckets: what
/// `PrometheusBuilder::install` would do (5 s), for a recorder the node serves itself.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the recorder's upkeep every [`METRICS_UPKEEP`], forever.
async fn upkeep(handle: PrometheusHandle) {
    let mut every = tokio::time::interval(METRICS_UPKEEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        handle.run_upkeep();
    }
}

async fn render_metrics(State(handle): State<PrometheusHandle>) -> Response {
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

async fn ready() -> Response {
    match engine_status().await {
        Ok(status) => {
            let usable = status
                .endpoints
                .iter()
                .any(engine_actor::client::health::EndpointStatus::is_usable);
            if status.state.can_build() && usable {
                (StatusCode::OK, format!("ready: engine {}\n", status.state)).into_response()
            } else {
                let why = if usable { "" } else { ", no usable execution client" };
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: engine {}{why}\n", status.state),
                )
                    .into_response()
            }
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

/// `200` with the engine's status and the tree's; `503` when the engine does not answer
/// (restarting), with the tree's part and the engine's error.
async fn status() -> Response {
    let status = crate::tree::node_status().await;
    let code =
        if status.engine_answered() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(status)).into_response()
}

/// Serves the transaction endpoint within `limits` until `shutdown` completes.
pub(crate) async fn serve_transactions(
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let conn = ConnLimits {
        max_connections: limits.tx_max_connections,
        header_timeout: limits.header_timeout,
        request_timeout: limits.request_timeout,
    };
    listen::serve(listener, transactions_app(&limits), conn, shutdown).await;
}

/// The transaction endpoint's routes: the global [`gate`] admits a request before its body
/// (at most `tx_max_body_bytes`, else `413`) is read.
fn transactions_app(limits: &ServerLimits) -> Router {
    Router::new()
        .route("/", post(json_rpc))
        .layer(DefaultBodyLimit::max(limits.tx_max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(gate::Gate::new(limits), gate::admit))
}

/// JSON-RPC error codes the endpoint answers with.
mod code {
    pub(super) const PARSE: i64 = -32700;
    pub(super) const INVALID_REQUEST: i64 = -32600;
    pub(super) const METHOD_NOT_FOUND: i64 = -32601;
    pub(super) const INVALID_PARAMS: i64 = -32602;
    pub(super) const SERVER: i64 = -32000;
    /// Geth's "limit exceeded".
    pub(super) const LIMIT: i64 = super::gate::LIMIT;
    pub(super) const UNAVAILABLE: i64 = -32603;
}

fn rpc_error(id: &Value, code: i64, message: String) -> Json<Value> {
    Json(json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }))
}

async fn json_rpc(ConnectInfo(peer): ConnectInfo<SocketAddr>, body: String) -> Json<Value> {
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return rpc_error(&Value::Null, code::PARSE, "parse error: the body is not JSON".into());
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return rpc_error(&id, code::INVALID_REQUEST, "invalid request: no method".into());
    };
    if method != "eth_sendRawTransaction" {
        return rpc_error(
            &id,
            code::METHOD_NOT_FOUND,
            format!(
                "method {method} not found: this endpoint takes eth_sendRawTransaction only; \
                 send queries to the execution client's public JSON-RPC URL"
            ),
        );
    }
    let raw = request
        .get("params")
        .and_then(|p| p.get(0))
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|s| hex::decode(s).ok());
    let Some(raw) = raw else {
        return rpc_error(&id, code::INVALID_PARAMS, "invalid params: expected [\"0x…\"]".into());
    };
    let Some(network) = registry::where_is(NETWORK_ACTOR).map(ActorRef::<NetworkCmd>::from) else {
        return rpc_error(&id, code::UNAVAILABLE, "the network actor is not running".into());
    };
    let verdict = network
        .call(
            |reply| NetworkCmd::Submit {
                raw: Bytes::from(raw),
                peer: peer.ip().to_string(),
                reply,
            },
            Some(VERDICT_TIMEOUT),
        )
        .await;
    let verdict = match verdict {
        Ok(CallResult::Success(v)) => v,
        Ok(CallResult::Timeout) => TxVerdict::Unavailable { reason: "no verdict in time".into() },
        Ok(CallResult::SenderError) | Err(_) => {
            TxVerdict::Unavailable { reason: "the network actor stopped".into() }
        }
    };
    match verdict {
        TxVerdict::Accepted { hash } => Json(json!({ "jsonrpc": "2.0", "id": id, "result": hash })),
        TxVerdict::Rejected(rejection) => {
            rpc_error(&id, code::SERVER, format!("rejected by the engine: {rejection}"))
        }
        TxVerdict::RefusedByEl { reason } => {
            rpc_error(&id, code::SERVER, format!("refused by the execution client: {reason}"))
        }
        TxVerdict::RateLimited { retry_after } => rpc_error(
            &id,
            code::LIMIT,
            format!("rate limited: retry after {} ms", retry_after.as_millis()),
        ),
        TxVerdict::Unavailable { reason } => {
            rpc_error(&id, code::UNAVAILABLE, format!("unavailable: {reason}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    /// Only guards against a hang; no assertion depends on it.
    const HANG: Duration = Duration::from_secs(30);

    /// A request the endpoint answers without the actors (an unknown method).
    const QUERY: &str = r#"{"jsonrpc":"2.0","id":7,"method":"eth_chainId","params":[]}"#;

    async fn start(limits: ServerLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(serve_transactions(listener, limits, async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    fn post_head(length: usize) -> String {
        format!(
            "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\n\
             content-length: {length}\r\n\r\n"
        )
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(HANG, stream.read_to_end(&mut answer)).await.expect("closed");
        String::from_utf8_lossy(&answer).into_owned()
    }

    async fn post(addr: SocketAddr, body: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("{}{body}", post_head(body.len())).as_bytes()).await.unwrap();
        read_all(&mut stream).await
    }

    /// A body over the cap is answered 413; one at the cap is read and answered.
    #[tokio::test]
    async fn bodies_over_the_cap_get_413() {
        let cap = QUERY.len() + 16;
        let (addr, _stop) =
            start(ServerLimits { tx_max_body_bytes: cap, ..ServerLimits::default() }).await;
        let at_cap = format!("{QUERY:<cap$}");
        let answer = post(addr, &at_cap).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("-32601"), "{answer}");
        let over = format!("{QUERY:<width$}", width = cap + 1);
        let answer = post(addr, &over).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }

    /// With the in-flight limit held by a request still sending its body, the next is
    /// answered 503 with a JSON-RPC limit error; once the first completes, it is answered
    /// and the next one is admitted.
    #[tokio::test]
    async fn in_flight_past_the_limit_get_503_then_service_resumes() {
        let (addr, _stop) =
            start(ServerLimits { tx_max_in_flight: 1, ..ServerLimits::default() }).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        first.write_all(post_head(QUERY.len()).as_bytes()).await.unwrap();
        first.write_all(&QUERY.as_bytes()[..10]).await.unwrap();
        // The first holds its place once the server has its headers: wait until it does.
        let refused = tokio::time::timeout(HANG, async {
            loop {
                let answer = post(addr, QUERY).await;
                if answer.starts_with("HTTP/1.1 503") {
                    return answer;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("refused while the first is in flight");
        assert!(refused.contains("retry-after: 1"), "{refused}");
        assert!(refused.contains("-32005") && refused.contains("in flight"), "{refused}");
        first.write_all(&QUERY.as_bytes()[10..]).await.unwrap();
        let answer = read_all(&mut first).await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("-32601"), "{answer}");
        let answer = post(addr, QUERY).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// Past the global burst, requests from any client are answered 429 with Retry-After.
    #[tokio::test]
    async fn the_global_rate_gives_429() {
        let limits =
            ServerLimits { tx_rate_burst: 2, tx_rate_per_second: 0.01, ..ServerLimits::default() };
        let (addr, _stop) = start(limits).await;
        for _ in 0..2 {
            let answer = post(addr, QUERY).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        let answer = post(addr, QUERY).await;
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(answer.contains("-32005") && answer.contains("all clients"), "{answer}");
        let retry: u64 = answer
            .lines()
            .find_map(|l| l.strip_prefix("retry-after: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("a Retry-After header");
        assert!(retry >= 1, "{answer}");
    }
}
