//! Security policy benches: the per-request cost of the basic auth, API key and ACL
//! layers, each alone in front of a trivial backend.
//!
//! Each bench sends one request through one `gateway_filters` layer in front of a
//! `tower::service_fn` backend that answers at once with an empty `200`. Requests are built
//! outside the timing, in batches of 64; each iteration is one `oneshot` (service clone,
//! `poll_ready`, `call`, await), including the backend building its response or the layer
//! building its own; responses are dropped outside the timing. The layers are built from
//! kgateway policy JSON through their `Spec::compile`, as the gateway builds them, with the
//! Secret data the policy compiler would hand over.
//!
//! - `auth_policy/baseline`: a GET to the backend alone; subtract it from the others.
//! - `auth_policy/basic_auth/bcrypt_cached`: a `$2y$10$` (cost 10) user whose success was
//!   cached before the timing: one keyed SHA-256 and a constant-time compare, no bcrypt
//!   (checked: the layer ran bcrypt once, for the priming request).
//! - `auth_policy/basic_auth/apr1_cached`: the same for an `$apr1$` user.
//! - `auth_policy/basic_auth/sha`: a `{SHA}` user: one SHA-1 per request (never cached).
//! - `auth_policy/basic_auth/missing`: no `Authorization`: the `401` with its request-URL
//!   realm.
//! - `auth_policy/api_key/header_of_1000`: a key among 1000 in `x-api-key`, the client id
//!   forwarded, the header stripped.
//! - `auth_policy/api_key/query_of_1000`: the same key in a query parameter, stripped from
//!   the query (a new URI).
//! - `auth_policy/api_key/unknown`: an unknown key: the `401`.
//! - `auth_policy/acl/1000_cidrs_allowed` and `.../1000_cidrs_denied`: an IPv4 client
//!   address looked up among 1000 nested CIDRs (250 `/16`s with three `/24`s of the other
//!   action in each), allowed or answered `403`; `.../1000_cidrs_v6`: an IPv6 client among
//!   1000 IPv6 CIDRs of the same shape.
//!
//! Run with `cargo bench -p tower-gateway --bench auth_policies`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{convert::Infallible, net::IpAddr, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway_core::{Request, Response, body, extensions::ClientAddr};
use gateway_filters::{
    acl::{AclLayer, AclSpec},
    api_key::{ApiKeyAuthLayer, ApiKeyAuthSpec, SecretEntry},
    basic_auth::{BasicAuthLayer, BasicAuthSpec},
    compression::Toggle,
};
use http::StatusCode;
use tower::{Layer, Service, ServiceExt, service_fn};

/// The trivial backend: answers at once with an empty `200`.
async fn backend(_request: Request) -> Result<Response, Infallible> {
    Ok(Response::new(body::empty()))
}

/// A GET to `svc.example` with the headers a typical client sends, and `extra`.
fn get(uri: &str, extra: &[(&'static str, &'static str)]) -> Request {
    let mut request = http::Request::builder()
        .uri(uri)
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.body(body::empty()).unwrap()
}

fn plain() -> Request {
    get("/api/users/42", &[])
}

// htpasswd fixtures (`htpasswd -B -C 10`, `-m`, `-s`) and their credentials.
const BCRYPT10: &str = "bcrypt10:$2y$10$w/fRoWryvW/2S6iQntqkjODegHXkdY5DeujV5/fr//tVknTwDiuTC";
const CAROL: &str = "carol:$apr1$X54/m4K0$4H404cuBkR1EvT5CwKipb.";
const BOB: &str = "bob:{SHA}8aUnfNGKI8Dqt5dVwX6XWOY08h4=";

fn bcrypt_user() -> Request {
    // bcrypt10:correct horse battery staple
    get(
        "/api/users/42",
        &[(
            "authorization",
            "Basic YmNyeXB0MTA6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==",
        )],
    )
}

fn apr1_user() -> Request {
    // carol:carol-apr1-password-longer-than-16
    get(
        "/api/users/42",
        &[(
            "authorization",
            "Basic Y2Fyb2w6Y2Fyb2wtYXByMS1wYXNzd29yZC1sb25nZXItdGhhbi0xNg==",
        )],
    )
}

fn sha_user() -> Request {
    // bob:bob:with:colons
    get(
        "/api/users/42",
        &[("authorization", "Basic Ym9iOmJvYjp3aXRoOmNvbG9ucw==")],
    )
}

fn key_in_header() -> Request {
    get("/api/users/42", &[("x-api-key", "key-0777-6153063")])
}

fn key_in_query() -> Request {
    get("/api/users/42?page=2&api_key=key-0777-6153063", &[])
}

fn unknown_key() -> Request {
    get("/api/users/42", &[("x-api-key", "key-0777-6153064")])
}

fn from(client: &str) -> Request {
    let mut request = plain();
    let client: IpAddr = client.parse().unwrap();
    request.extensions_mut().insert(ClientAddr(client));
    request
}

fn allowed_client() -> Request {
    from("10.2.7.9")
}

fn denied_client() -> Request {
    from("10.3.7.9")
}

fn v6_client() -> Request {
    from("2001:db8:2:7::9")
}

/// Benches `service` with fresh requests from `request`, one `oneshot` per iteration.
fn bench<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    service: S,
    request: fn() -> Request,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            request,
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

/// 1000 API keys in one Secret: `client-NNNN` → `key-NNNN-<NNNN * 7919>`.
fn api_keys() -> Vec<(String, String)> {
    (0..1000)
        .map(|i| (format!("client-{i:04}"), format!("key-{i:04}-{}", i * 7919)))
        .collect()
}

/// An ACL of 1000 CIDRs: 250 `/16`s alternately denied and allowed, each with three `/24`s
/// inside it of the other action (IPv4, or the same shape in IPv6 with `/48`s and `/64`s),
/// in rules of at most 250 CIDRs of one action (kgateway allows 256 per rule).
fn acl_json(v6: bool) -> String {
    let net = |outer: u32, inner: Option<u32>| match (v6, inner) {
        (false, None) => format!("10.{outer}.0.0/16"),
        (false, Some(inner)) => format!("10.{outer}.{inner}.0/24"),
        (true, None) => format!("2001:db8:{outer:x}::/48"),
        (true, Some(inner)) => format!("2001:db8:{outer:x}:{inner:x}::/64"),
    };
    // (action, CIDRs) of the outer ranges, then of the inner ones.
    let mut allow = (Vec::new(), Vec::new());
    let mut deny = (Vec::new(), Vec::new());
    for outer in 0..250u32 {
        let (mine, other) = if outer % 2 == 0 {
            (&mut deny, &mut allow)
        } else {
            (&mut allow, &mut deny)
        };
        mine.0.push(net(outer, None));
        other
            .1
            .extend([1, 7, 200].map(|inner| net(outer, Some(inner))));
    }
    let mut rules = Vec::new();
    for (action, cidrs) in [
        ("deny", deny.0),
        ("allow", allow.0),
        ("allow", allow.1),
        ("deny", deny.1),
    ] {
        for (i, chunk) in cidrs.chunks(250).enumerate() {
            rules.push(serde_json::json!({
                "name": format!("{action}-{}-{i}", chunk[0]),
                "cidrs": chunk,
                "action": action,
            }));
        }
    }
    let cidrs: usize = rules
        .iter()
        .map(|rule| rule["cidrs"].as_array().unwrap().len())
        .sum();
    assert_eq!(cidrs, 1000);
    serde_json::json!({"defaultAction": "deny", "rules": rules}).to_string()
}

fn auth_policies(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let baseline = service_fn(backend);

    let basic_spec: BasicAuthSpec =
        serde_json::from_value(serde_json::json!({ "users": [BCRYPT10, CAROL, BOB] })).unwrap();
    let Toggle::Enabled(basic_config) = basic_spec.compile(None).unwrap() else {
        panic!("enabled")
    };
    let basic_layer = BasicAuthLayer::new(basic_config);
    let basic = basic_layer.layer(service_fn(backend));

    let keys = api_keys();
    let entries = || {
        keys.iter().map(|(client, key)| SecretEntry {
            secret: "default/api-keys",
            client,
            key: key.as_bytes(),
        })
    };
    let api_spec: ApiKeyAuthSpec = serde_json::from_str(
        r#"{"secretRef": {"name": "api-keys"}, "clientIdHeader": "x-client-id",
            "keySources": [{"header": "x-api-key"}, {"query": "api_key"}]}"#,
    )
    .unwrap();
    let Toggle::Enabled(api_config) = api_spec.compile(entries()).unwrap() else {
        panic!("enabled")
    };
    let api_key = ApiKeyAuthLayer::new(api_config).layer(service_fn(backend));

    let acl = |v6: bool| {
        let spec: AclSpec = serde_json::from_str(&acl_json(v6)).unwrap();
        AclLayer::new(spec.compile().unwrap()).layer(service_fn(backend))
    };
    let acl_v4 = acl(false);
    let acl_v6 = acl(true);

    // Outside the timing: the layers do what the benches say they measure, and the slow
    // users' successes are cached.
    assert_eq!(probe(&rt, &basic, bcrypt_user()), StatusCode::OK);
    assert_eq!(probe(&rt, &basic, apr1_user()), StatusCode::OK);
    assert_eq!(probe(&rt, &basic, sha_user()), StatusCode::OK);
    assert_eq!(probe(&rt, &basic, plain()), StatusCode::UNAUTHORIZED);
    assert_eq!(basic_layer.stats().slow_verifications, 1);
    assert_eq!(probe(&rt, &api_key, key_in_header()), StatusCode::OK);
    assert_eq!(probe(&rt, &api_key, key_in_query()), StatusCode::OK);
    assert_eq!(
        probe(&rt, &api_key, unknown_key()),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(probe(&rt, &acl_v4, allowed_client()), StatusCode::OK);
    assert_eq!(probe(&rt, &acl_v4, denied_client()), StatusCode::FORBIDDEN);
    assert_eq!(probe(&rt, &acl_v6, v6_client()), StatusCode::OK);

    let mut group = c.benchmark_group("auth_policy");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench(&mut group, "baseline", &rt, baseline, plain);
    bench(
        &mut group,
        "basic_auth/bcrypt_cached",
        &rt,
        basic.clone(),
        bcrypt_user,
    );
    bench(
        &mut group,
        "basic_auth/apr1_cached",
        &rt,
        basic.clone(),
        apr1_user,
    );
    bench(&mut group, "basic_auth/sha", &rt, basic.clone(), sha_user);
    bench(&mut group, "basic_auth/missing", &rt, basic, plain);
    bench(
        &mut group,
        "api_key/header_of_1000",
        &rt,
        api_key.clone(),
        key_in_header,
    );
    bench(
        &mut group,
        "api_key/query_of_1000",
        &rt,
        api_key.clone(),
        key_in_query,
    );
    bench(&mut group, "api_key/unknown", &rt, api_key, unknown_key);
    bench(
        &mut group,
        "acl/1000_cidrs_allowed",
        &rt,
        acl_v4.clone(),
        allowed_client,
    );
    bench(
        &mut group,
        "acl/1000_cidrs_denied",
        &rt,
        acl_v4,
        denied_client,
    );
    bench(&mut group, "acl/1000_cidrs_v6", &rt, acl_v6, v6_client);
    group.finish();
    assert_eq!(
        basic_layer.stats().slow_verifications,
        1,
        "every bcrypt request was answered from the cache"
    );
}

criterion_group!(benches, auth_policies);
criterion_main!(benches);
