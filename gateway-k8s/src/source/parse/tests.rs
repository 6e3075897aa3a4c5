use super::*;
use crate::source::object::metadata;

/// The decoded object and unknown fields, or a panic naming what came instead.
fn decoded(text: &str) -> (Object, Vec<String>) {
    match decode_document(text) {
        Ok(Decoded::Object {
            object,
            unknown_fields,
            ..
        }) => (*object, unknown_fields),
        other => panic!("expected an object, got {other:?}"),
    }
}

fn failure(text: &str) -> DocumentError {
    match decode_document(text) {
        Err(error) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn gateway_api_kinds_in_any_version() {
    for version in ["v1", "v1beta1", "v1alpha2", "v1alpha3"] {
        let text = format!(
            "apiVersion: gateway.networking.k8s.io/{version}\nkind: TLSRoute\n\
             metadata: {{name: t}}\nspec:\n  hostnames: [a.example]\n"
        );
        let (Object::TlsRoute(route), unknown) = decoded(&text) else {
            panic!("not a TLSRoute");
        };
        assert_eq!(route.spec.hostnames, ["a.example"]);
        assert!(unknown.is_empty());
    }
}

#[test]
fn core_kinds_decode_into_k8s_openapi_types() {
    let (Object::Secret(secret), _) = decoded(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\n\
         type: kubernetes.io/tls\ndata:\n  tls.crt: aGVsbG8=\n",
    ) else {
        panic!("not a Secret");
    };
    assert_eq!(secret.metadata.namespace.as_deref(), Some("ns"));
    let data = secret.data.unwrap_or_default();
    assert_eq!(data["tls.crt"].0, b"hello");

    let (Object::EndpointSlice(slice), _) = decoded(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n\
         addressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\nports:\n- port: 8080\n",
    ) else {
        panic!("not an EndpointSlice");
    };
    assert_eq!(
        slice.endpoints.unwrap_or_default()[0].addresses,
        ["10.0.0.1"]
    );
}

#[test]
fn other_kinds_and_groups_are_ignored() {
    for (api_version, kind) in [
        ("apps/v1", "Deployment"),
        ("v1", "Pod"),
        ("example.com/v1", "Gateway"),
        ("gateway.networking.k8s.io/v1", "GRPCRouteX"),
    ] {
        let text = format!("apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\n");
        assert!(
            matches!(decode_document(&text), Ok(Decoded::Ignored { .. })),
            "{api_version} {kind}"
        );
    }
}

#[test]
fn empty_and_comment_only_documents_are_empty() {
    for text in ["", "---\n", "--- # nothing\n# here\n", "\n\n", "~\n"] {
        assert!(
            matches!(decode_document(text), Ok(Decoded::Empty)),
            "{text:?}"
        );
    }
}

#[test]
fn unknown_fields_are_reported_with_their_path() {
    let (_, unknown) = decoded(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n\
         metadata: {name: g, colour: red}\n\
         spec:\n  gatewayClassName: c\n  listeners:\n  - name: a\n    port: 80\n    protocol: HTTP\n\
         \x20 - name: b\n    port: 81\n    protocol: HTTP\n    foo: 1\n\
         status: {addresses: []}\n",
    );
    assert_eq!(unknown, ["metadata.colour", "spec.listeners[1].foo"]);
}

#[test]
fn namespaced_kinds_default_to_the_default_namespace() {
    let (object, _) = decoded("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n");
    assert_eq!(metadata(&object).namespace.as_deref(), Some("default"));
    let (object, _) =
        decoded("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ''}\n");
    assert_eq!(metadata(&object).namespace.as_deref(), Some("default"));
    let (object, _) = decoded(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: apps}\nspec: {}\n",
    );
    assert_eq!(metadata(&object).namespace.as_deref(), Some("apps"));
}

#[test]
fn cluster_scoped_kinds_keep_no_namespace() {
    let (object, _) = decoded("apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n");
    assert_eq!(metadata(&object).namespace, None);
    let (object, _) = decoded(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n\
         metadata: {name: c}\nspec: {controllerName: example.com/gw}\n",
    );
    assert_eq!(metadata(&object).namespace, None);
}

#[test]
fn generation_is_left_as_written() {
    let (object, _) = decoded("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n");
    assert_eq!(metadata(&object).generation, None);
    let (object, _) =
        decoded("apiVersion: v1\nkind: Service\nmetadata: {name: s, generation: 4}\n");
    assert_eq!(metadata(&object).generation, Some(4));
}

#[test]
fn type_errors_name_the_field_path_and_line() {
    let error = failure(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: g\n\
         spec:\n  gatewayClassName: c\n  listeners:\n  - name: l\n    port: eighty\n    protocol: HTTP\n",
    );
    assert_eq!(
        error,
        DocumentError {
            line: Some(9),
            reason: "spec.listeners[0].port: invalid value `eighty`, expected u16".into(),
        }
    );
}

#[test]
fn missing_required_fields_name_their_parent() {
    let error = failure(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n",
    );
    assert_eq!(error.reason, "spec: missing field `gatewayClassName`");
}

#[test]
fn syntax_errors_carry_their_line() {
    let error = failure("apiVersion: v1\nkind: Service\nmetadata:\n  labels: {a: [}\n");
    assert_eq!(error.line, Some(4));
    let error = failure("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n");
    assert_eq!(error.line, Some(5));
    assert!(error.reason.contains("duplicate"), "{}", error.reason);
}

#[test]
fn kind_and_api_version_are_required() {
    assert_eq!(
        failure("apiVersion: v1\nmetadata: {}\n").reason,
        "missing `kind`"
    );
    assert_eq!(failure("kind: Service\n").reason, "missing `apiVersion`");
    assert_eq!(
        failure("kind: ''\napiVersion: v1\n").reason,
        "missing `kind`"
    );
    assert!(failure("- a list\n").line.is_some());
}

#[test]
fn alias_bombs_hit_the_budget() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g"])
    {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    text.push_str("kind: Service\napiVersion: v1\n");
    let error = failure(&text);
    assert!(error.line.is_some());
    assert!(
        error.reason.contains("too large or too complex"),
        "{}",
        error.reason
    );
}

/// The kind table must agree with `Object::from_json` (the API-server source's), so that
/// both sources read the same kinds.
#[test]
fn kind_table_agrees_with_from_json() {
    let api_versions = [
        "v1",
        "apps/v1",
        "discovery.k8s.io/v1",
        "example.com/v1",
        "gateway.networking.k8s.io/v1",
        "gateway.networking.k8s.io/v1beta1",
        "gateway.networking.k8s.io/v1alpha2",
        "gateway.kgateway.dev/v1alpha1",
    ];
    let kinds = [
        "GatewayClass",
        "Gateway",
        "HTTPRoute",
        "GRPCRoute",
        "TLSRoute",
        "TCPRoute",
        "ReferenceGrant",
        "Service",
        "Secret",
        "ConfigMap",
        "Namespace",
        "EndpointSlice",
        "Endpoints",
        "Deployment",
        "Pod",
        "TrafficPolicy",
        "ListenerPolicy",
        "HTTPListenerPolicy",
        "BackendConfigPolicy",
        "DirectResponse",
        "Backend",
        "GatewayParameters",
    ];
    for api_version in api_versions {
        for kind in kinds {
            let ours = !matches!(
                decode_document(&format!("apiVersion: {api_version}\nkind: {kind}\n")),
                Ok(Decoded::Ignored { .. })
            );
            let theirs = Object::from_json(api_version, kind, serde_json::json!({}))
                .map_or(true, |object| object.is_some());
            assert_eq!(ours, theirs, "{api_version} {kind}");
        }
    }
}

#[test]
fn type_header_scan_reads_plain_and_quoted_lines_only() {
    assert_eq!(
        scan_type_meta("apiVersion: v1\nkind: \"Service\" # core\nmetadata: {}\n"),
        Some(("v1", "Service"))
    );
    assert_eq!(
        scan_type_meta("kind: 'HTTPRoute'\napiVersion: gateway.networking.k8s.io/v1\n"),
        Some(("gateway.networking.k8s.io/v1", "HTTPRoute"))
    );
    // Indented keys belong to nested maps; flow maps, anchors and duplicates need the parser.
    assert_eq!(
        scan_type_meta("spec:\n  kind: Service\napiVersion: v1\n"),
        None
    );
    assert_eq!(scan_type_meta("{apiVersion: v1, kind: Service}\n"), None);
    assert_eq!(scan_type_meta("apiVersion: v1\nkind: &k Service\n"), None);
    assert_eq!(
        scan_type_meta("apiVersion: v1\nkind: Service\nkind: Secret\n"),
        None
    );
}

#[test]
fn a_syntax_error_in_a_read_kind_is_still_reported_with_its_line() {
    let error = failure("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n   namespace: b\n");
    assert_eq!(error.line, Some(5), "{error:?}");
}

#[test]
fn a_syntax_error_in_an_ignored_kind_is_still_reported() {
    let error = failure("apiVersion: apps/v1\nkind: Deployment\nspec: [a\n");
    assert!(error.line.is_some(), "{error:?}");
}
