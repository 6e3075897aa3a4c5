//! Load balancers, availability and panic mode, without sockets.

use std::{collections::HashMap, net::SocketAddr};

use crate::backend::{
    AppProtocol, BackendPolicy, LeastRequest, LoadBalancer, LoadBalancerAlgorithm, Maglev,
    RingHash,
    balance::{MAGLEV_TABLE_SIZE, build_maglev, build_ring},
    state::BackendState,
};

fn addrs(n: u16) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], 10_000 + i)))
        .collect()
}

fn state(n: u16, algorithm: LoadBalancerAlgorithm, healthy_panic_threshold: u8) -> BackendState {
    let policy = BackendPolicy {
        load_balancer: LoadBalancer {
            healthy_panic_threshold,
            algorithm,
        },
        ..BackendPolicy::default()
    };
    BackendState::new(&addrs(n), AppProtocol::Http1, &policy)
}

/// How often each endpoint index is picked in `picks` picks with random hashes.
fn histogram(state: &BackendState, picks: usize) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for _ in 0..picks {
        let index = state.pick(Some(fastrand::u64(..))).unwrap();
        *counts.entry(index).or_default() += 1;
    }
    counts
}

fn hashing() -> [LoadBalancerAlgorithm; 2] {
    [
        LoadBalancerAlgorithm::RingHash(RingHash::default()),
        LoadBalancerAlgorithm::Maglev(Maglev::default()),
    ]
}

#[test]
fn round_robin_spreads_evenly_over_available_endpoints() {
    let state = state(3, LoadBalancerAlgorithm::RoundRobin, 0);
    state.set_healthy(1, false);
    let counts = histogram(&state, 60);
    assert_eq!(counts.get(&0), Some(&30));
    assert_eq!(counts.get(&1), None);
    assert_eq!(counts.get(&2), Some(&30));
}

#[test]
fn every_balancer_skips_unavailable_endpoints() {
    let mut algorithms = vec![
        LoadBalancerAlgorithm::RoundRobin,
        LoadBalancerAlgorithm::Random,
        LoadBalancerAlgorithm::LeastRequest(LeastRequest::default()),
        LoadBalancerAlgorithm::LeastRequest(LeastRequest { choice_count: 10 }),
    ];
    algorithms.extend(hashing());
    for algorithm in algorithms {
        let state = state(5, algorithm.clone(), 0);
        state.set_healthy(2, false);
        let counts = histogram(&state, 2_000);
        assert_eq!(counts.get(&2), None, "{algorithm:?}");
        assert_eq!(counts.len(), 4, "{algorithm:?}: {counts:?}");
        // And without a hash, consistent hashing picks at random among the available.
        assert_ne!(state.pick(None), Some(2), "{algorithm:?}");
    }
}

#[test]
fn panic_mode_ignores_health_below_the_threshold() {
    let state = state(4, LoadBalancerAlgorithm::RoundRobin, 50);
    state.set_healthy(0, false);
    state.set_healthy(1, false);
    // Half available: not below 50 %.
    assert_eq!(histogram(&state, 40).len(), 2);
    state.set_healthy(2, false);
    // A quarter available: every endpoint takes traffic.
    assert_eq!(histogram(&state, 40).len(), 4);
    state.set_healthy(1, true);
    assert_eq!(histogram(&state, 40).len(), 2);

    let strict = self::state(2, LoadBalancerAlgorithm::RoundRobin, 0);
    strict.set_healthy(0, false);
    strict.set_healthy(1, false);
    assert_eq!(strict.pick(None), None);
    let empty = self::state(0, LoadBalancerAlgorithm::Random, 50);
    assert_eq!(empty.pick(None), None);
}

#[tokio::test]
async fn least_request_prefers_fewer_requests_in_flight() {
    let state = std::sync::Arc::new(self::state(
        3,
        LoadBalancerAlgorithm::LeastRequest(LeastRequest { choice_count: 3 }),
        50,
    ));
    let held = [
        BackendState::admit(state.clone(), 0).await.unwrap(),
        BackendState::admit(state.clone(), 0).await.unwrap(),
        BackendState::admit(state.clone(), 1).await.unwrap(),
    ];
    // Comparing every endpoint: always the idle one.
    assert_eq!(histogram(&state, 100).get(&2), Some(&100));
    drop(held);
    // All idle again: ties spread.
    assert_eq!(histogram(&state, 300).len(), 3);

    // Two random choices of three: the busiest wins only when drawn twice (1/9).
    let sampled = std::sync::Arc::new(self::state(
        3,
        LoadBalancerAlgorithm::LeastRequest(LeastRequest::default()),
        50,
    ));
    let _held = [
        BackendState::admit(sampled.clone(), 0).await.unwrap(),
        BackendState::admit(sampled.clone(), 0).await.unwrap(),
        BackendState::admit(sampled.clone(), 1).await.unwrap(),
    ];
    let counts = histogram(&sampled, 900);
    let (busiest, idle) = (counts.get(&0).copied().unwrap_or(0), counts[&2]);
    assert!(busiest < 200 && idle > 350, "{counts:?}");
}

#[test]
fn consistent_hashing_is_stable_and_balanced() {
    for algorithm in hashing() {
        let state = state(4, algorithm.clone(), 0);
        let again = self::state(4, algorithm.clone(), 0);
        for _ in 0..200 {
            let hash = fastrand::u64(..);
            let index = state.pick(Some(hash)).unwrap();
            assert_eq!(state.pick(Some(hash)), Some(index));
            // Another backend (another replica) over the same endpoints agrees.
            assert_eq!(again.pick(Some(hash)), Some(index));
        }
        let counts = histogram(&state, 8_000);
        for count in counts.values() {
            assert!((1_400..2_600).contains(count), "{algorithm:?}: {counts:?}");
        }
    }
}

#[test]
fn consistent_hashing_moves_only_the_keys_of_an_unavailable_endpoint() {
    for algorithm in hashing() {
        let state = state(5, algorithm.clone(), 0);
        let hashes: Vec<u64> = (0..1_000).map(|_| fastrand::u64(..)).collect();
        let before: Vec<usize> = hashes
            .iter()
            .map(|h| state.pick(Some(*h)).unwrap())
            .collect();
        state.set_healthy(3, false);
        let mut moved_to = HashMap::new();
        for (hash, was) in hashes.iter().zip(&before) {
            let now = state.pick(Some(*hash)).unwrap();
            if *was == 3 {
                *moved_to.entry(now).or_insert(0) += 1;
            } else {
                assert_eq!(
                    now, *was,
                    "{algorithm:?}: a key of an available endpoint moved"
                );
            }
        }
        assert!(!moved_to.contains_key(&3));
        // The orphaned keys spread over the others rather than piling on one.
        assert!(moved_to.len() >= 2, "{algorithm:?}: {moved_to:?}");
    }
}

#[test]
fn ring_size_follows_minimum_and_maximum() {
    let keys = |n: u16| -> Vec<String> { addrs(n).iter().map(ToString::to_string).collect() };
    assert_eq!(build_ring(&keys(3), 1024, 8 << 20).len(), 342 * 3);
    assert_eq!(build_ring(&keys(3), 1024, 300).len(), 300);
    assert_eq!(build_ring(&keys(1000), 1024, 1024).len(), 1000);
    assert_eq!(build_ring(&keys(2), 10, 10).len(), 10);
    assert!(build_ring(&[], 1024, 2048).is_empty());
    let ring = build_ring(&keys(3), 1024, 8 << 20);
    assert_eq!(ring, build_ring(&keys(3), 1024, 8 << 20));
}

#[test]
fn maglev_table_gives_every_endpoint_an_equal_share() {
    let keys: Vec<String> = addrs(7).iter().map(ToString::to_string).collect();
    let table = build_maglev(&keys, MAGLEV_TABLE_SIZE);
    assert_eq!(table.len(), MAGLEV_TABLE_SIZE);
    let mut counts = [0usize; 7];
    for &host in table.iter() {
        counts[host as usize] += 1;
    }
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 1, "{counts:?}");
    assert!(build_maglev(&[], MAGLEV_TABLE_SIZE).is_empty());
}
