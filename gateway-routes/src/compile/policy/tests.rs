//! Attachment, merging and status of TrafficPolicies.

use std::time::Duration;

use crate::{
    compile::{Compiled, StatusBody, test_support::*},
    plan::{RulePlan, TrafficPolicyPlan},
};

const LISTENERS: &str = "  - {name: http, port: 80, protocol: HTTP}
  - {name: admin, port: 8080, protocol: HTTP}";

/// Gateway `gw` (listeners `http`, `admin`), Service `svc`, and HTTPRoute `r` with rules
/// `a` (/a) and `b` (/b), labelled `team: x`.
fn base() -> String {
    format!(
        "{}{}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r, namespace: default, labels: {{team: x}}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - name: a
    matches: [{{path: {{type: PathPrefix, value: /a}}}}]
    backendRefs: [{{name: svc, port: 8080}}]
  - name: b
    matches: [{{path: {{type: PathPrefix, value: /b}}}}]
    backendRefs: [{{name: svc, port: 8080}}]
",
        gateway(LISTENERS),
        service("default", "svc", "10.0.0.1")
    )
}

fn policy(name: &str, created: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: {name}, namespace: default, creationTimestamp: '{created}'}}
spec:
{spec}
"
    )
}

/// The rule named `rule` as served on listener `listener`.
fn rule<'a>(compiled: &'a Compiled, listener: &str, rule: &str) -> &'a RulePlan {
    compiled.plan.gateways[0]
        .listeners
        .iter()
        .find(|l| l.resource.section.as_deref() == Some(listener))
        .unwrap_or_else(|| panic!("no listener {listener}"))
        .virtual_hosts
        .iter()
        .flat_map(|v| &v.rules)
        .find(|r| r.resource.section.as_deref() == Some(rule))
        .unwrap_or_else(|| panic!("no rule {rule}"))
}

fn policy_of<'a>(compiled: &'a Compiled, listener: &str, name: &str) -> &'a TrafficPolicyPlan {
    rule(compiled, listener, name)
        .policy
        .as_deref()
        .unwrap_or_else(|| panic!("rule {name} on {listener} has no policy"))
}

fn request_timeout(plan: &TrafficPolicyPlan) -> Option<Duration> {
    plan.timeouts.as_ref().and_then(|t| t.request)
}

/// `(type, status, reason, message)` of the conditions of a policy's first ancestor.
fn policy_conditions(compiled: &Compiled, name: &str) -> Vec<(String, String, String, String)> {
    let StatusBody::Policy(status) = &status_of(compiled, "TrafficPolicy", name).status else {
        panic!("not a policy status")
    };
    status.ancestors[0]
        .conditions
        .iter()
        .map(|c| {
            (
                c.type_.to_string(),
                c.status.to_string(),
                c.reason.to_string(),
                c.message.clone(),
            )
        })
        .collect()
}

fn reasons(compiled: &Compiled, name: &str) -> Vec<(String, String, String)> {
    policy_conditions(compiled, name)
        .into_iter()
        .map(|(t, s, r, _)| (t, s, r))
        .collect()
}

#[test]
fn a_gateway_policy_covers_every_route_and_listener() {
    let yaml = base()
        + &policy(
            "gw-wide",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  timeouts: {request: 10s}",
        );
    let compiled = compile_yaml(&yaml);
    for listener in ["http", "admin"] {
        for r in ["a", "b"] {
            assert_eq!(
                request_timeout(policy_of(&compiled, listener, r)),
                Some(Duration::from_secs(10))
            );
        }
    }
    assert_eq!(
        reasons(&compiled, "gw-wide"),
        [
            cond("Accepted", "True", "Valid"),
            cond("Attached", "True", "Attached")
        ]
    );
    let StatusBody::Policy(status) = &status_of(&compiled, "TrafficPolicy", "gw-wide").status
    else {
        panic!()
    };
    assert_eq!(status.ancestors.len(), 1);
    assert_eq!(status.ancestors[0].ancestor_ref.name, "gw");
    assert_eq!(&*status.ancestors[0].controller_name, CONTROLLER);
}

#[test]
fn the_more_specific_attachment_wins_field_by_field() {
    let yaml = base()
        + &policy(
            "gw-wide",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  timeouts: {request: 10s}
  headerModifiers:
    request:
      set: [{name: x-from, value: gateway}]",
        )
        + &policy(
            "admin-listener",
            "2024-01-02T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw, sectionName: admin}]
  timeouts: {request: 20s}",
        )
        + &policy(
            "route",
            "2024-01-03T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  timeouts: {request: 30s}",
        )
        + &policy(
            "rule-b",
            "2024-01-04T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: b}]
  timeouts: {request: 40s}",
        );
    let compiled = compile_yaml(&yaml);
    let secs = |l, r| request_timeout(policy_of(&compiled, l, r)).map(|d| d.as_secs());
    // Rule beats route beats listener beats gateway.
    assert_eq!(secs("http", "b"), Some(40));
    assert_eq!(secs("http", "a"), Some(30));
    assert_eq!(secs("admin", "a"), Some(30));
    // Fields no more specific policy sets still come from the Gateway.
    for (l, r) in [("http", "a"), ("http", "b"), ("admin", "a")] {
        let modifiers = policy_of(&compiled, l, r)
            .header_modifiers
            .as_ref()
            .unwrap();
        assert_eq!(modifiers.request.as_ref().unwrap().set[0].value, "gateway");
    }
    assert_eq!(
        reasons(&compiled, "gw-wide"),
        [
            cond("Accepted", "True", "Valid"),
            cond("Attached", "True", "Merged")
        ]
    );
    // The listener policy only sets a field every route-level policy overrides.
    assert_eq!(
        reasons(&compiled, "admin-listener"),
        [
            cond("Accepted", "True", "Valid"),
            cond("Attached", "False", "Overridden")
        ]
    );
    assert_eq!(
        reasons(&compiled, "rule-b"),
        [
            cond("Accepted", "True", "Valid"),
            cond("Attached", "True", "Attached")
        ]
    );
}

#[test]
fn the_older_policy_wins_at_the_same_level_and_the_newer_one_is_conflicted() {
    let yaml = base()
        + &policy(
            "newer",
            "2024-02-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  timeouts: {request: 5s}",
        )
        + &policy(
            "older",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  timeouts: {request: 7s}",
        )
        + &policy(
            "newer-partial",
            "2024-03-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  timeouts: {request: 9s}
  retry: {attempts: 3, retryOn: [5xx]}",
        );
    let compiled = compile_yaml(&yaml);
    let plan = policy_of(&compiled, "http", "a");
    assert_eq!(request_timeout(plan), Some(Duration::from_secs(7)));
    assert_eq!(plan.retry.as_ref().unwrap().config.attempts, 3);
    let conditions = policy_conditions(&compiled, "newer");
    assert_eq!(
        (conditions[0].1.as_str(), conditions[0].2.as_str()),
        ("False", "Conflicted")
    );
    assert!(conditions[0].3.contains("timeouts (from default/older)"));
    assert_eq!(
        reasons(&compiled, "newer-partial"),
        [
            cond("Accepted", "True", "Valid"),
            cond("Attached", "True", "Merged")
        ]
    );
    assert!(compiled.diagnostics.iter().any(
        |d| d.resource == "TrafficPolicy default/newer" && d.message.ends_with("(Conflicted)")
    ));
}

#[test]
fn target_selectors_attach_by_labels() {
    let yaml = base()
        + &policy(
            "by-label",
            "2024-01-01T00:00:00Z",
            "  targetSelectors: [{group: gateway.networking.k8s.io, kind: HTTPRoute, matchLabels: {team: x}}]
  timeouts: {request: 3s}",
        )
        + &policy(
            "no-match",
            "2024-01-01T00:00:00Z",
            "  targetSelectors: [{group: gateway.networking.k8s.io, kind: HTTPRoute, matchLabels: {team: z}}]
  timeouts: {request: 4s}",
        );
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        request_timeout(policy_of(&compiled, "http", "b")),
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        reasons(&compiled, "no-match"),
        [
            cond("Accepted", "False", "TargetNotFound"),
            cond("Attached", "False", "TargetNotFound")
        ]
    );
}

#[test]
fn missing_targets_are_reported_never_silent() {
    let yaml = base()
        + &policy(
            "ghost",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: nope}]
  timeouts: {request: 3s}",
        )
        + &policy(
            "bad-section",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw, sectionName: https}]
  timeouts: {request: 3s}",
        );
    let compiled = compile_yaml(&yaml);
    let ghost = policy_conditions(&compiled, "ghost");
    assert_eq!(ghost[0].2, "TargetNotFound");
    assert_eq!(ghost[0].3, "HTTPRoute default/nope not found");
    let bad = policy_conditions(&compiled, "bad-section");
    assert_eq!(
        bad[0].3,
        "Gateway default/gw has no listener named \"https\""
    );
    assert!(rule(&compiled, "http", "a").policy.is_none());
    assert!(
        compiled
            .diagnostics
            .iter()
            .any(|d| d.to_string()
                == "TrafficPolicy default/ghost: spec.targetRefs: HTTPRoute default/nope not found (TargetNotFound)")
    );
}

#[test]
fn unsupported_and_invalid_fields_make_the_policy_invalid_and_leave_traffic_alone() {
    let yaml = base()
        + &policy(
            "unsupported",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  oauth2: {issuerURI: https://issuer}",
        )
        + &policy(
            "bad-duration",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  timeouts: {request: soon}",
        )
        + &policy(
            "bad-retry",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  retry: {retryOn: [5xx], perTryTimeout: 5s}
  timeouts: {request: 2s}",
        );
    let compiled = compile_yaml(&yaml);
    let unsupported = policy_conditions(&compiled, "unsupported");
    assert_eq!(
        (unsupported[0].1.as_str(), unsupported[0].2.as_str()),
        ("False", "Invalid")
    );
    assert_eq!(
        unsupported[0].3,
        "spec.oauth2: not supported by this gateway"
    );
    let duration = policy_conditions(&compiled, "bad-duration");
    assert!(
        duration[0]
            .3
            .starts_with("spec.timeouts.request: \"soon\" is not a duration"),
        "{}",
        duration[0].3
    );
    assert_eq!(
        policy_conditions(&compiled, "bad-retry")[0].3,
        "spec.retry.perTryTimeout: must be less than timeouts.request"
    );
    // Invalid policies never reach the plan.
    assert!(rule(&compiled, "http", "a").policy.is_none());
    // Their status is reported against the targets they name.
    let StatusBody::Policy(status) = &status_of(&compiled, "TrafficPolicy", "unsupported").status
    else {
        panic!()
    };
    let ancestor = &status.ancestors[0].ancestor_ref;
    assert_eq!(
        (ancestor.kind.as_deref(), ancestor.name.as_str()),
        (Some("HTTPRoute"), "r")
    );
}

#[test]
fn disable_switches_off_a_less_specific_field() {
    let yaml = base()
        + &policy(
            "gw-cors",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  cors: {allowOrigins: ['https://a.example']}",
        )
        + &policy(
            "no-cors-on-b",
            "2024-01-02T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: b}]
  cors: {disable: {}}",
        );
    let compiled = compile_yaml(&yaml);
    assert!(policy_of(&compiled, "http", "a").cors.is_some());
    assert!(rule(&compiled, "http", "b").policy.is_none());
    assert_eq!(
        reasons(&compiled, "no-cors-on-b"),
        [
            cond("Accepted", "True", "Valid"),
            cond("Attached", "True", "Attached")
        ]
    );
}

#[test]
fn retry_on_conditions_map_to_codes() {
    let yaml = base()
        + &policy(
            "retry",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  retry: {retryOn: [gateway-error, connect-failure], statusCodes: [429], attempts: 2, perTryTimeout: 1s, backoffBaseInterval: 50ms}",
        );
    let compiled = compile_yaml(&yaml);
    let retry = policy_of(&compiled, "http", "a").retry.as_ref().unwrap();
    let codes: Vec<u16> = retry.config.codes.iter().map(|c| c.as_u16()).collect();
    assert_eq!(codes, [429, 502, 503, 504]);
    assert_eq!(retry.config.attempts, 2);
    assert_eq!(retry.config.backoff, Duration::from_millis(50));
    assert_eq!(retry.per_try_timeout, Some(Duration::from_secs(1)));
}

#[test]
fn a_backend_without_static_hosts_is_invalid() {
    let yaml = base()
        + "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: lp, namespace: default}
spec:
  type: Static
";
    let compiled = compile_yaml(&yaml);
    let StatusBody::Conditions { conditions } = &status_of(&compiled, "Backend", "lp").status
    else {
        panic!()
    };
    assert_eq!(conditions[0].reason, "Invalid");
    assert_eq!(
        compiled.diagnostics[0].to_string(),
        "Backend default/lp: spec.static: required (this gateway serves static Backends only) (Invalid)"
    );
}

fn listener_policy(kind: &str, name: &str, created: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: {kind}
metadata: {{name: {name}, namespace: default, creationTimestamp: '{created}'}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: gw}}]
{spec}
"
    )
}

fn listener_plan<'a>(compiled: &'a Compiled, name: &str) -> &'a crate::plan::ListenerPlan {
    compiled.plan.gateways[0]
        .listeners
        .iter()
        .find(|l| l.resource.section.as_deref() == Some(name))
        .unwrap()
}

#[test]
fn listener_policies_set_http_settings_per_port_and_the_older_wins() {
    let yaml = base()
        + &listener_policy(
            "ListenerPolicy",
            "lp",
            "2024-01-01T00:00:00Z",
            "  default:
    httpSettings:
      healthCheck: {path: /healthz}
      xffNumTrustedHops: 1
  perPort:
  - port: 8080
    listener:
      httpSettings:
        streamIdleTimeout: 30s",
        )
        + &listener_policy(
            "HTTPListenerPolicy",
            "older-but-http",
            "2023-01-01T00:00:00Z",
            "  healthCheck: {path: /other}",
        );
    let compiled = compile_yaml(&yaml);
    let http = listener_plan(&compiled, "http")
        .http_policy
        .as_ref()
        .unwrap();
    assert_eq!(http.source, "ListenerPolicy default/lp");
    assert!(http.health_check.is_some());
    assert_eq!(http.stream_idle_timeout, None);
    // perPort replaces the default whole on 8080.
    let admin = listener_plan(&compiled, "admin")
        .http_policy
        .as_ref()
        .unwrap();
    assert!(admin.health_check.is_none());
    assert_eq!(admin.stream_idle_timeout, Some(Duration::from_secs(30)));
    // A ListenerPolicy outranks an HTTPListenerPolicy on the same Gateway.
    assert_eq!(
        reasons_of(&compiled, "HTTPListenerPolicy", "older-but-http"),
        [
            cond("Accepted", "False", "Conflicted"),
            cond("Attached", "False", "Overridden")
        ]
    );
    assert_eq!(
        reasons_of(&compiled, "ListenerPolicy", "lp"),
        [
            cond("Accepted", "True", "Valid"),
            cond("Attached", "True", "Attached")
        ]
    );
}

#[test]
fn listener_policy_fields_we_do_not_serve_are_invalid() {
    let yaml = base()
        + &listener_policy(
            "ListenerPolicy",
            "lp",
            "2024-01-01T00:00:00Z",
            "  default:
    perConnectionBufferLimitBytes: 1024
    httpSettings:
      accessLog:
      - fileSink: {path: /dev/stdout, stringFormat: '%NOPE%'}",
        );
    let compiled = compile_yaml(&yaml);
    let StatusBody::Policy(status) = &status_of(&compiled, "ListenerPolicy", "lp").status else {
        panic!()
    };
    let condition = &status.ancestors[0].conditions[0];
    assert_eq!(condition.reason, "Invalid");
    assert_eq!(
        condition.message,
        "spec.default.perConnectionBufferLimitBytes: not supported by this gateway"
    );
    assert!(listener_plan(&compiled, "http").http_policy.is_none());

    let yaml = base()
        + &listener_policy(
            "HTTPListenerPolicy",
            "hlp",
            "2024-01-01T00:00:00Z",
            "  accessLog:
  - fileSink: {path: /dev/stdout, stringFormat: '%NOPE%'}",
        );
    let compiled = compile_yaml(&yaml);
    let StatusBody::Policy(status) = &status_of(&compiled, "HTTPListenerPolicy", "hlp").status
    else {
        panic!()
    };
    let message = &status.ancestors[0].conditions[0].message;
    assert!(
        message.starts_with("spec.accessLog[0].fileSink.stringFormat"),
        "{message}"
    );
}

fn reasons_of(compiled: &Compiled, kind: &str, name: &str) -> Vec<(String, String, String)> {
    let StatusBody::Policy(status) = &status_of(compiled, kind, name).status else {
        panic!("not a policy status")
    };
    status.ancestors[0]
        .conditions
        .iter()
        .map(|c| {
            (
                c.type_.to_string(),
                c.status.to_string(),
                c.reason.to_string(),
            )
        })
        .collect()
}

#[test]
fn a_180_second_route_timeout_is_served_as_written() {
    let yaml = format!(
        "{}{}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: slow, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - name: long
    timeouts: {{request: 180s}}
    backendRefs: [{{name: svc, port: 8080}}]
",
        gateway(LISTENERS),
        service("default", "svc", "10.0.0.1")
    );
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        rule(&compiled, "http", "long").timeouts.request,
        Some(Duration::from_secs(180))
    );
}
