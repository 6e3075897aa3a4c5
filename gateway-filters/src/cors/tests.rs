//! The Gateway API conformance test `HTTPRouteCORS`, case by case.

use http::{HeaderName, Method, Request, Response, StatusCode};
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tower::{Layer, ServiceExt, service_fn};

use super::*;

/// `cors-multiple-origins-methods-headers` (`/cors-1`).
fn cors_1() -> CorsConfig {
    CorsConfig {
        allow_origins: vec![
            parse_origin("https://www.foo.com").unwrap(),
            parse_origin("https://*.bar.com").unwrap(),
        ],
        allow_credentials: true,
        allow_methods: vec![Method::GET, Method::OPTIONS],
        allow_any_method: false,
        allow_headers: vec![
            HeaderName::from_static("x-header-1"),
            HeaderName::from_static("x-header-2"),
        ],
        allow_any_header: false,
        expose_headers: vec![
            http::HeaderValue::from_static("x-header-3"),
            http::HeaderValue::from_static("x-header-4"),
        ],
        max_age: 3600,
    }
}

/// `cors-wildcard-methods` (`/cors-2`).
fn cors_2() -> CorsConfig {
    CorsConfig {
        allow_origins: vec![parse_origin("https://www.foo.com").unwrap()],
        allow_any_method: true,
        ..CorsConfig::default()
    }
}

/// `cors-wildcard-origin`.
fn wildcard_origin() -> CorsConfig {
    CorsConfig {
        allow_origins: vec![parse_origin("*").unwrap()],
        allow_methods: vec![Method::PUT],
        ..CorsConfig::default()
    }
}

/// `cors-wildcard-methods-headers` (with credentials) and `...-unauth` (without).
fn wildcard_all(credentials: bool) -> CorsConfig {
    CorsConfig {
        allow_origins: vec![parse_origin("*").unwrap()],
        allow_any_method: true,
        allow_any_header: true,
        allow_credentials: credentials,
        ..CorsConfig::default()
    }
}

struct Outcome {
    response: Response<String>,
    backend_calls: usize,
}

async fn send(config: CorsConfig, method: Method, headers: &[(&str, &str)]) -> Outcome {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let service = CorsLayer::new(config).layer(service_fn(move |_: Request<()>| {
        seen.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(String::from("backend"))) }
    }));
    let mut builder = Request::builder().method(method);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = service.oneshot(builder.body(()).unwrap()).await.unwrap();
    Outcome {
        response,
        backend_calls: calls.load(Ordering::SeqCst),
    }
}

/// The header's value with spaces removed (`response_ignore_whitespace`).
fn squashed(response: &Response<String>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().replace(' ', ""))
}

fn assert_one_of(response: &Response<String>, name: &str, valid: &[&str]) {
    let got = squashed(response, name);
    assert!(
        got.as_deref()
            .is_some_and(|g| valid.iter().any(|v| v.replace(' ', "") == g)),
        "{name}: got {got:?}, want one of {valid:?}"
    );
}

const PREFLIGHT_GET: [(&str, &str); 2] = [
    ("access-control-request-method", "GET"),
    ("access-control-request-headers", "x-header-1, x-header-2"),
];

#[tokio::test]
async fn preflights_from_allowed_origins_are_answered_by_the_gateway() {
    for origin in [
        "https://www.foo.com",
        "https://www.bar.com",
        "https://xpto.www.bar.com",
    ] {
        let mut headers = vec![("origin", origin)];
        headers.extend(PREFLIGHT_GET);
        let out = send(cors_1(), Method::OPTIONS, &headers).await;
        let r = &out.response;
        assert_eq!(out.backend_calls, 0);
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.body().is_empty());
        assert_one_of(r, "access-control-allow-origin", &[origin]);
        assert_one_of(
            r,
            "access-control-allow-methods",
            &["GET, OPTIONS", "OPTIONS, GET"],
        );
        assert_one_of(
            r,
            "access-control-allow-headers",
            &["x-header-1, x-header-2"],
        );
        assert_one_of(
            r,
            "access-control-expose-headers",
            &["x-header-3, x-header-4"],
        );
        assert_one_of(r, "access-control-max-age", &["3600"]);
        assert_one_of(r, "access-control-allow-credentials", &["true"]);
        assert_one_of(r, "vary", &["origin"]);
    }
}

#[tokio::test]
async fn preflights_from_other_origins_get_no_cors_headers() {
    let headers = [
        ("origin", "https://foobar.com"),
        ("access-control-request-method", "GET"),
    ];
    let out = send(cors_1(), Method::OPTIONS, &headers).await;
    assert_eq!(out.backend_calls, 0);
    assert_eq!(out.response.status(), StatusCode::OK);
    assert!(
        !out.response
            .headers()
            .contains_key("access-control-allow-origin")
    );
    assert!(out.response.headers().is_empty());
}

#[tokio::test]
async fn actual_requests_get_cors_headers_only_for_allowed_origins() {
    for (origin, allowed) in [
        ("https://www.foo.com", true),
        ("https://www.bar.com", true),
        ("https://foobar.com", false),
    ] {
        let mut headers = vec![("origin", origin)];
        headers.extend(PREFLIGHT_GET);
        let out = send(cors_1(), Method::GET, &headers).await;
        let r = &out.response;
        assert_eq!(out.backend_calls, 1);
        assert_eq!(r.body(), "backend");
        if allowed {
            assert_one_of(r, "access-control-allow-origin", &[origin]);
            assert_one_of(r, "access-control-allow-credentials", &["true"]);
            assert_one_of(
                r,
                "access-control-expose-headers",
                &["x-header-3, x-header-4"],
            );
            // Preflight-only headers stay off actual responses.
            assert!(!r.headers().contains_key("access-control-max-age"));
        } else {
            assert!(r.headers().is_empty(), "{origin}");
        }
    }
}

#[tokio::test]
async fn wildcard_methods_echo_the_requested_method_without_credentials_header() {
    let headers = [
        ("origin", "https://www.foo.com"),
        ("access-control-request-method", "POST"),
    ];
    let out = send(cors_2(), Method::OPTIONS, &headers).await;
    let r = &out.response;
    assert_one_of(r, "access-control-allow-origin", &["https://www.foo.com"]);
    assert_one_of(r, "access-control-allow-methods", &["POST", "*"]);
    assert!(!r.headers().contains_key("access-control-allow-credentials"));
    assert_one_of(r, "access-control-max-age", &["5"]);
}

#[tokio::test]
async fn wildcard_origin_answers_star_or_the_origin() {
    for origin in ["https://foobar.com", "https://foobar.com:12345"] {
        let headers = [("origin", origin), ("access-control-request-method", "PUT")];
        let out = send(wildcard_origin(), Method::OPTIONS, &headers).await;
        assert_one_of(&out.response, "access-control-allow-origin", &[origin, "*"]);
        assert_one_of(&out.response, "access-control-allow-methods", &["PUT"]);
        assert!(
            !out.response
                .headers()
                .contains_key("access-control-allow-credentials")
        );

        let out = send(wildcard_origin(), Method::PUT, &[("origin", origin)]).await;
        assert_eq!(out.backend_calls, 1);
        assert_one_of(&out.response, "access-control-allow-origin", &[origin, "*"]);
        assert!(
            !out.response
                .headers()
                .contains_key("access-control-allow-credentials")
        );
    }
}

#[tokio::test]
async fn wildcards_with_credentials_echo_origin_method_and_headers() {
    let headers = [
        ("origin", "https://other.foo.com"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "x-header-1, x-header-2"),
    ];
    let out = send(wildcard_all(true), Method::OPTIONS, &headers).await;
    let r = &out.response;
    assert_one_of(r, "access-control-allow-origin", &["https://other.foo.com"]);
    assert_one_of(r, "access-control-allow-methods", &["PUT"]);
    assert_one_of(
        r,
        "access-control-allow-headers",
        &["x-header-1, x-header-2", "x-header-2, x-header-1"],
    );
    assert_one_of(r, "access-control-allow-credentials", &["true"]);

    let out = send(wildcard_all(false), Method::OPTIONS, &headers).await;
    let r = &out.response;
    assert_one_of(
        r,
        "access-control-allow-origin",
        &["https://other.foo.com", "*"],
    );
    assert_one_of(r, "access-control-allow-methods", &["PUT", "*"]);
    assert_one_of(
        r,
        "access-control-allow-headers",
        &["x-header-1, x-header-2", "*"],
    );
    assert!(!r.headers().contains_key("access-control-allow-credentials"));
}

#[tokio::test]
async fn actual_requests_with_wildcards_follow_the_credentials_setting() {
    let origin = [("origin", "https://other.foo.com")];
    let out = send(wildcard_all(true), Method::GET, &origin).await;
    assert_one_of(
        &out.response,
        "access-control-allow-origin",
        &["https://other.foo.com"],
    );
    assert_one_of(&out.response, "access-control-allow-credentials", &["true"]);

    let out = send(wildcard_all(false), Method::GET, &origin).await;
    assert_one_of(
        &out.response,
        "access-control-allow-origin",
        &["https://other.foo.com", "*"],
    );
    assert!(
        !out.response
            .headers()
            .contains_key("access-control-allow-credentials")
    );
}

#[tokio::test]
async fn requests_without_origin_and_plain_options_pass_through() {
    let out = send(cors_1(), Method::GET, &[]).await;
    assert_eq!(out.backend_calls, 1);
    assert!(out.response.headers().is_empty());
    // OPTIONS with an Origin but no Access-Control-Request-Method is not a preflight.
    let out = send(
        cors_1(),
        Method::OPTIONS,
        &[("origin", "https://www.foo.com")],
    )
    .await;
    assert_eq!(out.backend_calls, 1);
    assert_one_of(
        &out.response,
        "access-control-allow-origin",
        &["https://www.foo.com"],
    );
}
