//! [`JwtLayer::authenticate`]: the request back with its claims headers, or the refusal the
//! service would send, counted the same.

use gateway_core::BoxBody;
use http::StatusCode;
use std::time::Duration;

use super::remote::{JwksServer, fetched, remote_provider};
use super::*;

/// A provider for [`ISSUER`] and audience `api` with `key` inline, copying `sub` into
/// `x-user`.
fn claims_provider(key: &TestKey) -> JwtProvider {
    let mut provider = provider("idp", &[key]);
    provider.claims_to_headers = vec![ClaimToHeader {
        claim: "sub".into(),
        header: http::HeaderName::from_static("x-user"),
    }];
    provider
}

/// Authenticates `request` with `layer`, answering with the proxy's body type.
async fn authenticate(layer: &JwtLayer, request: Request) -> Result<Request, Response> {
    let authenticating = layer.authenticate::<_, BoxBody>(request);
    authenticating.await
}

#[tokio::test]
async fn a_good_token_gives_the_request_back_with_its_claims() {
    let key = TestKey::ec("k");
    let layer = JwtLayer::new(config(vec![claims_provider(&key)]));
    let mut request = bearer(&key.sign(&claims()));
    // A client's own value of the claims header does not survive.
    request
        .headers_mut()
        .insert("x-user", http::HeaderValue::from_static("mallory"));

    let authenticating = layer.authenticate::<_, BoxBody>(request);
    assert_eq!(
        format!("{authenticating:?}"),
        "Authenticate(\"decided\")",
        "local keys decide at once"
    );
    let request = authenticating.await.unwrap();
    let users: Vec<_> = request.headers().get_all("x-user").iter().collect();
    assert_eq!(users, ["alice"]);
    assert_eq!(
        request.headers().get("authorization"),
        None,
        "token removed"
    );
    assert_eq!(request.uri(), "/orders");
    assert_eq!(
        layer.stats(),
        JwtStats {
            allowed: 1,
            ..JwtStats::default()
        }
    );
}

#[tokio::test]
async fn a_missing_or_bad_token_is_refused_exactly_as_the_service_refuses_it() {
    let key = TestKey::ec("k");
    let other = TestKey::ec("k");
    let layer = JwtLayer::new(config(vec![claims_provider(&key)]));
    let requests = || {
        [
            (
                get("/orders?page=2").body(body::empty()).unwrap(),
                "Jwt is missing",
            ),
            (
                bearer("not-a-jwt"),
                "Jwt is not in the form of Header.Payload.Signature",
            ),
            (bearer(&other.sign(&claims())), "Jwt verification fails"),
        ]
    };
    for ((request, reason), (same, _)) in requests().into_iter().zip(requests()) {
        let refusal = authenticate(&layer, request).await.unwrap_err();
        let (parts, body) = refusal.into_parts();
        let answer = Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        };
        answer.assert_refused(StatusCode::UNAUTHORIZED, reason);
        let served = send(&layer, same).await;
        assert_eq!(
            (&answer.status, &answer.headers, &answer.body),
            (&served.status, &served.headers, &served.body),
            "{reason}"
        );
    }
    let refusal = authenticate(&layer, bearer("not-a-jwt")).await.unwrap_err();
    assert_eq!(
        refusal.headers()["www-authenticate"],
        "Bearer realm=\"http://api.example/orders\", error=\"invalid_token\""
    );
    assert_eq!(
        layer.stats(),
        JwtStats {
            denied: 7,
            ..JwtStats::default()
        },
        "refusals of authenticate and of the service are counted alike"
    );
}

#[tokio::test]
async fn an_unknown_kid_waits_for_the_remote_fetch() {
    let old = TestKey::ec("old");
    let new = TestKey::ec("new");
    let server = JwksServer::spawn(jwks(&[&old])).await;
    let mut provider = remote_provider(server.remote(Duration::from_secs(3600)));
    provider.claims_to_headers = vec![ClaimToHeader {
        claim: "sub".into(),
        header: http::HeaderName::from_static("x-user"),
    }];
    let layer = JwtLayer::new(config(vec![provider]));
    fetched(&layer, 1).await;

    // The server publishes a new key: a token naming it makes the layer fetch, and waits.
    server.serve(StatusCode::OK, jwks(&[&new]));
    let authenticating = layer.authenticate::<_, BoxBody>(bearer(&new.sign(&claims())));
    assert_eq!(
        format!("{authenticating:?}"),
        "Authenticate(\"waiting for keys\")"
    );
    let request = authenticating.await.unwrap();
    assert_eq!(request.headers()["x-user"], "alice");
    assert_eq!(server.requests(), 2);
    let stats = layer.stats();
    assert_eq!((stats.allowed, stats.denied), (1, 0));
    assert_eq!((stats.jwks_fetch_success, stats.jwks_fetch_failed), (2, 0));
}
