//! A minimal JSON-RPC caller for the node's own checks (the start-up probe of each execution
//! client, the devnet simulator's nonce lookup and transaction submission). The engine's
//! real traffic goes through engine-client's pool, never through this.

use engine_actor::client::{transport::BoundedBody, urls::redact_url};
use engine_testkit::JwtSecret;
use engine_types::Severity;
use serde_json::{Value, json};
use std::time::Duration;

/// Timeout of one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest reply read, in bytes: the node's own calls (`eth_chainId`, a nonce, a transaction
/// hash) answer in well under a kilobyte; a reply past this is not the JSON-RPC server the
/// URL should name. The body is streamed into a [`BoundedBody`], so memory follows the bytes
/// received, never a declared `Content-Length`.
pub(crate) const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// Characters of a bad reply quoted in an error.
pub(crate) const EXCERPT_CHARS: usize = 256;

/// Why a call failed, in the classes the node reacts to differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RpcFailure {
    /// No connection (refused, reset, timed out).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// HTTP 401/403: the JWT was refused.
    #[error("401 Unauthorized")]
    Unauthorized,
    /// An answer that is not JSON-RPC, or another HTTP status (quoted as an [`excerpt`]).
    #[error("bad answer: {0}")]
    BadAnswer(String),
    /// The reply went past [`MAX_REPLY_BYTES`]; reading stopped there.
    #[error("bad answer: the reply exceeds {limit} bytes (reading stopped there)")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A JSON-RPC error object.
    #[error("error {code}: {message}")]
    Error {
        /// Its code.
        code: i64,
        /// Its message (an [`excerpt`]).
        message: String,
    },
}

impl RpcFailure {
    /// How a caller reacts: an unreachable server may come up (retry); anything else is an
    /// answer from the wrong server or with the wrong secret, which waiting does not change.
    pub(crate) const fn severity(&self) -> Severity {
        match self {
            Self::Unreachable(_) => Severity::Retry,
            Self::Unauthorized
            | Self::BadAnswer(_)
            | Self::TooLarge { .. }
            | Self::Error { .. } => Severity::Fatal,
        }
    }
}

/// At most [`EXCERPT_CHARS`] characters of `bytes` (invalid UTF-8 replaced), control
/// characters escaped (`\n`, `\u{1b}`), and `…` when cut: what of a reply may be put in an
/// error message or a log line.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    // A character is at most 4 bytes: the first EXCERPT_CHARS × 4 bytes hold enough.
    let head = &bytes[..bytes.len().min(EXCERPT_CHARS * 4)];
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    let mut chars = text.chars();
    for c in chars.by_ref().take(EXCERPT_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() || head.len() < bytes.len() {
        out.push('…');
    }
    out
}

/// Reads `response`'s body into a [`BoundedBody`] of `limit` bytes, chunk by chunk; the
/// first chunk that crosses the limit ends the read (dropping the response closes the
/// connection).
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, RpcFailure> {
    let mut body = BoundedBody::new(limit);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| RpcFailure::Unreachable(error_chain(&e.without_url())))?
    {
        body.push(&chunk).map_err(|over| RpcFailure::TooLarge { limit: over.limit })?;
    }
    Ok(body.into_vec())
}

/// An error with its causes, innermost last: reqwest's own message ("error sending
/// request") says nothing of the refused connection underneath.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// One JSON-RPC endpoint, optionally JWT-authenticated. Its `Debug` shows the URL
/// redacted (it may carry `user:password@` or a key in its query) and whether a secret is
/// set, never the secret.
#[derive(Clone)]
pub(crate) struct RpcClient {
    http: reqwest::Client,
    url: String,
    jwt: Option<JwtSecret>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &redact_url(&self.url))
            .field("jwt", &self.jwt.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl RpcClient {
    /// A client of `url`, minting a fresh token from `jwt` for each call when given.
    pub(crate) fn new(url: impl Into<String>, jwt: Option<JwtSecret>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self { http, url: url.into(), jwt })
    }

    /// Calls `method` with `params`; the `result` on success.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, RpcFailure> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(secret) = &self.jwt {
            let token = secret.mint().map_err(|e| RpcFailure::BadAnswer(e.to_string()))?;
            request = request.bearer_auth(token);
        }
        // Without the URL: it may carry credentials.
        let response = request
            .send()
            .await
            .map_err(|e| RpcFailure::Unreachable(error_chain(&e.without_url())))?;
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403) {
            return Err(RpcFailure::Unauthorized);
        }
        let bytes = read_bounded(response, MAX_REPLY_BYTES).await?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
            RpcFailure::BadAnswer(format!("HTTP {status}, not JSON: \"{}\"", excerpt(&bytes)))
        })?;
        if let Some(error) = value.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or_default();
            return Err(RpcFailure::Error {
                code: error.get("code").and_then(Value::as_i64).unwrap_or_default(),
                message: excerpt(message.as_bytes()),
            });
        }
        value.get("result").cloned().ok_or_else(|| {
            RpcFailure::BadAnswer(format!("HTTP {status}, no result: \"{}\"", excerpt(&bytes)))
        })
    }

    /// Calls a method whose result is a QUANTITY.
    pub(crate) async fn call_u64(&self, method: &str, params: Value) -> Result<u64, RpcFailure> {
        let result = self.call(method, params).await?;
        result
            .as_str()
            .and_then(|s| s.strip_prefix("0x"))
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or_else(|| {
                let shown = excerpt(result.to_string().as_bytes());
                RpcFailure::BadAnswer(format!("{method} gave {shown}, not a quantity"))
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    /// How a fake server's reply is framed.
    #[derive(Clone, Copy)]
    pub(crate) enum Framing {
        /// `Content-Length` of 100 MB, then bytes until the client hangs up.
        Declared100Mb,
        /// Chunked, never ending.
        Endless,
        /// This body, once.
        Once(&'static [u8]),
    }

    /// A server on 127.0.0.1 answering every connection with `framing` (a misconfigured
    /// URL pointing at a file server or a stream, the hostile case the probe must survive).
    pub(crate) async fn serve(framing: Framing) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let block = vec![b'x'; 64 * 1024];
                    match framing {
                        Framing::Declared100Mb => {
                            let head = "HTTP/1.1 200 OK\r\ncontent-length: 104857600\r\n\r\n";
                            if socket.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            while socket.write_all(&block).await.is_ok() {}
                        }
                        Framing::Endless => {
                            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                            if socket.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let mut chunk = format!("{:x}\r\n", block.len()).into_bytes();
                            chunk.extend_from_slice(&block);
                            chunk.extend_from_slice(b"\r\n");
                            while socket.write_all(&chunk).await.is_ok() {}
                        }
                        Framing::Once(body) => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            );
                            let _ = socket.write_all(head.as_bytes()).await;
                            let _ = socket.write_all(body).await;
                        }
                    }
                });
            }
        });
        format!("http://{addr}/")
    }

    async fn call(url: String) -> RpcFailure {
        let client = RpcClient::new(url, None).unwrap();
        // Generous: only guards against a hang; the read stops at the limit, not a timeout.
        tokio::time::timeout(Duration::from_secs(30), client.call("eth_chainId", json!([])))
            .await
            .expect("the call ends")
            .expect_err("an oversized reply is refused")
    }

    /// A reply declaring 100 MB, or one that never ends, is read up to the limit only and
    /// refused with the typed error (not a timeout, not an allocation of the declared size).
    #[tokio::test]
    async fn an_oversized_or_endless_reply_stops_at_the_limit() {
        for framing in [Framing::Declared100Mb, Framing::Endless] {
            let failure = call(serve(framing).await).await;
            assert_eq!(failure, RpcFailure::TooLarge { limit: MAX_REPLY_BYTES });
            assert_eq!(failure.severity(), Severity::Fatal);
        }
    }

    /// A reply of exactly the limit is read; one byte more is refused.
    #[tokio::test]
    async fn a_reply_at_the_limit_is_read() {
        let reply = |len: usize| -> &'static [u8] {
            let json = br#"{"jsonrpc":"2.0","id":1,"result":"0x2a"}"#;
            let mut body = json.to_vec();
            body.resize(len, b' ');
            Box::leak(body.into_boxed_slice())
        };
        let at = RpcClient::new(serve(Framing::Once(reply(MAX_REPLY_BYTES))).await, None).unwrap();
        assert_eq!(at.call_u64("eth_chainId", json!([])).await, Ok(42));
        let over = call(serve(Framing::Once(reply(MAX_REPLY_BYTES + 1))).await).await;
        assert_eq!(over, RpcFailure::TooLarge { limit: MAX_REPLY_BYTES });
    }

    /// A reply under the limit that is not JSON is quoted in the error as a bounded
    /// excerpt with its control characters escaped.
    #[tokio::test]
    async fn a_bad_reply_is_quoted_bounded_and_escaped() {
        static BODY: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
            let mut body = b"<html>\x1b[31m\n".to_vec();
            body.extend(std::iter::repeat_n(b'y', 100_000));
            body
        });
        let failure = call(serve(Framing::Once(BODY.as_slice())).await).await;
        let RpcFailure::BadAnswer(text) = &failure else { panic!("{failure:?}") };
        assert!(text.contains("<html>\\u{1b}[31m\\n"), "{text}");
        assert!(!text.chars().any(char::is_control), "{text}");
        assert!(text.ends_with("…\""), "{text}");
        assert!(text.chars().count() < EXCERPT_CHARS + 40, "{} chars", text.chars().count());
    }

    /// `Debug` hides the URL's credentials and query, and the secret.
    #[test]
    fn debug_is_redacted() {
        let secret = engine_testkit::JwtSecret::random();
        let client =
            RpcClient::new("http://alice:hunter2@127.0.0.1:8545/rpc?key=k3y", Some(secret))
                .unwrap();
        let shown = format!("{client:?}");
        assert!(shown.contains("http://***@127.0.0.1:8545/rpc?***"), "{shown}");
        for hidden in ["alice", "hunter2", "k3y"] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
        assert!(shown.contains("<set>"), "{shown}");
    }

    /// The excerpt keeps short text whole and cuts long text at the character bound, never
    /// inside a character.
    #[test]
    fn excerpt_bounds() {
        assert_eq!(excerpt(b"ok"), "ok");
        assert_eq!(excerpt(b"a\tb\r\n"), "a\\tb\\r\\n");
        let long = "é".repeat(EXCERPT_CHARS + 1);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1, "the bound plus the ellipsis");
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("é".repeat(EXCERPT_CHARS).as_bytes()).chars().count(), EXCERPT_CHARS);
    }
}
