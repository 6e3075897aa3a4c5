//! Clients for tests: pooled HTTP/1.1 and h2c clients that collect bodies, a TLS client
//! configuration, and a one-shot GET.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header::HOST};
use http_body_util::BodyExt;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rustls_pki_types::CertificateDer;
use std::{net::SocketAddr, sync::Arc};

use crate::{BoxBody, BoxError, body};

/// A pooled hyper-util client whose responses come back with their bodies collected.
#[derive(Clone, Debug)]
pub struct TestClient {
    inner: Client<HttpConnector, BoxBody>,
}

impl TestClient {
    /// Sends `request` (absolute URI) and collects the whole response body.
    ///
    /// Errors are connection failures or a body that broke off.
    pub async fn send(&self, request: crate::Request) -> Result<http::Response<Bytes>, BoxError> {
        let response = self.inner.request(request).await?;
        let (parts, incoming) = response.into_parts();
        let body = incoming.collect().await?.to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }

    /// The underlying client, for streaming bodies or upgrades.
    pub fn inner(&self) -> &Client<HttpConnector, BoxBody> {
        &self.inner
    }
}

/// A pooled HTTP/1.1 client.
pub fn http1_client() -> TestClient {
    TestClient {
        inner: Client::builder(TokioExecutor::new()).build_http(),
    }
}

/// A pooled client speaking prior-knowledge HTTP/2 over plaintext (h2c).
pub fn h2c_client() -> TestClient {
    TestClient {
        inner: Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http(),
    }
}

/// A rustls client configuration (`ring` provider) trusting exactly `roots`, offering
/// `alpn` protocols (e.g. `&[b"h2", b"http/1.1"]`).
///
/// # Panics
///
/// When a root certificate cannot be parsed.
pub fn tls_client_config(
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("valid root certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Arc::new(config)
}

/// Sends `GET path` with `Host: host` to `addr` over HTTP/1.1 and returns the status,
/// headers and collected body.
///
/// # Panics
///
/// When the request cannot be built or the exchange fails.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = http::Request::get(format!("http://{addr}{path}"))
        .body(body::empty())
        .expect("valid request");
    request.headers_mut().insert(
        HOST,
        HeaderValue::from_str(host).expect("valid host header"),
    );
    let response = http1_client()
        .send(request)
        .await
        .expect("HTTP/1.1 exchange");
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body)
}
