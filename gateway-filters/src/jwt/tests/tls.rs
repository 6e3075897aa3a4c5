//! Remote key sets over `https`: real TLS JWKS servers (tokio-rustls, certificates issued by
//! private CAs made with rcgen at test time) on `127.0.0.1:0`.

use http::StatusCode;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::{sync::Arc, time::Duration};
use tokio_rustls::TlsAcceptor;

use super::remote::{JwksServer, Resolved, fetched, remote_provider};
use super::*;

/// A private certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    /// The CA certificate as a Secret's `ca.crt` holds it.
    fn trusted(&self) -> CaCertificates {
        CaCertificates::from_pem(self.issuer.pem().as_bytes()).unwrap()
    }

    /// A TLS server with a certificate for `names` issued by this CA, answering ALPN
    /// `http/1.1`.
    fn acceptor(&self, names: &[&str]) -> TlsAcceptor {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let certificate = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}

/// `https://<server>/keys` with the URL host `idp.test`, trusting `ca` (the Mozilla roots
/// when `None`); no timed refresh, and one fetch for an unknown `kid` per hour.
fn https_remote(server: &JwksServer, ca: Option<&Ca>) -> RemoteJwks {
    let mut remote = RemoteJwks::new(format!("https://{}/keys", server.addr).parse().unwrap());
    remote.host = Some(http::HeaderValue::from_static("idp.test"));
    remote.ca_certificates = ca.map(Ca::trusted);
    remote.cache_duration = Duration::from_secs(3600);
    remote.failed_refetch = Duration::from_secs(3600);
    remote.unknown_kid_refetch_interval = Duration::from_secs(3600);
    remote
}

#[tokio::test]
async fn an_https_jwks_of_a_private_ca_verifies_tokens() {
    let key = TestKey::ec("k");
    let ca = Ca::new("private CA");
    let server = JwksServer::spawn_tls(jwks(&[&key]), ca.acceptor(&["idp.test"])).await;

    // kgateway's `url` is https; its backendRef resolves to the server's address.
    let spec: JwtSpec = serde_json::from_value(json!({"providers": [{
        "name": "idp",
        "jwks": {"remote": {
            "url": "https://idp.test/.well-known/jwks.json",
            "backendRef": {"name": "idp", "port": 443},
        }},
    }]}))
    .unwrap();
    let mut config = spec.compile(&Resolved(server.addr)).unwrap();
    let Jwks::Remote(remote) = &mut config.providers[0].jwks else {
        panic!("remote keys")
    };
    assert_eq!(
        remote.uri,
        format!("https://{}/.well-known/jwks.json", server.addr).as_str()
    );
    assert_eq!(remote.host.as_ref().unwrap(), "idp.test");
    // What the policy compiler takes from a BackendTLSPolicy.
    remote.ca_certificates = Some(ca.trusted());

    let layer = JwtLayer::new(config);
    fetched(&layer, 1).await;
    assert_eq!(layer.stats().jwks_fetch_success, 1, "{:?}", layer.stats());
    let answer = send(&layer, bearer(&key.sign(&claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");

    // Connected to the backend, verified and named as the URL's host.
    let served = server.served.lock();
    assert_eq!(
        served.handshakes,
        vec![(Some("idp.test".to_owned()), Some(b"http/1.1".to_vec()))]
    );
    assert_eq!(
        served.requests,
        vec![("idp.test".to_owned(), "/.well-known/jwks.json".to_owned())]
    );
}

#[tokio::test]
async fn an_https_jwks_at_an_ip_address_is_verified_for_it() {
    let key = TestKey::ec("k");
    let ca = Ca::new("private CA");
    let server = JwksServer::spawn_tls(jwks(&[&key]), ca.acceptor(&["127.0.0.1"])).await;
    let mut remote = https_remote(&server, Some(&ca));
    remote.host = None;
    let layer = JwtLayer::new(config(vec![remote_provider(remote)]));
    let answer = send(&layer, bearer(&key.sign(&claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    // No SNI for an IP address; the certificate names it.
    assert_eq!(
        server.served.lock().handshakes,
        vec![(None, Some(b"http/1.1".to_vec()))]
    );
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_fetch() {
    let key = TestKey::ec("k");
    let ca = Ca::new("private CA");
    let elsewhere = Ca::new("another CA");
    let cases = [
        // A private CA's certificate, checked against the Mozilla roots.
        ("Mozilla roots", ca.acceptor(&["idp.test"]), None),
        // Issued by a CA other than the one trusted.
        ("another CA", elsewhere.acceptor(&["idp.test"]), Some(&ca)),
        // Issued by the trusted CA, for another name than the URL's host.
        ("another name", ca.acceptor(&["other.test"]), Some(&ca)),
    ];
    for (case, acceptor, trusted) in cases {
        let server = JwksServer::spawn_tls(jwks(&[&key]), acceptor).await;
        let layer = JwtLayer::new(config(vec![remote_provider(https_remote(
            &server, trusted,
        ))]));
        fetched(&layer, 1).await;
        assert_eq!(layer.stats().jwks_fetch_failed, 1, "{case}");
        // The request asks for one more fetch, which fails the same way.
        send(&layer, bearer(&key.sign(&claims())))
            .await
            .assert_refused(StatusCode::UNAUTHORIZED, "Jwks remote fetch is failed");
        let stats = layer.stats();
        assert_eq!(
            (stats.jwks_fetch_success, stats.jwks_fetch_failed),
            (0, 2),
            "{case}"
        );
        assert_eq!((stats.allowed, stats.denied), (0, 1), "{case}");
        let served = server.served.lock();
        assert!(served.handshakes.is_empty(), "{case}");
        assert!(served.requests.is_empty(), "{case}");
    }
}

#[test]
fn ca_certificates_are_read_from_pem() {
    let ca = Ca::new("private CA");
    let other = Ca::new("another CA");
    let pem = format!("{}{}", ca.issuer.pem(), other.issuer.pem());
    let both = CaCertificates::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(
        both.certificates(),
        [ca.issuer.der().clone(), other.issuer.der().clone()]
    );
    assert_eq!(both, CaCertificates::from_pem(pem.as_bytes()).unwrap());
    assert_ne!(both, ca.trusted());

    // Shown as SHA-256 fingerprints, never as the certificates.
    let shown = serde_json::to_value(&both).unwrap();
    let fingerprints = shown.as_array().unwrap();
    assert_eq!(fingerprints.len(), 2);
    assert!(
        fingerprints.iter().all(|f| f.as_str().unwrap().len() == 64
            && f.as_str().unwrap().bytes().all(|b| b.is_ascii_hexdigit())),
        "{shown}"
    );
    assert!(format!("{both:?}").contains(fingerprints[0].as_str().unwrap()));

    // A key block alone, or nothing, is no CA; nor is a certificate that does not parse.
    let key = KeyPair::generate().unwrap().serialize_pem();
    assert!(CaCertificates::from_pem(key.as_bytes()).is_err());
    assert!(CaCertificates::from_pem(b"").is_err());
    let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(CaCertificates::from_pem(broken.as_bytes()).is_err());
}
