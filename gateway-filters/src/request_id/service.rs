//! Setting `x-request-id` and the [`RequestId`] extension.

use gateway_core::extensions::RequestId;
use http::{HeaderName, HeaderValue};
use std::task::{Context, Poll};
use tower::{Layer, Service};
use uuid::Uuid;

use super::RequestIdConfig;

/// The request id header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Sets request ids; see the [module docs](super).
#[derive(Clone, Copy, Debug)]
pub struct RequestIdLayer {
    config: RequestIdConfig,
}

impl RequestIdLayer {
    /// A layer applying `config`.
    pub fn new(config: RequestIdConfig) -> Self {
        Self { config }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService {
            inner,
            config: self.config,
        }
    }
}

/// Service setting request ids; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct RequestIdService<S> {
    inner: S,
    config: RequestIdConfig,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for RequestIdService<S>
where
    S: Service<http::Request<ReqBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let config = self.config;
        let headers = request.headers_mut();
        let incoming = headers
            .get(&X_REQUEST_ID)
            .filter(|id| !id.is_empty())
            .cloned();
        let id = match incoming {
            // Kept: generation is off, or the client's id is preserved.
            Some(id) if !config.generate || config.preserve_external => Some(id),
            _ if config.generate => fresh_id().inspect(|id| {
                headers.insert(X_REQUEST_ID.clone(), id.clone());
            }),
            _ => None,
        };
        if let Some(id) = id {
            request.extensions_mut().insert(RequestId(id));
        }
        self.inner.call(request)
    }
}

/// A random (version 4) UUID in its hyphenated lower-case form, as Envoy generates.
fn fresh_id() -> Option<HeaderValue> {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).ok()
}
