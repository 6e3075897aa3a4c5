use gateway_core::{Request, Response, body};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::spec::{FieldError, Percent};

/// A backend counting the requests that reach it.
fn backend(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync
{
    service_fn(move |_: Request| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(body::full("done"))) }
    })
}

fn enabled() -> CsrfConfig {
    CsrfConfig {
        percentage_enabled: Percent::HUNDRED,
        ..CsrfConfig::default()
    }
}

/// A request to `bank.example` with `headers`.
fn request(method: Method, headers: &[(&str, &str)]) -> Request {
    let mut builder = http::Request::builder().method(method).uri("/transfer");
    if !headers.iter().any(|(name, _)| *name == "host") {
        builder = builder.header("host", "bank.example");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body::empty()).unwrap()
}

/// The status each request gets from a fresh layer with `config`, and the layer's counts.
async fn statuses(config: CsrfConfig, requests: Vec<Request>) -> (Vec<u16>, CsrfStats) {
    let layer = CsrfLayer::new(config);
    let mut service = layer.layer(backend(Arc::default()));
    let mut out = Vec::new();
    for request in requests {
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        out.push(response.status().as_u16());
    }
    (out, layer.stats())
}

#[tokio::test]
async fn cross_origin_mutations_are_refused_with_invalid_origin() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = CsrfLayer::new(enabled()).layer(backend(calls.clone()));
    let response = service
        .oneshot(request(Method::POST, &[("origin", "https://evil.example")]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "Invalid origin");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn only_mutating_methods_are_checked() {
    let methods = [
        (Method::POST, 403),
        (Method::PUT, 403),
        (Method::DELETE, 403),
        (Method::PATCH, 403),
        (Method::GET, 200),
        (Method::HEAD, 200),
        (Method::OPTIONS, 200),
    ];
    let (got, stats) = statuses(
        enabled(),
        methods
            .iter()
            .map(|(method, _)| request(method.clone(), &[("origin", "https://evil.example")]))
            .collect(),
    )
    .await;
    assert_eq!(got, methods.map(|(_, status)| status));
    assert_eq!(
        stats.request_invalid, 4,
        "only checked requests are counted"
    );
    let (same, _) = statuses(
        enabled(),
        [Method::POST, Method::PUT, Method::DELETE, Method::PATCH]
            .into_iter()
            .map(|method| request(method, &[("origin", "https://bank.example")]))
            .collect(),
    )
    .await;
    assert_eq!(same, [200; 4]);
}

#[tokio::test]
async fn the_source_origin_comes_from_origin_then_referer() {
    let cases: &[(&[(&str, &str)], u16)] = &[
        (&[("origin", "https://bank.example")], 200),
        (&[("referer", "https://bank.example/account?tab=1")], 200),
        (&[("referer", "https://evil.example/bank.example")], 403),
        // An empty Origin falls back to Referer; a present one wins over it.
        (&[("origin", ""), ("referer", "https://bank.example/")], 200),
        (
            &[
                ("origin", "https://evil.example"),
                ("referer", "https://bank.example/"),
            ],
            403,
        ),
        // Not a URL: compared as it is, so it matches nothing.
        (&[("origin", "null")], 403),
        // Ports count; schemes do not; hosts ignore case.
        (&[("origin", "https://bank.example:8443")], 403),
        (
            &[
                ("host", "bank.example:8443"),
                ("origin", "https://bank.example:8443"),
            ],
            200,
        ),
        (&[("origin", "http://bank.example")], 200),
        (&[("origin", "https://BANK.example")], 200),
    ];
    for (headers, status) in cases {
        let (got, _) = statuses(enabled(), vec![request(Method::POST, headers)]).await;
        assert_eq!(got, [*status], "{headers:?}");
    }
}

#[tokio::test]
async fn a_missing_source_origin_is_refused_and_counted() {
    let (got, stats) = statuses(enabled(), vec![request(Method::POST, &[])]).await;
    assert_eq!(got, [403]);
    assert_eq!(
        stats,
        CsrfStats {
            request_valid: 0,
            request_invalid: 1,
            missing_source_origin: 1,
        }
    );
}

#[tokio::test]
async fn http2_requests_are_checked_against_their_authority() {
    let h2 = |origin: &str| {
        http::Request::builder()
            .method(Method::POST)
            .version(http::Version::HTTP_2)
            .uri("https://bank.example/transfer")
            .header("origin", origin)
            .body(body::empty())
            .unwrap()
    };
    let (got, _) = statuses(
        enabled(),
        vec![h2("https://bank.example"), h2("https://evil.example")],
    )
    .await;
    assert_eq!(got, [200, 403]);
}

#[tokio::test]
async fn additional_origins_are_allowed() {
    let config = CsrfSpec {
        percentage_enabled: Some(Percent::HUNDRED),
        additional_origins: vec![
            StringMatcherSpec {
                suffix: Some(".partner.example".into()),
                ..StringMatcherSpec::default()
            },
            StringMatcherSpec {
                exact: Some("Admin.Example".into()),
                ignore_case: Some(true),
                ..StringMatcherSpec::default()
            },
        ],
        ..CsrfSpec::default()
    }
    .compile()
    .unwrap();
    let (got, stats) = statuses(
        config,
        [
            "https://app.partner.example",
            "https://admin.example",
            "https://partner.example.evil",
        ]
        .into_iter()
        .map(|origin| request(Method::POST, &[("origin", origin)]))
        .collect(),
    )
    .await;
    assert_eq!(got, [200, 200, 403]);
    assert_eq!(stats.request_valid, 2);
    assert_eq!(stats.request_invalid, 1);
}

#[tokio::test]
async fn shadow_mode_only_counts() {
    let config = CsrfConfig {
        percentage_shadowed: Percent::HUNDRED,
        ..CsrfConfig::default()
    };
    let (got, stats) = statuses(
        config,
        vec![
            request(Method::POST, &[("origin", "https://evil.example")]),
            request(Method::POST, &[]),
            request(Method::POST, &[("origin", "https://bank.example")]),
        ],
    )
    .await;
    assert_eq!(got, [200, 200, 200]);
    assert_eq!(
        stats,
        CsrfStats {
            request_valid: 1,
            request_invalid: 2,
            missing_source_origin: 1,
        }
    );
}

#[tokio::test]
async fn off_by_default_as_in_kgateway() {
    let config = serde_json::from_str::<CsrfSpec>("{}")
        .unwrap()
        .compile()
        .unwrap();
    assert_eq!(config, CsrfConfig::default());
    let (got, stats) = statuses(
        config,
        vec![request(Method::POST, &[("origin", "https://evil.example")])],
    )
    .await;
    assert_eq!(got, [200]);
    assert_eq!(stats, CsrfStats::default());
}

#[tokio::test]
async fn works_as_an_erased_proxy_service() {
    let service =
        gateway_core::HttpService::new(CsrfLayer::new(enabled()).layer(backend(Arc::default())));
    let response = service
        .call_shared(request(
            Method::DELETE,
            &[("origin", "https://evil.example")],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[test]
fn origin_matchers_match_like_envoys_string_matchers() {
    let exact = OriginMatcher::exact("a.example");
    assert!(exact.matches("a.example"));
    assert!(!exact.matches("A.example"));
    assert!(exact.clone().ignoring_case().matches("A.EXAMPLE"));
    let prefix = OriginMatcher::prefix("app.");
    assert!(prefix.matches("app.example"));
    assert!(!prefix.matches("ap"));
    assert!(prefix.clone().ignoring_case().matches("APP.example"));
    let suffix = OriginMatcher::suffix(".example:8443");
    assert!(suffix.matches("a.example:8443"));
    assert!(!suffix.matches("a.example"));
    assert!(suffix.clone().ignoring_case().matches("A.EXAMPLE:8443"));
    let contains = OriginMatcher::contains("corp");
    assert!(contains.matches("eu.corp.example"));
    assert!(!contains.matches("eu.cor.example"));
    assert!(contains.clone().ignoring_case().matches("eu.CORP.example"));
    let regex = OriginMatcher::safe_regex(r"[a-z]+\.example").unwrap();
    assert!(regex.matches("app.example"));
    assert!(
        !regex.matches("app.example.evil"),
        "the regex matches the whole origin"
    );
    assert!(
        !regex.clone().ignoring_case().matches("APP.example"),
        "ignoreCase does not apply to regexes"
    );
}

fn compile(json: &str) -> Result<CsrfConfig, FieldError> {
    serde_json::from_str::<CsrfSpec>(json).unwrap().compile()
}

#[test]
fn spec_reads_kgateway_fields() {
    let config = compile(
        r#"{"percentageShadowed": 40, "additionalOrigins": [
            {"exact": "a.example"}, {"prefix": "b.", "ignoreCase": true},
            {"safeRegex": ".*\\.c\\.example"}]}"#,
    )
    .unwrap();
    assert_eq!(config.percentage_enabled, Percent::ZERO);
    assert_eq!(config.percentage_shadowed, Percent::new(40).unwrap());
    assert_eq!(
        config.additional_origins,
        [
            OriginMatcher::exact("a.example"),
            OriginMatcher::prefix("b.").ignoring_case(),
            OriginMatcher::safe_regex(r".*\.c\.example").unwrap(),
        ]
    );
    assert_eq!(
        serde_json::to_value(&config.additional_origins).unwrap(),
        serde_json::json!([
            {"exact": "a.example"},
            {"prefix": "b.", "ignoreCase": true},
            {"safeRegex": ".*\\.c\\.example"},
        ])
    );
}

#[test]
fn spec_errors_name_the_field() {
    let seventeen = format!(
        r#"{{"additionalOrigins": [{}]}}"#,
        vec![r#"{"exact": "a"}"#; 17].join(",")
    );
    for (json, field, reason) in [
        (
            r#"{"percentageEnabled": 10, "percentageShadowed": 10}"#,
            "",
            "at most one of",
        ),
        (seventeen.as_str(), "additionalOrigins", "at most 16"),
        (
            r#"{"additionalOrigins": [{"ignoreCase": true}]}"#,
            "additionalOrigins[0]",
            "exactly one of",
        ),
        (
            r#"{"additionalOrigins": [{"exact": "a"}, {"exact": "b", "suffix": "c"}]}"#,
            "additionalOrigins[1]",
            "exactly one of",
        ),
        (
            r#"{"additionalOrigins": [{"prefix": ""}]}"#,
            "additionalOrigins[0].prefix",
            "must not be empty",
        ),
        (
            r#"{"additionalOrigins": [{"safeRegex": "(unclosed"}]}"#,
            "additionalOrigins[0].safeRegex",
            "invalid regular expression",
        ),
    ] {
        let error = compile(json).unwrap_err();
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
    }
    assert!(serde_json::from_str::<CsrfSpec>(r#"{"percentageEnabled": 101}"#).is_err());
}
