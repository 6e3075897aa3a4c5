//! The trusted client address for Envoy's documented examples, the fallbacks, the CIDR
//! mode and the `X-Forwarded-For` sent upstream, in unit tests and behind the real
//! listener.

use gateway_core::{
    HttpService, Limits, Request, Response, body,
    extensions::{ClientAddr, ConnectionInfo},
    listener::{SocketManager, SocketState},
    test_util::http1_client,
};
use http::{HeaderValue, StatusCode};
use std::{collections::HashMap, convert::Infallible, net::SocketAddr};
use tower::{Layer, ServiceExt, service_fn};

use super::*;

/// What the backend sees: the client address and the `X-Forwarded-For` lines.
async fn through(
    config: ClientAddrConfig,
    peer: &str,
    xff: &[&str],
) -> (Option<String>, Vec<String>) {
    let backend = service_fn(|request: http::Request<()>| async move {
        let client = request
            .extensions()
            .get::<ClientAddr>()
            .map(|c| c.0.to_string());
        let xff = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        Ok::<_, Infallible>(http::Response::new((client, xff)))
    });
    let mut request = http::Request::new(());
    for line in xff {
        request
            .headers_mut()
            .append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
    }
    request.extensions_mut().insert(ConnectionInfo {
        remote_addr: SocketAddr::new(peer.parse().unwrap(), 50000),
        local_addr: "10.0.0.1:8080".parse().unwrap(),
        tls: false,
        server_name: None,
    });
    ClientAddrLayer::new(config)
        .layer(backend)
        .oneshot(request)
        .await
        .unwrap()
        .into_body()
}

/// As gateway-core's listener hands requests over: `arrived` with the peer appended.
async fn behind_listener(
    config: ClientAddrConfig,
    peer: &str,
    arrived: Option<&str>,
) -> (Option<String>, Vec<String>) {
    let appended = match arrived {
        Some(arrived) => format!("{arrived}, {peer}"),
        None => peer.to_owned(),
    };
    through(config, peer, &[&appended]).await
}

fn config(use_remote_address: bool, trust: XffTrust) -> ClientAddrConfig {
    let spec = ClientAddrSpec {
        use_remote_address: Some(use_remote_address),
        ..ClientAddrSpec::default()
    };
    ClientAddrConfig {
        trust,
        ..spec.compile().unwrap()
    }
}

const XFF: &str = "203.0.113.128, 203.0.113.10, 203.0.113.1";

#[tokio::test]
async fn envoy_example_1_edge_proxy_ignores_xff_and_appends_the_peer() {
    let (client, xff) =
        behind_listener(config(true, XffTrust::Hops(0)), "192.0.2.5", Some(XFF)).await;
    assert_eq!(client.as_deref(), Some("192.0.2.5"));
    assert_eq!(xff, [format!("{XFF}, 192.0.2.5")]);
}

#[tokio::test]
async fn envoy_example_2_internal_proxy_trusts_the_last_entry_transparently() {
    let arrived = format!("{XFF}, 192.0.2.5");
    let (client, xff) = behind_listener(
        config(false, XffTrust::Hops(0)),
        "10.11.12.13",
        Some(&arrived),
    )
    .await;
    assert_eq!(client.as_deref(), Some("192.0.2.5"));
    assert_eq!(xff, [arrived], "transparent: XFF leaves as it came");
}

#[tokio::test]
async fn envoy_example_3_edge_proxy_behind_two_trusted_hops() {
    let (client, xff) =
        behind_listener(config(true, XffTrust::Hops(2)), "192.0.2.5", Some(XFF)).await;
    assert_eq!(client.as_deref(), Some("203.0.113.10"));
    assert_eq!(xff, [format!("{XFF}, 192.0.2.5")]);
}

#[tokio::test]
async fn envoy_example_4_internal_proxy_behind_that_edge() {
    let arrived = format!("{XFF}, 192.0.2.5");
    let (client, _) = behind_listener(
        config(false, XffTrust::Hops(2)),
        "10.11.12.13",
        Some(&arrived),
    )
    .await;
    assert_eq!(client.as_deref(), Some("203.0.113.10"));
}

#[tokio::test]
async fn envoy_examples_5_and_6_internal_clients() {
    let transparent = config(false, XffTrust::Hops(0));
    let (client, xff) = behind_listener(transparent.clone(), "10.20.30.40", None).await;
    assert_eq!(client.as_deref(), Some("10.20.30.40"));
    assert!(
        xff.is_empty(),
        "the appended peer is taken off again: {xff:?}"
    );

    let (client, xff) = behind_listener(transparent, "10.20.30.50", Some("10.20.30.40")).await;
    assert_eq!(client.as_deref(), Some("10.20.30.40"));
    assert_eq!(xff, ["10.20.30.40"]);
}

#[tokio::test]
async fn too_few_or_unparsable_entries_fall_back_to_the_peer() {
    let peer = "192.0.2.5";
    let cases = [
        (config(true, XffTrust::Hops(3)), Some(XFF), "203.0.113.128"),
        (config(true, XffTrust::Hops(4)), Some(XFF), peer),
        (config(false, XffTrust::Hops(2)), Some(XFF), "203.0.113.128"),
        (config(false, XffTrust::Hops(3)), Some(XFF), peer),
        (config(true, XffTrust::Hops(1)), None, peer),
        (config(true, XffTrust::Hops(1)), Some("unknown"), peer),
        (config(false, XffTrust::Hops(0)), Some("1.2.3.4:80"), peer),
        (
            config(true, XffTrust::Hops(1)),
            Some(" 2001:db8::1 "),
            "2001:db8::1",
        ),
        (
            config(true, XffTrust::Hops(1)),
            Some("::ffff:1.2.3.4"),
            "1.2.3.4",
        ),
    ];
    for (config, arrived, expected) in cases {
        let (client, _) = behind_listener(config.clone(), peer, arrived).await;
        assert_eq!(client.as_deref(), Some(expected), "{config:?} {arrived:?}");
    }
}

#[tokio::test]
async fn several_header_lines_count_as_one_list() {
    // Lines "a, b" and "c" with the peer appended as a line of its own.
    let config = config(true, XffTrust::Hops(2));
    let (client, xff) = through(
        config.clone(),
        "192.0.2.5",
        &["1.1.1.1, 2.2.2.2", "3.3.3.3", "192.0.2.5"],
    )
    .await;
    assert_eq!(client.as_deref(), Some("2.2.2.2"));
    assert_eq!(xff, ["1.1.1.1, 2.2.2.2", "3.3.3.3", "192.0.2.5"]);

    let transparent = ClientAddrConfig {
        append_xff: false,
        ..config
    };
    let (_, xff) = through(
        transparent,
        "192.0.2.5",
        &["1.1.1.1, 2.2.2.2", "3.3.3.3", "192.0.2.5"],
    )
    .await;
    assert_eq!(xff, ["1.1.1.1, 2.2.2.2", "3.3.3.3"]);
}

#[tokio::test]
async fn trusted_cidrs_trust_the_last_entry_from_trusted_peers_only() {
    let spec: ClientAddrSpec = serde_json::from_str(
        r#"{"useRemoteAddress": false, "xffTrustedCIDRs": ["10.0.0.0/8", "2001:db8::/32"]}"#,
    )
    .unwrap();
    let config = spec.compile().unwrap();
    let (client, xff) = behind_listener(config.clone(), "10.1.2.3", Some("1.2.3.4, 5.6.7.8")).await;
    assert_eq!(client.as_deref(), Some("5.6.7.8"));
    assert_eq!(xff, ["1.2.3.4, 5.6.7.8"]);

    let (client, _) = behind_listener(config.clone(), "2001:db8::7", Some("5.6.7.8")).await;
    assert_eq!(client.as_deref(), Some("5.6.7.8"));

    let (client, _) = behind_listener(config.clone(), "192.0.2.1", Some("5.6.7.8")).await;
    assert_eq!(client.as_deref(), Some("192.0.2.1"), "untrusted peer");

    let (client, _) = behind_listener(config, "10.1.2.3", None).await;
    assert_eq!(client.as_deref(), Some("10.1.2.3"), "no XFF sent");
}

#[tokio::test]
async fn without_an_appending_listener_the_layer_appends_itself() {
    let config = ClientAddrConfig {
        xff_has_peer: false,
        ..config(true, XffTrust::Hops(1))
    };
    let (client, xff) = through(config.clone(), "192.0.2.5", &["203.0.113.1"]).await;
    assert_eq!(client.as_deref(), Some("203.0.113.1"));
    assert_eq!(xff, ["203.0.113.1, 192.0.2.5"]);

    let (client, xff) = through(config, "192.0.2.5", &[]).await;
    assert_eq!(client.as_deref(), Some("192.0.2.5"));
    assert_eq!(xff, ["192.0.2.5"]);
}

#[tokio::test]
async fn without_connection_info_nothing_changes() {
    let backend = service_fn(|request: http::Request<()>| async move {
        Ok::<_, Infallible>(http::Response::new(
            request.extensions().get::<ClientAddr>().is_none(),
        ))
    });
    let request = http::Request::builder()
        .header("x-forwarded-for", "1.2.3.4")
        .body(())
        .unwrap();
    let response = ClientAddrLayer::new(ClientAddrConfig::default())
        .layer(backend)
        .oneshot(request)
        .await
        .unwrap();
    assert!(response.into_body());
}

#[test]
fn specs_follow_kgateway_defaults_and_rules() {
    let default: ClientAddrSpec = serde_json::from_str("{}").unwrap();
    assert_eq!(default.compile().unwrap(), ClientAddrConfig::default());

    let transparent: ClientAddrSpec =
        serde_json::from_str(r#"{"useRemoteAddress": false, "xffNumTrustedHops": 1}"#).unwrap();
    let compiled = transparent.compile().unwrap();
    assert_eq!(compiled.trust, XffTrust::Hops(1));
    assert!(
        !compiled.append_xff,
        "skipXFFAppend defaults to true without useRemoteAddress"
    );

    let appending: ClientAddrSpec =
        serde_json::from_str(r#"{"useRemoteAddress": false, "skipXFFAppend": false}"#).unwrap();
    assert!(appending.compile().unwrap().append_xff);
    let skipping: ClientAddrSpec = serde_json::from_str(r#"{"skipXFFAppend": true}"#).unwrap();
    assert!(!skipping.compile().unwrap().append_xff);

    for (json, field, reason) in [
        (
            r#"{"xffNumTrustedHops": -1}"#,
            "xffNumTrustedHops",
            "below 0",
        ),
        (
            r#"{"xffTrustedCIDRs": ["10.0.0.0/8"]}"#,
            "xffTrustedCIDRs",
            "useRemoteAddress",
        ),
        (
            r#"{"useRemoteAddress": false, "xffTrustedCIDRs": ["10.0.0.0/8"], "xffNumTrustedHops": 1}"#,
            "xffTrustedCIDRs",
            "only one",
        ),
        (
            r#"{"useRemoteAddress": false, "xffTrustedCIDRs": ["10.0.0.0/8", "ten"]}"#,
            "xffTrustedCIDRs[1]",
            "not a CIDR",
        ),
        (
            r#"{"useRemoteAddress": false, "xffTrustedCIDRs": []}"#,
            "xffTrustedCIDRs",
            "at least one",
        ),
    ] {
        let spec: ClientAddrSpec = serde_json::from_str(json).unwrap();
        let error = spec.compile().unwrap_err();
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
    }
    let host_bits: ClientAddrSpec =
        serde_json::from_str(r#"{"useRemoteAddress": false, "xffTrustedCIDRs": ["10.1.2.3/8"]}"#)
            .unwrap();
    assert_eq!(
        host_bits.compile().unwrap().trust,
        XffTrust::Cidrs(vec!["10.0.0.0/8".parse().unwrap()])
    );
}

/// Serves `config` in front of a backend reporting what it saw, on gateway-core's real
/// listener (which appends the peer to `X-Forwarded-For`).
fn serve(config: ClientAddrConfig) -> (SocketManager, SocketAddr) {
    let backend = service_fn(|request: Request| async move {
        let client = request
            .extensions()
            .get::<ClientAddr>()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let xff = request
            .headers()
            .get("x-forwarded-for")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Ok::<Response, Infallible>(http::Response::new(body::full(format!("{client}|{xff}"))))
    });
    let service = HttpService::new(ClientAddrLayer::new(config).layer(backend));
    let manager = SocketManager::new(Limits::default());
    let requested: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let state = SocketState {
        http: Some(service),
        tls: None,
    };
    manager.apply(HashMap::from([(requested, state)])).unwrap();
    let addr = manager.local_addr(requested).unwrap();
    (manager, addr)
}

async fn get(addr: SocketAddr, xff: Option<&str>) -> String {
    let mut request = http::Request::builder().uri(format!("http://{addr}/"));
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    let response = http1_client()
        .send(request.body(body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    String::from_utf8(response.into_body().to_vec()).unwrap()
}

#[tokio::test]
async fn behind_the_real_listener() {
    let (_edge, addr) = serve(ClientAddrSpec::default().compile().unwrap());
    assert_eq!(
        get(addr, Some("203.0.113.1")).await,
        "127.0.0.1|203.0.113.1, 127.0.0.1"
    );

    let hops: ClientAddrSpec = serde_json::from_str(r#"{"xffNumTrustedHops": 1}"#).unwrap();
    let (_hops, addr) = serve(hops.compile().unwrap());
    assert_eq!(
        get(addr, Some("198.51.100.7, 203.0.113.1")).await,
        "203.0.113.1|198.51.100.7, 203.0.113.1, 127.0.0.1"
    );
    assert_eq!(get(addr, None).await, "127.0.0.1|127.0.0.1");

    let transparent: ClientAddrSpec =
        serde_json::from_str(r#"{"useRemoteAddress": false}"#).unwrap();
    let (_transparent, addr) = serve(transparent.compile().unwrap());
    assert_eq!(
        get(addr, Some("198.51.100.7, 203.0.113.1")).await,
        "203.0.113.1|198.51.100.7, 203.0.113.1"
    );
    assert_eq!(get(addr, None).await, "127.0.0.1|");
}
