//! kgateway `Backend` decoding, resolution and status.

use gateway_core::backend::DnsName;
use std::net::SocketAddr;

use super::{BackendIndex, Referrer, backend::compile_backend};
use crate::{
    api::{BackendObjectReference, KgatewayKind, KgatewayResource},
    compile::{Compiled, StatusBody, policy::BackendPolicies, test_support::*},
    plan::{AppProtocol, BackendTarget, ResolvedBackend},
};

const HTTP_LISTENER: &str = "  - {name: http, port: 80, protocol: HTTP}";

fn backend(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{spec}
"
    )
}

/// HTTPRoute `default/r` on `gw` with one backendRef (a YAML flow mapping).
fn route_to(backend_ref: &str) -> String {
    format!(
        "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - backendRefs: [{backend_ref}]
"
    )
}

const TO_EXT: &str = "{group: gateway.kgateway.dev, kind: Backend, name: ext}";

fn target(compiled: &Compiled) -> &BackendTarget {
    &compiled.plan.gateways[0].listeners[0].virtual_hosts[0].rules[0].backends[0].target
}

fn resolved(compiled: &Compiled) -> &ResolvedBackend {
    match target(compiled) {
        BackendTarget::Resolved(resolved) => resolved,
        BackendTarget::Invalid { reason } => panic!("invalid target: {reason}"),
    }
}

/// `(type, status, reason, message)` of the Backend's one condition.
fn backend_condition(compiled: &Compiled, name: &str) -> (String, String, String, String) {
    let StatusBody::Conditions { conditions } = &status_of(compiled, "Backend", name).status else {
        panic!("not a conditions status")
    };
    assert_eq!(conditions.len(), 1);
    let c = &conditions[0];
    (
        c.type_.to_string(),
        c.status.to_string(),
        c.reason.to_string(),
        c.message.clone(),
    )
}

fn error(spec: serde_json::Value) -> String {
    compile_backend(&spec).unwrap_err()
}

#[test]
fn unimplemented_backend_kinds_and_fields_are_named() {
    for field in ["aws", "gcp", "dynamicForwardProxy"] {
        let spec = serde_json::json!({ field: {}, "type": "AWS" });
        assert_eq!(
            error(spec),
            format!("spec.{field}: not supported by this gateway")
        );
    }
    assert_eq!(
        error(
            serde_json::json!({"static": {"hosts": [{"host": "a.test", "port": 80, "weight": 2}]}})
        ),
        "spec.static.hosts[0].weight: not supported by this gateway"
    );
    assert_eq!(
        error(serde_json::json!({"type": "Static"})),
        "spec.static: required (this gateway serves static Backends only)"
    );
}

#[test]
fn invalid_static_hosts_name_their_field() {
    let cases = [
        (
            serde_json::json!({"static": {"hosts": []}}),
            "spec.static.hosts: at least one host is required",
        ),
        (
            serde_json::json!({"static": {"hosts": [{"host": "a.test", "port": 80}, {"host": "b.test", "port": 0}]}}),
            "spec.static.hosts[1].port: must be between 1 and 65535",
        ),
        (
            serde_json::json!({"static": {"hosts": [{"host": "a b", "port": 80}]}}),
            "spec.static.hosts[0].host: \"a b\" is neither an IP address nor a DNS name",
        ),
        (
            serde_json::json!({"static": {"hosts": [{"host": "10.0.0.256", "port": 80}]}}),
            "spec.static.hosts[0].host: \"10.0.0.256\" is neither an IP address nor a DNS name",
        ),
        (
            serde_json::json!({"static": {"hosts": [{"host": "-a.test", "port": 80}]}}),
            "spec.static.hosts[0].host: \"-a.test\" is neither an IP address nor a DNS name",
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(error(spec), expected);
    }
    let too_big =
        error(serde_json::json!({"static": {"hosts": [{"host": "a.test", "port": 70000}]}}));
    assert!(
        too_big.starts_with("spec.static.hosts[0].port: invalid value: integer `70000`"),
        "{too_big}"
    );
    let protocol = error(
        serde_json::json!({"static": {"hosts": [{"host": "a.test", "port": 80}], "appProtocol": "h3"}}),
    );
    assert!(
        protocol.starts_with("spec.static.appProtocol: unknown variant `h3`"),
        "{protocol}"
    );
    let missing_port = error(serde_json::json!({"static": {"hosts": [{"host": "a.test"}]}}));
    assert!(
        missing_port.starts_with("spec.static.hosts[0]: missing field `port`"),
        "{missing_port}"
    );
}

#[test]
fn app_protocols_map_as_kgateway_maps_them() {
    let protocol = |value: Option<&str>| {
        let mut spec = serde_json::json!({"static": {"hosts": [{"host": "10.0.0.1", "port": 80}]}});
        if let Some(value) = value {
            spec["static"]["appProtocol"] = value.into();
        }
        compile_backend(&spec).unwrap().protocol
    };
    assert_eq!(protocol(None), AppProtocol::Http1);
    for h2 in ["http2", "grpc", "grpc-web", "kubernetes.io/h2c"] {
        assert_eq!(protocol(Some(h2)), AppProtocol::H2c, "{h2}");
    }
    assert_eq!(protocol(Some("kubernetes.io/ws")), AppProtocol::WebSocket);
}

#[test]
fn ip_hosts_become_endpoints_and_names_are_left_to_dns() {
    let yaml = gateway(HTTP_LISTENER)
        + &backend(
            "default",
            "ext",
            "  type: Static
  static:
    appProtocol: kubernetes.io/h2c
    hosts:
    - {host: 10.0.0.1, port: 8080}
    - {host: '::1', port: 9090}
    - {host: '[2001:db8::1]', port: 443}
    - {host: api.example.com, port: 443}
    - {host: 10.0.0.1, port: 8080}
    - {host: api.example.com, port: 443}",
        )
        // The port of a backendRef to a Backend is not needed, and ignored when given.
        + &route_to("{group: gateway.kgateway.dev, kind: Backend, name: ext, port: 1}");
    let compiled = compile_yaml(&yaml);
    assert!(
        compiled.diagnostics.is_empty(),
        "{:?}",
        compiled.diagnostics
    );
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[1],
        cond("ResolvedRefs", "True", "ResolvedRefs")
    );
    let resolved = resolved(&compiled);
    let endpoints: Vec<SocketAddr> = vec![
        "10.0.0.1:8080".parse().unwrap(),
        "[::1]:9090".parse().unwrap(),
        "[2001:db8::1]:443".parse().unwrap(),
    ];
    assert_eq!(&*resolved.endpoints, &endpoints[..]);
    assert_eq!(
        &*resolved.dns_names,
        &[DnsName::new("api.example.com", 443)]
    );
    assert_eq!(resolved.protocol, AppProtocol::H2c);
    assert_eq!(resolved.policy, None);
    assert_eq!(&*resolved.resource.group, "gateway.kgateway.dev");
    assert_eq!(resolved.resource.to_string(), "Backend default/ext");
    assert_eq!(
        backend_condition(&compiled, "ext"),
        (
            "Accepted".into(),
            "True".into(),
            "Accepted".into(),
            String::new()
        )
    );
}

#[test]
fn a_service_backend_has_no_dns_names() {
    let yaml = gateway(HTTP_LISTENER)
        + &service("default", "web", "10.0.0.1")
        + &route_to("{name: web, port: 8080}");
    let compiled = compile_yaml(&yaml);
    assert!(resolved(&compiled).dns_names.is_empty());
}

#[test]
fn an_invalid_backend_is_not_accepted_and_its_routes_answer_500() {
    let yaml = gateway(HTTP_LISTENER)
        + &backend(
            "default",
            "ext",
            "  aws: {accountId: '000000000000', lambda: {functionName: f}}",
        )
        + &route_to(TO_EXT);
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        backend_condition(&compiled, "ext"),
        (
            "Accepted".into(),
            "False".into(),
            "Invalid".into(),
            "spec.aws: not supported by this gateway".into()
        )
    );
    assert!(
        compiled.diagnostics.iter().any(|d| d.to_string()
            == "Backend default/ext: spec.aws: not supported by this gateway (Invalid)"),
        "{:?}",
        compiled.diagnostics
    );
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[1],
        cond("ResolvedRefs", "False", "BackendNotFound")
    );
    let BackendTarget::Invalid { reason } = target(&compiled) else {
        panic!("resolved an invalid Backend")
    };
    assert_eq!(
        &**reason,
        "Backend default/ext is not valid: spec.aws: not supported by this gateway"
    );
}

#[test]
fn a_missing_backend_is_not_found() {
    let yaml = gateway(HTTP_LISTENER) + &route_to(TO_EXT);
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[1],
        cond("ResolvedRefs", "False", "BackendNotFound")
    );
}

#[test]
fn reference_grants_govern_backends_in_other_namespaces() {
    let grant = |kind: &str| {
        format!(
            "---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {{name: allow, namespace: ext-ns}}
spec:
  from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}}]
  to: [{{group: gateway.kgateway.dev, kind: {kind}}}]
"
        )
    };
    let base = gateway(HTTP_LISTENER)
        + &backend(
            "ext-ns",
            "ext",
            "  static: {hosts: [{host: 10.0.0.9, port: 80}]}",
        )
        + &route_to("{group: gateway.kgateway.dev, kind: Backend, name: ext, namespace: ext-ns}");

    let compiled = compile_yaml(&base);
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[1],
        cond("ResolvedRefs", "False", "RefNotPermitted")
    );
    assert!(matches!(target(&compiled), BackendTarget::Invalid { .. }));

    // A grant for another kind of the group does not apply.
    let compiled = compile_yaml(&(base.clone() + &grant("GatewayExtension")));
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[1],
        cond("ResolvedRefs", "False", "RefNotPermitted")
    );

    let compiled = compile_yaml(&(base + &grant("Backend")));
    assert_eq!(
        parent_conditions(&compiled, "r", 0)[1],
        cond("ResolvedRefs", "True", "ResolvedRefs")
    );
    assert_eq!(
        &*resolved(&compiled).endpoints,
        &["10.0.0.9:80".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn host_names_are_served_to_http_routes_only() {
    let body: crate::api::KgatewayBody = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ext", "namespace": "default"},
        "spec": {"static": {"hosts": [{"host": "api.example.com", "port": 443}]}}
    }))
    .unwrap();
    let kgateway = [KgatewayResource::new(KgatewayKind::Backend, body)];
    let policies = BackendPolicies::new(&kgateway, &[]);
    let index = BackendIndex::new(&[], &[], &[], &kgateway, &policies);
    let reference: BackendObjectReference = serde_json::from_value(
        serde_json::json!({"group": "gateway.kgateway.dev", "kind": "Backend", "name": "ext"}),
    )
    .unwrap();
    let from = |kind| Referrer {
        group: "gateway.networking.k8s.io",
        kind,
        namespace: "default",
    };
    let resolved = index.resolve(from("HTTPRoute"), &reference).unwrap();
    assert_eq!(
        &*resolved.dns_names,
        &[DnsName::new("api.example.com", 443)]
    );
    for kind in ["TLSRoute", "GatewayExtension"] {
        let error = index.resolve(from(kind), &reference).unwrap_err();
        assert_eq!(error.reason, "InvalidKind");
        assert_eq!(
            error.message,
            format!(
                "Backend default/ext has DNS host names, which only HTTPRoute backendRefs serve \
                 here (a {kind} needs IP hosts)"
            )
        );
    }
}
