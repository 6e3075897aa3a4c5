//! Listener policy benches: the per-request cost of the access log (formatting a line and
//! handing it to the writer thread), the request id and the client address layers, each
//! alone in front of a trivial backend.
//!
//! Each bench sends one request through one `gateway_filters` layer in front of a
//! `tower::service_fn` backend that answers at once with a `200` and a 5-byte body. The
//! request looks as gateway-core's listener hands it over: a browser-like set of headers,
//! an `X-Forwarded-For` ending with the peer the listener appended, and the
//! `ConnectionInfo` extension. Requests are built outside the timing, in batches of 64;
//! each iteration is one `oneshot` (service clone, `poll_ready`, `call`, await) plus
//! reading the response body to its end (where the access log writes its line); responses
//! are dropped outside the timing. The layers are built from kgateway policy JSON through
//! their `compile`, as the gateway builds them.
//!
//! - `listener_policy/baseline`: the backend alone; subtract it from the others.
//! - `listener_policy/access_log/text_default`: Envoy's default format string, with the
//!   bodies boxed again around the layer as inside the gateway.
//! - `listener_policy/access_log/json_kgateway`: the 16-key format dictionary of
//!   kgateway's access logging guide, boxed likewise.
//! - `listener_policy/request_id/generate`: a fresh UUIDv4 replaces the client's id.
//! - `listener_policy/request_id/preserve`: the client's id is kept.
//! - `listener_policy/client_addr/remote_address`: kgateway's default (the peer).
//! - `listener_policy/client_addr/two_hops`: `xffNumTrustedHops: 2` (parses the header).
//! - `listener_policy/client_addr/transparent`: `useRemoteAddress: false`, which also
//!   takes the appended peer off `X-Forwarded-For` again.
//!
//! Lines go to `/dev/null` through the real writer thread; lines the thread cannot keep up
//! with are dropped and counted, which costs the same as queueing them.
//!
//! Run with `cargo bench -p tower-gateway --bench listener_policies`; see
//! `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{convert::Infallible, future::Ready, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway_core::{
    BoxBody, Request, Response, body,
    extensions::{ClientAddr, ConnectionInfo, RequestId},
};
use gateway_filters::{
    access_log::{self, AccessLogLayer, AccessLogSpec, RequestBody, ResponseBody},
    client_addr::{ClientAddrLayer, ClientAddrSpec},
    request_id::{RequestIdLayer, RequestIdSpec},
};
use http_body_util::BodyExt;
use serde_json::json;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn, util::ServiceFn};

/// The trivial backend: answers at once with a `200` and a short body.
async fn backend(_request: Request) -> Result<Response, Infallible> {
    Ok(http::Response::new(body::full("hello")))
}

/// A request as the listener hands it over.
fn request() -> Request {
    let mut request = http::Request::builder()
        .uri("/api/users/42?expand=orders")
        .header("host", "www.example.com")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
        .header("accept", "application/json")
        .header("x-request-id", "7d5c8e0a-1b2c-4d3e-8f90-123456789abc")
        .header("x-forwarded-for", "198.51.100.7, 203.0.113.5, 10.0.0.9")
        .header("x-forwarded-proto", "http")
        .body(body::empty())
        .unwrap();
    request.extensions_mut().insert(ConnectionInfo {
        remote_addr: "10.0.0.9:40000".parse().unwrap(),
        local_addr: "10.0.0.2:8080".parse().unwrap(),
        tls: false,
        server_name: None,
    });
    request
}

/// What the echo backend of the set-up checks reports: `X-Forwarded-For`, the client
/// address and the request id.
type Seen = (String, Option<String>, Option<http::HeaderValue>);

/// The echo backend's type.
type Echo = fn(Request) -> Ready<Result<http::Response<Seen>, Infallible>>;

/// The backend of the set-up checks: reports what the layer in front of it did.
fn echo(request: Request) -> Ready<Result<http::Response<Seen>, Infallible>> {
    let xff = request.headers()["x-forwarded-for"]
        .to_str()
        .unwrap()
        .to_owned();
    let client = request
        .extensions()
        .get::<ClientAddr>()
        .map(|c| c.0.to_string());
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone());
    std::future::ready(Ok(http::Response::new((xff, client, id))))
}

/// What `layer` hands the echo backend for the bench request.
fn seen<L>(rt: &tokio::runtime::Runtime, layer: L) -> Seen
where
    L: Layer<ServiceFn<Echo>>,
    L::Service: Service<Request, Response = http::Response<Seen>, Error = Infallible>,
{
    let service = layer.layer(service_fn(echo as Echo));
    rt.block_on(service.oneshot(request())).unwrap().into_body()
}

/// Envoy's default format (no format given).
fn default_format() -> serde_json::Value {
    json!({})
}

/// The format dictionary of kgateway's access logging guide.
fn kgateway_format() -> serde_json::Value {
    json!({ "jsonFormat": {
        "start_time": "%START_TIME%",
        "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "protocol": "%PROTOCOL%",
        "response_code": "%RESPONSE_CODE%",
        "response_flags": "%RESPONSE_FLAGS%",
        "bytes_received": "%BYTES_RECEIVED%",
        "bytes_sent": "%BYTES_SENT%",
        "total_duration": "%DURATION%",
        "resp_backend_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
        "req_x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
        "user_agent": "%REQ(USER-AGENT)%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "authority": "%REQ(:AUTHORITY)%",
        "backendHost": "%UPSTREAM_HOST%",
        "backendCluster": "%UPSTREAM_CLUSTER%"
    } })
}

/// An access log to `path` with `format` (a `fileSink` without its path), boxed around as
/// in the gateway.
fn access_log(
    format: serde_json::Value,
    path: &std::path::Path,
) -> (
    AccessLogLayer,
    impl Service<Request, Response = Response, Error = Infallible> + Clone,
) {
    let mut file_sink = format;
    file_sink["path"] = json!(path);
    let specs: Vec<AccessLogSpec> =
        serde_json::from_value(json!([{ "fileSink": file_sink }])).unwrap();
    let layer = AccessLogLayer::new(access_log::compile(&specs).unwrap());
    let service = ServiceBuilder::new()
        .map_response(|response: http::Response<ResponseBody<BoxBody>>| response.map(body::boxed))
        .layer(layer.clone())
        .map_request(|request: http::Request<RequestBody<BoxBody>>| request.map(body::boxed))
        .service(service_fn(backend));
    (layer, service)
}

/// Benches `service` with fresh requests, one `oneshot` and body read per iteration.
fn bench<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    service: S,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            request,
            |request| {
                let service = service.clone();
                async move {
                    let response = service.oneshot(request).await.unwrap();
                    response.into_body().collect().await.unwrap()
                }
            },
            BatchSize::NumIterations(64),
        );
    });
}

fn listener_policies(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();

    let dev_null = std::path::Path::new("/dev/null");
    let (_, text_default) = access_log(default_format(), dev_null);
    let (_, json_kgateway) = access_log(kgateway_format(), dev_null);

    let request_id = |json: serde_json::Value| {
        let spec: RequestIdSpec = serde_json::from_value(json).unwrap();
        ServiceBuilder::new()
            .layer(RequestIdLayer::new(spec.compile().unwrap()))
            .service(service_fn(backend))
    };
    let generate = request_id(json!({}));
    let preserve = request_id(json!({ "preserveExternalRequestId": true }));

    let client_addr = |json: serde_json::Value| {
        let spec: ClientAddrSpec = serde_json::from_value(json).unwrap();
        ServiceBuilder::new()
            .layer(ClientAddrLayer::new(spec.compile().unwrap()))
            .service(service_fn(backend))
    };
    let remote_address = client_addr(json!({}));
    let two_hops = client_addr(json!({ "xffNumTrustedHops": 2 }));
    let transparent = client_addr(json!({ "useRemoteAddress": false }));

    // Outside the timing: the layers do what the benches say they measure.
    let dir = tempfile::tempdir().unwrap();
    for (format, expected) in [
        (
            default_format(),
            r#""GET /api/users/42?expand=orders HTTP/1.1" 200 - 0 5 "#,
        ),
        (
            kgateway_format(),
            r#""path":"/api/users/42?expand=orders","protocol":"HTTP/1.1","req_x_forwarded_for":"198.51.100.7, 203.0.113.5, 10.0.0.9","#,
        ),
    ] {
        let path = dir.path().join("check.log");
        let (layer, service) = access_log(format, &path);
        rt.block_on(async {
            let response = service.oneshot(request()).await.unwrap();
            response.into_body().collect().await.unwrap();
        });
        layer.flush();
        let line = std::fs::read_to_string(&path).unwrap();
        assert!(line.contains(expected), "{line}");
        std::fs::remove_file(&path).unwrap();
    }
    let client_addr_config = |json| {
        serde_json::from_value::<ClientAddrSpec>(json)
            .unwrap()
            .compile()
            .unwrap()
    };
    let request_id_config = |json| {
        serde_json::from_value::<RequestIdSpec>(json)
            .unwrap()
            .compile()
            .unwrap()
    };
    let remote = seen(&rt, ClientAddrLayer::new(client_addr_config(json!({}))));
    assert_eq!(remote.1.as_deref(), Some("10.0.0.9"));
    let hops = seen(
        &rt,
        ClientAddrLayer::new(client_addr_config(json!({ "xffNumTrustedHops": 2 }))),
    );
    assert_eq!(hops.1.as_deref(), Some("198.51.100.7"));
    let (xff, client, _) = seen(
        &rt,
        ClientAddrLayer::new(client_addr_config(json!({ "useRemoteAddress": false }))),
    );
    assert_eq!(
        (xff.as_str(), client.as_deref()),
        ("198.51.100.7, 203.0.113.5", Some("203.0.113.5"))
    );
    let client_id = "7d5c8e0a-1b2c-4d3e-8f90-123456789abc";
    let fresh = seen(&rt, RequestIdLayer::new(request_id_config(json!({})))).2;
    assert_ne!(fresh.unwrap(), client_id);
    let kept = seen(
        &rt,
        RequestIdLayer::new(request_id_config(
            json!({ "preserveExternalRequestId": true }),
        )),
    )
    .2;
    assert_eq!(kept.unwrap(), client_id);

    let mut group = c.benchmark_group("listener_policy");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench(&mut group, "baseline", &rt, service_fn(backend));
    bench(&mut group, "access_log/text_default", &rt, text_default);
    bench(&mut group, "access_log/json_kgateway", &rt, json_kgateway);
    bench(&mut group, "request_id/generate", &rt, generate);
    bench(&mut group, "request_id/preserve", &rt, preserve);
    bench(
        &mut group,
        "client_addr/remote_address",
        &rt,
        remote_address,
    );
    bench(&mut group, "client_addr/two_hops", &rt, two_hops);
    bench(&mut group, "client_addr/transparent", &rt, transparent);
    group.finish();
}

criterion_group!(benches, listener_policies);
criterion_main!(benches);
