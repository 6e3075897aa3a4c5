use gateway_core::{Request, Response, body};
use http::{StatusCode, header::CONTENT_TYPE};
use http_body_util::BodyExt;
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tower::{Layer, ServiceExt, service_fn};

use super::*;

/// Sends one request through a direct response in front of a counting backend; returns the
/// status, content type, body and how often the backend ran.
async fn answer(config: DirectResponseConfig) -> (StatusCode, Option<String>, String, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let service = DirectResponseLayer::new(config).layer(service_fn(move |_: Request| {
        seen.fetch_add(1, Ordering::SeqCst);
        async { Ok::<Response, Infallible>(http::Response::new(body::full("backend"))) }
    }));
    let request = http::Request::builder()
        .method("POST")
        .uri("/anything")
        .body(body::full("ignored"))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
        calls.load(Ordering::SeqCst),
    )
}

#[tokio::test]
async fn answers_with_status_and_body_without_calling_the_backend() {
    let spec = DirectResponseSpec {
        status: 418,
        body: Some("I'm a teapot".into()),
    };
    let (status, content_type, body, calls) = answer(spec.compile().unwrap()).await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(content_type.as_deref(), Some("text/plain"));
    assert_eq!(body, "I'm a teapot");
    assert_eq!(calls, 0);
}

#[tokio::test]
async fn a_spec_without_body_answers_an_empty_body() {
    let spec = DirectResponseSpec {
        status: 204,
        body: None,
    };
    let (status, content_type, body, calls) = answer(spec.compile().unwrap()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(content_type, None);
    assert_eq!(body, "");
    assert_eq!(calls, 0);
}

#[tokio::test]
async fn every_request_gets_the_same_answer() {
    let service = DirectResponseLayer::new(DirectResponseConfig::new(StatusCode::OK, "hello"))
        .layer(service_fn(|_: Request| async {
            Ok::<Response, Infallible>(http::Response::new(body::empty()))
        }));
    for _ in 0..3 {
        let response = service
            .clone()
            .oneshot(http::Request::new(body::empty()))
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "hello");
    }
}

#[test]
fn status_and_body_are_validated_as_kgateway_does() {
    let error = |status: i32, body: Option<&str>| {
        DirectResponseSpec {
            status,
            body: body.map(Into::into),
        }
        .compile()
        .unwrap_err()
    };
    for status in [0, 100, 199, 600, 999, -200] {
        let error = error(status, None);
        assert_eq!(error.field, "status", "{status}");
        assert!(error.reason.contains("200 and 599"));
    }
    assert_eq!(error(200, Some("")).field, "body");
    assert_eq!(error(200, Some(&"x".repeat(4097))).field, "body");
    // The limit counts characters, not bytes.
    let long = "é".repeat(4096);
    let config = DirectResponseSpec {
        status: 599,
        body: Some(long.clone()),
    }
    .compile()
    .unwrap();
    assert_eq!(config.body, long.as_bytes());
    assert_eq!(config.status.as_u16(), 599);
}

#[test]
fn spec_reads_kgateway_json_and_config_serialises() {
    let spec: DirectResponseSpec =
        serde_json::from_str(r#"{"status": 301, "body": "moved"}"#).unwrap();
    assert_eq!(spec.status, 301);
    let config = spec.compile().unwrap();
    assert_eq!(
        serde_json::to_value(&config).unwrap(),
        serde_json::json!({"status": 301, "body": "moved"})
    );
    let spec: DirectResponseSpec = serde_json::from_str(r#"{"status": 200}"#).unwrap();
    assert_eq!(spec.body, None);
}
