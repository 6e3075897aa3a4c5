//! Backend policies against real HTTP/1.1 backends on 127.0.0.1: load balancing, circuit
//! breakers, outlier detection and active health checks, through the public API the policy
//! compiler uses (`Backend::with_policy`, `BackendService::new`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use gateway_core::{
    Limits, Request, Response, ResponseFlag,
    backend::{
        AppProtocol, Backend, BackendPolicy, BackendService, CircuitBreakers, HashKey, HashPolicy,
        HealthCheck, HttpHealthCheck, LeastRequest, LoadBalancer, LoadBalancerAlgorithm, Maglev,
        OutlierDetection, RingHash, UpstreamClient, UpstreamEndpoint,
    },
    body,
};
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::{
    collections::{BTreeSet, HashMap},
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU16, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{net::TcpListener, sync::watch};
use tower::Service;

/// Bound on "this request completes"; a hang means the request went where it should not.
const PROMPTLY: Duration = Duration::from_secs(5);

/// An HTTP/1.1 backend on 127.0.0.1 answering `status` with its name as the body; while
/// held, requests wait until it is released. Health-check probes (`/healthz`) are counted
/// apart from traffic.
struct Peer {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    probes: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    hit: Arc<tokio::sync::Notify>,
    open: watch::Sender<bool>,
}

impl Peer {
    async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, name)
    }

    async fn start_on(addr: SocketAddr, name: &'static str) -> Self {
        Self::serve(TcpListener::bind(addr).await.unwrap(), name)
    }

    fn serve(listener: TcpListener, name: &'static str) -> Self {
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let probes = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let hit = Arc::new(tokio::sync::Notify::new());
        let (open, gate) = watch::channel(true);
        let peer = Self {
            addr,
            status: status.clone(),
            hits: hits.clone(),
            probes: probes.clone(),
            connections: connections.clone(),
            hit: hit.clone(),
            open,
        };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                connections.fetch_add(1, Ordering::SeqCst);
                let (status, hits, probes, hit, gate) = (
                    status.clone(),
                    hits.clone(),
                    probes.clone(),
                    hit.clone(),
                    gate.clone(),
                );
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: http::Request<_>| {
                        let probe = request.uri().path() == "/healthz";
                        let (status, hits, probes, hit, mut gate) = (
                            status.clone(),
                            hits.clone(),
                            probes.clone(),
                            hit.clone(),
                            gate.clone(),
                        );
                        async move {
                            if probe {
                                probes.fetch_add(1, Ordering::SeqCst);
                            } else {
                                hits.fetch_add(1, Ordering::SeqCst);
                                hit.notify_one();
                                let _ = gate.wait_for(|open| *open).await;
                            }
                            let mut response = http::Response::new(Full::new(Bytes::from(name)));
                            *response.status_mut() =
                                StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        peer
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn hold(&self) {
        self.open.send_replace(false);
    }

    fn release(&self) {
        self.open.send_replace(true);
    }

    /// Traffic requests received (probes excluded).
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Health-check probes received.
    fn probes(&self) -> usize {
        self.probes.load(Ordering::SeqCst)
    }
}

fn service(peers: &[&Peer], policy: &BackendPolicy) -> BackendService {
    let endpoints: Vec<SocketAddr> = peers.iter().map(|peer| peer.addr).collect();
    let backend = Backend::with_policy(
        endpoints.into(),
        AppProtocol::Http1,
        policy,
        &tokio::runtime::Handle::current(),
    );
    BackendService::new(UpstreamClient::new(&Limits::default()), Arc::new(backend))
}

fn request(user: Option<&str>) -> Request {
    let mut request = http::Request::get("/").body(body::empty()).unwrap();
    request
        .headers_mut()
        .insert(http::header::HOST, HeaderValue::from_static("app.example"));
    if let Some(user) = user {
        request
            .headers_mut()
            .insert("x-user", HeaderValue::from_str(user).unwrap());
    }
    request
}

/// Sends `request` and returns the response (body collected) and the body text.
async fn send(service: &BackendService, request: Request) -> (Response, String) {
    // `BackendService` is always ready; calling it directly gives a `'static` future that
    // spawned tasks can hold.
    let call = service.clone().call(request);
    let response = tokio::time::timeout(PROMPTLY, call)
        .await
        .expect("the request completes")
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        http::Response::from_parts(parts, body::empty()),
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// The name of the peer that answered a plain request.
async fn served_by(service: &BackendService) -> String {
    send(service, request(None)).await.1
}

fn flag(response: &Response) -> Option<ResponseFlag> {
    response.extensions().get::<ResponseFlag>().copied()
}

fn policy(algorithm: LoadBalancerAlgorithm) -> BackendPolicy {
    BackendPolicy {
        load_balancer: LoadBalancer {
            algorithm,
            ..LoadBalancer::default()
        },
        ..BackendPolicy::default()
    }
}

#[tokio::test]
async fn least_request_prefers_the_idle_endpoint() {
    let busy = Peer::start("busy").await;
    let idle = Peer::start("idle").await;
    busy.hold();
    let service = service(
        &[&busy, &idle],
        &policy(LoadBalancerAlgorithm::LeastRequest(LeastRequest::default())),
    );
    // Requests land at random while both are idle: send until one is stuck at `busy`.
    let mut stuck = None;
    while stuck.is_none() {
        let mut call = tokio::spawn(send_owned(service.clone()));
        tokio::select! {
            finished = &mut call => assert_eq!(finished.unwrap(), "idle"),
            () = busy.hit.notified() => stuck = Some(call),
        }
    }
    // With one request in flight at `busy`, every request goes to `idle` (a request sent
    // to `busy` would hang and fail the timeout).
    for _ in 0..20 {
        assert_eq!(served_by(&service).await, "idle");
    }
    assert_eq!(busy.hits(), 1);
    busy.release();
    assert_eq!(stuck.unwrap().await.unwrap(), "busy");
}

async fn send_owned(service: BackendService) -> String {
    served_by(&service).await
}

#[tokio::test]
async fn consistent_hashing_keeps_a_key_on_one_endpoint_and_spreads_keys() {
    let peers = [
        Peer::start("a").await,
        Peer::start("b").await,
        Peer::start("c").await,
    ];
    let hash_policies = vec![HashPolicy {
        key: HashKey::Header(http::HeaderName::from_static("x-user")),
        terminal: false,
    }];
    for algorithm in [
        LoadBalancerAlgorithm::RingHash(RingHash {
            hash_policies: hash_policies.clone(),
            ..RingHash::default()
        }),
        LoadBalancerAlgorithm::Maglev(Maglev {
            hash_policies: hash_policies.clone(),
        }),
    ] {
        let service = service(
            &[&peers[0], &peers[1], &peers[2]],
            &policy(algorithm.clone()),
        );
        let mut owner: HashMap<String, String> = HashMap::new();
        for round in 0..3 {
            for user in 0..30 {
                let user = format!("user-{user}");
                let (response, name) = send(&service, request(Some(&user))).await;
                assert_eq!(response.status(), StatusCode::OK);
                let first = owner.entry(user.clone()).or_insert_with(|| name.clone());
                assert_eq!(*first, name, "{algorithm:?}: {user} moved in round {round}");
            }
        }
        let used: BTreeSet<&String> = owner.values().collect();
        assert!(used.len() >= 2, "{algorithm:?}: 30 keys all on {used:?}");
    }
}

#[tokio::test]
async fn circuit_breaker_answers_503_uo_at_max_requests_without_contacting_the_upstream() {
    let peer = Peer::start("slow").await;
    peer.hold();
    let service = service(
        &[&peer],
        &BackendPolicy {
            circuit_breakers: Some(CircuitBreakers {
                max_requests: 2,
                ..CircuitBreakers::default()
            }),
            ..BackendPolicy::default()
        },
    );
    let in_flight: Vec<_> = (0..2)
        .map(|_| tokio::spawn(send_owned(service.clone())))
        .collect();
    while peer.hits() < 2 {
        peer.hit.notified().await;
    }
    let breaker = service.backend().circuit_breaker().unwrap();
    assert_eq!(breaker.active_requests(), 2);

    let (response, _) = send(&service, request(None)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flag(&response), Some(ResponseFlag::UpstreamOverflow));
    assert!(response.extensions().get::<UpstreamEndpoint>().is_none());
    assert_eq!(peer.hits(), 2, "the refused request reached the upstream");
    assert_eq!(peer.connections.load(Ordering::SeqCst), 2);
    // The retry budget travels with responses, for a retry layer.
    let budget = response
        .extensions()
        .get::<gateway_core::backend::CircuitBreaker>()
        .unwrap();
    let retries: Vec<_> = (0..3).filter_map(|_| budget.try_acquire_retry()).collect();
    assert_eq!(retries.len(), 3);
    assert!(budget.try_acquire_retry().is_none());
    drop(retries);

    peer.release();
    for call in in_flight {
        assert_eq!(call.await.unwrap(), "slow");
    }
    assert_eq!(breaker.active_requests(), 0);
    assert_eq!(served_by(&service).await, "slow");
}

#[tokio::test(start_paused = true)]
async fn consecutive_5xx_ejects_an_endpoint_for_base_times_ejections() {
    let failing = Peer::start("failing").await;
    let healthy = Peer::start("healthy").await;
    failing.answer(503);
    let service = service(
        &[&failing, &healthy],
        &BackendPolicy {
            outlier_detection: Some(OutlierDetection {
                consecutive_5xx: 3,
                base_ejection_time: Duration::from_secs(30),
                max_ejection_percent: 50,
                ..OutlierDetection::default()
            }),
            ..BackendPolicy::default()
        },
    );
    let ejected = |service: &BackendService| {
        service
            .backend()
            .endpoint_status()
            .iter()
            .any(|status| status.address == failing.addr && status.ejected)
    };
    // Round robin: the failing endpoint answers every other request; its third 503 ejects it.
    for _ in 0..6 {
        served_by(&service).await;
    }
    assert_eq!(failing.hits(), 3);
    assert!(ejected(&service));
    for _ in 0..10 {
        assert_eq!(served_by(&service).await, "healthy");
    }
    assert_eq!(failing.hits(), 3);

    // Back after the base ejection time...
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(!ejected(&service));
    let names: Vec<String> = [served_by(&service).await, served_by(&service).await].into();
    assert!(names.contains(&"failing".to_owned()), "{names:?}");
    // ... and ejected for twice as long the second time.
    while !ejected(&service) {
        served_by(&service).await;
    }
    tokio::time::advance(Duration::from_secs(31)).await;
    assert!(ejected(&service));
    assert_eq!(served_by(&service).await, "healthy");
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(!ejected(&service));
}

#[tokio::test(start_paused = true)]
async fn max_ejection_percent_bounds_ejections() {
    let a = Peer::start("a").await;
    let b = Peer::start("b").await;
    a.answer(500);
    b.answer(500);
    let service = service(
        &[&a, &b],
        &BackendPolicy {
            outlier_detection: Some(OutlierDetection {
                consecutive_5xx: 1,
                max_ejection_percent: 50,
                ..OutlierDetection::default()
            }),
            ..BackendPolicy::default()
        },
    );
    for _ in 0..10 {
        served_by(&service).await;
    }
    let ejected = service
        .backend()
        .endpoint_status()
        .iter()
        .filter(|status| status.ejected)
        .count();
    assert_eq!(ejected, 1);
}

fn health_checked(healthy_panic_threshold: u8) -> BackendPolicy {
    BackendPolicy {
        load_balancer: LoadBalancer {
            healthy_panic_threshold,
            ..LoadBalancer::default()
        },
        health_check: Some(HealthCheck {
            timeout: Duration::from_secs(1),
            interval: Duration::from_secs(5),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
            http: HttpHealthCheck::get("/healthz".parse().unwrap()),
        }),
        ..BackendPolicy::default()
    }
}

/// Lets the health checker run until `address`'s health is `healthy` (a few intervals).
async fn wait_health(service: &BackendService, address: SocketAddr, healthy: bool) {
    for _ in 0..10 {
        let status = service.backend().endpoint_status();
        if status
            .iter()
            .any(|status| status.address == address && status.healthy == healthy)
        {
            return;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    panic!("{address} never became healthy={healthy}");
}

#[tokio::test(start_paused = true)]
async fn health_check_takes_a_500_endpoint_out_and_back() {
    let sick = Peer::start("sick").await;
    let well = Peer::start("well").await;
    sick.answer(500);
    let service = service(&[&sick, &well], &health_checked(50));
    wait_health(&service, sick.addr, false).await;
    assert!(sick.probes() > 0);
    for _ in 0..10 {
        assert_eq!(served_by(&service).await, "well");
    }
    assert_eq!(sick.hits(), 0, "traffic reached the unhealthy endpoint");

    sick.answer(200);
    wait_health(&service, sick.addr, true).await;
    let names: BTreeSet<String> = [served_by(&service).await, served_by(&service).await].into();
    assert_eq!(names, ["sick".to_owned(), "well".to_owned()].into());
}

#[tokio::test(start_paused = true)]
async fn health_check_takes_a_closed_endpoint_out_and_back() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let open = Peer::start("open").await;
    let endpoints: Vec<SocketAddr> = vec![closed_addr, open.addr];
    let backend = Backend::with_policy(
        endpoints.into(),
        AppProtocol::Http1,
        &health_checked(50),
        &tokio::runtime::Handle::current(),
    );
    let service = BackendService::new(UpstreamClient::new(&Limits::default()), Arc::new(backend));
    wait_health(&service, closed_addr, false).await;
    for _ in 0..10 {
        assert_eq!(served_by(&service).await, "open");
    }

    let reopened = Peer::start_on(closed_addr, "reopened").await;
    wait_health(&service, closed_addr, true).await;
    let names: BTreeSet<String> = [served_by(&service).await, served_by(&service).await].into();
    assert!(names.contains("reopened"), "{names:?}");
    assert!(reopened.hits() > 0);
}

#[tokio::test(start_paused = true)]
async fn when_every_endpoint_is_unhealthy_panic_mode_routes_to_all_or_503_uh_without_it() {
    let a = Peer::start("a").await;
    let b = Peer::start("b").await;
    a.answer(500);
    b.answer(500);
    let panicking = service(&[&a, &b], &health_checked(50));
    let strict = service(&[&a, &b], &health_checked(0));
    wait_health(&panicking, a.addr, false).await;
    wait_health(&panicking, b.addr, false).await;
    wait_health(&strict, a.addr, false).await;
    wait_health(&strict, b.addr, false).await;

    let (response, _) = send(&panicking, request(None)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let (response, _) = send(&strict, request(None)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flag(&response), Some(ResponseFlag::NoHealthyUpstream));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_backend_stops_its_health_checks() {
    let peer = Peer::start("peer").await;
    let service = service(&[&peer], &health_checked(50));
    tokio::time::sleep(Duration::from_secs(12)).await;
    let probes = peer.probes();
    assert!(probes >= 2, "{probes} probes");
    drop(service);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(peer.probes(), probes);
}

#[tokio::test]
async fn backend_without_policy_keeps_round_robin() {
    let a = Peer::start("a").await;
    let b = Peer::start("b").await;
    let service = service(&[&a, &b], &BackendPolicy::default());
    let mut names = Vec::new();
    for _ in 0..4 {
        names.push(served_by(&service).await);
    }
    assert_eq!(names, ["a", "b", "a", "b"]);
    assert!(service.backend().circuit_breaker().is_none());
}
