//! Self-signed certificates generated at test time.

use rustls::{crypto::ring::sign::any_supported_type, sign::CertifiedKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A self-signed certificate and its key, in the forms servers and clients want.
#[derive(Clone, Debug)]
pub struct TestCert {
    /// The certificate, PEM-encoded (what a Kubernetes TLS Secret's `tls.crt` holds).
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM-encoded (`tls.key`).
    pub key_pem: String,
    /// The certificate and signing key for a rustls server (via the `ring` provider).
    pub certified_key: Arc<CertifiedKey>,
    /// The certificate, DER-encoded: add it to a client's roots to trust it.
    pub der: CertificateDer<'static>,
}

/// Generates a self-signed certificate valid for `names` (DNS names or IP addresses).
///
/// # Panics
///
/// When a name is not a valid subject alternative name or key generation fails.
pub fn self_signed(names: &[&str]) -> TestCert {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).expect("generate certificate");
    let der = generated.cert.der().clone();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let signing_key = any_supported_type(&key_der).expect("ring supports the generated key");
    TestCert {
        cert_pem: generated.cert.pem(),
        key_pem: generated.signing_key.serialize_pem(),
        certified_key: Arc::new(CertifiedKey::new(vec![der.clone()], signing_key)),
        der,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::{ServerName, pem::PemObject};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn certificate_and_client_config_complete_a_handshake() {
        let cert = self_signed(&["gateway.test", "127.0.0.1"]);
        assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.key_pem.contains("PRIVATE KEY"));

        // The PEM forms load as a Secret's would; the CertifiedKey serves as is.
        let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
        let chain = vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()];
        assert_eq!(chain[0], cert.der);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        server.alpn_protocols = vec![b"h2".to_vec()];
        assert_eq!(cert.certified_key.cert[0], cert.der);

        let listener = super::super::bind().await;
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(stream).await.unwrap();
            tls.write_all(b"hi").await.unwrap();
            tls.shutdown().await.unwrap();
        });

        let config =
            super::super::tls_client_config(std::slice::from_ref(&cert.der), &[b"h2", b"http/1.1"]);
        let connector = tokio_rustls::TlsConnector::from(config);
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("gateway.test").unwrap();
        let mut tls = connector.connect(name, stream).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut text = String::new();
        tls.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "hi");
    }
}
