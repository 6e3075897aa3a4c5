use gateway_core::{HttpService, Request, Response, body};
use http::StatusCode;
use http_body_util::BodyExt;
use std::convert::Infallible;
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::{compression::Toggle, spec::FieldError};

/// The Secret `default/api-keys`.
const SECRET: &[(&str, &str)] = &[
    ("client1", "k-123"),
    ("client2", "k-456"),
    ("client3", "k+7/8="),
];

fn entries(secret: &'static [(&str, &str)]) -> impl Iterator<Item = SecretEntry<'static>> {
    secret.iter().map(|(client, key)| SecretEntry {
        secret: "default/api-keys",
        client,
        key: key.as_bytes(),
    })
}

fn compile(json: &str) -> ApiKeyAuthConfig {
    let spec: ApiKeyAuthSpec = serde_json::from_str(json).unwrap();
    let Toggle::Enabled(config) = spec.compile(entries(SECRET)).unwrap() else {
        panic!("enabled")
    };
    config
}

/// What the backend saw: `client id|headers it cares about|path and query`.
fn backend()
-> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync
{
    service_fn(|request: Request| async move {
        let header = |name: &str| {
            request
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(",")
        };
        let seen = format!(
            "{}|api-key={} x-api-key={} authorization={} cookie={}|{}",
            header("x-client-id"),
            header("api-key"),
            header("x-api-key"),
            header("authorization"),
            header("cookie"),
            request.uri().path_and_query().unwrap(),
        );
        Ok::<_, Infallible>(Response::new(body::full(seen)))
    })
}

fn request(uri: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = http::Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body::empty()).unwrap()
}

async fn send(layer: &ApiKeyAuthLayer, request: Request) -> (u16, String) {
    let response = layer.layer(backend()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    if status == 401 {
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert!(response.headers().get("www-authenticate").is_none());
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

const DENIED: (u16, &str) = (401, "Client authentication failed.");

fn denied() -> (u16, String) {
    (DENIED.0, DENIED.1.to_owned())
}

/// A request (URI and headers) and what the backend sees of it.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

const ALL_SOURCES: &str = r#"{"secretRef": {"name": "api-keys"}, "clientIdHeader": "x-client-id",
    "keySources": [
        {"header": "x-api-key"},
        {"query": "api_key"},
        {"header": "authorization", "query": "token", "cookie": "auth_token"}]}"#;

#[tokio::test]
async fn keys_are_read_from_each_kind_of_source() {
    let layer = ApiKeyAuthLayer::new(compile(ALL_SOURCES));
    let cases: &[Case<'_>] = &[
        (
            "/a",
            &[("x-api-key", "k-123")],
            "client1|api-key= x-api-key= authorization= cookie=|/a",
        ),
        (
            "/a",
            &[("x-api-key", "Bearer k-456")],
            "client2|api-key= x-api-key= authorization= cookie=|/a",
        ),
        (
            "/a?api_key=k-123&page=2",
            &[],
            "client1|api-key= x-api-key= authorization= cookie=|/a?page=2",
        ),
        // Percent-encoded; a '+' is a '+'.
        (
            "/a?api_key=k%2B7%2F8%3D",
            &[],
            "client3|api-key= x-api-key= authorization= cookie=|/a",
        ),
        (
            "/a?api_key=k+7/8=",
            &[],
            "client3|api-key= x-api-key= authorization= cookie=|/a",
        ),
        (
            "/a",
            &[("authorization", "Bearer k-456")],
            "client2|api-key= x-api-key= authorization= cookie=|/a",
        ),
        (
            "/a?token=k-456",
            &[],
            "client2|api-key= x-api-key= authorization= cookie=|/a",
        ),
        (
            "/a",
            &[("cookie", "theme=dark; auth_token=k-123; lang=en")],
            "client1|api-key= x-api-key= authorization= cookie=theme=dark; lang=en|/a",
        ),
        (
            "/a",
            &[("cookie", "auth_token=\"k-456\"")],
            "client2|api-key= x-api-key= authorization= cookie=|/a",
        ),
    ];
    for (uri, headers, seen) in cases {
        assert_eq!(
            send(&layer, request(uri, headers)).await,
            (200, (*seen).to_owned()),
            "{uri} {headers:?}"
        );
    }
    assert_eq!(layer.stats().allowed, u64::try_from(cases.len()).unwrap());
}

#[tokio::test]
async fn sources_are_tried_in_order_and_the_first_value_decides() {
    let layer = ApiKeyAuthLayer::new(compile(ALL_SOURCES));
    // An earlier source wins, even with a wrong key: there is no second chance.
    assert_eq!(
        send(
            &layer,
            request("/a?api_key=k-123", &[("x-api-key", "wrong")])
        )
        .await,
        denied()
    );
    let got = send(
        &layer,
        request("/a?api_key=k-123", &[("x-api-key", "k-456")]),
    )
    .await;
    assert!(got.1.starts_with("client2|"), "{got:?}");
    // Within a source: header, then query, then cookie.
    let got = send(
        &layer,
        request(
            "/a?token=k-456",
            &[("authorization", "k-123"), ("cookie", "auth_token=nope")],
        ),
    )
    .await;
    assert!(got.1.starts_with("client1|"), "{got:?}");
    let got = send(
        &layer,
        request("/a?token=k-456", &[("cookie", "auth_token=nope")]),
    )
    .await;
    assert!(got.1.starts_with("client2|"), "{got:?}");
    // Empty values count as missing.
    let got = send(
        &layer,
        request("/a?api_key=&token=k-456", &[("x-api-key", "")]),
    )
    .await;
    assert!(got.1.starts_with("client2|"), "{got:?}");
    let got = send(
        &layer,
        request(
            "/a",
            &[("x-api-key", "Bearer "), ("cookie", "auth_token=k-123")],
        ),
    )
    .await;
    assert!(got.1.starts_with("client1|"), "{got:?}");
    // The first occurrence of a query parameter is the one read.
    assert_eq!(
        send(&layer, request("/a?api_key=bad&api_key=k-123", &[])).await,
        denied()
    );
}

#[tokio::test]
async fn missing_and_unknown_keys_get_401() {
    let layer = ApiKeyAuthLayer::new(compile(ALL_SOURCES));
    for (uri, headers) in [
        ("/a", &[][..]),
        ("/a", &[("x-api-key", "k-12")][..]),
        ("/a", &[("x-api-key", "k-1234")][..]),
        ("/a", &[("x-api-key", "K-123")][..]),
        ("/a", &[("x-api-key", "bearer k-123")][..]),
        ("/a?api_key=k-123x", &[][..]),
        ("/a?apikey=k-123", &[][..]),
        ("/a", &[("cookie", "other=k-123")][..]),
    ] {
        assert_eq!(
            send(&layer, request(uri, headers)).await,
            denied(),
            "{uri} {headers:?}"
        );
    }
    assert_eq!(
        layer.stats(),
        ApiKeyAuthStats {
            allowed: 0,
            unauthorized: 8
        }
    );
}

#[tokio::test]
async fn the_default_source_is_the_api_key_header() {
    let layer = ApiKeyAuthLayer::new(compile(r#"{"secretRef": {"name": "api-keys"}}"#));
    assert_eq!(
        send(
            &layer,
            request("/a", &[("api-key", "k-123"), ("x-client-id", "forged")])
        )
        .await,
        (
            200,
            "forged|api-key= x-api-key= authorization= cookie=|/a".into()
        ),
        "stripped; no client id header configured, so the client's own passes"
    );
    assert_eq!(
        send(
            &layer,
            request("/a?api-key=k-123", &[("x-api-key", "k-123")])
        )
        .await,
        denied()
    );
}

#[tokio::test]
async fn every_configured_source_is_stripped_unless_forwarded() {
    let layer = ApiKeyAuthLayer::new(compile(ALL_SOURCES));
    let everywhere = || {
        request(
            "/a?token=t&keep=1&api_key=x&api%5Fkey=y&api_key",
            &[
                ("x-api-key", "k-123"),
                ("authorization", "Bearer other"),
                ("cookie", "auth_token=a; keep=me"),
                ("cookie", "auth_token=b"),
                ("x-client-id", "forged"),
            ],
        )
    };
    assert_eq!(
        send(&layer, everywhere()).await,
        (
            200,
            "client1|api-key= x-api-key= authorization= cookie=keep=me|/a?keep=1".into()
        )
    );
    let mut config = compile(ALL_SOURCES);
    config.forward_credential = true;
    let forward = ApiKeyAuthLayer::new(config);
    assert_eq!(
        send(&forward, everywhere()).await,
        (
            200,
            "client1|api-key= x-api-key=k-123 authorization=Bearer other \
             cookie=auth_token=a; keep=me,auth_token=b\
             |/a?token=t&keep=1&api_key=x&api%5Fkey=y&api_key"
                .into()
        )
    );
    // Nothing to strip: the query is left exactly as written.
    assert_eq!(
        send(&layer, request("/a?b=1&&c=%20", &[("x-api-key", "k-456")]))
            .await
            .1,
        "client2|api-key= x-api-key= authorization= cookie=|/a?b=1&&c=%20"
    );
}

#[tokio::test]
async fn a_thousand_keys_find_their_clients_and_nothing_else() {
    let pairs: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("client-{i:04}"), format!("key-{i:04}-{}", i * 7919)))
        .collect();
    let keys = ApiKeys::new(pairs.iter().map(|(c, k)| (c.as_str(), k.as_bytes()))).unwrap();
    assert_eq!(keys.len(), 1000);
    for (client, key) in pairs.iter().step_by(37) {
        assert_eq!(keys.client(key.as_bytes()), Some(client.as_str()));
        let mut near = key.clone().into_bytes();
        *near.last_mut().unwrap() ^= 1;
        assert_eq!(keys.client(&near), None);
        assert_eq!(keys.client(&key.as_bytes()[..key.len() - 1]), None);
        assert_eq!(keys.client(format!("{key}0").as_bytes()), None);
    }
    assert_eq!(keys.client(b""), None);
}

#[test]
fn key_tables_compare_by_content_and_show_no_key() {
    let a = ApiKeys::new([("a", &b"secret-1"[..]), ("b", b"secret-2")]).unwrap();
    let b = ApiKeys::new([
        ("b", &b"secret-2"[..]),
        ("a", b"secret-1"),
        ("a", b"secret-1"),
    ])
    .unwrap();
    let c = ApiKeys::new([("a", &b"secret-1"[..]), ("b", b"secret-3")]).unwrap();
    assert_eq!(a, b, "same content, different salts");
    assert_ne!(a, c);
    assert_eq!(
        ApiKeys::new([("a", &b"same"[..]), ("b", b"same")]).unwrap_err(),
        ApiKeysError::Shared("a".into(), "b".into())
    );
    assert_eq!(
        ApiKeys::new([("a", &b""[..])]).unwrap_err(),
        ApiKeysError::Empty("a".into())
    );
    assert_eq!(
        ApiKeys::new([("a\nb", &b"k"[..])]).unwrap_err(),
        ApiKeysError::ClientId("a\nb".into())
    );
    let mut config = ApiKeyAuthConfig::new(a);
    config.client_id_header = Some("x-client-id".parse().unwrap());
    let debug = format!("{config:?}");
    let dump = serde_json::to_value(&config).unwrap();
    assert!(!debug.contains("secret-"), "{debug}");
    assert!(!dump.to_string().contains("secret-"), "{dump}");
    assert_eq!(
        dump,
        serde_json::json!({
            "keys": {"keys": 2, "clients": ["a", "b"]},
            "keySources": [{"header": "api-key"}],
            "forwardCredential": false,
            "clientIdHeader": "x-client-id",
        })
    );
}

#[tokio::test]
async fn works_as_an_erased_proxy_service() {
    let service = HttpService::new(ApiKeyAuthLayer::new(compile(ALL_SOURCES)).layer(backend()));
    let response = service
        .call_shared(request("/a", &[("x-api-key", "k-123")]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = service.call_shared(request("/a", &[])).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

fn compile_with(
    json: &str,
    entries: &[SecretEntry<'_>],
) -> Result<Toggle<ApiKeyAuthConfig>, FieldError> {
    serde_json::from_str::<ApiKeyAuthSpec>(json)
        .unwrap()
        .compile(entries.iter().copied())
}

fn entry<'a>(secret: &'a str, client: &'a str, key: &'a str) -> SecretEntry<'a> {
    SecretEntry {
        secret,
        client,
        key: key.as_bytes(),
    }
}

#[test]
fn spec_reads_kgateway_fields_and_secrets() {
    let config = compile(ALL_SOURCES);
    assert_eq!(
        config.key_sources,
        [
            KeySource::header("x-api-key".parse().unwrap()),
            KeySource {
                query: Some("api_key".into()),
                ..KeySource::default()
            },
            KeySource {
                header: Some("authorization".parse().unwrap()),
                query: Some("token".into()),
                cookie: Some("auth_token".into()),
            },
        ]
    );
    assert!(!config.forward_credential);
    assert_eq!(
        config.client_id_header,
        Some("x-client-id".parse().unwrap())
    );

    // Selected Secrets: empty values skipped, the same credential twice kept once.
    let selected = [
        entry("a/one", "alice", "k-1"),
        entry("b/copy", "alice", "k-1"),
        entry("b/copy", "bob", ""),
        entry("b/copy", "carol", "k-3"),
    ];
    let Toggle::Enabled(config) = compile_with(
        r#"{"secretSelector": {"matchLabels": {"team": "a"}}, "forwardCredential": true}"#,
        &selected,
    )
    .unwrap() else {
        panic!("enabled")
    };
    assert!(config.forward_credential);
    assert_eq!(
        config.keys.clients().collect::<Vec<_>>(),
        ["alice", "carol"]
    );
    assert_eq!(config.keys.client(b"k-3"), Some("carol"));

    assert_eq!(
        compile_with(r#"{"disable": {}}"#, &[]).unwrap(),
        Toggle::Disabled
    );
    let spec: ApiKeyAuthSpec =
        serde_json::from_str(r#"{"secretSelector": {"matchLabels": {"app": "x"}}}"#).unwrap();
    assert_eq!(spec.secret_selector.unwrap().match_labels["app"], "x");
}

#[test]
fn spec_errors_name_the_field_and_never_a_key() {
    let one = [entry("ns/s", "a", "k-1")];
    let shared = [
        entry("ns/one", "alice", "the-key"),
        entry("ns/two", "bob", "the-key"),
    ];
    let seventeen = format!(
        r#"{{"secretRef": {{"name": "s"}}, "keySources": [{}]}}"#,
        vec![r#"{"header": "x"}"#; 17].join(",")
    );
    let long = format!(
        r#"{{"secretRef": {{"name": "s"}}, "keySources": [{{"cookie": "{}"}}]}}"#,
        "c".repeat(257)
    );
    for (json, entries, field, reason) in [
        ("{}", &one[..], "", "exactly one of"),
        (
            r#"{"secretRef": {"name": "s"}, "secretSelector": {"matchLabels": {}}}"#,
            &one[..],
            "",
            "exactly one of",
        ),
        (seventeen.as_str(), &one[..], "keySources", "at most 16"),
        (
            r#"{"secretRef": {"name": "s"}, "keySources": [{"header": "x"}, {}]}"#,
            &one[..],
            "keySources[1]",
            "at least one of",
        ),
        (
            r#"{"secretRef": {"name": "s"}, "keySources": [{"query": ""}]}"#,
            &one[..],
            "keySources[0].query",
            "1 to 256",
        ),
        (long.as_str(), &one[..], "keySources[0].cookie", "1 to 256"),
        (
            r#"{"secretRef": {"name": "s"}, "keySources": [{"header": "bad header"}]}"#,
            &one[..],
            "keySources[0].header",
            "not a header name",
        ),
        (
            r#"{"secretRef": {"name": "s"}, "clientIdHeader": "x client"}"#,
            &one[..],
            "clientIdHeader",
            "not a header name",
        ),
        (
            r#"{"secretRef": {"name": "s", "kind": "ConfigMap"}}"#,
            &one[..],
            "secretRef",
            "core Secret",
        ),
        (
            r#"{"secretRef": {"name": "s"}}"#,
            &[],
            "secretRef",
            "no API keys",
        ),
        (
            r#"{"secretSelector": {"matchLabels": {}}}"#,
            &[entry("ns/s", "a", "")],
            "secretSelector",
            "no API keys",
        ),
        (
            r#"{"secretSelector": {"matchLabels": {}}}"#,
            &shared[..],
            "secretSelector",
            "shared by client \"alice\" in Secret ns/one and client \"bob\" in Secret ns/two",
        ),
    ] {
        let error = compile_with(json, entries).unwrap_err();
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
        assert!(!error.to_string().contains("the-key"), "{error}");
    }
}
