//! The whole stack, built twice: as the gateway builds it (each layer erased into an
//! `HttpService`, which needs `Clone + Send + Sync` services and `Send` futures) and through
//! the `ServiceBuilder` extension methods.

use gateway_core::{HttpService, Request, Response, ResponseFlag, body, extensions::MatchedPrefix};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use std::{convert::Infallible, time::Duration};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

use super::GatewayServiceBuilderExt;
use crate::{
    cors::{CorsConfig, CorsLayer, parse_origin},
    header_modifier::{
        HeaderModifierConfig, HeaderModifierLayer, HeaderPair, ResponseHeaderModifierLayer,
    },
    mirror::{MirrorConfig, MirrorLayer},
    path_modifier::PathModifier,
    redirect::{RedirectConfig, RedirectLayer},
    retry::{RetryConfig, RetryLayer},
    timeout::TimeoutLayer,
    url_rewrite::{UrlRewriteConfig, UrlRewriteLayer},
};

/// A backend answering with the path and `x-added` header it received.
fn backend() -> HttpService {
    HttpService::new(service_fn(|request: Request| async move {
        let added = request
            .headers()
            .get("x-added")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = format!("{} {}", request.uri(), added);
        Ok::<_, Infallible>(Response::new(body::full(text)))
    }))
}

fn add_header(name: &'static str, value: &'static str) -> HeaderModifierConfig {
    HeaderModifierConfig {
        add: vec![HeaderPair {
            name: HeaderName::from_static(name),
            value: HeaderValue::from_static(value),
        }],
        ..HeaderModifierConfig::default()
    }
}

fn cors() -> CorsConfig {
    CorsConfig {
        allow_origins: vec![parse_origin("https://app.example").unwrap()],
        ..CorsConfig::default()
    }
}

fn rewrite() -> UrlRewriteConfig {
    UrlRewriteConfig {
        hostname: None,
        path: Some(PathModifier::ReplacePrefixMatch("/v2".into())),
    }
}

fn request() -> Request {
    let mut request = Request::new(body::empty());
    *request.uri_mut() = "/api/items?x=1".parse().unwrap();
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static("https://app.example"));
    request
        .extensions_mut()
        .insert(MatchedPrefix("/api".into()));
    request
}

async fn check(response: Response) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-response"], "yes");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "/v2/items?x=1 yes");
}

#[tokio::test(start_paused = true)]
async fn the_gateway_stack_erases_every_layer() {
    let mut service = backend();
    service = HttpService::new(TimeoutLayer::new(Duration::from_secs(1)).layer(service));
    service = HttpService::new(RetryLayer::new(RetryConfig::default()).layer(service));
    service = HttpService::new(MirrorLayer::new(MirrorConfig::default(), backend()).layer(service));
    service = HttpService::new(UrlRewriteLayer::new(rewrite()).layer(service));
    service =
        HttpService::new(HeaderModifierLayer::new(add_header("x-added", "yes")).layer(service));
    service = HttpService::new(
        ResponseHeaderModifierLayer::new(add_header("x-response", "yes")).layer(service),
    );
    service = HttpService::new(TimeoutLayer::new(Duration::from_secs(5)).layer(service));
    service = HttpService::new(CorsLayer::new(cors()).layer(service));
    check(service.call_shared(request()).await.unwrap()).await;

    let redirect = HttpService::new(RedirectLayer::new(RedirectConfig::default()).layer(backend()));
    let mut to_redirect = request();
    to_redirect
        .headers_mut()
        .insert("host", HeaderValue::from_static("example.com"));
    let response = redirect.call_shared(to_redirect).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"],
        "http://example.com/api/items?x=1"
    );
}

#[tokio::test(start_paused = true)]
async fn the_builder_methods_add_the_same_layers() {
    let service = ServiceBuilder::new()
        .cors(cors())
        .timeout_response(Duration::from_secs(5))
        .response_header_modifier(add_header("x-response", "yes"))
        .request_header_modifier(add_header("x-added", "yes"))
        .url_rewrite(rewrite())
        .mirror(MirrorConfig::default(), backend())
        .retry(RetryConfig::default())
        .service(backend());
    check(service.clone().oneshot(request()).await.unwrap()).await;

    // A preflight never reaches the stack below CORS.
    let mut preflight = request();
    *preflight.method_mut() = Method::OPTIONS;
    preflight.headers_mut().insert(
        "access-control-request-method",
        HeaderValue::from_static("GET"),
    );
    let response = service.oneshot(preflight).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );

    let redirect = ServiceBuilder::new()
        .redirect(RedirectConfig {
            hostname: Some("example.org".into()),
            ..RedirectConfig::default()
        })
        .service(backend());
    let response = redirect.oneshot(request()).await.unwrap();
    assert_eq!(
        response.headers()["location"],
        "http://example.org/api/items?x=1"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_backend_behind_the_stack_times_out() {
    let slow = HttpService::new(service_fn(|_: Request| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, Infallible>(Response::new(body::empty()))
    }));
    let service = ServiceBuilder::new()
        .timeout_response(Duration::from_secs(1))
        .retry(RetryConfig::default())
        .service(slow);
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::UpstreamRequestTimeout)
    );
}
