//! JWT authentication benches: the per-request cost of verifying a token with a key set
//! already at hand (inline keys; a remote key set is read the same way, with one `ArcSwap`
//! load), for each signature family.
//!
//! Each bench sends one request through a `gateway_filters::jwt` layer in front of a
//! `tower::service_fn` backend that answers at once with an empty `200`. Requests are built
//! outside the timing, in batches of 64; each iteration is one `oneshot` (service clone,
//! `poll_ready`, `call`, await). The layer is built from a kgateway `GatewayExtension`
//! `spec.jwt` through `JwtSpec::compile`, with one provider: issuer and audience checked,
//! the three keys below inline, the token in `Authorization: Bearer`, removed before the
//! backend.
//!
//! - `jwt/baseline`: the backend alone; subtract it from the others.
//! - `jwt/rs256`, `jwt/es256`, `jwt/hs256`: a valid token signed with RSA 2048 (PKCS#1
//!   v1.5, SHA-256), ECDSA P-256 or HMAC-SHA-256: token parsing, claim checks, one
//!   signature verification, the header removed.
//! - `jwt/hs256_claims_to_headers`: as `hs256`, plus `sub` and `aud` copied into request
//!   headers (the whole payload parsed once more).
//! - `jwt/missing`: no token: refused `401` with a `WWW-Authenticate` challenge.
//!
//! The keys and tokens are fixtures generated once (the tokens carry no `exp`, so they stay
//! valid). Run with `cargo bench -p tower-gateway --bench jwt`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::convert::Infallible;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway_core::{Request, Response, body};
use gateway_filters::jwt::{DirectReferences, JwtLayer, JwtSpec};
use http::StatusCode;
use tower::{Layer, Service, ServiceExt, service_fn};

/// The public keys of the fixtures: RSA 2048 (`rsa`), EC P-256 (`ec`), HMAC 32 bytes
/// (`hmac`), generated once for this bench.
const JWKS: &str = r#"{"keys": [
    {"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": "yCy2PDilvGv36UsxuCcaFgk0X4e0EgHJTQUSMYihiCh-8UxGOx8KuTVZWRb_o3huflMfclb-7uvc0rm3LAzkJ1Sc-rojzN3x1iAXg55sk8YNwNt-YMRL-5B1IHVsIUrtR0IvzhkEG6ucWBD_e_w0Ex_hDXtTV2kpalGG-9UB1CXQUgRrh3pgoGa0AeiTyubXXpEeHl-7VHOsr-14qg5NbZIUtopXeMnfoYWtzawrZX3KAvXE6NMukvUwRJlNi9DGRmSvMEcfMacuEDCAIkHL1iZ1uiaVhxifYQchlGGFjjd1PjaShiywIShTu9bRkviC6XwoHDE5txGU3sl_6oZpYw", "e": "AQAB"},
    {"kty": "EC", "kid": "ec", "alg": "ES256", "crv": "P-256", "x": "ABrogbDfHVpzSqUDH6NaVr7cJfg3IBWVj2RgHFUtvZI", "y": "cXZceMR7XxK-9mC-uhbVPbXAK3l0UOIi2-tjJEJPYdU"},
    {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "mOw1_pTXq50Pzw4G-U2jCm71Pqt6z0ZpDujxVhOld8M"}
]}"#;

/// Tokens over `{"iss": "https://issuer.example", "aud": "api", "sub": "alice", "iat": …}`,
/// without `exp`, so they stay valid; signed with the keys of [`JWKS`].
const RS256_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJpc3MiOiJodHRwczovL2lzc3V",
    "lci5leGFtcGxlIiwiYXVkIjoiYXBpIiwic3ViIjoiYWxpY2UiLCJpYXQiOjE3NjcyMjU2MDB9.B3jIlN",
    "ozGs6cTXVmXWbA7FIO_ZYpFmEhJhs-GUnsPSctW7nZDHfZWeC1vEue660eF_fp1M1RnRx0j4sI_7M1sh",
    "4hPQ5cLwLB_Q6FKIBU79QPoF73b8mKvrLxXcTSE0pRF8W5YzbQ4b7cublMsiK7szRCLHR5stsyV9bTrs",
    "HGTYNYHOB6PuH-rGwjD8LPIJwX62SUt3uzu_VC4g8LRqC4IoGzq3LGkZDLUUK7B9otT2mRRVF2jiQMgN",
    "8n--kN4UfdISiN21KAJBCjDjPPVQrg23PlEoHFdIb5rt5jLDXUwmWP0y9B_N1FCezlIiw_JE4xwHPjud",
    "5jFgb6-feLd6SgWg",
);
const ES256_TOKEN: &str = concat!(
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVjIn0.eyJpc3MiOiJodHRwczovL2lzc3Vl",
    "ci5leGFtcGxlIiwiYXVkIjoiYXBpIiwic3ViIjoiYWxpY2UiLCJpYXQiOjE3NjcyMjU2MDB9.ftIDFVJ",
    "Inu3AubR6V5oZr-HMOCmL1QgWK6_dOU-kqFTHbW2yQRzOJvR1UtrAOLv_8-uzTMDTFHUoWApGzlQg9g",
);
const HS256_TOKEN: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhtYWMifQ.eyJpc3MiOiJodHRwczovL2lzc",
    "3Vlci5leGFtcGxlIiwiYXVkIjoiYXBpIiwic3ViIjoiYWxpY2UiLCJpYXQiOjE3NjcyMjU2MDB9.AVz0",
    "hQD-CXSBPrRTiKBqOkqZH2l2x0IAZOh4UwWvPCo",
);

/// The trivial backend: answers at once with an empty `200`.
async fn backend(_request: Request) -> Result<Response, Infallible> {
    Ok(Response::new(body::empty()))
}

/// A GET to `svc.example` with the headers a typical client sends, and `token` if any.
fn get(token: Option<&str>) -> Request {
    let mut request = http::Request::builder()
        .uri("/api/users/42")
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(body::empty()).unwrap()
}

/// The JWT layer for one provider with the fixture keys, and `claims_to_headers` (JSON).
fn jwt_layer(claims_to_headers: &str) -> JwtLayer {
    let spec = format!(
        r#"{{"providers": [{{
            "name": "bench",
            "issuer": "https://issuer.example",
            "audiences": ["api"],
            "claimsToHeaders": {claims_to_headers},
            "jwks": {{"local": {{"inline": {jwks}}}}}
        }}]}}"#,
        jwks = serde_json::to_string(JWKS).unwrap(),
    );
    let spec: JwtSpec = serde_json::from_str(&spec).unwrap();
    JwtLayer::new(spec.compile(&DirectReferences).unwrap())
}

/// Benches `service` with fresh requests from `request`, one `oneshot` per iteration.
fn bench<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    service: &S,
    request: impl Fn() -> Request,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            &request,
            |request| service.clone().oneshot(request),
            BatchSize::NumIterations(64),
        );
    });
}

/// Sends one request outside the timing; returns the status.
fn probe<S>(rt: &tokio::runtime::Runtime, service: &S, request: Request) -> StatusCode
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    rt.block_on(async { service.clone().oneshot(request).await.unwrap().status() })
}

fn jwt(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let baseline = service_fn(backend);
    let plain = jwt_layer("[]").layer(service_fn(backend));
    let claims_layer =
        jwt_layer(r#"[{"name": "sub", "header": "x-sub"}, {"name": "aud", "header": "x-aud"}]"#);
    let with_claims = claims_layer.clone().layer(service_fn(backend));

    // Outside the timing: the layer does what the benches say they measure.
    for token in [RS256_TOKEN, ES256_TOKEN, HS256_TOKEN] {
        assert_eq!(
            probe(&rt, &plain, get(Some(token))),
            StatusCode::OK,
            "{token}"
        );
    }
    let sees_claims = claims_layer.layer(service_fn(|request: Request| async move {
        assert_eq!(request.headers()["x-sub"], "alice");
        assert_eq!(request.headers()["x-aud"], "api");
        assert!(request.headers().get("authorization").is_none());
        backend(request).await
    }));
    assert_eq!(
        probe(&rt, &sees_claims, get(Some(HS256_TOKEN))),
        StatusCode::OK
    );
    assert_eq!(probe(&rt, &plain, get(None)), StatusCode::UNAUTHORIZED);

    let mut group = c.benchmark_group("jwt");
    bench(&mut group, "baseline", &rt, &baseline, || get(None));
    bench(&mut group, "rs256", &rt, &plain, || get(Some(RS256_TOKEN)));
    bench(&mut group, "es256", &rt, &plain, || get(Some(ES256_TOKEN)));
    bench(&mut group, "hs256", &rt, &plain, || get(Some(HS256_TOKEN)));
    bench(
        &mut group,
        "hs256_claims_to_headers",
        &rt,
        &with_claims,
        || get(Some(HS256_TOKEN)),
    );
    bench(&mut group, "missing", &rt, &plain, || get(None));
    group.finish();
}

criterion_group!(benches, jwt);
criterion_main!(benches);
