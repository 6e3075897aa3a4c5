//! Remote key sets, served by a real HTTP/1.1 server on `127.0.0.1:0` (over TLS when a test
//! asks) whose keys the tests change. Waits are on events (fetches completed, connections
//! closed), never on time.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::mpsc,
};
use tokio_rustls::TlsAcceptor;

use super::*;

/// Guards the waits of a test: far longer than anything should take.
const PATIENCE: Duration = Duration::from_secs(20);

/// What the JWKS server answers, and what it was asked.
pub(super) struct Served {
    status: StatusCode,
    body: String,
    /// `(host, path)` of each request.
    pub(super) requests: Vec<(String, String)>,
    /// The SNI and the ALPN protocol of each TLS connection accepted.
    pub(super) handshakes: Vec<(Option<String>, Option<Vec<u8>>)>,
}

/// A JWKS server.
pub(super) struct JwksServer {
    pub(super) addr: SocketAddr,
    pub(super) served: Arc<Mutex<Served>>,
    /// One message per connection that closed.
    closed: mpsc::UnboundedReceiver<()>,
}

impl JwksServer {
    /// A plain HTTP server answering `body`.
    pub(super) async fn spawn(body: String) -> Self {
        Self::spawn_with(body, None).await
    }

    /// An HTTPS server answering `body`, with `tls`'s certificate.
    pub(super) async fn spawn_tls(body: String, tls: TlsAcceptor) -> Self {
        Self::spawn_with(body, Some(tls)).await
    }

    async fn spawn_with(body: String, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(Served {
            status: StatusCode::OK,
            body,
            requests: Vec::new(),
            handshakes: Vec::new(),
        }));
        let (closed_tx, closed) = mpsc::unbounded_channel();
        let state = served.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let state = state.clone();
                let closed_tx = closed_tx.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, state).await,
                        // A client that does not trust the certificate ends the handshake.
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                let connection = stream.get_ref().1;
                                state.lock().handshakes.push((
                                    connection.server_name().map(str::to_owned),
                                    connection.alpn_protocol().map(<[u8]>::to_vec),
                                ));
                                serve_connection(stream, state).await;
                            }
                        }
                    }
                    let _ = closed_tx.send(());
                });
            }
        });
        Self {
            addr,
            served,
            closed,
        }
    }

    pub(super) fn serve(&self, status: StatusCode, body: String) {
        let mut served = self.served.lock();
        served.status = status;
        served.body = body;
    }

    pub(super) fn requests(&self) -> usize {
        self.served.lock().requests.len()
    }

    /// Remote key settings for this server: refresh every `cache_duration`, refetch for an
    /// unknown `kid` at most once an hour (so a second one within a test is refused).
    pub(super) fn remote(&self, cache_duration: Duration) -> RemoteJwks {
        let mut remote = RemoteJwks::new(format!("http://{}/keys", self.addr).parse().unwrap());
        remote.cache_duration = cache_duration;
        remote.failed_refetch = cache_duration;
        remote.unknown_kid_refetch_interval = Duration::from_secs(3600);
        remote
    }
}

/// Serves HTTP/1.1 on one connection: records each request, answers what `state` says.
async fn serve_connection<I>(stream: I, state: Arc<Mutex<Served>>)
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let service = service_fn(move |request: http::Request<Incoming>| {
        let mut served = state.lock();
        let host = request.headers()["host"].to_str().unwrap().to_owned();
        served
            .requests
            .push((host, request.uri().path().to_owned()));
        let response = http::Response::builder()
            .status(served.status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(served.body.clone())))
            .unwrap();
        async move { Ok::<_, Infallible>(response) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// References resolving any backend to one address.
pub(super) struct Resolved(pub(super) SocketAddr);

impl JwtReferences for Resolved {
    fn config_map_jwks(&self, name: &str) -> Result<String, String> {
        Err(format!("no ConfigMap {name}"))
    }
    fn jwks_backend(&self, _: &BackendRefSpec) -> Result<Option<http::uri::Authority>, String> {
        Ok(Some(self.0.to_string().parse().unwrap()))
    }
}

pub(super) fn remote_provider(remote: RemoteJwks) -> JwtProvider {
    let mut provider = JwtProvider::new("remote", Jwks::Remote(Box::new(remote)));
    provider.issuer = Some(ISSUER.into());
    provider
}

/// The fetches the layer's remote key set completed so far.
fn completed(layer: &JwtLayer) -> u64 {
    let stats = layer.stats();
    stats.jwks_fetch_success + stats.jwks_fetch_failed
}

/// Waits (bounded) until the layer's remote key set completed `fetches` fetches.
pub(super) async fn fetched(layer: &JwtLayer, fetches: u64) {
    tokio::time::timeout(PATIENCE, layer.wait_for_jwks_fetches(fetches))
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_rotate_by_kid_with_one_refetch_per_interval() {
    let old = TestKey::ec("old");
    let new = TestKey::ec("new");
    let server = JwksServer::spawn(jwks(&[&old])).await;
    let layer = JwtLayer::new(config(vec![remote_provider(
        server.remote(Duration::from_secs(3600)),
    )]));
    fetched(&layer, 1).await;
    let answer = send(&layer, bearer(&old.sign(&claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");

    // The server rotates: a token with the new kid makes the layer fetch again, and waits.
    server.serve(StatusCode::OK, jwks(&[&new]));
    let answer = send(&layer, bearer(&new.sign(&claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(server.requests(), 2);

    // The old key is gone; its kid is unknown now, and the next refetch is an hour away.
    send(&layer, bearer(&old.sign(&claims())))
        .await
        .assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwks doesn't have key to match kid or alg from Jwt",
        );
    let made_up = TestKey::ec("made-up");
    send(&layer, bearer(&made_up.sign(&claims())))
        .await
        .assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwks doesn't have key to match kid or alg from Jwt",
        );
    assert_eq!(
        server.requests(),
        2,
        "no fetch for the old or a made-up kid"
    );
    let stats = layer.stats();
    assert_eq!((stats.jwks_fetch_success, stats.jwks_fetch_failed), (2, 0));
    assert_eq!((stats.allowed, stats.denied), (2, 2));
}

#[tokio::test]
async fn keys_are_refreshed_at_the_cache_duration() {
    // The same kid with new key material: only the timed refresh can bring it.
    let before = TestKey::ec("k");
    let after = TestKey::ec("k");
    let server = JwksServer::spawn(jwks(&[&before])).await;
    let layer = JwtLayer::new(config(vec![remote_provider(
        server.remote(Duration::from_millis(100)),
    )]));
    fetched(&layer, 1).await;
    assert_eq!(
        send(&layer, bearer(&before.sign(&claims()))).await.status,
        StatusCode::OK
    );

    // Two more fetches: the second surely started after the server changed its keys.
    server.serve(StatusCode::OK, jwks(&[&after]));
    fetched(&layer, completed(&layer) + 2).await;
    send(&layer, bearer(&before.sign(&claims())))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt verification fails");
    assert_eq!(
        send(&layer, bearer(&after.sign(&claims()))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_fetches_keep_the_last_good_keys() {
    let key = TestKey::ec("k");
    let server = JwksServer::spawn(jwks(&[&key])).await;
    let layer = JwtLayer::new(config(vec![remote_provider(
        server.remote(Duration::from_millis(50)),
    )]));
    fetched(&layer, 1).await;

    // Two more fetches: the second surely started after the server changed its answer.
    server.serve(StatusCode::INTERNAL_SERVER_ERROR, "oops".into());
    fetched(&layer, completed(&layer) + 2).await;
    assert!(layer.stats().jwks_fetch_failed >= 1, "{:?}", layer.stats());
    server.serve(StatusCode::OK, "{\"keys\": \"not a list\"}".into());
    let failed = layer.stats().jwks_fetch_failed;
    fetched(&layer, completed(&layer) + 2).await;
    assert!(
        layer.stats().jwks_fetch_failed > failed,
        "{:?}",
        layer.stats()
    );
    let answer = send(&layer, bearer(&key.sign(&claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn requests_wait_for_the_first_fetch() {
    let key = TestKey::ec("k");
    let server = JwksServer::spawn(jwks(&[&key])).await;
    let layer = JwtLayer::new(config(vec![remote_provider(
        server.remote(Duration::from_secs(3600)),
    )]));
    // No wait for the fetch: the request waits for it.
    let answer = send(&layer, bearer(&key.sign(&claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn an_oversized_or_unreachable_jwks_leaves_no_keys() {
    let key = TestKey::ec("k");
    let server = JwksServer::spawn(jwks(&[&key])).await;
    let mut remote = server.remote(Duration::from_secs(3600));
    remote.max_response_bytes = 64;
    let layer = JwtLayer::new(config(vec![remote_provider(remote)]));
    fetched(&layer, 1).await;
    // The request asks for one more fetch, which fails the same way.
    send(&layer, bearer(&key.sign(&claims())))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwks remote fetch is failed");
    assert_eq!(server.requests(), 2);
    assert_eq!(layer.stats().jwks_fetch_failed, 2);

    // Nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut remote = RemoteJwks::new(format!("http://{addr}/keys").parse().unwrap());
    remote.failed_refetch = Duration::from_secs(3600);
    remote.retry = Some(FetchRetry {
        retries: 2,
        base_interval: Duration::from_millis(1),
        max_interval: Duration::from_millis(5),
    });
    let layer = JwtLayer::new(config(vec![remote_provider(remote)]));
    fetched(&layer, 1).await;
    assert_eq!(
        layer.stats().jwks_fetch_failed,
        1,
        "one round, retries inside it"
    );
}

#[tokio::test]
async fn the_backend_gets_the_url_host_and_path() {
    let key = TestKey::ec("k");
    let server = JwksServer::spawn(jwks(&[&key])).await;
    let spec: JwtSpec = serde_json::from_value(json!({"providers": [{
        "name": "idp",
        "jwks": {"remote": {
            "url": "http://idp.example/.well-known/jwks.json",
            "backendRef": {"name": "idp", "port": 80},
        }},
    }]}))
    .unwrap();
    let layer = JwtLayer::new(spec.compile(&Resolved(server.addr)).unwrap());
    fetched(&layer, 1).await;
    assert_eq!(
        server.served.lock().requests,
        vec![(
            "idp.example".to_owned(),
            "/.well-known/jwks.json".to_owned()
        )]
    );
    assert_eq!(
        send(&layer, bearer(&key.sign(&claims()))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_fetch_task_stops_with_the_last_clone() {
    let key = TestKey::ec("k");
    let mut server = JwksServer::spawn(jwks(&[&key])).await;
    let layer = JwtLayer::new(config(vec![remote_provider(
        server.remote(Duration::from_millis(20)),
    )]));
    let service = layer.layer(tower::service_fn(backend));
    let clone = layer.clone();
    fetched(&layer, 2).await;
    drop(layer);
    drop(service);
    // Still fetching (every 20 ms, over one pooled connection) for the remaining clone.
    fetched(&clone, 3).await;
    drop(clone);
    // The task and its client go away, and so does the connection, which the client would
    // otherwise keep for its next fetches (idle connections live 90 s).
    tokio::time::timeout(PATIENCE, server.closed.recv())
        .await
        .unwrap()
        .unwrap();
}
