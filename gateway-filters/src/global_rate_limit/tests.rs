use bytes::Bytes;
use envoy_types::pb::{
    envoy::{
        config::core::v3::HeaderValue as ProtoHeader,
        service::ratelimit::v3::{
            RateLimitRequest, RateLimitResponse,
            rate_limit_response::{Code, DescriptorStatus, RateLimit, rate_limit::Unit},
            rate_limit_service_server::{RateLimitService, RateLimitServiceServer},
        },
    },
    google::protobuf::Duration as ProtoDuration,
};
use gateway_core::{
    Request, Response, ResponseFlag, body,
    extensions::{ClientAddr, ConnectionInfo},
};
use http::{HeaderName, StatusCode};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};
use tower::{Layer, ServiceExt, service_fn};

use super::{client::decide, *};

/// A descriptor as the service saw it: its `(key, value)` entries.
type Seen = Vec<(String, String)>;

/// How the test rate limit service behaves.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Counts hits per descriptor; a descriptor hit more than `limit` times is over the
    /// limit, as `envoyproxy/ratelimit` with a limit of `limit` per minute answers.
    Count { limit: u32 },
    /// Never answers.
    Hang,
    /// Answers with a gRPC error.
    Fail,
    /// Says `OVER_LIMIT` with a body and a content type of its own.
    OverLimitWithBody,
}

/// A rate limit service following Envoy's protocol: the real peer of the tests.
struct TestRls {
    behaviour: Behaviour,
    counts: Mutex<HashMap<Seen, u32>>,
    /// The requests received: domain and descriptors.
    requests: Mutex<Vec<(String, Vec<Seen>)>>,
}

#[tonic::async_trait]
impl RateLimitService for TestRls {
    async fn should_rate_limit(
        &self,
        request: tonic::Request<RateLimitRequest>,
    ) -> Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        let request = request.into_inner();
        let descriptors: Vec<Seen> = request
            .descriptors
            .iter()
            .map(|descriptor| {
                descriptor
                    .entries
                    .iter()
                    .map(|entry| (entry.key.clone(), entry.value.clone()))
                    .collect()
            })
            .collect();
        self.requests
            .lock()
            .push((request.domain.clone(), descriptors.clone()));
        let limit = match self.behaviour {
            Behaviour::Count { limit } => limit,
            Behaviour::Hang => std::future::pending().await,
            Behaviour::Fail => return Err(tonic::Status::unavailable("redis is down")),
            Behaviour::OverLimitWithBody => {
                return Ok(tonic::Response::new(RateLimitResponse {
                    overall_code: Code::OverLimit as i32,
                    raw_body: b"{\"error\":\"slow down\"}".to_vec(),
                    response_headers_to_add: vec![header("content-type", "application/json")],
                    ..RateLimitResponse::default()
                }));
            }
        };
        let mut counts = self.counts.lock();
        let statuses: Vec<DescriptorStatus> = descriptors
            .into_iter()
            .enumerate()
            .map(|(index, descriptor)| {
                let hits = counts.entry(descriptor).or_default();
                *hits += 1;
                DescriptorStatus {
                    code: if *hits > limit {
                        Code::OverLimit
                    } else {
                        Code::Ok
                    } as i32,
                    current_limit: Some(RateLimit {
                        name: if index == 0 {
                            "per-user".into()
                        } else {
                            String::new()
                        },
                        // The second descriptor has a looser limit, to show the closest wins.
                        requests_per_unit: limit * (index as u32 + 1),
                        unit: Unit::Minute as i32,
                    }),
                    limit_remaining: (limit * (index as u32 + 1)).saturating_sub(*hits),
                    duration_until_reset: Some(ProtoDuration {
                        seconds: 42,
                        nanos: 0,
                    }),
                    quota: None,
                }
            })
            .collect();
        let over = statuses
            .iter()
            .any(|status| status.code == Code::OverLimit as i32);
        Ok(tonic::Response::new(RateLimitResponse {
            overall_code: if over { Code::OverLimit } else { Code::Ok } as i32,
            statuses,
            response_headers_to_add: vec![header("x-rls", if over { "over" } else { "ok" })],
            request_headers_to_add: vec![header("x-rls-checked", "yes")],
            ..RateLimitResponse::default()
        }))
    }
}

fn header(key: &str, value: &str) -> ProtoHeader {
    ProtoHeader {
        key: key.into(),
        value: value.into(),
        raw_value: Vec::new(),
    }
}

/// Starts `behaviour`'s service on 127.0.0.1:0; returns its address and state.
async fn start_rls(behaviour: Behaviour) -> (SocketAddr, Arc<TestRls>) {
    let rls = Arc::new(TestRls {
        behaviour,
        counts: Mutex::default(),
        requests: Mutex::default(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = RateLimitServiceServer::from_arc(rls.clone());
    tokio::spawn(Server::builder().serve_with_incoming(server, TcpIncoming::from(listener)));
    (addr, rls)
}

/// An address nothing listens on.
async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A backend that answers `200` and echoes `x-rls-checked` back as `x-seen-checked`.
fn backend(
    calls: Arc<AtomicUsize>,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    service_fn(move |request: Request| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut response = Response::new(body::full("backend"));
            if let Some(checked) = request.headers().get("x-rls-checked") {
                response
                    .headers_mut()
                    .insert("x-seen-checked", checked.clone());
            }
            Ok::<_, Infallible>(response)
        }
    })
}

/// Descriptors from kgateway JSON.
fn descriptors(json: &str) -> Arc<[RateLimitDescriptor]> {
    serde_json::from_str::<GlobalRateLimitSpec>(&format!(
        r#"{{"extensionRef": {{"name": "rls"}}, "descriptors": {json}}}"#
    ))
    .unwrap()
    .compile()
    .unwrap()
}

/// A layer for `addr` with a generous timeout (the tests do not depend on timing).
fn layer(addr: SocketAddr, provider: RateLimitProvider, json: &str) -> GlobalRateLimitLayer {
    GlobalRateLimitLayer::new(GlobalRateLimitConfig::new(
        provider,
        vec![addr],
        descriptors(json),
    ))
}

fn provider() -> RateLimitProvider {
    RateLimitProvider {
        timeout: Duration::from_secs(10),
        ..RateLimitProvider::new("test-domain")
    }
}

/// A request from `user` (in `x-user`).
fn from_user(user: &str) -> Request {
    http::Request::builder()
        .uri("/orders/7?expand=items")
        .header("x-user", user)
        .body(body::empty())
        .unwrap()
}

const PER_USER: &str = r#"[{"entries": [{"type": "Header", "header": "X-User"}]}]"#;

#[tokio::test]
async fn over_the_limit_the_gateway_answers_429_with_the_services_headers() {
    let (addr, rls) = start_rls(Behaviour::Count { limit: 2 }).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let limited = layer(addr, provider(), PER_USER);
    let service = limited.layer(backend(calls.clone()));

    for _ in 0..2 {
        let response = service.clone().oneshot(from_user("alice")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // OK: the service's request headers reach the backend, its response headers the
        // client.
        assert_eq!(response.headers()["x-seen-checked"], "yes");
        assert_eq!(response.headers()["x-rls"], "ok");
        assert!(response.headers().get("x-envoy-ratelimited").is_none());
    }
    let response = service.clone().oneshot(from_user("alice")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::RateLimited)
    );
    assert_eq!(response.headers()["x-envoy-ratelimited"], "true");
    assert_eq!(response.headers()["x-rls"], "over");
    assert!(response.headers().get("content-type").is_none());
    assert!(
        response.headers().get("x-ratelimit-limit").is_none(),
        "xRateLimitHeaders is off"
    );
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        text.is_empty(),
        "Envoy's 429 has no body unless the service sends one"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the limited request reached the backend"
    );

    // Counted per descriptor: another user is not limited.
    let response = service.oneshot(from_user("bob")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        limited.stats(),
        GlobalRateLimitStats {
            ok: 3,
            over_limit: 1,
            ..GlobalRateLimitStats::default()
        }
    );
    let requests = rls.requests.lock();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].0, "test-domain");
    assert_eq!(
        requests[3].1,
        [vec![("X-User".to_owned(), "bob".to_owned())]],
        "the key is the header name as the policy writes it"
    );
}

#[tokio::test]
async fn descriptors_are_built_as_envoy_builds_them() {
    let (addr, rls) = start_rls(Behaviour::Count { limit: 100 }).await;
    let service = layer(
        addr,
        provider(),
        r#"[
            {"entries": [{"type": "Generic", "generic": {"key": "route", "value": "orders"}},
                         {"type": "RemoteAddress"}]},
            {"entries": [{"type": "Header", "header": "x-tenant"}, {"type": "Path"}]},
            {"entries": [{"type": "Path"}]}
        ]"#,
    )
    .layer(backend(Arc::default()));

    // The trusted client address; then the peer's (without the port) when there is none.
    let mut request = from_user("alice");
    request
        .extensions_mut()
        .insert(ClientAddr("2001:db8::7".parse().unwrap()));
    request
        .headers_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    service.clone().oneshot(request).await.unwrap();
    let mut request = from_user("alice");
    request.extensions_mut().insert(ConnectionInfo {
        remote_addr: "192.0.2.9:50000".parse().unwrap(),
        local_addr: "127.0.0.1:8080".parse().unwrap(),
        tls: false,
        server_name: None,
    });
    service.clone().oneshot(request).await.unwrap();
    // No address and no x-tenant: only the path descriptor is left.
    service.clone().oneshot(from_user("alice")).await.unwrap();

    let pair = |key: &str, value: &str| (key.to_owned(), value.to_owned());
    let requests = rls.requests.lock();
    let seen: Vec<&Vec<Seen>> = requests
        .iter()
        .map(|(_, descriptors)| descriptors)
        .collect();
    assert_eq!(
        seen,
        [
            &vec![
                vec![
                    pair("route", "orders"),
                    pair("remote_address", "2001:db8::7")
                ],
                vec![
                    pair("x-tenant", "acme"),
                    pair("path", "/orders/7?expand=items")
                ],
                vec![pair("path", "/orders/7?expand=items")],
            ],
            &vec![
                vec![pair("route", "orders"), pair("remote_address", "192.0.2.9")],
                vec![pair("path", "/orders/7?expand=items")],
            ],
            &vec![vec![pair("path", "/orders/7?expand=items")]],
        ]
    );
}

#[tokio::test]
async fn without_any_descriptor_the_service_is_not_asked() {
    let (addr, rls) = start_rls(Behaviour::Count { limit: 0 }).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer(addr, provider(), PER_USER).layer(backend(calls.clone()));
    let response = service.oneshot(Request::default()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(rls.requests.lock().is_empty());
}

#[tokio::test]
async fn x_ratelimit_headers_come_from_the_closest_limit() {
    let (addr, _rls) = start_rls(Behaviour::Count { limit: 2 }).await;
    let service = layer(
        addr,
        RateLimitProvider {
            x_rate_limit_headers: XRateLimitHeaders::DraftVersion03,
            ..provider()
        },
        r#"[{"entries": [{"type": "Header", "header": "x-user"}]},
            {"entries": [{"type": "Generic", "generic": {"key": "all", "value": "yes"}}]}]"#,
    )
    .layer(backend(Arc::default()));

    let response = service.clone().oneshot(from_user("alice")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(
        headers["x-ratelimit-limit"],
        "2, 2;w=60;name=\"per-user\", 4;w=60"
    );
    assert_eq!(headers["x-ratelimit-remaining"], "1");
    assert_eq!(headers["x-ratelimit-reset"], "42");

    service.clone().oneshot(from_user("alice")).await.unwrap();
    let response = service.oneshot(from_user("alice")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn the_services_body_and_content_type_make_the_429() {
    let (addr, _rls) = start_rls(Behaviour::OverLimitWithBody).await;
    let service = layer(addr, provider(), PER_USER).layer(backend(Arc::default()));
    let response = service.oneshot(from_user("alice")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers().get_all("content-type").iter().count(), 1);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, Bytes::from_static(b"{\"error\":\"slow down\"}"));
}

/// The status, backend calls and stats of one request through a layer that cannot get an
/// answer from `addr`.
async fn when_the_service_fails(
    addr: SocketAddr,
    fail_open: bool,
    timeout: Duration,
) -> (StatusCode, usize, GlobalRateLimitStats) {
    let calls = Arc::new(AtomicUsize::new(0));
    let limited = layer(
        addr,
        RateLimitProvider {
            fail_open,
            timeout,
            ..provider()
        },
        PER_USER,
    );
    let response = limited
        .layer(backend(calls.clone()))
        .oneshot(from_user("alice"))
        .await
        .unwrap();
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        assert_eq!(
            response.extensions().get::<ResponseFlag>(),
            Some(&ResponseFlag::RateLimitServiceError)
        );
        let text = response.into_body().collect().await.unwrap().to_bytes();
        assert!(text.is_empty(), "Envoy's 500 has no body");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            calls.load(Ordering::SeqCst),
            limited.stats(),
        );
    }
    (
        response.status(),
        calls.load(Ordering::SeqCst),
        limited.stats(),
    )
}

#[tokio::test]
async fn a_down_service_fails_open_or_answers_500() {
    let addr = refused_addr().await;
    let open = GlobalRateLimitStats {
        error: 1,
        failure_mode_allowed: 1,
        ..GlobalRateLimitStats::default()
    };
    let closed = GlobalRateLimitStats {
        error: 1,
        ..GlobalRateLimitStats::default()
    };
    let timeout = Duration::from_secs(10);
    assert_eq!(
        when_the_service_fails(addr, true, timeout).await,
        (StatusCode::OK, 1, open)
    );
    assert_eq!(
        when_the_service_fails(addr, false, timeout).await,
        (StatusCode::INTERNAL_SERVER_ERROR, 0, closed)
    );
}

#[tokio::test]
async fn a_failing_service_fails_open_or_answers_500() {
    let (addr, rls) = start_rls(Behaviour::Fail).await;
    let timeout = Duration::from_secs(10);
    assert_eq!(
        when_the_service_fails(addr, true, timeout).await.0,
        StatusCode::OK
    );
    assert_eq!(
        when_the_service_fails(addr, false, timeout).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(rls.requests.lock().len(), 2, "the service was asked");
}

#[tokio::test]
async fn a_slow_service_times_out_then_fails_open_or_answers_500() {
    let (addr, rls) = start_rls(Behaviour::Hang).await;
    let timeout = Duration::from_millis(200);
    assert_eq!(
        when_the_service_fails(addr, true, timeout).await.0,
        StatusCode::OK
    );
    assert_eq!(
        when_the_service_fails(addr, false, timeout).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(rls.requests.lock().len(), 2, "the service got the requests");
}

#[tokio::test]
async fn clones_share_one_channel_and_several_endpoints_are_balanced() {
    let (first, first_rls) = start_rls(Behaviour::Count { limit: 100 }).await;
    let (second, second_rls) = start_rls(Behaviour::Count { limit: 100 }).await;
    let limited = GlobalRateLimitLayer::new(GlobalRateLimitConfig::new(
        provider(),
        vec![first, second],
        descriptors(PER_USER),
    ));
    let service = limited.layer(backend(Arc::default()));
    for _ in 0..20 {
        let response = service.clone().oneshot(from_user("alice")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (first, second) = (
        first_rls.requests.lock().len(),
        second_rls.requests.lock().len(),
    );
    assert_eq!(first + second, 20);
    assert!(first > 0 && second > 0, "{first} and {second}");
}

#[test]
fn decisions_follow_envoys_reading_of_the_answer() {
    // UNKNOWN (a misbehaving service) lets the request through, as in Envoy.
    let unknown = RateLimitResponse::default();
    assert!(matches!(
        decide(unknown, XRateLimitHeaders::DraftVersion03),
        client::Decision::Allow { .. }
    ));
    // Invalid headers are left out; raw values win over string ones.
    let response = RateLimitResponse {
        overall_code: Code::Ok as i32,
        response_headers_to_add: vec![
            header("bad header", "x"),
            ProtoHeader {
                key: "x-raw".into(),
                value: "ignored".into(),
                raw_value: b"raw".to_vec(),
            },
        ],
        statuses: vec![DescriptorStatus {
            code: Code::Ok as i32,
            current_limit: None,
            limit_remaining: 0,
            duration_until_reset: None,
            quota: None,
        }],
        ..RateLimitResponse::default()
    };
    let client::Decision::Allow {
        response_headers, ..
    } = decide(response, XRateLimitHeaders::DraftVersion03)
    else {
        panic!("allowed")
    };
    assert_eq!(
        response_headers,
        [(HeaderName::from_static("x-raw"), "raw".parse().unwrap())],
        "no limit in any status: no X-RateLimit headers"
    );
}

#[test]
fn specs_compile_with_kgateway_defaults() {
    let provider: RateLimitProviderSpec = serde_json::from_str(
        r#"{"domain": "api", "grpcService": {"backendRef": {"name": "rls", "port": 8081}}}"#,
    )
    .unwrap();
    assert_eq!(provider.compile().unwrap(), RateLimitProvider::new("api"));
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_millis(100));

    let provider: RateLimitProviderSpec = serde_json::from_str(
        r#"{"domain": "api", "failOpen": false, "timeout": "1s", "xRateLimitHeaders": "DraftVersion03",
            "grpcService": {"backendRef": {"name": "rls", "port": 8081},
                            "authority": "ratelimit.internal", "requestTimeout": "250ms"}}"#,
    )
    .unwrap();
    assert_eq!(
        provider.compile().unwrap(),
        RateLimitProvider {
            domain: "api".into(),
            authority: Some("ratelimit.internal".parse().unwrap()),
            fail_open: false,
            timeout: Duration::from_millis(250),
            x_rate_limit_headers: XRateLimitHeaders::DraftVersion03,
        }
    );

    assert_eq!(
        &*descriptors(
            r#"[{"entries": [{"type": "Generic", "generic": {"key": "k", "value": "v"}},
                             {"type": "Header", "header": "X-User-ID"},
                             {"type": "RemoteAddress"}, {"type": "Path"}]}]"#
        ),
        [RateLimitDescriptor {
            entries: vec![
                DescriptorEntry::Generic {
                    key: "k".into(),
                    value: "v".into()
                },
                DescriptorEntry::Header {
                    name: HeaderName::from_static("x-user-id"),
                    key: "X-User-ID".into()
                },
                DescriptorEntry::RemoteAddress,
                DescriptorEntry::Path,
            ]
        }]
    );
}

#[test]
fn spec_errors_name_the_field() {
    let policy = |json: &str| {
        serde_json::from_str::<GlobalRateLimitSpec>(&format!(
            r#"{{"extensionRef": {{"name": "rls"}}, "descriptors": {json}}}"#
        ))
        .unwrap()
        .compile()
        .unwrap_err()
    };
    for (json, field, reason) in [
        ("[]", "descriptors", "at least one"),
        (
            r#"[{"entries": []}]"#,
            "descriptors[0].entries",
            "at least one",
        ),
        (
            r#"[{"entries": [{"type": "Path"}]}, {"entries": [{"type": "Generic"}]}]"#,
            "descriptors[1].entries[0].generic",
            "needs generic",
        ),
        (
            r#"[{"entries": [{"type": "Generic", "generic": {"key": "", "value": "v"}}]}]"#,
            "descriptors[0].entries[0].generic.key",
            "empty",
        ),
        (
            r#"[{"entries": [{"type": "Header", "header": "x-a", "generic": {"key": "k", "value": "v"}}]}]"#,
            "descriptors[0].entries[0].header",
            "no generic",
        ),
        (
            r#"[{"entries": [{"type": "Header", "header": "not a name"}]}]"#,
            "descriptors[0].entries[0].header",
            "not a header name",
        ),
        (
            r#"[{"entries": [{"type": "Path"}, {"type": "RemoteAddress", "header": "x-a"}]}]"#,
            "descriptors[0].entries[1]",
            "neither",
        ),
    ] {
        let error = policy(json);
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
    }
    assert!(
        serde_json::from_str::<GlobalRateLimitSpec>(
            r#"{"extensionRef": {"name": "rls"}, "descriptors": [{"entries": [{"type": "Cookie"}]}]}"#
        )
        .is_err()
    );
    let unnamed = serde_json::from_str::<GlobalRateLimitSpec>(
        r#"{"extensionRef": {"name": ""}, "descriptors": [{"entries": [{"type": "Path"}]}]}"#,
    )
    .unwrap()
    .compile()
    .unwrap_err();
    assert_eq!(unnamed.field, "extensionRef.name", "{unnamed}");

    let provider = |json: &str| {
        serde_json::from_str::<RateLimitProviderSpec>(json)
            .unwrap()
            .compile()
            .unwrap_err()
    };
    for (json, field) in [
        (
            r#"{"domain": "", "grpcService": {"backendRef": {"name": "rls"}}}"#,
            "domain",
        ),
        (
            r#"{"domain": "d", "timeout": "0s", "grpcService": {"backendRef": {"name": "rls"}}}"#,
            "timeout",
        ),
        (
            r#"{"domain": "d", "grpcService": {"backendRef": {"name": "rls"}, "requestTimeout": "0s"}}"#,
            "grpcService.requestTimeout",
        ),
        (
            r#"{"domain": "d", "grpcService": {"backendRef": {"name": "rls"}, "authority": "a b"}}"#,
            "grpcService.authority",
        ),
    ] {
        assert_eq!(provider(json).field, field, "{json}");
    }
}
