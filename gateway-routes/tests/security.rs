//! kgateway security policies through the running gateway, each against a real peer on
//! loopback: JWT (with routing on a claim), external authorization and external processing
//! (tonic servers written here that answer as Envoy's protocols say), and the global rate
//! limit (a tonic rate limit service).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use envoy_types::pb::envoy::{
    config::core::v3::{HeaderValue as ProtoHeader, HeaderValueOption},
    extensions::common::ratelimit::v3::RateLimitDescriptor,
    service::{
        auth::v3::{
            CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
            authorization_server::{Authorization, AuthorizationServer},
            check_response::HttpResponse,
        },
        ext_proc::v3::{
            CommonResponse, HeaderMutation, HeadersResponse, ProcessingRequest, ProcessingResponse,
            external_processor_server::{ExternalProcessor, ExternalProcessorServer},
            processing_request::Request as Part,
            processing_response::Response as Answer,
        },
        ratelimit::v3::{
            RateLimitRequest, RateLimitResponse,
            rate_limit_response::Code,
            rate_limit_service_server::{RateLimitService, RateLimitServiceServer},
        },
    },
    r#type::v3::HttpStatus,
};
use gateway_core::test_util::spawn_echo_named;
use gateway_routes::fixtures::HTTP_LISTENER;
use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{EncodingKey, Header, encode};
use std::{
    collections::HashMap,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};
use support::{gateway, route, runtime, service};
use tokio::sync::mpsc;
use tower::ServiceExt;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn policy(name: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: {name}, namespace: default, creationTimestamp: '2024-01-01T00:00:00Z'}}
spec:
{spec}
"
    )
}

fn extension(name: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: {{name: {name}, namespace: default}}
spec:
{spec}
"
    )
}

/// Serves a tonic service over HTTP/2 on `127.0.0.1:0` (hyper's server: tonic's own needs
/// its `router` feature).
async fn serve_grpc<S>(service: S) -> SocketAddr
where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| service.clone().oneshot(request));
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn send(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Response<bytes::Bytes> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::get(path).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Empty::<bytes::Bytes>::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

fn echo(response: &http::Response<bytes::Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap()
}

// === JWT ===

const SECRET: &[u8] = b"a shared secret of the test issuer, 32+ bytes";

fn token(org: &str, expires_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    encode(
        &header,
        &serde_json::json!({"iss": "https://issuer.test", "sub": "alice", "org": org, "exp": now + expires_in}),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_on_the_gateway_authenticates_and_routes_on_a_claim() {
    let acme = spawn_echo_named("acme").await;
    let others = spawn_echo_named("others").await;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
    let jwks = format!(r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{k}"}}]}}"#);
    let yaml = gateway(HTTP_LISTENER)
        + &service("acme", acme)
        + &service("others", others)
        + &route("everyone", "api.example", "/", "others")
        + "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: acme-only, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [api.example]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}, headers: [{name: x-org, value: acme}]}]
    backendRefs: [{name: acme, port: 80}]
" + &route("public", "public.example", "/", "others")
        + &extension(
            "issuer",
            &format!(
                "  jwt:
    providers:
    - name: test-issuer
      issuer: https://issuer.test
      claimsToHeaders: [{{name: org, header: x-org}}]
      jwks: {{local: {{inline: '{jwks}'}}}}"
            ),
        )
        + &policy(
            "jwt-everywhere",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  jwtAuth: {extensionRef: {name: issuer}}",
        )
        + &policy(
            "public",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: public}]
  jwtAuth: {disable: {}}",
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();

    let missing = send(addr, "api.example", "/", &[]).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body().as_ref(), b"Jwt is missing");
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"http://api.example/")
    );

    // A client cannot route itself by sending the claim header: it is replaced.
    let acme_token = format!("Bearer {}", token("acme", 300));
    let routed = send(addr, "api.example", "/", &[("authorization", &acme_token)]).await;
    assert_eq!(routed.status(), StatusCode::OK);
    let seen = echo(&routed);
    assert_eq!(seen["name"], "acme");
    assert_eq!(seen["headers"]["x-org"][0], "acme");
    assert!(
        seen["headers"].get("authorization").is_none(),
        "token stripped"
    );

    let other_token = format!("Bearer {}", token("initech", 300));
    let forged = send(
        addr,
        "api.example",
        "/",
        &[("authorization", &other_token), ("x-org", "acme")],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::OK);
    assert_eq!(echo(&forged)["name"], "others");

    let expired = format!("Bearer {}", token("acme", -3600));
    let refused = send(addr, "api.example", "/", &[("authorization", &expired)]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.body().as_ref(), b"Jwt is expired");

    // The route-level `disable` switches the Gateway's JWT off for that route only.
    assert_eq!(
        send(addr, "public.example", "/", &[]).await.status(),
        StatusCode::OK
    );
}

// === External authorization ===

struct Authorizer;

fn proto_header(name: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(ProtoHeader {
            key: name.into(),
            value: value.into(),
            ..ProtoHeader::default()
        }),
        ..HeaderValueOption::default()
    }
}

#[tonic::async_trait]
impl Authorization for Authorizer {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let request = request.into_inner();
        let http = request
            .attributes
            .and_then(|a| a.request)
            .and_then(|r| r.http)
            .unwrap_or_default();
        let allowed = http.headers.get("x-password").map(String::as_str) == Some("opensesame");
        let response = if allowed {
            CheckResponse {
                status: Some(Default::default()),
                http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                    headers: vec![proto_header("x-auth-user", "alice")],
                    ..OkHttpResponse::default()
                })),
                ..CheckResponse::default()
            }
        } else {
            CheckResponse {
                status: Some(envoy_types::pb::google::rpc::Status {
                    code: 7,
                    ..Default::default()
                }),
                http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                    status: Some(HttpStatus { code: 403 }),
                    body: "denied by the test authorizer".into(),
                    ..DeniedHttpResponse::default()
                })),
                ..CheckResponse::default()
            }
        };
        Ok(tonic::Response::new(response))
    }
}

#[tokio::test]
async fn ext_auth_through_a_gateway_extension_allows_and_denies() {
    let one = spawn_echo_named("one").await;
    let authz = serve_grpc(AuthorizationServer::new(Authorizer)).await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &service("authz", authz)
        + &route("guarded", "guarded.example", "/", "one")
        + &extension(
            "authz",
            "  type: ExtAuth
  extAuth:
    grpcService: {backendRef: {name: authz, port: 80}}",
        )
        + &policy(
            "guard",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: guarded}]
  extAuth: {extensionRef: {name: authz}}",
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();

    let denied = send(addr, "guarded.example", "/", &[]).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(denied.body().as_ref(), b"denied by the test authorizer");
    let allowed = send(
        addr,
        "guarded.example",
        "/",
        &[("x-password", "opensesame")],
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(echo(&allowed)["headers"]["x-auth-user"][0], "alice");
}

#[tokio::test]
async fn a_policy_naming_a_missing_or_wrong_extension_is_invalid() {
    let one = spawn_echo_named("one").await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &route("r", "a.example", "/", "one")
        + &extension(
            "limits",
            "  rateLimit:
    domain: api
    grpcService: {backendRef: {name: nowhere, port: 80}}",
        )
        + &policy(
            "missing",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  extAuth: {extensionRef: {name: absent}}",
        )
        + &policy(
            "wrong-kind",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  extProc: {extensionRef: {name: limits}}",
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    let diagnostics: Vec<String> = applied
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        diagnostics,
        [
            "TrafficPolicy default/missing: spec.extAuth.extensionRef: GatewayExtension default/absent not found (Invalid)",
            "TrafficPolicy default/wrong-kind: spec.extProc.extensionRef: GatewayExtension default/limits is not valid: spec.rateLimit.grpcService.backendRef: Service default/nowhere not found (Invalid)",
            "GatewayExtension default/limits: spec.rateLimit.grpcService.backendRef: Service default/nowhere not found (Invalid)",
        ]
    );
    // Neither policy applies; the route still serves.
    let addr = runtime.sockets().local_addr(loopback()).unwrap();
    assert_eq!(
        send(addr, "a.example", "/", &[]).await.status(),
        StatusCode::OK
    );
}

// === External processing ===

#[derive(Clone)]
struct Processor;

type Answers =
    Pin<Box<dyn futures_util::Stream<Item = Result<ProcessingResponse, tonic::Status>> + Send>>;

fn set_header(name: &str, value: &str) -> HeadersResponse {
    HeadersResponse {
        response: Some(CommonResponse {
            header_mutation: Some(HeaderMutation {
                set_headers: vec![proto_header(name, value)],
                ..HeaderMutation::default()
            }),
            ..CommonResponse::default()
        }),
    }
}

#[tonic::async_trait]
impl ExternalProcessor for Processor {
    type ProcessStream = Answers;

    async fn process(
        &self,
        request: tonic::Request<tonic::Streaming<ProcessingRequest>>,
    ) -> Result<tonic::Response<Answers>, tonic::Status> {
        let mut inbound = request.into_inner();
        let (answers, mut receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                let answer = match message.request {
                    Some(Part::RequestHeaders(_)) => {
                        Answer::RequestHeaders(set_header("x-processed", "request"))
                    }
                    Some(Part::ResponseHeaders(_)) => {
                        Answer::ResponseHeaders(set_header("x-processed", "response"))
                    }
                    _ => continue,
                };
                let _ = answers.send(Ok(ProcessingResponse {
                    response: Some(answer),
                    ..ProcessingResponse::default()
                }));
            }
        });
        let stream = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

#[tokio::test]
async fn ext_proc_through_a_gateway_extension_changes_both_directions() {
    let one = spawn_echo_named("one").await;
    let processor = serve_grpc(ExternalProcessorServer::new(Processor)).await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &service("processor", processor)
        + &route("r", "a.example", "/", "one")
        + &extension(
            "processor",
            "  extProc:
    grpcService: {backendRef: {name: processor, port: 80}}
    failOpen: false",
        )
        + &policy(
            "process",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  extProc: {extensionRef: {name: processor}}",
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();
    let answer = send(addr, "a.example", "/", &[]).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["x-processed"], "response");
    assert_eq!(echo(&answer)["headers"]["x-processed"][0], "request");
}

// === Global rate limit ===

/// A rate limit service allowing `limit` requests per distinct descriptor set.
struct Counter {
    limit: u32,
    seen: parking_lot::Mutex<HashMap<String, u32>>,
}

#[tonic::async_trait]
impl RateLimitService for Counter {
    async fn should_rate_limit(
        &self,
        request: tonic::Request<RateLimitRequest>,
    ) -> Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        let request = request.into_inner();
        let key = format!(
            "{}:{:?}",
            request.domain,
            request
                .descriptors
                .iter()
                .map(|d: &RateLimitDescriptor| d
                    .entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.clone()))
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
        let mut seen = self.seen.lock();
        let count = seen.entry(key).or_default();
        *count += 1;
        let code = if *count > self.limit {
            Code::OverLimit
        } else {
            Code::Ok
        };
        Ok(tonic::Response::new(RateLimitResponse {
            overall_code: code as i32,
            ..RateLimitResponse::default()
        }))
    }
}

#[tokio::test]
async fn global_rate_limit_asks_the_service_per_client_header() {
    let one = spawn_echo_named("one").await;
    let rls = serve_grpc(RateLimitServiceServer::new(Counter {
        limit: 2,
        seen: parking_lot::Mutex::new(HashMap::new()),
    }))
    .await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &service("ratelimit", rls)
        + &route("r", "a.example", "/", "one")
        + &extension(
            "global-limits",
            "  type: RateLimit
  rateLimit:
    domain: api
    failOpen: false
    grpcService: {backendRef: {name: ratelimit, port: 80}}",
        )
        + &policy(
            "per-user",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  rateLimit:
    global:
      extensionRef: {name: global-limits}
      descriptors:
      - entries: [{type: Header, header: x-user}]",
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();
    for _ in 0..2 {
        assert_eq!(
            send(addr, "a.example", "/", &[("x-user", "alice")])
                .await
                .status(),
            StatusCode::OK
        );
    }
    let limited = send(addr, "a.example", "/", &[("x-user", "alice")]).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["x-envoy-ratelimited"], "true");
    // Another user has their own count.
    assert_eq!(
        send(addr, "a.example", "/", &[("x-user", "bob")])
            .await
            .status(),
        StatusCode::OK
    );
}

// === Envoy Gateway SecurityPolicy.authorization ===

#[tokio::test]
async fn envoy_gateway_client_cidr_authorization_uses_the_computed_client_address() {
    let one = spawn_echo_named("one").await;
    // Envoy Gateway's `authorization-client-ip` example, on a listener that trusts one
    // X-Forwarded-For hop (so the client is whatever the last proxy reported).
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &route("backend", "www.example.com", "/", "one")
        + "---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: authorization-client-ip, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: backend}]
  authorization:
    defaultAction: Deny
    rules:
    - action: Allow
      principal:
        clientCIDRs: [10.0.1.0/24, 10.0.2.0/24]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: {name: behind-a-proxy, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  default:
    httpSettings: {xffNumTrustedHops: 1}
";
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();

    let denied = send(
        addr,
        "www.example.com",
        "/",
        &[("x-forwarded-for", "192.168.9.9")],
    )
    .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(denied.body().as_ref(), b"RBAC: access denied");
    let allowed = send(
        addr,
        "www.example.com",
        "/",
        &[("x-forwarded-for", "10.0.2.7")],
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::OK);
}

/// A JWKS server on `127.0.0.1:0` counting its fetches.
async fn jwks_server(jwks: String) -> (SocketAddr, Arc<AtomicUsize>) {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (jwks, counter) = (jwks.clone(), counter.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = Full::new(bytes::Bytes::from(jwks.clone()));
                    async move { Ok::<_, std::convert::Infallible>(http::Response::new(body)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, fetches)
}

#[tokio::test]
async fn a_reload_that_does_not_change_the_provider_keeps_its_fetched_keys() {
    let one = spawn_echo_named("one").await;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
    let (jwks, fetches) = jwks_server(format!(
        r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{k}"}}]}}"#
    ))
    .await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &service("jwks", jwks)
        + &route("r", "a.example", "/", "one")
        + &extension(
            "issuer",
            "  jwt:
    providers:
    - name: remote
      jwks:
        remote:
          url: http://idp.example/keys
          backendRef: {name: jwks, port: 80}",
        )
        + &policy(
            "jwt",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  jwtAuth: {extensionRef: {name: issuer}}",
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();
    let bearer = format!("Bearer {}", token("acme", 300));
    let answer = send(addr, "a.example", "/", &[("authorization", &bearer)]).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // Another route arrives: the provider is unchanged, so its keys are not fetched again.
    let more = yaml + &route("other", "b.example", "/", "one");
    let applied = runtime.apply(&support::snapshot(&more));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let answer = send(addr, "a.example", "/", &[("authorization", &bearer)]).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "keys kept across the reload"
    );
}
