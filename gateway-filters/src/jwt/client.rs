//! The client that fetches remote key sets: HTTP/1.1, pooled, over TCP for `http://` URIs
//! and over rustls for `https://` ones.
//!
//! One client per remote key set, built once when its background task starts. Over TLS:
//! the `ring` provider, rustls' safe default protocol versions, ALPN `http/1.1`, and the
//! server's certificate verified for the host of the JWKS URL (see
//! [`RemoteJwks`](super::RemoteJwks)) against the Mozilla roots or the configured CAs.

use bytes::Bytes;
use http::{Uri, uri::Authority};
use http_body_util::Empty;
use hyper_util::{
    client::legacy::{
        Client,
        connect::{Connected, Connection, HttpConnector},
    },
    rt::{TokioExecutor, TokioIo, TokioTimer},
};
use rustls::{ClientConfig, pki_types::ServerName};
use std::{
    error::Error as StdError,
    fmt,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};
use tower::Service;

use super::config::RemoteJwks;

/// How long an idle connection to the JWKS server is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The client of one remote key set.
pub(crate) type JwksClient = Client<JwksConnector, Empty<Bytes>>;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The client for `config`: connects bounded by the fetch timeout, keeps one idle
/// connection.
pub(crate) fn client(config: &RemoteJwks) -> JwksClient {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(config.timeout));
    // The connector checks the scheme itself, and wraps `https` connections in TLS.
    http.enforce_http(false);
    let tls = (config.uri.scheme_str() == Some("https")).then(|| {
        TlsSettings::new(config).map_err(|reason| {
            tracing::warn!(uri = %config.uri, %reason, "JWKS server cannot be reached over TLS");
            Arc::<str>::from(reason)
        })
    });
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(1)
        .build(JwksConnector { http, tls })
}

/// `error` and its sources, `: `-separated (hyper's errors keep the cause in the sources).
pub(crate) fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Connects to a JWKS server: TCP, then TLS for `https`.
#[derive(Clone)]
pub(crate) struct JwksConnector {
    http: HttpConnector,
    /// For an `https` URI: the TLS settings, or why there are none.
    tls: Option<Result<TlsSettings, Arc<str>>>,
}

/// What TLS connections to the JWKS server use.
#[derive(Clone)]
struct TlsSettings {
    connector: TlsConnector,
    /// The host of the JWKS URL: sent as SNI and checked against the certificate.
    name: ServerName<'static>,
}

impl TlsSettings {
    fn new(config: &RemoteJwks) -> Result<Self, String> {
        let name = server_name(config)?;
        let roots = match &config.ca_certificates {
            Some(ca) => ca.roots().clone(),
            None => webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect(),
        };
        let mut tls =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS settings: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            connector: TlsConnector::from(Arc::new(tls)),
            name,
        })
    }
}

/// The name the server's certificate must be valid for: the host of `host` (the JWKS URL's
/// authority) when set, else that of `uri`.
fn server_name(config: &RemoteJwks) -> Result<ServerName<'static>, String> {
    let authority = match &config.host {
        Some(host) => Authority::try_from(host.as_bytes())
            .map_err(|e| format!("the host {host:?} is not an authority: {e}"))?,
        None => config
            .uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("{} has no host", config.uri))?,
    };
    let host = authority.host();
    // An IPv6 address comes in brackets.
    let host = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host:?} is not a DNS name or an IP address: {e}"))
}

impl fmt::Debug for JwksConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = match &self.tls {
            None => "none",
            Some(Ok(_)) => "ready",
            Some(Err(_)) => "unusable",
        };
        f.debug_struct("JwksConnector").field("tls", &tls).finish()
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<JwksStream>, BoxError>> + Send>>;

impl Service<Uri> for JwksConnector {
    type Response = TokioIo<JwksStream>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = match (uri.scheme_str(), &self.tls) {
            (Some("http"), _) => None,
            (Some("https"), Some(Ok(tls))) => Some(tls.clone()),
            (Some("https"), Some(Err(reason))) => {
                let reason = BoxError::from(&**reason);
                return Box::pin(async move { Err(reason) });
            }
            _ => {
                return Box::pin(async { Err("the scheme must be http or https".into()) });
            }
        };
        let connecting = self.http.call(uri);
        Box::pin(async move {
            let tcp = connecting.await?.into_inner();
            let stream = match tls {
                None => JwksStream::Plain(tcp),
                Some(tls) => JwksStream::Tls(Box::new(tls.connector.connect(tls.name, tcp).await?)),
            };
            Ok(TokioIo::new(stream))
        })
    }
}

/// A connection to a JWKS server.
pub(crate) enum JwksStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for JwksStream {
    fn connected(&self) -> Connected {
        match self {
            Self::Plain(stream) => stream.connected(),
            Self::Tls(stream) => stream.get_ref().0.connected(),
        }
    }
}

impl AsyncRead for JwksStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for JwksStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Tls(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(stream) => stream.is_write_vectored(),
            Self::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}
