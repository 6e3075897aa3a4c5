//! Compiler tests: YAML in, plan and status out.

use super::test_support::*;
use crate::plan::{BackendTarget, HostMatch, PathMatch};
use base64::Engine;

const HTTP_LISTENER: &str = "  - {name: http, port: 80, protocol: HTTP}";

fn route(name: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: default}}
spec:
{spec}
"
    )
}

fn tls_secret(ns: &str, name: &str, hosts: &[&str]) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "---
apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: {ns}}}
type: kubernetes.io/tls
data:
  tls.crt: {}
  tls.key: {}
",
        b64(cert.pem()),
        b64(key.serialize_pem())
    )
}

#[test]
fn gateway_class_of_another_controller_is_left_alone() {
    let yaml = "apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: theirs}
spec: {controllerName: example.com/other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: theirs
  listeners: [{name: http, port: 80, protocol: HTTP}]";
    let compiled = compile_yaml(yaml);
    assert!(compiled.statuses.is_empty());
    assert!(compiled.plan.gateways.is_empty());
}

#[test]
fn simple_route_is_accepted_and_resolves_endpoints_by_port_name() {
    let yaml = gateway(HTTP_LISTENER)
        + &service("default", "web", "10.0.0.1")
        + &route(
            "r",
            "  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: web, port: 8080}]",
        );
    let compiled = compile_yaml(&yaml);
    assert!(
        compiled.diagnostics.is_empty(),
        "{:?}",
        compiled.diagnostics
    );
    assert_eq!(
        parent_conditions(&compiled, "r", 0),
        vec![
            cond("Accepted", "True", "Accepted"),
            cond("ResolvedRefs", "True", "ResolvedRefs")
        ]
    );
    let (attached, conditions) = listener_conditions(&compiled, "gw", "http");
    assert_eq!(attached, 1);
    assert_eq!(
        conditions,
        vec![
            cond("Accepted", "True", "Accepted"),
            cond("ResolvedRefs", "True", "ResolvedRefs"),
            cond("Programmed", "True", "Programmed"),
            cond("Conflicted", "False", "NoConflicts"),
        ]
    );
    let vhost = &compiled.plan.gateways[0].listeners[0].virtual_hosts[0];
    assert_eq!(vhost.hostname, HostMatch::Any);
    let BackendTarget::Resolved(backend) = &vhost.rules[0].backends[0].target else {
        panic!()
    };
    // The ready endpoint on the slice port named like the Service port; the unready one
    // and the ClusterIP are never used.
    assert_eq!(&*backend.endpoints, &["10.0.0.1:3000".parse().unwrap()]);
    // An omitted rule match is PathPrefix /.
    assert!(matches!(&vhost.routes[0].matcher.path, PathMatch::Prefix(p) if &**p == "/"));
}

#[test]
fn observed_generation_is_the_manifest_generation_or_one() {
    let yaml = gateway(HTTP_LISTENER).replace(
        "metadata: {name: gw, namespace: default}",
        "metadata: {name: gw, namespace: default, generation: 7}",
    ) + &route("r", "  parentRefs: [{name: gw}]");
    let compiled = compile_yaml(&yaml);
    let gw = serde_json::to_value(&status_of(&compiled, "Gateway", "gw").status).unwrap();
    assert_eq!(gw["conditions"][0]["observedGeneration"], 7);
    let r = serde_json::to_value(&status_of(&compiled, "HTTPRoute", "r").status).unwrap();
    assert_eq!(r["parents"][0]["conditions"][0]["observedGeneration"], 1);
    // The parentRef is stored with the API server's defaults.
    assert_eq!(
        r["parents"][0]["parentRef"]["group"],
        "gateway.networking.k8s.io"
    );
    assert_eq!(r["parents"][0]["parentRef"]["kind"], "Gateway");
    assert_eq!(r["parents"][0]["controllerName"], CONTROLLER);
}

#[test]
fn parent_refs_that_match_no_listener_are_no_matching_parent() {
    for parent in [
        "{name: gw, sectionName: nope}",
        "{name: gw, port: 8080}",
        "{name: gw, sectionName: http, port: 81}",
    ] {
        let yaml = gateway(HTTP_LISTENER) + &route("r", &format!("  parentRefs: [{parent}]"));
        let compiled = compile_yaml(&yaml);
        assert_eq!(
            parent_conditions(&compiled, "r", 0)[0],
            cond("Accepted", "False", "NoMatchingParent"),
            "{parent}"
        );
        assert_eq!(listener_conditions(&compiled, "gw", "http").0, 0);
    }
}

#[test]
fn allowed_routes_namespaces_and_kinds_are_enforced() {
    let other_ns = "---
apiVersion: v1
kind: Namespace
metadata: {name: team, labels: {env: prod}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: foreign, namespace: team}
spec:
  parentRefs: [{name: gw, namespace: default}]
";
    // Same (the default) rejects other namespaces.
    let compiled = compile_yaml(&(gateway(HTTP_LISTENER) + other_ns));
    let StatusBody::Route(status) = &status_of(&compiled, "HTTPRoute", "foreign").status else {
        panic!()
    };
    assert_eq!(
        status.parents[0].conditions[0].reason,
        "NotAllowedByListeners"
    );

    // Selector admits namespaces whose labels match.
    let selector = "  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {env: prod}}}}";
    let compiled = compile_yaml(&(gateway(selector) + other_ns));
    let StatusBody::Route(status) = &status_of(&compiled, "HTTPRoute", "foreign").status else {
        panic!()
    };
    assert_eq!(status.parents[0].conditions[0].reason, "Accepted");

    // A listener allowing only TLSRoute rejects HTTPRoutes, and says which kind it refused.
    let kinds = "  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes: {kinds: [{kind: TLSRoute}]}";
    let compiled = compile_yaml(&(gateway(kinds) + &route("r", "  parentRefs: [{name: gw}]")));
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[0],
        cond("Accepted", "False", "NotAllowedByListeners")
    );
    let (_, conditions) = listener_conditions(&compiled, "gw", "http");
    assert_eq!(
        conditions[1],
        cond("ResolvedRefs", "False", "InvalidRouteKinds")
    );
}

#[test]
fn hostnames_intersect_with_the_listener() {
    let listeners = "  - {name: wild, port: 80, protocol: HTTP, hostname: '*.example.com'}";
    let yaml = gateway(listeners)
        + &route(
            "match",
            "  parentRefs: [{name: gw}]\n  hostnames: [foo.example.com, other.net]",
        )
        + &route(
            "nomatch",
            "  parentRefs: [{name: gw}]\n  hostnames: [other.net]",
        );
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        parent_conditions(&compiled, "match", 0)[0],
        cond("Accepted", "True", "Accepted")
    );
    assert_eq!(
        parent_conditions(&compiled, "nomatch", 0)[0],
        cond("Accepted", "False", "NoMatchingListenerHostname")
    );
    let hosts: Vec<_> = compiled.plan.gateways[0].listeners[0]
        .virtual_hosts
        .iter()
        .map(|v| v.hostname.clone())
        .collect();
    assert_eq!(hosts, vec![HostMatch::Exact("foo.example.com".into())]);
}

#[test]
fn backend_ref_errors_have_their_reasons_and_answer_500() {
    let cases = [
        ("{name: missing, port: 8080}", "BackendNotFound"),
        ("{name: web, port: 9999}", "BackendNotFound"),
        (
            "{group: example.com, kind: Bucket, name: web, port: 8080}",
            "InvalidKind",
        ),
        (
            "{name: web, namespace: elsewhere, port: 8080}",
            "RefNotPermitted",
        ),
    ];
    for (backend, reason) in cases {
        let yaml = gateway(HTTP_LISTENER)
            + &service("default", "web", "10.0.0.1")
            + &service("elsewhere", "web", "10.0.0.2")
            + &route(
                "r",
                &format!("  parentRefs: [{{name: gw}}]\n  rules:\n  - backendRefs: [{backend}]"),
            );
        let compiled = compile_yaml(&yaml);
        let conditions = parent_conditions(&compiled, "r", 0);
        assert_eq!(
            conditions[0],
            cond("Accepted", "True", "Accepted"),
            "{backend}"
        );
        assert_eq!(
            conditions[1],
            cond("ResolvedRefs", "False", reason),
            "{backend}"
        );
        let rule = &compiled.plan.gateways[0].listeners[0].virtual_hosts[0].rules[0];
        assert!(matches!(
            rule.backends[0].target,
            BackendTarget::Invalid { .. }
        ));
        assert!(
            compiled
                .diagnostics
                .iter()
                .any(|d| d.resource == "HTTPRoute default/r")
        );
    }
}

#[test]
fn reference_grant_permits_cross_namespace_backends() {
    let grant = "---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow, namespace: elsewhere}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: '', kind: Service, name: web}]
";
    let yaml = gateway(HTTP_LISTENER)
        + &service("elsewhere", "web", "10.0.0.2")
        + grant
        + &route(
            "r",
            "  parentRefs: [{name: gw}]\n  rules:\n  - backendRefs: [{name: web, namespace: elsewhere, port: 8080}]",
        );
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[1],
        cond("ResolvedRefs", "True", "ResolvedRefs")
    );
    // A grant naming another Service does not apply.
    let compiled = compile_yaml(&yaml.replace("name: web}]\n", "name: other}]\n"));
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[1],
        cond("ResolvedRefs", "False", "RefNotPermitted")
    );
}

#[test]
fn precedence_across_routes_follows_the_spec() {
    let yaml = gateway(HTTP_LISTENER)
        + &service("default", "web", "10.0.0.1")
        + &route(
            "b-route",
            "  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: web, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /api}, method: GET}]
    backendRefs: [{name: web, port: 8080}]",
        )
        + &route(
            "a-route",
            "  parentRefs: [{name: gw}]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /api}
    - path: {type: Exact, value: /api/v1}
    - path: {type: PathPrefix, value: /api}
      headers: [{name: x, value: '1'}]
    - path: {type: PathPrefix, value: /api}
      queryParams: [{name: q, value: '1'}]
    backendRefs: [{name: web, port: 8080}]",
        );
    let compiled = compile_yaml(&yaml);
    let vhost = &compiled.plan.gateways[0].listeners[0].virtual_hosts[0];
    let order: Vec<String> = vhost
        .routes
        .iter()
        .map(|e| {
            let m = &e.matcher;
            let path = match &m.path {
                PathMatch::Exact(p) => format!("exact {p}"),
                PathMatch::Prefix(p) => format!("prefix {p}"),
                PathMatch::Regex(r) => format!("regex {}", r.as_str()),
            };
            format!(
                "{} {path} m={} h={} q={}",
                vhost.rules[e.rule].resource.name,
                m.method.is_some(),
                m.headers.len(),
                m.query_params.len()
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            "a-route exact /api/v1 m=false h=0 q=0",
            "b-route prefix /api m=true h=0 q=0",
            "a-route prefix /api m=false h=1 q=0",
            "a-route prefix /api m=false h=0 q=1",
            // Equal matches: alphabetical namespace/name decides (no creation timestamps).
            "a-route prefix /api m=false h=0 q=0",
            "b-route prefix /api m=false h=0 q=0",
        ]
    );
}

#[test]
fn older_routes_win_ties() {
    let yaml = gateway(HTTP_LISTENER)
        + &route("a-new", "  parentRefs: [{name: gw}]").replace(
            "namespace: default}",
            "namespace: default, creationTimestamp: '2024-02-01T00:00:00Z'}",
        )
        + &route("b-old", "  parentRefs: [{name: gw}]").replace(
            "namespace: default}",
            "namespace: default, creationTimestamp: '2024-01-01T00:00:00Z'}",
        );
    let compiled = compile_yaml(&yaml);
    let vhost = &compiled.plan.gateways[0].listeners[0].virtual_hosts[0];
    assert_eq!(&*vhost.rules[vhost.routes[0].rule].resource.name, "b-old");
}

#[test]
fn listeners_conflict_on_protocol_and_hostname() {
    let listeners = "  - {name: a, port: 80, protocol: HTTP}
  - {name: b, port: 80, protocol: HTTP}
  - {name: c, port: 80, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
  - {name: d, port: 81, protocol: UDP}";
    let compiled =
        compile_yaml(&(gateway(listeners) + &tls_secret("default", "cert", &["x.example"])));
    assert_eq!(
        listener_conditions(&compiled, "gw", "a").1[3],
        cond("Conflicted", "True", "ProtocolConflict")
    );
    assert_eq!(
        listener_conditions(&compiled, "gw", "b").1[3],
        cond("Conflicted", "True", "ProtocolConflict")
    );
    assert_eq!(
        listener_conditions(&compiled, "gw", "c").1[3],
        cond("Conflicted", "True", "ProtocolConflict")
    );
    assert_eq!(
        listener_conditions(&compiled, "gw", "d").1[0],
        cond("Accepted", "False", "UnsupportedProtocol")
    );

    let listeners = "  - {name: a, port: 80, protocol: HTTP, hostname: a.example}
  - {name: b, port: 80, protocol: HTTP, hostname: a.example}";
    let compiled = compile_yaml(&gateway(listeners));
    assert_eq!(
        listener_conditions(&compiled, "gw", "a").1[3],
        cond("Conflicted", "False", "NoConflicts")
    );
    assert_eq!(
        listener_conditions(&compiled, "gw", "b").1[3],
        cond("Conflicted", "True", "HostnameConflict")
    );
}

#[test]
fn https_listeners_need_a_valid_permitted_certificate() {
    let https = |cert_ref: &str| {
        format!(
            "  - {{name: https, port: 443, protocol: HTTPS, tls: {{certificateRefs: [{cert_ref}]}}}}"
        )
    };
    let compiled = compile_yaml(
        &(gateway(&https("{name: cert}")) + &tls_secret("default", "cert", &["a.example"])),
    );
    assert_eq!(
        listener_conditions(&compiled, "gw", "https").1[2],
        cond("Programmed", "True", "Programmed")
    );
    assert!(compiled.plan.gateways[0].listeners[0].tls.is_some());
    // /config_dump never shows the key.
    let dump = serde_json::to_string(&compiled.plan).unwrap();
    assert!(dump.contains("[redacted]") && !dump.contains("PRIVATE KEY"));

    let compiled = compile_yaml(&gateway(&https("{name: missing}")));
    let (_, conditions) = listener_conditions(&compiled, "gw", "https");
    assert_eq!(
        conditions[1],
        cond("ResolvedRefs", "False", "InvalidCertificateRef")
    );
    assert_eq!(conditions[2], cond("Programmed", "False", "Invalid"));

    let compiled = compile_yaml(
        &(gateway(&https("{name: cert, namespace: vault}"))
            + &tls_secret("vault", "cert", &["a.example"])),
    );
    assert_eq!(
        listener_conditions(&compiled, "gw", "https").1[1],
        cond("ResolvedRefs", "False", "RefNotPermitted")
    );

    let broken =
        tls_secret("default", "cert", &["a.example"]).replace("tls.key: ", "tls.key: QUJD");
    let compiled = compile_yaml(&(gateway(&https("{name: cert}")) + &broken));
    assert_eq!(
        listener_conditions(&compiled, "gw", "https").1[1],
        cond("ResolvedRefs", "False", "InvalidCertificateRef")
    );
}

#[test]
fn invalid_filters_make_the_rule_answer_500_and_the_route_partially_invalid() {
    let yaml = gateway(HTTP_LISTENER)
        + &service("default", "web", "10.0.0.1")
        + &route(
            "r",
            "  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {value: /ok}}]
    backendRefs: [{name: web, port: 8080}]
  - matches: [{path: {value: /bad}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: 'bad header', value: x}]}
    backendRefs: [{name: web, port: 8080}]",
        );
    let compiled = compile_yaml(&yaml);
    let conditions = parent_conditions(&compiled, "r", 0);
    assert_eq!(conditions[0], cond("Accepted", "True", "Accepted"));
    assert_eq!(
        conditions[2],
        cond("PartiallyInvalid", "True", "UnsupportedValue")
    );
    assert!(
        compiled.diagnostics.iter().any(|d| d
            .message
            .starts_with("spec.rules[1].filters[0].requestHeaderModifier.set[0].name")),
        "{:?}",
        compiled.diagnostics
    );
    let vhost = &compiled.plan.gateways[0].listeners[0].virtual_hosts[0];
    let bad = vhost
        .rules
        .iter()
        .find(|r| r.resource.section.as_deref() == Some("1"))
        .unwrap();
    assert!(matches!(
        bad.backends[0].target,
        BackendTarget::Invalid { .. }
    ));
}

#[test]
fn a_route_whose_rules_are_all_invalid_is_not_accepted() {
    let yaml = gateway(HTTP_LISTENER)
        + &route(
            "r",
            "  parentRefs: [{name: gw}]
  rules:
  - timeouts: {request: 1s, backendRequest: 2s}",
        );
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[0],
        cond("Accepted", "False", "UnsupportedValue")
    );
    assert_eq!(listener_conditions(&compiled, "gw", "http").0, 0);
}

#[test]
fn timeouts_retry_and_weights_reach_the_plan() {
    let yaml = gateway(HTTP_LISTENER)
        + &service("default", "a", "10.0.0.1")
        + &service("default", "b", "10.0.0.2")
        + &route(
            "r",
            "  parentRefs: [{name: gw}]
  rules:
  - timeouts: {request: 10s, backendRequest: 1s}
    retry: {codes: [503], attempts: 3, backoff: 100ms}
    backendRefs: [{name: a, port: 8080, weight: 80}, {name: b, port: 8080, weight: 20}]",
        );
    let compiled = compile_yaml(&yaml);
    let rule = &compiled.plan.gateways[0].listeners[0].virtual_hosts[0].rules[0];
    assert_eq!(
        rule.timeouts.request,
        Some(std::time::Duration::from_secs(10))
    );
    assert_eq!(
        rule.timeouts.backend_request,
        Some(std::time::Duration::from_secs(1))
    );
    let retry = rule.retry.as_ref().unwrap();
    assert_eq!(
        (retry.attempts, retry.backoff),
        (3, std::time::Duration::from_millis(100))
    );
    assert_eq!(retry.codes, vec![http::StatusCode::SERVICE_UNAVAILABLE]);
    assert_eq!(
        rule.backends.iter().map(|b| b.weight).collect::<Vec<_>>(),
        vec![80, 20]
    );
}

#[test]
fn tls_routes_attach_to_tls_listeners_by_sni() {
    let listeners = "  - {name: pass, port: 443, protocol: TLS, hostname: '*.example.com', tls: {mode: Passthrough}}";
    let yaml = gateway(listeners)
        + &service("default", "tcp", "10.0.0.3")
        + "---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: t, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [abc.example.com]
  rules: [{backendRefs: [{name: tcp, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: h, namespace: default}
spec:
  parentRefs: [{name: gw}]
";
    let compiled = compile_yaml(&yaml);
    let listener = &compiled.plan.gateways[0].listeners[0];
    assert!(listener.tls.is_none());
    assert_eq!(
        listener.tls_routes[0].hostnames,
        vec![HostMatch::Exact("abc.example.com".into())]
    );
    assert_eq!(listener_conditions(&compiled, "gw", "pass").0, 1);
    assert_eq!(
        parent_conditions(&compiled, "h", 0)[0],
        cond("Accepted", "False", "NotAllowedByListeners")
    );
}

use super::StatusBody;
