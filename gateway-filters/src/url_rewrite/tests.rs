//! Table tests from the Gateway API conformance cases `HTTPRouteRewriteHost` and
//! `HTTPRouteRewritePath`.

use gateway_core::extensions::MatchedPrefix;
use http::{HeaderValue, Request, Response, header::HOST};
use std::convert::Infallible;
use tower::{ServiceExt, service_fn};

use super::*;
use crate::path_modifier::PathModifier;

/// What the backend saw: `Host` and the request URI.
async fn forward(
    config: UrlRewriteConfig,
    uri: &str,
    host: &str,
    prefix: Option<&str>,
) -> (String, String) {
    let service = UrlRewriteLayer::new(config);
    let service = tower::Layer::layer(
        &service,
        service_fn(|request: Request<()>| async move {
            let host = request
                .headers()
                .get(HOST)
                .map(|h| h.to_str().unwrap().to_owned())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new((host, request.uri().to_string())))
        }),
    );
    let mut request = Request::builder()
        .uri(uri)
        .header(HOST, host)
        .body(())
        .unwrap();
    if let Some(prefix) = prefix {
        request
            .extensions_mut()
            .insert(MatchedPrefix(prefix.into()));
    }
    service.oneshot(request).await.unwrap().into_body()
}

fn full(path: &str) -> Option<PathModifier> {
    Some(PathModifier::ReplaceFullPath(path.into()))
}

fn prefix(path: &str) -> Option<PathModifier> {
    Some(PathModifier::ReplacePrefixMatch(path.into()))
}

#[tokio::test]
async fn path_rewrites_match_the_conformance_table() {
    // (matched prefix, modifier, request path, expected path)
    let cases = [
        ("/prefix/one", prefix("/one"), "/prefix/one/two", "/one/two"),
        (
            "/strip-prefix",
            prefix("/"),
            "/strip-prefix/three",
            "/three",
        ),
        ("/strip-prefix", prefix("/"), "/strip-prefix", "/"),
        ("/full/one", full("/one"), "/full/one/two", "/one"),
        (
            "/full/rewrite-path-and-modify-headers",
            full("/test"),
            "/full/rewrite-path-and-modify-headers/test",
            "/test",
        ),
        (
            "/prefix/rewrite-path-and-modify-headers",
            prefix("/prefix"),
            "/prefix/rewrite-path-and-modify-headers/one",
            "/prefix/one",
        ),
    ];
    for (matched, path, request_path, expected) in cases {
        let config = UrlRewriteConfig {
            hostname: None,
            path,
        };
        let (host, uri) = forward(config, request_path, "example.com:8080", Some(matched)).await;
        assert_eq!(uri, expected, "{request_path}");
        assert_eq!(
            host, "example.com:8080",
            "host untouched for {request_path}"
        );
    }
}

#[tokio::test]
async fn host_rewrites_match_the_conformance_table() {
    for (hostname, path) in [
        ("one.example.org", "/one"),
        ("example.org", "/two"),
        ("test.example.org", "/rewrite-host-and-modify-headers"),
    ] {
        let config = UrlRewriteConfig {
            hostname: Some(HeaderValue::from_static(hostname)),
            path: None,
        };
        let (host, uri) = forward(config, path, "rewrite.example", None).await;
        assert_eq!(host, hostname);
        assert_eq!(uri, path);
    }
}

#[tokio::test]
async fn query_is_kept_and_authority_follows_the_host() {
    let config = UrlRewriteConfig {
        hostname: Some(HeaderValue::from_static("backend.internal")),
        path: full("/new"),
    };
    let (host, uri) = forward(
        config,
        "http://front.example:8080/old?x=1&y=2",
        "front.example:8080",
        None,
    )
    .await;
    assert_eq!(host, "backend.internal");
    assert_eq!(uri, "http://backend.internal/new?x=1&y=2");
}

#[tokio::test]
async fn prefix_rewrite_without_a_matched_prefix_keeps_the_path() {
    let config = UrlRewriteConfig {
        hostname: None,
        path: prefix("/new"),
    };
    let (_, uri) = forward(config, "/exact/path?q", "h", None).await;
    assert_eq!(uri, "/exact/path?q");
}
