//! The validated configuration the JWT layer runs on.

use http::{HeaderName, HeaderValue, Uri, header::AUTHORIZATION};
use rustls::{
    RootCertStore,
    pki_types::{CertificateDer, pem::PemObject},
};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::{
    fmt,
    hash::{Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use super::keys::KeySet;

/// Envoy's default clock skew for `exp` and `nbf` (`clock_skew_seconds`), used as the leeway.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// kgateway's default `remote.cacheDuration`: how long fetched keys are used before a refresh.
pub const DEFAULT_CACHE_DURATION: Duration = Duration::from_secs(300);
/// kgateway's default `remote.timeout` for one fetch of a remote JWKS.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Envoy's default `asyncFetch.failedRefetchDuration`: the wait before fetching again after a
/// failed fetch.
pub const DEFAULT_FAILED_REFETCH: Duration = Duration::from_secs(1);
/// Default shortest time between two fetches caused by tokens whose `kid` is not in the key
/// set, so that tokens with made-up key ids cannot make the gateway hammer the JWKS server.
pub const DEFAULT_UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Default largest JWKS document accepted from a remote server (256 KiB; real ones are a few).
pub const DEFAULT_MAX_JWKS_BYTES: usize = 256 * 1024;

/// A JWT authentication policy: kgateway's `GatewayExtension.spec.jwt`, as the
/// `TrafficPolicy.spec.jwtAuth.extensionRef` that points at it makes the route use it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtConfig {
    /// The providers, tried in order; a request passes when one of them verifies its token
    /// (Envoy's `requires_any`).
    pub providers: Vec<JwtProvider>,
    /// kgateway's `validationMode: AllowMissing`: a request with no token for any provider
    /// passes (without claims headers); a request with a bad token is still refused.
    pub allow_missing: bool,
}

/// One way of verifying tokens (kgateway `JWTProvider`, Envoy `JwtProvider`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtProvider {
    /// The provider's name, for logs.
    pub name: Arc<str>,
    /// The `iss` a token must carry; `None` accepts any issuer.
    pub issuer: Option<Arc<str>>,
    /// The audiences one of which the token's `aud` must name; empty: `aud` is not checked.
    /// As Envoy does, a scheme (`http://`, `https://`) and a trailing `/` are ignored on both
    /// sides.
    pub audiences: Vec<Arc<str>>,
    /// Where tokens are looked for; every token found must verify. [`TokenSource::defaults`]
    /// are Envoy's (and so kgateway's) when a provider names none.
    pub token_sources: Vec<TokenSource>,
    /// Claims copied into request headers once a token verified.
    pub claims_to_headers: Vec<ClaimToHeader>,
    /// The keys tokens are verified with.
    pub jwks: Jwks,
    /// Whether the token stays in the request sent upstream (kgateway `forwardToken`;
    /// default: removed).
    pub forward_token: bool,
    /// Leeway for `exp` and `nbf` (Envoy `clock_skew_seconds`, default 60 s).
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub clock_skew: Duration,
}

impl JwtProvider {
    /// A provider named `name` checking tokens against `jwks`, with the defaults: any
    /// issuer, no audience check, the default token sources, no claims headers, the token
    /// removed before forwarding, 60 s of leeway.
    pub fn new(name: &str, jwks: Jwks) -> Self {
        Self {
            name: name.into(),
            issuer: None,
            audiences: Vec::new(),
            token_sources: TokenSource::defaults(),
            claims_to_headers: Vec::new(),
            jwks,
            forward_token: false,
            clock_skew: DEFAULT_CLOCK_SKEW,
        }
    }
}

/// Where a token is looked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TokenSource {
    /// A request header, its value starting with `prefix` (compared without regard to ASCII
    /// case) when one is set; the token is what follows, up to a space or comma.
    Header {
        /// The header.
        #[serde(serialize_with = "gateway_core::serde_http::header_name")]
        name: HeaderName,
        /// What comes before the token (`Bearer `), if anything.
        prefix: Option<Arc<str>>,
    },
    /// A query parameter (percent-decoded).
    QueryParameter(Arc<str>),
    /// A cookie (Envoy's `from_cookies`; kgateway has no field for it).
    Cookie(Arc<str>),
}

impl TokenSource {
    /// Envoy's default token locations: `Authorization: Bearer <token>`, then the
    /// `access_token` query parameter.
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::Header {
                name: AUTHORIZATION,
                prefix: Some("Bearer ".into()),
            },
            Self::QueryParameter("access_token".into()),
        ]
    }
}

/// A claim copied into a request header (kgateway `JWTClaimToHeader`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimToHeader {
    /// The claim: a top-level name (`sub`, `https://example.com/roles`), or, when there is no
    /// such top-level claim, a path into nested objects (`realm_access.roles`).
    pub claim: Arc<str>,
    /// The request header it is written to. Strings are written as they are, numbers and
    /// booleans as their JSON text, arrays and objects as compact JSON; a `null` or a value
    /// that cannot be a header value writes nothing.
    #[serde(serialize_with = "gateway_core::serde_http::header_name")]
    pub header: HeaderName,
}

/// Where a provider's keys come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Jwks {
    /// Keys given in the configuration (kgateway `local.inline` or `local.configMapRef`).
    Local(KeySet),
    /// Keys fetched from a JWKS server and refreshed in the background (kgateway `remote`).
    Remote(Box<RemoteJwks>),
}

/// A JWKS server to fetch keys from.
///
/// Over `https`, the server's certificate is verified (rustls) against the Mozilla roots of
/// the `webpki-roots` crate, or against [`RemoteJwks::ca_certificates`] when set, for the
/// host of the URL: the host of [`RemoteJwks::host`] when set, else that of
/// [`RemoteJwks::uri`]. That host is also the SNI sent; ALPN offers `http/1.1` only.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteJwks {
    /// The `http://` or `https://` URI fetched: where the connection goes and the path
    /// asked for. The policy compiler points it at the resolved backend of kgateway's
    /// `backendRef`, keeping the scheme and path of `url`.
    #[serde(serialize_with = "serialize_uri")]
    pub uri: Uri,
    /// The authority of kgateway's `url`, when `uri` points elsewhere (at the `url`'s
    /// resolved backend): sent as the `Host`, and, over `https`, its host is the name sent
    /// as SNI and that the server's certificate must be valid for, as if the `url` itself
    /// had been fetched.
    #[serde(serialize_with = "gateway_core::serde_http::opt_header_value")]
    pub host: Option<HeaderValue>,
    /// Over `https`: the certificate authorities the server's certificate must chain to,
    /// instead of the Mozilla roots trusted when this is `None`. The policy compiler sets
    /// it from a BackendTLSPolicy's `caCertificateRefs` for the JWKS backend (which, as in
    /// the Gateway API, replace the well-known roots rather than add to them). Unused over
    /// plain `http`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<CaCertificates>,
    /// How long fetched keys are used before they are fetched again (default 5 minutes).
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub cache_duration: Duration,
    /// Limit for one fetch: connect, response head and body (default 5 s). Requests waiting
    /// for keys wait at most this long.
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub timeout: Duration,
    /// Wait before fetching again after a failed fetch (default 1 s).
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub failed_refetch: Duration,
    /// Retries of a failed fetch within one round, with exponential backoff; `None`: none.
    pub retry: Option<FetchRetry>,
    /// Shortest time between two fetches caused by tokens with a `kid` missing from the key
    /// set (default 10 s).
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub unknown_kid_refetch_interval: Duration,
    /// Largest JWKS document accepted (default 256 KiB); a larger one fails the fetch.
    pub max_response_bytes: usize,
    /// kgateway `asyncFetch.fastListener`. Keys are always fetched in the background here;
    /// when this is `false` the gateway may hold its listener until
    /// [`JwtLayer::wait_for_jwks_fetches`](super::JwtLayer::wait_for_jwks_fetches)`(1)`
    /// returns. The layer itself makes requests that arrive before the first fetch wait for
    /// it either way.
    pub fast_listener: bool,
}

impl RemoteJwks {
    /// Fetching `uri` with the defaults (see each field).
    pub fn new(uri: Uri) -> Self {
        Self {
            uri,
            host: None,
            ca_certificates: None,
            cache_duration: DEFAULT_CACHE_DURATION,
            timeout: DEFAULT_FETCH_TIMEOUT,
            failed_refetch: DEFAULT_FAILED_REFETCH,
            retry: None,
            unknown_kid_refetch_interval: DEFAULT_UNKNOWN_KID_REFETCH_INTERVAL,
            max_response_bytes: DEFAULT_MAX_JWKS_BYTES,
            fast_listener: false,
        }
    }
}

/// Retries of a failed JWKS fetch (kgateway `retryPolicy`, Envoy's `RetryPolicy`): up to
/// `retries` more attempts, waiting a random time up to `base_interval · 2ⁿ` (at most
/// `max_interval`) before the n-th.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchRetry {
    /// Attempts after the first.
    pub retries: u32,
    /// The first backoff.
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub base_interval: Duration,
    /// The longest backoff.
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub max_interval: Duration,
}

/// Certificate authorities trusted for a remote JWKS server (see
/// [`RemoteJwks::ca_certificates`]), parsed and checked once. Cheap to clone; two sets are
/// equal when they hold the same certificates in the same order. Shown (`Debug`, config
/// dumps) as the SHA-256 fingerprints of the certificates.
#[derive(Clone)]
pub struct CaCertificates {
    inner: Arc<CaInner>,
}

struct CaInner {
    /// The certificates as given: their identity for `Eq`, `Hash` and display.
    certificates: Box<[CertificateDer<'static>]>,
    /// The trust anchors taken from them.
    roots: RootCertStore,
}

/// Why certificate authorities could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CaCertificatesError(String);

impl CaCertificates {
    /// Reads every `CERTIFICATE` block of PEM text (a Kubernetes Secret's or ConfigMap's
    /// `ca.crt`); other blocks are skipped. Fails when there is none, or when one is not a
    /// certificate that can be a trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CaCertificatesError> {
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CaCertificatesError(format!("not PEM certificates: {e}")))?;
        Self::from_der(certificates)
    }

    /// Takes DER-encoded certificates. Fails when there is none, or when one is not a
    /// certificate that can be a trust anchor.
    pub fn from_der(
        certificates: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<Self, CaCertificatesError> {
        let certificates: Box<[CertificateDer<'static>]> = certificates.into_iter().collect();
        if certificates.is_empty() {
            return Err(CaCertificatesError("no certificate".to_owned()));
        }
        let mut roots = RootCertStore::empty();
        for (index, certificate) in certificates.iter().enumerate() {
            roots.add(certificate.clone()).map_err(|e| {
                CaCertificatesError(format!("certificate {index} cannot be a trust anchor: {e}"))
            })?;
        }
        Ok(Self {
            inner: Arc::new(CaInner {
                certificates,
                roots,
            }),
        })
    }

    /// The certificates, as given.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.inner.certificates
    }

    /// The trust anchors, for a rustls client.
    pub(crate) fn roots(&self) -> &RootCertStore {
        &self.inner.roots
    }

    /// The SHA-256 fingerprints of the certificates, in lowercase hex.
    fn fingerprints(&self) -> impl Iterator<Item = String> + '_ {
        self.inner.certificates.iter().map(|certificate| {
            Sha256::digest(certificate)
                .iter()
                .fold(String::with_capacity(64), |mut hex, byte| {
                    hex.push(char::from(HEX[usize::from(byte >> 4)]));
                    hex.push(char::from(HEX[usize::from(byte & 0xf)]));
                    hex
                })
        })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl PartialEq for CaCertificates {
    fn eq(&self, other: &Self) -> bool {
        self.inner.certificates == other.inner.certificates
    }
}

impl Eq for CaCertificates {}

impl Hash for CaCertificates {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.certificates.hash(state);
    }
}

impl fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CaCertificates")
            .field(&self.fingerprints().collect::<Vec<_>>())
            .finish()
    }
}

impl Serialize for CaCertificates {
    /// The SHA-256 fingerprints of the certificates.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.fingerprints())
    }
}

fn serialize_uri<S: Serializer>(uri: &Uri, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(uri)
}
