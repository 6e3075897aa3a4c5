//! Policy validation names the kgateway field at fault.

use std::{num::NonZeroU32, time::Duration};

use crate::backend::{
    BackendPolicy, CircuitBreakers, CommonHttpProtocolOptions, HashCookie, HashKey, HashPolicy,
    HealthCheck, Http2ProtocolOptions, HttpHealthCheck, LeastRequest, LoadBalancer,
    LoadBalancerAlgorithm, Maglev, OutlierDetection, RingHash, StatusRange, TcpKeepalive,
};

fn field_of(policy: &BackendPolicy) -> String {
    policy.validate().unwrap_err().field
}

fn balanced(algorithm: LoadBalancerAlgorithm) -> BackendPolicy {
    BackendPolicy {
        load_balancer: LoadBalancer {
            algorithm,
            ..LoadBalancer::default()
        },
        ..BackendPolicy::default()
    }
}

fn cookie_policy(cookie: HashCookie) -> Vec<HashPolicy> {
    vec![
        HashPolicy {
            key: HashKey::SourceIp,
            terminal: false,
        },
        HashPolicy {
            key: HashKey::Cookie(cookie),
            terminal: false,
        },
    ]
}

#[test]
fn defaults_and_a_full_policy_are_valid() {
    BackendPolicy::default().validate().unwrap();
    let full = BackendPolicy {
        connect_timeout: Some(Duration::from_secs(1)),
        tcp_keepalive: Some(TcpKeepalive {
            keep_alive_probes: Some(3),
            keep_alive_time: Some(Duration::from_secs(60)),
            keep_alive_interval: Some(Duration::from_secs(10)),
        }),
        common_http_protocol_options: CommonHttpProtocolOptions {
            idle_timeout: Some(Duration::ZERO),
            max_headers_count: Some(50),
            max_stream_duration: Some(Duration::from_secs(30)),
            max_requests_per_connection: NonZeroU32::new(100),
        },
        http2_protocol_options: Http2ProtocolOptions {
            initial_stream_window_size: Some(65_535),
            initial_connection_window_size: Some(i32::MAX as u32),
            ..Http2ProtocolOptions::default()
        },
        load_balancer: LoadBalancer {
            healthy_panic_threshold: 100,
            algorithm: LoadBalancerAlgorithm::RingHash(RingHash {
                hash_policies: cookie_policy(HashCookie {
                    path: Some("/app".to_owned()),
                    ..HashCookie::named("session-id")
                }),
                ..RingHash::default()
            }),
        },
        health_check: Some(HealthCheck {
            timeout: Duration::from_secs(1),
            interval: Duration::from_secs(10),
            unhealthy_threshold: 3,
            healthy_threshold: 1,
            http: HttpHealthCheck::get("/ready".parse().unwrap()),
        }),
        outlier_detection: Some(OutlierDetection::default()),
        circuit_breakers: Some(CircuitBreakers::default()),
    };
    full.validate().unwrap();
    // The plan shows it in /config_dump with kgateway's names.
    let json = serde_json::to_value(&full).unwrap();
    assert_eq!(
        json["commonHttpProtocolOptions"]["maxRequestsPerConnection"],
        100
    );
    assert_eq!(
        json["loadBalancer"]["algorithm"]["ringHash"]["hashPolicies"][0]["sourceIP"],
        serde_json::Value::Null
    );
    assert_eq!(
        json["loadBalancer"]["algorithm"]["ringHash"]["hashPolicies"][1]["cookie"]["name"],
        "session-id"
    );
    assert_eq!(json["outlierDetection"]["baseEjectionTime"], "30s");
}

#[test]
fn invalid_settings_name_their_field() {
    let cases: Vec<(BackendPolicy, &str)> = vec![
        (
            BackendPolicy {
                connect_timeout: Some(Duration::ZERO),
                ..BackendPolicy::default()
            },
            "connectTimeout",
        ),
        (
            BackendPolicy {
                tcp_keepalive: Some(TcpKeepalive {
                    keep_alive_interval: Some(Duration::from_millis(500)),
                    ..TcpKeepalive::default()
                }),
                ..BackendPolicy::default()
            },
            "tcpKeepalive.keepAliveInterval",
        ),
        (
            BackendPolicy {
                common_http_protocol_options: CommonHttpProtocolOptions {
                    max_headers_count: Some(0),
                    ..CommonHttpProtocolOptions::default()
                },
                ..BackendPolicy::default()
            },
            "commonHttpProtocolOptions.maxHeadersCount",
        ),
        (
            BackendPolicy {
                http2_protocol_options: Http2ProtocolOptions {
                    initial_connection_window_size: Some(1024),
                    ..Http2ProtocolOptions::default()
                },
                ..BackendPolicy::default()
            },
            "http2ProtocolOptions.initialConnectionWindowSize",
        ),
        (
            balanced(LoadBalancerAlgorithm::LeastRequest(LeastRequest {
                choice_count: 1,
            })),
            "loadBalancer.leastRequest.choiceCount",
        ),
        (
            balanced(LoadBalancerAlgorithm::RingHash(RingHash {
                minimum_ring_size: 4096,
                maximum_ring_size: 1024,
                ..RingHash::default()
            })),
            "loadBalancer.ringHash.minimumRingSize",
        ),
        (
            balanced(LoadBalancerAlgorithm::RingHash(RingHash {
                maximum_ring_size: 16 << 20,
                ..RingHash::default()
            })),
            "loadBalancer.ringHash.maximumRingSize",
        ),
        (
            balanced(LoadBalancerAlgorithm::Maglev(Maglev {
                hash_policies: cookie_policy(HashCookie::named("bad name")),
            })),
            "loadBalancer.maglev.hashPolicies[1].cookie.name",
        ),
        (
            BackendPolicy {
                load_balancer: LoadBalancer {
                    healthy_panic_threshold: 101,
                    ..LoadBalancer::default()
                },
                ..BackendPolicy::default()
            },
            "loadBalancer.healthyPanicThreshold",
        ),
        (
            BackendPolicy {
                health_check: Some(HealthCheck {
                    timeout: Duration::from_secs(1),
                    interval: Duration::from_secs(1),
                    unhealthy_threshold: 1,
                    healthy_threshold: 1,
                    http: HttpHealthCheck {
                        expected_statuses: vec![StatusRange {
                            start: 300,
                            end: 200,
                        }],
                        ..HttpHealthCheck::get("/".parse().unwrap())
                    },
                }),
                ..BackendPolicy::default()
            },
            "healthCheck.http.expectedStatuses",
        ),
        (
            BackendPolicy {
                outlier_detection: Some(OutlierDetection {
                    max_ejection_percent: 120,
                    ..OutlierDetection::default()
                }),
                ..BackendPolicy::default()
            },
            "outlierDetection.maxEjectionPercent",
        ),
        (
            BackendPolicy {
                circuit_breakers: Some(CircuitBreakers {
                    max_requests: 0,
                    ..CircuitBreakers::default()
                }),
                ..BackendPolicy::default()
            },
            "circuitBreakers.maxRequests",
        ),
    ];
    for (policy, field) in cases {
        assert_eq!(field_of(&policy), field);
    }
}

#[test]
fn expected_statuses_default_to_200_only() {
    let check = HttpHealthCheck::get("/".parse().unwrap());
    assert!(check.is_expected(200));
    assert!(!check.is_expected(204));
    assert!(!check.is_expected(500));
}
