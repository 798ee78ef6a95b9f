//! The node's two HTTP servers, both on addresses bound at start (so a port in use is
//! reported before anything else runs):
//!
//! - the operator server (`--metrics-addr`): `/metrics` (Prometheus text), `/healthz` (the
//!   process is up), `/readyz` (the engine can build and an execution client is usable),
//!   `/status` (the engine's `GetStatus` as JSON);
//! - the transaction endpoint (`--tx-addr`): JSON-RPC `eth_sendRawTransaction`, handed to
//!   the Network actor, which has the engine check it before it reaches the execution client.

use crate::{
    actors::{
        engine_status,
        network::{NetworkCmd, VERDICT_TIMEOUT},
    },
    error::NodeError,
};
use axum::{
    Json, Router,
    extract::{ConnectInfo, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use engine_actor::{messages::TxVerdict, supervision::tree::names::NETWORK_ACTOR};
use engine_types::primitives::Bytes;
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

/// Serves the operator endpoints until `shutdown` completes.
pub(crate) async fn serve_operator(
    listener: TcpListener,
    metrics: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/status", get(status))
        .with_state(metrics);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn render_metrics(State(handle): State<PrometheusHandle>) -> Response {
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

async fn ready() -> Response {
    match engine_status().await {
        Ok(status) => {
            let usable = status.endpoints.iter().any(engine_actor::port::is_usable);
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

async fn status() -> Response {
    match engine_status().await {
        Ok(status) => Json(status).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": e }))).into_response(),
    }
}

/// Serves the transaction endpoint until `shutdown` completes.
pub(crate) async fn serve_transactions(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/", post(json_rpc));
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// JSON-RPC error codes the endpoint answers with.
mod code {
    pub(super) const PARSE: i64 = -32700;
    pub(super) const INVALID_REQUEST: i64 = -32600;
    pub(super) const METHOD_NOT_FOUND: i64 = -32601;
    pub(super) const INVALID_PARAMS: i64 = -32602;
    pub(super) const SERVER: i64 = -32000;
    /// Geth's "limit exceeded".
    pub(super) const LIMIT: i64 = -32005;
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
