//! The CSRF layer: checks the source origin of mutating requests.

use futures_util::future::{Either, Ready, ready};
use http::{
    HeaderMap, HeaderValue, Method, StatusCode,
    header::{CONTENT_TYPE, HOST, ORIGIN, REFERER},
};
use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::CsrfConfig;
use crate::buffer::FullBody;

/// How many requests the filter has checked, by outcome (Envoy's `csrf.*` counters).
/// Requests that are not checked (safe methods, or not drawn by either percentage) are not
/// counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsrfStats {
    /// Checked requests whose source origin was allowed.
    pub request_valid: u64,
    /// Checked requests whose source origin was missing or not allowed (refused when the
    /// filter is enabled for them, let through in shadow mode).
    pub request_invalid: u64,
    /// Checked requests with neither `Origin` nor `Referer` (also counted as invalid).
    pub missing_source_origin: u64,
}

/// The policy and its counters, shared by the layer and every service it makes.
#[derive(Debug, Default)]
struct Shared {
    config: CsrfConfig,
    request_valid: AtomicU64,
    request_invalid: AtomicU64,
    missing_source_origin: AtomicU64,
}

impl Shared {
    /// Whether the request is refused.
    fn refuses<B>(&self, request: &http::Request<B>) -> bool {
        if !is_mutating(request.method()) {
            return false;
        }
        let enabled = self.config.percentage_enabled.sample();
        if !enabled && !self.config.percentage_shadowed.sample() {
            return false;
        }
        let headers = request.headers();
        let Some(source) = source_origin(headers) else {
            self.missing_source_origin.fetch_add(1, Ordering::Relaxed);
            return self.invalid(enabled, "", "");
        };
        let destination = headers
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .map(|authority| authority.as_str())
            })
            .unwrap_or("");
        let allowed = source.eq_ignore_ascii_case(destination)
            || self
                .config
                .additional_origins
                .iter()
                .any(|matcher| matcher.matches(source));
        if allowed {
            self.request_valid.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.invalid(enabled, source, destination)
    }

    /// Counts an invalid request; refuses it unless only shadowed.
    fn invalid(&self, enabled: bool, source: &str, destination: &str) -> bool {
        self.request_invalid.fetch_add(1, Ordering::Relaxed);
        if !enabled {
            tracing::debug!(
                source,
                destination,
                "CSRF: source origin not allowed (shadow mode: let through)"
            );
        }
        enabled
    }
}

/// `POST`, `PUT`, `DELETE` and `PATCH`: the methods Envoy's CSRF filter checks.
fn is_mutating(method: &Method) -> bool {
    method == Method::POST
        || method == Method::PUT
        || method == Method::DELETE
        || method == Method::PATCH
}

/// The `host[:port]` of `Origin`, or else of `Referer`; `None` when both are absent or
/// empty. A value that is not an absolute URL (`Origin: null`) is taken as it is, as Envoy
/// does, and so matches nothing real.
fn source_origin(headers: &HeaderMap) -> Option<&str> {
    [ORIGIN, REFERER].iter().find_map(|name| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .map(host_and_port)
    })
}

/// The authority of an absolute URL (`https://example.com:8443/path` → `example.com:8443`);
/// anything else unchanged.
fn host_and_port(url: &str) -> &str {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if scheme.is_empty() || authority.is_empty() {
        url
    } else {
        authority
    }
}

/// Enforces a [`CsrfConfig`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct CsrfLayer {
    shared: Arc<Shared>,
}

impl CsrfLayer {
    /// A layer enforcing `config`.
    pub fn new(config: CsrfConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                ..Shared::default()
            }),
        }
    }

    /// The counts so far, over every service this layer made.
    pub fn stats(&self) -> CsrfStats {
        CsrfStats {
            request_valid: self.shared.request_valid.load(Ordering::Relaxed),
            request_invalid: self.shared.request_invalid.load(Ordering::Relaxed),
            missing_source_origin: self.shared.missing_source_origin.load(Ordering::Relaxed),
        }
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service enforcing a CSRF policy; see the [module docs](super).
#[derive(Clone)]
pub struct CsrfService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for CsrfService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CsrfService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: FullBody,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<http::Response<ResBody>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if self.shared.refuses(&request) {
            Either::Left(ready(Ok(invalid_origin())))
        } else {
            Either::Right(self.inner.call(request))
        }
    }
}

/// Envoy's answer to a refused request: `403` with the body `Invalid origin`. (No response
/// flag: Envoy records none, and the gateway has none for it.)
fn invalid_origin<B: FullBody>() -> http::Response<B> {
    let mut response = http::Response::new(B::text("Invalid origin"));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}
