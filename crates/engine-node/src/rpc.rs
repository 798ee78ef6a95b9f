//! The node's own JSON-RPC calls: the start-up probe of each execution client (its Engine
//! API port, with its JWT), the devnet simulator's nonce lookup and its transaction
//! submission. They go through engine-client's [`HttpTransport`], as the engine's traffic
//! does, so one client holds the rules: bodies read with a cap and never allocated from a
//! declared length, proxy variables ignored, a 401 reported as [`EngineError::Auth`] naming
//! the clock when that is the cause, URLs never in errors, answers quoted only as a bounded,
//! escaped excerpt. They do not go through the engine's pool: the probe must see each
//! endpoint as it is, with no retry or failover behind its back.

use engine_actor::client::{error::ClientError, jwt::JwtAuth, transport::HttpTransport};
use engine_types::{EngineError, jwt::JwtSecret, primitives::U64};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;

/// Timeout of one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest reply read, in bytes: the node's own calls (`eth_chainId`, a nonce, a transaction
/// hash) answer in well under a kilobyte; a reply past this is not the JSON-RPC server the
/// URL should name.
pub(crate) const MAX_REPLY_BYTES: u64 = 1024 * 1024;

/// One JSON-RPC endpoint, optionally JWT-authenticated. Its `Debug` shows the endpoint's name
/// and whether a secret is set, never the URL's credentials nor the secret.
#[derive(Debug)]
pub(crate) struct RpcClient {
    transport: HttpTransport,
}

impl RpcClient {
    /// A client of `url`, named `name` in logs, errors and metrics, minting a fresh token from
    /// `jwt` for each call when given.
    pub(crate) fn new(url: &str, name: &str, jwt: Option<&JwtSecret>) -> Result<Self, ClientError> {
        let auth = jwt.map(|secret| JwtAuth::new(secret, None, None));
        let transport = HttpTransport::new(url, Some(name.to_owned()), auth, MAX_REPLY_BYTES)?;
        Ok(Self { transport })
    }

    /// Calls `method` with `params`; the `result`, parsed as `T`.
    pub(crate) async fn call<P, T>(
        &self,
        method: &'static str,
        params: &P,
    ) -> Result<T, EngineError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let reader = engine_actor::client::transport::ResultReader::typed();
        self.transport.call(method, params, CALL_TIMEOUT, &reader).await
    }

    /// Calls a method whose result is a QUANTITY.
    pub(crate) async fn call_u64<P>(
        &self,
        method: &'static str,
        params: &P,
    ) -> Result<u64, EngineError>
    where
        P: Serialize + ?Sized,
    {
        let quantity: U64 = self.call(method, params).await?;
        Ok(quantity.to::<u64>())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use engine_actor::client::transport::ERROR_BODY_QUOTE;
    use engine_types::{Severity, TransportError};
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

    async fn call(url: String) -> EngineError {
        let client = RpcClient::new(&url, "el", None).unwrap();
        // Generous: only guards against a hang; the read stops at the limit, not a timeout.
        tokio::time::timeout(Duration::from_secs(30), client.call_u64("eth_chainId", &[(); 0]))
            .await
            .expect("the call ends")
            .expect_err("an oversized reply is refused")
    }

    fn too_large() -> EngineError {
        TransportError::BodyTooLarge { limit: MAX_REPLY_BYTES }.into()
    }

    /// A reply declaring 100 MB, or one that never ends, is read up to the limit only and
    /// refused with the typed error (not a timeout, not an allocation of the declared size),
    /// which the probe does not wait out.
    #[tokio::test]
    async fn an_oversized_or_endless_reply_stops_at_the_limit() {
        for framing in [Framing::Declared100Mb, Framing::Endless] {
            let failure = call(serve(framing).await).await;
            assert_eq!(failure, too_large());
            assert_ne!(failure.severity(), Severity::Retry);
        }
    }

    /// A reply of exactly the limit is read; one byte more is refused.
    #[tokio::test]
    async fn a_reply_at_the_limit_is_read() {
        let limit = usize::try_from(MAX_REPLY_BYTES).unwrap();
        let reply = |len: usize| -> &'static [u8] {
            let json = br#"{"jsonrpc":"2.0","id":1,"result":"0x2a"}"#;
            let mut body = json.to_vec();
            body.resize(len, b' ');
            Box::leak(body.into_boxed_slice())
        };
        let url = serve(Framing::Once(reply(limit))).await;
        let at = RpcClient::new(&url, "el", None).unwrap();
        assert_eq!(at.call_u64("eth_chainId", &[(); 0]).await, Ok(42));
        let over = call(serve(Framing::Once(reply(limit + 1))).await).await;
        assert_eq!(over, too_large());
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
        let EngineError::BadResponse { reason: text, .. } = &failure else { panic!("{failure:?}") };
        assert!(text.contains("<html>\\u{1b}[31m\\n"), "{text}");
        assert!(!text.chars().any(char::is_control), "{text}");
        assert!(text.ends_with("…\""), "{text}");
        assert!(text.chars().count() < ERROR_BODY_QUOTE + 120, "{} chars", text.chars().count());
    }

    /// `Debug` hides the URL's credentials and query, and the secret.
    #[test]
    fn debug_is_redacted() {
        let secret = JwtSecret::random();
        let client =
            RpcClient::new("http://alice:hunter2@127.0.0.1:8545/rpc?key=k3y", "el", Some(&secret))
                .unwrap();
        let shown = format!("{client:?}");
        let hex = secret.to_hex();
        for hidden in ["alice", "hunter2", "k3y", hex.as_str()] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
        assert!(shown.contains("authenticated: true"), "{shown}");
    }
}
