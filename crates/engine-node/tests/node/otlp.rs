//! Traces leave the node over OTLP/HTTP when `--otlp-endpoint` is set, one trace per slot,
//! and that trace is the one the execution client is told about in `traceparent`.

use crate::harness::{DEADLINE, Node, base_args, block_numbers, scripted_devnet};
use engine_testkit::ElPorts;
use engine_testkit::Recording;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value, trace::v1::Span,
};
use prost::Message;
use std::collections::BTreeSet;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::mpsc,
};

/// One request the collector received: its head (request line and headers) and its body.
struct Received {
    head: String,
    body: Vec<u8>,
}

/// An in-process OTLP/HTTP receiver: accepts HTTP requests, answers 200 and reports each.
async fn collector() -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                // Read the head, then as much body as Content-Length announces.
                loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&request[..end]).to_string();
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0usize);
                    if request.len() - end - 4 >= length {
                        let body = request[end + 4..end + 4 + length].to_vec();
                        let _ = tx.send(Received { head, body });
                        break;
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
            });
        }
    });
    (url, rx)
}

/// A short run with --otlp-endpoint posts protobuf spans to the collector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_exported() {
    let (url, mut requests) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(
        ["--blocks", "2", "--slot-time", "100ms", "--otlp-endpoint", &url].map(String::from),
    );
    let (exit, stderr, _) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    let received = tokio::time::timeout(DEADLINE, requests.recv()).await.unwrap().unwrap();
    let head = received.head;
    assert!(head.starts_with("POST /v1/traces"), "{head}");
    assert!(head.to_lowercase().contains("content-type: application/x-protobuf"), "{head}");
}

/// An exported span, as far as the test reads it.
#[derive(Debug)]
struct Exported {
    name: String,
    /// 32 hex digits.
    trace_id: String,
    attributes: Vec<(String, String)>,
}

impl Exported {
    fn of(span: &Span) -> Self {
        let attributes = span
            .attributes
            .iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    Some(any_value::Value::IntValue(i)) => i.to_string(),
                    other => format!("{other:?}"),
                };
                (kv.key.clone(), value)
            })
            .collect();
        Self { name: span.name.clone(), trace_id: hex::encode(&span.trace_id), attributes }
    }

    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The node drives a devnet that records the requests it receives, with OTLP on. For every
/// slot that produced a block: the spans exported for it (the `slot` span, the engine's
/// jobs, the client's calls) share one trace id, that id is the slot's correlation id, and
/// it is the trace id of the `traceparent` the execution client received with that slot's
/// forkchoiceUpdated, getPayload and newPayload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_is_one_trace_down_to_the_execution_client() {
    let (url, mut requests) = collector().await;
    let (el, script) = scripted_devnet(Recording::DEFAULT).await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend([
        "--engine-url".to_string(),
        el.engine_url(),
        "--public-url".to_string(),
        el.public_url(),
        "--jwt-secret".to_string(),
        el.jwt_secret_path().display().to_string(),
    ]);
    args.extend(
        ["--blocks", "3", "--slot-time", "100ms", "--otlp-endpoint", &url].map(String::from),
    );
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [1, 2, 3]);

    // The exporter flushed at exit: every batch has arrived or is arriving.
    let mut spans = Vec::new();
    let slots = loop {
        let received = tokio::time::timeout(DEADLINE, requests.recv())
            .await
            .expect("the slots' spans were not all exported")
            .unwrap();
        let request = ExportTraceServiceRequest::decode(received.body.as_slice()).unwrap();
        for resource in &request.resource_spans {
            for scope in &resource.scope_spans {
                spans.extend(scope.spans.iter().map(Exported::of));
            }
        }
        let slots: Vec<&Exported> = spans.iter().filter(|s| s.name == "slot").collect();
        let complete = slots
            .iter()
            .filter(|slot| {
                let calls: BTreeSet<&str> = spans
                    .iter()
                    .filter(|s| s.trace_id == slot.trace_id && s.name == "engine_client.call")
                    .filter_map(|s| s.attribute("method"))
                    .collect();
                ["engine_forkchoiceUpdated", "engine_getPayload", "engine_newPayload"]
                    .iter()
                    .all(|m| calls.contains(m))
            })
            .count();
        if complete >= 3 {
            break slots
                .into_iter()
                .map(|s| (s.trace_id.clone(), s.attribute("correlation").map(str::to_owned)))
                .collect::<Vec<_>>();
        }
    };

    let calls = script.all_calls();
    let mut checked = 0;
    for (trace_id, correlation) in slots {
        let correlation = correlation.expect("the slot span names its correlation id");
        // The trace id is the correlation id, left-padded to 128 bits.
        assert_eq!(trace_id, format!("{correlation:0>32}"), "slot {correlation}");
        // Every exported span that names this correlation id is in this trace.
        for span in spans.iter().filter(|s| s.attribute("correlation") == Some(&correlation)) {
            assert_eq!(span.trace_id, trace_id, "{span:?} is not in its slot's trace");
        }
        let in_trace: Vec<&Exported> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
        if !in_trace.iter().any(|s| s.name == "engine_forkchoice") {
            continue;
        }
        // The EL's traceparent carried it on the slot's three Engine API calls; the client's
        // spans recorded the same id.
        let received: BTreeSet<String> = calls
            .iter()
            .filter(|c| {
                c.headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with(&format!("00-{trace_id}-")))
            })
            .map(|c| c.method.trim_end_matches(char::is_numeric).trim_end_matches('V').to_string())
            .collect();
        for method in ["engine_forkchoiceUpdated", "engine_getPayload", "engine_newPayload"] {
            assert!(
                received.contains(method),
                "the EL got no {method} in trace {trace_id}: {received:?}"
            );
            let span = in_trace
                .iter()
                .find(|s| s.name == "engine_client.call" && s.attribute("method") == Some(method))
                .unwrap_or_else(|| panic!("no {method} span in trace {trace_id}: {in_trace:#?}"));
            assert_eq!(span.attribute("trace_id"), Some(trace_id.as_str()), "{span:?}");
        }
        checked += 1;
    }
    assert!(checked >= 3, "every block's slot was checked: {checked}");
}
