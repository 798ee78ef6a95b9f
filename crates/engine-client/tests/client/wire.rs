//! The exact bytes on the wire, captured by a loopback listener standing in for the EL: the
//! body is the request's encoding byte for byte, with the headers the spec and W3C want.

use crate::harness::forkchoice;
use engine_client::{
    client::{ClientConfig, EngineClient},
    jwt::JwtSecret,
};
use engine_types::{ApiVersion, EngineMethod, primitives::B256};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::mpsc,
};

/// One captured request: header lines (lowercased names) and the body.
struct Captured {
    headers: Vec<(String, String)>,
    body: String,
}

/// Serves HTTP/1.1 on 127.0.0.1:0, answering capability lookups with every method and any
/// other call with `result`, and hands each request to the test.
async fn listener(result: &'static str) -> (String, mpsc::UnboundedReceiver<Captured>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(socket);
        loop {
            let mut headers = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if stream.read_line(&mut line).await.unwrap() == 0 {
                    return;
                }
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    let (name, value) = (name.to_lowercase(), value.trim().to_string());
                    if name == "content-length" {
                        length = value.parse().unwrap();
                    }
                    headers.push((name, value));
                }
            }
            let mut body = vec![0; length];
            stream.read_exact(&mut body).await.unwrap();
            let body = String::from_utf8(body).unwrap();
            let request: serde_json::Value = serde_json::from_str(&body).unwrap();
            let answer = if request["method"] == "engine_exchangeCapabilities" {
                serde_json::to_string(&EngineMethod::capabilities()).unwrap()
            } else {
                result.to_string()
            };
            let response =
                format!(r#"{{"jsonrpc":"2.0","id":{},"result":{answer}}}"#, request["id"]);
            let http = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{response}",
                response.len()
            );
            stream.get_mut().write_all(http.as_bytes()).await.unwrap();
            tx.send(Captured { headers, body }).unwrap();
        }
    });
    (url, rx)
}

/// A forkchoice update goes out as exactly the snapshotted bytes, after the capability
/// lookup, on one kept-alive connection, with JSON content type, a bearer token and a
/// traceparent.
#[tokio::test]
async fn forkchoice_update_bytes_on_the_wire() {
    let head = B256::repeat_byte(0xaa);
    let result = r#"{"payloadStatus":{"status":"VALID","latestValidHash":"0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","validationError":null},"payloadId":null}"#;
    let (url, mut rx) = listener(result).await;
    let c = EngineClient::new(ClientConfig::new(url, JwtSecret::from_bytes([1; 32]))).unwrap();
    let outcome = c.forkchoice_updated(ApiVersion::V2, forkchoice(head), None).await.unwrap();
    assert!(outcome.status.is_valid());
    let lookup = rx.recv().await.unwrap();
    assert!(lookup.body.contains("engine_exchangeCapabilities"));
    let call = rx.recv().await.unwrap();
    insta::assert_snapshot!("fcu_v2_body", call.body);
    let header = |name: &str| {
        call.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/json");
    assert!(header("authorization").starts_with("Bearer ey"));
    assert_eq!(header("traceparent").len(), 55);
    assert_eq!(header("content-length"), call.body.len().to_string());
}
