//! JSON-RPC 2.0 over HTTP(S): one POST per call, on kept-alive, reused connections.
//!
//! ```text
//! params ──serde_json::to_vec──> {"jsonrpc":"2.0","id":N,"method":…,"params":…}
//!        ──POST + Authorization: Bearer <fresh JWT> + traceparent──> EL
//! body (read chunk by chunk into a buffer that grows with what arrived, stopped at the limit)
//!        ──envelope and typed result in one pass (a plain success)──> value
//!        └─ anything else: borrowed envelope (id checked, result/error kept raw) ──> typed
//!           parse, which words the error ([`ResultReader`])
//! ```
//!
//! Every failure is an [`EngineError`]: the connection ([`TransportError::Connect`]), the
//! clock ([`TransportError::Timeout`], which covers connecting, sending and reading the whole
//! body, so a server that trickles bytes cannot wedge a caller), HTTP 401/403
//! ([`EngineError::Auth`], with the gap between the EL's clock, from its `Date` header, and
//! the signer's, so the message says whether the clocks or the secrets differ), any other
//! non-200 status, an oversized body, and anything that breaks JSON-RPC — wrong `jsonrpc`,
//! wrong `id`, both or neither of `result` and `error` — which is
//! [`EngineError::BadResponse`], never success.
//!
//! Memory per response is bounded by the limit, never by what the server declares: a
//! `Content-Length` above the limit is refused before reading, and the body is collected in
//! a [`BoundedBody`] whose capacity grows with the bytes received, never past the limit
//! (chunked and close-delimited bodies included); reading stops at the first byte over it.
//! A declared length within the limit reserves room up front, at most
//! [`DECLARED_RESERVE_MAX`].
//! An error status reads at most [`ERROR_BODY_QUOTE`] + 1 bytes of its body and quotes it as an
//! [`excerpt`] (control characters escaped).
//!
//! Network hygiene: proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, …) are
//! ignored unless a proxy is configured explicitly ([`TransportOptions::proxy`]); redirects
//! are not followed (they would take the JWT along); URLs are only ever shown redacted
//! ([`redact_url`]); and building an authenticated transport for plain `http://` to a host
//! that is not loopback logs one warning ([`jwt_in_clear`]).
//!
//! Kept on reqwest instead of alloy's transport (`alloy-transport-http`, `alloy-json-rpc`,
//! `alloy-rpc-client` 2.5, read 2026-12): alloy reads a whole answer with no size limit,
//! puts whole error bodies unescaped in its errors, does not check a single answer's `id`
//! nor `jsonrpc`, reports a 401 without the clock gap, has no per-call timeout, and its
//! `AuthLayer` wraps only the hyper transport (OpenSSL, not reqwest with rustls) and reuses
//! a token's `iat` for up to 5 s (Reth signs each request with its own layer). Taking it
//! would grow engine-client, which downstream crates take alone, from 212 to 243 crates
//! (14 new to the workspace, `openssl-sys` among them, and a second `jsonwebtoken`), and
//! every behaviour above would still have to be written around it.

mod reader;

pub use reader::{NoCheck, ReadResult, ResultReader};

use crate::{
    error::ClientError,
    jwt::JwtAuth,
    metrics,
    traceparent::{TraceParent, current_correlation},
    urls::{jwt_in_clear, redact_url},
};
use engine_types::{EngineError, RpcErrorCode, TransportError};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::{
    borrow::Cow,
    fmt,
    io::Read,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};
use tracing::{Instrument, field};

/// Most characters of an answer quoted in an error ([`TransportError::HttpStatus`], an answer
/// that is not JSON-RPC), as an [`excerpt`]; no more of an error body is read.
pub const ERROR_BODY_QUOTE: usize = 256;

/// The largest TLS CA bundle file read ([`TransportOptions::tls_ca_bundle`]); a system-wide
/// bundle of every public root is about 200 KiB.
pub const MAX_CA_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

/// How a transport reaches its endpoint, beyond the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportOptions {
    /// Largest response body accepted, in bytes.
    pub max_response_bytes: u64,
    /// The proxy every request goes through (`http://`, `https://` or `socks5://` URL,
    /// credentials allowed). `None`: none at all, whatever `HTTP_PROXY`, `HTTPS_PROXY`,
    /// `ALL_PROXY` or `NO_PROXY` say, so that Engine API traffic (and its JWT) never goes
    /// to a proxy nobody configured for it.
    pub proxy: Option<String>,
    /// A PEM file of extra root certificates trusted for `https://` endpoints, on top of the
    /// platform's (e.g. the CA that signed a private execution client's certificate).
    pub tls_ca_bundle: Option<PathBuf>,
}

impl fmt::Debug for TransportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportOptions")
            .field("max_response_bytes", &self.max_response_bytes)
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .field("tls_ca_bundle", &self.tls_ca_bundle)
            .finish()
    }
}

impl TransportOptions {
    /// Bodies up to `max_response_bytes`, no proxy, the platform's roots only.
    pub const fn new(max_response_bytes: u64) -> Self {
        Self { max_response_bytes, proxy: None, tls_ca_bundle: None }
    }
}

/// A response body collected under a limit: its capacity grows with the bytes received
/// (doubling, so the copies stay linear) and never past the limit; a push that would cross
/// the limit is refused and adds nothing. A declared length is taken as a hint only, up to
/// [`DECLARED_RESERVE_MAX`] ([`expecting`](Self::expecting)).
#[derive(Debug)]
pub struct BoundedBody {
    bytes: Vec<u8>,
    limit: usize,
}

/// The most a declared `Content-Length` reserves before any byte arrives. Reserving a whole
/// 230 KB getPayload body at once, instead of doubling from the first chunk, spares the
/// copies and the allocator's splitting and merging of growing blocks; a server that
/// declares more than it sends holds at most this much (untouched) for its call.
pub const DECLARED_RESERVE_MAX: usize = 4 << 20;

/// A body reached its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body over the {limit}-byte limit")]
pub struct OverLimit {
    /// The limit in bytes.
    pub limit: usize,
}

impl BoundedBody {
    /// An empty body (nothing allocated) accepting up to `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        Self { bytes: Vec::new(), limit }
    }

    /// An empty body accepting up to `limit` bytes, with room reserved for the `declared`
    /// length when it is within the limit, at most [`DECLARED_RESERVE_MAX`]. A declared
    /// length over the limit reserves nothing (the caller refuses it unread).
    pub fn expecting(limit: usize, declared: Option<u64>) -> Self {
        let reserve = declared
            .and_then(|d| usize::try_from(d).ok())
            .filter(|d| *d <= limit)
            .map_or(0, |d| d.min(DECLARED_RESERVE_MAX));
        Self { bytes: Vec::with_capacity(reserve), limit }
    }

    /// Appends `chunk`, unless the body would then exceed the limit.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), OverLimit> {
        let needed = self
            .bytes
            .len()
            .checked_add(chunk.len())
            .filter(|needed| *needed <= self.limit)
            .ok_or(OverLimit { limit: self.limit })?;
        if needed > self.bytes.capacity() {
            let target = needed.max(self.bytes.capacity().saturating_mul(2)).min(self.limit);
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The bytes received.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes allocated (at most the limit).
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The bytes received, as a vector.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }
}

/// The name of the span of every call ([`HttpTransport::call`]): `info` when the call is
/// made for someone (it has a correlation id or runs in a span), so that a slot's trace shows
/// its calls to the execution client; `debug` otherwise.
pub const CALL_SPAN: &str = "engine_client.call";

/// One JSON-RPC endpoint reached over HTTP(S), with or without JWT.
pub struct HttpTransport {
    http: reqwest::Client,
    url: reqwest::Url,
    name: String,
    auth: Option<JwtAuth>,
    max_response_bytes: u64,
    next_id: AtomicU64,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("name", &self.name)
            .field("authenticated", &self.auth.is_some())
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// The request envelope, serialized straight from the caller's params (no intermediate
/// `serde_json::Value`).
#[derive(Serialize)]
struct RequestEnvelope<'a, P: ?Sized> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: &'a P,
}

/// The response envelope, borrowed from the body: `result` and `error` stay raw until the
/// typed parse.
#[derive(Deserialize)]
struct ResponseEnvelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// Keeps `"result": null` apart from an absent `result` (an `Option` alone would merge them).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    message: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

/// At most `max_chars` characters of `bytes` (invalid UTF-8 replaced), control characters
/// escaped (`\n`, `\u{1b}`), and `…` when cut: what of an answer may be put in an error
/// message or a log line. An answer is not trusted to be text, nor short, nor free of
/// terminal escapes.
pub fn excerpt(bytes: &[u8], max_chars: usize) -> String {
    // A character is at most 4 bytes: the first `max_chars` × 4 bytes hold enough.
    let head = &bytes[..bytes.len().min(max_chars.saturating_mul(4))];
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
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

/// The bytes of a request: `{"jsonrpc":"2.0","id":N,"method":…,"params":…}`.
pub fn encode_request<P: Serialize + ?Sized>(
    id: u64,
    method: &str,
    params: &P,
) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(&RequestEnvelope { jsonrpc: "2.0", id, method, params })
        .map_err(|e| EngineError::invalid_request(method, format!("cannot serialize: {e}")))
}

/// The raw `result` of a response body to request `id`, or the error it carries.
pub fn decode_response<'a>(
    body: &'a [u8],
    id: u64,
    method: &str,
) -> Result<&'a RawValue, EngineError> {
    let bad = |reason: String| EngineError::bad_response(method, reason);
    let env: ResponseEnvelope<'a> = serde_json::from_slice(body).map_err(|e| {
        bad(format!("not a JSON-RPC response ({e}): \"{}\"", excerpt(body, ERROR_BODY_QUOTE)))
    })?;
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(bad(format!("jsonrpc is {:?}, not \"2.0\"", env.jsonrpc)));
    }
    if env.id != Some(id) {
        return Err(bad(format!("response id {:?} does not match request id {id}", env.id)));
    }
    match (env.result, env.error) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => {
            let e: ErrorObject = serde_json::from_str(error.get())
                .map_err(|e| bad(format!("malformed error object: {e}")))?;
            Err(EngineError::Rpc {
                method: method.to_string(),
                code: RpcErrorCode::from_code(e.code),
                message: e.message,
                data: e.data,
            })
        }
        (Some(_), Some(_)) => Err(bad("both result and error are present".into())),
        (None, None) => Err(bad("neither result nor error is present".into())),
    }
}

/// Parses a raw `result` into `T`; a shape mismatch is a bad response.
pub fn parse_result<T: serde::de::DeserializeOwned>(
    raw: &str,
    method: &str,
) -> Result<T, EngineError> {
    ResultReader::typed().from_raw(raw, method)
}

/// A label for an endpoint: the URL's host and port, never its credentials or path. The
/// default name of an endpoint.
pub fn endpoint_label(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => url.scheme().to_string(),
    }
}

impl HttpTransport {
    /// A transport to `url`, named `name` in logs, metrics and errors; `auth` signs each
    /// request with a fresh JWT; bodies above `max_response_bytes` are refused; no proxy.
    pub fn new(
        url: &str,
        name: Option<String>,
        auth: Option<JwtAuth>,
        max_response_bytes: u64,
    ) -> Result<Self, ClientError> {
        Self::with_options(url, name, auth, TransportOptions::new(max_response_bytes))
    }

    /// [`new`](Self::new) with every option. Logs one warning when `auth` is set and `url`
    /// is plain `http://` to a host that is not loopback (the JWT travels in clear text).
    pub fn with_options(
        url: &str,
        name: Option<String>,
        auth: Option<JwtAuth>,
        options: TransportOptions,
    ) -> Result<Self, ClientError> {
        let url = reqwest::Url::parse(url).map_err(|e| {
            ClientError::config("url", format!("`{}` is not a URL: {e}", redact_url(url)))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::config(
                "url",
                format!("scheme `{}` is not http or https", url.scheme()),
            ));
        }
        let mut builder = reqwest::Client::builder()
            // Our retry policy is the only one: reqwest's own would repeat requests behind
            // our count and our time bound.
            .retry(reqwest::retry::never())
            // Following a redirect would send the JWT to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90));
        builder = match &options.proxy {
            Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.as_str()).map_err(|e| {
                let problem =
                    format!("`{}` is not a proxy URL: {}", redact_url(proxy), e.without_url());
                ClientError::config("proxy", problem)
            })?),
            // Without this, reqwest reads the proxy variables of the environment.
            None => builder.no_proxy(),
        };
        if let Some(path) = &options.tls_ca_bundle {
            builder = builder.tls_certs_merge(read_ca_bundle(path)?);
        }
        let http =
            builder.build().map_err(|e| ClientError::HttpClient(e.without_url().to_string()))?;
        let name = name.unwrap_or_else(|| endpoint_label(&url));
        if auth.is_some() && jwt_in_clear(&url) {
            tracing::warn!(
                endpoint = %name,
                url = %redact_url(url.as_str()),
                "plain http:// to a host that is not loopback: the JWT travels in clear text; \
                 use https:// or reach the execution client over loopback or a tunnel"
            );
        }
        Ok(Self {
            name,
            http,
            url,
            auth,
            max_response_bytes: options.max_response_bytes,
            next_id: AtomicU64::new(1),
        })
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls `method` with `params`, giving up after `timeout`, and reads the answer with
    /// `reader`. The call is one tracing span ([`CALL_SPAN`]) and one latency sample.
    pub async fn call<P, R>(
        &self,
        method: &'static str,
        params: &P,
        timeout: Duration,
        reader: &R,
    ) -> Result<R::Output, EngineError>
    where
        P: Serialize + ?Sized,
        R: ReadResult,
    {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let trace = TraceParent::for_request();
        let (base, version) = metrics::split_method(method);
        // A call made for someone (a slot or a request: it has a correlation id, or runs in
        // a span) is an info span, which the node's default filter (info) lets through to
        // the trace exporter, so a slot's trace shows its calls to the EL. A call made for no
        // one (the periodic upcheck and its capability refresh) would be a trace of its own
        // every few seconds: it is a debug span. Console lines are events, not spans.
        macro_rules! call_span {
            ($level:ident) => {
                tracing::$level!(
                    CALL_SPAN,
                    method = base,
                    version,
                    endpoint = %self.name,
                    id,
                    trace_id = %format_args!("{:032x}", trace.trace_id),
                    outcome = field::Empty,
                )
            };
        }
        let span =
            if is_on_behalf_of_someone() { call_span!(info_span) } else { call_span!(debug_span) };
        async {
            let started = Instant::now();
            let result = match encode_request(id, method, params) {
                Ok(body) => self
                    .exchange(method, body, timeout, trace)
                    .await
                    .and_then(|bytes| reader.read(&bytes, id, method)),
                Err(e) => Err(e),
            };
            let outcome = metrics::record_call(method, &self.name, started, result.as_ref().err());
            tracing::Span::current().record("outcome", outcome.as_ref());
            if let Err(e) = &result {
                tracing::debug!(error = %e, "call failed");
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Posts `body` and returns the answer's bytes.
    async fn exchange(
        &self,
        method: &'static str,
        body: Vec<u8>,
        timeout: Duration,
        trace: TraceParent,
    ) -> Result<Vec<u8>, EngineError> {
        let mut request = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("traceparent", trace.header_value())
            .body(body);
        if let Some(auth) = &self.auth {
            let token =
                auth.token().map_err(|e| EngineError::invalid_request(method, e.to_string()))?;
            let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|e| EngineError::invalid_request(method, e.to_string()))?;
            // Keeps the token out of any header logging down the stack.
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        tokio::time::timeout(timeout, self.send(request, method))
            .await
            .map_err(|_| TransportError::Timeout { method: method.to_string(), after: timeout })?
    }

    /// Sends the request and reads the body, refusing non-200 answers and bodies over the
    /// limit: a declared `Content-Length` over it before reading anything, any other body at
    /// the first chunk that crosses it. Memory grows with the bytes received; a declared
    /// length only reserves room, at most [`DECLARED_RESERVE_MAX`] (see [`BoundedBody`]).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
    ) -> Result<Vec<u8>, EngineError> {
        let mut response = request.send().await.map_err(|e| self.connect_error(e, method))?;
        let status = response.status().as_u16();
        if matches!(status, 401 | 403) {
            let clock_gap = clock_gap(response.headers(), self.auth.as_ref().map(JwtAuth::now));
            return Err(EngineError::Auth { endpoint: self.name.clone(), status, clock_gap });
        }
        if status != 200 {
            // Only the quoted start of an error body is read (one byte more tells whether
            // the quote was cut).
            let mut quoted = Vec::new();
            while quoted.len() <= ERROR_BODY_QUOTE {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = ERROR_BODY_QUOTE + 1 - quoted.len();
                        quoted.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    // What arrived is enough to report the status.
                    Ok(None) | Err(_) => break,
                }
            }
            let body = excerpt(&quoted, ERROR_BODY_QUOTE);
            return Err(TransportError::HttpStatus { status, body }.into());
        }
        let limit = self.max_response_bytes;
        let too_large = || EngineError::from(TransportError::BodyTooLarge { limit });
        let declared = response.content_length();
        if declared.is_some_and(|declared| declared > limit) {
            return Err(too_large());
        }
        let mut body =
            BoundedBody::expecting(usize::try_from(limit).unwrap_or(usize::MAX), declared);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.connect_error(e, method))? {
            // Returning drops the response, which closes the connection: nothing more is read.
            body.push(&chunk).map_err(|_| too_large())?;
        }
        Ok(body.into_vec())
    }

    fn connect_error(&self, e: reqwest::Error, method: &str) -> EngineError {
        if e.is_timeout() {
            // Only our own deadline is configured, so this does not happen; classify it
            // honestly if a lower layer ever times out on its own.
            return TransportError::Timeout { method: method.to_string(), after: Duration::ZERO }
                .into();
        }
        // The chain of causes says what happened ("connection refused", "connection closed
        // before message completed"); the URL is left out, it may carry credentials.
        let e = e.without_url();
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        TransportError::Connect { endpoint: self.name.clone(), reason }.into()
    }
}

/// Whether the current call is made for someone: inside a correlation scope
/// ([`with_correlation`](crate::traceparent::with_correlation)) or a span, rather than by a
/// task of the pool's own (the upcheck) that would start a trace of its own.
fn is_on_behalf_of_someone() -> bool {
    current_correlation().is_some() || !tracing::Span::current().is_none()
}

/// The server's clock minus `ours` (both in seconds since the Unix epoch), read off the
/// answer's `Date` header (RFC 9110 formats); `None` without our clock, a `Date`, or one
/// that parses.
fn clock_gap(headers: &reqwest::header::HeaderMap, ours: Option<u64>) -> Option<i64> {
    let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    let theirs = httpdate::parse_http_date(date).ok()?;
    let theirs = theirs.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    let gap = i128::from(theirs) - i128::from(ours?);
    i64::try_from(gap).ok()
}

/// The certificates of a PEM bundle, read with a size cap. Errors name the file.
fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let err = |problem: String| ClientError::TlsCaBundle { path: path.to_path_buf(), problem };
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut pem = Vec::new();
    file.take(MAX_CA_BUNDLE_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if pem.len() as u64 > MAX_CA_BUNDLE_BYTES {
        return Err(err(format!("larger than {MAX_CA_BUNDLE_BYTES} bytes")));
    }
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| err(format!("not a PEM certificate bundle: {e}")))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::{
        ApiVersion, EngineRequest,
        eips::{eip4895::Withdrawal, eip7685::Requests},
        engine::{
            CancunPayloadFields, ClientCode, ClientVersionV1, ExecutionPayload,
            ExecutionPayloadSidecar, ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3,
            ForkchoiceState, PayloadAttributes, PayloadId, PraguePayloadFields,
        },
        primitives::{Address, B256, Bloom, Bytes, U256},
    };

    /// The excerpt keeps short text whole, escapes control characters, and cuts long text at
    /// the character bound (never inside a character), saying so with `…`.
    #[test]
    fn excerpt_bounds() {
        assert_eq!(excerpt(b"ok", 8), "ok");
        assert_eq!(excerpt(b"a\tb\r\n\x1b[31m", 16), "a\\tb\\r\\n\\u{1b}[31m");
        let long = "é".repeat(ERROR_BODY_QUOTE + 1);
        let cut = excerpt(long.as_bytes(), ERROR_BODY_QUOTE);
        assert_eq!(cut.chars().count(), ERROR_BODY_QUOTE + 1, "the bound plus the ellipsis");
        assert!(cut.ends_with('…'));
        let whole = excerpt("é".repeat(ERROR_BODY_QUOTE).as_bytes(), ERROR_BODY_QUOTE);
        assert_eq!(whole.chars().count(), ERROR_BODY_QUOTE);
        // A body far longer than the bound is looked at only up to 4 bytes per character.
        assert!(excerpt(&vec![b'y'; 10 * 1024 * 1024], 4).starts_with("yyyy…"));
    }

    fn payload_v1() -> ExecutionPayloadV1 {
        ExecutionPayloadV1 {
            parent_hash: B256::repeat_byte(0x11),
            fee_recipient: engine_types::constants::DEAD_ADDRESS,
            state_root: B256::repeat_byte(0x22),
            receipts_root: B256::repeat_byte(0x33),
            logs_bloom: Bloom::ZERO,
            prev_randao: B256::ZERO,
            block_number: 16,
            gas_limit: 30_000_000,
            gas_used: 21_000,
            timestamp: 1_700_000_000,
            extra_data: Bytes::new(),
            base_fee_per_gas: U256::from(7),
            block_hash: B256::repeat_byte(0x44),
            transactions: vec![Bytes::from_static(&[0x02, 0xf8, 0x6b])],
        }
    }

    fn withdrawals() -> Vec<Withdrawal> {
        vec![Withdrawal {
            index: 256,
            validator_index: 0,
            address: Address::repeat_byte(0xaa),
            amount: 10_000_000,
        }]
    }

    fn payload_v3() -> ExecutionPayloadV3 {
        ExecutionPayloadV3 {
            payload_inner: ExecutionPayloadV2 {
                payload_inner: payload_v1(),
                withdrawals: withdrawals(),
            },
            blob_gas_used: 0,
            excess_blob_gas: 0,
        }
    }

    fn state() -> ForkchoiceState {
        ForkchoiceState {
            head_block_hash: B256::repeat_byte(0xaa),
            safe_block_hash: B256::repeat_byte(0xbb),
            finalized_block_hash: B256::ZERO,
        }
    }

    fn attrs(version: ApiVersion) -> PayloadAttributes {
        PayloadAttributes {
            timestamp: 1_700_000_002,
            prev_randao: B256::ZERO,
            suggested_fee_recipient: engine_types::constants::DEAD_ADDRESS,
            withdrawals: (version >= ApiVersion::V2).then(withdrawals),
            parent_beacon_block_root: (version >= ApiVersion::V3).then(|| B256::repeat_byte(0xcc)),
            slot_number: None,
            target_gas_limit: None,
        }
    }

    /// One request of every method and version the client sends.
    fn every_request() -> Vec<(&'static str, EngineRequest)> {
        use ApiVersion::*;
        let cancun = CancunPayloadFields::new(B256::repeat_byte(0xcc), vec![B256::repeat_byte(1)]);
        let prague = PraguePayloadFields::new(Requests::new(vec![Bytes::from_static(&[0, 1])]));
        let v2 = ExecutionPayload::V2(payload_v3().payload_inner);
        let id = PayloadId::new([1, 2, 3, 4, 5, 6, 7, 8]);
        let fcu = |v| EngineRequest::forkchoice_updated(v, state(), Some(attrs(v))).unwrap();
        let get = |v| EngineRequest::get_payload(v, id).unwrap();
        vec![
            ("fcu_v1", fcu(V1)),
            ("fcu_v2", fcu(V2)),
            ("fcu_v3", fcu(V3)),
            ("fcu_v3_no_attributes", EngineRequest::forkchoice_updated(V3, state(), None).unwrap()),
            ("get_payload_v1", get(V1)),
            ("get_payload_v2", get(V2)),
            ("get_payload_v3", get(V3)),
            ("get_payload_v4", get(V4)),
            (
                "new_payload_v1",
                EngineRequest::new_payload(
                    V1,
                    ExecutionPayload::V1(payload_v1()),
                    ExecutionPayloadSidecar::none(),
                )
                .unwrap(),
            ),
            (
                "new_payload_v2",
                EngineRequest::new_payload(V2, v2, ExecutionPayloadSidecar::none()).unwrap(),
            ),
            (
                "new_payload_v3",
                EngineRequest::new_payload(
                    V3,
                    ExecutionPayload::V3(payload_v3()),
                    ExecutionPayloadSidecar::v3(cancun.clone()),
                )
                .unwrap(),
            ),
            (
                "new_payload_v4",
                EngineRequest::new_payload(
                    V4,
                    ExecutionPayload::V3(payload_v3()),
                    ExecutionPayloadSidecar::v4(cancun, prague),
                )
                .unwrap(),
            ),
            (
                "exchange_capabilities",
                EngineRequest::ExchangeCapabilities(vec!["engine_newPayloadV2".into()]),
            ),
            (
                "get_client_version",
                EngineRequest::GetClientVersion(ClientVersionV1 {
                    code: ClientCode::RH,
                    name: "alys-engine".into(),
                    version: "0.1.0".into(),
                    commit: "0x01020304".into(),
                }),
            ),
            ("bodies_by_hash", EngineRequest::GetPayloadBodiesByHash(vec![B256::repeat_byte(9)])),
            ("bodies_by_range", EngineRequest::GetPayloadBodiesByRange { start: 16, count: 32 }),
        ]
    }

    /// The exact bytes of every Engine API request: envelope fields in order, params as the
    /// spec's array, no whitespace.
    #[test]
    fn request_bytes() {
        for (name, request) in every_request() {
            let bytes = encode_request(7, request.method_name(), &request).unwrap();
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.starts_with(&format!(
                r#"{{"jsonrpc":"2.0","id":7,"method":"{}","params":["#,
                request.method_name()
            )));
            insta::assert_snapshot!(name, text);
        }
    }

    fn decode(body: &str) -> Result<String, EngineError> {
        decode_response(body.as_bytes(), 7, "m").map(|r| r.get().to_string())
    }

    /// A well-formed answer yields its raw result, `null` included.
    #[test]
    fn decodes_results() {
        assert_eq!(
            decode(r#"{"jsonrpc":"2.0","id":7,"result":{"a":[1, 2]}}"#).unwrap(),
            r#"{"a":[1, 2]}"#
        );
        assert_eq!(decode(r#"{"id":7,"result":null,"jsonrpc":"2.0"}"#).unwrap(), "null");
    }

    /// A JSON-RPC error becomes a typed RPC error with its code and data.
    #[test]
    fn decodes_errors() {
        let e = decode(r#"{"jsonrpc":"2.0","id":7,"error":{"code":-38002,"message":"bad","data":{"err":"x"}}}"#)
            .unwrap_err();
        assert_eq!(
            e,
            EngineError::Rpc {
                method: "m".into(),
                code: RpcErrorCode::InvalidForkchoiceState,
                message: "bad".into(),
                data: Some(serde_json::json!({"err": "x"})),
            }
        );
    }

    /// Everything that breaks JSON-RPC is a bad response naming the problem, never success.
    #[test]
    fn spec_violations_are_bad_responses() {
        let cases = [
            (r#"{"jsonrpc":"2.0","id":8,"result":1}"#, "does not match request id 7"),
            (r#"{"jsonrpc":"2.0","id":null,"result":1}"#, "does not match"),
            (r#"{"jsonrpc":"2.0","result":1}"#, "does not match"),
            (r#"{"jsonrpc":"1.0","id":7,"result":1}"#, "jsonrpc is"),
            (r#"{"id":7,"result":1}"#, "jsonrpc is"),
            (r#"{"jsonrpc":"2.0","id":7}"#, "neither result nor error"),
            (r#"{"jsonrpc":"2.0","id":7,"result":1,"error":{"code":1,"message":""}}"#, "both"),
            (r#"{"jsonrpc":"2.0","id":7,"error":{"message":"no code"}}"#, "malformed error"),
            (r#"{"jsonrpc":"2.0","id":7,"result":"#, "not a JSON-RPC response"),
            ("<html>502</html>", "not a JSON-RPC response"),
            // What came instead is quoted, so an operator sees which server answered.
            ("<html>\x1b[31m502</html>", r#": "<html>\u{1b}[31m502</html>""#),
            ("", "not a JSON-RPC response"),
        ];
        for (body, want) in cases {
            match decode(body) {
                Err(EngineError::BadResponse { reason, .. }) => {
                    assert!(reason.contains(want), "{body}: {reason}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    /// A result of the wrong shape is a bad response.
    #[test]
    fn wrong_result_shape_is_bad() {
        let e =
            parse_result::<Vec<String>>(r#"{"a":1}"#, "engine_exchangeCapabilities").unwrap_err();
        assert!(matches!(e, EngineError::BadResponse { .. }), "{e}");
    }

    /// Endpoint labels never carry credentials or paths.
    #[test]
    fn labels_hide_credentials() {
        let url = reqwest::Url::parse("https://user:pw@el.example:8551/secret/path").unwrap();
        assert_eq!(endpoint_label(&url), "el.example:8551");
        let url = reqwest::Url::parse("http://127.0.0.1/").unwrap();
        assert_eq!(endpoint_label(&url), "127.0.0.1:80");
    }

    /// A body of exactly the limit is accepted; one byte more is refused and adds nothing.
    /// Capacity follows the bytes received, never past the limit, and starts at nothing.
    #[test]
    fn bounded_body_at_the_bound() {
        let mut body = BoundedBody::new(1000);
        assert_eq!(body.capacity(), 0);
        body.push(b"abcde").unwrap();
        assert!(body.capacity() < 64, "capacity {} for 5 bytes", body.capacity());
        for _ in 0..199 {
            body.push(b"fghij").unwrap();
            assert!(body.capacity() <= 1000, "capacity {}", body.capacity());
        }
        assert_eq!(body.as_slice().len(), 1000);
        assert_eq!(body.push(b"x"), Err(OverLimit { limit: 1000 }));
        assert_eq!(body.push(&[]), Ok(()));
        assert_eq!(body.as_slice().len(), 1000);
        assert_eq!(&body.into_vec()[..10], b"abcdefghij");

        let mut one_big = BoundedBody::new(1000);
        assert_eq!(one_big.push(&[0; 1001]), Err(OverLimit { limit: 1000 }));
        assert_eq!(one_big.capacity(), 0, "nothing allocated for a refused chunk");
        let mut huge = BoundedBody::new(usize::MAX);
        huge.push(b"ab").unwrap();
        assert_eq!(huge.push(&[0; 16][..]), Ok(()));
        assert!(huge.capacity() < 64);
    }

    /// A declared length reserves room once, within the limit and at most
    /// `DECLARED_RESERVE_MAX`; one over the limit, or none, reserves nothing. Whatever was
    /// declared, the body still stops at the limit.
    #[test]
    fn a_declared_length_is_a_bounded_hint() {
        let exact = BoundedBody::expecting(1000, Some(1000));
        assert!(exact.capacity() >= 1000 && exact.capacity() < 1064, "{}", exact.capacity());
        let mut body = BoundedBody::expecting(1000, Some(600));
        let reserved = body.capacity();
        assert!(reserved >= 600, "{reserved}");
        body.push(&[1; 600]).unwrap();
        assert_eq!(body.capacity(), reserved, "no growth for the bytes that were declared");
        body.push(&[2; 400]).unwrap();
        assert_eq!(body.push(b"x"), Err(OverLimit { limit: 1000 }));
        assert!(body.capacity() <= 1000, "{}", body.capacity());

        assert_eq!(BoundedBody::expecting(1000, Some(1001)).capacity(), 0);
        assert_eq!(BoundedBody::expecting(1000, None).capacity(), 0);
        let liar = BoundedBody::expecting(usize::MAX, Some(u64::MAX >> 1));
        assert_eq!(liar.capacity(), DECLARED_RESERVE_MAX);
    }

    /// A URL that does not parse is refused without echoing its password; a bad proxy the
    /// same way, naming the setting.
    #[test]
    fn config_errors_hide_credentials() {
        let e = HttpTransport::new("http://u:hunter2@el example:8551", None, None, 1024)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a URL") && e.contains("***@"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let options = TransportOptions {
            proxy: Some("http://u:hunter2@proxy example:3128".into()),
            ..TransportOptions::new(1024)
        };
        let e = HttpTransport::with_options("http://127.0.0.1:1", None, None, options.clone())
            .unwrap_err();
        assert!(matches!(&e, ClientError::Config { field, .. } if field == "proxy"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(!format!("{options:?}").contains("hunter2"), "{options:?}");
    }

    /// A CA bundle that is missing, empty of certificates, not PEM or too large is refused
    /// naming the file.
    #[test]
    fn bad_ca_bundles_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let build = |path: PathBuf| {
            let options =
                TransportOptions { tls_ca_bundle: Some(path), ..TransportOptions::new(1024) };
            HttpTransport::with_options("https://127.0.0.1:1", None, None, options).unwrap_err()
        };
        let missing = dir.path().join("absent.pem");
        let big = dir.path().join("big.pem");
        std::fs::File::create(&big).unwrap().set_len(MAX_CA_BUNDLE_BYTES + 1).unwrap();
        let text = dir.path().join("text.pem");
        std::fs::write(&text, "not a certificate\n").unwrap();
        let garbled = dir.path().join("garbled.pem");
        std::fs::write(&garbled, "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
            .unwrap();
        for (path, want) in [
            (missing, "cannot read"),
            (big, "larger than"),
            (text, "no PEM certificate"),
            (garbled, "not a PEM certificate bundle"),
        ] {
            let e = build(path.clone());
            assert_eq!(e.severity(), engine_types::Severity::Fatal);
            assert!(matches!(&e, ClientError::TlsCaBundle { path: p, .. } if *p == path), "{e}");
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()) && text.contains(want), "{text}");
        }
    }

    /// The gap to a server's clock is read off its `Date` (IMF-fixdate or the obsolete
    /// RFC 850 form), either way; no signer's clock, or a missing or garbled `Date`, gives
    /// none.
    #[test]
    fn clock_gap_from_the_date_header() {
        use reqwest::header::{DATE, HeaderMap};
        let date = |text: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(DATE, HeaderValue::from_str(text).unwrap());
            headers
        };
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        let headers = date("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(clock_gap(&headers, Some(784_111_777 + 61)), Some(-61));
        assert_eq!(clock_gap(&headers, Some(784_111_777 - 59)), Some(59));
        assert_eq!(clock_gap(&date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777)), Some(0));
        assert_eq!(clock_gap(&headers, None), None);
        assert_eq!(clock_gap(&HeaderMap::new(), Some(1)), None);
        assert_eq!(clock_gap(&date("yesterday"), Some(1)), None);
    }

    /// Non-HTTP URLs are refused at construction with the problem named.
    #[test]
    fn bad_urls_are_config_errors() {
        let e = HttpTransport::new("ftp://x", None, None, 1024).unwrap_err().to_string();
        assert!(e.contains("scheme `ftp`"), "{e}");
        let e = HttpTransport::new("not a url", None, None, 1024).unwrap_err().to_string();
        assert!(e.contains("is not a URL"), "{e}");
    }
}
