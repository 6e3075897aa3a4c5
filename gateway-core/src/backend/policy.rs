//! The settings of one backend: load balancing, circuit breakers, outlier detection, active
//! health checks and upstream connection options.
//!
//! These are plain, validated structs. kgateway's `BackendConfigPolicy.spec` maps onto them
//! field for field (each field is named after the kgateway field it comes from, in
//! snake case); the policy compiler does that mapping and calls
//! [`BackendPolicy::validate`], whose errors name the kgateway field path. Fields kgateway has
//! and this gateway does not implement are simply absent. [`BackendPolicy::default`] is the
//! behaviour of a backend without a policy: round robin, no circuit breakers, no health
//! checking, the [`UpstreamClient`](super::UpstreamClient)'s connection settings.

use http::{HeaderName, HeaderValue, Method, uri::PathAndQuery};
use serde::Serialize;
use std::{num::NonZeroU32, time::Duration};

use crate::serde_http;

/// Largest ring Envoy accepts for `ringHash.maximumRingSize` (8 Mi entries).
pub const MAX_RING_SIZE: u64 = 8 * 1024 * 1024;

/// Runtime settings of one backend (kgateway `BackendConfigPolicy.spec`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendPolicy {
    /// `connectTimeout`: time allowed to establish a TCP connection; on expiry the request is
    /// answered 503 `UF`. `None` keeps the client's
    /// [`Limits::upstream_connect_timeout`](crate::Limits) (5 s by default, as Envoy's).
    #[serde(
        serialize_with = "serde_http::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    /// `tcpKeepalive`: OS-level TCP keepalive on upstream connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `commonHttpProtocolOptions`: connection and stream limits for HTTP/1.1 and HTTP/2.
    pub common_http_protocol_options: CommonHttpProtocolOptions,
    /// `http2ProtocolOptions`: HTTP/2 settings (they only affect h2c backends).
    pub http2_protocol_options: Http2ProtocolOptions,
    /// `loadBalancer`: how an endpoint is picked.
    pub load_balancer: LoadBalancer,
    /// `healthCheck`: active HTTP health checking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// `outlierDetection`: passive health checking (ejection after consecutive 5xx).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// `circuitBreakers`: limits on concurrent requests, pending requests, connections and
    /// retries. `None` means no limits (a backend without a policy); a present value with a
    /// field left unset in the CRD takes that field from [`CircuitBreakers::default`]
    /// (Envoy's defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breakers: Option<CircuitBreakers>,
}

/// `tcpKeepalive`: `SO_KEEPALIVE` on every upstream socket; a field left `None` keeps the
/// operating system's value, as Envoy does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpKeepalive {
    /// `keepAliveProbes`: unanswered probes before the connection is dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive_probes: Option<u32>,
    /// `keepAliveTime`: idle time before the first probe.
    #[serde(
        serialize_with = "serde_http::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_alive_time: Option<Duration>,
    /// `keepAliveInterval`: time between probes.
    #[serde(
        serialize_with = "serde_http::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_alive_interval: Option<Duration>,
}

/// `commonHttpProtocolOptions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommonHttpProtocolOptions {
    /// `idleTimeout`: a pooled connection with no request for this long is closed;
    /// `Some(ZERO)` keeps idle connections open forever (Envoy's `0`). `None` keeps the
    /// client's [`Limits::upstream_idle_timeout`](crate::Limits).
    #[serde(
        serialize_with = "serde_http::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
    /// `maxHeadersCount`: most response headers accepted from an HTTP/1.1 upstream; more is a
    /// protocol error (502 `UPE`). hyper's HTTP/2 client has no header-count limit, so h2c
    /// backends ignore it. `None` is hyper's default, 100 (Envoy's too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_headers_count: Option<usize>,
    /// `maxStreamDuration`: bound on a whole upstream exchange, from sending the request to
    /// the end of the response body. Before response headers the request is answered 408
    /// (Envoy's answer, flagged `UT`); after, the response body is cut off. Upgraded
    /// (WebSocket) streams are not bounded.
    #[serde(
        serialize_with = "serde_http::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_stream_duration: Option<Duration>,
    /// `maxRequestsPerConnection`: a connection that has carried this many requests is not
    /// reused (it finishes what it carries and closes). `None` is unlimited (kgateway's `0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<NonZeroU32>,
}

/// `http2ProtocolOptions`: settings of the HTTP/2 connections to h2c backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Http2ProtocolOptions {
    /// `initialStreamWindowSize`: HTTP/2 flow-control window per stream, in bytes
    /// (65 535 ..= 2 147 483 647). `None` keeps hyper's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_stream_window_size: Option<u32>,
    /// `initialConnectionWindowSize`: the same for the whole connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_connection_window_size: Option<u32>,
    /// `maxConcurrentStreams`: most requests in flight on one endpoint's HTTP/2 connection
    /// (also advertised to the peer as `SETTINGS_MAX_CONCURRENT_STREAMS`). hyper keeps one
    /// connection per endpoint, so where Envoy would open another connection, further
    /// requests wait for a stream as pending requests, bounded by
    /// [`CircuitBreakers::max_pending_requests`] when the backend has circuit breakers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_streams: Option<NonZeroU32>,
    /// `connectionKeepalive`: HTTP/2 PINGs that detect dead connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_keepalive: Option<Http2ConnectionKeepalive>,
}

/// `http2ProtocolOptions.connectionKeepalive`. hyper only pings on a fixed interval, so
/// `interval` is required here and kgateway's `connectionIdleInterval` has no equivalent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Http2ConnectionKeepalive {
    /// `interval`: time between PINGs, sent whether or not requests are in flight.
    #[serde(serialize_with = "serde_http::duration")]
    pub interval: Duration,
    /// `timeout`: a PING unanswered for this long closes the connection.
    #[serde(serialize_with = "serde_http::duration")]
    pub timeout: Duration,
}

/// `loadBalancer`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    /// `healthyPanicThreshold` (percent, 0–100): when fewer than this share of the endpoints
    /// are usable (healthy and not ejected), health is ignored and every endpoint takes
    /// traffic, as in Envoy's panic mode. With `0` there is no panic mode: when no endpoint
    /// is usable, requests are answered 503 `UH`. Envoy's default is 50.
    pub healthy_panic_threshold: u8,
    /// Which algorithm picks the endpoint (kgateway: exactly one of `roundRobin`,
    /// `leastRequest`, `random`, `ringHash`, `maglev`).
    pub algorithm: LoadBalancerAlgorithm,
}

impl Default for LoadBalancer {
    fn default() -> Self {
        Self {
            healthy_panic_threshold: 50,
            algorithm: LoadBalancerAlgorithm::RoundRobin,
        }
    }
}

/// The load-balancing algorithm.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LoadBalancerAlgorithm {
    /// `roundRobin`: endpoints in turn (the default).
    #[default]
    RoundRobin,
    /// `leastRequest`: the endpoint with the fewest requests in flight among `choiceCount`
    /// random ones.
    LeastRequest(LeastRequest),
    /// `random`: a uniformly random endpoint.
    Random,
    /// `ringHash`: consistent hashing on a ring (Ketama).
    RingHash(RingHash),
    /// `maglev`: consistent hashing with Maglev's lookup table.
    Maglev(Maglev),
}

/// `loadBalancer.leastRequest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeastRequest {
    /// `choiceCount` (at least 2, default 2): random endpoints compared per pick. When it
    /// covers every usable endpoint, all of them are compared instead of sampling with
    /// repetition (ties go to a random one), which is what sampling approximates.
    pub choice_count: u32,
}

impl Default for LeastRequest {
    fn default() -> Self {
        Self { choice_count: 2 }
    }
}

/// `loadBalancer.ringHash`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RingHash {
    /// `minimumRingSize` (default 1024): the ring has at least this many entries, spread
    /// equally over the endpoints (so each has `ceil(minimum / endpoints)`).
    pub minimum_ring_size: u64,
    /// `maximumRingSize` (default and largest 8 Mi): cap on the ring's entries.
    pub maximum_ring_size: u64,
    /// `hashPolicies`: what of the request is hashed. Without policies, or when none yields
    /// a key, the endpoint is picked at random (as Envoy does).
    pub hash_policies: Vec<HashPolicy>,
}

impl Default for RingHash {
    fn default() -> Self {
        Self {
            minimum_ring_size: 1024,
            maximum_ring_size: MAX_RING_SIZE,
            hash_policies: Vec::new(),
        }
    }
}

/// `loadBalancer.maglev`: a 65 537-entry table (Envoy's default size).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Maglev {
    /// `hashPolicies`, as for [`RingHash::hash_policies`].
    pub hash_policies: Vec<HashPolicy>,
}

/// One entry of `hashPolicies`. The keys of several policies are combined (Envoy's
/// rotate-and-xor); a `terminal` policy that yields a key ends the evaluation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HashPolicy {
    /// Which part of the request is hashed (kgateway: exactly one of `header`, `cookie`,
    /// `sourceIP`).
    #[serde(flatten)]
    pub key: HashKey,
    /// `terminal`: stop at this policy when it yields a key.
    pub terminal: bool,
}

/// The part of a request a [`HashPolicy`] hashes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HashKey {
    /// `header.name`: every value of this request header, in order. No key when absent.
    Header(#[serde(serialize_with = "serde_http::header_name")] HeaderName),
    /// `cookie`: the value of a request cookie.
    Cookie(HashCookie),
    /// `sourceIP`: the client address ([`ClientAddr`](crate::extensions::ClientAddr), else
    /// the connection's peer address).
    #[serde(rename = "sourceIP")]
    SourceIp,
}

/// `hashPolicies[].cookie`. With a `ttl`, a request without the cookie gets a freshly
/// generated value, which is hashed for it and sent back in a `Set-Cookie` so the client's
/// next requests stick to the same endpoint (Envoy's cookie generation).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HashCookie {
    /// `name`: the cookie name (an RFC 6265 token).
    pub name: String,
    /// `path`: the `Path` attribute of a generated cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `ttl`: generate the cookie when absent, with this `Max-Age` (`ZERO`: a session cookie).
    /// `None`: never generate.
    #[serde(
        serialize_with = "serde_http::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<Duration>,
    /// `secure`: mark a generated cookie `Secure`.
    pub secure: bool,
    /// `httpOnly`: mark a generated cookie `HttpOnly`.
    pub http_only: bool,
    /// `sameSite`: the `SameSite` attribute of a generated cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_site: Option<SameSite>,
}

impl HashCookie {
    /// A cookie read from requests and never generated.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: None,
            ttl: None,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }
}

/// The `SameSite` cookie attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None`.
    None,
}

impl SameSite {
    /// The attribute value as sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

/// `circuitBreakers` (Envoy's default-priority thresholds). Requests refused by a breaker
/// are answered 503 `UO` without contacting the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakers {
    /// `maxConnections` (default 1024): HTTP/1.1 connections busy with a request at once
    /// (each in-flight HTTP/1.1 request holds one). A request that finds none free waits as
    /// a pending request. Idle pooled connections are not counted (hyper's pool keeps them
    /// per endpoint), and h2c backends multiplex over one connection per endpoint, so the
    /// limit does not apply to them.
    pub max_connections: u32,
    /// `maxPendingRequests` (default 1024): requests waiting for a connection (or for an
    /// HTTP/2 stream, see [`Http2ProtocolOptions::max_concurrent_streams`]); more are refused.
    pub max_pending_requests: u32,
    /// `maxRequests` (default 1024): requests in flight to the backend, from the moment one
    /// has a connection until the end of its response body; more are refused.
    pub max_requests: u32,
    /// `maxRetries` (default 3): retries in flight at once, taken by a retry layer through
    /// [`CircuitBreaker::try_acquire_retry`](super::CircuitBreaker::try_acquire_retry).
    pub max_retries: u32,
}

impl Default for CircuitBreakers {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 3,
        }
    }
}

/// `outlierDetection`: consecutive-5xx ejection with Envoy's semantics. A 5xx answer, and
/// a failure the gateway answers for (connect failure, reset, timeout, protocol error),
/// counts as a failure; any other answer resets the count. Requests refused by a circuit
/// breaker or cut by `maxStreamDuration` do not count either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetection {
    /// `consecutive5xx` (default 5): failures in a row that eject an endpoint; `0` disables
    /// ejection.
    pub consecutive_5xx: u32,
    /// `enforcingConsecutive5xx` (percent, default 100): chance that a detected outlier is
    /// really ejected.
    pub enforcing_consecutive_5xx: u8,
    /// `interval` (default 10 s): each interval an endpoint stays in service takes one off
    /// its ejection count, so ejections of a recovered endpoint get short again.
    #[serde(serialize_with = "serde_http::duration")]
    pub interval: Duration,
    /// `baseEjectionTime` (default 30 s): an ejection lasts this times the number of times
    /// the endpoint has been ejected, capped at `max(300 s, baseEjectionTime)` (Envoy's
    /// `max_ejection_time` default). The endpoint returns as soon as that time is up.
    #[serde(serialize_with = "serde_http::duration")]
    pub base_ejection_time: Duration,
    /// `maxEjectionPercent` (default 10): never more than this share of the endpoints is
    /// ejected at once (rounded down: with 10 % of 5 endpoints, none).
    pub max_ejection_percent: u8,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_5xx: 5,
            enforcing_consecutive_5xx: 100,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_percent: 10,
        }
    }
}

/// `healthCheck` with `http` (gRPC health checks are not implemented).
///
/// A background task probes every endpoint each `interval`. An endpoint starts healthy
/// (the gateway serves at once, where Envoy holds a new cluster until the first round), and
/// its first probe decides; after that it turns unhealthy after `unhealthy_threshold`
/// failed probes in a row, or at once on an unexpected status, and healthy again after
/// `healthy_threshold` good probes in a row. A good probe also returns an endpoint ejected
/// by outlier detection (Envoy's `successful_active_health_check_uneject_host`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `timeout`: a probe without a response within this time fails.
    #[serde(serialize_with = "serde_http::duration")]
    pub timeout: Duration,
    /// `interval`: time between probe rounds.
    #[serde(serialize_with = "serde_http::duration")]
    pub interval: Duration,
    /// `unhealthyThreshold`: failed probes in a row that make an endpoint unhealthy
    /// (`0` counts as 1).
    pub unhealthy_threshold: u32,
    /// `healthyThreshold`: good probes in a row that make an endpoint healthy again
    /// (`0` counts as 1).
    pub healthy_threshold: u32,
    /// `http`: the probe request.
    pub http: HttpHealthCheck,
}

/// `healthCheck.http`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpHealthCheck {
    /// `host`: the probe's `Host` header. `None` sends the endpoint address (Envoy sends the
    /// cluster name, which this gateway does not have).
    #[serde(
        serialize_with = "serde_http::opt_header_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub host: Option<HeaderValue>,
    /// `path`: the path (and query) requested.
    #[serde(serialize_with = "path_and_query")]
    pub path: PathAndQuery,
    /// `method` (default `GET`).
    #[serde(serialize_with = "serde_http::method")]
    pub method: Method,
    /// Statuses that count as healthy. Envoy's `expected_statuses`, which kgateway does not
    /// expose; the default is Envoy's: exactly `200`.
    pub expected_statuses: Vec<StatusRange>,
}

impl HttpHealthCheck {
    /// `GET path`, endpoint address as host, `200` expected.
    pub fn get(path: PathAndQuery) -> Self {
        Self {
            host: None,
            path,
            method: Method::GET,
            expected_statuses: vec![StatusRange::OK],
        }
    }

    /// Whether `status` counts as healthy.
    pub fn is_expected(&self, status: u16) -> bool {
        self.expected_statuses
            .iter()
            .any(|range| range.contains(status))
    }
}

/// A range of status codes, `start` included and `end` excluded (Envoy's `Int64Range`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct StatusRange {
    /// First status in the range.
    pub start: u16,
    /// First status after the range.
    pub end: u16,
}

impl StatusRange {
    /// Exactly `200`.
    pub const OK: Self = Self {
        start: 200,
        end: 201,
    };

    /// Whether `status` is in the range.
    pub const fn contains(self, status: u16) -> bool {
        self.start <= status && status < self.end
    }
}

fn path_and_query<S: serde::Serializer>(path: &PathAndQuery, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(path.as_str())
}

/// A setting that cannot work, named by its kgateway field path under
/// `BackendConfigPolicy.spec`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidPolicy {
    /// The field, e.g. `loadBalancer.ringHash.minimumRingSize`.
    pub field: String,
    /// Why it is refused.
    pub reason: &'static str,
}

fn invalid(field: impl Into<String>, reason: &'static str) -> InvalidPolicy {
    InvalidPolicy {
        field: field.into(),
        reason,
    }
}

/// Smallest HTTP/2 flow-control window (RFC 9113 default).
const MIN_WINDOW: u32 = 65_535;
/// Largest HTTP/2 flow-control window.
const MAX_WINDOW: u32 = (1 << 31) - 1;

impl BackendPolicy {
    /// Checks every setting. Building a backend from an unchecked policy never fails
    /// (out-of-range values are clamped), but only a policy that passes behaves as written.
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        if self.connect_timeout == Some(Duration::ZERO) {
            return Err(invalid("connectTimeout", "must be greater than zero"));
        }
        if let Some(keepalive) = &self.tcp_keepalive {
            for (field, value) in [
                ("tcpKeepalive.keepAliveTime", keepalive.keep_alive_time),
                (
                    "tcpKeepalive.keepAliveInterval",
                    keepalive.keep_alive_interval,
                ),
            ] {
                if value.is_some_and(|d| d < Duration::from_secs(1)) {
                    return Err(invalid(field, "must be at least 1s"));
                }
            }
        }
        let common = &self.common_http_protocol_options;
        if common.max_headers_count == Some(0) {
            return Err(invalid(
                "commonHttpProtocolOptions.maxHeadersCount",
                "must be at least 1",
            ));
        }
        if common.max_stream_duration == Some(Duration::ZERO) {
            return Err(invalid(
                "commonHttpProtocolOptions.maxStreamDuration",
                "must be greater than zero",
            ));
        }
        self.validate_http2()?;
        self.validate_load_balancer()?;
        if let Some(check) = &self.health_check {
            validate_health_check(check)?;
        }
        if let Some(outlier) = &self.outlier_detection {
            validate_outlier(outlier)?;
        }
        if let Some(breakers) = &self.circuit_breakers {
            for (field, value) in [
                ("circuitBreakers.maxConnections", breakers.max_connections),
                (
                    "circuitBreakers.maxPendingRequests",
                    breakers.max_pending_requests,
                ),
                ("circuitBreakers.maxRequests", breakers.max_requests),
            ] {
                if value == 0 {
                    return Err(invalid(field, "must be at least 1"));
                }
            }
        }
        Ok(())
    }

    fn validate_http2(&self) -> Result<(), InvalidPolicy> {
        let http2 = &self.http2_protocol_options;
        for (field, value) in [
            (
                "http2ProtocolOptions.initialStreamWindowSize",
                http2.initial_stream_window_size,
            ),
            (
                "http2ProtocolOptions.initialConnectionWindowSize",
                http2.initial_connection_window_size,
            ),
        ] {
            if value.is_some_and(|size| !(MIN_WINDOW..=MAX_WINDOW).contains(&size)) {
                return Err(invalid(field, "must be between 65535 and 2147483647"));
            }
        }
        if let Some(keepalive) = &http2.connection_keepalive {
            if keepalive.interval.is_zero() {
                return Err(invalid(
                    "http2ProtocolOptions.connectionKeepalive.interval",
                    "must be at least 1ms",
                ));
            }
            if keepalive.timeout.is_zero() {
                return Err(invalid(
                    "http2ProtocolOptions.connectionKeepalive.timeout",
                    "must be at least 1ms",
                ));
            }
        }
        Ok(())
    }

    fn validate_load_balancer(&self) -> Result<(), InvalidPolicy> {
        let balancer = &self.load_balancer;
        if balancer.healthy_panic_threshold > 100 {
            return Err(invalid(
                "loadBalancer.healthyPanicThreshold",
                "must be between 0 and 100",
            ));
        }
        match &balancer.algorithm {
            LoadBalancerAlgorithm::RoundRobin | LoadBalancerAlgorithm::Random => Ok(()),
            LoadBalancerAlgorithm::LeastRequest(least) => {
                if least.choice_count < 2 {
                    Err(invalid(
                        "loadBalancer.leastRequest.choiceCount",
                        "must be at least 2",
                    ))
                } else {
                    Ok(())
                }
            }
            LoadBalancerAlgorithm::RingHash(ring) => {
                if ring.minimum_ring_size == 0 {
                    return Err(invalid(
                        "loadBalancer.ringHash.minimumRingSize",
                        "must be at least 1",
                    ));
                }
                if ring.maximum_ring_size > MAX_RING_SIZE {
                    return Err(invalid(
                        "loadBalancer.ringHash.maximumRingSize",
                        "must be at most 8388608",
                    ));
                }
                if ring.minimum_ring_size > ring.maximum_ring_size {
                    return Err(invalid(
                        "loadBalancer.ringHash.minimumRingSize",
                        "must not exceed maximumRingSize",
                    ));
                }
                validate_hash_policies("loadBalancer.ringHash", &ring.hash_policies)
            }
            LoadBalancerAlgorithm::Maglev(maglev) => {
                validate_hash_policies("loadBalancer.maglev", &maglev.hash_policies)
            }
        }
    }
}

fn validate_hash_policies(prefix: &str, policies: &[HashPolicy]) -> Result<(), InvalidPolicy> {
    for (index, policy) in policies.iter().enumerate() {
        let HashKey::Cookie(cookie) = &policy.key else {
            continue;
        };
        if cookie.name.is_empty() || !cookie.name.bytes().all(is_token_byte) {
            return Err(invalid(
                format!("{prefix}.hashPolicies[{index}].cookie.name"),
                "must be a cookie name (an RFC 6265 token)",
            ));
        }
        if let Some(path) = &cookie.path
            && !path.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';')
        {
            return Err(invalid(
                format!("{prefix}.hashPolicies[{index}].cookie.path"),
                "must be visible ASCII without ';'",
            ));
        }
    }
    Ok(())
}

/// Whether `byte` may appear in an RFC 9110 token (cookie names are tokens).
pub(super) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn validate_health_check(check: &HealthCheck) -> Result<(), InvalidPolicy> {
    if check.timeout.is_zero() {
        return Err(invalid("healthCheck.timeout", "must be greater than zero"));
    }
    if check.interval.is_zero() {
        return Err(invalid("healthCheck.interval", "must be greater than zero"));
    }
    if check.http.expected_statuses.is_empty() {
        return Err(invalid(
            "healthCheck.http.expectedStatuses",
            "must name at least one status",
        ));
    }
    for range in &check.http.expected_statuses {
        if range.start < 100 || range.end > 600 || range.start >= range.end {
            return Err(invalid(
                "healthCheck.http.expectedStatuses",
                "ranges must be non-empty within 100..600",
            ));
        }
    }
    Ok(())
}

fn validate_outlier(outlier: &OutlierDetection) -> Result<(), InvalidPolicy> {
    if outlier.enforcing_consecutive_5xx > 100 {
        return Err(invalid(
            "outlierDetection.enforcingConsecutive5xx",
            "must be between 0 and 100",
        ));
    }
    if outlier.max_ejection_percent > 100 {
        return Err(invalid(
            "outlierDetection.maxEjectionPercent",
            "must be between 0 and 100",
        ));
    }
    if outlier.interval < Duration::from_millis(1) {
        return Err(invalid("outlierDetection.interval", "must be at least 1ms"));
    }
    if outlier.base_ejection_time < Duration::from_millis(1) {
        return Err(invalid(
            "outlierDetection.baseEjectionTime",
            "must be at least 1ms",
        ));
    }
    Ok(())
}
