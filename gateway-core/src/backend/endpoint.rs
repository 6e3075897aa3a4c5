//! A backend's endpoints, its policy's runtime state, and how the next endpoint is picked.

use std::{
    fmt,
    net::SocketAddr,
    sync::{Arc, OnceLock},
};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    UpstreamClient,
    circuit::CircuitBreaker,
    client::ConnectionOptions,
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
/// The endpoint list is fixed; a change of endpoints builds a new `Backend`. Everything the
/// policy keeps at run time lives here and is shared by every service built on the backend:
/// load-balancer state, circuit-breaker counters, endpoint health, and the backend's own
/// connection pools when its policy changes connection settings. To keep that state across
/// configuration reloads, keep the `Arc<Backend>` when its endpoints and policy are
/// unchanged. Dropping the last reference stops the backend's health checks.
pub struct Backend {
    endpoints: Arc<[SocketAddr]>,
    protocol: AppProtocol,
    state: Arc<BackendState>,
    connection: ConnectionOptions,
    /// The backend's own pools, made on first use when `connection` is not the default.
    client: OnceLock<UpstreamClient>,
    /// Cancels the health-check task when the backend is dropped.
    health_check: Option<DropGuard>,
}

impl Backend {
    /// Counts the outlier ejections of this backend in `counter`, e.g. a backend's
    /// `gateway_upstream_ejections_total` series from [`crate::metrics::BackendMetrics`].
    pub fn count_ejections(&self, counter: crate::metrics::PolicyCounter) {
        self.state.count_ejections(counter);
    }

    /// A backend over `endpoints` speaking `protocol`, without a policy: round robin, no
    /// circuit breakers, no health checking, the shared pools.
    pub fn new(endpoints: Arc<[SocketAddr]>, protocol: AppProtocol) -> Self {
        Self::build(endpoints, protocol, &BackendPolicy::default())
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
        let mut backend = Self::build(endpoints, protocol, policy);
        if let Some(check) = &policy.health_check
            && !backend.endpoints.is_empty()
        {
            let stop = CancellationToken::new();
            runtime.spawn(health::run(
                backend.state.clone(),
                check.clone(),
                protocol,
                stop.clone(),
            ));
            backend.health_check = Some(stop.drop_guard());
        }
        backend
    }

    fn build(endpoints: Arc<[SocketAddr]>, protocol: AppProtocol, policy: &BackendPolicy) -> Self {
        Self {
            state: Arc::new(BackendState::new(&endpoints, protocol, policy)),
            endpoints,
            protocol,
            connection: ConnectionOptions::from_policy(policy, protocol),
            client: OnceLock::new(),
            health_check: None,
        }
    }

    /// The endpoint the load balancer picks next for a request without hash keys
    /// (consistent-hash balancers pick at random), or `None` when there is none to pick.
    pub fn next(&self) -> Option<SocketAddr> {
        let index = self.state.pick(None)?;
        self.state.hosts.get(index).map(|host| host.addr)
    }

    /// The endpoint the load balancer picks for `request` (its hash keys for `ringHash` and
    /// `maglev`), without counting the request as sent. A `Set-Cookie` the pick would send
    /// for a generated hash cookie is not produced here.
    pub fn pick<B>(&self, request: &http::Request<B>) -> Option<SocketAddr> {
        let index = self.state.pick(self.state.hash(request).hash)?;
        self.state.hosts.get(index).map(|host| host.addr)
    }

    /// All endpoints, in the order they were given.
    pub fn endpoints(&self) -> &Arc<[SocketAddr]> {
        &self.endpoints
    }

    /// The protocol spoken to every endpoint.
    pub fn protocol(&self) -> AppProtocol {
        self.protocol
    }

    /// The backend's circuit breakers, when its policy has them.
    pub fn circuit_breaker(&self) -> Option<&CircuitBreaker> {
        self.state.breaker.as_ref()
    }

    /// Each endpoint's health (active health checks, outlier ejection), in endpoint order.
    pub fn endpoint_status(&self) -> Vec<EndpointStatus> {
        self.state.statuses()
    }

    /// The shared state requests use.
    pub(super) fn state(&self) -> &Arc<BackendState> {
        &self.state
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
            .field("endpoints", &self.endpoints)
            .field("protocol", &self.protocol)
            .field("circuit_breaker", &self.state.breaker)
            .field("health_checked", &self.health_check.is_some())
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

        let empty = Backend::new(Vec::new().into(), AppProtocol::H2c);
        assert_eq!(empty.next(), None);
    }
}
