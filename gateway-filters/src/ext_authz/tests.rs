//! Tests with real peers on loopback: a tonic `Authorization` server and a hyper HTTP
//! authorization server written here, in front of the gateway's echo backend reached
//! through the gateway's own upstream client.

use ::http::{HeaderValue, Method, StatusCode};
use bytes::Bytes;
use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            HeaderValue as ProtoHeader, HeaderValueOption, QueryParameter, address,
            header_value_option::HeaderAppendAction, socket_address,
        },
        service::auth::v3::{
            CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
            authorization_server::{Authorization, AuthorizationServer},
            check_response::HttpResponse,
        },
        r#type::v3::HttpStatus,
    },
    google::{protobuf::BoolValue, rpc::Status as RpcStatus},
};
use gateway_core::{
    BoxBody, Limits, Request, Response, ResponseFlag,
    backend::{AppProtocol, Backend, BackendService, UpstreamClient},
    body,
    extensions::{ConnectionInfo, RequestId},
    test_util::{spawn_echo, spawn_refused},
};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use serde_json::Value;
use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::mpsc;
use tower::{Layer, ServiceExt, service_fn};

use super::*;
use crate::spec::{FieldError, NamespacedObjectReferenceSpec};

// === gRPC authorization server ===

type Decide = dyn Fn(&CheckRequest) -> CheckResponse + Send + Sync;

/// A tonic `Authorization` server that records every check and answers with `decide`,
/// after `delay`.
struct GrpcAuth {
    seen: mpsc::UnboundedSender<CheckRequest>,
    decide: Arc<Decide>,
    delay: Duration,
}

#[tonic::async_trait]
impl Authorization for GrpcAuth {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let request = request.into_inner();
        let response = (self.decide)(&request);
        let _ = self.seen.send(request);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(tonic::Response::new(response))
    }
}

/// Starts a gRPC authorization server on `127.0.0.1:0`.
async fn grpc_server(
    delay: Duration,
    decide: impl Fn(&CheckRequest) -> CheckResponse + Send + Sync + 'static,
) -> (SocketAddr, mpsc::UnboundedReceiver<CheckRequest>) {
    let (addr, checks, _authorities) = grpc_server_seeing_authority(delay, decide).await;
    (addr, checks)
}

/// Starts a gRPC authorization server on `127.0.0.1:0` that also reports the `:authority`
/// of each call.
async fn grpc_server_seeing_authority(
    delay: Duration,
    decide: impl Fn(&CheckRequest) -> CheckResponse + Send + Sync + 'static,
) -> (
    SocketAddr,
    mpsc::UnboundedReceiver<CheckRequest>,
    mpsc::UnboundedReceiver<String>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, checks) = mpsc::unbounded_channel();
    let (authority_tx, authorities) = mpsc::unbounded_channel();
    let service = AuthorizationServer::new(GrpcAuth {
        seen,
        decide: Arc::new(decide),
        delay,
    });
    // Served with hyper's HTTP/2 server (tonic's own server needs its `router` feature).
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            let authority_tx = authority_tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: ::http::Request<hyper::body::Incoming>| {
                        let authority = request.uri().authority().map(ToString::to_string);
                        let _ = authority_tx.send(authority.unwrap_or_default());
                        service.clone().oneshot(request)
                    },
                );
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, checks, authorities)
}

fn status(code: i32) -> Option<RpcStatus> {
    Some(RpcStatus {
        code,
        ..RpcStatus::default()
    })
}

fn ok_response(ok: OkHttpResponse) -> CheckResponse {
    CheckResponse {
        status: status(0),
        http_response: Some(HttpResponse::OkResponse(ok)),
        ..CheckResponse::default()
    }
}

fn denied_response(denied: DeniedHttpResponse) -> CheckResponse {
    CheckResponse {
        // PERMISSION_DENIED
        status: status(7),
        http_response: Some(HttpResponse::DeniedResponse(denied)),
        ..CheckResponse::default()
    }
}

/// A header option with the deprecated `append` flag (when given) and an `append_action`.
#[allow(deprecated, reason = "servers still send the deprecated flag")]
fn option(
    key: &str,
    value: &str,
    append: Option<bool>,
    action: HeaderAppendAction,
) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(ProtoHeader {
            key: key.to_owned(),
            value: value.to_owned(),
            ..ProtoHeader::default()
        }),
        append: append.map(|value| BoolValue { value }),
        append_action: action.into(),
        ..HeaderValueOption::default()
    }
}

fn set(key: &str, value: &str) -> HeaderValueOption {
    option(key, value, None, HeaderAppendAction::AppendIfExistsOrAdd)
}

// === HTTP authorization server ===

/// What the HTTP authorization server received.
#[derive(Debug)]
struct Seen {
    method: Method,
    uri: String,
    headers: ::http::HeaderMap,
    body: Bytes,
}

/// Starts a hyper HTTP/1.1 authorization server on `127.0.0.1:0` that records every
/// request and answers with `decide`, after `delay`.
async fn http_server(
    delay: Duration,
    decide: impl Fn(&Seen) -> ::http::Response<Full<Bytes>> + Send + Sync + 'static,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let decide = Arc::new(decide);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let decide = decide.clone();
            let seen_tx = seen_tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: ::http::Request<_>| {
                    let decide = decide.clone();
                    let seen_tx = seen_tx.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body: hyper::body::Incoming = body;
                        let seen = Seen {
                            method: parts.method,
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body: body.collect().await.unwrap().to_bytes(),
                        };
                        let response = decide(&seen);
                        let _ = seen_tx.send(seen);
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn http_answer(status: u16, headers: &[(&str, &str)], body: &str) -> ::http::Response<Full<Bytes>> {
    let mut response = ::http::Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        response.headers_mut().append(
            ::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    response
}

// === the gateway side ===

/// The gateway's upstream service to a real echo backend.
async fn echo_upstream() -> BackendService {
    let addr = spawn_echo().await;
    BackendService::new(
        UpstreamClient::new(&Limits::default()),
        Arc::new(Backend::new(Arc::from([addr]), AppProtocol::Http1)),
    )
}

/// A provider from kgateway JSON.
fn provider(json: Value) -> ExtAuthProvider {
    serde_json::from_value::<ExtAuthProviderSpec>(json)
        .unwrap()
        .compile()
        .unwrap()
}

/// A gRPC provider at `addr` with `extra` provider fields and a 10 s timeout (so a loaded
/// machine cannot fail a test that is not about time).
fn grpc_config(addr: SocketAddr, extra: Value) -> ExtAuthConfig {
    let mut json = serde_json::json!({
        "grpcService": {"backendRef": {"name": "authz", "port": 9000}, "requestTimeout": "10s"}
    });
    merge(&mut json, extra);
    ExtAuthConfig::new(provider(json), vec![addr])
}

/// An HTTP provider at `addr` with `http` service fields, `extra` provider fields and a
/// 10 s timeout.
fn http_config(addr: SocketAddr, http: Value, extra: Value) -> ExtAuthConfig {
    let mut service = serde_json::json!({
        "backendRef": {"name": "authz", "port": 8080}, "requestTimeout": "10s"
    });
    merge(&mut service, http);
    let mut json = serde_json::json!({ "httpService": service });
    merge(&mut json, extra);
    ExtAuthConfig::new(provider(json), vec![addr])
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// A request from `192.0.2.7:40000` to the listener `10.0.0.1:8443`, over TLS.
fn request(method: Method, uri: &str, body: BoxBody) -> Request {
    let mut request = ::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "app.example")
        .header("user-agent", "test/1.0")
        .body(body)
        .unwrap();
    request.extensions_mut().insert(ConnectionInfo {
        remote_addr: "192.0.2.7:40000".parse().unwrap(),
        local_addr: "10.0.0.1:8443".parse().unwrap(),
        tls: true,
        server_name: None,
    });
    request
}

fn get(uri: &str) -> Request {
    request(Method::GET, uri, body::empty())
}

/// The echo backend's report of what it received.
async fn echoed(response: Response) -> Value {
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the request reached the echo"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

async fn text(response: Response) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

/// The values the echo backend saw for `name`.
fn seen_header(echo: &Value, name: &str) -> Option<Vec<String>> {
    echo["headers"][name].as_array().map(|values| {
        values
            .iter()
            .map(|value| value.as_str().unwrap().to_owned())
            .collect()
    })
}

fn flag(response: &Response) -> Option<ResponseFlag> {
    response.extensions().get::<ResponseFlag>().copied()
}

/// A backend that counts the requests reaching it.
fn counting_backend(
    count: Arc<AtomicUsize>,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(move |_: Request| {
        count.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(::http::Response::new(body::full("backend"))) }
    })
}

/// A chunked body (no length known up front) of `chunks`.
fn chunked(chunks: &[&'static str]) -> BoxBody {
    let frames: Vec<Result<hyper::body::Frame<Bytes>, Infallible>> = chunks
        .iter()
        .map(|chunk| {
            Ok(hyper::body::Frame::data(Bytes::from_static(
                chunk.as_bytes(),
            )))
        })
        .collect();
    body::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

// === gRPC ===

#[tokio::test]
async fn grpc_allowed_request_reaches_the_upstream_with_envoy_attributes() {
    let (addr, mut checks) =
        grpc_server(Duration::ZERO, |_| ok_response(OkHttpResponse::default())).await;
    let route = CheckSettings {
        context_extensions: [("team".to_owned(), "payments".to_owned())].into(),
        ..CheckSettings::default()
    };
    let service = ExtAuthLayer::new(grpc_config(addr, Value::Null).with_check(route))
        .layer(echo_upstream().await);

    let mut request = get("/api/orders?id=7");
    request
        .headers_mut()
        .append("x-multi", HeaderValue::from_static("a"));
    request
        .headers_mut()
        .append("x-multi", HeaderValue::from_static("b"));
    request
        .extensions_mut()
        .insert(RequestId(HeaderValue::from_static("req-42")));
    let echo = echoed(service.oneshot(request).await.unwrap()).await;
    assert_eq!(echo["path"], "/api/orders?id=7");

    let check = checks.try_recv().unwrap();
    let attributes = check.attributes.unwrap();
    assert_eq!(
        attributes
            .context_extensions
            .get("team")
            .map(String::as_str),
        Some("payments")
    );
    let socket = |peer: Option<
        envoy_types::pb::envoy::service::auth::v3::attribute_context::Peer,
    >| {
        match peer.unwrap().address.unwrap().address.unwrap() {
            address::Address::SocketAddress(socket) => {
                let Some(socket_address::PortSpecifier::PortValue(port)) = socket.port_specifier
                else {
                    panic!("no port")
                };
                format!("{}:{port}", socket.address)
            }
            other => panic!("not a socket address: {other:?}"),
        }
    };
    assert_eq!(socket(attributes.source), "192.0.2.7:40000");
    assert_eq!(socket(attributes.destination), "10.0.0.1:8443");
    let request = attributes.request.unwrap();
    assert!(request.time.is_some());
    let http = request.http.unwrap();
    assert_eq!(http.id, "req-42");
    assert_eq!(http.method, "GET");
    assert_eq!(http.path, "/api/orders?id=7");
    assert_eq!(http.host, "app.example");
    assert_eq!(http.scheme, "https");
    assert_eq!(http.protocol, "HTTP/1.1");
    assert_eq!(http.size, 0);
    assert!(http.body.is_empty());
    let headers = &http.headers;
    assert_eq!(headers[":authority"], "app.example");
    assert_eq!(headers[":method"], "GET");
    assert_eq!(headers[":path"], "/api/orders?id=7");
    assert_eq!(headers[":scheme"], "https");
    assert_eq!(headers["user-agent"], "test/1.0");
    assert_eq!(headers["x-multi"], "a,b");
    assert!(!headers.contains_key("host"), "Host travels as :authority");
    assert!(!headers.contains_key("x-envoy-auth-partial-body"));
}

#[tokio::test]
async fn grpc_ok_response_changes_the_upstream_request_and_the_client_response() {
    let (addr, _checks) = grpc_server(Duration::ZERO, |_| {
        ok_response(OkHttpResponse {
            headers: vec![
                set("x-user", "ada"),
                set("x-replaced", "by-server"),
                option(
                    "x-list",
                    "server",
                    Some(true),
                    HeaderAppendAction::AppendIfExistsOrAdd,
                ),
                option(
                    "x-new-list",
                    "only",
                    Some(true),
                    HeaderAppendAction::AppendIfExistsOrAdd,
                ),
            ],
            headers_to_remove: vec!["x-secret".to_owned(), "host".to_owned()],
            query_parameters_to_set: vec![
                QueryParameter {
                    key: "tenant".to_owned(),
                    value: "acme corp".to_owned(),
                },
                QueryParameter {
                    key: "page".to_owned(),
                    value: "1".to_owned(),
                },
            ],
            query_parameters_to_remove: vec!["debug".to_owned()],
            response_headers_to_add: vec![
                option(
                    "x-appended",
                    "from-authz",
                    None,
                    HeaderAppendAction::AppendIfExistsOrAdd,
                ),
                option(
                    "x-backend-said",
                    "overwritten",
                    Some(false),
                    HeaderAppendAction::AppendIfExistsOrAdd,
                ),
                option(
                    "x-if-absent",
                    "authz",
                    None,
                    HeaderAppendAction::AddIfAbsent,
                ),
                option(
                    "x-only-if-present",
                    "authz",
                    None,
                    HeaderAppendAction::OverwriteIfExists,
                ),
            ],
            ..OkHttpResponse::default()
        })
    })
    .await;
    let upstream = service_fn(|request: Request| async move {
        // Report the request as JSON and set some response headers for the server's
        // response headers to meet.
        let mut headers = serde_json::Map::new();
        for name in request.headers().keys() {
            let values: Vec<Value> = request
                .headers()
                .get_all(name)
                .iter()
                .map(|value| Value::from(value.to_str().unwrap()))
                .collect();
            headers.insert(name.as_str().to_owned(), Value::Array(values));
        }
        let report = serde_json::json!({
            "path": request.uri().path_and_query().unwrap().as_str(),
            "headers": headers,
        });
        let mut response = ::http::Response::new(body::full(report.to_string()));
        response
            .headers_mut()
            .insert("x-appended", HeaderValue::from_static("from-backend"));
        response
            .headers_mut()
            .insert("x-backend-said", HeaderValue::from_static("backend"));
        response
            .headers_mut()
            .insert("x-if-absent", HeaderValue::from_static("backend"));
        Ok::<_, Infallible>(response)
    });
    let service = ExtAuthLayer::new(grpc_config(addr, Value::Null)).layer(upstream);

    let mut request = get("/items?page=3&debug=1&page=4&keep=yes");
    let headers = request.headers_mut();
    headers.insert("x-replaced", HeaderValue::from_static("by-client"));
    headers.insert("x-list", HeaderValue::from_static("client"));
    headers.insert("x-secret", HeaderValue::from_static("token"));
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let client_headers = response.headers().clone();
    let report: Value = serde_json::from_slice(&text(response).await).unwrap();

    assert_eq!(report["path"], "/items?page=1&keep=yes&tenant=acme%20corp");
    assert_eq!(seen_header(&report, "x-user"), Some(vec!["ada".to_owned()]));
    assert_eq!(
        seen_header(&report, "x-replaced"),
        Some(vec!["by-server".to_owned()])
    );
    assert_eq!(
        seen_header(&report, "x-list"),
        Some(vec!["client,server".to_owned()])
    );
    assert_eq!(
        seen_header(&report, "x-new-list"),
        None,
        "append only appends to a header the client sent"
    );
    assert_eq!(seen_header(&report, "x-secret"), None);
    assert_eq!(
        seen_header(&report, "host"),
        Some(vec!["app.example".to_owned()]),
        "Host cannot be removed"
    );

    let values = |name: &str| -> Vec<&str> {
        client_headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect()
    };
    assert_eq!(values("x-appended"), ["from-backend", "from-authz"]);
    assert_eq!(values("x-backend-said"), ["overwritten"]);
    assert_eq!(values("x-if-absent"), ["backend"]);
    assert!(values("x-only-if-present").is_empty());
}

#[tokio::test]
async fn grpc_denial_answers_with_the_servers_status_headers_and_body() {
    let (addr, _checks) = grpc_server(Duration::ZERO, |_| {
        denied_response(DeniedHttpResponse {
            status: Some(HttpStatus { code: 401 }),
            headers: vec![
                set("www-authenticate", "Bearer realm=\"app\""),
                set("set-cookie", "a=1"),
                set("set-cookie", "b=2"),
                option(
                    "x-reason",
                    "expired",
                    Some(true),
                    HeaderAppendAction::AppendIfExistsOrAdd,
                ),
            ],
            body: "token expired".to_owned(),
        })
    })
    .await;
    let reached = Arc::new(AtomicUsize::new(0));
    let service =
        ExtAuthLayer::new(grpc_config(addr, Value::Null)).layer(counting_backend(reached.clone()));

    let response = service.oneshot(get("/private")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    let headers = response.headers();
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"app\"");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(headers["x-reason"], "expired");
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(text(response).await, "token expired");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the upstream was not called"
    );
}

#[tokio::test]
async fn grpc_denial_without_details_is_a_bare_403() {
    let (addr, _checks) = grpc_server(Duration::ZERO, |_| CheckResponse {
        status: status(7),
        ..CheckResponse::default()
    })
    .await;
    let reached = Arc::new(AtomicUsize::new(0));
    let service =
        ExtAuthLayer::new(grpc_config(addr, Value::Null)).layer(counting_backend(reached.clone()));

    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    assert!(response.headers().get("content-type").is_none());
    assert!(text(response).await.is_empty());
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn grpc_error_response_fails_the_check_with_its_answer() {
    let (addr, _checks) = grpc_server(Duration::ZERO, |_| CheckResponse {
        status: status(13),
        http_response: Some(HttpResponse::ErrorResponse(DeniedHttpResponse {
            status: Some(HttpStatus { code: 503 }),
            headers: vec![set("retry-after", "5")],
            body: "authz overloaded".to_owned(),
        })),
        ..CheckResponse::default()
    })
    .await;
    let closed = ExtAuthLayer::new(grpc_config(addr, Value::Null)).layer(echo_upstream().await);
    let response = closed.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    assert_eq!(text(response).await, "authz overloaded");

    let open = ExtAuthLayer::new(grpc_config(addr, serde_json::json!({"failOpen": true})))
        .layer(echo_upstream().await);
    let echo = echoed(open.oneshot(get("/open")).await.unwrap()).await;
    assert_eq!(echo["path"], "/open");
}

#[tokio::test(start_paused = true)]
async fn grpc_slow_server_times_out_and_fails_closed_or_open() {
    // The server answers OK, but only after 10 s; the check waits Envoy's default 200 ms.
    let (addr, mut checks) = grpc_server(Duration::from_secs(10), |_| {
        ok_response(OkHttpResponse {
            headers: vec![set("x-late", "yes")],
            ..OkHttpResponse::default()
        })
    })
    .await;
    let default_timeout = |extra: Value| {
        let mut json = serde_json::json!({"grpcService": {"backendRef": {"name": "authz"}}});
        merge(&mut json, extra);
        ExtAuthConfig::new(provider(json), vec![addr])
    };
    assert_eq!(default_timeout(Value::Null).timeout(), DEFAULT_GRPC_TIMEOUT);

    let closed = ExtAuthLayer::new(default_timeout(Value::Null)).layer(echo_upstream().await);
    let started = tokio::time::Instant::now();
    let response = closed.oneshot(get("/slow")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    assert_eq!(started.elapsed(), DEFAULT_GRPC_TIMEOUT);
    assert!(checks.try_recv().is_ok(), "the server was asked");

    let open = ExtAuthLayer::new(default_timeout(serde_json::json!({"failOpen": true})))
        .layer(echo_upstream().await);
    let echo = echoed(open.oneshot(get("/slow")).await.unwrap()).await;
    assert_eq!(echo["path"], "/slow");
    assert_eq!(
        seen_header(&echo, "x-late"),
        None,
        "the late answer changed nothing"
    );
}

#[tokio::test]
async fn grpc_server_down_answers_status_on_error_unless_fail_open() {
    let gone = spawn_refused().await;
    let reached = Arc::new(AtomicUsize::new(0));
    let closed = ExtAuthLayer::new(grpc_config(gone, serde_json::json!({"statusOnError": 503})))
        .layer(counting_backend(reached.clone()));
    let response = closed.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    assert!(text(response).await.is_empty());
    assert_eq!(reached.load(Ordering::SeqCst), 0);

    let open = ExtAuthLayer::new(grpc_config(gone, serde_json::json!({"failOpen": true})))
        .layer(echo_upstream().await);
    let echo = echoed(open.oneshot(get("/through")).await.unwrap()).await;
    assert_eq!(echo["path"], "/through");

    // No endpoint at all fails the same way.
    let nowhere = ExtAuthConfig::new(grpc_config(gone, Value::Null).provider, Vec::new());
    let response = ExtAuthLayer::new(nowhere)
        .layer(counting_backend(reached.clone()))
        .oneshot(get("/"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn grpc_clones_share_one_channel_and_checks_reuse_it() {
    let (addr, mut checks) =
        grpc_server(Duration::ZERO, |_| ok_response(OkHttpResponse::default())).await;
    let layer = ExtAuthLayer::new(grpc_config(addr, Value::Null));
    let upstream = echo_upstream().await;
    for path in ["/one", "/two", "/three"] {
        let service = layer.layer(upstream.clone());
        let echo = echoed(service.oneshot(get(path)).await.unwrap()).await;
        assert_eq!(echo["path"], path);
    }
    let paths: Vec<String> = std::iter::from_fn(|| checks.try_recv().ok())
        .map(|check| {
            check
                .attributes
                .unwrap()
                .request
                .unwrap()
                .http
                .unwrap()
                .path
        })
        .collect();
    assert_eq!(paths, ["/one", "/two", "/three"]);
}

#[tokio::test]
async fn grpc_checks_are_balanced_over_the_endpoints_with_the_configured_authority() {
    let allow = |_: &CheckRequest| ok_response(OkHttpResponse::default());
    let (first, mut first_checks, mut authorities) =
        grpc_server_seeing_authority(Duration::ZERO, allow).await;
    let (second, mut second_checks) = grpc_server(Duration::ZERO, allow).await;
    let mut config = grpc_config(first, Value::Null);
    config.endpoints = Arc::from([first, second]);
    let AuthProtocol::Grpc(settings) = &mut config.provider.protocol else {
        panic!("gRPC")
    };
    settings.authority = Some("authz.internal:9000".parse().unwrap());
    let layer = ExtAuthLayer::new(config);
    let upstream = echo_upstream().await;
    for _ in 0..32 {
        let response = layer
            .layer(upstream.clone())
            .oneshot(get("/"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let first_count = std::iter::from_fn(|| first_checks.try_recv().ok()).count();
    let second_count = std::iter::from_fn(|| second_checks.try_recv().ok()).count();
    assert_eq!(first_count + second_count, 32);
    // Each endpoint is picked at random among two: both are used (all but certainly).
    assert!(
        first_count > 0 && second_count > 0,
        "{first_count} / {second_count}"
    );
    assert_eq!(authorities.try_recv().unwrap(), "authz.internal:9000");
}

#[tokio::test]
async fn grpc_headers_to_forward_limits_the_headers_sent() {
    let (addr, mut checks) =
        grpc_server(Duration::ZERO, |_| ok_response(OkHttpResponse::default())).await;
    let config = grpc_config(
        addr,
        serde_json::json!({"headersToForward": ["Authorization", ":path"]}),
    );
    let service = ExtAuthLayer::new(config).layer(echo_upstream().await);
    let mut request = get("/x");
    request
        .headers_mut()
        .insert("authorization", HeaderValue::from_static("Bearer t"));
    echoed(service.oneshot(request).await.unwrap()).await;
    let http = checks
        .try_recv()
        .unwrap()
        .attributes
        .unwrap()
        .request
        .unwrap()
        .http
        .unwrap();
    let mut names: Vec<&str> = http.headers.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, [":path", "authorization"]);
    assert_eq!(http.host, "app.example", "the attributes keep the host");
}

#[tokio::test]
async fn grpc_with_request_body_sends_the_body_and_forwards_it_whole() {
    let (addr, mut checks) =
        grpc_server(Duration::ZERO, |_| ok_response(OkHttpResponse::default())).await;
    let config = grpc_config(
        addr,
        serde_json::json!({"withRequestBody": {"maxRequestBytes": 64}}),
    );
    let service = ExtAuthLayer::new(config).layer(echo_upstream().await);
    let request = request(Method::POST, "/upload", chunked(&["hello ", "world"]));
    let echo = echoed(service.oneshot(request).await.unwrap()).await;
    assert_eq!(echo["body"], "hello world");
    let http = checks
        .try_recv()
        .unwrap()
        .attributes
        .unwrap()
        .request
        .unwrap()
        .http
        .unwrap();
    assert_eq!(http.body, "hello world");
    assert!(http.raw_body.is_empty());
    assert_eq!(http.size, 11);
    assert_eq!(http.headers["x-envoy-auth-partial-body"], "false");
}

#[tokio::test]
async fn grpc_body_over_the_limit_is_413_or_sent_cut_when_partial_is_allowed() {
    let (addr, mut checks) =
        grpc_server(Duration::ZERO, |_| ok_response(OkHttpResponse::default())).await;

    // Refused: a chunked body that grows past the limit, and a Content-Length above it.
    let strict = ExtAuthLayer::new(grpc_config(
        addr,
        serde_json::json!({"withRequestBody": {"maxRequestBytes": 8}}),
    ))
    .layer(echo_upstream().await);
    let response = strict
        .clone()
        .oneshot(request(Method::POST, "/", chunked(&["0123", "4567", "89"])))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = strict
        .oneshot(request(Method::POST, "/", body::full("0123456789")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text(response).await, "Payload Too Large");
    assert!(checks.try_recv().is_err(), "the server was not asked");

    // Allowed partial, as bytes: the server gets the first 8 bytes, the upstream all 14.
    let partial = ExtAuthLayer::new(grpc_config(
        addr,
        serde_json::json!({"withRequestBody":
            {"maxRequestBytes": 8, "allowPartialMessage": true, "packAsBytes": true}}),
    ))
    .layer(echo_upstream().await);
    let request = request(Method::POST, "/", chunked(&["0123", "456789", "abcd"]));
    let echo = echoed(partial.oneshot(request).await.unwrap()).await;
    assert_eq!(echo["body"], "0123456789abcd");
    let http = checks
        .try_recv()
        .unwrap()
        .attributes
        .unwrap()
        .request
        .unwrap()
        .http
        .unwrap();
    assert_eq!(http.raw_body, b"01234567");
    assert!(http.body.is_empty());
    assert_eq!(http.headers["x-envoy-auth-partial-body"], "true");
}

#[tokio::test]
async fn route_body_settings_override_the_providers() {
    let (addr, mut checks) =
        grpc_server(Duration::ZERO, |_| ok_response(OkHttpResponse::default())).await;
    let policy: ExtAuthPolicySpec = serde_json::from_value(serde_json::json!({
        "extensionRef": {"name": "authz"},
        "withRequestBody": {"maxRequestBytes": 1024}
    }))
    .unwrap();
    let ExtAuthPolicy::Enabled(route) = policy.compile().unwrap() else {
        panic!("enabled")
    };
    let config = grpc_config(
        addr,
        serde_json::json!({"withRequestBody": {"maxRequestBytes": 2}}),
    )
    .with_check(route.check);
    let service = ExtAuthLayer::new(config).layer(echo_upstream().await);
    let echo = echoed(
        service
            .oneshot(request(Method::PUT, "/", body::full("longer than two")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echo["body"], "longer than two");
    let http = checks
        .try_recv()
        .unwrap()
        .attributes
        .unwrap()
        .request
        .unwrap()
        .http
        .unwrap();
    assert_eq!(http.body, "longer than two");
}

#[tokio::test]
async fn percentage_enabled_zero_checks_nothing() {
    let gone = spawn_refused().await;
    let config = grpc_config(gone, serde_json::json!({"percentageEnabled": 0}));
    let service = ExtAuthLayer::new(config).layer(echo_upstream().await);
    let echo = echoed(service.oneshot(get("/unchecked")).await.unwrap()).await;
    assert_eq!(echo["path"], "/unchecked");
}

// === HTTP ===

#[tokio::test]
async fn http_allowed_request_sends_envoys_authorization_request() {
    let (addr, mut seen) = http_server(Duration::ZERO, |_| {
        http_answer(
            200,
            &[
                ("x-user", "ada"),
                ("x-not-listed", "no"),
                ("x-envoy-auth-headers-to-remove", "x-secret, x-other"),
                ("set-cookie", "session=1"),
            ],
            "",
        )
    })
    .await;
    let config = http_config(
        addr,
        serde_json::json!({
            "pathPrefix": "/verify",
            "authorizationRequest": {"headersToAdd": {"x-authz-client": "gateway"}},
            "authorizationResponse": {
                "headersToBackend": ["x-user"],
                "headersToClientOnSuccess": ["set-cookie"]
            }
        }),
        serde_json::json!({"headersToForward": ["cookie", "authorization", ":path", "Cookie"]}),
    );
    let service = ExtAuthLayer::new(config).layer(echo_upstream().await);
    let mut request = request(Method::DELETE, "/api/items/9?force=1", body::empty());
    let headers = request.headers_mut();
    headers.insert("authorization", HeaderValue::from_static("Bearer t"));
    headers.insert("cookie", HeaderValue::from_static("c=1"));
    headers.insert("x-secret", HeaderValue::from_static("s"));
    headers.insert("x-user", HeaderValue::from_static("mallory"));
    headers.insert("x-authz-client", HeaderValue::from_static("forged"));
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.headers()["set-cookie"], "session=1");
    let echo = echoed(response).await;

    let auth = seen.try_recv().unwrap();
    assert_eq!(auth.method, Method::DELETE);
    assert_eq!(auth.uri, "/verify/api/items/9?force=1");
    let mut names: Vec<&str> = auth.headers.keys().map(|name| name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "authorization",
            "content-length",
            "cookie",
            "host",
            "x-authz-client"
        ]
    );
    assert_eq!(auth.headers["host"], "app.example");
    assert_eq!(auth.headers["authorization"], "Bearer t");
    assert_eq!(
        auth.headers.len(),
        5,
        "each header once: {:?}",
        auth.headers
    );
    assert_eq!(auth.headers["content-length"], "0");
    assert_eq!(auth.headers["x-authz-client"], "gateway");
    assert!(auth.body.is_empty());

    assert_eq!(echo["method"], "DELETE");
    assert_eq!(echo["path"], "/api/items/9?force=1");
    assert_eq!(seen_header(&echo, "x-user"), Some(vec!["ada".to_owned()]));
    assert_eq!(seen_header(&echo, "x-secret"), None);
    assert_eq!(seen_header(&echo, "x-not-listed"), None);
    assert_eq!(
        seen_header(&echo, "authorization"),
        Some(vec!["Bearer t".to_owned()])
    );
}

#[tokio::test]
async fn http_denial_passes_the_servers_answer_to_the_client() {
    let (addr, _seen) = http_server(Duration::ZERO, |_| {
        http_answer(
            302,
            &[
                ("location", "https://login.example/?rd=app"),
                ("set-cookie", "csrf=1"),
                ("x-debug", "denied"),
            ],
            "redirecting",
        )
    })
    .await;
    let reached = Arc::new(AtomicUsize::new(0));

    // headersToClient unset: every header of the answer.
    let all = ExtAuthLayer::new(http_config(addr, Value::Null, Value::Null))
        .layer(counting_backend(reached.clone()));
    let response = all.oneshot(get("/app")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    assert_eq!(
        response.headers()["location"],
        "https://login.example/?rd=app"
    );
    assert_eq!(response.headers()["set-cookie"], "csrf=1");
    assert_eq!(response.headers()["x-debug"], "denied");
    assert_eq!(text(response).await, "redirecting");

    // headersToClient set: those, plus Location.
    let listed = ExtAuthLayer::new(http_config(
        addr,
        serde_json::json!({"authorizationResponse": {"headersToClient": ["set-cookie"]}}),
        Value::Null,
    ))
    .layer(counting_backend(reached.clone()));
    let response = listed.oneshot(get("/app")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(response.headers().contains_key("location"));
    assert!(response.headers().contains_key("set-cookie"));
    assert!(!response.headers().contains_key("x-debug"));
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the upstream was not called"
    );
}

#[tokio::test]
async fn http_only_200_allows() {
    let (addr, _seen) = http_server(Duration::ZERO, |_| http_answer(204, &[], "")).await;
    let reached = Arc::new(AtomicUsize::new(0));
    let service = ExtAuthLayer::new(http_config(addr, Value::Null, Value::Null))
        .layer(counting_backend(reached.clone()));
    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn http_5xx_is_an_error_not_a_denial() {
    let (addr, _seen) = http_server(Duration::ZERO, |_| http_answer(500, &[], "boom")).await;
    let closed = ExtAuthLayer::new(http_config(
        addr,
        Value::Null,
        serde_json::json!({"statusOnError": 401}),
    ))
    .layer(echo_upstream().await);
    let response = closed.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    assert!(
        text(response).await.is_empty(),
        "the server's body is not passed on"
    );

    let open = ExtAuthLayer::new(http_config(
        addr,
        Value::Null,
        serde_json::json!({"failOpen": true}),
    ))
    .layer(echo_upstream().await);
    let echo = echoed(open.oneshot(get("/open")).await.unwrap()).await;
    assert_eq!(echo["path"], "/open");
}

#[tokio::test]
async fn http_server_down_answers_status_on_error() {
    let gone = spawn_refused().await;
    let service =
        ExtAuthLayer::new(http_config(gone, Value::Null, Value::Null)).layer(echo_upstream().await);
    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
}

#[tokio::test(start_paused = true)]
async fn http_slow_server_times_out_after_kgateways_default() {
    let (addr, _seen) = http_server(Duration::from_secs(30), |_| http_answer(200, &[], "")).await;
    let json = serde_json::json!({"httpService": {"backendRef": {"name": "authz"}}});
    let config = ExtAuthConfig::new(provider(json), vec![addr]);
    assert_eq!(config.timeout(), DEFAULT_HTTP_TIMEOUT);
    let service = ExtAuthLayer::new(config).layer(echo_upstream().await);
    let started = tokio::time::Instant::now();
    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        flag(&response),
        Some(ResponseFlag::UnauthorizedExternalService)
    );
    assert_eq!(started.elapsed(), DEFAULT_HTTP_TIMEOUT);
}

#[tokio::test]
async fn http_with_request_body_sends_it_with_its_length() {
    let (addr, mut seen) = http_server(Duration::ZERO, |_| http_answer(200, &[], "")).await;
    let service = ExtAuthLayer::new(http_config(
        addr,
        Value::Null,
        serde_json::json!({"withRequestBody": {"maxRequestBytes": 100}}),
    ))
    .layer(echo_upstream().await);
    let echo = echoed(
        service
            .oneshot(request(Method::POST, "/form", chunked(&["a=1&", "b=2"])))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echo["body"], "a=1&b=2");
    let auth = seen.try_recv().unwrap();
    assert_eq!(auth.body, "a=1&b=2");
    assert_eq!(auth.headers["content-length"], "7");
}

// === specs ===

#[test]
fn provider_spec_defaults_follow_kgateway_and_envoy() {
    let grpc: ExtAuthProviderSpec =
        serde_json::from_str(r#"{"grpcService": {"backendRef": {"name": "authz", "port": 9000}}}"#)
            .unwrap();
    let provider = grpc.compile().unwrap();
    assert!(!provider.fail_open);
    assert_eq!(provider.status_on_error, StatusCode::FORBIDDEN);
    assert_eq!(provider.percentage_enabled, crate::spec::Percent::HUNDRED);
    assert!(provider.headers_to_forward.is_none());
    assert!(provider.with_request_body.is_none());
    let AuthProtocol::Grpc(settings) = provider.protocol else {
        panic!("gRPC")
    };
    assert_eq!(settings.timeout, DEFAULT_GRPC_TIMEOUT);
    assert!(settings.authority.is_none());

    let http: ExtAuthProviderSpec = serde_json::from_str(
        r#"{"httpService": {"backendRef": {"name": "authz"}, "pathPrefix": "/check",
                            "requestTimeout": "750ms",
                            "authorizationResponse": {"headersToClient": ["X-Reason"]}},
            "failOpen": true, "statusOnError": 503, "percentageEnabled": 25,
            "headersToForward": ["Cookie"],
            "withRequestBody": {"maxRequestBytes": 4096, "allowPartialMessage": true}}"#,
    )
    .unwrap();
    let provider = http.compile().unwrap();
    assert!(provider.fail_open);
    assert_eq!(provider.status_on_error, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(provider.percentage_enabled.get(), 25);
    assert_eq!(provider.headers_to_forward, Some(vec!["cookie".to_owned()]));
    assert_eq!(
        provider.with_request_body,
        Some(BodySettings {
            max_request_bytes: 4096,
            allow_partial_message: true,
            pack_as_bytes: false
        })
    );
    let AuthProtocol::Http(settings) = provider.protocol else {
        panic!("HTTP")
    };
    assert_eq!(settings.path_prefix, "/check");
    assert_eq!(settings.timeout, Duration::from_millis(750));
    assert_eq!(settings.headers_to_client, ["x-reason"]);
}

#[test]
fn provider_spec_errors_name_the_field() {
    let error = |json: &str| {
        serde_json::from_str::<ExtAuthProviderSpec>(json)
            .unwrap()
            .compile()
            .unwrap_err()
            .field
    };
    let grpc = r#""grpcService": {"backendRef": {"name": "a"}}"#;
    let http = r#""httpService": {"backendRef": {"name": "a"}}"#;
    assert_eq!(error("{}"), "grpcService");
    assert_eq!(error(&format!("{{{grpc}, {http}}}")), "httpService");
    assert_eq!(error(r#"{"grpcService": {}}"#), "grpcService.backendRef");
    assert_eq!(
        error(r#"{"grpcService": {"backendRef": {"name": ""}}}"#),
        "grpcService.backendRef.name"
    );
    assert_eq!(
        error(r#"{"grpcService": {"backendRef": {"name": "a"}, "authority": "a b"}}"#),
        "grpcService.authority"
    );
    assert_eq!(
        error(r#"{"grpcService": {"backendRef": {"name": "a"}, "requestTimeout": "0s"}}"#),
        "grpcService.requestTimeout"
    );
    assert_eq!(
        error(r#"{"httpService": {"backendRef": {"name": "a"}, "pathPrefix": "verify"}}"#),
        "httpService.pathPrefix"
    );
    assert_eq!(
        error(
            r#"{"httpService": {"backendRef": {"name": "a"},
                "authorizationRequest": {"headersToAdd": {"x-ip": "%DOWNSTREAM_REMOTE_ADDRESS%"}}}}"#
        ),
        "httpService.authorizationRequest.headersToAdd.x-ip"
    );
    assert_eq!(
        error(
            r#"{"httpService": {"backendRef": {"name": "a"},
                "authorizationResponse": {"headersToBackend": ["ok", "bad name"]}}}"#
        ),
        "httpService.authorizationResponse.headersToBackend[1]"
    );
    assert_eq!(
        error(&format!(
            r#"{{{grpc}, "headersToForward": ["x", ":bogus"]}}"#
        )),
        "headersToForward[1]"
    );
    assert_eq!(
        error(&format!(r#"{{{grpc}, "statusOnError": 600}}"#)),
        "statusOnError"
    );
    assert_eq!(
        error(&format!(r#"{{{grpc}, "statusOnError": 99}}"#)),
        "statusOnError"
    );
    assert_eq!(
        error(&format!(
            r#"{{{grpc}, "withRequestBody": {{"maxRequestBytes": 0}}}}"#
        )),
        "withRequestBody.maxRequestBytes"
    );
    assert!(
        serde_json::from_str::<ExtAuthProviderSpec>(&format!(
            r#"{{{grpc}, "percentageEnabled": 101}}"#
        ))
        .is_err()
    );
}

#[test]
fn policy_spec_is_a_reference_or_a_disable() {
    let compile = |json: &str| {
        serde_json::from_str::<ExtAuthPolicySpec>(json)
            .unwrap()
            .compile()
    };
    assert_eq!(compile(r#"{"disable": {}}"#), Ok(ExtAuthPolicy::Disabled));
    let enabled = compile(
        r#"{"extensionRef": {"name": "authz", "namespace": "auth"},
            "contextExtensions": {"a": "1"},
            "withRequestBody": {"maxRequestBytes": 10, "packAsBytes": true}}"#,
    )
    .unwrap();
    let ExtAuthPolicy::Enabled(route) = enabled else {
        panic!("enabled")
    };
    assert_eq!(
        route.extension_ref,
        NamespacedObjectReferenceSpec {
            name: "authz".to_owned(),
            namespace: Some("auth".to_owned())
        }
    );
    assert_eq!(route.check.context_extensions["a"], "1");
    assert!(route.check.with_request_body.unwrap().pack_as_bytes);

    assert_eq!(
        compile(r#"{"extensionRef": {"name": "a"}, "disable": {}}"#)
            .unwrap_err()
            .field,
        "disable"
    );
    assert_eq!(compile("{}").unwrap_err().field, "extensionRef");
    assert_eq!(
        compile(r#"{"extensionRef": {"name": ""}}"#),
        Err(FieldError::new("extensionRef.name", "must not be empty"))
    );
    assert_eq!(
        compile(r#"{"extensionRef": {"name": "a"}, "withRequestBody": {"maxRequestBytes": -1}}"#)
            .unwrap_err()
            .field,
        "withRequestBody.maxRequestBytes"
    );
}

#[test]
fn unimplemented_provider_fields_are_accepted_but_not_read() {
    // The policy compiler reports the fields a spec does not read (serde_ignored), so the
    // fields this module does not implement must be accepted and dropped, not served.
    let json = serde_json::json!({
        "grpcService": {"backendRef": {"name": "a"}, "retry": {"attempts": 2}},
        "clearRouteCache": true,
        "statPrefix": "x"
    });
    let spec: ExtAuthProviderSpec = serde_json::from_value(json).unwrap();
    let read = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        read,
        serde_json::json!({"grpcService": {"backendRef": {"name": "a"}}})
    );
}
