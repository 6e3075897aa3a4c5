use bytes::Bytes;
use gateway_core::{
    Request, Response, ResponseFlag, body,
    extensions::{ClientAddr, ConnectionInfo},
};
use governor::{
    clock::{Clock, FakeRelativeClock, Reference},
    nanos::Nanos,
};
use http::{HeaderName, StatusCode};
use http_body_util::BodyExt;
use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    num::{NonZeroU32, NonZeroUsize},
    ops::Add,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::spec::Percent;

const MINUTE: Duration = Duration::from_secs(60);

fn bucket(max_tokens: u32, tokens_per_fill: u32, fill_interval: Duration) -> TokenBucket {
    TokenBucket {
        max_tokens: NonZeroU32::new(max_tokens).unwrap(),
        tokens_per_fill: NonZeroU32::new(tokens_per_fill).unwrap(),
        fill_interval,
    }
}

/// A backend counting the requests that reach it.
fn backend(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync
{
    service_fn(move |_: Request| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(body::full("backend"))) }
    })
}

/// Sends one request; returns its status.
async fn status<S>(service: &mut S) -> StatusCode
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let response = service
        .ready()
        .await
        .unwrap()
        .call(Request::default())
        .await
        .unwrap();
    response.status()
}

/// Statuses of `n` requests in a row.
async fn statuses<S>(service: &mut S, n: usize) -> Vec<u16>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(status(service).await.as_u16());
    }
    out
}

#[tokio::test]
async fn three_per_minute_then_429_until_the_bucket_refills() {
    let clock = FakeRelativeClock::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::new(bucket(3, 1, MINUTE)),
        clock.clone(),
    );
    let mut service = layer.layer(backend(calls.clone()));

    assert_eq!(statuses(&mut service, 3).await, [200, 200, 200]);
    let response = service
        .ready()
        .await
        .unwrap()
        .call(Request::default())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::RateLimited)
    );
    assert_eq!(response.headers()["x-envoy-ratelimited"], "true");
    assert_eq!(response.headers()["content-type"], "text/plain");
    let text: Bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "local_rate_limited");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the limited request reached the backend"
    );

    // Just before the fill nothing is back; after it, one token.
    clock.advance(MINUTE - Duration::from_millis(1));
    assert_eq!(statuses(&mut service, 1).await, [429]);
    clock.advance(Duration::from_millis(1));
    assert_eq!(statuses(&mut service, 2).await, [200, 429]);

    // A long pause fills the bucket up to its capacity, not beyond.
    clock.advance(10 * MINUTE);
    assert_eq!(statuses(&mut service, 4).await, [200, 200, 200, 429]);
    assert_eq!(calls.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn tokens_per_fill_come_back_spread_over_the_interval() {
    // Envoy adds 3 tokens at each minute; governor returns one every 20 s.
    let clock = FakeRelativeClock::default();
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::new(bucket(3, 3, MINUTE)),
        clock.clone(),
    );
    let mut service = layer.layer(backend(Arc::default()));
    assert_eq!(statuses(&mut service, 4).await, [200, 200, 200, 429]);
    clock.advance(Duration::from_secs(20));
    assert_eq!(statuses(&mut service, 2).await, [200, 429]);
    clock.advance(Duration::from_secs(40));
    assert_eq!(statuses(&mut service, 3).await, [200, 200, 429]);
}

#[tokio::test]
async fn every_clone_and_every_wrapped_service_share_the_layers_bucket() {
    let clock = FakeRelativeClock::default();
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::new(bucket(2, 1, MINUTE)),
        clock.clone(),
    );
    let mut first = layer.layer(backend(Arc::default()));
    let mut clone = first.clone();
    let mut second = layer.clone().layer(backend(Arc::default()));
    assert_eq!(statuses(&mut first, 1).await, [200]);
    assert_eq!(statuses(&mut clone, 1).await, [200]);
    assert_eq!(statuses(&mut second, 1).await, [429]);

    // Another layer has its own bucket.
    let other =
        LocalRateLimitLayer::with_clock(LocalRateLimitConfig::new(bucket(2, 1, MINUTE)), clock);
    let mut third = other.layer(backend(Arc::default()));
    assert_eq!(statuses(&mut third, 1).await, [200]);
}

#[tokio::test]
async fn percent_enabled_and_enforced_let_requests_through() {
    let clock = FakeRelativeClock::default();
    let mut not_enabled = LocalRateLimitConfig::new(bucket(1, 1, MINUTE));
    not_enabled.percent_enabled = Percent::ZERO;
    let mut service =
        LocalRateLimitLayer::with_clock(not_enabled, clock.clone()).layer(backend(Arc::default()));
    assert_eq!(statuses(&mut service, 5).await, [200; 5]);

    let mut not_enforced = LocalRateLimitConfig::new(bucket(1, 1, MINUTE));
    not_enforced.percent_enforced = Percent::ZERO;
    let mut service =
        LocalRateLimitLayer::with_clock(not_enforced, clock).layer(backend(Arc::default()));
    assert_eq!(statuses(&mut service, 5).await, [200; 5]);
}

#[tokio::test]
async fn the_default_clock_limits_too() {
    let layer = LocalRateLimitLayer::new(LocalRateLimitConfig::new(bucket(1, 1, 60 * MINUTE)));
    let service = gateway_core::HttpService::new(layer.layer(backend(Arc::default())));
    let first = service.call_shared(Request::default()).await.unwrap();
    let second = service.call_shared(Request::default()).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
}

fn compile(json: &str) -> Result<RateLimitConfig, crate::spec::FieldError> {
    serde_json::from_str::<RateLimitSpec>(json)
        .unwrap()
        .compile()
}

#[test]
fn spec_defaults_follow_kgateway() {
    let config =
        compile(r#"{"local": {"tokenBucket": {"maxTokens": 10, "fillInterval": "1s"}}}"#).unwrap();
    assert_eq!(
        config.local,
        Some(LocalRateLimit::Limit(LocalRateLimitConfig {
            token_bucket: Some(bucket(10, 1, Duration::from_secs(1))),
            per_client: None,
            percent_enabled: Percent::HUNDRED,
            percent_enforced: Percent::HUNDRED,
        }))
    );
    let config = compile(
        r#"{"local": {"tokenBucket": {"maxTokens": 5, "tokensPerFill": 2, "fillInterval": "500ms"},
            "percentEnabled": 50, "percentEnforced": 0}}"#,
    )
    .unwrap();
    let Some(LocalRateLimit::Limit(local)) = config.local else {
        panic!("a limit")
    };
    assert_eq!(
        local.token_bucket,
        Some(bucket(5, 2, Duration::from_millis(500)))
    );
    assert_eq!(local.percent_enabled, Percent::new(50).unwrap());
    assert_eq!(local.percent_enforced, Percent::ZERO);

    assert_eq!(compile("{}").unwrap().local, None);
    assert_eq!(
        compile(r#"{"local": {}}"#).unwrap().local,
        Some(LocalRateLimit::Disabled)
    );
    // `global` is not read (the policy compiler reports it as unsupported).
    let spec: RateLimitSpec = serde_json::from_str(r#"{"global": {"descriptors": []}}"#).unwrap();
    assert_eq!(spec, RateLimitSpec::default());
}

#[test]
fn spec_errors_name_the_field() {
    for (json, field, reason) in [
        (
            r#"{"local": {"tokenBucket": {"maxTokens": 0, "fillInterval": "1s"}}}"#,
            "local.tokenBucket.maxTokens",
            "at least 1",
        ),
        (
            r#"{"local": {"tokenBucket": {"maxTokens": 1, "tokensPerFill": -2, "fillInterval": "1s"}}}"#,
            "local.tokenBucket.tokensPerFill",
            "at least 1",
        ),
        (
            r#"{"local": {"tokenBucket": {"maxTokens": 1, "fillInterval": "49ms"}}}"#,
            "local.tokenBucket.fillInterval",
            "at least 50ms",
        ),
        (
            r#"{"local": {"percentEnabled": 10}}"#,
            "local.tokenBucket",
            "required",
        ),
    ] {
        let error = compile(json).unwrap_err();
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
    }
    assert!(
        serde_json::from_str::<RateLimitSpec>(r#"{"local": {"percentEnforced": 101}}"#).is_err()
    );
    assert!(
        serde_json::from_str::<RateLimitSpec>(r#"{"local": {"tokenBucket": {"maxTokens": 1}}}"#)
            .is_err(),
        "fillInterval is required"
    );
}

#[test]
fn quotas_map_the_bucket_onto_governor() {
    let quota = bucket(10, 4, Duration::from_secs(1)).quota();
    assert_eq!(quota.burst_size().get(), 10);
    assert_eq!(quota.replenish_interval(), Duration::from_millis(250));
    // More tokens per fill than nanoseconds in the interval: one per nanosecond.
    let quota = bucket(1, u32::MAX, Duration::from_millis(50)).quota();
    assert_eq!(quota.replenish_interval(), Duration::from_nanos(1));
}

#[tokio::test]
async fn buckets_too_slow_for_governors_clock_fill_up_in_a_century() {
    // Two billion tokens, one back a day: 5 million years to fill up, beyond governor's
    // nanosecond counter. Such a bucket fills up in a century instead.
    let slow = bucket(2_000_000_000, 1, 24 * 60 * MINUTE);
    let period = slow.quota().replenish_interval();
    assert_eq!(period, MAX_REFILL_TIME / 2_000_000_000);
    // The layers build (governor's arithmetic does not overflow) and serve.
    let config = LocalRateLimitConfig::new(slow).with_per_client(per_client(
        ClientKey::RemoteAddress,
        slow,
        10,
    ));
    let service = LocalRateLimitLayer::new(config).layer(backend(Arc::default()));
    for _ in 0..3 {
        let response = service.clone().oneshot(Request::default()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A bucket within the bound keeps its exact period.
    let century = bucket(100, 1, MAX_REFILL_TIME / 100);
    assert_eq!(century.quota().replenish_interval(), MAX_REFILL_TIME / 100);
}

// === perClient ===

/// A governor clock reading tokio's clock, so paused-time tests drive the buckets and the
/// eviction task together.
#[derive(Clone, Copy, Debug, Default)]
struct TokioClock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(tokio::time::Instant);

impl Add<Nanos> for TokioInstant {
    type Output = Self;

    fn add(self, other: Nanos) -> Self {
        Self(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        self.0
            .checked_sub(Duration::from(duration))
            .map_or(*self, Self)
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(tokio::time::Instant::now())
    }
}

const X_CLIENT: HeaderName = HeaderName::from_static("x-client");

/// A per-client limit keyed by `key`, tracking at most `max_keys` clients.
fn per_client(key: ClientKey, bucket: TokenBucket, max_keys: usize) -> PerClientLimit {
    PerClientLimit {
        key,
        token_bucket: bucket,
        max_keys: NonZeroUsize::new(max_keys).unwrap(),
    }
}

/// A request from the client `client` (in the `x-client` header).
fn from_client(client: impl std::fmt::Display) -> Request {
    http::Request::builder()
        .header(X_CLIENT, client.to_string())
        .body(body::empty())
        .unwrap()
}

/// A request whose listener trusted `client` as the client address.
fn from_addr(client: &str) -> Request {
    let mut request = Request::default();
    request
        .extensions_mut()
        .insert(ClientAddr(client.parse().unwrap()));
    request
}

/// A request on a connection from `peer`, without a trusted client address.
fn from_peer(peer: &str) -> Request {
    let mut request = Request::default();
    request.extensions_mut().insert(ConnectionInfo {
        remote_addr: peer.parse::<SocketAddr>().unwrap(),
        local_addr: "127.0.0.1:8080".parse().unwrap(),
        tls: false,
        server_name: None,
    });
    request
}

/// The status of one request.
async fn send<S>(service: &mut S, request: Request) -> u16
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(start_paused = true)]
async fn every_client_of_many_has_a_bucket_of_its_own() {
    // Two tokens per client, one back every 30 s.
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::per_client(per_client(
            ClientKey::Header(X_CLIENT),
            bucket(2, 2, MINUTE),
            10_000,
        )),
        TokioClock,
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = layer.layer(backend(calls.clone()));
    for client in 0..1_000 {
        let got = [
            send(&mut service, from_client(client)).await,
            send(&mut service, from_client(client)).await,
            send(&mut service, from_client(client)).await,
        ];
        assert_eq!(got, [200, 200, 429], "client {client}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2_000);
    assert_eq!(layer.tracked_clients(), 1_000);

    tokio::time::advance(Duration::from_secs(30)).await;
    for client in 0..1_000 {
        let got = [
            send(&mut service, from_client(client)).await,
            send(&mut service, from_client(client)).await,
        ];
        assert_eq!(got, [200, 429], "client {client} after 30 s");
    }
}

#[tokio::test]
async fn the_refusal_is_envoys_local_rate_limit_answer() {
    let layer = LocalRateLimitLayer::new(LocalRateLimitConfig::per_client(per_client(
        ClientKey::Header(X_CLIENT),
        bucket(1, 1, MINUTE),
        10,
    )));
    let service = layer.layer(backend(Arc::default()));
    assert_eq!(
        service
            .clone()
            .oneshot(from_client("a"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let response = service.oneshot(from_client("a")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::RateLimited)
    );
    assert_eq!(response.headers()["x-envoy-ratelimited"], "true");
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "local_rate_limited");
}

#[tokio::test(start_paused = true)]
async fn remote_address_keys_by_the_trusted_client_address_then_the_peer() {
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::per_client(per_client(
            ClientKey::RemoteAddress,
            bucket(1, 1, MINUTE),
            10,
        )),
        TokioClock,
    );
    let mut service = layer.layer(backend(Arc::default()));
    assert_eq!(send(&mut service, from_addr("192.0.2.1")).await, 200);
    assert_eq!(send(&mut service, from_addr("192.0.2.1")).await, 429);
    // The peer's port does not matter, and an IPv4-mapped address is the IPv4 address.
    assert_eq!(send(&mut service, from_peer("192.0.2.1:4000")).await, 429);
    assert_eq!(
        send(&mut service, from_peer("[::ffff:192.0.2.1]:4001")).await,
        429
    );
    // The trusted client address wins over the peer (a proxy in front).
    let mut behind_proxy = from_peer("192.0.2.1:4002");
    behind_proxy
        .extensions_mut()
        .insert(ClientAddr(IpAddr::from([198, 51, 100, 7])));
    assert_eq!(send(&mut service, behind_proxy).await, 200);
    assert_eq!(send(&mut service, from_addr("2001:db8::1")).await, 200);
    assert_eq!(layer.tracked_clients(), 3);
}

#[tokio::test(start_paused = true)]
async fn header_keys_fall_back_to_the_address_when_the_header_is_missing() {
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::per_client(per_client(
            ClientKey::Header(X_CLIENT),
            bucket(1, 1, MINUTE),
            10,
        )),
        TokioClock,
    );
    let mut service = layer.layer(backend(Arc::default()));
    let keyed = |client: &str, addr: &str| {
        let mut request = from_client(client);
        request
            .extensions_mut()
            .insert(ClientAddr(addr.parse().unwrap()));
        request
    };
    // The same key from two addresses is one client.
    assert_eq!(
        send(&mut service, keyed("tenant-a", "192.0.2.1")).await,
        200
    );
    assert_eq!(
        send(&mut service, keyed("tenant-a", "192.0.2.2")).await,
        429
    );
    // Without the header, each address is a client; a header value that reads like an
    // address is not that address.
    assert_eq!(send(&mut service, from_addr("192.0.2.1")).await, 200);
    assert_eq!(send(&mut service, from_addr("192.0.2.1")).await, 429);
    assert_eq!(send(&mut service, from_addr("192.0.2.2")).await, 200);
    assert_eq!(
        send(&mut service, keyed("192.0.2.2", "192.0.2.9")).await,
        200
    );
    // Neither header nor address: one shared client.
    assert_eq!(send(&mut service, Request::default()).await, 200);
    assert_eq!(send(&mut service, Request::default()).await, 429);
    assert_eq!(layer.tracked_clients(), 5);
}

#[tokio::test(start_paused = true)]
async fn claim_keys_read_the_header_the_jwt_policy_writes() {
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::per_client(per_client(
            ClientKey::Claim {
                name: "sub".into(),
                header: HeaderName::from_static("x-jwt-sub"),
            },
            bucket(1, 1, MINUTE),
            10,
        )),
        TokioClock,
    );
    let mut service = layer.layer(backend(Arc::default()));
    let subject = |sub: &str| {
        http::Request::builder()
            .header("x-jwt-sub", sub)
            .body(body::empty())
            .unwrap()
    };
    assert_eq!(send(&mut service, subject("alice")).await, 200);
    assert_eq!(send(&mut service, subject("alice")).await, 429);
    assert_eq!(send(&mut service, subject("bob")).await, 200);
}

#[tokio::test(start_paused = true)]
async fn a_client_over_its_own_limit_does_not_drain_the_shared_bucket() {
    let config = LocalRateLimitConfig::new(bucket(3, 1, MINUTE)).with_per_client(per_client(
        ClientKey::Header(X_CLIENT),
        bucket(1, 1, MINUTE),
        10,
    ));
    let mut service =
        LocalRateLimitLayer::with_clock(config, TokioClock).layer(backend(Arc::default()));
    let mut got = Vec::new();
    for client in ["a", "a", "a", "a", "b", "c", "d"] {
        got.push(send(&mut service, from_client(client)).await);
    }
    // `a`'s refused requests took nothing from the shared bucket; `d` finds it empty.
    assert_eq!(got, [200, 429, 429, 429, 200, 200, 429]);
}

#[tokio::test(start_paused = true)]
async fn clients_beyond_max_keys_share_one_overflow_bucket() {
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::per_client(per_client(
            ClientKey::Header(X_CLIENT),
            bucket(1, 1, MINUTE),
            3,
        )),
        TokioClock,
    );
    let mut service = layer.layer(backend(Arc::default()));
    for client in ["a", "b", "c"] {
        assert_eq!(send(&mut service, from_client(client)).await, 200);
    }
    assert_eq!(layer.tracked_clients(), 3);
    // The table is full: `d` and `e` share the overflow bucket (one token); `a` keeps
    // its own (empty) bucket.
    assert_eq!(send(&mut service, from_client("d")).await, 200);
    assert_eq!(send(&mut service, from_client("e")).await, 429);
    assert_eq!(send(&mut service, from_client("a")).await, 429);
    assert_eq!(layer.tracked_clients(), 3);
}

#[tokio::test(start_paused = true)]
async fn idle_clients_are_evicted_and_busy_ones_kept() {
    // One token back a minute: a bucket takes 5 minutes to refill, so the table is swept
    // every minute (the longest period).
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::per_client(per_client(
            ClientKey::Header(X_CLIENT),
            bucket(5, 1, MINUTE),
            100_000,
        )),
        TokioClock,
    );
    let mut service = layer.layer(backend(Arc::default()));
    for client in 0..10_000 {
        assert_eq!(send(&mut service, from_client(client)).await, 200);
    }
    for client in 0..10 {
        for _ in 0..5 {
            assert_eq!(
                send(&mut service, from_client(format!("busy-{client}"))).await,
                200
            );
        }
        assert_eq!(
            send(&mut service, from_client(format!("busy-{client}"))).await,
            429
        );
    }
    assert_eq!(layer.tracked_clients(), 10_010);

    // At one minute the single-request clients are a token short of full; at two they are
    // full and go. The busy ones still owe tokens and stay.
    tokio::time::sleep(MINUTE + Duration::from_secs(1)).await;
    assert_eq!(layer.tracked_clients(), 10_010);
    tokio::time::sleep(MINUTE).await;
    assert_eq!(layer.tracked_clients(), 10);
    assert_eq!(
        send(&mut service, from_client("busy-0")).await,
        200,
        "two tokens back"
    );
    assert_eq!(send(&mut service, from_client("busy-0")).await, 200);
    assert_eq!(
        send(&mut service, from_client("busy-0")).await,
        429,
        "kept its state"
    );

    // Once their buckets are full again they go too.
    tokio::time::sleep(7 * MINUTE).await;
    assert_eq!(layer.tracked_clients(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_table_is_swept_early() {
    // A token back every 10 s, three at most: the periodic sweep runs every 30 s, and a
    // client that sent one request is forgettable after 20 s.
    let layer = LocalRateLimitLayer::with_clock(
        LocalRateLimitConfig::per_client(per_client(
            ClientKey::Header(X_CLIENT),
            bucket(3, 3, Duration::from_secs(30)),
            100,
        )),
        TokioClock,
    );
    let mut service = layer.layer(backend(Arc::default()));
    for client in 0..100 {
        assert_eq!(send(&mut service, from_client(client)).await, 200);
    }
    tokio::time::advance(Duration::from_secs(21)).await;
    // A newcomer finds the table full: it shares the overflow bucket and wakes the sweep,
    // which runs before the periodic one would (at 30 s).
    assert_eq!(send(&mut service, from_client("newcomer")).await, 200);
    assert_eq!(layer.tracked_clients(), 100);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(layer.tracked_clients(), 0);
    assert_eq!(send(&mut service, from_client("newcomer")).await, 200);
    assert_eq!(layer.tracked_clients(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_eviction_task_ends_with_the_layer() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let layer = LocalRateLimitLayer::new(LocalRateLimitConfig::per_client(per_client(
        ClientKey::RemoteAddress,
        bucket(1, 1, MINUTE),
        10,
    )));
    let service = layer.layer(backend(Arc::default()));
    assert_eq!(metrics.num_alive_tasks(), 0, "started by the first request");
    service.clone().oneshot(Request::default()).await.unwrap();
    service.clone().oneshot(Request::default()).await.unwrap();
    assert_eq!(
        metrics.num_alive_tasks(),
        1,
        "one task, however many requests"
    );
    drop((layer, service));
    tokio::task::yield_now().await;
    assert_eq!(metrics.num_alive_tasks(), 0);
}

#[test]
fn per_client_spec_reads_our_extension() {
    let config = compile(
        r#"{"local": {"perClient": {"key": {"header": "X-Api-Key"},
            "tokenBucket": {"maxTokens": 10, "fillInterval": "1m"}}}}"#,
    )
    .unwrap();
    assert_eq!(
        config.local,
        Some(LocalRateLimit::Limit(LocalRateLimitConfig::per_client(
            PerClientLimit {
                key: ClientKey::Header(HeaderName::from_static("x-api-key")),
                token_bucket: bucket(10, 1, MINUTE),
                max_keys: DEFAULT_MAX_CLIENTS,
            }
        )))
    );
    assert_eq!(DEFAULT_MAX_CLIENTS.get(), 100_000);

    let config = compile(
        r#"{"local": {"tokenBucket": {"maxTokens": 100, "fillInterval": "1s"},
            "percentEnforced": 50,
            "perClient": {"key": {"remoteAddress": {}}, "maxKeys": 5000,
                "tokenBucket": {"maxTokens": 2, "tokensPerFill": 2, "fillInterval": "1s"}}}}"#,
    )
    .unwrap();
    let Some(LocalRateLimit::Limit(local)) = config.local else {
        panic!("a limit")
    };
    assert_eq!(
        local.token_bucket,
        Some(bucket(100, 1, Duration::from_secs(1)))
    );
    assert_eq!(local.percent_enforced, Percent::new(50).unwrap());
    assert_eq!(
        local.per_client,
        Some(per_client(
            ClientKey::RemoteAddress,
            bucket(2, 2, Duration::from_secs(1)),
            5000
        ))
    );

    let config = compile(
        r#"{"local": {"perClient": {"key": {"claim": {"name": "sub", "header": "x-jwt-sub"}},
            "tokenBucket": {"maxTokens": 1, "fillInterval": "1s"}}}}"#,
    )
    .unwrap();
    let Some(LocalRateLimit::Limit(local)) = config.local else {
        panic!("a limit")
    };
    assert_eq!(
        local.per_client.unwrap().key,
        ClientKey::Claim {
            name: "sub".into(),
            header: HeaderName::from_static("x-jwt-sub")
        }
    );
}

#[test]
fn per_client_spec_errors_name_the_field() {
    let bucket = r#""tokenBucket": {"maxTokens": 1, "fillInterval": "1s"}"#;
    for (per_client, field, reason) in [
        (
            format!(r#"{{"key": {{}}, {bucket}}}"#),
            "local.perClient.key",
            "exactly one",
        ),
        (
            format!(r#"{{"key": {{"remoteAddress": {{}}, "header": "x-a"}}, {bucket}}}"#),
            "local.perClient.key",
            "exactly one",
        ),
        (
            format!(r#"{{"key": {{"header": "bad header"}}, {bucket}}}"#),
            "local.perClient.key.header",
            "not a header name",
        ),
        (
            format!(r#"{{"key": {{"header": ":path"}}, {bucket}}}"#),
            "local.perClient.key.header",
            "not a header name",
        ),
        (
            format!(r#"{{"key": {{"claim": {{"name": "", "header": "x-sub"}}}}, {bucket}}}"#),
            "local.perClient.key.claim.name",
            "empty",
        ),
        (
            format!(r#"{{"key": {{"claim": {{"name": "sub", "header": ""}}}}, {bucket}}}"#),
            "local.perClient.key.claim.header",
            "not a header name",
        ),
        (
            format!(r#"{{"key": {{"remoteAddress": {{}}}}, "maxKeys": 0, {bucket}}}"#),
            "local.perClient.maxKeys",
            "between 1 and 1000000",
        ),
        (
            format!(r#"{{"key": {{"remoteAddress": {{}}}}, "maxKeys": 1000001, {bucket}}}"#),
            "local.perClient.maxKeys",
            "between 1 and 1000000",
        ),
        (
            r#"{"key": {"remoteAddress": {}}, "tokenBucket": {"maxTokens": 0, "fillInterval": "1s"}}"#
                .to_owned(),
            "local.perClient.tokenBucket.maxTokens",
            "at least 1",
        ),
    ] {
        let json = format!(r#"{{"local": {{"perClient": {per_client}}}}}"#);
        let error = compile(&json).unwrap_err();
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
    }
    let error = compile(r#"{"local": {"percentEnabled": 10}}"#).unwrap_err();
    assert_eq!(error.field, "local.tokenBucket");
    assert!(error.reason.contains("perClient"), "{error}");
}
