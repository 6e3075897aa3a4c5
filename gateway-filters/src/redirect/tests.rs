//! Table tests from the Gateway API conformance cases `HTTPRoute30xRedirect`,
//! `HTTPRouteRedirectHostAndStatus`, `HTTPRouteRedirectPath`, `HTTPRouteRedirectPort`,
//! `HTTPRouteRedirectScheme` and `HTTPRouteRedirectPortAndScheme`.

use gateway_core::extensions::{ConnectionInfo, ListenerPort, MatchedPrefix};
use http::{Request, Response, StatusCode};
use std::{convert::Infallible, sync::Arc};
use tower::{Layer, ServiceExt, service_fn};

use super::*;
use crate::path_modifier::PathModifier;

/// The listener a conformance case's request arrives on.
#[derive(Clone, Copy)]
struct Listener {
    port: u16,
    tls: bool,
}

const HTTP_80: Listener = Listener {
    port: 80,
    tls: false,
};
const HTTP_8080: Listener = Listener {
    port: 8080,
    tls: false,
};
const HTTPS_443: Listener = Listener {
    port: 443,
    tls: true,
};

struct Case {
    name: &'static str,
    listener: Listener,
    /// `Host` as the runner sends it (`127.0.0.1` or `127.0.0.1:<port>` when the test
    /// names no host).
    host: &'static str,
    path: &'static str,
    matched_prefix: &'static str,
    config: RedirectConfig,
    status: u16,
    location: &'static str,
}

fn cfg(
    scheme: Option<&str>,
    hostname: Option<&str>,
    port: Option<u16>,
    path: Option<PathModifier>,
    status: u16,
) -> RedirectConfig {
    RedirectConfig {
        scheme: scheme.map(Arc::from),
        hostname: hostname.map(Arc::from),
        path,
        port,
        status: StatusCode::from_u16(status).unwrap(),
    }
}

fn prefix(p: &str) -> Option<PathModifier> {
    Some(PathModifier::ReplacePrefixMatch(p.into()))
}

fn full(p: &str) -> Option<PathModifier> {
    Some(PathModifier::ReplaceFullPath(p.into()))
}

fn case(
    name: &'static str,
    listener: Listener,
    host: &'static str,
    path: &'static str,
    config: RedirectConfig,
    location: &'static str,
) -> Case {
    let status = config.status.as_u16();
    Case {
        name,
        listener,
        host,
        path,
        matched_prefix: path,
        config,
        status,
        location,
    }
}

fn cases() -> Vec<Case> {
    let h = "127.0.0.1";
    let h8080 = "127.0.0.1:8080";
    let org = "example.org";
    vec![
        case(
            "303",
            HTTP_80,
            h,
            "/see-other",
            cfg(None, None, None, None, 303),
            "http://127.0.0.1/see-other",
        ),
        case(
            "307",
            HTTP_80,
            h,
            "/temporary",
            cfg(None, None, None, None, 307),
            "http://127.0.0.1/temporary",
        ),
        case(
            "308",
            HTTP_80,
            h,
            "/permanent",
            cfg(None, None, None, None, 308),
            "http://127.0.0.1/permanent",
        ),
        // HTTPRouteRedirectHostAndStatus
        case(
            "hostname",
            HTTP_80,
            h,
            "/hostname-redirect",
            cfg(None, Some(org), None, None, 302),
            "http://example.org/hostname-redirect",
        ),
        case(
            "host-and-status",
            HTTP_80,
            h,
            "/host-and-status",
            cfg(None, Some(org), None, None, 301),
            "http://example.org/host-and-status",
        ),
        // HTTPRouteRedirectPath
        Case {
            matched_prefix: "/original-prefix",
            ..case(
                "prefix",
                HTTP_80,
                h,
                "/original-prefix/lemon",
                cfg(None, None, None, prefix("/replacement-prefix"), 302),
                "http://127.0.0.1/replacement-prefix/lemon",
            )
        },
        Case {
            matched_prefix: "/full",
            ..case(
                "full",
                HTTP_80,
                h,
                "/full/path/original",
                cfg(None, None, None, full("/full-path-replacement"), 302),
                "http://127.0.0.1/full-path-replacement",
            )
        },
        case(
            "path-and-host",
            HTTP_80,
            h,
            "/path-and-host",
            cfg(None, Some(org), None, prefix("/replacement-prefix"), 302),
            "http://example.org/replacement-prefix",
        ),
        case(
            "path-and-status",
            HTTP_80,
            h,
            "/path-and-status",
            cfg(None, None, None, prefix("/replacement-prefix"), 301),
            "http://127.0.0.1/replacement-prefix",
        ),
        case(
            "full-path-and-host",
            HTTP_80,
            h,
            "/full-path-and-host",
            cfg(None, Some(org), None, full("/replacement-full"), 302),
            "http://example.org/replacement-full",
        ),
        case(
            "full-path-and-status",
            HTTP_80,
            h,
            "/full-path-and-status",
            cfg(None, None, None, full("/replacement-full"), 301),
            "http://127.0.0.1/replacement-full",
        ),
        // HTTPRouteRedirectPort
        case(
            "port",
            HTTP_80,
            h,
            "/port",
            cfg(None, None, Some(8083), None, 302),
            "http://127.0.0.1:8083/port",
        ),
        case(
            "port-and-host",
            HTTP_80,
            h,
            "/port-and-host",
            cfg(None, Some(org), Some(8083), None, 302),
            "http://example.org:8083/port-and-host",
        ),
        case(
            "port-and-status",
            HTTP_80,
            h,
            "/port-and-status",
            cfg(None, None, Some(8083), None, 301),
            "http://127.0.0.1:8083/port-and-status",
        ),
        case(
            "port-and-host-and-status",
            HTTP_80,
            h,
            "/port-and-host-and-status",
            cfg(None, Some(org), Some(8083), None, 302),
            "http://example.org:8083/port-and-host-and-status",
        ),
        // HTTPRouteRedirectScheme
        case(
            "scheme",
            HTTP_80,
            h,
            "/scheme",
            cfg(Some("https"), None, None, None, 302),
            "https://127.0.0.1/scheme",
        ),
        case(
            "scheme-and-host",
            HTTP_80,
            h,
            "/scheme-and-host",
            cfg(Some("https"), Some(org), None, None, 302),
            "https://example.org/scheme-and-host",
        ),
        case(
            "scheme-and-status",
            HTTP_80,
            h,
            "/scheme-and-status",
            cfg(Some("https"), None, None, None, 301),
            "https://127.0.0.1/scheme-and-status",
        ),
        case(
            "scheme-and-host-and-status",
            HTTP_80,
            h,
            "/scheme-and-host-and-status",
            cfg(Some("https"), Some(org), None, None, 302),
            "https://example.org/scheme-and-host-and-status",
        ),
        // HTTPRouteRedirectPortAndScheme, http listener on 80
        case(
            "80 nil/nil",
            HTTP_80,
            h,
            "/scheme-nil-and-port-nil",
            cfg(None, Some(org), None, None, 302),
            "http://example.org/scheme-nil-and-port-nil",
        ),
        case(
            "80 nil/80",
            HTTP_80,
            h,
            "/scheme-nil-and-port-80",
            cfg(None, Some(org), Some(80), None, 302),
            "http://example.org/scheme-nil-and-port-80",
        ),
        case(
            "80 nil/8080",
            HTTP_80,
            h,
            "/scheme-nil-and-port-8080",
            cfg(None, Some(org), Some(8080), None, 302),
            "http://example.org:8080/scheme-nil-and-port-8080",
        ),
        case(
            "80 https/nil",
            HTTP_80,
            h,
            "/scheme-https-and-port-nil",
            cfg(Some("https"), Some(org), None, None, 302),
            "https://example.org/scheme-https-and-port-nil",
        ),
        case(
            "80 https/443",
            HTTP_80,
            h,
            "/scheme-https-and-port-443",
            cfg(Some("https"), Some(org), Some(443), None, 302),
            "https://example.org/scheme-https-and-port-443",
        ),
        case(
            "80 https/8443",
            HTTP_80,
            h,
            "/scheme-https-and-port-8443",
            cfg(Some("https"), Some(org), Some(8443), None, 302),
            "https://example.org:8443/scheme-https-and-port-8443",
        ),
        // http listener on 8080 (bound elsewhere by the listen map: the Gateway's port counts)
        case(
            "8080 nil/nil",
            HTTP_8080,
            h8080,
            "/scheme-nil-and-port-nil",
            cfg(None, Some(org), None, None, 302),
            "http://example.org:8080/scheme-nil-and-port-nil",
        ),
        case(
            "8080 nil/80",
            HTTP_8080,
            h8080,
            "/scheme-nil-and-port-80",
            cfg(None, Some(org), Some(80), None, 302),
            "http://example.org/scheme-nil-and-port-80",
        ),
        case(
            "8080 https/nil",
            HTTP_8080,
            h8080,
            "/scheme-https-and-port-nil",
            cfg(Some("https"), Some(org), None, None, 302),
            "https://example.org/scheme-https-and-port-nil",
        ),
        // https listener on 443
        case(
            "443 nil/nil",
            HTTPS_443,
            org,
            "/scheme-nil-and-port-nil",
            cfg(None, None, None, None, 302),
            "https://example.org/scheme-nil-and-port-nil",
        ),
        case(
            "443 nil/443",
            HTTPS_443,
            org,
            "/scheme-nil-and-port-443",
            cfg(None, None, Some(443), None, 302),
            "https://example.org/scheme-nil-and-port-443",
        ),
        case(
            "443 nil/8443",
            HTTPS_443,
            org,
            "/scheme-nil-and-port-8443",
            cfg(None, None, Some(8443), None, 302),
            "https://example.org:8443/scheme-nil-and-port-8443",
        ),
        case(
            "443 http/nil",
            HTTPS_443,
            org,
            "/scheme-http-and-port-nil",
            cfg(Some("http"), None, None, None, 302),
            "http://example.org/scheme-http-and-port-nil",
        ),
        case(
            "443 http/80",
            HTTPS_443,
            org,
            "/scheme-http-and-port-80",
            cfg(Some("http"), None, Some(80), None, 302),
            "http://example.org/scheme-http-and-port-80",
        ),
        case(
            "443 http/8080",
            HTTPS_443,
            org,
            "/scheme-http-and-port-8080",
            cfg(Some("http"), None, Some(8080), None, 302),
            "http://example.org:8080/scheme-http-and-port-8080",
        ),
    ]
}

fn connection(tls: bool) -> ConnectionInfo {
    ConnectionInfo {
        remote_addr: "127.0.0.1:50000".parse().unwrap(),
        // A listen map binds the listener somewhere else than its Gateway port.
        local_addr: "127.0.0.1:41234".parse().unwrap(),
        tls,
        server_name: None,
    }
}

async fn redirect(config: RedirectConfig, request: Request<()>) -> Response<String> {
    let service = RedirectLayer::new(config).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::from("backend")))
    }));
    service.oneshot(request).await.unwrap()
}

#[tokio::test]
async fn redirects_match_the_conformance_table() {
    for case in cases() {
        let mut request = Request::builder()
            .uri(case.path)
            .header("host", case.host)
            .body(())
            .unwrap();
        request
            .extensions_mut()
            .insert(connection(case.listener.tls));
        request
            .extensions_mut()
            .insert(ListenerPort(case.listener.port));
        request
            .extensions_mut()
            .insert(MatchedPrefix(case.matched_prefix.into()));
        assert!(case.config.validate().is_ok(), "{}", case.name);
        let response = redirect(case.config, request).await;
        assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
        assert_eq!(
            response.headers()["location"],
            case.location,
            "{}",
            case.name
        );
        assert!(
            response.body().is_empty(),
            "{}: backend was called",
            case.name
        );
    }
}

#[tokio::test]
async fn query_string_is_kept_and_host_port_is_the_fallback() {
    // No listener extension (a library user): the Host port is the best guess.
    let request = Request::builder()
        .uri("/a/b?x=1&y=2")
        .header("host", "example.com:8443")
        .body(())
        .unwrap();
    let response = redirect(cfg(None, None, None, full("/c"), 302), request).await;
    assert_eq!(
        response.headers()["location"],
        "http://example.com:8443/c?x=1&y=2"
    );
}

#[tokio::test]
async fn http2_requests_use_the_uri_authority() {
    let request = Request::builder()
        .uri("https://[::1]:8443/x")
        .body(())
        .unwrap();
    let response = redirect(cfg(None, None, None, None, 307), request).await;
    assert_eq!(response.headers()["location"], "https://[::1]:8443/x");
}

#[test]
fn validation_names_the_field() {
    assert!(RedirectConfig::default().validate().is_ok());
    let bad_status = cfg(None, None, None, None, 200);
    assert!(bad_status.validate().unwrap_err().starts_with("statusCode"));
    let bad_scheme = cfg(Some("ftp"), None, None, None, 302);
    assert!(bad_scheme.validate().unwrap_err().starts_with("scheme"));
}
