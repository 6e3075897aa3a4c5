use gateway_core::{
    HttpService, Limits, Request, Response, body,
    extensions::{ClientAddr, ConnectionInfo},
    listener::{SocketManager, SocketState},
    test_util::http1_client,
};
use http::StatusCode;
use http_body_util::BodyExt;
use ipnet::IpNet;
use std::{collections::HashMap, convert::Infallible, net::IpAddr, net::SocketAddr};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::{table::PrefixTable, *};
use crate::client_addr::{ClientAddrLayer, ClientAddrSpec};

fn backend()
-> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync
{
    service_fn(|_: Request| async { Ok::<_, Infallible>(Response::new(body::full("hello"))) })
}

fn compile(json: &str) -> AclConfig {
    serde_json::from_str::<AclSpec>(json)
        .unwrap()
        .compile()
        .unwrap()
}

fn from(client: &str) -> Request {
    let mut request = http::Request::new(body::empty());
    request
        .extensions_mut()
        .insert(ClientAddr(client.parse().unwrap()));
    request
}

/// The status and blocked-by header (`x-blocked-by`, when the config names one) for each
/// client.
async fn verdicts(layer: &AclLayer, clients: &[&str]) -> Vec<(u16, Option<String>)> {
    let mut service = layer.layer(backend());
    let mut out = Vec::new();
    for client in clients {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(from(client))
            .await
            .unwrap();
        let blocked_by = response
            .headers()
            .get("x-blocked-by")
            .map(|v| v.to_str().unwrap().to_owned());
        out.push((response.status().as_u16(), blocked_by));
    }
    out
}

fn allowed() -> (u16, Option<String>) {
    (200, None)
}

fn denied(by: &str) -> (u16, Option<String>) {
    (403, Some(by.to_owned()))
}

const HOLE_PUNCH: &str = r#"{
    "defaultAction": "allow",
    "denyResponse": {"addBlockedByHeader": "X-Blocked-By"},
    "rules": [
        {"name": "block-internal-range", "cidrs": ["10.0.0.0/8"], "action": "deny"},
        {"name": "allow-trusted-subnet", "cidrs": ["10.1.0.0/16"], "action": "allow"},
        {"name": "block-rogue-host", "cidrs": ["10.1.2.3"], "action": "deny"}
    ]}"#;

#[tokio::test]
async fn the_longest_prefix_decides() {
    let layer = AclLayer::new(compile(HOLE_PUNCH));
    let got = verdicts(
        &layer,
        &[
            "10.1.2.3",
            "10.1.2.4",
            "10.2.0.1",
            "8.8.8.8",
            "10.0.0.0",
            "10.255.255.255",
        ],
    )
    .await;
    assert_eq!(
        got,
        [
            denied("block-rogue-host"),
            allowed(),
            denied("block-internal-range"),
            allowed(),
            denied("block-internal-range"),
            denied("block-internal-range"),
        ]
    );
    assert_eq!(layer.blocked(), 4);
}

#[tokio::test]
async fn rule_order_does_not_matter() {
    let mut config = compile(HOLE_PUNCH);
    config.rules.reverse();
    let got = verdicts(
        &AclLayer::new(config),
        &["10.1.2.3", "10.1.2.4", "10.2.0.1"],
    )
    .await;
    assert_eq!(
        got,
        [
            denied("block-rogue-host"),
            allowed(),
            denied("block-internal-range")
        ]
    );
}

#[tokio::test]
async fn ipv6_rules_and_clients() {
    let layer = AclLayer::new(compile(
        r#"{"defaultAction": "deny",
            "denyResponse": {"addBlockedByHeader": "x-blocked-by"},
            "rules": [
              {"cidrs": ["2001:db8::/32"], "action": "allow"},
              {"name": "lab", "cidrs": ["2001:db8:1::/48", "10.0.0.0/8"], "action": "deny"},
              {"cidrs": ["2001:db8:1::5"], "action": "allow"}]}"#,
    ));
    let got = verdicts(
        &layer,
        &[
            "2001:db8::1",
            "2001:db8:ffff::1",
            "2001:db8:1::1",
            "2001:db8:1::5",
            "2001:db9::1",
            "::1",
            "10.9.9.9",
            "192.0.2.1",
        ],
    )
    .await;
    assert_eq!(
        got,
        [
            allowed(),
            allowed(),
            denied("lab"),
            allowed(),
            denied("default"),
            denied("default"),
            denied("lab"),
            denied("default"),
        ]
    );
}

#[tokio::test]
async fn ipv4_mapped_addresses_are_ipv4() {
    let layer = AclLayer::new(compile(
        r#"{"defaultAction": "allow",
            "denyResponse": {"addBlockedByHeader": "x-blocked-by"},
            "rules": [
              {"name": "v4", "cidrs": ["192.0.2.0/24"], "action": "deny"},
              {"name": "mapped", "cidrs": ["::ffff:198.51.100.0/120"], "action": "deny"}]}"#,
    ));
    let got = verdicts(
        &layer,
        &[
            "::ffff:192.0.2.9",
            "192.0.2.9",
            "198.51.100.7",
            "::ffff:198.51.100.7",
            "::ffff:203.0.113.1",
        ],
    )
    .await;
    assert_eq!(
        got,
        [
            denied("v4"),
            denied("v4"),
            denied("mapped"),
            denied("mapped"),
            allowed()
        ]
    );
}

#[tokio::test]
async fn the_same_cidr_twice_takes_the_later_rule() {
    let layer = AclLayer::new(compile(
        r#"{"defaultAction": "deny",
            "denyResponse": {"addBlockedByHeader": "x-blocked-by"},
            "rules": [
              {"name": "first", "cidrs": ["10.0.0.0/8"], "action": "allow"},
              {"name": "second", "cidrs": ["10.0.0.0/8"], "action": "deny"}]}"#,
    ));
    assert_eq!(verdicts(&layer, &["10.1.1.1"]).await, [denied("second")]);
}

#[tokio::test]
async fn deny_responses_carry_the_configured_status_and_headers() {
    let layer = AclLayer::new(compile(
        r#"{"defaultAction": "deny",
            "denyResponse": {"statusCode": 451, "addBlockedByHeader": "X-Blocked-By",
              "headers": [{"name": "X-Blocked-Reason", "value": "geo-policy"},
                          {"name": "Retry-After", "value": "3600"}]},
            "rules": [{"cidrs": ["203.0.113.0/24"], "action": "deny"},
                      {"cidrs": ["198.51.100.0/24"], "action": "allow"}]}"#,
    ));
    let response = layer
        .layer(backend())
        .oneshot(from("203.0.113.5"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert_eq!(response.headers()["x-blocked-reason"], "geo-policy");
    assert_eq!(response.headers()["retry-after"], "3600");
    assert_eq!(response.headers()["x-blocked-by"], "rule");
    assert!(response.headers().get("content-type").is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty(), "kgateway's deny has no body: {body:?}");
    let response = layer
        .layer(backend())
        .oneshot(from("192.0.2.1"))
        .await
        .unwrap();
    assert_eq!(response.headers()["x-blocked-by"], "default");
    let response = layer
        .layer(backend())
        .oneshot(from("198.51.100.1"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(layer.blocked(), 2);
}

#[tokio::test]
async fn without_a_blocked_by_header_none_is_added() {
    let layer = AclLayer::new(compile(r#"{"defaultAction": "deny"}"#));
    let response = layer
        .layer(backend())
        .oneshot(from("192.0.2.1"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers().len(), 0);
}

fn connection(peer: &str) -> ConnectionInfo {
    ConnectionInfo {
        remote_addr: SocketAddr::new(peer.parse().unwrap(), 40000),
        local_addr: "10.0.0.2:8080".parse().unwrap(),
        tls: false,
        server_name: None,
    }
}

#[tokio::test]
async fn the_client_address_falls_back_to_the_peer_and_else_fails_closed() {
    let layer = AclLayer::new(compile(
        r#"{"defaultAction": "allow",
            "denyResponse": {"addBlockedByHeader": "x-blocked-by"},
            "rules": [{"name": "lan", "cidrs": ["192.168.0.0/16"], "action": "deny"}]}"#,
    ));
    let service = layer.layer(backend());

    // Only the connection: the peer decides.
    let mut request = http::Request::new(body::empty());
    request.extensions_mut().insert(connection("192.168.1.1"));
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-blocked-by"], "lan");

    // The computed client address wins over the peer.
    let mut request = from("203.0.113.1");
    request.extensions_mut().insert(connection("192.168.1.1"));
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Neither: denied.
    let response = service
        .clone()
        .oneshot(http::Request::new(body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-blocked-by"], "unknown-ip");
}

/// A real listener on 127.0.0.1 with the client address policy `client_addr` in front of
/// the ACL.
fn serve(client_addr: &str, acl: AclConfig) -> (SocketManager, SocketAddr) {
    let client_addr = serde_json::from_str::<ClientAddrSpec>(client_addr)
        .unwrap()
        .compile()
        .unwrap();
    let stack = ClientAddrLayer::new(client_addr).layer(AclLayer::new(acl).layer(backend()));
    let manager = SocketManager::new(Limits::default());
    let requested: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let state = SocketState {
        http: Some(HttpService::new(stack)),
        tls: None,
    };
    manager.apply(HashMap::from([(requested, state)])).unwrap();
    let addr = manager.local_addr(requested).unwrap();
    (manager, addr)
}

async fn get(addr: SocketAddr, xff: Option<&str>) -> (StatusCode, String) {
    let mut request = http::Request::builder().uri(format!("http://{addr}/"));
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    let response = http1_client()
        .send(request.body(body::empty()).unwrap())
        .await
        .unwrap();
    let blocked_by = response
        .headers()
        .get("x-blocked-by")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status(), blocked_by)
}

#[tokio::test]
async fn behind_the_real_listener_with_a_forwarded_client_address() {
    let acl = compile(
        r#"{"defaultAction": "deny",
            "denyResponse": {"addBlockedByHeader": "x-blocked-by"},
            "rules": [
              {"name": "office", "cidrs": ["203.0.113.0/24"], "action": "allow"},
              {"name": "intern", "cidrs": ["203.0.113.66"], "action": "deny"}]}"#,
    );
    // One trusted proxy in front: the client is the last X-Forwarded-For entry it sent.
    let (manager, addr) = serve(r#"{"xffNumTrustedHops": 1}"#, acl.clone());
    assert_eq!(
        get(addr, Some("198.51.100.1, 203.0.113.5")).await,
        (StatusCode::OK, String::new())
    );
    assert_eq!(
        get(addr, Some("203.0.113.5, 203.0.113.66")).await,
        (StatusCode::FORBIDDEN, "intern".into())
    );
    assert_eq!(
        get(addr, Some("203.0.113.5, 192.0.2.1")).await,
        (StatusCode::FORBIDDEN, "default".into()),
        "a client cannot choose its address by prepending entries"
    );
    // No X-Forwarded-For: fewer entries than trusted hops, so the peer (127.0.0.1).
    assert_eq!(
        get(addr, None).await,
        (StatusCode::FORBIDDEN, "default".into())
    );
    manager.shutdown(std::time::Duration::from_secs(1)).await;

    // No trusted hops: the peer, whatever the header says.
    let (manager, addr) = serve("{}", acl);
    assert_eq!(
        get(addr, Some("203.0.113.5")).await,
        (StatusCode::FORBIDDEN, "default".into())
    );
    manager.shutdown(std::time::Duration::from_secs(1)).await;
}

fn rule(name: Option<&str>, cidrs: &[&str], action: AclAction) -> AclRule {
    AclRule {
        name: name.map(Into::into),
        cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
        action,
    }
}

#[tokio::test]
async fn envoy_gateways_client_cidr_example() {
    // SecurityPolicy `authorization-client-ip`: defaultAction Deny, one Allow rule.
    let layer = AclLayer::new(AclConfig::first_match(
        AclAction::Deny,
        vec![rule(None, &["10.0.1.0/24"], AclAction::Allow)],
    ));
    let service = layer.layer(backend());
    let response = service.clone().oneshot(from("10.0.1.1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = service.clone().oneshot(from("10.0.2.1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "RBAC: access denied");
}

#[tokio::test]
async fn first_match_and_longest_prefix_differ_where_envoy_gateway_and_kgateway_do() {
    let rules = vec![
        rule(Some("all-10"), &["10.0.0.0/8"], AclAction::Deny),
        rule(Some("one-subnet"), &["10.1.0.0/16"], AclAction::Allow),
        rule(Some("again"), &["10.0.0.0/8"], AclAction::Allow),
    ];
    let clients = ["10.1.2.3", "10.2.3.4", "192.0.2.1"];
    let mut first = AclConfig::first_match(AclAction::Allow, rules.clone());
    first.deny_response.blocked_by_header = Some("x-blocked-by".parse().unwrap());
    let mut longest = AclConfig::new(AclAction::Allow, rules);
    longest.deny_response.blocked_by_header = Some("x-blocked-by".parse().unwrap());
    assert_eq!(
        verdicts(&AclLayer::new(first), &clients).await,
        [denied("all-10"), denied("all-10"), allowed()],
        "Envoy Gateway: the first covering rule, even a less specific one"
    );
    assert_eq!(
        verdicts(&AclLayer::new(longest), &clients).await,
        [allowed(), allowed(), allowed()],
        "kgateway: the most specific rule; the later of two equal CIDRs"
    );
}

#[tokio::test]
async fn works_as_an_erased_proxy_service() {
    let service = HttpService::new(AclLayer::new(compile(HOLE_PUNCH)).layer(backend()));
    let response = service.call_shared(from("10.1.2.3")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// The reference: every rule's every CIDR checked in turn.
fn naive(rules: &[Vec<IpNet>], addr: IpAddr, precedence: AclPrecedence) -> u32 {
    let mut best: Option<(u8, u32)> = None;
    for (i, cidrs) in rules.iter().enumerate() {
        let verdict = u32::try_from(i + 1).unwrap();
        for cidr in cidrs.iter().filter(|cidr| cidr.contains(&addr)) {
            best = match (precedence, best) {
                (_, None) => Some((cidr.prefix_len(), verdict)),
                (AclPrecedence::FirstMatch, Some(best)) => Some(best),
                (AclPrecedence::LongestPrefix, Some((len, _))) if cidr.prefix_len() >= len => {
                    Some((cidr.prefix_len(), verdict))
                }
                (AclPrecedence::LongestPrefix, best) => best,
            };
        }
    }
    best.map_or(super::table::DEFAULT, |(_, verdict)| verdict)
}

/// A random CIDR in a small corner of the address space, so that rules nest and collide.
fn random_cidr(v6: bool) -> IpNet {
    if v6 {
        let addr = (0x2001_0db8u128 << 96) | (u128::from(fastrand::u16(..)) << 100);
        let len = fastrand::u8(24..=40);
        IpNet::new(IpAddr::V6(addr.into()), len).unwrap().trunc()
    } else {
        let addr = 0x0a00_0000u32 | (u32::from(fastrand::u8(..)) << 16) | fastrand::u32(..=0xff);
        let len = fastrand::u8(6..=32);
        IpNet::new(IpAddr::V4(addr.into()), len).unwrap().trunc()
    }
}

#[test]
fn the_table_agrees_with_a_rule_by_rule_search() {
    fastrand::seed(42);
    for round in 0..200 {
        let v6 = round % 2 == 1;
        let rules: Vec<Vec<IpNet>> = (0..fastrand::usize(1..12))
            .map(|_| {
                (0..fastrand::usize(1..4))
                    .map(|_| random_cidr(v6))
                    .collect()
            })
            .collect();
        // Probe each range's edges and their neighbours, and random addresses.
        let mut probes: Vec<IpAddr> = Vec::new();
        for cidr in rules.iter().flatten() {
            for addr in [cidr.network(), cidr.broadcast()] {
                probes.push(addr);
                match addr {
                    IpAddr::V4(a) => {
                        let a = u32::from(a);
                        probes.push(IpAddr::V4(a.wrapping_sub(1).into()));
                        probes.push(IpAddr::V4(a.wrapping_add(1).into()));
                    }
                    IpAddr::V6(a) => {
                        let a = u128::from(a);
                        probes.push(IpAddr::V6(a.wrapping_sub(1).into()));
                        probes.push(IpAddr::V6(a.wrapping_add(1).into()));
                    }
                }
            }
        }
        probes.extend((0..50).map(|_| random_cidr(v6).network()));
        for precedence in [AclPrecedence::LongestPrefix, AclPrecedence::FirstMatch] {
            let table = PrefixTable::build(rules.iter().map(Vec::as_slice), precedence);
            for addr in &probes {
                assert_eq!(
                    table.lookup(*addr),
                    naive(&rules, *addr, precedence),
                    "{precedence:?} {addr} in {rules:?}"
                );
            }
        }
    }
}

#[test]
fn the_table_covers_the_whole_address_space() {
    let rules = [
        vec!["0.0.0.0/0".parse().unwrap()],
        vec!["255.255.255.255/32".parse().unwrap()],
        vec!["0.0.0.0/32".parse().unwrap()],
        vec!["::/0".parse().unwrap()],
        vec![
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
                .parse()
                .unwrap(),
        ],
    ];
    let table = PrefixTable::build(
        rules.iter().map(Vec::as_slice),
        AclPrecedence::LongestPrefix,
    );
    let lookup = |addr: &str| table.lookup(addr.parse().unwrap());
    assert_eq!(lookup("0.0.0.0"), 3);
    assert_eq!(lookup("0.0.0.1"), 1);
    assert_eq!(lookup("128.0.0.0"), 1);
    assert_eq!(lookup("255.255.255.254"), 1);
    assert_eq!(lookup("255.255.255.255"), 2);
    assert_eq!(lookup("::"), 4);
    assert_eq!(lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 4);
    assert_eq!(lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 5);
}

#[test]
fn a_thousand_cidrs_make_at_most_two_thousand_and_one_intervals() {
    let rules: Vec<Vec<IpNet>> = (0..1000u32)
        .map(|i| vec![IpNet::new(IpAddr::V4((0x0a00_0000 + (i << 8)).into()), 24).unwrap()])
        .collect();
    let table = PrefixTable::build(
        rules.iter().map(Vec::as_slice),
        AclPrecedence::LongestPrefix,
    );
    // Adjacent /24s of different rules: one interval each, one before, one after; the
    // empty IPv6 table is one interval.
    assert_eq!(table.len(), 1002 + 1);
    assert_eq!(table.lookup("10.0.5.7".parse().unwrap()), 6);
}

#[test]
fn spec_reads_kgateway_fields() {
    let config = compile(
        r#"{"defaultAction": "deny",
            "rules": [{"name": "a", "cidrs": ["192.168.1.1", "::1", "10.0.0.0/8"], "action": "allow"}],
            "denyResponse": {"statusCode": 404, "headers": [{"name": "x-a", "value": "b"}]}}"#,
    );
    assert_eq!(config.default_action, AclAction::Deny);
    assert_eq!(config.precedence, AclPrecedence::LongestPrefix);
    assert_eq!(
        config.rules,
        [rule(
            Some("a"),
            &["192.168.1.1/32", "::1/128", "10.0.0.0/8"],
            AclAction::Allow
        )]
    );
    assert_eq!(config.deny_response.status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::to_value(&config.deny_response).unwrap(),
        serde_json::json!({"status": 404, "headers": [["x-a", "b"]]})
    );
    let defaults = compile(r#"{"defaultAction": "allow"}"#);
    assert_eq!(defaults, AclConfig::new(AclAction::Allow, Vec::new()));
    assert!(serde_json::from_str::<AclSpec>(r#"{"rules": []}"#).is_err());
    assert!(serde_json::from_str::<AclSpec>(r#"{"defaultAction": "Allow"}"#).is_err());
}

#[test]
fn spec_errors_name_the_field() {
    let many = |n: usize, item: &str| vec![item; n].join(",");
    let too_many_rules = format!(
        r#"{{"defaultAction": "allow", "rules": [{}]}}"#,
        many(257, r#"{"cidrs": ["10.0.0.1"], "action": "deny"}"#)
    );
    let too_many_cidrs = format!(
        r#"{{"defaultAction": "allow", "rules": [{{"cidrs": [{}], "action": "deny"}}]}}"#,
        many(257, r#""10.0.0.1""#)
    );
    for (json, field, reason) in [
        (too_many_rules.as_str(), "rules", "at most 256"),
        (too_many_cidrs.as_str(), "rules[0].cidrs", "1 to 256"),
        (
            r#"{"defaultAction": "allow", "rules": [{"cidrs": [], "action": "deny"}]}"#,
            "rules[0].cidrs",
            "1 to 256",
        ),
        (
            r#"{"defaultAction": "allow", "rules": [
                {"cidrs": ["10.0.0.0/8"], "action": "deny"},
                {"cidrs": ["10.0.0.0/8", "172.18.0.0/12"], "action": "deny"}]}"#,
            "rules[1].cidrs[1]",
            "did you mean \"172.16.0.0/12\"",
        ),
        (
            r#"{"defaultAction": "allow", "rules": [{"cidrs": ["10.0.0.300"], "action": "deny"}]}"#,
            "rules[0].cidrs[0]",
            "not an IP address or CIDR",
        ),
        (
            r#"{"defaultAction": "allow", "rules": [{"cidrs": ["10.0.0.0/33"], "action": "deny"}]}"#,
            "rules[0].cidrs[0]",
            "not an IP address or CIDR",
        ),
        (
            r#"{"defaultAction": "allow", "denyResponse": {}}"#,
            "denyResponse",
            "at least one of",
        ),
        (
            r#"{"defaultAction": "allow", "denyResponse": {"statusCode": 600}}"#,
            "denyResponse.statusCode",
            "600 is not 100 to 599",
        ),
        (
            r#"{"defaultAction": "allow", "denyResponse": {"headers": [{"name": "bad name", "value": "x"}]}}"#,
            "denyResponse.headers[0].name",
            "not a header name",
        ),
        (
            r#"{"defaultAction": "allow", "denyResponse": {"headers": [{"name": "x", "value": "a\nb"}]}}"#,
            "denyResponse.headers[0].value",
            "not a valid header value",
        ),
        (
            r#"{"defaultAction": "allow", "denyResponse": {"addBlockedByHeader": ""}}"#,
            "denyResponse.addBlockedByHeader",
            "1 to 256",
        ),
    ] {
        let error = serde_json::from_str::<AclSpec>(json)
            .unwrap()
            .compile()
            .unwrap_err();
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
    }
}
