//! Backends whose endpoints come from DNS: real lookups of `localhost` against a real echo
//! backend, and scripted lookups with paused time for the refresh and failure rules.

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{runtime::Handle, sync::Notify, time::Instant};

use super::{call, flag, get};
use crate::{
    Limits,
    backend::{
        AppProtocol, Backend, BackendPolicy, BackendService, CircuitBreakers,
        DEFAULT_DNS_REFRESH_RATE, DnsName, HealthCheck, HttpHealthCheck, UpstreamClient,
        UpstreamEndpoint,
        dns::{Lookup, LookupFuture},
        state::BackendState,
    },
    test_util,
};
use http::StatusCode;
use std::net::SocketAddr;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

fn names(host: &str) -> Arc<[DnsName]> {
    Arc::from([DnsName::new(host, 80)])
}

/// A lookup that answers `script` in turn (repeating the last answer; `None` is a failed
/// lookup), and the number of lookups made.
fn scripted(script: Vec<Option<Vec<SocketAddr>>>) -> (Lookup, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let lookup: Lookup = Arc::new(move |_name: &DnsName| -> LookupFuture {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        let answer = script
            .get(call)
            .or(script.last())
            .cloned()
            .flatten()
            .ok_or_else(|| io::Error::other("scripted lookup failure"));
        Box::pin(std::future::ready(answer))
    });
    (lookup, calls)
}

fn resolving_with(
    fixed: &[SocketAddr],
    names: Arc<[DnsName]>,
    policy: &BackendPolicy,
    lookup: Lookup,
) -> Arc<Backend> {
    Arc::new(Backend::resolving_with(
        Arc::from(fixed),
        names,
        AppProtocol::Http1,
        policy,
        &Handle::current(),
        lookup,
        DEFAULT_DNS_REFRESH_RATE,
    ))
}

fn service(backend: Arc<Backend>) -> BackendService {
    BackendService::new(UpstreamClient::new(&Limits::default()), backend)
}

#[tokio::test]
async fn localhost_is_looked_up_and_served() {
    let echo = test_util::spawn_echo().await;
    let backend = Arc::new(Backend::resolving(
        Arc::from([]),
        Arc::from([DnsName::new("localhost", echo.port())]),
        AppProtocol::Http1,
        &BackendPolicy::default(),
        &Handle::current(),
    ));
    backend.resolved().await;
    let endpoints = backend.endpoints();
    // `localhost` is 127.0.0.1, and ::1 where the machine has it.
    assert!(endpoints.contains(&echo), "{endpoints:?}");
    assert!(
        endpoints
            .iter()
            .all(|e| e.ip().is_loopback() && e.port() == echo.port()),
        "{endpoints:?}"
    );
    let service = service(backend);
    // Round robin takes each address once; the echo listens on 127.0.0.1.
    let mut served = 0;
    for _ in 0..endpoints.len() {
        let (response, bytes) = call(&service, get("/dns")).await;
        if response.extensions().get::<UpstreamEndpoint>() == Some(&UpstreamEndpoint(echo)) {
            assert_eq!(response.status(), StatusCode::OK);
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(json["path"], "/dns");
            assert_eq!(json["host"], "example.com");
            served += 1;
        }
    }
    assert_eq!(served, 1);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_leaves_no_endpoints_and_answers_503_uh() {
    let backend = Arc::new(Backend::resolving(
        Arc::from([]),
        names("nonexistent.invalid"),
        AppProtocol::Http1,
        &BackendPolicy::default(),
        &Handle::current(),
    ));
    backend.resolved().await;
    assert!(backend.endpoints().is_empty());
    let (response, _) = call(&service(backend), get("/")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flag(&response), Some("UH"));
}

#[tokio::test]
async fn requests_do_not_wait_for_the_first_lookup() {
    let echo = test_util::spawn_echo().await;
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    // The lookup answers only once released.
    let lookup: Lookup = Arc::new(move |_name: &DnsName| -> LookupFuture {
        let gate = gate.clone();
        Box::pin(async move {
            gate.notified().await;
            Ok(vec![echo])
        })
    });
    let backend = resolving_with(&[], names("echo.test"), &BackendPolicy::default(), lookup);
    let service = service(backend.clone());

    let (response, _) = call(&service, get("/")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flag(&response), Some("UH"));

    release.notify_one();
    backend.resolved().await;
    let (response, _) = call(&service, get("/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.extensions().get::<UpstreamEndpoint>(),
        Some(&UpstreamEndpoint(echo))
    );
}

#[tokio::test(start_paused = true)]
async fn names_are_looked_up_every_five_seconds_and_a_failure_keeps_the_last_addresses() {
    let fixed = addr(1);
    let (a, b) = (addr(2), addr(3));
    let (lookup, calls) = scripted(vec![Some(vec![a]), None, Some(vec![b, a, b])]);
    let policy = BackendPolicy {
        circuit_breakers: Some(CircuitBreakers {
            max_requests: 1,
            ..CircuitBreakers::default()
        }),
        ..BackendPolicy::default()
    };
    let backend = resolving_with(&[fixed], names("api.test"), &policy, lookup);
    // Before any answer: the fixed endpoint only.
    assert_eq!(&backend.endpoints()[..], &[fixed]);
    let mut rounds = backend.lookup_rounds().unwrap();
    let start = Instant::now();

    rounds.wait_for(|done| *done == 1).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(&backend.endpoints()[..], &[fixed, a]);
    let first = backend.state();
    // A request in flight on the first generation holds the only `maxRequests` slot.
    let in_flight = BackendState::admit(first.clone(), 1).await.unwrap();

    // The second lookup fails five seconds later: the addresses stay, the state too.
    rounds.wait_for(|done| *done == 2).await.unwrap();
    assert_eq!(start.elapsed(), DEFAULT_DNS_REFRESH_RATE);
    assert_eq!(&backend.endpoints()[..], &[fixed, a]);
    assert!(Arc::ptr_eq(&first, &backend.state()));

    // The third answers two addresses (sorted, without repeats): a new generation that
    // shares the circuit breakers with the first.
    rounds.wait_for(|done| *done == 3).await.unwrap();
    assert_eq!(start.elapsed(), DEFAULT_DNS_REFRESH_RATE * 2);
    assert_eq!(&backend.endpoints()[..], &[fixed, a, b]);
    let second = backend.state();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(backend.endpoint_status().len(), 3);
    assert!(BackendState::admit(second.clone(), 2).await.is_err());
    drop(in_flight);
    assert!(BackendState::admit(second, 2).await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_backend_stops_its_lookups() {
    let (lookup, calls) = scripted(vec![Some(vec![addr(1)])]);
    let held = Arc::downgrade(&lookup);
    let backend = resolving_with(&[], names("api.test"), &BackendPolicy::default(), lookup);
    backend.resolved().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(backend);
    // Paused time: a minute of refreshes would run here if the task were alive.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        held.upgrade().is_none(),
        "the resolver task still holds its lookup"
    );
}

#[tokio::test]
async fn without_names_the_backend_is_fixed() {
    let fixed = addr(1);
    let backend = Backend::resolving(
        Arc::from([fixed]),
        Arc::from([]),
        AppProtocol::Http1,
        &BackendPolicy::default(),
        &Handle::current(),
    );
    backend.resolved().await;
    assert_eq!(&backend.endpoints()[..], &[fixed]);
    assert!(backend.lookup_rounds().is_none());
}

#[tokio::test(start_paused = true)]
async fn resolved_endpoints_are_health_checked() {
    let refused = test_util::spawn_refused().await;
    let (lookup, _) = scripted(vec![Some(vec![refused])]);
    let policy = BackendPolicy {
        health_check: Some(HealthCheck {
            timeout: Duration::from_secs(1),
            interval: Duration::from_secs(5),
            unhealthy_threshold: 1,
            healthy_threshold: 1,
            http: HttpHealthCheck::get("/healthz".parse().unwrap()),
        }),
        ..BackendPolicy::default()
    };
    let backend = resolving_with(&[], names("api.test"), &policy, lookup);
    backend.resolved().await;
    assert_eq!(&backend.endpoints()[..], &[refused]);
    // Paused time: each sleep lets the health checker run one more interval.
    for _ in 0..5 {
        if backend
            .endpoint_status()
            .iter()
            .all(|status| !status.healthy)
        {
            return;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    panic!("the resolved endpoint was never health checked");
}
