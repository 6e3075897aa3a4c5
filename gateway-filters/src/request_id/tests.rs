//! Request ids generated, replaced and kept as the policy says.

use gateway_core::extensions::RequestId;
use http::{HeaderValue, Request, Response};
use std::convert::Infallible;
use tower::{Layer, ServiceExt, service_fn};

use super::*;

/// What the backend saw: every `x-request-id` value and the extension.
async fn sent(config: RequestIdConfig, incoming: &[&str]) -> (Vec<String>, Option<String>) {
    let backend = service_fn(|request: Request<()>| async move {
        let headers: Vec<String> = request
            .headers()
            .get_all(&X_REQUEST_ID)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let extension = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.to_str().unwrap().to_owned());
        Ok::<_, Infallible>(Response::new((headers, extension)))
    });
    let mut request = Request::new(());
    for value in incoming {
        request
            .headers_mut()
            .append(&X_REQUEST_ID, HeaderValue::from_str(value).unwrap());
    }
    RequestIdLayer::new(config)
        .layer(backend)
        .oneshot(request)
        .await
        .unwrap()
        .into_body()
}

/// A hyphenated, lower-case version 4 UUID.
fn is_uuid_v4(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok_and(|id| id.get_version_num() == 4)
        && text.len() == 36
        && text == text.to_lowercase()
}

#[tokio::test]
async fn by_default_every_request_gets_a_fresh_uuid() {
    let config = RequestIdConfig::default();
    let (headers, extension) = sent(config, &[]).await;
    assert_eq!(headers.len(), 1);
    assert!(is_uuid_v4(&headers[0]), "{headers:?}");
    assert_eq!(extension.as_deref(), Some(headers[0].as_str()));

    let (replaced, _) = sent(config, &["from-the-client", "another"]).await;
    assert_eq!(replaced.len(), 1);
    assert!(is_uuid_v4(&replaced[0]));

    let (again, _) = sent(config, &[]).await;
    assert_ne!(again, headers, "ids are not reused");
}

#[tokio::test]
async fn preserving_keeps_the_client_id_and_fills_in_missing_ones() {
    let config = RequestIdConfig {
        generate: true,
        preserve_external: true,
    };
    let (headers, extension) = sent(config, &["from-the-client"]).await;
    assert_eq!(headers, ["from-the-client"]);
    assert_eq!(extension.as_deref(), Some("from-the-client"));

    let (headers, extension) = sent(config, &[]).await;
    assert!(is_uuid_v4(&headers[0]));
    assert_eq!(extension.as_deref(), Some(headers[0].as_str()));

    let (headers, _) = sent(config, &[""]).await;
    assert!(is_uuid_v4(&headers[0]), "an empty id is replaced");
}

#[tokio::test]
async fn without_generation_the_header_passes_untouched() {
    let config = RequestIdConfig {
        generate: false,
        preserve_external: false,
    };
    let (headers, extension) = sent(config, &["from-the-client"]).await;
    assert_eq!(headers, ["from-the-client"]);
    assert_eq!(extension.as_deref(), Some("from-the-client"));

    assert_eq!(sent(config, &[]).await, (Vec::new(), None));
}

#[test]
fn specs_take_kgateway_defaults() {
    let spec: RequestIdSpec = serde_json::from_str("{}").unwrap();
    assert_eq!(spec.compile().unwrap(), RequestIdConfig::default());
    let spec: RequestIdSpec =
        serde_json::from_str(r#"{"generateRequestId": false, "preserveExternalRequestId": true}"#)
            .unwrap();
    assert_eq!(
        spec.compile().unwrap(),
        RequestIdConfig {
            generate: false,
            preserve_external: true
        }
    );
}
