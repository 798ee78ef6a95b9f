//! A minimal JSON-RPC client for the testkit's own tests (the real client lives in
//! engine-client, which the testkit must not depend on).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use engine_testkit::ElPorts;
use engine_testkit::JwtSecret;
use serde_json::{Value, json};

/// Talks JSON-RPC to one URL, minting a fresh JWT per request when given a secret.
#[derive(Debug, Clone)]
pub struct Rpc {
    http: reqwest::Client,
    url: String,
    secret: Option<JwtSecret>,
}

impl Rpc {
    pub fn engine(el: &engine_testkit::MockEl) -> Self {
        Self::new(el.engine_url(), Some(el.jwt_secret().clone()))
    }

    pub fn public(el: &engine_testkit::MockEl) -> Self {
        Self::new(el.public_url(), None)
    }

    pub fn new(url: String, secret: Option<JwtSecret>) -> Self {
        // No pooled connections: tests take servers down and bring them back, and a pooled
        // connection to the old listener can be handed out before its close is noticed.
        let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        Self { http, url, secret }
    }

    /// Send with an explicit `Authorization` header value (or none).
    pub async fn send_with_auth(
        &self,
        method: &str,
        params: Value,
        auth: Option<String>,
    ) -> reqwest::Result<reqwest::Response> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send().await
    }

    /// Send with a fresh token when a secret is known.
    pub async fn send(&self, method: &str, params: Value) -> reqwest::Result<reqwest::Response> {
        let auth = self.secret.as_ref().map(|s| format!("Bearer {}", s.mint().unwrap()));
        self.send_with_auth(method, params, auth).await
    }

    /// The whole response object.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let resp = self.send(method, params).await.unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        serde_json::from_str(&resp.text().await.unwrap()).unwrap()
    }

    /// The `result`, failing the test on a JSON-RPC error.
    pub async fn result(&self, method: &str, params: Value) -> Value {
        let body = self.call(method, params).await;
        assert!(body.get("error").is_none(), "{method} failed: {body}");
        body["result"].clone()
    }

    /// The error code, failing the test on success.
    pub async fn error_code(&self, method: &str, params: Value) -> i64 {
        let body = self.call(method, params).await;
        body["error"]["code"].as_i64().unwrap_or_else(|| panic!("{method} succeeded: {body}"))
    }
}
