use bytes::Bytes;
use gateway_core::{Request, Response, ResponseFlag, body};
use governor::clock::FakeRelativeClock;
use http::StatusCode;
use http_body_util::BodyExt;
use std::{
    convert::Infallible,
    num::NonZeroU32,
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
            token_bucket: bucket(10, 1, Duration::from_secs(1)),
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
    assert_eq!(local.token_bucket, bucket(5, 2, Duration::from_millis(500)));
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
