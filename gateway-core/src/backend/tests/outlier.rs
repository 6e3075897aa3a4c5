//! Outlier detection and admission through circuit breakers, on the backend state with
//! paused time.

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc, time::Duration};

use crate::backend::{
    AppProtocol, BackendPolicy, CircuitBreakers, Http2ProtocolOptions, OutlierDetection,
    circuit::Overflow,
    state::{BackendState, Outcome},
};

fn outlier_state(n: u16, outlier: OutlierDetection) -> BackendState {
    let endpoints: Vec<SocketAddr> = (0..n)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], 20_000 + i)))
        .collect();
    let policy = BackendPolicy {
        outlier_detection: Some(outlier),
        ..BackendPolicy::default()
    };
    BackendState::new(&endpoints, AppProtocol::Http1, &policy)
}

fn detection(consecutive_5xx: u32) -> OutlierDetection {
    OutlierDetection {
        consecutive_5xx,
        max_ejection_percent: 100,
        ..OutlierDetection::default()
    }
}

fn ejected(state: &BackendState, index: usize) -> bool {
    state.statuses()[index].ejected
}

fn fail(state: &BackendState, index: usize, times: usize) {
    for _ in 0..times {
        state.record(index, Outcome::Failure);
    }
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_eject_and_a_success_resets_the_count() {
    let state = outlier_state(2, detection(3));
    fail(&state, 0, 2);
    state.record(0, Outcome::Success);
    fail(&state, 0, 2);
    assert!(!ejected(&state, 0));
    fail(&state, 0, 1);
    assert!(ejected(&state, 0));
    assert!((0..20).all(|_| state.pick(None) == Some(1)));

    let disabled = outlier_state(2, detection(0));
    fail(&disabled, 0, 100);
    assert!(!ejected(&disabled, 0));
    let never_enforced = outlier_state(
        2,
        OutlierDetection {
            enforcing_consecutive_5xx: 0,
            ..detection(1)
        },
    );
    fail(&never_enforced, 0, 100);
    assert!(!ejected(&never_enforced, 0));
}

#[tokio::test(start_paused = true)]
async fn ejection_time_grows_with_ejections_and_decays_in_service() {
    // base 30 s, interval 10 s.
    let state = outlier_state(2, detection(1));
    fail(&state, 0, 1);
    tokio::time::advance(Duration::from_millis(29_990)).await;
    assert!(ejected(&state, 0));
    tokio::time::advance(Duration::from_millis(10)).await;
    assert!(!ejected(&state, 0));

    // Ejected again at once: twice as long.
    fail(&state, 0, 1);
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(ejected(&state, 0));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(!ejected(&state, 0));

    // Two intervals in service take two off the multiplier: back to the base time.
    tokio::time::advance(Duration::from_secs(20)).await;
    fail(&state, 0, 1);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(ejected(&state, 0));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(!ejected(&state, 0));
}

#[tokio::test(start_paused = true)]
async fn ejection_time_is_capped_at_max_of_300s_and_base() {
    let state = outlier_state(
        1,
        OutlierDetection {
            base_ejection_time: Duration::from_secs(200),
            ..detection(1)
        },
    );
    fail(&state, 0, 1);
    tokio::time::advance(Duration::from_secs(200)).await;
    assert!(!ejected(&state, 0));
    fail(&state, 0, 1);
    // Twice the base would be 400 s; the cap is 300 s.
    tokio::time::advance(Duration::from_secs(299)).await;
    assert!(ejected(&state, 0));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(!ejected(&state, 0));
}

#[tokio::test(start_paused = true)]
async fn max_ejection_percent_rounds_down() {
    let state = outlier_state(
        5,
        OutlierDetection {
            max_ejection_percent: 40,
            ..detection(1)
        },
    );
    for index in 0..5 {
        fail(&state, index, 1);
    }
    assert_eq!(state.statuses().iter().filter(|s| s.ejected).count(), 2);
    let none = outlier_state(
        5,
        OutlierDetection {
            max_ejection_percent: 10,
            ..detection(1)
        },
    );
    fail(&none, 0, 1);
    assert!(!ejected(&none, 0));
}

#[tokio::test(start_paused = true)]
async fn a_healthy_probe_ends_an_ejection() {
    let state = outlier_state(2, detection(1));
    fail(&state, 1, 1);
    assert!(ejected(&state, 1));
    state.set_healthy(1, true);
    assert!(!ejected(&state, 1));
    // Ejection and failed health checks are independent flags.
    fail(&state, 1, 1);
    state.set_healthy(1, false);
    let status = state.statuses()[1];
    assert!(status.ejected && !status.healthy);
}

fn limited(protocol: AppProtocol, policy: BackendPolicy) -> Arc<BackendState> {
    let endpoints = [SocketAddr::from(([127, 0, 0, 1], 20_000))];
    Arc::new(BackendState::new(&endpoints, protocol, &policy))
}

#[tokio::test]
async fn http1_requests_wait_for_a_connection_as_pending_then_overflow() {
    let state = limited(
        AppProtocol::Http1,
        BackendPolicy {
            circuit_breakers: Some(CircuitBreakers {
                max_connections: 1,
                max_pending_requests: 1,
                ..CircuitBreakers::default()
            }),
            ..BackendPolicy::default()
        },
    );
    let breaker = state.breaker.clone().unwrap();
    let first = BackendState::admit(state.clone(), 0).await.unwrap();
    let waiting = tokio::spawn({
        let state = state.clone();
        async move { BackendState::admit(state.clone(), 0).await.map(drop) }
    });
    while breaker.pending_requests() == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        BackendState::admit(state.clone(), 0).await.err(),
        Some(Overflow)
    );
    drop(first);
    assert_eq!(waiting.await.unwrap(), Ok(()));
    assert_eq!(breaker.active_requests(), 0);
}

#[tokio::test]
async fn h2c_streams_per_endpoint_are_limited() {
    let state = limited(
        AppProtocol::H2c,
        BackendPolicy {
            http2_protocol_options: Http2ProtocolOptions {
                max_concurrent_streams: NonZeroU32::new(2),
                ..Http2ProtocolOptions::default()
            },
            circuit_breakers: Some(CircuitBreakers {
                max_connections: 1,
                max_pending_requests: 1,
                ..CircuitBreakers::default()
            }),
            ..BackendPolicy::default()
        },
    );
    // Two streams at once (maxConnections does not apply to h2c), a third waits.
    let held = [
        BackendState::admit(state.clone(), 0).await.unwrap(),
        BackendState::admit(state.clone(), 0).await.unwrap(),
    ];
    let waiting = tokio::spawn({
        let state = state.clone();
        async move { BackendState::admit(state.clone(), 0).await.map(drop) }
    });
    let breaker = state.breaker.clone().unwrap();
    while breaker.pending_requests() == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        BackendState::admit(state.clone(), 0).await.err(),
        Some(Overflow)
    );
    drop(held);
    assert_eq!(waiting.await.unwrap(), Ok(()));
}

#[tokio::test]
async fn max_requests_counts_until_the_guard_drops() {
    let state = limited(
        AppProtocol::Http1,
        BackendPolicy {
            circuit_breakers: Some(CircuitBreakers {
                max_requests: 2,
                ..CircuitBreakers::default()
            }),
            ..BackendPolicy::default()
        },
    );
    let held = [
        BackendState::admit(state.clone(), 0).await.unwrap(),
        BackendState::admit(state.clone(), 0).await.unwrap(),
    ];
    assert_eq!(
        BackendState::admit(state.clone(), 0).await.err(),
        Some(Overflow)
    );
    drop(held);
    assert!(BackendState::admit(state.clone(), 0).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn ejections_are_counted_in_the_backend_metrics() {
    let metrics = crate::metrics::Metrics::new();
    let handles = metrics.backend(&crate::metrics::BackendLabels::new("default/svc:80"));
    let state = outlier_state(2, detection(2));
    state.count_ejections(handles.ejections().clone());
    fail(&state, 0, 2);
    assert!(ejected(&state, 0));
    fail(&state, 1, 1);
    assert_eq!(handles.ejections().get(), 1);
    let mut text = String::new();
    metrics.encode(&mut text).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "gateway_upstream_ejections_total{backend=\"default/svc:80\"} 1"),
        "{text}"
    );
}
