//! The gateway serving real traffic: YAML in, a runtime on loopback, real hyper backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway_core::test_util::{self_signed, spawn_echo_named};
use http::StatusCode;
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};
use support::{
    apply,
    client::{Connection, get},
    gateway, route, runtime, service, tls_secret,
};

use gateway_routes::fixtures::HTTP_LISTENER;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn routes_by_host_and_prefix_to_real_backends() {
    let (one, two) = (spawn_echo_named("one").await, spawn_echo_named("two").await);
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &service("two", two)
        + &route("r1", "a.example", "/", "one")
        + &route("r2", "a.example", "/two", "two")
        + &route("r3", "*.wild.example", "/", "two");
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());

    let answer = get(addr, "a.example", "/x").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.echo()["name"], "one");
    assert_eq!(get(addr, "a.example", "/two/y").await.echo()["name"], "two");
    assert_eq!(
        get(addr, "A.Example:80", "/twox").await.echo()["name"],
        "one"
    );
    assert_eq!(get(addr, "x.wild.example", "/").await.echo()["name"], "two");
    assert_eq!(
        get(addr, "b.example", "/").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn forwarded_headers_are_set() {
    let one = spawn_echo_named("one").await;
    let yaml = gateway(HTTP_LISTENER) + &service("one", one) + &route("r", "a.example", "/", "one");
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());
    let echo = get(addr, "a.example", "/").await.echo();
    let headers = &echo["headers"];
    assert_eq!(headers["x-forwarded-for"][0], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"][0], "http");
    assert_eq!(echo["host"], "a.example");
}

#[tokio::test]
async fn invalid_backend_answers_500_and_empty_service_503() {
    let yaml = gateway(HTTP_LISTENER)
        + &route("missing", "a.example", "/", "does-not-exist")
        + "---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  ports: [{name: http, port: 80}]
" + &route("empty", "b.example", "/", "empty");
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());
    assert_eq!(
        get(addr, "a.example", "/").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(addr, "b.example", "/").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_traffic_loses_no_request() {
    let (one, two) = (spawn_echo_named("one").await, spawn_echo_named("two").await);
    let base = gateway(HTTP_LISTENER) + &service("one", one) + &service("two", two);
    let config_one = base.clone() + &route("r", "a.example", "/", "one");
    let config_two = base + &route("r", "a.example", "/", "two");
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &config_one, loopback());

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let seen_two = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, failures, seen_two) = (stop.clone(), failures.clone(), seen_two.clone());
        clients.push(tokio::spawn(async move {
            // One keep-alive connection per client: reloads must not break it.
            let mut connection = Connection::h1(addr).await;
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                match connection.get("a.example", "/").await {
                    Ok(answer) if answer.status == StatusCode::OK => {
                        if answer.echo()["name"] == "two" {
                            seen_two.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                sent += 1;
            }
            sent
        }));
    }
    for round in 0..40 {
        let yaml = if round % 2 == 0 {
            &config_two
        } else {
            &config_one
        };
        assert_eq!(
            apply(&runtime, yaml, loopback()),
            addr,
            "the socket is never rebound"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for client in clients {
        sent += client.await.unwrap();
    }
    assert!(
        sent > 40,
        "traffic ran during the reloads ({sent} requests)"
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0, "of {sent} requests");
    assert!(
        seen_two.load(Ordering::Relaxed) > 0,
        "the new config served traffic"
    );
}

#[tokio::test]
async fn removed_listener_stops_accepting_and_new_one_binds() {
    let one = spawn_echo_named("one").await;
    let yaml = gateway(HTTP_LISTENER) + &service("one", one) + &route("r", "a.example", "/", "one");
    let first: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let runtime = runtime(&[80], first);
    let addr = apply(&runtime, &yaml, first);
    assert_eq!(get(addr, "a.example", "/").await.status, StatusCode::OK);
    // The Gateway goes away: the socket closes.
    runtime.apply(&support::snapshot(&service("one", one)));
    assert!(runtime.sockets().local_addr(first).is_none());
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "the removed listener still accepts");
}

#[tokio::test]
async fn tls_picks_the_certificate_by_sni_and_serves_h1_and_h2() {
    let one = spawn_echo_named("one").await;
    let (cert_a, cert_b) = (self_signed(&["a.example"]), self_signed(&["b.example"]));
    let listeners = "  - name: a
    port: 443
    protocol: HTTPS
    hostname: a.example
    tls: {certificateRefs: [{name: cert-a}]}
  - name: b
    port: 443
    protocol: HTTPS
    hostname: b.example
    tls: {certificateRefs: [{name: cert-b}]}";
    let yaml = gateway(listeners)
        + &tls_secret("cert-a", &cert_a)
        + &tls_secret("cert-b", &cert_b)
        + &service("one", one)
        + &route("ra", "a.example", "/", "one")
        + &route("rb", "b.example", "/", "one");
    let runtime = runtime(&[443], loopback());
    let addr = apply(&runtime, &yaml, loopback());

    for (host, cert) in [("a.example", &cert_a), ("b.example", &cert_b)] {
        for alpn in [&b"http/1.1"[..], &b"h2"[..]] {
            let config = gateway_core::test_util::tls_client_config(
                std::slice::from_ref(&cert.der),
                &[alpn],
            );
            let connector = tokio_rustls::TlsConnector::from(config);
            let name = rustls_pki_types::ServerName::try_from(host.to_owned()).unwrap();
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let tls = connector
                .connect(name, tcp)
                .await
                .unwrap_or_else(|e| panic!("handshake for {host} trusting only its cert: {e}"));
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
            let mut connection = if alpn == b"h2" {
                Connection::h2_over(tls).await
            } else {
                Connection::h1_over(tls).await
            };
            let answer = connection.get(host, "/").await.unwrap();
            assert_eq!(answer.status, StatusCode::OK, "{host} over {alpn:?}");
            assert_eq!(answer.echo()["headers"]["x-forwarded-proto"][0], "https");
        }
    }
    // The certificate of `a.example` is not offered for `b.example`.
    let config = gateway_core::test_util::tls_client_config(
        std::slice::from_ref(&cert_a.der),
        &[b"http/1.1"],
    );
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = rustls_pki_types::ServerName::try_from("b.example").unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(connector.connect(name, tcp).await.is_err());
}

#[tokio::test]
async fn plaintext_http2_with_prior_knowledge() {
    let one = spawn_echo_named("one").await;
    let yaml = gateway(HTTP_LISTENER) + &service("one", one) + &route("r", "a.example", "/", "one");
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());
    let mut connection = Connection::h2(addr).await;
    for _ in 0..3 {
        let answer = connection.get("a.example", "/h2").await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.echo()["path"], "/h2");
    }
    assert_eq!(
        connection.get("nobody.example", "/").await.unwrap().status,
        StatusCode::NOT_FOUND
    );
}
