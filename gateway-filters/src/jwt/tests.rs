//! Tokens signed here with RSA (PEM fixtures in `testdata/`), EC P-256 (generated with
//! rcgen) and HMAC keys, checked by the layer in front of a backend that reports what it
//! received. Remote key sets are served by a real HTTP server (`remote.rs`), over TLS too
//! (`tls.rs`). [`JwtLayer::authenticate`] has its own tests (`authenticate.rs`).

mod authenticate;
mod remote;
mod tls;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use gateway_core::{Request, Response, body};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp, jwk::Jwk};
use serde_json::{Value, json};
use std::{convert::Infallible, time::Duration};
use tower::{Layer, ServiceExt, service_fn};

use super::*;
use crate::spec::{BackendRefSpec, FieldError, NamespacedObjectReferenceSpec};

pub(super) const RSA_A: &str = include_str!("testdata/rsa_a.pem");
pub(super) const RSA_B: &str = include_str!("testdata/rsa_b.pem");
const RSA_A_PUBLIC: &str = include_str!("testdata/rsa_a_public.pem");

pub(super) const ISSUER: &str = "https://issuer.example";

/// A signing key and the public JWK (with its `kid`) that verifies it.
#[derive(Clone)]
pub(super) struct TestKey {
    pub(super) alg: Algorithm,
    pub(super) kid: &'static str,
    pub(super) encoding: EncodingKey,
    pub(super) jwk: Value,
}

impl TestKey {
    pub(super) fn rsa(pem: &str, kid: &'static str) -> Self {
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap())
                .unwrap();
        jwk["kid"] = kid.into();
        Self {
            alg: Algorithm::RS256,
            kid,
            encoding,
            jwk,
        }
    }

    pub(super) fn ec(kid: &'static str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let encoding = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let point = pair.public_key_raw();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        Self {
            alg: Algorithm::ES256,
            kid,
            encoding,
            jwk,
        }
    }

    pub(super) fn hmac(kid: &'static str) -> Self {
        let secret: Vec<u8> = std::iter::repeat_with(|| fastrand::u8(..))
            .take(32)
            .collect();
        Self {
            alg: Algorithm::HS256,
            kid,
            encoding: EncodingKey::from_secret(&secret),
            jwk: json!({"kty": "oct", "kid": kid, "k": URL_SAFE_NO_PAD.encode(&secret)}),
        }
    }

    /// A token over `claims`, signed with this key, naming its `kid`.
    pub(super) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// `{"keys": [...]}` of the keys' public JWKs.
pub(super) fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

pub(super) fn now() -> u64 {
    get_current_timestamp()
}

/// Claims a provider for [`ISSUER`] and audience `api` accepts, valid for ten minutes.
pub(super) fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "api", "sub": "alice", "exp": now() + 600})
}

/// `claims()` with `changes` merged in (a `null` removes the claim).
pub(super) fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A provider named `name` for [`ISSUER`] and audience `api` with `keys` inline.
pub(super) fn provider(name: &str, keys: &[&TestKey]) -> JwtProvider {
    let mut provider = JwtProvider::new(name, Jwks::Local(KeySet::from_jwks(&jwks(keys)).unwrap()));
    provider.issuer = Some(ISSUER.into());
    provider.audiences = vec!["api".into()];
    provider
}

pub(super) fn config(providers: Vec<JwtProvider>) -> JwtConfig {
    JwtConfig {
        providers,
        allow_missing: false,
    }
}

/// The backend: answers `200` with a JSON body of the URI and headers it received.
async fn backend(request: Request) -> Result<Response, Infallible> {
    let mut headers = serde_json::Map::new();
    for name in request.headers().keys() {
        let values: Vec<&str> = request
            .headers()
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        headers.insert(name.as_str().into(), values.join(", ").into());
    }
    let seen = json!({"uri": request.uri().to_string(), "headers": headers});
    Ok(Response::new(body::full(seen.to_string())))
}

/// What came back from the layer.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Answer {
    /// What the backend received (the answer must come from it).
    pub(super) fn upstream(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The header `name` the backend received.
    pub(super) fn upstream_header(&self, name: &str) -> Option<String> {
        self.upstream()["headers"][name].as_str().map(str::to_owned)
    }

    /// Asserts a refusal with `status`, Envoy's `reason` as body and the challenge.
    pub(super) fn assert_refused(&self, status: StatusCode, reason: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body, reason, "{self:?}");
        let challenge = self.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer realm=\""), "{challenge}");
        assert_eq!(
            challenge.ends_with(", error=\"invalid_token\""),
            reason != "Jwt is missing",
            "{challenge}"
        );
    }
}

/// Sends `request` through `layer` in front of the echo backend.
pub(super) async fn send(layer: &JwtLayer, request: Request) -> Answer {
    let response = layer
        .layer(service_fn(backend))
        .oneshot(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A GET of `uri` to `api.example`.
pub(super) fn get(uri: &str) -> http::request::Builder {
    http::Request::get(uri).header("host", "api.example")
}

/// A GET of `/orders` carrying `token` as a bearer token.
pub(super) fn bearer(token: &str) -> Request {
    get("/orders")
        .header("authorization", format!("Bearer {token}"))
        .body(body::empty())
        .unwrap()
}

/// A token of `header` and `payload` JSON and a made-up signature.
fn forged(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(b"not a signature"),
    )
}

// === verification ===

#[tokio::test]
async fn rs256_es256_and_hs256_tokens_pass_and_are_not_forwarded() {
    let (rsa, ec, hmac) = (
        TestKey::rsa(RSA_A, "rsa"),
        TestKey::ec("ec"),
        TestKey::hmac("hmac"),
    );
    let layer = JwtLayer::new(config(vec![provider("idp", &[&rsa, &ec, &hmac])]));
    for key in [&rsa, &ec, &hmac] {
        let answer = send(&layer, bearer(&key.sign(&claims()))).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}: {answer:?}", key.alg);
        assert_eq!(answer.upstream_header("authorization"), None);
    }
    assert_eq!(layer.stats().allowed, 3);
}

#[tokio::test]
async fn a_missing_token_is_401_with_a_bearer_challenge() {
    let key = TestKey::ec("k");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&key])]));
    let answer = send(&layer, get("/orders?page=2").body(body::empty()).unwrap()).await;
    answer.assert_refused(StatusCode::UNAUTHORIZED, "Jwt is missing");
    assert_eq!(
        answer.headers["www-authenticate"], "Bearer realm=\"http://api.example/orders\"",
        "the realm leaves the query string out"
    );
    // A prefix that does not match is no token either.
    let basic = get("/orders")
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .body(body::empty())
        .unwrap();
    send(&layer, basic)
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt is missing");
    assert_eq!(layer.stats().denied, 2);
}

#[tokio::test]
async fn an_invalid_token_is_401_with_invalid_token() {
    let key = TestKey::ec("k");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&key])]));
    let answer = send(&layer, bearer("not-a-jwt")).await;
    answer.assert_refused(
        StatusCode::UNAUTHORIZED,
        "Jwt is not in the form of Header.Payload.Signature",
    );
    assert_eq!(
        answer.headers["www-authenticate"],
        "Bearer realm=\"http://api.example/orders\", error=\"invalid_token\""
    );
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    send(&layer, bearer(&format!("!!.{payload}.c2ln")))
        .await
        .assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwt header is an invalid Base64url input or an invalid JSON",
        );
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"k"}"#);
    send(&layer, bearer(&format!("{header}.bm90IGpzb24.c2ln")))
        .await
        .assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwt payload is an invalid Base64 or an invalid JSON",
        );
    send(&layer, bearer(&forged(&json!({"kid": "k"}), &claims())))
        .await
        .assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwt header [alg] field is not a string",
        );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let key = TestKey::hmac("k");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&key])]));
    for alg in ["none", "None", "NONE"] {
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "k"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string()),
        );
        send(&layer, bearer(&unsigned)).await.assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwt is not in the form of Header.Payload.Signature",
        );
        send(
            &layer,
            bearer(&forged(&json!({"alg": alg, "kid": "k"}), &claims())),
        )
        .await
        .assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwt header [alg] field value is invalid",
        );
    }
    assert_eq!(layer.stats().allowed, 0);
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    let rsa = TestKey::rsa(RSA_A, "rsa");
    let ec = TestKey::ec("ec");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&rsa, &ec])]));
    // The classic attack: HS256 with the RSA public key (as the verifier may hold it) as
    // the HMAC secret, naming the RSA key.
    for secret in [
        RSA_A_PUBLIC.as_bytes().to_vec(),
        rsa.jwk["n"].as_str().unwrap().into(),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa".into());
        let token =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret)).unwrap();
        send(&layer, bearer(&token)).await.assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwks doesn't have key to match kid or alg from Jwt",
        );
    }
    // An RS256 token naming the EC key, and one against a set of only an HMAC key.
    let rs_as_ec = {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("ec".into());
        jsonwebtoken::encode(&header, &claims(), &rsa.encoding).unwrap()
    };
    send(&layer, bearer(&rs_as_ec)).await.assert_refused(
        StatusCode::UNAUTHORIZED,
        "Jwks doesn't have key to match kid or alg from Jwt",
    );
    let hmac = TestKey::hmac("rsa");
    let hmac_only = JwtLayer::new(config(vec![provider("idp", &[&hmac])]));
    send(&hmac_only, bearer(&rsa.sign(&claims())))
        .await
        .assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwks doesn't have key to match kid or alg from Jwt",
        );
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    let good = TestKey::rsa(RSA_A, "k");
    let other = TestKey::rsa(RSA_B, "k");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&good])]));
    send(&layer, bearer(&other.sign(&claims())))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt verification fails");
    // A token altered after signing.
    let token = good.sign(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let tampered = URL_SAFE_NO_PAD.encode(claims_with(json!({"sub": "mallory"})).to_string());
    parts[1] = &tampered;
    send(&layer, bearer(&parts.join(".")))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt verification fails");
}

#[tokio::test]
async fn expiry_and_not_before_have_leeway() {
    let key = TestKey::ec("k");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&key])]));
    let at = |claims: Value| bearer(&key.sign(&claims));
    // Within Envoy's 60 s of clock skew either way.
    let answer = send(&layer, at(claims_with(json!({"exp": now() - 20})))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let answer = send(&layer, at(claims_with(json!({"nbf": now() + 20})))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    // Beyond it.
    send(&layer, at(claims_with(json!({"exp": now() - 600}))))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt is expired");
    send(&layer, at(claims_with(json!({"nbf": now() + 600}))))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt not yet valid");
    // A token without `exp` does not expire (Envoy does not require the claim).
    let answer = send(&layer, at(claims_with(json!({"exp": null})))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    // A claim of the wrong type is a bad payload.
    send(&layer, at(claims_with(json!({"exp": "tomorrow"}))))
        .await
        .assert_refused(
            StatusCode::UNAUTHORIZED,
            "Jwt payload is an invalid Base64 or an invalid JSON",
        );

    // With no leeway, 20 s late is too late.
    let mut strict = provider("idp", &[&key]);
    strict.clock_skew = Duration::ZERO;
    let strict = JwtLayer::new(config(vec![strict]));
    send(&strict, at(claims_with(json!({"exp": now() - 20}))))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt is expired");
}

#[tokio::test]
async fn issuer_and_audience_are_checked() {
    let key = TestKey::ec("k");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&key])]));
    let with = |changes: Value| bearer(&key.sign(&claims_with(changes)));
    send(&layer, with(json!({"iss": "https://evil.example"})))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt issuer is not configured");
    send(&layer, with(json!({"iss": null})))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt issuer is not configured");
    // A wrong audience is a valid token for another service: 403.
    send(&layer, with(json!({"aud": "billing"})))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "Audiences in Jwt are not allowed");
    send(&layer, with(json!({"aud": null})))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "Audiences in Jwt are not allowed");
    let answer = send(&layer, with(json!({"aud": ["billing", "api"]}))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");

    // Scheme and trailing slash do not matter; an unset issuer accepts any.
    let mut relaxed = provider("idp", &[&key]);
    relaxed.issuer = None;
    relaxed.audiences = vec!["https://api.example.com/".into()];
    let relaxed = JwtLayer::new(config(vec![relaxed]));
    let token = key.sign(&claims_with(
        json!({"iss": "anyone", "aud": "api.example.com"}),
    ));
    let answer = send(&relaxed, bearer(&token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn every_token_found_must_verify() {
    let key = TestKey::ec("k");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&key])]));
    let good = key.sign(&claims());
    let expired = key.sign(&claims_with(json!({"exp": now() - 600})));
    let request = get(&format!("/orders?access_token={expired}"))
        .header("authorization", format!("Bearer {good}"))
        .body(body::empty())
        .unwrap();
    send(&layer, request)
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt is expired");
}

// === token sources ===

#[tokio::test]
async fn tokens_come_from_the_configured_header_query_or_cookie() {
    let key = TestKey::ec("k");
    let token = key.sign(&claims());
    let with_source = |source: TokenSource| {
        let mut provider = provider("idp", &[&key]);
        provider.token_sources = vec![source];
        JwtLayer::new(config(vec![provider]))
    };

    let header = with_source(TokenSource::Header {
        name: http::HeaderName::from_static("x-jwt"),
        prefix: Some("Token ".into()),
    });
    let answer = send(
        &header,
        get("/a")
            .header("x-jwt", format!("token {token}"))
            .header("x-other", "kept")
            .body(body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.upstream_header("x-jwt"), None, "removed");
    assert_eq!(answer.upstream_header("x-other").as_deref(), Some("kept"));
    // The default `Authorization: Bearer` is not looked at any more.
    send(&header, bearer(&token))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt is missing");

    let query = with_source(TokenSource::QueryParameter("jwt".into()));
    let answer = send(
        &query,
        get(&format!("/a?x=1&jwt={token}&y=2"))
            .body(body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.upstream()["uri"], "/a?x=1&y=2");
    let answer = send(
        &query,
        get(&format!("/a?jwt={token}")).body(body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.upstream()["uri"], "/a");

    let cookie = with_source(TokenSource::Cookie("session".into()));
    let answer = send(
        &cookie,
        get("/a")
            .header("cookie", format!("theme=dark; session={token}; lang=en"))
            .body(body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        answer.upstream_header("cookie").as_deref(),
        Some("theme=dark; lang=en")
    );
    let answer = send(
        &cookie,
        get("/a")
            .header("cookie", format!("session={token}"))
            .body(body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.upstream_header("cookie"), None);
}

#[tokio::test]
async fn default_sources_are_bearer_and_access_token() {
    let key = TestKey::ec("k");
    let layer = JwtLayer::new(config(vec![provider("idp", &[&key])]));
    let token = key.sign(&claims());
    let answer = send(
        &layer,
        get(&format!("/a?access_token={token}&q=1"))
            .body(body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.upstream()["uri"], "/a?q=1");
    let lowercase = get("/a")
        .header("authorization", format!("bearer {token}"))
        .body(body::empty())
        .unwrap();
    assert_eq!(send(&layer, lowercase).await.status, StatusCode::OK);
}

#[tokio::test]
async fn forward_token_keeps_it() {
    let key = TestKey::ec("k");
    let mut provider = provider("idp", &[&key]);
    provider.forward_token = true;
    let layer = JwtLayer::new(config(vec![provider]));
    let token = key.sign(&claims());
    let answer = send(&layer, bearer(&token)).await;
    assert_eq!(
        answer.upstream_header("authorization"),
        Some(format!("Bearer {token}"))
    );
}

// === claims to headers ===

#[tokio::test]
async fn claims_are_copied_into_headers_and_cannot_be_spoofed() {
    let key = TestKey::ec("k");
    let mut provider = provider("idp", &[&key]);
    provider.claims_to_headers = [
        ("sub", "x-sub"),
        ("level", "x-level"),
        ("ratio", "x-ratio"),
        ("admin", "x-admin"),
        ("roles", "x-roles"),
        ("realm_access.roles", "x-realm-roles"),
        ("https://example.com/tenant", "x-tenant"),
        ("absent", "x-absent"),
        ("nothing", "x-nothing"),
    ]
    .into_iter()
    .map(|(claim, header)| ClaimToHeader {
        claim: claim.into(),
        header: http::HeaderName::from_static(header),
    })
    .collect();
    let mut layer_config = config(vec![provider]);
    layer_config.allow_missing = true;
    let layer = JwtLayer::new(layer_config);
    let token = key.sign(&claims_with(json!({
        "level": 3, "ratio": 0.5, "admin": false, "roles": ["a", "b"],
        "realm_access": {"roles": ["x"]}, "https://example.com/tenant": "acme", "nothing": null,
    })));
    let request = get("/a")
        .header("authorization", format!("Bearer {token}"))
        .header("x-sub", "mallory")
        .header("x-absent", "forged")
        .body(body::empty())
        .unwrap();
    let seen = send(&layer, request).await.upstream()["headers"].clone();
    assert_eq!(seen["x-sub"], "alice", "the client's value is replaced");
    assert_eq!(seen["x-level"], "3");
    assert_eq!(seen["x-ratio"], "0.5");
    assert_eq!(seen["x-admin"], "false");
    assert_eq!(seen["x-roles"], r#"["a","b"]"#);
    assert_eq!(seen["x-realm-roles"], r#"["x"]"#);
    assert_eq!(seen["x-tenant"], "acme");
    assert_eq!(seen.get("x-absent"), None, "removed, not set");
    assert_eq!(seen.get("x-nothing"), None);

    // Without a token (allowed here), the client's claims headers are removed all the same.
    let anonymous = get("/a")
        .header("x-sub", "mallory")
        .body(body::empty())
        .unwrap();
    assert_eq!(send(&layer, anonymous).await.upstream_header("x-sub"), None);
}

// === validation modes and providers ===

#[tokio::test]
async fn allow_missing_lets_anonymous_requests_through_but_not_bad_tokens() {
    let key = TestKey::ec("k");
    let mut layer_config = config(vec![provider("idp", &[&key])]);
    layer_config.allow_missing = true;
    let layer = JwtLayer::new(layer_config);
    let answer = send(&layer, get("/a").body(body::empty()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
    send(
        &layer,
        bearer(&key.sign(&claims_with(json!({"exp": now() - 600})))),
    )
    .await
    .assert_refused(StatusCode::UNAUTHORIZED, "Jwt is expired");
    send(
        &layer,
        bearer(&key.sign(&claims_with(json!({"iss": "other"})))),
    )
    .await
    .assert_refused(StatusCode::UNAUTHORIZED, "Jwt issuer is not configured");
}

#[tokio::test]
async fn any_provider_may_accept_and_the_most_telling_reason_wins() {
    let a = TestKey::ec("a");
    let b = TestKey::rsa(RSA_A, "b");
    let mut first = provider("first", &[&a]);
    first.claims_to_headers = vec![ClaimToHeader {
        claim: "sub".into(),
        header: http::HeaderName::from_static("x-first"),
    }];
    let mut second = provider("second", &[&b]);
    second.issuer = Some("https://second.example".into());
    second.claims_to_headers = vec![ClaimToHeader {
        claim: "sub".into(),
        header: http::HeaderName::from_static("x-second"),
    }];
    let layer = JwtLayer::new(config(vec![first, second]));

    let answer = send(
        &layer,
        bearer(&b.sign(&claims_with(json!({"iss": "https://second.example"})))),
    )
    .await;
    assert_eq!(answer.upstream_header("x-second").as_deref(), Some("alice"));
    assert_eq!(answer.upstream_header("x-first"), None);

    // The first provider says "other issuer", the second "expired": expired wins.
    let expired = b.sign(&claims_with(
        json!({"iss": "https://second.example", "exp": now() - 600}),
    ));
    send(&layer, bearer(&expired))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Jwt is expired");
    // Neither knows the issuer.
    send(
        &layer,
        bearer(&a.sign(&claims_with(json!({"iss": "nobody"})))),
    )
    .await
    .assert_refused(StatusCode::UNAUTHORIZED, "Jwt issuer is not configured");
}

// === key sets ===

#[tokio::test]
async fn a_pem_public_key_verifies_rs256() {
    let key = TestKey::rsa(RSA_A, "ignored");
    let mut provider = provider("idp", &[&key]);
    provider.jwks = Jwks::Local(KeySet::from_local(RSA_A_PUBLIC).unwrap());
    let layer = JwtLayer::new(config(vec![provider]));
    let answer = send(&layer, bearer(&key.sign(&claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[test]
fn key_sets_skip_unusable_keys_and_never_show_secrets() {
    let ec = TestKey::ec("ec");
    let hmac = TestKey::hmac("hmac");
    let short = json!({"kty": "oct", "kid": "short", "k": URL_SAFE_NO_PAD.encode(b"short")});
    let encryption = {
        let mut jwk = TestKey::rsa(RSA_B, "enc").jwk;
        jwk["use"] = "enc".into();
        jwk
    };
    let wrong_alg = {
        let mut jwk = TestKey::ec("wrong").jwk;
        jwk["alg"] = "RS256".into();
        jwk
    };
    let unknown = json!({"kty": "XYZ", "kid": "unknown"});
    let text =
        json!({"keys": [ec.jwk, hmac.jwk, short, encryption, wrong_alg, unknown]}).to_string();
    let set = KeySet::from_jwks(&text).unwrap();
    assert_eq!(set.len(), 2);
    let shown = serde_json::to_value(&set).unwrap();
    assert_eq!(
        shown,
        json!([
            {"kid": "ec", "kty": "EC", "algorithms": ["ES256"]},
            {"kid": "hmac", "kty": "oct", "algorithms": ["HS256"]},
        ])
    );
    assert!(!format!("{set:?}").contains(hmac.jwk["k"].as_str().unwrap()));

    let only_bad = json!({"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}).to_string();
    let error = KeySet::from_jwks(&only_bad).unwrap_err().to_string();
    assert!(
        error.contains("no usable key") && error.contains("32 bytes"),
        "{error}"
    );
    assert!(KeySet::from_jwks(r#"{"keys": []}"#).is_err());
    assert!(KeySet::from_jwks("not json").is_err());
    // A single JWK, as kgateway's `inline` accepts.
    assert_eq!(KeySet::from_local(&ec.jwk.to_string()).unwrap().len(), 1);
    assert_eq!(KeySet::from_local(&text).unwrap(), set);
}

#[test]
fn small_rsa_keys_are_refused() {
    let n = URL_SAFE_NO_PAD.encode([0xc5u8; 128]);
    let small = json!({"keys": [{"kty": "RSA", "kid": "small", "n": n, "e": "AQAB"}]}).to_string();
    let error = KeySet::from_jwks(&small).unwrap_err().to_string();
    assert!(error.contains("1024 bits is too small"), "{error}");
}

// === spec ===

/// References resolving one ConfigMap and one backend.
struct Cluster {
    jwks: String,
}

impl JwtReferences for Cluster {
    fn config_map_jwks(&self, name: &str) -> Result<String, String> {
        match name {
            "keys" => Ok(self.jwks.clone()),
            _ => Err(format!("ConfigMap {name} not found")),
        }
    }

    fn jwks_backend(
        &self,
        backend_ref: &BackendRefSpec,
    ) -> Result<Option<http::uri::Authority>, String> {
        match backend_ref.name.as_str() {
            "idp" => Ok(Some(http::uri::Authority::from_static("10.0.0.7:8080"))),
            other => Err(format!("Service {other} not found")),
        }
    }
}

fn compile(spec: Value) -> Result<JwtConfig, FieldError> {
    let key = TestKey::ec("k");
    let spec: JwtSpec = serde_json::from_value(spec).unwrap();
    spec.compile(&Cluster {
        jwks: jwks(&[&key]),
    })
}

#[test]
fn the_kgateway_spec_compiles() {
    let config = compile(json!({
        "validationMode": "AllowMissing",
        "providers": [
            {
                "name": "local",
                "issuer": "https://issuer.example",
                "audiences": ["api"],
                "tokenSource": {"header": {"header": "X-Token", "prefix": "JWT "}},
                "claimsToHeaders": [{"name": "sub", "header": "X-Sub"}],
                "jwks": {"local": {"configMapRef": {"name": "keys"}}},
                "forwardToken": true,
            },
            {
                "name": "remote",
                "tokenSource": {"queryParameter": "jwt"},
                "jwks": {"remote": {
                    "url": "http://idp.example/.well-known/jwks.json",
                    "backendRef": {"name": "idp", "port": 8080},
                    "cacheDuration": "10m",
                    "timeout": "2s",
                    "asyncFetch": {"fastListener": true, "failedRefetchDuration": "3s"},
                    "retryPolicy": {"numRetries": 2, "backOff": {"baseInterval": "100ms"}},
                }},
            },
        ],
    }))
    .unwrap();
    assert!(config.allow_missing);
    let local = &config.providers[0];
    assert_eq!(local.issuer.as_deref(), Some("https://issuer.example"));
    assert_eq!(
        local.token_sources,
        vec![TokenSource::Header {
            name: http::HeaderName::from_static("x-token"),
            prefix: Some("JWT ".into())
        }]
    );
    assert_eq!(local.claims_to_headers[0].header, "x-sub");
    assert!(local.forward_token);
    assert_eq!(local.clock_skew, DEFAULT_CLOCK_SKEW);
    let Jwks::Local(keys) = &local.jwks else {
        panic!("local keys")
    };
    assert_eq!(keys.len(), 1);

    let remote = &config.providers[1];
    assert_eq!(remote.issuer, None);
    assert!(!remote.forward_token);
    let Jwks::Remote(jwks) = &remote.jwks else {
        panic!("remote keys")
    };
    assert_eq!(jwks.uri, "http://10.0.0.7:8080/.well-known/jwks.json");
    assert_eq!(jwks.host.as_ref().unwrap(), "idp.example");
    assert_eq!(jwks.cache_duration, Duration::from_secs(600));
    assert_eq!(jwks.timeout, Duration::from_secs(2));
    assert_eq!(jwks.failed_refetch, Duration::from_secs(3));
    assert!(jwks.fast_listener);
    assert_eq!(
        jwks.retry,
        Some(FetchRetry {
            retries: 2,
            base_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(1),
        })
    );

    // Defaults: Envoy's token locations, kgateway's remote settings.
    let config = compile(json!({"providers": [{"name": "p", "jwks": {"remote": {
        "url": "http://idp.example/keys", "backendRef": {"name": "idp"}}}}]}))
    .unwrap();
    assert!(!config.allow_missing);
    assert_eq!(config.providers[0].token_sources, TokenSource::defaults());
    let Jwks::Remote(jwks) = &config.providers[0].jwks else {
        panic!("remote keys")
    };
    assert_eq!(jwks.cache_duration, DEFAULT_CACHE_DURATION);
    assert_eq!(jwks.timeout, DEFAULT_FETCH_TIMEOUT);
    assert_eq!(jwks.failed_refetch, DEFAULT_FAILED_REFETCH);
    assert_eq!(jwks.retry, None);
    serde_json::to_string(&config).unwrap();
}

#[test]
fn spec_errors_name_the_field() {
    let inline = |text: &str| json!({"local": {"inline": text}});
    let remote =
        |url: &str, backend: &str| json!({"remote": {"url": url, "backendRef": {"name": backend}}});
    let cases = [
        (json!({"providers": []}), "providers", "at least one"),
        (
            json!({"providers": [{"name": "a", "jwks": {}}]}),
            "providers[0].jwks",
            "exactly one of local and remote",
        ),
        (
            json!({"providers": [
                {"name": "a", "jwks": {"local": {"configMapRef": {"name": "keys"}}}},
                {"name": "a", "jwks": {"local": {"configMapRef": {"name": "keys"}}}}]}),
            "providers[1].name",
            "used by another provider",
        ),
        (
            json!({"providers": [{"name": "a", "jwks": inline("{\"keys\": 3}")}]}),
            "providers[0].jwks.local.inline",
            "not a JWKS",
        ),
        (
            json!({"providers": [{"name": "a", "jwks": {"local": {"configMapRef": {"name": "x"}}}}]}),
            "providers[0].jwks.local.configMapRef",
            "not found",
        ),
        (
            json!({"providers": [{"name": "a", "jwks": remote("ftp://idp.example/keys", "idp")}]}),
            "providers[0].jwks.remote.url",
            "http or https",
        ),
        (
            json!({"providers": [{"name": "a", "jwks": remote("/keys", "idp")}]}),
            "providers[0].jwks.remote.url",
            "full URL",
        ),
        (
            json!({"providers": [{"name": "a", "jwks": remote("http://idp.example/keys", "nope")}]}),
            "providers[0].jwks.remote.backendRef",
            "not found",
        ),
        (
            json!({"providers": [{"name": "a", "jwks": {"remote": {
                "url": "http://idp/keys", "backendRef": {"name": "idp"}, "cacheDuration": "0s"}}}]}),
            "providers[0].jwks.remote.cacheDuration",
            "at least 1ms",
        ),
        (
            json!({"providers": [{"name": "a", "jwks": {"remote": {
                "url": "http://idp/keys", "backendRef": {"name": "idp"},
                "retryPolicy": {"backOff": {"baseInterval": "2s", "maxInterval": "1s"}}}}}]}),
            "providers[0].jwks.remote.retryPolicy.backOff.maxInterval",
            "at least baseInterval",
        ),
        (
            json!({"providers": [{"name": "a", "tokenSource": {"header": {"header": "x"}, "queryParameter": "q"},
                "jwks": {"local": {"configMapRef": {"name": "keys"}}}}]}),
            "providers[0].tokenSource",
            "exactly one of header and queryParameter",
        ),
        (
            json!({"providers": [{"name": "a", "claimsToHeaders": [{"name": "sub", "header": "bad header"}],
                "jwks": {"local": {"configMapRef": {"name": "keys"}}}}]}),
            "providers[0].claimsToHeaders[0].header",
            "not a valid header name",
        ),
    ];
    for (spec, field, reason) in cases {
        let error = compile(spec.clone()).unwrap_err();
        assert_eq!(error.field, field, "{spec}: {error}");
        assert!(error.reason.contains(reason), "{spec}: {error}");
    }
}

#[test]
fn jwt_auth_is_an_extension_or_disabled() {
    let read = |json: Value| {
        serde_json::from_value::<JwtAuthSpec>(json)
            .unwrap()
            .compile()
    };
    assert_eq!(
        read(json!({"extensionRef": {"name": "jwt", "namespace": "auth"}})),
        Ok(JwtAuth::Extension(NamespacedObjectReferenceSpec {
            name: "jwt".into(),
            namespace: Some("auth".into()),
        }))
    );
    assert_eq!(read(json!({"disable": {}})), Ok(JwtAuth::Disable));
    for bad in [
        json!({}),
        json!({"extensionRef": {"name": "jwt"}, "disable": {}}),
    ] {
        let error = read(bad).unwrap_err();
        assert!(error.reason.contains("exactly one"), "{error}");
    }
    assert_eq!(
        read(json!({"extensionRef": {"name": ""}})),
        Err(FieldError::new("extensionRef.name", "must not be empty"))
    );
}
