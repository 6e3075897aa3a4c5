//! Connection-level policy settings against real sockets: TCP keepalive, connect timeout,
//! requests per connection, header count, idle timeout, stream duration, generated hash
//! cookies.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    time::Instant,
};
use tower::ServiceExt;

use crate::{
    Limits, Request, Response, ResponseFlag,
    backend::{
        AppProtocol, Backend, BackendPolicy, BackendService, CircuitBreaker, CircuitBreakers,
        CommonHttpProtocolOptions, HashCookie, HashKey, HashPolicy, Http2ConnectionKeepalive,
        Http2ProtocolOptions, LoadBalancer, LoadBalancerAlgorithm, RingHash, TcpKeepalive,
        UpstreamClient, UpstreamEndpoint, pool::connect_tcp,
    },
    body, test_util,
};

fn service(
    endpoints: &[SocketAddr],
    protocol: AppProtocol,
    policy: &BackendPolicy,
) -> BackendService {
    let backend = Backend::with_policy(
        endpoints.to_vec().into(),
        protocol,
        policy,
        &tokio::runtime::Handle::current(),
    );
    BackendService::new(UpstreamClient::new(&Limits::default()), Arc::new(backend))
}

fn common(options: CommonHttpProtocolOptions) -> BackendPolicy {
    BackendPolicy {
        common_http_protocol_options: options,
        ..BackendPolicy::default()
    }
}

fn get(path: &str) -> Request {
    let mut request = http::Request::get(path).body(body::empty()).unwrap();
    request
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("example.com"));
    request
}

async fn call(service: &BackendService, request: Request) -> (Response, Result<Bytes, String>) {
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|err| err.to_string());
    (http::Response::from_parts(parts, body::empty()), bytes)
}

fn flag(response: &Response) -> Option<ResponseFlag> {
    response.extensions().get::<ResponseFlag>().copied()
}

/// Lets spawned tasks (connection tasks noticing a finished exchange) run.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// An HTTP/1.1 backend answering each request with a number identifying its connection;
/// counts requests per connection.
async fn connection_reporter() -> (SocketAddr, Arc<parking_lot::Mutex<HashMap<usize, usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(parking_lot::Mutex::new(HashMap::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        let next = AtomicUsize::new(0);
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let id = next.fetch_add(1, Ordering::SeqCst);
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    *seen.lock().entry(id).or_insert(0) += 1;
                    async move {
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(
                            id.to_string(),
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, requests)
}

#[tokio::test]
async fn tcp_keepalive_is_set_on_upstream_sockets() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let policy = BackendPolicy {
        tcp_keepalive: Some(TcpKeepalive {
            keep_alive_probes: Some(4),
            keep_alive_time: Some(Duration::from_secs(30)),
            keep_alive_interval: Some(Duration::from_secs(5)),
        }),
        ..BackendPolicy::default()
    };
    let client = UpstreamClient::new(&Limits::default());
    let service = BackendService::new(
        client.clone(),
        Arc::new(Backend::with_policy(
            vec![addr].into(),
            AppProtocol::Http1,
            &policy,
            &tokio::runtime::Handle::current(),
        )),
    );
    let keepalive = service.client().tcp_keepalive();
    let stream = connect_tcp(addr, Duration::from_secs(1), keepalive)
        .await
        .unwrap();
    let socket = socket2::SockRef::from(&stream);
    assert!(socket.keepalive().unwrap());
    assert_eq!(
        socket.tcp_keepalive_time().unwrap(),
        Duration::from_secs(30)
    );
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(5)
    );
    assert_eq!(socket.tcp_keepalive_retries().unwrap(), 4);

    assert!(client.tcp_keepalive().is_none());
    let plain = connect_tcp(addr, Duration::from_secs(1), client.tcp_keepalive())
        .await
        .unwrap();
    assert!(!socket2::SockRef::from(&plain).keepalive().unwrap());
}

/// A listener whose accept queue is full: connecting to it hangs (the SYN is dropped).
fn blackhole() -> (SocketAddr, socket2::Socket, std::net::TcpStream) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let filler = std::net::TcpStream::connect(addr).unwrap();
    (addr, socket, filler)
}

#[tokio::test(start_paused = true)]
async fn connect_timeout_answers_503_uf() {
    let (addr, _listener, _filler) = blackhole();
    let service = service(
        &[addr],
        AppProtocol::Http1,
        &BackendPolicy {
            connect_timeout: Some(Duration::from_secs(2)),
            ..BackendPolicy::default()
        },
    );
    let started = Instant::now();
    let (response, _) = call(&service, get("/")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UpstreamConnectionFailure)
    );
    // The policy's 2 s, not the client's default 5 s.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn max_requests_per_connection_retires_connections() {
    let (addr, requests) = connection_reporter().await;
    let service = service(
        &[addr],
        AppProtocol::Http1,
        &common(CommonHttpProtocolOptions {
            max_requests_per_connection: NonZeroU32::new(2),
            ..CommonHttpProtocolOptions::default()
        }),
    );
    for _ in 0..10 {
        let (response, body) = call(&service, get("/")).await;
        assert_eq!(response.status(), StatusCode::OK, "{body:?}");
        settle().await;
    }
    let requests = requests.lock().clone();
    assert_eq!(requests.values().sum::<usize>(), 10);
    assert!(requests.values().all(|&n| n <= 2), "{requests:?}");
    assert!(
        requests.values().any(|&n| n == 2),
        "connections were never reused: {requests:?}"
    );
}

#[tokio::test]
async fn too_many_response_headers_are_502_upe() {
    let echo = test_util::spawn_echo().await;
    let many = || {
        let mut request = get("/");
        request.headers_mut().insert(
            "x-echo-set-header",
            HeaderValue::from_static("a:1,b:2,c:3,d:4,e:5,f:6"),
        );
        request
    };
    let limited = service(
        &[echo],
        AppProtocol::Http1,
        &common(CommonHttpProtocolOptions {
            max_headers_count: Some(5),
            ..CommonHttpProtocolOptions::default()
        }),
    );
    let (response, _) = call(&limited, many()).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(flag(&response), Some(ResponseFlag::UpstreamProtocolError));
    let (response, _) = call(&limited, get("/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let unlimited = service(&[echo], AppProtocol::Http1, &BackendPolicy::default());
    let (response, _) = call(&unlimited, many()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_close_after_the_idle_timeout() {
    let (addr, requests) = connection_reporter().await;
    let service = service(
        &[addr],
        AppProtocol::Http1,
        &common(CommonHttpProtocolOptions {
            idle_timeout: Some(Duration::from_secs(10)),
            ..CommonHttpProtocolOptions::default()
        }),
    );
    let connection = |body: Result<Bytes, String>| body.unwrap();
    let (_, first) = call(&service, get("/")).await;
    settle().await;
    let (_, second) = call(&service, get("/")).await;
    assert_eq!(connection(first.clone()), connection(second));
    settle().await;
    tokio::time::advance(Duration::from_secs(11)).await;
    // The pool's sweep closes the idle connection.
    settle().await;
    let (_, third) = call(&service, get("/")).await;
    assert_ne!(connection(first), connection(third));
    assert_eq!(requests.lock().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn max_stream_duration_answers_408_before_headers() {
    let hang = test_util::spawn_hang().await;
    let service = service(
        &[hang],
        AppProtocol::Http1,
        &common(CommonHttpProtocolOptions {
            max_stream_duration: Some(Duration::from_secs(3)),
            ..CommonHttpProtocolOptions::default()
        }),
    );
    let started = Instant::now();
    let (response, _) = call(&service, get("/")).await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UpstreamMaxStreamDurationReached)
    );
    assert_eq!(
        response.extensions().get::<UpstreamEndpoint>(),
        Some(&UpstreamEndpoint(hang))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn max_stream_duration_cuts_a_slow_body() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .await
            .unwrap();
        // Never finishes the body.
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let service = service(
        &[addr],
        AppProtocol::Http1,
        &common(CommonHttpProtocolOptions {
            max_stream_duration: Some(Duration::from_secs(3)),
            ..CommonHttpProtocolOptions::default()
        }),
    );
    let (response, body) = call(&service, get("/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let err = body.unwrap_err();
    assert!(err.contains("max stream duration"), "{err}");
}

#[tokio::test]
async fn ring_hash_cookie_is_generated_and_sticks() {
    let endpoints = [
        test_util::spawn_echo_named("a").await,
        test_util::spawn_echo_named("b").await,
        test_util::spawn_echo_named("c").await,
    ];
    let policy = BackendPolicy {
        load_balancer: LoadBalancer {
            algorithm: LoadBalancerAlgorithm::RingHash(RingHash {
                hash_policies: vec![HashPolicy {
                    key: HashKey::Cookie(HashCookie {
                        ttl: Some(Duration::from_secs(60)),
                        ..HashCookie::named("sticky")
                    }),
                    terminal: true,
                }],
                ..RingHash::default()
            }),
            ..LoadBalancer::default()
        },
        ..BackendPolicy::default()
    };
    let service = service(&endpoints, AppProtocol::Http1, &policy);
    let name = |body: Result<Bytes, String>| -> String {
        let json: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
        json["name"].as_str().unwrap().to_owned()
    };
    for _ in 0..5 {
        let (response, body) = call(&service, get("/")).await;
        let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(set_cookie.ends_with("; Max-Age=60"), "{set_cookie}");
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let first = name(body);
        for _ in 0..5 {
            let mut request = get("/");
            request
                .headers_mut()
                .insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
            let (response, body) = call(&service, request).await;
            assert!(!response.headers().contains_key(header::SET_COOKIE));
            assert_eq!(name(body), first);
        }
    }
}

#[tokio::test]
async fn responses_carry_the_circuit_breaker_only_when_configured() {
    let echo = test_util::spawn_echo().await;
    let plain = service(&[echo], AppProtocol::Http1, &BackendPolicy::default());
    let (response, _) = call(&plain, get("/")).await;
    assert!(response.extensions().get::<CircuitBreaker>().is_none());
    let limited = service(
        &[echo],
        AppProtocol::Http1,
        &BackendPolicy {
            circuit_breakers: Some(CircuitBreakers::default()),
            ..BackendPolicy::default()
        },
    );
    let (response, _) = call(&limited, get("/")).await;
    let breaker = response.extensions().get::<CircuitBreaker>().unwrap();
    assert_eq!(breaker.limits().max_retries, 3);
    assert_eq!(breaker.active_requests(), 0);
}

#[tokio::test]
async fn h2c_backend_with_http2_options() {
    let echo = test_util::spawn_echo_h2c().await;
    let policy = BackendPolicy {
        http2_protocol_options: Http2ProtocolOptions {
            initial_stream_window_size: Some(1 << 20),
            initial_connection_window_size: Some(4 << 20),
            max_concurrent_streams: NonZeroU32::new(8),
            connection_keepalive: Some(Http2ConnectionKeepalive {
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(5),
            }),
        },
        ..BackendPolicy::default()
    };
    let service = service(&[echo], AppProtocol::H2c, &policy);
    for _ in 0..3 {
        let (response, body) = call(&service, get("/")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let json: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
        assert_eq!(json["protocol"], "HTTP/2.0");
        // The client's host travels as `:authority`, not the endpoint address.
        assert_eq!(json["host"], "example.com");
    }
}

#[tokio::test]
async fn a_policy_with_connection_settings_gets_its_own_pools_once() {
    let policy = common(CommonHttpProtocolOptions {
        max_headers_count: Some(50),
        ..CommonHttpProtocolOptions::default()
    });
    let backend = Arc::new(Backend::with_policy(
        vec![SocketAddr::from(([127, 0, 0, 1], 1))].into(),
        AppProtocol::Http1,
        &policy,
        &tokio::runtime::Handle::current(),
    ));
    let shared = UpstreamClient::new(&Limits::default());
    let first = BackendService::new(shared.clone(), backend.clone());
    let second = BackendService::new(shared.clone(), backend);
    assert!(first.client().shares_pools_with(second.client()));
    assert!(!first.client().shares_pools_with(&shared));
    let plain = BackendService::new(
        shared.clone(),
        Arc::new(Backend::new(vec![].into(), AppProtocol::Http1)),
    );
    assert!(plain.client().shares_pools_with(&shared));
    // An HTTP/1.1-only setting on an h2c backend changes nothing.
    let h2c = Backend::with_policy(
        vec![].into(),
        AppProtocol::H2c,
        &policy,
        &tokio::runtime::Handle::current(),
    );
    let h2c = BackendService::new(shared.clone(), Arc::new(h2c));
    assert!(h2c.client().shares_pools_with(&shared));
}
