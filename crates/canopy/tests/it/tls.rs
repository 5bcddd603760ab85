//! Providers served over TLS: Canopy checks the upstream's certificate against the trusted
//! roots and speaks HTTP/2 or HTTP/1.1 as ALPN decides, plain and streamed calls alike.
//!
//! The provider is the mock behind a TLS terminator in this test, with a certificate for
//! `localhost` signed by a throwaway CA (made by `openssl`). The gateway is a `canopy serve`
//! process, so `SSL_CERT_FILE` can name that CA as its only trusted root.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::harness::{chat, spawn_mock};
use crate::scale_out::Gateway;

/// Makes `ca.pem` and `leaf.pem` / `leaf.key` (for `localhost` and 127.0.0.1, signed by the CA)
/// in `dir`.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "openssl {args:?}: {stderr}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Canopy test CA",
    ];
    run(&[&["req", "-x509"][..], &ec, &ca].concat());
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let leaf = [
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ];
    run(&[&["req"][..], &ec, &leaf].concat());
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
}

/// Accepts TLS on a free port with the certificate in `dir`, offering `alpn`, and passes each
/// connection's bytes on to `upstream` (`host:port`). Returns the port and the protocol each
/// completed handshake chose.
async fn tls_front(dir: &Path, alpn: &[&str], upstream: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let chain = CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let chosen = Arc::new(Mutex::new(Vec::new()));
    let log = chosen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream, log) = (acceptor.clone(), upstream.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let protocol = tls.get_ref().1.alpn_protocol().unwrap_or_default();
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(protocol).into_owned());
                let mut plain = TcpStream::connect(&upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, chosen)
}

/// A temporary directory holding a CA and a certificate it signed, and a running mock
/// provider: its `host:port`, and the sender that stops it.
async fn provider_setup() -> (tempfile::TempDir, String, oneshot::Sender<()>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let (mock, stop) = spawn_mock().await;
    (dir, mock.trim_start_matches("http://").to_owned(), stop)
}

/// A `canopy serve` process named `name`, its own SQLite store in `dir`, whose OpenAI provider
/// is `https://localhost:PORT` and whose only trusted root is the CA in `ca`.
async fn gateway_trusting(dir: &Path, name: &str, port: u16, ca: &Path) -> Gateway {
    let store = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
    let base = format!("https://localhost:{port}");
    Gateway::start_with_env(dir, name, &store, &base, &[("SSL_CERT_FILE", ca)]).await
}

#[tokio::test]
async fn a_provider_over_tls_is_spoken_to_in_the_protocol_alpn_chooses() {
    let (dir, mock_addr, _stop) = provider_setup().await;
    let ca = dir.path().join("ca.pem");
    let client = reqwest::Client::new();
    for (name, offered, expected) in [
        ("h2", &["h2", "http/1.1"][..], "h2"),
        ("h1", &["http/1.1"][..], "http/1.1"),
    ] {
        let (port, chosen) = tls_front(dir.path(), offered, mock_addr.clone()).await;
        let gateway = gateway_trusting(dir.path(), name, port, &ca).await;
        let url = format!("{}/v1/chat/completions", gateway.url);

        let plain = client
            .post(&url)
            .json(&chat("gpt-4o-mini", false, "hello over TLS"))
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 200, "{name}");
        let body: Value = plain.json().await.unwrap();
        assert!(
            body["choices"][0]["message"]["content"].is_string(),
            "{body}"
        );

        let streamed = client
            .post(&url)
            .json(&chat("gpt-4o-mini", true, "a stream over TLS"))
            .send()
            .await
            .unwrap();
        assert_eq!(streamed.status(), 200);
        let text = streamed.text().await.unwrap();
        assert!(text.trim_end().ends_with("data: [DONE]"), "{name}: {text}");

        let chosen = chosen.lock().unwrap().clone();
        assert!(
            !chosen.is_empty(),
            "{name}: no TLS handshake reached the provider"
        );
        assert!(
            chosen.iter().all(|p| p == expected),
            "{name}: chose {chosen:?}"
        );
    }
}

#[tokio::test]
async fn a_provider_whose_certificate_is_not_trusted_is_not_spoken_to() {
    let (dir, mock_addr, _stop) = provider_setup().await;
    let (port, chosen) = tls_front(dir.path(), &["http/1.1"], mock_addr).await;
    // Trusts only a second, unrelated CA.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    make_certificates(&other);
    let gateway = gateway_trusting(dir.path(), "a", port, &other.join("ca.pem")).await;

    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gateway.url))
        .json(&chat("gpt-4o-mini", false, "secret prompt"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("certificate"), "{body}");
    assert!(
        chosen.lock().unwrap().is_empty(),
        "no handshake completes with an untrusted certificate"
    );
}
