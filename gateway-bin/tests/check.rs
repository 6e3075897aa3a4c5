//! `gateway check`: compiles a directory without serving it, prints every resource's
//! conditions and exits non-zero on a problem, naming the resource, the field and the
//! reason (compile problems) or the file, document and line (YAML that does not parse).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use std::{ffi::OsStr, net::SocketAddr, process::Output};
use support::{CONTROLLER, Scratch, gateway_yaml, route_yaml, run_to_completion, service_yaml};

/// An endpoint address; `check` never dials it.
fn backend() -> SocketAddr {
    "127.0.0.1:8080".parse().unwrap()
}

/// `gateway check --config-dir DIR --controller-name CONTROLLER [extra...]`.
fn check(scratch: &Scratch, extra: &[&str]) -> Output {
    let dir = scratch.config_dir();
    let mut args = vec![
        OsStr::new("check"),
        OsStr::new("--config-dir"),
        dir.as_os_str(),
        OsStr::new("--controller-name"),
        OsStr::new(CONTROLLER),
    ];
    args.extend(extra.iter().map(OsStr::new));
    run_to_completion(&args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// A directory with the Gateway, Service `one` and a route to it.
fn valid() -> Scratch {
    let scratch = Scratch::new();
    scratch.write("gateway.yaml", &gateway_yaml());
    scratch.write(
        "app.yaml",
        &(service_yaml("one", backend()) + &route_yaml("r", "a.example", "/", "one")),
    );
    scratch
}

#[test]
fn valid_directory_exits_zero_and_prints_statuses() {
    let output = check(&valid(), &[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    for expected in [
        "GatewayClass ours\n  Accepted=True (Accepted)\n",
        "Gateway default/gw\n  Accepted=True (Accepted)\n  Programmed=True (Programmed)\n",
        "  listener http (attachedRoutes 1)\n    Accepted=True (Accepted)\n",
        "HTTPRoute default/r\n  parent gw\n    Accepted=True (Accepted)\n    \
         ResolvedRefs=True (ResolvedRefs)\n",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // GatewayClass, Gateway, Service, EndpointSlice, HTTPRoute.
    assert!(
        stderr.contains("ok: 5 objects from 2 files"),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("error"), "stderr:\n{stderr}");
}

#[test]
fn json_output_is_the_status_shape() {
    let output = check(&valid(), &["--json"]);
    assert!(output.status.success(), "{output:?}");
    let statuses: Vec<Value> = serde_json::from_slice(&output.stdout).expect("a JSON array");
    let route = statuses
        .iter()
        .find(|s| s["kind"] == "HTTPRoute" && s["namespace"] == "default" && s["name"] == "r")
        .expect("the route has a status");
    assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
    let conditions = route["status"]["parents"][0]["conditions"]
        .as_array()
        .unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Accepted" && c["status"] == "True"),
        "{route:#}"
    );
    assert!(statuses.iter().any(|s| s["kind"] == "Gateway"));
}

/// A directory whose route sends traffic to Service `missing`, which does not exist.
fn missing_backend() -> Scratch {
    let scratch = Scratch::new();
    scratch.write("gateway.yaml", &gateway_yaml());
    scratch.write(
        "app.yaml",
        &(service_yaml("one", backend()) + &route_yaml("r", "a.example", "/", "missing")),
    );
    scratch
}

#[test]
fn missing_backend_service_fails_naming_resource_and_reason() {
    let output = check(&missing_backend(), &[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    // stderr: the resource (kind namespace/name) and what is wrong with it.
    assert!(
        stderr.contains(
            "error: HTTPRoute default/r: spec.rules[0].backendRefs[0]: \
             Service default/missing not found (BackendNotFound)"
        ),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("ok:"), "stderr:\n{stderr}");
    // stdout: the condition with its Gateway API reason; the route is still accepted.
    assert!(
        stdout.contains(
            "HTTPRoute default/r\n  parent gw\n    Accepted=True (Accepted)\n    \
             ResolvedRefs=False (BackendNotFound): Service default/missing not found\n"
        ),
        "stdout:\n{stdout}"
    );
}

#[test]
fn invalid_yaml_fails_naming_file_document_and_line() {
    let scratch = valid();
    // Document 1 (0-based) of the file; line 11 indents `namespace` under a scalar.
    let broken = "apiVersion: v1
kind: Service
metadata: {name: other, namespace: default}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r2
   namespace: default
spec:
  parentRefs: [{name: gw}]
";
    scratch.write("broken.yaml", broken);
    let output = check(&scratch, &[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let file = scratch.config_dir().join("broken.yaml");
    let expected = format!(
        "{}: document 1 (line 11): mapping values are not allowed in this context",
        file.display()
    );
    assert!(
        stderr.contains(&expected),
        "missing {expected:?} in stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("1 invalid document(s)"),
        "stderr:\n{stderr}"
    );
    // Nothing is compiled from a directory that does not load.
    assert!(stdout.is_empty(), "stdout:\n{stdout}");
}

#[test]
fn wrongly_typed_field_fails_naming_the_field_path() {
    let scratch = valid();
    let broken = "apiVersion: v1
kind: Service
metadata: {name: other, namespace: default}
spec:
  ports:
  - name: http
    port: eighty
";
    scratch.write("typed.yaml", broken);
    let output = check(&scratch, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    let expected = format!(
        "{}: document 0 (line 7): spec.ports[0].port: invalid value `eighty`",
        scratch.config_dir().join("typed.yaml").display()
    );
    assert!(
        stderr.contains(&expected),
        "missing {expected:?} in stderr:\n{stderr}"
    );
}
