//! Endpoints from DNS, the way Envoy's `STRICT_DNS` clusters get them: every host name is
//! looked up in the background, again every [`DEFAULT_DNS_REFRESH_RATE`] (Envoy's
//! `dns_refresh_rate`), and the backend's endpoints are every address of every name.
//!
//! A lookup that fails (or takes longer than [`LOOKUP_TIMEOUT`]) keeps that name's last
//! good addresses; a name never resolved contributes none, so a backend whose names have
//! not resolved yet has no endpoints and answers 503 `UH`. Requests never wait for DNS:
//! the resolver publishes a new [`BackendState`] with an `ArcSwap` store and requests load
//! whichever is current. The state is rebuilt only when the set of addresses changes (the
//! addresses of a name are sorted, so a resolver rotating its answers changes nothing);
//! a rebuild keeps the backend-wide circuit breakers and restarts the active health check
//! on the new endpoints.
//!
//! Lookups go through the operating system's resolver (`getaddrinfo`, on tokio's blocking
//! pool), so `/etc/hosts` and the search domains of `/etc/resolv.conf` apply; record TTLs
//! are not read (Envoy's `respect_dns_ttl` is off by default as well).

use arc_swap::ArcSwap;
use serde::Serialize;
use std::{fmt, future::Future, io, net::SocketAddr, pin::Pin, sync::Arc, time::Duration};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{AppProtocol, health, policy::BackendPolicy, state::BackendState};

/// How often host names are looked up again: Envoy's `dns_refresh_rate` default.
pub const DEFAULT_DNS_REFRESH_RATE: Duration = Duration::from_secs(5);

/// The longest one lookup may take before it counts as failed (Envoy's c-ares resolver
/// gives up on a query after 5 s as well).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// A host name and the port to reach its addresses on: one `static.hosts` entry of a
/// kgateway `Backend` that is not an IP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DnsName {
    /// The name to look up (`api.example.com`).
    pub host: Arc<str>,
    /// The port every address of the name is reached on.
    pub port: u16,
}

impl DnsName {
    /// `host`, reached on `port`.
    pub fn new(host: impl Into<Arc<str>>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The future of one lookup.
pub(super) type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// How a name is looked up: the system resolver, or a scripted one in tests.
pub(super) type Lookup = Arc<dyn Fn(&DnsName) -> LookupFuture + Send + Sync>;

/// Looks `name` up with the operating system's resolver.
pub(super) fn system_lookup(name: &DnsName) -> LookupFuture {
    let DnsName { host, port } = name.clone();
    Box::pin(async move { Ok(tokio::net::lookup_host((&*host, port)).await?.collect()) })
}

/// What the resolver task needs to build and publish a backend's endpoints.
pub(super) struct Resolver {
    /// Endpoints that need no lookup (IP literals), served first and always.
    pub(super) fixed: Arc<[SocketAddr]>,
    /// The names to look up.
    pub(super) names: Arc<[DnsName]>,
    pub(super) lookup: Lookup,
    pub(super) refresh: Duration,
    pub(super) protocol: AppProtocol,
    pub(super) policy: BackendPolicy,
    /// Where the current state is published.
    pub(super) state: Arc<ArcSwap<BackendState>>,
    /// Counts completed lookup rounds.
    pub(super) rounds: watch::Sender<u64>,
}

impl Resolver {
    /// Looks the names up now and every `refresh` after, publishing each change, until
    /// `stop` is cancelled. Runs the policy's health check on the current endpoints.
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut last: Vec<Option<Vec<SocketAddr>>> = vec![None; self.names.len()];
        let mut health_check = self.start_health_check(&self.state.load_full(), &stop);
        loop {
            let lookups = self.names.iter().map(|name| {
                let lookup = (self.lookup)(name);
                async move { (name, tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await) }
            });
            let answers = tokio::select! {
                () = stop.cancelled() => return,
                answers = futures_util::future::join_all(lookups) => answers,
            };
            for ((name, answer), last) in answers.into_iter().zip(&mut last) {
                match answer {
                    Ok(Ok(mut addresses)) => {
                        addresses.sort_unstable();
                        addresses.dedup();
                        *last = Some(addresses);
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(%name, %error, "DNS lookup failed; keeping the last addresses");
                    }
                    Err(_elapsed) => {
                        tracing::debug!(%name, "DNS lookup timed out; keeping the last addresses");
                    }
                }
            }
            let endpoints = self.endpoints(&last);
            let current = self.state.load_full();
            if *current.endpoints != *endpoints {
                tracing::debug!(?endpoints, "backend endpoints changed after DNS lookup");
                let next =
                    Arc::new(current.next_generation(&endpoints, self.protocol, &self.policy));
                self.state.store(next.clone());
                if let Some(previous) = health_check.take() {
                    previous.cancel();
                }
                health_check = self.start_health_check(&next, &stop);
            }
            self.rounds.send_modify(|rounds| *rounds += 1);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.refresh) => {}
            }
        }
    }

    /// The fixed endpoints, then every name's last addresses, without repeats.
    fn endpoints(&self, resolved: &[Option<Vec<SocketAddr>>]) -> Vec<SocketAddr> {
        let mut endpoints = self.fixed.to_vec();
        for address in resolved.iter().flatten().flatten() {
            if !endpoints.contains(address) {
                endpoints.push(*address);
            }
        }
        endpoints
    }

    /// Starts the policy's health check on `state`, if it has one and endpoints; the
    /// returned token stops it.
    fn start_health_check(
        &self,
        state: &Arc<BackendState>,
        stop: &CancellationToken,
    ) -> Option<CancellationToken> {
        let check = self.policy.health_check.as_ref()?;
        if state.hosts.is_empty() {
            return None;
        }
        let token = stop.child_token();
        tokio::spawn(health::run(
            state.clone(),
            check.clone(),
            self.protocol,
            token.clone(),
        ));
        Some(token)
    }
}
