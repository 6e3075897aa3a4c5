//! Decoding kgateway BackendConfigPolicy specs into the runtime [`BackendPolicy`].

use gateway_core::backend::{
    BackendPolicy, CircuitBreakers, CommonHttpProtocolOptions, HashCookie, HashKey, HashPolicy,
    HealthCheck, Http2ConnectionKeepalive, Http2ProtocolOptions, HttpHealthCheck, LeastRequest,
    LoadBalancer, LoadBalancerAlgorithm, Maglev, OutlierDetection, RingHash, SameSite, StatusRange,
    TcpKeepalive,
};
use http::{HeaderName, HeaderValue, Method, uri::PathAndQuery};
use std::{num::NonZeroU32, time::Duration};

use super::{BackendTargetRef, CompiledBackendConfigPolicy, compile_backend_config_policy};

/// Compiles a spec written in YAML, as in kgateway's documentation.
fn compile(yaml: &str) -> Result<CompiledBackendConfigPolicy, String> {
    let spec: serde_json::Value = serde_saphyr::from_str(yaml).expect("valid yaml");
    compile_backend_config_policy(&spec)
}

/// The runtime policy of a spec that must compile.
fn policy(yaml: &str) -> BackendPolicy {
    compile(yaml)
        .unwrap_or_else(|error| panic!("{error}\n{yaml}"))
        .policy
}

/// The error of a spec that must not compile.
fn error(yaml: &str) -> String {
    match compile(yaml) {
        Ok(compiled) => panic!("compiled: {:?}\n{yaml}", compiled.policy),
        Err(error) => error,
    }
}

#[test]
fn an_empty_spec_is_the_default_backend() {
    let compiled = compile("{}").unwrap();
    assert_eq!(compiled.policy, BackendPolicy::default());
    assert!(compiled.target_refs.is_empty());
    assert!(compiled.target_selectors.is_empty());
}

#[test]
fn connect_timeout_and_circuit_breakers() {
    let compiled = compile(
        r#"
targetRefs:
- {name: httpbin, group: "", kind: Service}
connectTimeout: 5s
circuitBreakers:
  maxConnections: 100
  maxPendingRequests: 50
  maxRequests: 200
"#,
    )
    .unwrap();
    assert_eq!(
        compiled.target_refs,
        [BackendTargetRef {
            group: String::new(),
            kind: "Service".into(),
            name: "httpbin".into(),
            section_name: None,
        }]
    );
    assert_eq!(
        compiled.policy,
        BackendPolicy {
            connect_timeout: Some(Duration::from_secs(5)),
            circuit_breakers: Some(CircuitBreakers {
                max_connections: 100,
                max_pending_requests: 50,
                max_requests: 200,
                // Not set: Envoy's default.
                max_retries: 3,
            }),
            ..BackendPolicy::default()
        }
    );
}

#[test]
fn circuit_breakers_left_unset_take_envoys_defaults() {
    assert_eq!(
        policy("circuitBreakers: {maxRetries: 0}").circuit_breakers,
        Some(CircuitBreakers {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 0,
        })
    );
}

#[test]
fn ring_hash_with_header_and_source_ip_hash_policies() {
    let policy = policy(
        "
loadBalancer:
  ringHash:
    minimumRingSize: 2048
    maximumRingSize: 4096
    hashPolicies:
    - header: {name: X-User-ID}
      terminal: true
    - sourceIP: {}
",
    );
    assert_eq!(
        policy.load_balancer,
        LoadBalancer {
            healthy_panic_threshold: 50,
            algorithm: LoadBalancerAlgorithm::RingHash(RingHash {
                minimum_ring_size: 2048,
                maximum_ring_size: 4096,
                hash_policies: vec![
                    HashPolicy {
                        key: HashKey::Header(HeaderName::from_static("x-user-id")),
                        terminal: true,
                    },
                    HashPolicy {
                        key: HashKey::SourceIp,
                        terminal: false,
                    },
                ],
            }),
        }
    );
    assert_eq!(
        policy,
        BackendPolicy {
            load_balancer: policy.load_balancer.clone(),
            ..BackendPolicy::default()
        }
    );
}

#[test]
fn ring_sizes_default_to_envoys() {
    assert_eq!(
        policy("loadBalancer: {ringHash: {}}")
            .load_balancer
            .algorithm,
        LoadBalancerAlgorithm::RingHash(RingHash::default())
    );
    assert_eq!(
        RingHash::default().maximum_ring_size,
        8 * 1024 * 1024,
        "kgateway leaves the ring to Envoy's 1024 ..= 8Mi"
    );
}

#[test]
fn maglev_with_a_generated_cookie() {
    assert_eq!(
        policy(
            "
loadBalancer:
  healthyPanicThreshold: 0
  maglev:
    hashPolicies:
    - cookie: {name: session, path: /, ttl: 30m, secure: true, httpOnly: true, sameSite: Lax}
    - cookie: {name: plain}
"
        )
        .load_balancer,
        LoadBalancer {
            healthy_panic_threshold: 0,
            algorithm: LoadBalancerAlgorithm::Maglev(Maglev {
                hash_policies: vec![
                    HashPolicy {
                        key: HashKey::Cookie(HashCookie {
                            name: "session".into(),
                            path: Some("/".into()),
                            ttl: Some(Duration::from_secs(1800)),
                            secure: true,
                            http_only: true,
                            same_site: Some(SameSite::Lax),
                        }),
                        terminal: false,
                    },
                    HashPolicy {
                        key: HashKey::Cookie(HashCookie::named("plain")),
                        terminal: false,
                    },
                ],
            }),
        }
    );
}

#[test]
fn the_simple_algorithms() {
    let algorithm = |yaml| policy(yaml).load_balancer.algorithm;
    assert_eq!(
        algorithm("loadBalancer: {leastRequest: {}}"),
        LoadBalancerAlgorithm::LeastRequest(LeastRequest { choice_count: 2 })
    );
    assert_eq!(
        algorithm("loadBalancer: {leastRequest: {choiceCount: 5}}"),
        LoadBalancerAlgorithm::LeastRequest(LeastRequest { choice_count: 5 })
    );
    assert_eq!(
        algorithm("loadBalancer: {roundRobin: {}}"),
        LoadBalancerAlgorithm::RoundRobin
    );
    assert_eq!(
        algorithm("loadBalancer: {random: {}}"),
        LoadBalancerAlgorithm::Random
    );
    assert_eq!(
        policy("loadBalancer: {healthyPanicThreshold: 25, random: {}}")
            .load_balancer
            .healthy_panic_threshold,
        25
    );
}

#[test]
fn outlier_detection_with_kgateway_defaults() {
    assert_eq!(
        policy(
            "
outlierDetection:
  consecutive5xx: 3
  interval: 5s
  baseEjectionTime: 1m
  maxEjectionPercent: 50
"
        )
        .outlier_detection,
        Some(OutlierDetection {
            consecutive_5xx: 3,
            enforcing_consecutive_5xx: 100,
            interval: Duration::from_secs(5),
            base_ejection_time: Duration::from_secs(60),
            max_ejection_percent: 50,
        })
    );
    assert_eq!(
        policy("outlierDetection: {}").outlier_detection,
        Some(OutlierDetection {
            consecutive_5xx: 5,
            enforcing_consecutive_5xx: 100,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_percent: 10,
        })
    );
    assert_eq!(
        policy("outlierDetection: {enforcingConsecutive5xx: 40}")
            .outlier_detection
            .map(|o| o.enforcing_consecutive_5xx),
        Some(40)
    );
}

#[test]
fn health_check_http_path() {
    assert_eq!(
        policy(
            "
healthCheck:
  timeout: 1s
  interval: 10s
  unhealthyThreshold: 3
  healthyThreshold: 2
  http:
    path: /health
"
        )
        .health_check,
        Some(HealthCheck {
            timeout: Duration::from_secs(1),
            interval: Duration::from_secs(10),
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            http: HttpHealthCheck {
                host: None,
                path: PathAndQuery::from_static("/health"),
                method: Method::GET,
                expected_statuses: vec![StatusRange::OK],
            },
        })
    );
    let check = policy(
        "
healthCheck:
  timeout: 500ms
  interval: 5s
  unhealthyThreshold: 0
  healthyThreshold: 0
  http: {path: /ready?full=1, host: probe.example.com, method: HEAD}
",
    )
    .health_check
    .unwrap();
    assert_eq!(check.http.method, Method::HEAD);
    assert_eq!(
        check.http.host,
        Some(HeaderValue::from_static("probe.example.com"))
    );
    assert_eq!(check.http.path.as_str(), "/ready?full=1");
    assert_eq!(check.timeout, Duration::from_millis(500));
    assert_eq!(
        policy(
            "healthCheck: {timeout: 1s, interval: 1s, unhealthyThreshold: 1, \
             healthyThreshold: 1, http: {path: /, host: ''}}"
        )
        .health_check
        .unwrap()
        .http
        .host,
        None,
        "an empty host is no host"
    );
}

#[test]
fn connection_settings() {
    let policy = policy(
        r#"
tcpKeepalive: {keepAliveProbes: 3, keepAliveTime: 1m, keepAliveInterval: 1500ms}
commonHttpProtocolOptions:
  idleTimeout: "0"
  maxHeadersCount: 60
  maxStreamDuration: 30s
  maxRequestsPerConnection: 100
http2ProtocolOptions:
  initialStreamWindowSize: 64Ki
  initialConnectionWindowSize: 1048576
  maxConcurrentStreams: 50
  connectionKeepalive: {interval: 30s, timeout: 5s}
"#,
    );
    assert_eq!(
        policy,
        BackendPolicy {
            tcp_keepalive: Some(TcpKeepalive {
                keep_alive_probes: Some(3),
                keep_alive_time: Some(Duration::from_secs(60)),
                // Whole seconds, as Envoy takes them.
                keep_alive_interval: Some(Duration::from_secs(1)),
            }),
            common_http_protocol_options: CommonHttpProtocolOptions {
                idle_timeout: Some(Duration::ZERO),
                max_headers_count: Some(60),
                max_stream_duration: Some(Duration::from_secs(30)),
                max_requests_per_connection: NonZeroU32::new(100),
            },
            http2_protocol_options: Http2ProtocolOptions {
                initial_stream_window_size: Some(65_536),
                initial_connection_window_size: Some(1_048_576),
                max_concurrent_streams: NonZeroU32::new(50),
                connection_keepalive: Some(Http2ConnectionKeepalive {
                    interval: Duration::from_secs(30),
                    timeout: Duration::from_secs(5),
                }),
            },
            ..BackendPolicy::default()
        }
    );
    assert_eq!(
        policy_max_requests("commonHttpProtocolOptions: {maxRequestsPerConnection: 0}"),
        None,
        "kgateway: 0 is unlimited"
    );
}

fn policy_max_requests(yaml: &str) -> Option<NonZeroU32> {
    policy(yaml)
        .common_http_protocol_options
        .max_requests_per_connection
}

#[test]
fn targets_services_by_port_backends_and_selectors() {
    let compiled = compile(
        r#"
targetRefs:
- {group: "", kind: Service, name: web, sectionName: http}
- {group: gateway.kgateway.dev, kind: Backend, name: static}
targetSelectors:
- {group: "", kind: Service, matchLabels: {tier: api}}
"#,
    )
    .unwrap();
    assert_eq!(
        compiled.target_refs[0].section_name.as_deref(),
        Some("http")
    );
    assert_eq!(compiled.target_refs[1].kind, "Backend");
    assert_eq!(compiled.target_refs[1].group, "gateway.kgateway.dev");
    assert_eq!(compiled.target_selectors.len(), 1);
    assert_eq!(compiled.target_selectors[0].match_labels["tier"], "api");
}

#[test]
fn targets_other_than_services_and_backends_are_refused() {
    let refs = |targets: &str| error(&format!("targetRefs: {targets}"));
    assert_eq!(
        refs(
            r#"[{group: "", kind: Service, name: a}, {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]"#
        ),
        "spec.targetRefs[1]: must reference a Service (group \"\") or a Backend (group \
         gateway.kgateway.dev), not \"gateway.networking.k8s.io\" HTTPRoute"
    );
    assert_eq!(
        refs("[{group: networking.istio.io, kind: Hostname, name: h}]"),
        "spec.targetRefs[0]: networking.istio.io Hostname targets are not supported by this gateway"
    );
    assert_eq!(
        refs("[{group: gateway.kgateway.dev, kind: Backend, name: b, sectionName: x}]"),
        "spec.targetRefs[0].sectionName: only a Service target has sections (its port names)"
    );
    assert!(
        error("targetSelectors: [{group: core, kind: Service, matchLabels: {a: b}}]")
            .starts_with("spec.targetSelectors[0]: must reference a Service"),
    );
    let many: Vec<String> = (0..17)
        .map(|i| format!(r#"{{group: "", kind: Service, name: s{i}}}"#))
        .collect();
    assert_eq!(
        refs(&format!("[{}]", many.join(", "))),
        "spec.targetRefs: at most 16 entries"
    );
}

#[test]
fn fields_the_gateway_does_not_implement_are_named() {
    for (yaml, field) in [
        ("tls: {insecureSkipVerify: true}", "tls"),
        (
            "http1ProtocolOptions: {enableTrailers: true}",
            "http1ProtocolOptions",
        ),
        (
            "perConnectionBufferLimitBytes: 1024",
            "perConnectionBufferLimitBytes",
        ),
        ("dns: {refreshRate: 5s}", "dns"),
        (
            "upstreamProxyProtocol: {version: V2}",
            "upstreamProxyProtocol",
        ),
        (
            "loadBalancer: {roundRobin: {slowStart: {window: 10s}}}",
            "loadBalancer.roundRobin.slowStart",
        ),
        (
            "loadBalancer: {leastRequest: {slowStart: {window: 10s}}}",
            "loadBalancer.leastRequest.slowStart",
        ),
        (
            "loadBalancer: {random: {}, updateMergeWindow: 1s}",
            "loadBalancer.updateMergeWindow",
        ),
        (
            "loadBalancer: {ringHash: {useHostnameForHashing: true}}",
            "loadBalancer.ringHash.useHostnameForHashing",
        ),
        (
            "loadBalancer: {maglev: {hashPolicies: [{sourceIP: {}, queryParameter: {name: q}}]}}",
            "loadBalancer.maglev.hashPolicies[0].queryParameter",
        ),
        (
            "healthCheck: {timeout: 1s, interval: 1s, unhealthyThreshold: 1, healthyThreshold: 1, grpc: {}}",
            "healthCheck.grpc",
        ),
        (
            "circuitBreakers: {maxRequests: 1, trackRemaining: true}",
            "circuitBreakers.trackRemaining",
        ),
        (
            "outlierDetection: {splitExternalLocalOriginErrors: true}",
            "outlierDetection.splitExternalLocalOriginErrors",
        ),
        (
            "commonHttpProtocolOptions: {maxConnectionDuration: 1h}",
            "commonHttpProtocolOptions.maxConnectionDuration",
        ),
        (
            "http2ProtocolOptions: {overrideStreamErrorOnInvalidHttpMessage: true}",
            "http2ProtocolOptions.overrideStreamErrorOnInvalidHttpMessage",
        ),
        (
            "http2ProtocolOptions: {connectionKeepalive: {timeout: 1s, interval: 1s, connectionIdleInterval: 1s}}",
            "http2ProtocolOptions.connectionKeepalive.connectionIdleInterval",
        ),
    ] {
        assert_eq!(
            error(yaml),
            format!("spec.{field}: not supported by this gateway"),
            "{yaml}"
        );
    }
}

#[test]
fn bad_values_name_the_field() {
    let starts = |yaml: &str, prefix: &str| {
        let error = error(yaml);
        assert!(error.starts_with(prefix), "{yaml}: {error}");
    };
    starts(
        "connectTimeout: 5 seconds",
        "spec.connectTimeout: \"5 seconds\" is not a duration",
    );
    starts(
        "outlierDetection: {baseEjectionTime: soon}",
        "spec.outlierDetection.baseEjectionTime: \"soon\" is not a duration",
    );
    starts(
        "loadBalancer: {ringHash: {hashPolicies: [{cookie: {name: s, ttl: 1d}}]}}",
        "spec.loadBalancer.ringHash.hashPolicies[0].cookie.ttl: \"1d\" is not a duration",
    );
    starts(
        "loadBalancer: {random: {}, healthyPanicThreshold: 101}",
        "spec.loadBalancer.healthyPanicThreshold: 101 is not a percentage",
    );
    starts(
        "outlierDetection: {maxEjectionPercent: -1}",
        "spec.outlierDetection.maxEjectionPercent: -1 is not a percentage",
    );
    starts(
        "circuitBreakers: {maxRequests: -5}",
        "spec.circuitBreakers.maxRequests: invalid value",
    );
    starts(
        "http2ProtocolOptions: {initialStreamWindowSize: lots}",
        "spec.http2ProtocolOptions.initialStreamWindowSize: \"lots\" is not a size",
    );
    starts(
        "loadBalancer: {maglev: {hashPolicies: [{cookie: {name: s, sameSite: Sometimes}}]}}",
        "spec.loadBalancer.maglev.hashPolicies[0].cookie.sameSite: unknown variant",
    );
    starts(
        "healthCheck: {interval: 1s, unhealthyThreshold: 1, healthyThreshold: 1, http: {path: /}}",
        "spec.healthCheck: missing field `timeout`",
    );
    starts(
        "http2ProtocolOptions: {connectionKeepalive: {interval: 1s}}",
        "spec.http2ProtocolOptions.connectionKeepalive: missing field `timeout`",
    );
}

#[test]
fn kgateway_one_of_rules() {
    for (yaml, expected) in [
        (
            "loadBalancer: {roundRobin: {}, random: {}}",
            "spec.loadBalancer: set exactly one of leastRequest, roundRobin, ringHash, maglev, random",
        ),
        (
            "loadBalancer: {healthyPanicThreshold: 10}",
            "spec.loadBalancer: set exactly one of leastRequest, roundRobin, ringHash, maglev, random",
        ),
        (
            "loadBalancer: {ringHash: {hashPolicies: [{sourceIP: {}}, {header: {name: a}, sourceIP: {}}]}}",
            "spec.loadBalancer.ringHash.hashPolicies[1]: set exactly one of header, cookie, sourceIP",
        ),
        (
            "loadBalancer: {maglev: {hashPolicies: [{terminal: true}]}}",
            "spec.loadBalancer.maglev.hashPolicies[0]: set exactly one of header, cookie, sourceIP",
        ),
        (
            "circuitBreakers: {}",
            "spec.circuitBreakers: set at least one of maxConnections, maxPendingRequests, \
             maxRequests, maxRetries",
        ),
        (
            "healthCheck: {timeout: 1s, interval: 1s, unhealthyThreshold: 1, healthyThreshold: 1}",
            "spec.healthCheck.http: required (gRPC health checks are not supported by this gateway)",
        ),
        (
            "http2ProtocolOptions: {connectionKeepalive: {timeout: 5s}}",
            "spec.http2ProtocolOptions.connectionKeepalive.interval: required by this gateway \
             (it sends PINGs on a fixed interval only)",
        ),
    ] {
        assert_eq!(error(yaml), expected, "{yaml}");
    }
}

#[test]
fn values_the_runtime_cannot_use_name_the_field() {
    let health = |http: &str| {
        error(&format!(
            "healthCheck: {{timeout: 1s, interval: 1s, unhealthyThreshold: 1, \
             healthyThreshold: 1, http: {http}}}"
        ))
    };
    assert_eq!(
        health("{path: health}"),
        "spec.healthCheck.http.path: \"health\" is not a path starting with '/'"
    );
    assert_eq!(
        health("{path: /, method: CONNECT}"),
        "spec.healthCheck.http.method: \"CONNECT\" is not one of GET, HEAD, POST, PUT, \
         DELETE, OPTIONS, TRACE, PATCH"
    );
    assert_eq!(
        health("{path: /, host: \"a\\nb\"}"),
        "spec.healthCheck.http.host: \"a\\nb\" is not a header value"
    );
    assert_eq!(
        error("loadBalancer: {ringHash: {hashPolicies: [{header: {name: 'bad name'}}]}}"),
        "spec.loadBalancer.ringHash.hashPolicies[0].header.name: \"bad name\" is not a header name"
    );
    assert_eq!(
        error("http2ProtocolOptions: {maxConcurrentStreams: 0}"),
        "spec.http2ProtocolOptions.maxConcurrentStreams: must be between 1 and 2147483647"
    );
    let many: Vec<&str> = vec!["{sourceIP: {}}"; 17];
    assert_eq!(
        error(&format!(
            "loadBalancer: {{maglev: {{hashPolicies: [{}]}}}}",
            many.join(", ")
        )),
        "spec.loadBalancer.maglev.hashPolicies: at most 16 entries"
    );
}

#[test]
fn validation_errors_carry_the_spec_path() {
    for (yaml, expected) in [
        (
            "connectTimeout: 0s",
            "spec.connectTimeout: must be greater than zero",
        ),
        (
            "tcpKeepalive: {keepAliveTime: 500ms}",
            "spec.tcpKeepalive.keepAliveTime: must be at least 1s",
        ),
        (
            "commonHttpProtocolOptions: {maxHeadersCount: 0}",
            "spec.commonHttpProtocolOptions.maxHeadersCount: must be at least 1",
        ),
        (
            "http2ProtocolOptions: {initialStreamWindowSize: 1000}",
            "spec.http2ProtocolOptions.initialStreamWindowSize: must be between 65535 and \
             2147483647",
        ),
        (
            "http2ProtocolOptions: {initialConnectionWindowSize: 8Gi}",
            "spec.http2ProtocolOptions.initialConnectionWindowSize: must be between 65535 and \
             2147483647",
        ),
        (
            "loadBalancer: {leastRequest: {choiceCount: 1}}",
            "spec.loadBalancer.leastRequest.choiceCount: must be at least 2",
        ),
        (
            "loadBalancer: {ringHash: {minimumRingSize: 0}}",
            "spec.loadBalancer.ringHash.minimumRingSize: must be at least 1",
        ),
        (
            "loadBalancer: {ringHash: {maximumRingSize: 512}}",
            "spec.loadBalancer.ringHash.minimumRingSize: must not exceed maximumRingSize",
        ),
        (
            "loadBalancer: {maglev: {hashPolicies: [{sourceIP: {}}, {cookie: {name: 'a;b'}}]}}",
            "spec.loadBalancer.maglev.hashPolicies[1].cookie.name: must be a cookie name (an \
             RFC 6265 token)",
        ),
        (
            "healthCheck: {timeout: 0s, interval: 1s, unhealthyThreshold: 1, healthyThreshold: 1, http: {path: /}}",
            "spec.healthCheck.timeout: must be greater than zero",
        ),
        (
            "outlierDetection: {interval: 0s}",
            "spec.outlierDetection.interval: must be at least 1ms",
        ),
        (
            "circuitBreakers: {maxRequests: 0}",
            "spec.circuitBreakers.maxRequests: must be at least 1",
        ),
    ] {
        assert_eq!(error(yaml), expected, "{yaml}");
    }
}
