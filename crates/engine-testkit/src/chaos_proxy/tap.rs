//! The proxy's request tap: the JSON-RPC requests a client sent through the proxy, read off
//! the bytes it forwards, for tests that must see what reached a real execution client
//! (which records nothing for us) rather than what our own code says it sent.
//!
//! Each connection's client-to-target bytes are cut into HTTP/1.1 requests by their
//! `Content-Length`; each body is parsed as one JSON-RPC request. A connection that stops
//! looking like that (a chunked body, which neither reqwest nor hyper sends for a buffered
//! one; a head that is not text or never ends; another protocol) is no longer tapped, so
//! the proxy never buffers what it cannot cut.

use serde_json::Value;
use std::sync::{
    Mutex, PoisonError,
    atomic::{AtomicBool, Ordering},
};

/// One request that went through the proxy to its target.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxiedRequest {
    /// Order of completion across every connection, from 0.
    pub seq: u64,
    /// The JSON-RPC method (empty when the body was not a JSON-RPC request).
    pub method: String,
    /// The `params` (`null` when absent or when the body could not be parsed).
    pub params: Value,
}

impl ProxiedRequest {
    /// The `i`-th param.
    pub fn param(&self, i: usize) -> Option<&Value> {
        self.params.get(i)
    }
}

/// Requests seen so far, in completion order, while recording is on.
#[derive(Debug, Default)]
pub(super) struct RequestLog {
    recording: AtomicBool,
    requests: Mutex<Vec<ProxiedRequest>>,
}

impl RequestLog {
    pub(super) fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ProxiedRequest>> {
        // Pushes and clears only: a panicking holder leaves a consistent vector.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn all(&self) -> Vec<ProxiedRequest> {
        self.lock().clone()
    }

    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, method: String, params: Value) {
        let mut requests = self.lock();
        let seq = requests.last().map_or(0, |r| r.seq + 1);
        requests.push(ProxiedRequest { seq, method, params });
    }
}

/// The longest request head the tap waits for before deciding the bytes are not HTTP.
const MAX_HEAD: usize = 64 * 1024;

/// One connection's unparsed client bytes.
#[derive(Debug, Default)]
pub(super) struct ConnectionTap {
    pending: Vec<u8>,
    /// The bytes stopped being cuttable requests: nothing more is buffered.
    gave_up: bool,
}

impl ConnectionTap {
    /// Takes the next chunk about to be forwarded and, while the log records, logs every
    /// request it completes. Requests are cut out either way, so that switching recording
    /// on in the middle of a connection starts at a request boundary. Returns the methods
    /// of the requests it completed when `methods` is asked (empty otherwise).
    pub(super) fn feed(&mut self, chunk: &[u8], log: &RequestLog, methods: bool) -> Vec<String> {
        let mut completed = Vec::new();
        if self.gave_up {
            return completed;
        }
        self.pending.extend_from_slice(chunk);
        loop {
            match next_request(&self.pending) {
                Cut::Request { len, body } => {
                    if log.recording() || methods {
                        let (method, params) = json_rpc(body);
                        if methods {
                            completed.push(method.clone());
                        }
                        if log.recording() {
                            log.push(method, params);
                        }
                    }
                    self.pending.drain(..len);
                }
                Cut::Incomplete => return completed,
                Cut::NotHttp => {
                    self.gave_up = true;
                    self.pending = Vec::new();
                    return completed;
                }
            }
        }
    }
}

/// What the start of a connection's pending bytes is.
#[derive(Debug, PartialEq)]
enum Cut<'a> {
    /// A whole request of `len` bytes, with its body.
    Request { len: usize, body: &'a [u8] },
    /// The start of one; more bytes are needed.
    Incomplete,
    /// Not an HTTP/1.1 request with a `Content-Length` (or none and no body).
    NotHttp,
}

/// Cuts the first request off `bytes`.
fn next_request(bytes: &[u8]) -> Cut<'_> {
    let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if bytes.len() > MAX_HEAD { Cut::NotHttp } else { Cut::Incomplete };
    };
    let Ok(head) = std::str::from_utf8(&bytes[..head_end]) else { return Cut::NotHttp };
    let mut length = 0;
    for (name, value) in head.lines().skip(1).filter_map(|line| line.split_once(':')) {
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Cut::NotHttp;
        }
        if name.eq_ignore_ascii_case("content-length") {
            let Ok(n) = value.parse::<usize>() else { return Cut::NotHttp };
            length = n;
        }
    }
    let start = head_end + 4;
    match start.checked_add(length) {
        Some(end) if bytes.len() >= end => Cut::Request { len: end, body: &bytes[start..end] },
        Some(_) => Cut::Incomplete,
        None => Cut::NotHttp,
    }
}

fn json_rpc(body: &[u8]) -> (String, Value) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (String::new(), Value::Null);
    };
    let method = value.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
    let params = value.get("params").cloned().unwrap_or(Value::Null);
    (method, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> String {
        format!(
            "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// Requests split across chunks anywhere, and several in one chunk, are each recorded
    /// once, in order, with their method and params.
    #[test]
    fn cuts_requests_by_content_length() {
        let a = request(
            r#"{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV2","params":[{"headBlockHash":"0x01"},null]}"#,
        );
        let b = request(r#"{"jsonrpc":"2.0","id":2,"method":"eth_syncing","params":[]}"#);
        let c = request("not json");
        let stream = format!("{a}{b}{c}");
        for cut in [1, 7, a.len() - 1, a.len(), a.len() + 3, stream.len() - 1] {
            let log = RequestLog::default();
            log.set_recording(true);
            let mut tap = ConnectionTap::default();
            let mut completed = tap.feed(&stream.as_bytes()[..cut], &log, true);
            completed.extend(tap.feed(&stream.as_bytes()[cut..], &log, true));
            assert_eq!(
                completed,
                ["engine_forkchoiceUpdatedV2", "eth_syncing", ""],
                "cut at {cut}"
            );
            let seen = log.all();
            let methods: Vec<_> = seen.iter().map(|r| r.method.as_str()).collect();
            assert_eq!(methods, ["engine_forkchoiceUpdatedV2", "eth_syncing", ""], "cut at {cut}");
            assert_eq!(seen[0].param(0).unwrap()["headBlockHash"], "0x01");
            assert_eq!(seen.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
            assert_eq!(seen[2].params, Value::Null);
            assert!(tap.pending.is_empty());
        }
    }

    /// A request whose body has not fully arrived is not recorded yet.
    #[test]
    fn waits_for_the_whole_body() {
        let a = request(r#"{"method":"eth_chainId"}"#);
        let log = RequestLog::default();
        log.set_recording(true);
        let mut tap = ConnectionTap::default();
        tap.feed(&a.as_bytes()[..a.len() - 2], &log, false);
        assert!(log.all().is_empty());
        tap.feed(&a.as_bytes()[a.len() - 2..], &log, false);
        assert_eq!(log.all()[0].method, "eth_chainId");
        log.clear();
        assert!(log.all().is_empty());
    }

    /// Bytes that are not cuttable requests (a chunked body, a head that never ends) stop
    /// the tap on that connection: nothing is recorded or buffered after them.
    #[test]
    fn gives_up_on_what_it_cannot_cut() {
        let chunked =
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let never_ends = vec![b'x'; MAX_HEAD + 1];
        for garbage in [chunked.as_bytes(), &never_ends] {
            let log = RequestLog::default();
            log.set_recording(true);
            let mut tap = ConnectionTap::default();
            tap.feed(garbage, &log, false);
            tap.feed(request(r#"{"method":"eth_chainId"}"#).as_bytes(), &log, false);
            assert!(log.all().is_empty());
            assert!(tap.gave_up && tap.pending.is_empty());
        }
    }

    /// Nothing is kept while recording is off, and a request that completes after it is
    /// switched on is cut at its own boundary.
    #[test]
    fn records_only_when_on() {
        let a = request(r#"{"method":"eth_chainId"}"#);
        let b = request(r#"{"method":"eth_syncing"}"#);
        let log = RequestLog::default();
        let mut tap = ConnectionTap::default();
        tap.feed(a.as_bytes(), &log, false);
        tap.feed(&b.as_bytes()[..5], &log, false);
        assert!(log.all().is_empty());
        log.set_recording(true);
        tap.feed(&b.as_bytes()[5..], &log, false);
        let methods: Vec<_> = log.all().into_iter().map(|r| r.method).collect();
        assert_eq!(methods, ["eth_syncing"]);
    }
}
