//! TLS on a shared socket: the SNI table that decides what happens to a connection, and the
//! ClientHello peek that feeds it.
//!
//! A TLS socket may carry HTTPS listeners (terminate, then HTTP), TLSRoutes in terminate mode
//! (terminate, then proxy the plaintext stream) and TLSRoutes in passthrough mode (proxy the
//! encrypted stream untouched). The gateway reads the ClientHello without consuming it, picks
//! an action by SNI, and then replays the bytes to rustls or to the passthrough backend.

use bytes::{Bytes, BytesMut};
use rustls::{
    ServerConfig,
    server::{Acceptor, ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use std::{collections::HashMap, fmt, io, sync::Arc};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::backend::Backend;

/// Largest ClientHello the gateway reads before giving up on a connection.
const MAX_CLIENT_HELLO_BYTES: usize = 64 * 1024;

/// The server names an entry of a [`TlsTable`] answers for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerNamePattern {
    /// One host name, lowercase.
    Exact(Arc<str>),
    /// Every name ending in this suffix (lowercase, with its leading dot: `.example.com`).
    Wildcard(Arc<str>),
    /// Any name, and connections without SNI.
    Any,
}

/// What the gateway does with a TLS connection whose SNI matched an entry.
#[derive(Clone)]
pub enum TlsAction {
    /// Terminate TLS (ALPN `h2`, `http/1.1`) and serve HTTP with the socket's router.
    TerminateHttp {
        /// The server configuration holding the listener's certificate.
        config: Arc<ServerConfig>,
    },
    /// Terminate TLS and proxy the decrypted stream to a backend (`None`: close).
    TerminateTcp {
        /// The server configuration holding the listener's certificate.
        config: Arc<ServerConfig>,
        /// Where the plaintext goes; `None` when the route's backend is invalid.
        backend: Option<Arc<Backend>>,
    },
    /// Proxy the encrypted stream untouched to a backend (`None`: close).
    Passthrough {
        /// Where the stream goes; `None` when the route's backend is invalid.
        backend: Option<Arc<Backend>>,
    },
}

impl fmt::Debug for TlsAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TerminateHttp { .. } => f.write_str("TerminateHttp"),
            Self::TerminateTcp { backend, .. } => f
                .debug_struct("TerminateTcp")
                .field("backend", backend)
                .finish_non_exhaustive(),
            Self::Passthrough { backend } => f
                .debug_struct("Passthrough")
                .field("backend", backend)
                .finish(),
        }
    }
}

impl TlsAction {
    /// Terminates with `key` and serves HTTP/1.1 or HTTP/2 (by ALPN).
    pub fn terminate_http(key: Arc<CertifiedKey>) -> Result<Self, rustls::Error> {
        let config = server_config(key, vec![b"h2".to_vec(), b"http/1.1".to_vec()])?;
        Ok(Self::TerminateHttp { config })
    }

    /// Terminates with `key` and proxies the plaintext to `backend`.
    pub fn terminate_tcp(
        key: Arc<CertifiedKey>,
        backend: Option<Arc<Backend>>,
    ) -> Result<Self, rustls::Error> {
        let config = server_config(key, Vec::new())?;
        Ok(Self::TerminateTcp { config, backend })
    }

    /// Passes the encrypted stream through to `backend`.
    pub fn passthrough(backend: Option<Arc<Backend>>) -> Self {
        Self::Passthrough { backend }
    }
}

fn server_config(
    key: Arc<CertifiedKey>,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(FixedCert(key)));
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// The certificate picked for a connection before the handshake started.
#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Actions by server name: exact names first, then the longest wildcard suffix, then the
/// catch-all entry.
#[derive(Debug, Default)]
pub struct TlsTable {
    exact: HashMap<Arc<str>, TlsAction>,
    /// Sorted longest suffix first.
    wildcard: Vec<(Arc<str>, TlsAction)>,
    any: Option<TlsAction>,
}

impl TlsTable {
    /// A builder; the first action inserted for a pattern wins.
    pub fn builder() -> TlsTableBuilder {
        TlsTableBuilder::default()
    }

    /// The action for a connection that sent `sni` (or none).
    pub fn select(&self, sni: Option<&str>) -> Option<&TlsAction> {
        if let Some(name) = sni {
            let name = name.to_ascii_lowercase();
            if let Some(action) = self.exact.get(name.as_str()) {
                return Some(action);
            }
            if let Some((_, action)) = self
                .wildcard
                .iter()
                .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(&**suffix))
            {
                return Some(action);
            }
        }
        self.any.as_ref()
    }

    /// `true` when no entry exists.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.any.is_none()
    }
}

/// Collects the entries of a [`TlsTable`].
#[derive(Debug, Default)]
pub struct TlsTableBuilder {
    table: TlsTable,
}

impl TlsTableBuilder {
    /// Adds `action` for `pattern` unless the pattern already has one.
    pub fn insert(&mut self, pattern: ServerNamePattern, action: TlsAction) -> &mut Self {
        match pattern {
            ServerNamePattern::Exact(name) => {
                self.table.exact.entry(name).or_insert(action);
            }
            ServerNamePattern::Wildcard(suffix) => {
                if !self.table.wildcard.iter().any(|(s, _)| *s == suffix) {
                    self.table.wildcard.push((suffix, action));
                }
            }
            ServerNamePattern::Any => {
                self.table.any.get_or_insert(action);
            }
        }
        self
    }

    /// The finished table.
    pub fn build(mut self) -> TlsTable {
        self.table
            .wildcard
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        self.table
    }
}

/// Reads a ClientHello from `stream` without losing it: returns the bytes read (to replay)
/// and the SNI the client sent.
pub(crate) async fn peek_client_hello<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> io::Result<(Bytes, Option<String>)> {
    let mut acceptor = Acceptor::default();
    let mut buffer = BytesMut::with_capacity(4096);
    loop {
        let start = buffer.len();
        if start >= MAX_CLIENT_HELLO_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "ClientHello too large",
            ));
        }
        if stream.read_buf(&mut buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut fresh = &buffer[start..];
        while !fresh.is_empty() {
            acceptor.read_tls(&mut fresh)?;
        }
        match acceptor.accept() {
            Ok(None) => continue,
            Ok(Some(accepted)) => {
                let sni = accepted.client_hello().server_name().map(str::to_owned);
                return Ok((buffer.freeze(), sni));
            }
            Err((err, _alert)) => return Err(io::Error::new(io::ErrorKind::InvalidData, err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passthrough(port: u16) -> TlsAction {
        let endpoints: Arc<[std::net::SocketAddr]> = Arc::from(vec![([127, 0, 0, 1], port).into()]);
        TlsAction::passthrough(Some(Arc::new(Backend::new(
            endpoints,
            crate::backend::AppProtocol::Http1,
        ))))
    }

    fn port_of(action: Option<&TlsAction>) -> Option<u16> {
        match action? {
            TlsAction::Passthrough { backend } => backend.as_ref()?.next().map(|a| a.port()),
            _ => None,
        }
    }

    #[test]
    fn exact_beats_longest_wildcard_beats_any() {
        let mut builder = TlsTable::builder();
        builder
            .insert(ServerNamePattern::Any, passthrough(1))
            .insert(
                ServerNamePattern::Wildcard(".example.com".into()),
                passthrough(2),
            )
            .insert(
                ServerNamePattern::Wildcard(".a.example.com".into()),
                passthrough(3),
            )
            .insert(
                ServerNamePattern::Exact("x.a.example.com".into()),
                passthrough(4),
            )
            .insert(
                ServerNamePattern::Exact("x.a.example.com".into()),
                passthrough(5),
            );
        let table = builder.build();
        assert_eq!(port_of(table.select(Some("X.A.example.com"))), Some(4));
        assert_eq!(port_of(table.select(Some("y.a.example.com"))), Some(3));
        assert_eq!(port_of(table.select(Some("deep.b.example.com"))), Some(2));
        assert_eq!(port_of(table.select(Some("example.com"))), Some(1));
        assert_eq!(port_of(table.select(None)), Some(1));
    }

    #[test]
    fn no_catch_all_means_no_action() {
        let mut builder = TlsTable::builder();
        builder.insert(ServerNamePattern::Exact("a.example".into()), passthrough(1));
        let table = builder.build();
        assert!(table.select(Some("b.example")).is_none());
        assert!(table.select(None).is_none());
    }

    #[tokio::test]
    async fn client_hello_is_peeked_and_kept() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let roots = rustls::RootCertStore::empty();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls_pki_types::ServerName::try_from("sni.example").unwrap();
        let handshake = tokio::spawn(async move { connector.connect(name, client).await });
        let (bytes, sni) = peek_client_hello(&mut server).await.unwrap();
        assert_eq!(sni.as_deref(), Some("sni.example"));
        assert_eq!(bytes[0], 0x16, "a TLS handshake record");
        drop(server);
        assert!(handshake.await.unwrap().is_err());
    }
}
