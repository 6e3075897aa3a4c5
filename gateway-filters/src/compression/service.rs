//! The layers, built on tower-http's compression and request decompression.

use gateway_core::{BoxBody, Request, Response, body::boxed};
use http::{
    HeaderMap, HeaderValue, Method,
    header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, VARY},
};
use http_body::Body;
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};
use tower::{Layer, Service};
use tower_http::{
    compression::{Compression, Predicate, ResponseFuture as CompressionFuture},
    decompression::{DecompressionBody, RequestDecompression, RequestDecompressionFuture},
};

use super::{
    Codecs, RequestDecompressionConfig, ResponseCompressionConfig,
    encoding::{decompresses, has_no_transform, negotiate},
};

// === impl ResponseCompressionLayer ===

/// Compresses responses for clients that accept it; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ResponseCompressionLayer {
    policy: Policy,
}

impl ResponseCompressionLayer {
    /// A layer compressing responses as `config` says.
    pub fn new(config: ResponseCompressionConfig) -> Self {
        Self {
            policy: Policy(Arc::new(config)),
        }
    }
}

impl<S> Layer<S> for ResponseCompressionLayer {
    type Service = ResponseCompressionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let codecs = self.policy.0.codecs;
        let compression = Compression::new(EtagWeakening {
            inner,
            policy: self.policy.clone(),
        })
        .compress_when(self.policy.clone())
        .gzip(codecs.gzip)
        .br(codecs.brotli)
        .zstd(codecs.zstd);
        ResponseCompressionService {
            compression,
            policy: self.policy.clone(),
        }
    }
}

/// Which responses are compressible: the part of the decision that depends on the response
/// (the request's `Accept-Encoding` is the other part).
#[derive(Clone, Debug)]
struct Policy(Arc<ResponseCompressionConfig>);

impl Policy {
    /// Whether the compressor will compress `response` for a client that accepts a codec:
    /// not already encoded, not a range, no `no-transform`, an allowed media type, and a
    /// length (when known) of at least the minimum.
    fn compresses<B: Body>(&self, response: &http::Response<B>) -> bool {
        let headers = response.headers();
        !headers.contains_key(CONTENT_ENCODING)
            && !headers.contains_key(CONTENT_RANGE)
            && self.should_compress(response)
    }

    fn media_type_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(content_type) = headers.get(CONTENT_TYPE) else {
            return true;
        };
        let Ok(content_type) = content_type.to_str() else {
            return false;
        };
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        self.0
            .content_types
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(essence))
    }

    fn long_enough(&self, headers: &HeaderMap, exact_size: Option<u64>) -> bool {
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        declared
            .or(exact_size)
            .is_none_or(|length| length >= u64::from(self.0.min_content_length))
    }
}

impl Predicate for Policy {
    fn should_compress<B: Body>(&self, response: &http::Response<B>) -> bool {
        let headers = response.headers();
        !has_no_transform(headers)
            && self.media_type_allowed(headers)
            && self.long_enough(headers, response.body().size_hint().exact())
    }
}

/// Service compressing responses; see the [module docs](super).
pub struct ResponseCompressionService<S> {
    compression: Compression<EtagWeakening<S>, Policy>,
    policy: Policy,
}

impl<S: Clone> Clone for ResponseCompressionService<S> {
    fn clone(&self) -> Self {
        Self {
            compression: self.compression.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ResponseCompressionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCompressionService")
            .field("inner", &self.compression.get_ref().inner)
            .field("config", &self.policy.0)
            .finish()
    }
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for ResponseCompressionService<S>
where
    S: Service<http::Request<ReqBody>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.compression.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let codecs = self.policy.0.codecs;
        // Only requests that will get a codec go through tower-http: the others would be
        // boxed for nothing (or answered 406 when they refuse `identity`).
        let kind =
            if request.method() != Method::HEAD && negotiate(request.headers(), codecs).is_some() {
                Kind::Compress {
                    future: self.compression.call(request),
                }
            } else {
                Kind::Identity {
                    future: self.compression.get_mut().inner.call(request),
                    policy: self.policy.clone(),
                }
            };
        ResponseFuture { kind }
    }
}

pin_project! {
    /// Response future of [`ResponseCompressionService`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F> {
        // The client accepts a codec: tower-http compresses when the response allows it.
        Compress {
            #[pin]
            future: CompressionFuture<EtagWeakeningFuture<F>, Policy>,
        },
        // Sent as it is; `Vary` tells caches that another client could get it compressed.
        Identity {
            #[pin]
            future: F,
            policy: Policy,
        },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Compress { .. } => "Compress",
            Kind::Identity { .. } => "Identity",
        };
        f.debug_tuple("ResponseFuture").field(&kind).finish()
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Compress { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(boxed)))
            }
            KindProjection::Identity { future, policy } => {
                let mut response = ready!(future.poll(cx))?;
                if policy.compresses(&response) {
                    add_vary_accept_encoding(response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}

/// Adds `Vary: Accept-Encoding` unless the response already varies on it.
fn add_vary_accept_encoding(headers: &mut HeaderMap) {
    let present = headers
        .get_all(VARY)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|name| {
            let name = name.trim();
            name == "*" || name.eq_ignore_ascii_case("accept-encoding")
        });
    if !present {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// Between tower-http's compressor and the inner service: a strong `ETag` on a response that
/// is about to be compressed becomes weak (`W/"…"`), as Envoy's compressor does, since the
/// compressed bytes are not the ones the tag was computed over.
#[derive(Clone, Debug)]
struct EtagWeakening<S> {
    inner: S,
    policy: Policy,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for EtagWeakening<S>
where
    S: Service<http::Request<ReqBody>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EtagWeakeningFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        EtagWeakeningFuture {
            future: self.inner.call(request),
            policy: self.policy.clone(),
        }
    }
}

pin_project! {
    struct EtagWeakeningFuture<F> {
        #[pin]
        future: F,
        policy: Policy,
    }
}

impl<F, E> Future for EtagWeakeningFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.future.poll(cx))?;
        if this.policy.compresses(&response) {
            weaken_etag(response.headers_mut());
        }
        Poll::Ready(Ok(response))
    }
}

/// Turns a strong `ETag` into a weak one.
fn weaken_etag(headers: &mut HeaderMap) {
    let Some(etag) = headers.get(ETAG) else {
        return;
    };
    if etag.as_bytes().starts_with(b"W/") {
        return;
    }
    let mut weak = Vec::with_capacity(etag.len() + 2);
    weak.extend_from_slice(b"W/");
    weak.extend_from_slice(etag.as_bytes());
    if let Ok(weak) = HeaderValue::from_bytes(&weak) {
        headers.insert(ETAG, weak);
    }
}

// === impl RequestDecompressionLayer ===

/// Decompresses request bodies; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct RequestDecompressionLayer {
    codecs: Codecs,
}

impl RequestDecompressionLayer {
    /// A layer decompressing request bodies as `config` says.
    pub fn new(config: RequestDecompressionConfig) -> Self {
        Self {
            codecs: config.codecs,
        }
    }
}

impl<S> Layer<S> for RequestDecompressionLayer {
    type Service = RequestDecompressionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let decompression = RequestDecompression::new(Reboxing { inner })
            .pass_through_unaccepted(true)
            .gzip(self.codecs.gzip)
            .br(self.codecs.brotli)
            .zstd(self.codecs.zstd);
        RequestDecompressionService {
            decompression,
            codecs: self.codecs,
        }
    }
}

/// Service decompressing request bodies; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct RequestDecompressionService<S> {
    decompression: RequestDecompression<Reboxing<S>>,
    codecs: Codecs,
}

impl<S> Service<Request> for RequestDecompressionService<S>
where
    S: Service<Request, Response = Response>,
    S::Error: 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = DecompressionFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.decompression.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Bodies that stay as they are skip tower-http, which would box every response.
        let kind = if decompresses(request.headers(), self.codecs) {
            DecompressionKind::Decompress {
                future: self.decompression.call(request),
            }
        } else {
            DecompressionKind::PassThrough {
                future: self.decompression.get_mut().inner.call(request),
            }
        };
        DecompressionFuture { kind }
    }
}

/// Between tower-http's decompressor and the inner service: boxes the decompressing body
/// back into the proxy's body type.
#[derive(Clone, Debug)]
struct Reboxing<S> {
    inner: S,
}

impl<S> Service<http::Request<DecompressionBody<BoxBody>>> for Reboxing<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<DecompressionBody<BoxBody>>) -> Self::Future {
        self.inner.call(request.map(boxed))
    }
}

pin_project! {
    /// Response future of [`RequestDecompressionService`].
    pub struct DecompressionFuture<F, E>
    where
        F: Future<Output = Result<Response, E>>,
    {
        #[pin]
        kind: DecompressionKind<F, E>,
    }
}

pin_project! {
    #[project = DecompressionKindProjection]
    enum DecompressionKind<F, E>
    where
        F: Future<Output = Result<Response, E>>,
    {
        Decompress {
            #[pin]
            future: RequestDecompressionFuture<F, BoxBody, E>,
        },
        PassThrough {
            #[pin]
            future: F,
        },
    }
}

impl<F, E> fmt::Debug for DecompressionFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            DecompressionKind::Decompress { .. } => "Decompress",
            DecompressionKind::PassThrough { .. } => "PassThrough",
        };
        f.debug_tuple("DecompressionFuture").field(&kind).finish()
    }
}

impl<F, E> Future for DecompressionFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
    E: 'static,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            DecompressionKindProjection::Decompress { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(boxed)))
            }
            DecompressionKindProjection::PassThrough { future } => future.poll(cx),
        }
    }
}
