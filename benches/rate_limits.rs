//! Rate limit benches: the per-request cost of per-client local buckets with many clients,
//! and of a global rate limit check against a real rate limit service on loopback.
//!
//! Each bench sends one request through one `gateway_filters` layer in front of a
//! `tower::service_fn` backend that answers at once with an empty `200`. Requests are built
//! outside the timing, in batches of 64; each iteration is one `oneshot` (service clone,
//! `poll_ready`, `call`, await); responses are dropped outside the timing. The layers are
//! built from policy JSON through their `compile`, as the gateway builds them.
//!
//! - `rate_limits/baseline`: the backend alone; subtract it from the others.
//! - `rate_limits/per_client/10000_active_keys`: `rateLimit.local.perClient` keyed by the
//!   `x-client-id` header; 10 000 clients already have a bucket (none of them ever runs
//!   dry or is evicted), and the requests cycle through them: one key hash, one map hit,
//!   one GCRA update.
//! - `rate_limits/per_client/table_full_new_client`: the same with `maxKeys: 10000` taken
//!   by those clients; every request comes from a client never seen, so it is counted in
//!   the shared overflow bucket (a map miss, the table-full check, the overflow update).
//! - `rate_limits/global/round_trip`: `rateLimit.global` with one `Header` descriptor; each
//!   request is one `ShouldRateLimit` call over the layer's HTTP/2 channel to a tonic
//!   `RateLimitService` on 127.0.0.1 in the same runtime, which answers `OK` with one
//!   response header, then the backend.
//!
//! Run with `cargo bench -p tower-gateway --bench rate_limits`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use envoy_types::pb::envoy::{
    config::core::v3::HeaderValue,
    service::ratelimit::v3::{
        RateLimitRequest, RateLimitResponse,
        rate_limit_response::Code,
        rate_limit_service_server::{RateLimitService, RateLimitServiceServer},
    },
};
use gateway_core::{Request, Response, body};
use gateway_filters::{
    global_rate_limit::{
        GlobalRateLimitConfig, GlobalRateLimitLayer, GlobalRateLimitSpec, RateLimitProviderSpec,
    },
    local_rate_limit::{LocalRateLimit, LocalRateLimitLayer, RateLimitSpec},
};
use http::StatusCode;
use tonic::transport::{Server, server::TcpIncoming};
use tower::{Layer, Service, ServiceExt, service_fn};

/// Clients with a bucket of their own in the per-client benches.
const ACTIVE_CLIENTS: usize = 10_000;

/// The trivial backend: answers at once with an empty `200`.
async fn backend(_request: Request) -> Result<Response, Infallible> {
    Ok(Response::new(body::empty()))
}

/// A GET from the client `client` (in `x-client-id`).
fn from_client(client: usize) -> Request {
    http::Request::builder()
        .uri("/api/users/42")
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("x-client-id", format!("client-{client}"))
        .body(body::empty())
        .unwrap()
}

/// A per-client layer keyed by `x-client-id`, tracking at most `max_keys` clients, with a
/// bucket no client empties within a run (10⁸ tokens) and that gets a token back only
/// every 30 s, so a client stays tracked for a minute after its last request: no client
/// is limited or evicted while the benches run.
fn per_client(max_keys: usize) -> LocalRateLimitLayer {
    let json = format!(
        r#"{{"local": {{"perClient": {{"key": {{"header": "x-client-id"}}, "maxKeys": {max_keys},
            "tokenBucket": {{"maxTokens": 100000000, "fillInterval": "30s"}}}}}}}}"#
    );
    let spec: RateLimitSpec = serde_json::from_str(&json).unwrap();
    let Some(LocalRateLimit::Limit(config)) = spec.compile().unwrap().local else {
        panic!("the bench policy has a limit")
    };
    LocalRateLimitLayer::new(config)
}

/// A rate limit service that says `OK` to everything, with one response header.
struct AlwaysOk;

#[tonic::async_trait]
impl RateLimitService for AlwaysOk {
    async fn should_rate_limit(
        &self,
        _request: tonic::Request<RateLimitRequest>,
    ) -> Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        Ok(tonic::Response::new(RateLimitResponse {
            overall_code: Code::Ok as i32,
            response_headers_to_add: vec![HeaderValue {
                key: "x-ratelimit-checked".into(),
                value: "yes".into(),
                raw_value: Vec::new(),
            }],
            ..RateLimitResponse::default()
        }))
    }
}

/// Starts [`AlwaysOk`] on 127.0.0.1:0 in `rt`.
fn start_rls(rt: &tokio::runtime::Runtime) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(Server::builder().serve_with_incoming(
            RateLimitServiceServer::new(AlwaysOk),
            TcpIncoming::from(listener),
        ));
        addr
    })
}

/// A global rate limit layer asking the service at `addr` about the `x-client-id` header.
fn global(addr: SocketAddr) -> GlobalRateLimitLayer {
    let policy: GlobalRateLimitSpec = serde_json::from_str(
        r#"{"extensionRef": {"name": "ratelimit"},
            "descriptors": [{"entries": [{"type": "Header", "header": "x-client-id"}]}]}"#,
    )
    .unwrap();
    let provider: RateLimitProviderSpec = serde_json::from_str(
        r#"{"domain": "bench", "timeout": "1s",
            "grpcService": {"backendRef": {"name": "ratelimit", "port": 8081}}}"#,
    )
    .unwrap();
    GlobalRateLimitLayer::new(GlobalRateLimitConfig::new(
        provider.compile().unwrap(),
        vec![addr],
        policy.compile().unwrap(),
    ))
}

/// Benches `service` with requests from `request`, one `oneshot` per iteration.
fn bench<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    service: S,
    mut request: impl FnMut() -> Request,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            &mut request,
            |request| service.clone().oneshot(request),
            BatchSize::NumIterations(64),
        );
    });
}

/// Sends one request outside the timing; returns the response.
fn probe<S>(rt: &tokio::runtime::Runtime, service: &S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    rt.block_on(service.clone().oneshot(request)).unwrap()
}

fn rate_limits(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Outside the timing: every active client gets its bucket, and the layers do what the
    // benches say they measure.
    let active = per_client(100_000);
    let active_service = active.layer(service_fn(backend));
    let full = per_client(ACTIVE_CLIENTS);
    let full_service = full.layer(service_fn(backend));
    for client in 0..ACTIVE_CLIENTS {
        assert_eq!(
            probe(&rt, &active_service, from_client(client)).status(),
            StatusCode::OK
        );
        assert_eq!(
            probe(&rt, &full_service, from_client(client)).status(),
            StatusCode::OK
        );
    }
    assert_eq!(active.tracked_clients(), ACTIVE_CLIENTS);
    assert_eq!(full.tracked_clients(), ACTIVE_CLIENTS);
    assert_eq!(
        probe(&rt, &full_service, from_client(ACTIVE_CLIENTS)).status(),
        StatusCode::OK
    );
    assert_eq!(full.tracked_clients(), ACTIVE_CLIENTS, "the table is full");

    let limited = global(start_rls(&rt));
    let global_service = limited.layer(service_fn(backend));
    let response = probe(&rt, &global_service, from_client(0));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-ratelimit-checked"], "yes");
    assert_eq!(limited.stats().ok, 1, "the service was asked");

    let mut group = c.benchmark_group("rate_limits");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench(&mut group, "baseline", &rt, service_fn(backend), || {
        from_client(0)
    });
    let mut next = 0;
    bench(
        &mut group,
        "per_client/10000_active_keys",
        &rt,
        active_service,
        move || {
            next = (next + 1) % ACTIVE_CLIENTS;
            from_client(next)
        },
    );
    let mut unseen = ACTIVE_CLIENTS;
    bench(
        &mut group,
        "per_client/table_full_new_client",
        &rt,
        full_service,
        move || {
            unseen += 1;
            from_client(unseen)
        },
    );
    bench(&mut group, "global/round_trip", &rt, global_service, || {
        from_client(7)
    });
    group.finish();
    assert_eq!(
        active.tracked_clients(),
        ACTIVE_CLIENTS,
        "no client was evicted"
    );
}

criterion_group!(benches, rate_limits);
criterion_main!(benches);
