//! Upstream side of the proxy: backends, their endpoints and policies, pooled connections
//! and the service that forwards a request to one endpoint.
//!
//! A [`Backend`] is the resolved form of a Gateway API `backendRef` (a Service port and its
//! endpoints, with the port's `appProtocol`) under a [`BackendPolicy`], the runtime form of
//! kgateway's `BackendConfigPolicy`. An [`UpstreamClient`] owns the connection pools, for
//! HTTP/1.1 and prior-knowledge HTTP/2 (`appProtocol: kubernetes.io/h2c`), and is shared by
//! every backend whose policy leaves connection settings alone. A
//! [`BackendService`] ties the two together as the innermost service of a route rule's stack:
//!
//! - it picks an endpoint with the backend's load balancer and sends the request there,
//!   keeping the client's host (HTTP/1.1 `Host`, set from `:authority` for HTTP/2 clients;
//!   h2c `:authority`, set from `Host` for HTTP/1.1 clients);
//! - it admits the request through the circuit breakers: over a limit it answers 503 `UO`
//!   without contacting the upstream;
//! - it strips hop-by-hop headers (RFC 9110 §7.6.1) both ways;
//! - it always speaks HTTP/1.1 (or HTTP/2 to h2c backends) upstream, whatever the client spoke;
//! - it bounds the wait for response headers by
//!   [`Limits::upstream_response_header_timeout`](crate::Limits), and the whole exchange by
//!   `maxStreamDuration` when the policy sets it;
//! - it reports each outcome to outlier detection;
//! - it never fails: errors become Envoy-style local responses through
//!   [`ProxyError::into_response`](crate::ProxyError::into_response) (`UH`, `UF`, `UT`,
//!   `UC`, `UPE`, `UO`);
//! - HTTP/1.1 upgrade requests (WebSocket) go over a fresh, unpooled connection and, on
//!   `101 Switching Protocols`, the two upgraded streams are spliced together.
//!
//! A backend with a policy, as the policy compiler builds one:
//!
//! ```
//! use gateway_core::{
//!     Limits,
//!     backend::{
//!         AppProtocol, Backend, BackendPolicy, BackendService, CircuitBreakers, HashKey,
//!         HashPolicy, LoadBalancer, LoadBalancerAlgorithm, RingHash, UpstreamClient,
//!     },
//! };
//! use http::HeaderName;
//! use std::{net::SocketAddr, sync::Arc};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Sticky sessions on `x-user`, at most 100 requests in flight.
//! let policy = BackendPolicy {
//!     load_balancer: LoadBalancer {
//!         algorithm: LoadBalancerAlgorithm::RingHash(RingHash {
//!             hash_policies: vec![HashPolicy {
//!                 key: HashKey::Header(HeaderName::from_static("x-user")),
//!                 terminal: true,
//!             }],
//!             ..RingHash::default()
//!         }),
//!         ..LoadBalancer::default()
//!     },
//!     circuit_breakers: Some(CircuitBreakers {
//!         max_requests: 100,
//!         ..CircuitBreakers::default()
//!     }),
//!     ..BackendPolicy::default()
//! };
//! policy.validate().unwrap();
//! let endpoints: Vec<SocketAddr> = vec![
//!     "10.0.0.1:8080".parse().unwrap(),
//!     "10.0.0.2:8080".parse().unwrap(),
//!     "10.0.0.3:8080".parse().unwrap(),
//! ];
//! let backend = Arc::new(Backend::with_policy(
//!     endpoints.into(),
//!     AppProtocol::Http1,
//!     &policy,
//!     &tokio::runtime::Handle::current(),
//! ));
//! let alice = http::Request::get("/").header("x-user", "alice").body(()).unwrap();
//! let endpoint = backend.pick(&alice).unwrap();
//! assert!((0..10).all(|_| backend.pick(&alice) == Some(endpoint)));
//! assert_eq!(backend.circuit_breaker().unwrap().limits().max_requests, 100);
//!
//! // The innermost service of a route rule.
//! let service = BackendService::new(UpstreamClient::new(&Limits::default()), backend);
//! # drop(service);
//! # }
//! ```
//!
//! # Backend policy
//!
//! | kgateway field | here | behaviour |
//! |---|---|---|
//! | `loadBalancer.roundRobin` | [`LoadBalancerAlgorithm::RoundRobin`] | endpoints in turn (the default) |
//! | `loadBalancer.leastRequest.choiceCount` | [`LeastRequest`] | fewest in-flight requests among `choiceCount` random endpoints |
//! | `loadBalancer.random` | [`LoadBalancerAlgorithm::Random`] | uniformly random |
//! | `loadBalancer.ringHash` | [`RingHash`] | Ketama ring of `minimumRingSize..=maximumRingSize` entries, keyed by [`HashPolicy`]s (header, cookie, source IP) |
//! | `loadBalancer.maglev` | [`Maglev`] | Maglev table of 65 537 entries, same keys |
//! | `loadBalancer.healthyPanicThreshold` | [`LoadBalancer::healthy_panic_threshold`] | below it, health is ignored (Envoy's panic mode, default 50 %) |
//! | `circuitBreakers` | [`CircuitBreakers`] | `maxRequests`, `maxPendingRequests`, `maxConnections` (HTTP/1.1), `maxRetries` via [`CircuitBreaker::try_acquire_retry`] |
//! | `outlierDetection` | [`OutlierDetection`] | consecutive-5xx ejection for `baseEjectionTime` × ejections, at most `maxEjectionPercent` |
//! | `healthCheck.http` | [`HealthCheck`] | background probes; unhealthy endpoints are skipped |
//! | `connectTimeout` | [`BackendPolicy::connect_timeout`] | 503 `UF` on expiry |
//! | `tcpKeepalive` | [`TcpKeepalive`] | `SO_KEEPALIVE` with time, interval, probes |
//! | `commonHttpProtocolOptions` | [`CommonHttpProtocolOptions`] | `idleTimeout`, `maxHeadersCount` (HTTP/1.1), `maxStreamDuration`, `maxRequestsPerConnection` |
//! | `http2ProtocolOptions` | [`Http2ProtocolOptions`] | stream and connection windows, `maxConcurrentStreams`, `connectionKeepalive` |
//!
//! Endpoint availability is lock-free: each endpoint has atomic flags for "failed active
//! health checks" and "ejected", and every balancer skips endpoints with either flag. When
//! fewer than `healthyPanicThreshold` percent of the endpoints are available, every endpoint
//! takes traffic again (so a backend whose endpoints all fail their health checks keeps
//! being tried rather than answering 503); with a threshold of 0, a backend without an
//! available endpoint answers 503 `UH`. Consistent-hash balancers walk on from an
//! unavailable endpoint to the next entry of their ring or table, so the keys of available
//! endpoints do not move.
//!
//! Not implemented from kgateway's `BackendConfigPolicy`, so absent from [`BackendPolicy`]:
//! `dns`, `perConnectionBufferLimitBytes`, `http1ProtocolOptions`, `tls`,
//! `upstreamProxyProtocol`, `healthCheck.grpc`, `circuitBreakers.trackRemaining`,
//! `outlierDetection.splitExternalLocalOriginErrors` and the local-origin fields,
//! `loadBalancer.{updateMergeWindow, localityType, zoneAware,
//! closeConnectionsOnHostSetChange}`, `slowStart`, `useHostnameForHashing`,
//! `commonHttpProtocolOptions.maxConnectionDuration` (hyper-util's pool has no connection
//! age), `http2ProtocolOptions.overrideStreamErrorOnInvalidHttpMessage` and
//! `connectionKeepalive.connectionIdleInterval` (hyper has no such settings).
//!
//! # Endpoints from DNS
//!
//! [`Backend::resolving`] serves host names (a kgateway `Backend`'s `static.hosts`) as
//! Envoy's `STRICT_DNS` cluster does: a background task owned by the backend looks every
//! name up at once and every [`DEFAULT_DNS_REFRESH_RATE`], keeps a name's last addresses
//! when a lookup fails, and publishes the endpoint list lock-free; requests never wait for
//! DNS, and answer 503 `UH` until a name first resolves. A change of addresses rebuilds the
//! per-endpoint state (health, ejections, balancer) and keeps the circuit breakers.
//!
//! # Connection pools
//!
//! The pools are the gateway's own (see `pool`), built on hyper's connection API: HTTP/1.1
//! connections are parked per endpoint between requests and put back by the response body
//! when it ends; an h2c endpoint has one multiplexed connection. An h2c upstream sees the
//! client's host as `:authority` (from `Host`, or the downstream HTTP/2 `:authority`).

mod balance;
mod body;
mod circuit;
mod client;
mod dns;
mod endpoint;
mod errors;
mod hash;
mod headers;
mod health;
mod policy;
mod pool;
mod service;
mod state;
#[cfg(test)]
mod tests;
mod upgrade;

pub use circuit::{CircuitBreaker, RetryPermit};
pub use client::UpstreamClient;
pub use dns::{DEFAULT_DNS_REFRESH_RATE, DnsName, LOOKUP_TIMEOUT};
pub use endpoint::{AppProtocol, Backend, UpstreamEndpoint};
pub use policy::{
    BackendPolicy, CircuitBreakers, CommonHttpProtocolOptions, HashCookie, HashKey, HashPolicy,
    HealthCheck, Http2ConnectionKeepalive, Http2ProtocolOptions, HttpHealthCheck, InvalidPolicy,
    LeastRequest, LoadBalancer, LoadBalancerAlgorithm, MAX_RING_SIZE, Maglev, OutlierDetection,
    RingHash, SameSite, StatusRange, TcpKeepalive,
};
pub use service::{BackendService, ResponseFuture};
pub use state::EndpointStatus;
