//! The proxy's request tap: the JSON-RPC requests a client sent through the proxy, read off
//! the bytes it forwards, for tests that must see what reached a real execution client
//! (which records nothing for us) rather than what our own code says it sent.
//!
//! Each connection's client-to-target bytes are cut into HTTP/1.1 requests by their
//! `Content-Length`; each body is parsed as one JSON-RPC request. Chunked bodies (which
//! neither reqwest nor hyper uses for a buffered body) are recorded with an empty method.

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

/// One connection's unparsed client bytes.
#[derive(Debug, Default)]
pub(super) struct ConnectionTap {
    pending: Vec<u8>,
}

impl ConnectionTap {
    /// Takes the next forwarded chunk and, while the log records, logs every request it
    /// completes. Requests are cut out either way, so that switching recording on in the
    /// middle of a connection starts at a request boundary.
    pub(super) fn feed(&mut self, chunk: &[u8], log: &RequestLog) {
        self.pending.extend_from_slice(chunk);
        while let Some((len, body)) = next_request(&self.pending) {
            if log.recording() {
                let (method, params) = json_rpc(body);
                log.push(method, params);
            }
            self.pending.drain(..len);
        }
    }
}

/// The first complete request in `bytes`: its total length and its body.
fn next_request(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let end = head_end.checked_add(length)?;
    (bytes.len() >= end).then(|| (end, &bytes[head_end..end]))
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
            tap.feed(&stream.as_bytes()[..cut], &log);
            tap.feed(&stream.as_bytes()[cut..], &log);
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
        tap.feed(&a.as_bytes()[..a.len() - 2], &log);
        assert!(log.all().is_empty());
        tap.feed(&a.as_bytes()[a.len() - 2..], &log);
        assert_eq!(log.all()[0].method, "eth_chainId");
        log.clear();
        assert!(log.all().is_empty());
    }

    /// Nothing is kept while recording is off, and a request that completes after it is
    /// switched on is cut at its own boundary.
    #[test]
    fn records_only_when_on() {
        let a = request(r#"{"method":"eth_chainId"}"#);
        let b = request(r#"{"method":"eth_syncing"}"#);
        let log = RequestLog::default();
        let mut tap = ConnectionTap::default();
        tap.feed(a.as_bytes(), &log);
        tap.feed(&b.as_bytes()[..5], &log);
        assert!(log.all().is_empty());
        log.set_recording(true);
        tap.feed(&b.as_bytes()[5..], &log);
        let methods: Vec<_> = log.all().into_iter().map(|r| r.method).collect();
        assert_eq!(methods, ["eth_syncing"]);
    }
}
