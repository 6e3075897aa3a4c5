//! The call to the rate limit service (`envoy.service.ratelimit.v3.RateLimitService/
//! ShouldRateLimit`) and what its answer means, as Envoy's `ratelimit` filter reads it.

use bytes::Bytes;
use envoy_types::pb::envoy::{
    config::core::v3::HeaderValue as ProtoHeader,
    extensions::common::ratelimit::v3::{
        RateLimitDescriptor as ProtoDescriptor, rate_limit_descriptor::Entry,
    },
    service::ratelimit::v3::{
        RateLimitRequest, RateLimitResponse,
        rate_limit_response::{Code, DescriptorStatus, rate_limit::Unit},
        rate_limit_service_client::RateLimitServiceClient,
    },
};
use http::{HeaderName, HeaderValue, uri::Authority};
use std::{
    fmt::Write as _,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

use crate::grpc_channel::{grpc_timeout, lazy_channel};

use super::{DescriptorEntry, RateLimitDescriptor, XRateLimitHeaders};
use crate::local_rate_limit::client_ip;

/// How long connecting to the service may take in the background. A call that waits for
/// the connection is still bounded by the provider's `timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// What the service said about a request.
#[derive(Debug)]
pub(super) enum Decision {
    /// Under the limit (`OK`): headers for the upstream request and for the response.
    Allow {
        request_headers: Vec<(HeaderName, HeaderValue)>,
        response_headers: Vec<(HeaderName, HeaderValue)>,
    },
    /// Over the limit (`OVER_LIMIT`): headers and body for the `429`.
    OverLimit {
        response_headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    },
    /// The service could not be asked or did not answer in time.
    Error,
}

/// Calls to one rate limit service over one tonic [`Channel`], balanced over its
/// endpoints. The channel (which spawns its connection task) is made on the first call,
/// inside the runtime, and then shared by every clone of the layer.
#[derive(Debug)]
pub(super) struct RlsClient {
    endpoints: Arc<[SocketAddr]>,
    authority: Option<Authority>,
    client: OnceLock<RateLimitServiceClient<Channel>>,
    timeout: Duration,
    /// The `grpc-timeout` sent with every call, so the service knows the deadline.
    deadline: Option<MetadataValue<Ascii>>,
    x_rate_limit_headers: XRateLimitHeaders,
}

impl RlsClient {
    pub(super) fn new(
        endpoints: Arc<[SocketAddr]>,
        authority: Option<Authority>,
        timeout: Duration,
        x_rate_limit_headers: XRateLimitHeaders,
    ) -> Self {
        Self {
            endpoints,
            authority,
            client: OnceLock::new(),
            timeout,
            deadline: grpc_timeout(timeout),
            x_rate_limit_headers,
        }
    }

    /// Asks the service about `request`; any failure, or no answer within the timeout, is
    /// [`Decision::Error`].
    pub(super) async fn should_rate_limit(&self, request: RateLimitRequest) -> Decision {
        if self.endpoints.is_empty() {
            tracing::debug!("rate limit service has no endpoints");
            return Decision::Error;
        }
        let mut client = self
            .client
            .get_or_init(|| RateLimitServiceClient::new(self.channel()))
            .clone();
        let mut request = tonic::Request::new(request);
        if let Some(deadline) = &self.deadline {
            request
                .metadata_mut()
                .insert("grpc-timeout", deadline.clone());
        }
        match tokio::time::timeout(self.timeout, client.should_rate_limit(request)).await {
            Ok(Ok(response)) => decide(response.into_inner(), self.x_rate_limit_headers),
            Ok(Err(status)) => {
                tracing::debug!(%status, "rate limit service call failed");
                Decision::Error
            }
            Err(_) => {
                tracing::debug!(timeout = ?self.timeout, "rate limit service did not answer in time");
                Decision::Error
            }
        }
    }

    /// A channel to the endpoints (connecting lazily).
    fn channel(&self) -> Channel {
        lazy_channel(
            &self.endpoints,
            self.authority.as_ref(),
            Some(CONNECT_TIMEOUT),
        )
    }
}

/// The descriptors for `request`, in order, as Envoy builds them from kgateway's actions: a
/// descriptor with an entry that has no value for this request is left out. `None` when no
/// descriptor is left (the service is then not asked).
pub(super) fn request_for<B>(
    domain: &str,
    descriptors: &[RateLimitDescriptor],
    request: &http::Request<B>,
) -> Option<RateLimitRequest> {
    let descriptors: Vec<ProtoDescriptor> = descriptors
        .iter()
        .filter_map(|descriptor| descriptor_for(descriptor, request))
        .collect();
    if descriptors.is_empty() {
        return None;
    }
    Some(RateLimitRequest {
        domain: domain.to_owned(),
        descriptors,
        hits_addend: 0,
    })
}

/// One descriptor for `request`, or `None` when an entry has no value.
fn descriptor_for<B>(
    descriptor: &RateLimitDescriptor,
    request: &http::Request<B>,
) -> Option<ProtoDescriptor> {
    let entries = descriptor
        .entries
        .iter()
        .map(|entry| {
            Some(match entry {
                DescriptorEntry::Generic { key, value } => Entry {
                    key: key.clone(),
                    value: value.clone(),
                },
                DescriptorEntry::Header { name, key } => Entry {
                    key: key.clone(),
                    value: String::from_utf8_lossy(request.headers().get(name)?.as_bytes())
                        .into_owned(),
                },
                DescriptorEntry::RemoteAddress => Entry {
                    key: "remote_address".to_owned(),
                    value: client_ip(request)?.to_string(),
                },
                DescriptorEntry::Path => Entry {
                    key: "path".to_owned(),
                    value: request.uri().path_and_query()?.as_str().to_owned(),
                },
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ProtoDescriptor {
        entries,
        ..ProtoDescriptor::default()
    })
}

/// Reads the service's answer as Envoy does: `OVER_LIMIT` limits, anything else
/// (`OK`, or `UNKNOWN` from a misbehaving service) lets the request through.
pub(super) fn decide(response: RateLimitResponse, x_headers: XRateLimitHeaders) -> Decision {
    let mut response_headers = headers(&response.response_headers_to_add);
    if x_headers == XRateLimitHeaders::DraftVersion03 {
        x_rate_limit_headers(&response.statuses, &mut response_headers);
    }
    if response.overall_code == Code::OverLimit as i32 {
        Decision::OverLimit {
            response_headers,
            body: Bytes::from(response.raw_body),
        }
    } else {
        Decision::Allow {
            request_headers: headers(&response.request_headers_to_add),
            response_headers,
        }
    }
}

/// The service's headers; one that is not a valid header is left out (and logged).
fn headers(proto: &[ProtoHeader]) -> Vec<(HeaderName, HeaderValue)> {
    proto
        .iter()
        .filter_map(|header| {
            let value = if header.raw_value.is_empty() {
                header.value.as_bytes()
            } else {
                &header.raw_value
            };
            match (
                HeaderName::from_bytes(header.key.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                (Ok(name), Ok(value)) => Some((name, value)),
                _ => {
                    tracing::debug!(key = %header.key, "rate limit service sent an invalid header");
                    None
                }
            }
        })
        .collect()
}

/// Envoy's `X-RateLimit-*` headers (draft 03) from the descriptor statuses: the limit and
/// remaining count of the status closest to its limit (the first of equals), the policies
/// of all (`10, 10;w=60, 1000;w=3600;name="per-ip"`), and the seconds until that status
/// resets. Statuses without a limit are skipped; nothing is added if none has one.
fn x_rate_limit_headers(statuses: &[DescriptorStatus], out: &mut Vec<(HeaderName, HeaderValue)>) {
    let mut closest: Option<&DescriptorStatus> = None;
    let mut policies = String::new();
    for status in statuses {
        let Some(limit) = &status.current_limit else {
            continue;
        };
        if closest.is_none_or(|closest| status.limit_remaining < closest.limit_remaining) {
            closest = Some(status);
        }
        let window = Unit::try_from(limit.unit).map_or(0, window_seconds);
        if window > 0 {
            let _ = write!(policies, ", {};w={window}", limit.requests_per_unit);
            if !limit.name.is_empty() {
                let _ = write!(policies, ";name=\"{}\"", limit.name);
            }
        }
    }
    let Some(closest) = closest else {
        return;
    };
    let requests_per_unit = closest
        .current_limit
        .as_ref()
        .map_or(0, |limit| limit.requests_per_unit);
    let reset = closest
        .duration_until_reset
        .as_ref()
        .map_or(0, |reset| reset.seconds);
    for (name, text) in [
        (X_RATELIMIT_LIMIT, format!("{requests_per_unit}{policies}")),
        (X_RATELIMIT_REMAINING, closest.limit_remaining.to_string()),
        (X_RATELIMIT_RESET, reset.to_string()),
    ] {
        if let Ok(value) = HeaderValue::try_from(text) {
            out.push((name, value));
        }
    }
}

/// The length of a limit's unit in seconds (a month is 30 days, a year 365); 0 for
/// `UNKNOWN`.
fn window_seconds(unit: Unit) -> u64 {
    const DAY: u64 = 24 * 60 * 60;
    match unit {
        Unit::Unknown => 0,
        Unit::Second => 1,
        Unit::Minute => 60,
        Unit::Hour => 60 * 60,
        Unit::Day => DAY,
        Unit::Week => 7 * DAY,
        Unit::Month => 30 * DAY,
        Unit::Year => 365 * DAY,
    }
}
