//! Load balancers: round robin, least request, random, ring hash and Maglev.
//!
//! Every structure is built once per backend and read without locks: round robin keeps an
//! atomic cursor, least request reads the endpoints' atomic in-flight counts, and the ring
//! and Maglev table are immutable. Endpoints that are not usable (failed active health
//! checks, or ejected) are skipped by every algorithm unless the backend is in panic mode,
//! where the caller asks for [`Usable::All`].

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{
    hash::{CompiledPolicy, KeyHasher, hash_bytes},
    policy::{LoadBalancerAlgorithm, MAX_RING_SIZE},
    state::Host,
};

/// Size of a Maglev lookup table (Envoy's default; a prime).
pub(super) const MAGLEV_TABLE_SIZE: usize = 65_537;

/// Which endpoints a pick may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Usable {
    /// Every endpoint (all are usable, or panic mode).
    All,
    /// Only available endpoints, of which there are about `count` (> 0).
    Available(usize),
}

impl Usable {
    fn allows(self, host: &Host) -> bool {
        match self {
            Self::All => true,
            Self::Available(_) => host.is_available(),
        }
    }
}

/// A load balancer over a fixed list of endpoints.
#[derive(Debug)]
pub(super) enum Balancer {
    /// Endpoints in turn.
    RoundRobin { cursor: AtomicUsize },
    /// Fewest in-flight requests among `choices` random endpoints.
    LeastRequest { choices: usize },
    /// A uniformly random endpoint.
    Random,
    /// The first ring entry at or after the request's hash.
    RingHash {
        ring: Box<[RingEntry]>,
        policies: Box<[CompiledPolicy]>,
    },
    /// The table entry at the request's hash.
    Maglev {
        table: Box<[u32]>,
        policies: Box<[CompiledPolicy]>,
    },
}

/// A point on the hash ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RingEntry {
    hash: u64,
    host: u32,
}

impl Balancer {
    /// Builds the balancer for `hosts`' endpoint keys (their addresses as text).
    pub(super) fn new(algorithm: &LoadBalancerAlgorithm, keys: &[String]) -> Self {
        match algorithm {
            LoadBalancerAlgorithm::RoundRobin => Self::RoundRobin {
                cursor: AtomicUsize::new(0),
            },
            LoadBalancerAlgorithm::LeastRequest(least) => Self::LeastRequest {
                choices: usize::try_from(least.choice_count.max(2)).unwrap_or(2),
            },
            LoadBalancerAlgorithm::Random => Self::Random,
            LoadBalancerAlgorithm::RingHash(ring) => Self::RingHash {
                ring: build_ring(keys, ring.minimum_ring_size, ring.maximum_ring_size),
                policies: ring.hash_policies.iter().map(CompiledPolicy::new).collect(),
            },
            LoadBalancerAlgorithm::Maglev(maglev) => Self::Maglev {
                table: build_maglev(keys, MAGLEV_TABLE_SIZE),
                policies: maglev
                    .hash_policies
                    .iter()
                    .map(CompiledPolicy::new)
                    .collect(),
            },
        }
    }

    /// The hash policies of a consistent-hash balancer (empty for the others).
    pub(super) fn hash_policies(&self) -> &[CompiledPolicy] {
        match self {
            Self::RingHash { policies, .. } | Self::Maglev { policies, .. } => policies,
            _ => &[],
        }
    }

    /// Whether picks read the endpoints' in-flight counts.
    pub(super) fn reads_active_requests(&self) -> bool {
        matches!(self, Self::LeastRequest { .. })
    }

    /// Picks an endpoint index among `hosts` (non-empty) allowed by `usable`; `hash` is the
    /// request's key for the consistent-hash balancers (random without one).
    pub(super) fn pick(&self, hosts: &[Host], usable: Usable, hash: Option<u64>) -> Option<usize> {
        match self {
            Self::RoundRobin { cursor } => {
                let turn = cursor.fetch_add(1, Ordering::Relaxed);
                match usable {
                    Usable::All => Some(turn % hosts.len()),
                    // Counting turns over the available endpoints only keeps the share even
                    // (skipping forward would double the share of a down endpoint's successor).
                    Usable::Available(count) => nth_usable(hosts, usable, turn % count)
                        .or_else(|| first_usable(hosts, usable)),
                }
            }
            Self::Random => random_usable(hosts, usable),
            Self::LeastRequest { choices } => least_request(hosts, usable, *choices),
            Self::RingHash { ring, .. } => match hash {
                Some(hash) => ring_pick(ring, hosts, usable, hash),
                None => random_usable(hosts, usable),
            },
            Self::Maglev { table, .. } => match hash {
                Some(hash) => maglev_pick(table, hosts, usable, hash),
                None => random_usable(hosts, usable),
            },
        }
    }
}

/// The `n`-th usable endpoint (0-based), if there are that many.
fn nth_usable(hosts: &[Host], usable: Usable, n: usize) -> Option<usize> {
    hosts
        .iter()
        .enumerate()
        .filter(|(_, host)| usable.allows(host))
        .nth(n)
        .map(|(index, _)| index)
}

fn first_usable(hosts: &[Host], usable: Usable) -> Option<usize> {
    nth_usable(hosts, usable, 0)
}

/// A uniformly random usable endpoint.
fn random_usable(hosts: &[Host], usable: Usable) -> Option<usize> {
    match usable {
        Usable::All => Some(fastrand::usize(..hosts.len())),
        Usable::Available(count) => {
            // A few direct draws find one quickly when most endpoints are usable; counting
            // over the usable ones keeps the choice uniform otherwise.
            for _ in 0..3 {
                let index = fastrand::usize(..hosts.len());
                if hosts.get(index).is_some_and(|host| usable.allows(host)) {
                    return Some(index);
                }
            }
            nth_usable(hosts, usable, fastrand::usize(..count))
                .or_else(|| first_usable(hosts, usable))
        }
    }
}

/// Envoy's least request with equal weights: `choices` random usable endpoints, the one with
/// the fewest requests in flight wins (the first drawn on a tie). When `choices` covers the
/// usable endpoints, all are compared from a random start.
fn least_request(hosts: &[Host], usable: Usable, choices: usize) -> Option<usize> {
    let candidates = match usable {
        Usable::All => hosts.len(),
        Usable::Available(count) => count,
    };
    if choices >= candidates {
        let start = fastrand::usize(..hosts.len());
        let mut best: Option<(usize, u32)> = None;
        for offset in 0..hosts.len() {
            let index = (start + offset) % hosts.len();
            let Some(host) = hosts.get(index) else {
                continue;
            };
            if !usable.allows(host) {
                continue;
            }
            let active = host.active_requests();
            if best.is_none_or(|(_, fewest)| active < fewest) {
                best = Some((index, active));
            }
        }
        return best.map(|(index, _)| index);
    }
    let mut best: Option<(usize, u32)> = None;
    for _ in 0..choices {
        let index = random_usable(hosts, usable)?;
        let active = hosts.get(index).map_or(u32::MAX, Host::active_requests);
        if best.is_none_or(|(_, fewest)| active < fewest) {
            best = Some((index, active));
        }
    }
    best.map(|(index, _)| index)
}

/// Builds a Ketama ring: each endpoint gets `ceil(minimum / n)` points (fewer if that
/// exceeds `maximum`), at the hashes of `"<address>_<i>"`, sorted by hash.
pub(super) fn build_ring(keys: &[String], minimum: u64, maximum: u64) -> Box<[RingEntry]> {
    let n = keys.len() as u64;
    if n == 0 {
        return Box::new([]);
    }
    let maximum = maximum.clamp(1, MAX_RING_SIZE);
    let minimum = minimum.clamp(1, maximum);
    let per_host = minimum.div_ceil(n).min(maximum / n).max(1);
    let mut ring = Vec::with_capacity(usize::try_from(per_host * n).unwrap_or(0));
    for (host, key) in keys.iter().enumerate() {
        let Ok(host) = u32::try_from(host) else {
            break;
        };
        for replica in 0..per_host {
            let mut hasher = KeyHasher::with_seed(0);
            hasher.write(key.as_bytes());
            hasher.write(b"_");
            hasher.write(replica.to_string().as_bytes());
            ring.push(RingEntry {
                hash: hasher.finish(),
                host,
            });
        }
    }
    ring.sort_unstable_by_key(|entry| (entry.hash, entry.host));
    ring.into_boxed_slice()
}

/// The first usable endpoint on the ring at or after `hash`, walking clockwise.
fn ring_pick(ring: &[RingEntry], hosts: &[Host], usable: Usable, hash: u64) -> Option<usize> {
    if ring.is_empty() {
        return random_usable(hosts, usable);
    }
    let start = ring.partition_point(|entry| entry.hash < hash) % ring.len();
    (0..ring.len()).find_map(|step| {
        let entry = ring.get((start + step) % ring.len())?;
        let index = entry.host as usize;
        hosts
            .get(index)
            .is_some_and(|host| usable.allows(host))
            .then_some(index)
    })
}

/// Fills a Maglev lookup table of `size` (a prime larger than the endpoint count) with
/// endpoint indexes: each endpoint walks its own permutation (offset and skip from two
/// hashes of its key) and takes the next free slot in turn, so every endpoint gets
/// `size / n` slots, give or take one.
pub(super) fn build_maglev(keys: &[String], size: usize) -> Box<[u32]> {
    let n = keys.len().min(size);
    if n == 0 {
        return Box::new([]);
    }
    let size64 = size as u64;
    let permutations: Vec<(u64, u64)> = keys[..n]
        .iter()
        .map(|key| {
            let offset = hash_bytes(key.as_bytes()) % size64;
            let mut hasher = KeyHasher::with_seed(0x9e37_79b9_7f4a_7c15);
            hasher.write(key.as_bytes());
            let skip = hasher.finish() % (size64 - 1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; n];
    let mut table = vec![u32::MAX; size];
    let mut filled = 0;
    'fill: loop {
        for (host, &(offset, skip)) in permutations.iter().enumerate() {
            let mut slot = ((offset + next[host] * skip) % size64) as usize;
            while table[slot] != u32::MAX {
                next[host] += 1;
                slot = ((offset + next[host] * skip) % size64) as usize;
            }
            table[slot] = host as u32;
            next[host] += 1;
            filled += 1;
            if filled == size {
                break 'fill;
            }
        }
    }
    table.into_boxed_slice()
}

/// The table's endpoint for `hash`, or the next usable one in table order.
fn maglev_pick(table: &[u32], hosts: &[Host], usable: Usable, hash: u64) -> Option<usize> {
    if table.is_empty() {
        return random_usable(hosts, usable);
    }
    let start = (hash % table.len() as u64) as usize;
    (0..table.len()).find_map(|step| {
        let index = *table.get((start + step) % table.len())? as usize;
        hosts
            .get(index)
            .is_some_and(|host| usable.allows(host))
            .then_some(index)
    })
}
