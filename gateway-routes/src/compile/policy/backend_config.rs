//! `BackendConfigPolicy.spec`: its typed form and its compilation into the runtime
//! [`BackendPolicy`] of the backends it targets.
//!
//! The spec types carry kgateway's field names and nesting, and only the fields the
//! runtime implements (see [`gateway_core::backend`]): a field kgateway has and this gateway
//! does not (`tls`, `dns`, `http1ProtocolOptions`, `perConnectionBufferLimitBytes`,
//! `upstreamProxyProtocol`, `slowStart`, `healthCheck.grpc`, ...) is absent, so
//! [`decode_spec`] marks the policy invalid naming it.
//!
//! Compiling applies what kgateway's CRD and Envoy default: `loadBalancer.healthyPanicThreshold`
//! 50, `leastRequest.choiceCount` 2, ring sizes 1024 ..= 8 Mi, `circuitBreakers` limits 1024
//! (3 retries), `outlierDetection` 5 failures / 100 % / 10 s / 30 s / 10 %. It also checks
//! the rules kgateway's CRD states beside the field types (exactly one load-balancing
//! algorithm, exactly one key per hash policy, at least one circuit-breaker limit, the
//! target kinds), then [`BackendPolicy::validate`]. Every error names the field from `spec.`.
//!
//! `tcpKeepalive` times are whole seconds, as Envoy takes them (`1500ms` is 1 s).

use gateway_core::backend::{
    BackendPolicy, CircuitBreakers, CommonHttpProtocolOptions, HashCookie, HashKey, HashPolicy,
    HealthCheck, Http2ConnectionKeepalive, Http2ProtocolOptions, HttpHealthCheck, LeastRequest,
    LoadBalancer, LoadBalancerAlgorithm, Maglev, OutlierDetection, RingHash, SameSite,
    TcpKeepalive,
};
use gateway_filters::spec::{ByteQuantity, GoDuration, Percent};
use http::{HeaderName, HeaderValue, Method, uri::PathAndQuery};
use serde::Deserialize;
use std::{fmt::Display, num::NonZeroU32, time::Duration};

use super::{decode::decode_spec, targets::PolicyTargetSelector};
use crate::api::KGATEWAY_GROUP;

/// Most entries kgateway accepts in `targetRefs` and in `hashPolicies`.
const MAX_LIST_ITEMS: usize = 16;

/// `BackendConfigPolicy.spec` as far as this gateway implements it. Fields kgateway has and
/// we do not are absent on purpose: [`decode_spec`] then reports them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendConfigPolicySpec {
    /// What the policy attaches to by name.
    #[serde(default)]
    pub(crate) target_refs: Vec<BackendTargetRef>,
    /// What the policy attaches to by labels.
    #[serde(default)]
    pub(crate) target_selectors: Vec<PolicyTargetSelector>,
    connect_timeout: Option<GoDuration>,
    tcp_keepalive: Option<TcpKeepaliveSpec>,
    common_http_protocol_options: Option<CommonHttpProtocolOptionsSpec>,
    http2_protocol_options: Option<Http2ProtocolOptionsSpec>,
    load_balancer: Option<LoadBalancerSpec>,
    health_check: Option<HealthCheckSpec>,
    outlier_detection: Option<OutlierDetectionSpec>,
    circuit_breakers: Option<CircuitBreakersSpec>,
}

/// A backend a `BackendConfigPolicy` names, in the policy's namespace: a Service (group
/// `""`, kind `Service`; `sectionName` picks one of its ports by name) or a kgateway
/// `Backend` (group `gateway.kgateway.dev`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendTargetRef {
    /// API group of the target.
    pub(crate) group: String,
    /// Kind of the target.
    pub(crate) kind: String,
    /// Name of the target.
    pub(crate) name: String,
    /// Port name, for a Service target.
    #[serde(default)]
    pub(crate) section_name: Option<String>,
}

/// kgateway `TCPKeepalive`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcpKeepaliveSpec {
    keep_alive_probes: Option<u32>,
    keep_alive_time: Option<GoDuration>,
    keep_alive_interval: Option<GoDuration>,
}

/// kgateway `CommonHttpProtocolOptions` (without `maxConnectionDuration`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommonHttpProtocolOptionsSpec {
    idle_timeout: Option<GoDuration>,
    max_headers_count: Option<u32>,
    max_stream_duration: Option<GoDuration>,
    max_requests_per_connection: Option<u32>,
}

/// kgateway `Http2ProtocolOptions` (without `overrideStreamErrorOnInvalidHttpMessage`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Http2ProtocolOptionsSpec {
    initial_stream_window_size: Option<ByteQuantity>,
    initial_connection_window_size: Option<ByteQuantity>,
    max_concurrent_streams: Option<u32>,
    connection_keepalive: Option<ConnectionKeepaliveSpec>,
}

/// kgateway `ConnectionKeepalive` (without `connectionIdleInterval`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionKeepaliveSpec {
    timeout: GoDuration,
    interval: Option<GoDuration>,
}

/// kgateway `LoadBalancer` (without `updateMergeWindow`, `localityType`, `zoneAware`,
/// `closeConnectionsOnHostSetChange`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoadBalancerSpec {
    healthy_panic_threshold: Option<Percent>,
    least_request: Option<LeastRequestSpec>,
    round_robin: Option<NoSettings>,
    ring_hash: Option<RingHashSpec>,
    maglev: Option<MaglevSpec>,
    random: Option<NoSettings>,
}

/// An object whose fields this gateway does not implement (`roundRobin` without
/// `slowStart`, `random`, `sourceIP`): only `{}` is accepted.
#[derive(Clone, Debug, Default, Deserialize)]
struct NoSettings {}

/// kgateway `LoadBalancerLeastRequestConfig` (without `slowStart`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeastRequestSpec {
    choice_count: Option<u32>,
}

/// kgateway `LoadBalancerRingHashConfig` (without `useHostnameForHashing`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RingHashSpec {
    minimum_ring_size: Option<u64>,
    maximum_ring_size: Option<u64>,
    #[serde(default)]
    hash_policies: Vec<HashPolicySpec>,
}

/// kgateway `LoadBalancerMaglevConfig` (without `useHostnameForHashing`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaglevSpec {
    #[serde(default)]
    hash_policies: Vec<HashPolicySpec>,
}

/// kgateway `HashPolicy`: exactly one of `header`, `cookie`, `sourceIP`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashPolicySpec {
    header: Option<HashHeaderSpec>,
    cookie: Option<HashCookieSpec>,
    #[serde(rename = "sourceIP")]
    source_ip: Option<NoSettings>,
    terminal: Option<bool>,
}

/// kgateway `Header` (of a hash policy).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashHeaderSpec {
    name: String,
}

/// kgateway `Cookie` (of a hash policy).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashCookieSpec {
    name: String,
    path: Option<String>,
    ttl: Option<GoDuration>,
    secure: Option<bool>,
    http_only: Option<bool>,
    same_site: Option<SameSiteSpec>,
}

/// kgateway's `sameSite` values.
#[derive(Clone, Copy, Debug, Deserialize)]
enum SameSiteSpec {
    Strict,
    Lax,
    None,
}

/// kgateway `HealthCheck` (without `grpc`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthCheckSpec {
    timeout: GoDuration,
    interval: GoDuration,
    unhealthy_threshold: u32,
    healthy_threshold: u32,
    http: Option<HttpHealthCheckSpec>,
}

/// kgateway `HealthCheckHttp`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpHealthCheckSpec {
    host: Option<String>,
    path: String,
    method: Option<String>,
}

/// kgateway `OutlierDetection` (without the local-origin fields).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutlierDetectionSpec {
    #[serde(rename = "consecutive5xx")]
    consecutive_5xx: Option<u32>,
    #[serde(rename = "enforcingConsecutive5xx")]
    enforcing_consecutive_5xx: Option<Percent>,
    interval: Option<GoDuration>,
    base_ejection_time: Option<GoDuration>,
    max_ejection_percent: Option<Percent>,
}

/// kgateway `CircuitBreakers` (without `trackRemaining`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CircuitBreakersSpec {
    max_connections: Option<u32>,
    max_pending_requests: Option<u32>,
    max_requests: Option<u32>,
    max_retries: Option<u32>,
}

/// A decoded, validated backend config policy: where it attaches and the runtime settings
/// it gives the backends it covers.
#[derive(Clone, Debug)]
pub(crate) struct CompiledBackendConfigPolicy {
    /// Backends it names.
    pub(crate) target_refs: Vec<BackendTargetRef>,
    /// Backends it selects by labels.
    pub(crate) target_selectors: Vec<PolicyTargetSelector>,
    /// The settings, validated.
    pub(crate) policy: BackendPolicy,
}

/// Decodes and validates a BackendConfigPolicy spec; the error names the field from `spec.`
/// and the reason.
pub(crate) fn compile_backend_config_policy(
    spec: &serde_json::Value,
) -> Result<CompiledBackendConfigPolicy, String> {
    let typed: BackendConfigPolicySpec = decode_spec(spec)?;
    check_targets(&typed)?;
    let policy = typed.policy()?;
    policy
        .validate()
        .map_err(|invalid| error(&invalid.field, invalid.reason))?;
    Ok(CompiledBackendConfigPolicy {
        target_refs: typed.target_refs,
        target_selectors: typed.target_selectors,
        policy,
    })
}

/// `spec.<field>: <reason>`.
fn error(field: &str, reason: impl Display) -> String {
    format!("spec.{field}: {reason}")
}

/// The target kinds kgateway's CRD allows, less Istio `Hostname` (no Istio here);
/// `sectionName` only where it means something (a Service port).
fn check_targets(spec: &BackendConfigPolicySpec) -> Result<(), String> {
    if spec.target_refs.len() > MAX_LIST_ITEMS {
        return Err(error("targetRefs", "at most 16 entries"));
    }
    let refs = spec.target_refs.iter().enumerate().map(|(i, target)| {
        (
            format!("targetRefs[{i}]"),
            target.group.as_str(),
            target.kind.as_str(),
            target.section_name.is_some(),
        )
    });
    let selectors = spec.target_selectors.iter().enumerate().map(|(i, target)| {
        (
            format!("targetSelectors[{i}]"),
            target.group.as_str(),
            target.kind.as_str(),
            target.section_name.is_some(),
        )
    });
    for (field, group, kind, has_section) in refs.chain(selectors) {
        match (group, kind) {
            ("", "Service") => {}
            (KGATEWAY_GROUP, "Backend") if has_section => {
                return Err(error(
                    &format!("{field}.sectionName"),
                    "only a Service target has sections (its port names)",
                ));
            }
            (KGATEWAY_GROUP, "Backend") => {}
            ("networking.istio.io", "Hostname") => {
                return Err(error(
                    &field,
                    "networking.istio.io Hostname targets are not supported by this gateway",
                ));
            }
            _ => {
                return Err(error(
                    &field,
                    format_args!(
                        "must reference a Service (group \"\") or a Backend (group \
                         {KGATEWAY_GROUP}), not {group:?} {kind}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl BackendConfigPolicySpec {
    /// The runtime settings, with kgateway's defaults; not yet validated.
    fn policy(&self) -> Result<BackendPolicy, String> {
        Ok(BackendPolicy {
            connect_timeout: self.connect_timeout.map(Duration::from),
            tcp_keepalive: self.tcp_keepalive.as_ref().map(TcpKeepaliveSpec::config),
            common_http_protocol_options: self
                .common_http_protocol_options
                .as_ref()
                .map(CommonHttpProtocolOptionsSpec::config)
                .unwrap_or_default(),
            http2_protocol_options: self
                .http2_protocol_options
                .as_ref()
                .map(Http2ProtocolOptionsSpec::config)
                .transpose()?
                .unwrap_or_default(),
            load_balancer: self
                .load_balancer
                .as_ref()
                .map(LoadBalancerSpec::config)
                .transpose()?
                .unwrap_or_default(),
            health_check: self
                .health_check
                .as_ref()
                .map(HealthCheckSpec::config)
                .transpose()?,
            outlier_detection: self
                .outlier_detection
                .as_ref()
                .map(OutlierDetectionSpec::config),
            circuit_breakers: self
                .circuit_breakers
                .as_ref()
                .map(CircuitBreakersSpec::config)
                .transpose()?,
        })
    }
}

/// Whole seconds, as Envoy's `TcpKeepalive` takes them.
fn whole_seconds(duration: GoDuration) -> Duration {
    Duration::from_secs(duration.0.as_secs())
}

impl TcpKeepaliveSpec {
    fn config(&self) -> TcpKeepalive {
        TcpKeepalive {
            keep_alive_probes: self.keep_alive_probes,
            keep_alive_time: self.keep_alive_time.map(whole_seconds),
            keep_alive_interval: self.keep_alive_interval.map(whole_seconds),
        }
    }
}

impl CommonHttpProtocolOptionsSpec {
    fn config(&self) -> CommonHttpProtocolOptions {
        CommonHttpProtocolOptions {
            idle_timeout: self.idle_timeout.map(Duration::from),
            // `usize` is at least 32 bits on every target the gateway builds for.
            max_headers_count: self
                .max_headers_count
                .map(|count| usize::try_from(count).unwrap_or(usize::MAX)),
            max_stream_duration: self.max_stream_duration.map(Duration::from),
            // kgateway: 0 or unset is unlimited.
            max_requests_per_connection: self.max_requests_per_connection.and_then(NonZeroU32::new),
        }
    }
}

impl Http2ProtocolOptionsSpec {
    fn config(&self) -> Result<Http2ProtocolOptions, String> {
        // A size beyond u32 saturates, and `validate` names the field with the range.
        let window =
            |size: Option<ByteQuantity>| size.map(|size| u32::try_from(size.0).unwrap_or(u32::MAX));
        let max_concurrent_streams = self
            .max_concurrent_streams
            .map(|streams| {
                NonZeroU32::new(streams)
                    .filter(|streams| streams.get() <= i32::MAX.unsigned_abs())
                    .ok_or_else(|| {
                        error(
                            "http2ProtocolOptions.maxConcurrentStreams",
                            "must be between 1 and 2147483647",
                        )
                    })
            })
            .transpose()?;
        let connection_keepalive = self
            .connection_keepalive
            .as_ref()
            .map(|keepalive| {
                let interval = keepalive.interval.ok_or_else(|| {
                    error(
                        "http2ProtocolOptions.connectionKeepalive.interval",
                        "required by this gateway (it sends PINGs on a fixed interval only)",
                    )
                })?;
                Ok::<_, String>(Http2ConnectionKeepalive {
                    interval: interval.0,
                    timeout: keepalive.timeout.0,
                })
            })
            .transpose()?;
        Ok(Http2ProtocolOptions {
            initial_stream_window_size: window(self.initial_stream_window_size),
            initial_connection_window_size: window(self.initial_connection_window_size),
            max_concurrent_streams,
            connection_keepalive,
        })
    }
}

impl LoadBalancerSpec {
    fn config(&self) -> Result<LoadBalancer, String> {
        let chosen = [
            self.least_request.is_some(),
            self.round_robin.is_some(),
            self.ring_hash.is_some(),
            self.maglev.is_some(),
            self.random.is_some(),
        ];
        if chosen.iter().filter(|set| **set).count() != 1 {
            return Err(error(
                "loadBalancer",
                "set exactly one of leastRequest, roundRobin, ringHash, maglev, random",
            ));
        }
        let algorithm = if let Some(least) = &self.least_request {
            LoadBalancerAlgorithm::LeastRequest(LeastRequest {
                choice_count: least
                    .choice_count
                    .unwrap_or(LeastRequest::default().choice_count),
            })
        } else if let Some(ring) = &self.ring_hash {
            let defaults = RingHash::default();
            LoadBalancerAlgorithm::RingHash(RingHash {
                minimum_ring_size: ring.minimum_ring_size.unwrap_or(defaults.minimum_ring_size),
                maximum_ring_size: ring.maximum_ring_size.unwrap_or(defaults.maximum_ring_size),
                hash_policies: hash_policies("loadBalancer.ringHash", &ring.hash_policies)?,
            })
        } else if let Some(maglev) = &self.maglev {
            LoadBalancerAlgorithm::Maglev(Maglev {
                hash_policies: hash_policies("loadBalancer.maglev", &maglev.hash_policies)?,
            })
        } else if self.random.is_some() {
            LoadBalancerAlgorithm::Random
        } else {
            LoadBalancerAlgorithm::RoundRobin
        };
        Ok(LoadBalancer {
            healthy_panic_threshold: self.healthy_panic_threshold.map_or(
                LoadBalancer::default().healthy_panic_threshold,
                Percent::get,
            ),
            algorithm,
        })
    }
}

/// `<prefix>.hashPolicies` as the runtime's [`HashPolicy`]s.
fn hash_policies(prefix: &str, specs: &[HashPolicySpec]) -> Result<Vec<HashPolicy>, String> {
    if specs.len() > MAX_LIST_ITEMS {
        return Err(error(
            &format!("{prefix}.hashPolicies"),
            "at most 16 entries",
        ));
    }
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let field = format!("{prefix}.hashPolicies[{index}]");
            let key = match (&spec.header, &spec.cookie, &spec.source_ip) {
                (Some(header), None, None) => HashKey::Header(
                    HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| {
                        error(
                            &format!("{field}.header.name"),
                            format_args!("{:?} is not a header name", header.name),
                        )
                    })?,
                ),
                (None, Some(cookie), None) => HashKey::Cookie(HashCookie {
                    name: cookie.name.clone(),
                    path: cookie.path.clone(),
                    ttl: cookie.ttl.map(Duration::from),
                    secure: cookie.secure.unwrap_or(false),
                    http_only: cookie.http_only.unwrap_or(false),
                    same_site: cookie.same_site.map(|same_site| match same_site {
                        SameSiteSpec::Strict => SameSite::Strict,
                        SameSiteSpec::Lax => SameSite::Lax,
                        SameSiteSpec::None => SameSite::None,
                    }),
                }),
                (None, None, Some(_)) => HashKey::SourceIp,
                _ => {
                    return Err(error(&field, "set exactly one of header, cookie, sourceIP"));
                }
            };
            Ok(HashPolicy {
                key,
                terminal: spec.terminal.unwrap_or(false),
            })
        })
        .collect()
}

/// The methods kgateway's `healthCheck.http.method` allows.
const HEALTH_CHECK_METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

impl HealthCheckSpec {
    fn config(&self) -> Result<HealthCheck, String> {
        let http = self.http.as_ref().ok_or_else(|| {
            error(
                "healthCheck.http",
                "required (gRPC health checks are not supported by this gateway)",
            )
        })?;
        let path = Some(http.path.as_str())
            .filter(|path| path.starts_with('/'))
            .and_then(|path| PathAndQuery::try_from(path).ok())
            .ok_or_else(|| {
                error(
                    "healthCheck.http.path",
                    format_args!("{:?} is not a path starting with '/'", http.path),
                )
            })?;
        let mut probe = HttpHealthCheck::get(path);
        if let Some(method) = &http.method {
            probe.method = HEALTH_CHECK_METHODS
                .into_iter()
                .find(|allowed| allowed.as_str() == method.as_str())
                .ok_or_else(|| {
                    error(
                        "healthCheck.http.method",
                        format_args!(
                            "{method:?} is not one of GET, HEAD, POST, PUT, DELETE, OPTIONS, \
                             TRACE, PATCH"
                        ),
                    )
                })?;
        }
        // kgateway: an empty host is the same as none.
        if let Some(host) = http.host.as_deref().filter(|host| !host.is_empty()) {
            probe.host = Some(HeaderValue::from_str(host).map_err(|_| {
                error(
                    "healthCheck.http.host",
                    format_args!("{host:?} is not a header value"),
                )
            })?);
        }
        Ok(HealthCheck {
            timeout: self.timeout.0,
            interval: self.interval.0,
            unhealthy_threshold: self.unhealthy_threshold,
            healthy_threshold: self.healthy_threshold,
            http: probe,
        })
    }
}

impl OutlierDetectionSpec {
    fn config(&self) -> OutlierDetection {
        let defaults = OutlierDetection::default();
        OutlierDetection {
            consecutive_5xx: self.consecutive_5xx.unwrap_or(defaults.consecutive_5xx),
            enforcing_consecutive_5xx: self
                .enforcing_consecutive_5xx
                .map_or(defaults.enforcing_consecutive_5xx, Percent::get),
            interval: self.interval.map_or(defaults.interval, Duration::from),
            base_ejection_time: self
                .base_ejection_time
                .map_or(defaults.base_ejection_time, Duration::from),
            max_ejection_percent: self
                .max_ejection_percent
                .map_or(defaults.max_ejection_percent, Percent::get),
        }
    }
}

impl CircuitBreakersSpec {
    fn config(&self) -> Result<CircuitBreakers, String> {
        if self.max_connections.is_none()
            && self.max_pending_requests.is_none()
            && self.max_requests.is_none()
            && self.max_retries.is_none()
        {
            return Err(error(
                "circuitBreakers",
                "set at least one of maxConnections, maxPendingRequests, maxRequests, maxRetries",
            ));
        }
        let defaults = CircuitBreakers::default();
        Ok(CircuitBreakers {
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            max_pending_requests: self
                .max_pending_requests
                .unwrap_or(defaults.max_pending_requests),
            max_requests: self.max_requests.unwrap_or(defaults.max_requests),
            max_retries: self.max_retries.unwrap_or(defaults.max_retries),
        })
    }
}

#[cfg(test)]
mod tests;
