//! Traffic errors, the Envoy-style response flags that record them, and the one place
//! where an error becomes an HTTP response.

use http::{HeaderValue, StatusCode, header};
use std::fmt;

use crate::body::{self, Response};

/// Why the proxy answered instead of (or in spite of) the upstream, as Envoy's access log
/// `%RESPONSE_FLAGS%` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseFlag {
    /// `NR`: no route matched the request.
    NoRouteFound,
    /// `UH`: the backend has no healthy endpoint.
    NoHealthyUpstream,
    /// `UF`: connecting to the upstream failed.
    UpstreamConnectionFailure,
    /// `UT`: the upstream did not answer in time.
    UpstreamRequestTimeout,
    /// `UC`: the upstream connection closed or reset mid-request.
    UpstreamConnectionTermination,
    /// `UPE`: the upstream answered something that is not valid HTTP.
    UpstreamProtocolError,
    /// `URX`: the retry limit was reached.
    UpstreamRetryLimitExceeded,
    /// `DC`: the downstream connection went away.
    DownstreamConnectionTermination,
    /// `RL`: rate limited.
    RateLimited,
    /// `UAEX`: denied by external authorization.
    UnauthorizedExternalService,
    /// `DPE`: the downstream request was malformed.
    DownstreamProtocolError,
    /// `FI`: a fault-injection policy aborted the request.
    FaultInjected,
    /// `DI`: a fault-injection policy delayed the request.
    DelayInjected,
    /// `UO`: a circuit breaker refused the request (upstream overflow).
    UpstreamOverflow,
    /// `SI`: the stream idle timeout ran out.
    StreamIdleTimeout,
    /// `RLSE`: the rate limit service could not be asked and failing open is off.
    RateLimitServiceError,
    /// `UMSDR`: the upstream stream reached its maximum duration.
    UpstreamMaxStreamDurationReached,
    /// The route's backend reference could not be resolved (Envoy reports this as a
    /// direct 500 with no flag; we keep it distinct for the access log).
    InvalidBackend,
}

impl ResponseFlag {
    /// The short code Envoy prints for this flag.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoRouteFound => "NR",
            Self::NoHealthyUpstream => "UH",
            Self::UpstreamConnectionFailure => "UF",
            Self::UpstreamRequestTimeout => "UT",
            Self::UpstreamConnectionTermination => "UC",
            Self::UpstreamProtocolError => "UPE",
            Self::UpstreamRetryLimitExceeded => "URX",
            Self::DownstreamConnectionTermination => "DC",
            Self::RateLimited => "RL",
            Self::UnauthorizedExternalService => "UAEX",
            Self::DownstreamProtocolError => "DPE",
            Self::FaultInjected => "FI",
            Self::DelayInjected => "DI",
            Self::UpstreamOverflow => "UO",
            Self::StreamIdleTimeout => "SI",
            Self::RateLimitServiceError => "RLSE",
            Self::UpstreamMaxStreamDurationReached => "UMSDR",
            Self::InvalidBackend => "IB",
        }
    }
}

impl fmt::Display for ResponseFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure on the way to (or back from) an upstream. Layers return it as `Err`; the
/// listener turns it into a response with [`ProxyError::into_response`].
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No route matched.
    #[error("no route matched")]
    NoRoute,
    /// The rule's backend reference is invalid (missing Service, not permitted, unknown kind).
    #[error("backend reference is invalid")]
    InvalidBackend,
    /// The backend has no endpoints.
    #[error("backend has no endpoints")]
    NoHealthyUpstream,
    /// The TCP connect to the chosen endpoint failed.
    #[error("upstream connect failed: {0}")]
    Connect(#[source] crate::body::BoxError),
    /// The upstream did not answer within the deadline.
    #[error("upstream request timed out")]
    Timeout,
    /// The upstream connection closed or reset before a complete response.
    #[error("upstream connection terminated: {0}")]
    Reset(#[source] crate::body::BoxError),
    /// The upstream answered bytes that are not HTTP.
    #[error("upstream protocol error: {0}")]
    Protocol(#[source] crate::body::BoxError),
}

impl ProxyError {
    /// The response flag the access log records for this error.
    pub const fn flag(&self) -> ResponseFlag {
        match self {
            Self::NoRoute => ResponseFlag::NoRouteFound,
            Self::InvalidBackend => ResponseFlag::InvalidBackend,
            Self::NoHealthyUpstream => ResponseFlag::NoHealthyUpstream,
            Self::Connect(_) => ResponseFlag::UpstreamConnectionFailure,
            Self::Timeout => ResponseFlag::UpstreamRequestTimeout,
            Self::Reset(_) => ResponseFlag::UpstreamConnectionTermination,
            Self::Protocol(_) => ResponseFlag::UpstreamProtocolError,
        }
    }

    /// The status code the client receives for this error.
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::InvalidBackend => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NoHealthyUpstream | Self::Connect(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Reset(_) | Self::Protocol(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether a retry policy may try this request again (the request never reached an
    /// application, or the application's connection died).
    pub const fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Connect(_) | Self::Reset(_) | Self::NoHealthyUpstream
        )
    }

    /// Builds the synthetic response for this error, tagged with its flag.
    pub fn into_response(self) -> Response {
        local_response(self.status(), self.flag())
    }
}

/// Builds a small plain-text response generated by the proxy itself, recording `flag` in
/// the response extensions for the access log.
pub fn local_response(status: StatusCode, flag: ResponseFlag) -> Response {
    let text = status.canonical_reason().unwrap_or("error");
    let mut response = http::Response::new(body::full(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response.extensions_mut().insert(flag);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_envoy_status_and_flag() {
        let cases = [
            (ProxyError::NoRoute, 404, "NR"),
            (ProxyError::InvalidBackend, 500, "IB"),
            (ProxyError::NoHealthyUpstream, 503, "UH"),
            (ProxyError::Connect("refused".into()), 503, "UF"),
            (ProxyError::Timeout, 504, "UT"),
            (ProxyError::Reset("reset".into()), 502, "UC"),
            (ProxyError::Protocol("garbage".into()), 502, "UPE"),
        ];
        for (err, status, flag) in cases {
            let response = err.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response
                    .extensions()
                    .get::<ResponseFlag>()
                    .map(|f| f.as_str()),
                Some(flag)
            );
        }
    }
}
