use http::{Request, Response};
use std::convert::Infallible;
use tower::{Layer, ServiceExt, service_fn};

use super::*;

fn config(pattern: &str, substitution: &str) -> PathRegexConfig {
    PathRegexSpec {
        pattern: pattern.into(),
        substitution: substitution.into(),
    }
    .compile()
    .unwrap()
}

/// The URI the backend receives for `uri`.
async fn forwarded(config: PathRegexConfig, uri: &str) -> String {
    let service =
        PathRegexLayer::new(config).layer(service_fn(|request: Request<()>| async move {
            Ok::<_, Infallible>(Response::new(request.uri().to_string()))
        }));
    let request = Request::builder().uri(uri).body(()).unwrap();
    service.oneshot(request).await.unwrap().into_body()
}

#[tokio::test]
async fn envoy_regex_rewrite_examples() {
    // The examples of Envoy's `regex_rewrite` documentation.
    let cases = [
        (
            "^/service/([^/]+)(/.*)$",
            r"\2/instance/\1",
            "/service/foo/v1/api",
            "/v1/api/instance/foo",
        ),
        ("one", "two", "/xxx/one/yyy/one/zzz", "/xxx/two/yyy/two/zzz"),
        (
            "^(.*?)one(.*)$",
            r"\1two\2",
            "/xxx/one/yyy/one/zzz",
            "/xxx/two/yyy/one/zzz",
        ),
        ("(?i)/xxx/", "/yyy/", "/aaa/XxX/bbb", "/aaa/yyy/bbb"),
    ];
    for (pattern, substitution, path, expected) in cases {
        assert_eq!(
            forwarded(config(pattern, substitution), path).await,
            expected,
            "{pattern} -> {substitution} on {path}"
        );
    }
}

#[tokio::test]
async fn the_query_is_kept_and_not_matched() {
    let rewrite = config("^/api/v1/(.*)$", r"/v2/\1");
    assert_eq!(
        forwarded(rewrite.clone(), "/api/v1/users?page=2").await,
        "/v2/users?page=2"
    );
    // The pattern sees the path only: `v1` in the query is not rewritten.
    let rewrite = config("v1", "v2");
    assert_eq!(forwarded(rewrite, "/a?v=v1").await, "/a?v=v1");
}

#[tokio::test]
async fn paths_that_do_not_match_are_untouched() {
    let rewrite = config("^/api/(.*)$", r"/\1");
    assert_eq!(rewrite.rewrite("/other/path"), None);
    assert_eq!(
        forwarded(rewrite, "http://example.com/other?x=1").await,
        "http://example.com/other?x=1"
    );
}

#[test]
fn named_groups_and_group_zero() {
    let rewrite = config("^/users/(?P<id>[0-9]+)$", r"/people/\g<id>");
    assert_eq!(rewrite.rewrite("/users/42").as_deref(), Some("/people/42"));
    let rewrite = config("^/users/(?P<id>[0-9]+)$", r"/people/\g<1>");
    assert_eq!(rewrite.rewrite("/users/42").as_deref(), Some("/people/42"));
    let rewrite = config("[0-9]+", r"<\0>");
    assert_eq!(
        rewrite.rewrite("/users/42").as_deref(),
        Some("/users/%3C42%3E")
    );
}

#[test]
fn dollars_and_backslashes_are_literal() {
    // `$1` means nothing in an RE2 substitution: it stays text.
    let rewrite = config("^/price$", "/cost$1");
    assert_eq!(rewrite.rewrite("/price").as_deref(), Some("/cost$1"));
    let rewrite = config("^/a$", r"/b\\c");
    assert_eq!(rewrite.rewrite("/a").as_deref(), Some(r"/b\c"));
}

#[test]
fn literal_text_is_percent_encoded_and_paths_stay_rooted() {
    let rewrite = config("^/a$", "/b c?d");
    assert_eq!(rewrite.rewrite("/a").as_deref(), Some("/b%20c%3Fd"));
    let rewrite = config("^/(.*)$", r"\1");
    assert_eq!(rewrite.rewrite("/x/y").as_deref(), Some("/x/y"));
    // kgateway requires a substitution, but a library user may remove the whole path.
    let rewrite = PathRegexConfig::new("^/strip$", "").unwrap();
    assert_eq!(rewrite.rewrite("/strip").as_deref(), Some("/"));
    let rewrite = config("^/strip", "x");
    assert_eq!(rewrite.rewrite("/strip").as_deref(), Some("/x"));
}

#[test]
fn invalid_specs_name_the_field() {
    let error = |pattern: &str, substitution: &str| {
        PathRegexSpec {
            pattern: pattern.into(),
            substitution: substitution.into(),
        }
        .compile()
        .unwrap_err()
    };
    assert_eq!(error("(unclosed", "x").field, "pattern");
    assert_eq!(error("", "x").field, "pattern");
    assert_eq!(error(&"a".repeat(1025), "x").field, "pattern");
    assert_eq!(error("a", "").field, "substitution");
    // Look-around is not RE2.
    assert_eq!(error("a(?=b)", "x").field, "pattern");
    let too_high = error("^/(a)$", r"\2");
    assert_eq!(too_high.field, "substitution");
    assert!(too_high.reason.contains("1 capture group"), "{too_high}");
    assert!(error("a", r"\q").reason.contains("not a valid escape"));
    assert!(error("a", "x\\").reason.contains("lone"));
    assert!(
        error("(?P<id>a)", r"\g<other>")
            .reason
            .contains("does not have")
    );
    assert!(error("(?P<id>a)", r"\g<id").reason.contains("closing"));
}

#[test]
fn url_rewrite_spec_reads_kgateway_json() {
    let spec: UrlRewriteSpec = serde_json::from_str(
        r#"{"pathRegex": {"pattern": "^/old/(.*)$", "substitution": "/new/\\1"}}"#,
    )
    .unwrap();
    let config = spec.compile().unwrap();
    assert_eq!(config.pattern(), "^/old/(.*)$");
    assert_eq!(config.substitution(), r"/new/\1");
    assert_eq!(config.rewrite("/old/a").as_deref(), Some("/new/a"));
    assert_eq!(
        serde_json::to_value(&config).unwrap(),
        serde_json::json!({"pattern": "^/old/(.*)$", "substitution": "/new/\\1"})
    );

    let missing = UrlRewriteSpec::default().compile().unwrap_err();
    assert_eq!(missing.field, "pathRegex");
    let nested = UrlRewriteSpec {
        path_regex: Some(PathRegexSpec {
            pattern: "a".into(),
            substitution: r"\1".into(),
        }),
    }
    .compile()
    .unwrap_err();
    assert_eq!(nested.field, "pathRegex.substitution");
}

#[tokio::test]
async fn works_over_the_proxy_body_type() {
    let inner = service_fn(|request: gateway_core::Request| async move {
        Ok::<_, Infallible>(Response::new(gateway_core::body::full(
            request.uri().to_string(),
        )))
    });
    let service = gateway_core::HttpService::new(
        PathRegexLayer::new(config("^/a/(.*)$", r"/b/\1")).layer(inner),
    );
    let response = service
        .call_shared(
            Request::builder()
                .uri("/a/c")
                .body(gateway_core::body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "/b/c");
}
