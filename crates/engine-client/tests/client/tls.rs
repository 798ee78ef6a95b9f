//! An `https://` execution client whose certificate is signed by a private CA: trusted with
//! `tls_ca_bundle`, refused without it.

use crate::stub;
use engine_client::{
    client::{ClientConfig, EngineClient},
    jwt::JwtSecret,
};
use engine_types::{EngineError, TransportError};
use std::{path::PathBuf, sync::Arc};
use tokio::{io::AsyncWriteExt, net::TcpListener};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        crypto::aws_lc_rs,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

/// An https server on 127.0.0.1 with the fixture certificate, answering `[]` to every call.
async fn tls_el() -> String {
    let chain = vec![CertificateDer::from_pem_file(fixture("server.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                if let Some(request) = stub::read_request(&mut tls).await {
                    let body = stub::result(request.id(), "[]");
                    let _ = tls.write_all(&stub::response("200 OK", body.as_bytes())).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    format!("https://{addr}")
}

/// With the CA bundle the call succeeds over TLS; without it the certificate is refused as a
/// connection failure.
#[tokio::test]
async fn private_ca_bundle_is_trusted() {
    let url = tls_el().await;
    let mut cfg = ClientConfig::new(url.clone(), JwtSecret::random());
    cfg.tls_ca_bundle = Some(fixture("ca.pem"));
    let trusted = EngineClient::new(cfg).unwrap();
    assert_eq!(trusted.exchange_capabilities(vec![]).await.unwrap(), Vec::<String>::new());

    let untrusted = EngineClient::new(ClientConfig::new(url, JwtSecret::random())).unwrap();
    match untrusted.exchange_capabilities(vec![]).await.unwrap_err() {
        EngineError::Transport(TransportError::Connect { reason, .. }) => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
