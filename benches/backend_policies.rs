//! Backend policy benches: the per-request cost of picking an endpoint with each load
//! balancer of kgateway's `BackendConfigPolicy.loadBalancer`.
//!
//! Each bench calls `Backend::pick` for a request carrying an `x-user` header, cycling
//! through 64 prebuilt requests with different users, on a backend of N endpoints (all
//! healthy, none in flight), N ∈ {3, 100}:
//!
//! - `pick/round_robin/N` — the default: one atomic increment.
//! - `pick/random/N` — one random number.
//! - `pick/least_request/N` — `choiceCount: 2`: two random endpoints, their in-flight counts
//!   compared (with 3 endpoints, 2 choices sample; with 2 or fewer they would all be scanned).
//! - `pick/ring_hash/N` — hash policy on `x-user`: the header is looked up and hashed, then a
//!   binary search on a ring of at least 1024 entries (`minimumRingSize` default).
//! - `pick/maglev/N` — the same hash, then one lookup in the 65 537-entry table.
//!
//! The hashing balancers' numbers include hashing the header, which is part of their cost
//! per request. Run with `cargo bench -p tower-gateway --bench backend_policies`; see
//! `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{hint::black_box, net::SocketAddr, sync::Arc};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gateway_core::backend::{
    AppProtocol, Backend, BackendPolicy, HashKey, HashPolicy, LeastRequest, LoadBalancer,
    LoadBalancerAlgorithm, Maglev, RingHash,
};
use http::{HeaderName, HeaderValue};

/// Requests per cycle, each with its own `x-user`.
const REQUESTS: usize = 64;

fn algorithms() -> Vec<(&'static str, LoadBalancerAlgorithm)> {
    let by_user = vec![HashPolicy {
        key: HashKey::Header(HeaderName::from_static("x-user")),
        terminal: false,
    }];
    vec![
        ("round_robin", LoadBalancerAlgorithm::RoundRobin),
        ("random", LoadBalancerAlgorithm::Random),
        (
            "least_request",
            LoadBalancerAlgorithm::LeastRequest(LeastRequest::default()),
        ),
        (
            "ring_hash",
            LoadBalancerAlgorithm::RingHash(RingHash {
                hash_policies: by_user.clone(),
                ..RingHash::default()
            }),
        ),
        (
            "maglev",
            LoadBalancerAlgorithm::Maglev(Maglev {
                hash_policies: by_user,
            }),
        ),
    ]
}

fn endpoints(n: u16) -> Arc<[SocketAddr]> {
    (0..n)
        .map(|i| SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 8080)))
        .collect()
}

fn requests() -> Vec<http::Request<()>> {
    (0..REQUESTS)
        .map(|i| {
            let mut request = http::Request::get("/api/cart").body(()).unwrap();
            request.headers_mut().insert(
                HeaderName::from_static("x-user"),
                HeaderValue::from_str(&format!("user-{i}")).unwrap(),
            );
            request
        })
        .collect()
}

fn pick(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let requests = requests();
    let mut group = c.benchmark_group("pick");
    for n in [3, 100] {
        let endpoints = endpoints(n);
        for (name, algorithm) in algorithms() {
            let policy = BackendPolicy {
                load_balancer: LoadBalancer {
                    algorithm,
                    ..LoadBalancer::default()
                },
                ..BackendPolicy::default()
            };
            policy.validate().unwrap();
            let backend = Backend::with_policy(
                endpoints.clone(),
                AppProtocol::Http1,
                &policy,
                runtime.handle(),
            );
            // Outside the timing: every request gets an endpoint, and hashing ones stick.
            for request in &requests {
                let picked = backend.pick(request).unwrap();
                if matches!(name, "ring_hash" | "maglev") {
                    assert_eq!(backend.pick(request), Some(picked));
                }
            }
            group.bench_function(BenchmarkId::new(name, n), |b| {
                let mut next = 0;
                b.iter(|| {
                    next = (next + 1) % REQUESTS;
                    black_box(backend.pick(black_box(&requests[next])))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pick);
criterion_main!(benches);
