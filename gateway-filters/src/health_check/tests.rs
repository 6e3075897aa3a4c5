//! Health check answers, path matching and validation.

use http::{Method, Request, Response, StatusCode};
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tower::{Layer, ServiceExt, service_fn};

use super::*;

/// A health check on `path` in front of a backend that counts the requests it sees.
fn service(
    path: &str,
) -> (
    impl tower::Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone,
    Arc<AtomicUsize>,
) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let backend = service_fn(move |_: Request<()>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(String::from("backend"))) }
    });
    let config = HealthCheckConfig::new(path).unwrap();
    (HealthCheckLayer::new(config).layer(backend), seen)
}

async fn send(
    service: impl tower::Service<Request<()>, Response = Response<String>, Error = Infallible>,
    method: Method,
    uri: &str,
) -> Response<String> {
    let request = Request::builder().method(method).uri(uri).body(()).unwrap();
    service.oneshot(request).await.unwrap()
}

#[tokio::test]
async fn get_and_head_on_the_path_are_answered_without_the_backend() {
    let (service, seen) = service("/healthz");
    for method in [Method::GET, Method::HEAD] {
        let response = send(service.clone(), method, "/healthz").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "");
        assert_eq!(
            response.extensions().get::<HealthCheckResponse>(),
            Some(&HealthCheckResponse)
        );
    }
    // Absolute-form request targets carry the same path.
    let response = send(service, Method::GET, "http://gw.example/healthz").await;
    assert_eq!(response.body(), "");
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn other_paths_methods_and_queries_are_routed() {
    let (service, seen) = service("/healthz");
    for (method, uri) in [
        (Method::GET, "/healthz/"),
        (Method::GET, "/healthz?full=1"),
        (Method::GET, "/Healthz"),
        (Method::GET, "/"),
        (Method::POST, "/healthz"),
    ] {
        let response = send(service.clone(), method.clone(), uri).await;
        assert_eq!(response.body(), "backend", "{method} {uri}");
        assert!(response.extensions().get::<HealthCheckResponse>().is_none());
    }
    assert_eq!(seen.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_path_with_a_query_matches_exactly_that_query() {
    let (service, seen) = service("/ready?probe=lb");
    assert_eq!(
        send(service.clone(), Method::GET, "/ready?probe=lb")
            .await
            .body(),
        ""
    );
    assert_eq!(
        send(service.clone(), Method::GET, "/ready").await.body(),
        "backend"
    );
    assert_eq!(
        send(service, Method::GET, "/ready?probe=other")
            .await
            .body(),
        "backend"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[test]
fn specs_compile_as_kgateway_validates_them() {
    let ok: HealthCheckSpec = serde_json::from_str(r#"{"path":"/healthz?x=1&y=%20"}"#).unwrap();
    assert_eq!(ok.compile().unwrap().path(), "/healthz?x=1&y=%20");
    for bad in ["", "/", "healthz", "/health check", "/é"] {
        let spec = HealthCheckSpec {
            path: bad.to_owned(),
        };
        let error = spec.compile().unwrap_err();
        assert_eq!(error.field, "path", "{bad:?}");
    }
    let long = HealthCheckSpec {
        path: format!("/{}", "a".repeat(2048)),
    };
    assert!(long.compile().unwrap_err().reason.contains("2048"));
}
