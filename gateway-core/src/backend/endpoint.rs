//! A backend's endpoints, its policy's runtime state, and how the next endpoint is picked.

use arc_swap::ArcSwap;
use std::{
    fmt,
    net::SocketAddr,
    sync::{Arc, OnceLock},
};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    UpstreamClient,
    circuit::CircuitBreaker,
    client::ConnectionOptions,
    dns::{self, DnsName, Lookup, Resolver},
    health,
    policy::BackendPolicy,
    state::{BackendState, EndpointStatus},
};

/// The application protocol a backend speaks, from the Service port's `appProtocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AppProtocol {
    /// HTTP/1.1 (the default when no `appProtocol` is set).
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge over plaintext (`kubernetes.io/h2c`).
    H2c,
}

/// A set of endpoints reached with one protocol, under a [`BackendPolicy`].
///
/// The endpoints are fixed ([`new`](Self::new), [`with_policy`](Self::with_policy)), and a
/// change of endpoints builds a new `Backend`; or they come from host names looked up in
/// the background ([`resolving`](Self::resolving), Envoy's `STRICT_DNS`), and change when
/// the DNS answers do. Everything the policy keeps at run time lives here and is shared by
/// every service built on the backend: load-balancer state, circuit-breaker counters,
/// endpoint health, and the backend's own connection pools when its policy changes
/// connection settings. To keep that state across configuration reloads, keep the
/// `Arc<Backend>` when its endpoints (or names) and policy are unchanged. Dropping the last
/// reference stops the backend's health checks and DNS lookups.
pub struct Backend {
    /// The current endpoints and their state: replaced as a whole when DNS answers change,
    /// read without locks by every request.
    state: Arc<ArcSwap<BackendState>>,
    protocol: AppProtocol,
    /// The circuit breakers, shared by every generation of `state`.
    breaker: Option<CircuitBreaker>,
    connection: ConnectionOptions,
    /// The backend's own pools, made on first use when `connection` is not the default.
    client: OnceLock<UpstreamClient>,
    /// Cancels the background tasks (health checks, DNS lookups) when the backend is dropped.
    tasks: Option<DropGuard>,
    /// Completed DNS lookup rounds, for a backend with host names.
    rounds: Option<watch::Receiver<u64>>,
}

impl Backend {
    /// Counts the outlier ejections of this backend in `counter`, e.g. a backend's
    /// `gateway_upstream_ejections_total` series from [`crate::metrics::BackendMetrics`].
    pub fn count_ejections(&self, counter: crate::metrics::PolicyCounter) {
        self.state.load().count_ejections(counter);
    }

    /// A backend over `endpoints` speaking `protocol`, without a policy: round robin, no
    /// circuit breakers, no health checking, the shared pools.
    pub fn new(endpoints: Arc<[SocketAddr]>, protocol: AppProtocol) -> Self {
        Self::build(&endpoints, protocol, &BackendPolicy::default())
    }

    /// A backend over `endpoints` speaking `protocol` under `policy` (validate it first with
    /// [`BackendPolicy::validate`]). A health check, if the policy has one, runs as a task
    /// on `runtime` until the backend is dropped.
    pub fn with_policy(
        endpoints: Arc<[SocketAddr]>,
        protocol: AppProtocol,
        policy: &BackendPolicy,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let mut backend = Self::build(&endpoints, protocol, policy);
        if let Some(check) = &policy.health_check
            && !endpoints.is_empty()
        {
            let stop = CancellationToken::new();
            runtime.spawn(health::run(
                backend.state.load_full(),
                check.clone(),
                protocol,
                stop.clone(),
            ));
            backend.tasks = Some(stop.drop_guard());
        }
        backend
    }

    /// A backend over `endpoints` and every address of `names`, speaking `protocol` under
    /// `policy`, as Envoy's `STRICT_DNS` cluster: a task on `runtime` looks the names up at
    /// once and again every [`DEFAULT_DNS_REFRESH_RATE`](super::DEFAULT_DNS_REFRESH_RATE),
    /// keeping a name's last addresses when a lookup fails, until the backend is dropped.
    /// Requests never wait for a lookup: until the names first resolve, the backend has
    /// only `endpoints` (answering 503 `UH` when there are none). Without names this is
    /// [`with_policy`](Self::with_policy).
    pub fn resolving(
        endpoints: Arc<[SocketAddr]>,
        names: Arc<[DnsName]>,
        protocol: AppProtocol,
        policy: &BackendPolicy,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        if names.is_empty() {
            return Self::with_policy(endpoints, protocol, policy, runtime);
        }
        Self::resolving_with(
            endpoints,
            names,
            protocol,
            policy,
            runtime,
            Arc::new(dns::system_lookup),
            dns::DEFAULT_DNS_REFRESH_RATE,
        )
    }

    /// [`resolving`](Self::resolving) with its own lookup and refresh rate.
    pub(super) fn resolving_with(
        endpoints: Arc<[SocketAddr]>,
        names: Arc<[DnsName]>,
        protocol: AppProtocol,
        policy: &BackendPolicy,
        runtime: &tokio::runtime::Handle,
        lookup: Lookup,
        refresh: std::time::Duration,
    ) -> Self {
        let mut backend = Self::build(&endpoints, protocol, policy);
        let (rounds, watched) = watch::channel(0);
        let resolver = Resolver {
            fixed: endpoints,
            names,
            lookup,
            refresh,
            protocol,
            policy: policy.clone(),
            state: backend.state.clone(),
            rounds,
        };
        let stop = CancellationToken::new();
        runtime.spawn(resolver.run(stop.clone()));
        backend.tasks = Some(stop.drop_guard());
        backend.rounds = Some(watched);
        backend
    }

    fn build(endpoints: &[SocketAddr], protocol: AppProtocol, policy: &BackendPolicy) -> Self {
        let state = BackendState::new(endpoints, protocol, policy);
        Self {
            breaker: state.breaker.clone(),
            state: Arc::new(ArcSwap::from_pointee(state)),
            protocol,
            connection: ConnectionOptions::from_policy(policy, protocol),
            client: OnceLock::new(),
            tasks: None,
            rounds: None,
        }
    }

    /// Waits until the backend's host names have been looked up once (whether or not they
    /// resolved); returns at once for a backend without names. Requests do not need this:
    /// it is for callers that want to know the first answer is in, such as readiness.
    pub async fn resolved(&self) {
        if let Some(rounds) = &self.rounds {
            let mut rounds = rounds.clone();
            // An error means the resolver is gone, so there is nothing left to wait for.
            let _ = rounds.wait_for(|completed| *completed > 0).await;
        }
    }

    /// The completed DNS lookup rounds, for tests that step through them.
    #[cfg(test)]
    pub(super) fn lookup_rounds(&self) -> Option<watch::Receiver<u64>> {
        self.rounds.clone()
    }

    /// The endpoint the load balancer picks next for a request without hash keys
    /// (consistent-hash balancers pick at random), or `None` when there is none to pick.
    pub fn next(&self) -> Option<SocketAddr> {
        let state = self.state.load();
        let index = state.pick(None)?;
        state.hosts.get(index).map(|host| host.addr)
    }

    /// The endpoint the load balancer picks for `request` (its hash keys for `ringHash` and
    /// `maglev`), without counting the request as sent. A `Set-Cookie` the pick would send
    /// for a generated hash cookie is not produced here.
    pub fn pick<B>(&self, request: &http::Request<B>) -> Option<SocketAddr> {
        let state = self.state.load();
        let index = state.pick(state.hash(request).hash)?;
        state.hosts.get(index).map(|host| host.addr)
    }

    /// The current endpoints: in the order they were given, then (for a resolving backend)
    /// the addresses of each name in name order.
    pub fn endpoints(&self) -> Arc<[SocketAddr]> {
        self.state.load().endpoints.clone()
    }

    /// The protocol spoken to every endpoint.
    pub fn protocol(&self) -> AppProtocol {
        self.protocol
    }

    /// The backend's circuit breakers, when its policy has them.
    pub fn circuit_breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// Each endpoint's health (active health checks, outlier ejection), in endpoint order.
    pub fn endpoint_status(&self) -> Vec<EndpointStatus> {
        self.state.load().statuses()
    }

    /// The current state, for one request.
    pub(super) fn state(&self) -> Arc<BackendState> {
        self.state.load_full()
    }

    /// The client requests to this backend go through: `shared` itself, or the backend's own
    /// pools derived from it (made once) when the policy changes connection settings.
    pub(super) fn client(&self, shared: &UpstreamClient) -> UpstreamClient {
        if self.connection.is_default() {
            shared.clone()
        } else {
            self.client
                .get_or_init(|| shared.with_options(&self.connection))
                .clone()
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("endpoints", &self.state.load().endpoints)
            .field("protocol", &self.protocol)
            .field("circuit_breaker", &self.breaker)
            .field("resolving", &self.rounds.is_some())
            .field("background_tasks", &self.tasks.is_some())
            .finish_non_exhaustive()
    }
}

/// The endpoint a response came from (or that was tried), set in the response extensions
/// by [`BackendService`](super::BackendService) for the access log (Envoy's
/// `%UPSTREAM_HOST%`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamEndpoint(pub SocketAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_cycles_and_empty_is_none() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let backend = Backend::new(vec![a, b].into(), AppProtocol::Http1);
        let picked: Vec<_> = (0..4).map(|_| backend.next().unwrap()).collect();
        assert_eq!(picked, [a, b, a, b]);
        assert_eq!(backend.protocol(), AppProtocol::Http1);
        assert_eq!(&backend.endpoints()[..], &[a, b]);
        assert!(format!("{backend:?}").contains("resolving: false"));

        let empty = Backend::new(Vec::new().into(), AppProtocol::H2c);
        assert_eq!(empty.next(), None);
    }
}
