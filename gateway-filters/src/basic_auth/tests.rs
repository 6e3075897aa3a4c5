//! Hashes made by Apache's `htpasswd` 2.4 (`-B` bcrypt, `-s` SHA, `-m` APR1) and
//! OpenSSL's `passwd -apr1`, checked through the parser, the APR1 loop and the layer.

use base64::{Engine, engine::general_purpose::STANDARD};
use gateway_core::{HttpService, Request, Response, body};
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use std::convert::Infallible;
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::{compression::Toggle, spec::FieldError};

/// `htpasswd -B` (cost 5, its default) for `alice` / `alice-secret`.
const ALICE: &str = "alice:$2y$05$sE6NGgpwE6eTZis9gqipTuElOmEv2.jzeDpbHYUH1JiQzpOs0CjZK";
/// `htpasswd -B -C 10` for `bcrypt10` / `correct horse battery staple`.
const BCRYPT10: &str = "bcrypt10:$2y$10$w/fRoWryvW/2S6iQntqkjODegHXkdY5DeujV5/fr//tVknTwDiuTC";
/// `htpasswd -s` for `bob` / `bob:with:colons`.
const BOB: &str = "bob:{SHA}8aUnfNGKI8Dqt5dVwX6XWOY08h4=";
/// `htpasswd -m` for `carol` / `carol-apr1-password-longer-than-16`.
const CAROL: &str = "carol:$apr1$X54/m4K0$4H404cuBkR1EvT5CwKipb.";
/// `htpasswd -m` for `dave` / `d`.
const DAVE: &str = "dave:$apr1$Dn6tnfXY$UeUfcDTfySyN2yONZHcUQ/";
/// `htpasswd -m` for `eve` / `pässwörd` (UTF-8).
const EVE: &str = "eve:$apr1$d7HmlyUz$jIW3mBQpBjmXQfhEkkUtF.";
/// `htpasswd -s` for `frank` and an empty password.
const FRANK: &str = "frank:{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=";
/// `htpasswd -m` for `grace` and an empty password.
const GRACE: &str = "grace:$apr1$6M2zVh.5$uuWNC8Cj1RkJFaO/Pwjms/";

fn users() -> Htpasswd {
    Htpasswd::from_lines([ALICE, BOB, CAROL, DAVE, EVE, FRANK, GRACE]).unwrap()
}

#[test]
fn the_apr1_loop_matches_htpasswd_and_openssl() {
    for (salt, password, encoded) in [
        (
            "X54/m4K0",
            "carol-apr1-password-longer-than-16",
            "4H404cuBkR1EvT5CwKipb.",
        ),
        ("Dn6tnfXY", "d", "UeUfcDTfySyN2yONZHcUQ/"),
        ("d7HmlyUz", "pässwörd", "jIW3mBQpBjmXQfhEkkUtF."),
        ("6M2zVh.5", "", "uuWNC8Cj1RkJFaO/Pwjms/"),
        // openssl passwd -apr1 -salt abc short-salt
        ("abc", "short-salt", "tOdATswnOcypdPnIt1PN50"),
        // openssl passwd -apr1 -salt abcdefgh carol-apr1-password-longer-than-16
        (
            "abcdefgh",
            "carol-apr1-password-longer-than-16",
            "nDYTGM2a/Ck/fRoDt3p620",
        ),
    ] {
        let got = apr1::encode(password.as_bytes(), salt.as_bytes());
        assert_eq!(std::str::from_utf8(&got).unwrap(), encoded, "{password:?}");
    }
}

#[test]
fn htpasswd_hashes_verify_with_their_passwords_only() {
    let users = users();
    for (user, password) in [
        ("alice", "alice-secret"),
        ("bob", "bob:with:colons"),
        ("carol", "carol-apr1-password-longer-than-16"),
        ("dave", "d"),
        ("eve", "pässwörd"),
        ("frank", ""),
        ("grace", ""),
    ] {
        assert!(users.verify(user.as_bytes(), password.as_bytes()), "{user}");
        let wrong = format!("{password}x");
        assert!(!users.verify(user.as_bytes(), wrong.as_bytes()), "{user}");
        assert!(!users.verify(user.as_bytes(), b"alice-secret") || user == "alice");
    }
    assert!(!users.verify(b"mallory", b"alice-secret"));
    assert!(
        !users.verify(b"ALICE", b"alice-secret"),
        "user names are exact"
    );
    assert!(!users.verify(b"carol", b"carol-apr1-password-longer-than-1"));
}

#[test]
fn bcrypt_verifies_every_prefix_and_cost() {
    let hash = ALICE.strip_prefix("alice:").unwrap();
    for prefix in ["$2y$", "$2b$", "$2a$"] {
        let line = format!("alice:{prefix}{}", &hash[4..]);
        let users = Htpasswd::parse(&line).unwrap();
        assert!(users.verify(b"alice", b"alice-secret"), "{prefix}");
        assert!(!users.verify(b"alice", b"alice-secreT"), "{prefix}");
    }
    let users = Htpasswd::parse(BCRYPT10).unwrap();
    assert!(users.verify(b"bcrypt10", b"correct horse battery staple"));
}

#[test]
fn htpasswd_text_is_read_like_apache_and_kgateway() {
    let text = format!("# users\r\n\n  {ALICE}  \r\n{BOB}:extra field\n{ALICE}\n\n# end\n");
    let users = Htpasswd::parse(&text).unwrap();
    assert_eq!(users.users(), ["alice", "bob"]);
    assert!(users.verify(b"bob", b"bob:with:colons"));

    let error = |text: &str| Htpasswd::parse(text).unwrap_err();
    let different = format!("{ALICE}\n{}", BOB.replace("bob", "alice"));
    assert_eq!(
        error(&different),
        HtpasswdError {
            line: 2,
            user: Some("alice".into()),
            reason: "listed twice with different hashes".into()
        }
    );
    assert_eq!(error("# x\nno-colon-here").line, 2);
    assert_eq!(error("no-colon-here").user, None);
    assert!(
        error(":{SHA}8aUnfNGKI8Dqt5dVwX6XWOY08h4=")
            .reason
            .contains("empty user")
    );
    for (line, reason) in [
        ("plain:Pl41nT3xt", "unsupported hash"),
        ("crypt:Q7P6XoDsrEkVg", "unsupported hash"),
        ("md5:$1$abcdefgh$0123456789012345678901", "unsupported hash"),
        ("sha:{SHA}tooshort", "base64 of 20 bytes"),
        ("sha:{SHA}8aUnfNGKI8Dqt5dVwX6XWOY08h4", "base64 of 20 bytes"),
        ("apr:$apr1$abcdefghi$4H404cuBkR1EvT5CwKipb.", "1 to 8"),
        (
            "apr:$apr1$X54/m4K0$4H404cuBkR1EvT5CwKipb",
            "22 crypt base-64",
        ),
        (
            "apr:$apr1$X54/m4K0$4H404cuBkR1EvT5CwKip!.",
            "22 crypt base-64",
        ),
        ("apr:$apr1$nosalt", "$apr1$<salt>$<hash>"),
        ("b:$2y$05$tooshort", "well-formed bcrypt"),
        (
            "b:$2y$18$sE6NGgpwE6eTZis9gqipTuElOmEv2.jzeDpbHYUH1JiQzpOs0CjZK",
            "4 to 17",
        ),
        (
            "b:$2y$03$sE6NGgpwE6eTZis9gqipTuElOmEv2.jzeDpbHYUH1JiQzpOs0CjZK",
            "4 to 17",
        ),
    ] {
        let got = error(line);
        assert!(got.reason.contains(reason), "{line}: {got}");
        assert!(got.user.is_some(), "{line}");
        let hash = line.split_once(':').unwrap().1;
        assert!(!got.to_string().contains(hash), "{got} leaks the hash");
    }
}

#[test]
fn debug_and_config_dump_show_no_hash() {
    let config = BasicAuthConfig::new(users());
    let debug = format!("{config:?}");
    let dump = serde_json::to_string(&config).unwrap();
    for text in [&debug, &dump] {
        for secret in ["$2y$", "{SHA}", "$apr1$", "8aUnfNGKI8", "X54/m4K0"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert_eq!(
        serde_json::to_value(&config).unwrap(),
        serde_json::json!({
            "users": {"alice": "bcrypt", "bob": "sha1", "carol": "apr1", "dave": "apr1",
                      "eve": "apr1", "frank": "sha1", "grace": "apr1"},
            "forwardUsernameHeader": "x-envoy-basic-auth-user",
            "realm": "requestUri",
        })
    );
}

/// A backend answering with the forwarded user name.
fn backend()
-> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync
{
    service_fn(|request: Request| async move {
        let user = request
            .headers()
            .get_all("x-envoy-basic-auth-user")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(",");
        Ok::<_, Infallible>(Response::new(body::full(user)))
    })
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn request(authorization: &[&str]) -> Request {
    let mut builder = http::Request::builder()
        .uri("/admin/panel?tab=1")
        .header("host", "app.example");
    for value in authorization {
        builder = builder.header("authorization", *value);
    }
    builder.body(body::empty()).unwrap()
}

/// Status, body and challenge of one request through `layer`.
async fn send(layer: &BasicAuthLayer, request: Request) -> (u16, String, Option<String>) {
    let response = layer.layer(backend()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    if status == 401 {
        assert_eq!(response.headers()["content-type"], "text/plain");
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), challenge)
}

const REALM: &str = "Basic realm=\"http://app.example/admin/panel?tab=1\"";
const INVALID: &str = "User authentication failed. Invalid username/password combination.";

#[tokio::test]
async fn every_scheme_lets_its_user_in_and_forwards_the_name() {
    let layer = BasicAuthLayer::new(BasicAuthConfig::new(users()));
    for (user, password) in [
        ("alice", "alice-secret"),
        ("bob", "bob:with:colons"),
        ("carol", "carol-apr1-password-longer-than-16"),
        ("eve", "pässwörd"),
        ("frank", ""),
    ] {
        let got = send(&layer, request(&[&basic(user, password)])).await;
        assert_eq!(got, (200, user.to_owned(), None), "{user}");
    }
    assert_eq!(layer.stats().allowed, 5);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_are_challenged() {
    let layer = BasicAuthLayer::new(BasicAuthConfig::new(users()));
    for (user, password) in [
        ("alice", "alice-secreT"),
        ("bob", "bob"),
        ("bob", "bob:with:colons:"),
        ("carol", "carol"),
        ("frank", " "),
        ("mallory", "alice-secret"),
        ("", ""),
    ] {
        let got = send(&layer, request(&[&basic(user, password)])).await;
        assert_eq!(
            got,
            (401, INVALID.into(), Some(REALM.into())),
            "{user}:{password}"
        );
    }
    assert_eq!(layer.stats().denied, 7);
    assert_eq!(layer.stats().allowed, 0);
}

#[tokio::test]
async fn malformed_headers_get_envoys_reasons() {
    let layer = BasicAuthLayer::new(BasicAuthConfig::new(users()));
    let alice = STANDARD.encode("alice:alice-secret");
    let too_long = basic("alice", &"x".repeat(2000));
    let cases: &[(&[&str], u16, &str)] = &[
        (
            &[],
            401,
            "User authentication failed. Missing username and password.",
        ),
        (
            &["Bearer abc"],
            401,
            "User authentication failed. Expected 'Basic' authentication scheme.",
        ),
        (
            &["Basic"],
            401,
            "User authentication failed. Expected 'Basic' authentication scheme.",
        ),
        (
            &["Basic !!!not base64!!!"],
            401,
            "User authentication failed. Invalid basic credential format.",
        ),
        (
            // "alice" without a colon
            &["Basic YWxpY2U="],
            401,
            "User authentication failed. Invalid basic credential format.",
        ),
        (
            &["Basic "],
            401,
            "User authentication failed. Invalid basic credential format.",
        ),
        (
            &[&too_long],
            401,
            "User authentication failed. Invalid basic credential format.",
        ),
    ];
    for (headers, status, body) in cases {
        let got = send(&layer, request(headers)).await;
        assert_eq!(
            got,
            (*status, (*body).into(), Some(REALM.into())),
            "{headers:?}"
        );
    }
    // The scheme in any case, padding optional, spaces around the token.
    let unpadded = format!("basic {}", alice.trim_end_matches('='));
    let spaced = format!("BASIC   {alice}  ");
    for header in [unpadded.as_str(), spaced.as_str()] {
        let got = send(&layer, request(&[header])).await;
        assert_eq!(got.0, 200, "{header}");
    }
    // Only the first Authorization header counts.
    let first_bad = send(
        &layer,
        request(&["Bearer x", &basic("bob", "bob:with:colons")]),
    )
    .await;
    assert_eq!(first_bad.0, 401);
    let first_good = send(
        &layer,
        request(&[&basic("bob", "bob:with:colons"), "Bearer x"]),
    )
    .await;
    assert_eq!(first_good.0, 200);
}

#[tokio::test]
async fn a_forged_user_header_is_replaced() {
    let layer = BasicAuthLayer::new(BasicAuthConfig::new(users()));
    let mut forged = request(&[&basic("bob", "bob:with:colons")]);
    forged
        .headers_mut()
        .append("x-envoy-basic-auth-user", HeaderValue::from_static("admin"));
    forged
        .headers_mut()
        .append("x-envoy-basic-auth-user", HeaderValue::from_static("root"));
    assert_eq!(send(&layer, forged).await.1, "bob");
    let mut config = BasicAuthConfig::new(users());
    config.forward_username_header = None;
    let quiet = BasicAuthLayer::new(config);
    assert_eq!(
        send(&quiet, request(&[&basic("bob", "bob:with:colons")]))
            .await
            .1,
        ""
    );
}

#[tokio::test]
async fn bcrypt_successes_are_cached_and_failures_never() {
    let layer = BasicAuthLayer::new(BasicAuthConfig::new(users()));
    let right = || request(&[&basic("alice", "alice-secret")]);
    let wrong = || request(&[&basic("alice", "alice-secret ")]);

    assert_eq!(send(&layer, right()).await.0, 200);
    assert_eq!(layer.stats().slow_verifications, 1);
    for _ in 0..3 {
        assert_eq!(send(&layer, right()).await.0, 200);
    }
    assert_eq!(
        layer.stats().slow_verifications,
        1,
        "answered from the cache"
    );
    for expected in 2..=4 {
        assert_eq!(send(&layer, wrong()).await.0, 401);
        assert_eq!(layer.stats().slow_verifications, expected, "never cached");
    }
    // Another layer (a new policy) starts with an empty cache.
    let fresh = BasicAuthLayer::new(BasicAuthConfig::new(users()));
    assert_eq!(send(&fresh, right()).await.0, 200);
    assert_eq!(fresh.stats().slow_verifications, 1);
    // Cheap schemes never go to the pool.
    send(
        &layer,
        request(&[&basic("carol", "carol-apr1-password-longer-than-16")]),
    )
    .await;
    send(&layer, request(&[&basic("bob", "bob:with:colons")])).await;
    assert_eq!(layer.stats().slow_verifications, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bcrypt_requests_all_get_their_answer() {
    let layer = BasicAuthLayer::new(BasicAuthConfig::new(users()));
    let service = layer.layer(backend());
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let password = if i % 2 == 0 { "alice-secret" } else { "nope" };
            tokio::spawn(
                service
                    .clone()
                    .oneshot(request(&[&basic("alice", password)])),
            )
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 401].repeat(8));
    assert_eq!(layer.stats().allowed, 8);
    assert_eq!(layer.stats().denied, 8);
}

#[tokio::test]
async fn the_realm_is_the_request_url_or_a_fixed_one() {
    let layer = BasicAuthLayer::new(BasicAuthConfig::new(users()));
    let long_path = format!("/{}", "a".repeat(300));
    let request = http::Request::builder()
        .uri(long_path.as_str())
        .header("host", "app.example:8443")
        .header("x-forwarded-proto", "https")
        .body(body::empty())
        .unwrap();
    let challenge = send(&layer, request).await.2.unwrap();
    assert_eq!(
        challenge,
        format!(
            "Basic realm=\"https://app.example:8443{}\"",
            &long_path[..256]
        )
    );

    let mut config = BasicAuthConfig::new(users());
    config.realm = Realm::fixed("Staff only").unwrap();
    let layer = BasicAuthLayer::new(config);
    let got = send(&layer, super::tests::request(&[])).await;
    assert_eq!(got.2.as_deref(), Some("Basic realm=\"Staff only\""));
    assert_eq!(Realm::fixed("say \"hi\""), None);
    assert_eq!(Realm::fixed("line\nbreak"), None);
}

#[tokio::test]
async fn works_as_an_erased_proxy_service() {
    let service =
        HttpService::new(BasicAuthLayer::new(BasicAuthConfig::new(users())).layer(backend()));
    let response = service
        .call_shared(request(&[&basic("alice", "alice-secret")]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = service.call_shared(request(&[])).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

fn compile(json: &str, secret: Option<&[u8]>) -> Result<Toggle<BasicAuthConfig>, FieldError> {
    serde_json::from_str::<BasicAuthSpec>(json)
        .unwrap()
        .compile(secret)
}

#[test]
fn spec_reads_inline_users_and_secret_data() {
    let inline = serde_json::json!({ "users": [ALICE, BOB] }).to_string();
    let Toggle::Enabled(config) = compile(&inline, None).unwrap() else {
        panic!("enabled")
    };
    assert_eq!(config.users.users(), ["alice", "bob"]);
    assert_eq!(
        config.forward_username_header,
        Some(BasicAuthConfig::FORWARD_USERNAME_HEADER)
    );

    let secret = format!("\n{CAROL}\n# comment\n{DAVE}\n\n");
    let Toggle::Enabled(config) = compile(
        r#"{"secretRef": {"name": "htpasswd"}}"#,
        Some(secret.as_bytes()),
    )
    .unwrap() else {
        panic!("enabled")
    };
    assert!(config.users.verify(b"dave", b"d"));

    let spec: BasicAuthSpec =
        serde_json::from_str(r#"{"secretRef": {"name": "s", "namespace": "auth"}}"#).unwrap();
    assert_eq!(spec.secret_ref.as_ref().unwrap().key(), ".htpasswd");
    let spec: BasicAuthSpec =
        serde_json::from_str(r#"{"secretRef": {"name": "s", "key": "users"}}"#).unwrap();
    assert_eq!(spec.secret_ref.as_ref().unwrap().key(), "users");

    assert_eq!(
        compile(r#"{"disable": {}}"#, None).unwrap(),
        Toggle::Disabled
    );
}

#[test]
fn spec_errors_name_the_field_and_user_but_no_hash() {
    let too_many = serde_json::json!({ "users": vec![BOB; 257] }).to_string();
    let plain = serde_json::json!({ "users": [ALICE, "plain:Pl41nT3xt"] }).to_string();
    let two_lines = serde_json::json!({ "users": [format!("{ALICE}\n{BOB}")] }).to_string();
    let both = serde_json::json!({ "users": [ALICE], "secretRef": {"name": "s"} }).to_string();
    let secret_ref = r#"{"secretRef": {"name": "s"}}"#;
    for (json, secret, field, reason) in [
        ("{}", None, "", "exactly one of"),
        (both.as_str(), None, "", "exactly one of"),
        (too_many.as_str(), None, "users", "at most 256"),
        (
            plain.as_str(),
            None,
            "users[1]",
            "user \"plain\": unsupported hash",
        ),
        (two_lines.as_str(), None, "users[0]", "one entry per item"),
        (secret_ref, None, "secretRef", "not found"),
        (secret_ref, Some(&b" \n "[..]), "secretRef", "empty"),
        (
            secret_ref,
            Some(&b"# only comments"[..]),
            "secretRef",
            "no users",
        ),
        (
            secret_ref,
            Some(&[0xff, 0xfe][..]),
            "secretRef",
            "not UTF-8",
        ),
        (
            secret_ref,
            Some(
                b"alice:$2y$05$sE6NGgpwE6eTZis9gqipTuElOmEv2.jzeDpbHYUH1JiQzpOs0CjZK\nx:Pl41nT3xt",
            ),
            "secretRef",
            "line 2 (user \"x\"): unsupported hash",
        ),
    ] {
        let error = compile(json, secret).unwrap_err();
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
        for secret in ["sE6NGgpwE6e", "Pl41nT3xt"] {
            assert!(!error.to_string().contains(secret), "{error}");
        }
    }
}
