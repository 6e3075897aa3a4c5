//! The tracing layer and service.

use gateway_core::{
    ResponseFlag,
    extensions::{ClientAddr, ConnectionInfo, MatchedRouteCell, matched_route},
};
use http::{HeaderMap, HeaderValue, Method, header::USER_AGENT};
use opentelemetry::{
    Context, KeyValue,
    trace::{
        Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
        TraceState, Tracer as _, TracerProvider as _,
    },
};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    trace::{SdkTracer, SdkTracerProvider, Span},
};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll, ready},
};
use tower::{Layer, Service};

use super::{CustomAttribute, TracingConfig};

/// The W3C trace context header.
const TRACEPARENT: &str = "traceparent";
/// Envoy's header asking for a trace (`clientSampling` applies to requests with it).
const X_CLIENT_TRACE_ID: &str = "x-client-trace-id";
/// How long an export may take.
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a [`TracingLayer`] could not be made.
#[derive(Debug, thiserror::Error)]
#[error("the OTLP span exporter could not be built: {0}")]
pub struct TracingError(String);

/// The exporter side: the provider (its batch processor thread) and the tracer.
struct Exporting {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

struct Shared {
    config: TracingConfig,
    /// `None` only while dropping.
    exporting: Option<Exporting>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Shutting down flushes the batch and joins its thread: blocking work, kept off
        // the async workers when there are some.
        if let Some(exporting) = self.exporting.take() {
            let shutdown = move || {
                let _ = exporting.provider.shutdown_with_timeout(EXPORT_TIMEOUT);
                drop(exporting.tracer);
            };
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(shutdown)),
                Err(_) => shutdown(),
            }
        }
    }
}

/// Traces requests with OpenTelemetry; see the [module docs](super).
#[derive(Clone)]
pub struct TracingLayer {
    shared: Arc<Shared>,
}

impl TracingLayer {
    /// A layer exporting `config`'s spans. Must be called inside a Tokio runtime (the
    /// OTLP client runs on it); the collector is connected to lazily.
    pub fn new(config: TracingConfig) -> Result<Self, TracingError> {
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.collector.to_string())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| TracingError(e.to_string()))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.to_string())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("tower-gateway");
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                exporting: Some(Exporting { provider, tracer }),
            }),
        })
    }

    /// Exports every finished span now. Blocks until the collector answered (or the
    /// export timed out): for shutdown and tests, off the async workers.
    pub fn force_flush(&self) {
        if let Some(exporting) = &self.shared.exporting {
            let _ = exporting.provider.force_flush();
        }
    }
}

impl fmt::Debug for TracingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracingLayer")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S> Layer<S> for TracingLayer {
    type Service = TracingService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TracingService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service tracing requests; see the [module docs](super).
#[derive(Clone)]
pub struct TracingService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for TracingService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracingService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for TracingService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let span = self.shared.start(&mut request);
        ResponseFuture {
            inner: self.inner.call(request),
            span,
        }
    }
}

/// A sampled request's span, ended with the response head.
struct Active {
    span: Span,
    method: Method,
    route: MatchedRouteCell,
}

impl Shared {
    /// Decides whether the request is traced, starts its span when it is, and puts the
    /// `traceparent` the upstream sees on the request.
    fn start<B>(&self, request: &mut http::Request<B>) -> Option<Active> {
        let config = &self.config;
        let parent = parse_traceparent(request.headers());
        let sampled = match &parent {
            Some(parent) => parent.is_sampled(),
            None if request.headers().contains_key(X_CLIENT_TRACE_ID) => {
                config.client_sampling.sample()
            }
            None => config.random_sampling.sample(),
        } && config.overall_sampling.sample();
        let exporting = self.exporting.as_ref()?;
        if !sampled {
            // Not traced here, but the trace goes on: a new span id with the not-sampled
            // flag, so the upstream neither records nor starts a trace of its own.
            let trace_id = parent
                .as_ref()
                .map_or_else(|| TraceId::from(nonzero_u128()), SpanContext::trace_id);
            set_traceparent(
                request.headers_mut(),
                trace_id,
                SpanId::from(nonzero_u64()),
                TraceFlags::NOT_SAMPLED,
            );
            return None;
        }
        let parent_cx = match parent {
            Some(parent) => Context::new().with_remote_span_context(parent),
            None => Context::new(),
        };
        let attributes = self.attributes(request);
        let span = exporting
            .tracer
            .span_builder(request.method().as_str().to_owned())
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&exporting.tracer, &parent_cx);
        let context = span.span_context().clone();
        set_traceparent(
            request.headers_mut(),
            context.trace_id(),
            context.span_id(),
            TraceFlags::SAMPLED,
        );
        let route = match request.extensions().get::<MatchedRouteCell>() {
            Some(cell) => cell.clone(),
            None => {
                let cell = MatchedRouteCell::default();
                if let Some(matched) = matched_route(request.extensions()) {
                    cell.report(matched);
                }
                request.extensions_mut().insert(cell.clone());
                cell
            }
        };
        Some(Active {
            span,
            method: request.method().clone(),
            route,
        })
    }

    /// The request attributes of a span (OpenTelemetry's HTTP server conventions) and the
    /// configured extra ones.
    fn attributes<B>(&self, request: &http::Request<B>) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(8 + self.config.attributes.len());
        let headers = request.headers();
        attributes.push(KeyValue::new(
            "http.request.method",
            request.method().as_str().to_owned(),
        ));
        let path = request.uri().path();
        let cut = (0..=self.config.max_path_tag_length.min(path.len()))
            .rev()
            .find(|i| path.is_char_boundary(*i))
            .unwrap_or(0);
        attributes.push(KeyValue::new("url.path", path[..cut].to_owned()));
        let connection = request.extensions().get::<ConnectionInfo>();
        let scheme = request
            .uri()
            .scheme_str()
            .or(connection.map(ConnectionInfo::scheme))
            .unwrap_or("http");
        attributes.push(KeyValue::new("url.scheme", scheme.to_owned()));
        if let Some(host) = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(request.uri().host())
        {
            attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        if let Some(agent) = headers.get(USER_AGENT).and_then(|h| h.to_str().ok()) {
            attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
        }
        let client = request
            .extensions()
            .get::<ClientAddr>()
            .map(|c| c.0)
            .or(connection.map(|c| c.remote_addr.ip()));
        if let Some(client) = client {
            attributes.push(KeyValue::new("client.address", client.to_string()));
        }
        for attribute in self.config.attributes.iter() {
            match attribute {
                CustomAttribute::Fixed { name, value } => {
                    attributes.push(KeyValue::new(name.to_string(), value.to_string()));
                }
                CustomAttribute::RequestHeader {
                    name,
                    header,
                    default_value,
                } => {
                    let value = headers
                        .get(header)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                        .or_else(|| default_value.as_deref().map(str::to_owned));
                    if let Some(value) = value {
                        attributes.push(KeyValue::new(name.to_string(), value));
                    }
                }
                CustomAttribute::Absent => {}
            }
        }
        attributes
    }
}

impl Active {
    /// Records the response head and ends the span.
    fn end<B>(mut self, response: Option<&http::Response<B>>) {
        match response {
            Some(response) => {
                let status = response.status();
                self.span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status.as_u16()),
                ));
                if let Some(flag) = response.extensions().get::<ResponseFlag>() {
                    self.span
                        .set_attribute(KeyValue::new("response_flags", flag.as_str()));
                }
                if status.is_server_error() {
                    self.span.set_status(Status::error(""));
                }
            }
            None => self.span.set_status(Status::error("no response")),
        }
        if let Some(route) = self.route.get() {
            let route = &route.0;
            let mut name = format!("{} {}/{}", self.method, route.namespace, route.name);
            if let Some(section) = &route.section {
                name.push('/');
                name.push_str(section);
            }
            self.span.update_name(name);
        }
        self.span.end();
    }
}

pin_project! {
    /// Response future of [`TracingService`]: ends the span with the response head.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Active>,
    }
}

impl<F: fmt::Debug> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .field("traced", &self.span.is_some())
            .finish()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        if let Some(active) = this.span.take() {
            active.end(output.as_ref().ok());
        }
        Poll::Ready(output)
    }
}

/// The parent of a request: a valid W3C `traceparent` (version `00`, or a later version
/// read the same way), as a remote span context.
pub(super) fn parse_traceparent(headers: &HeaderMap) -> Option<SpanContext> {
    let value = headers.get(TRACEPARENT)?.to_str().ok()?;
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    if trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let lower = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !lower(trace) || !lower(span) || !lower(flags) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

/// Sets `traceparent: 00-<trace>-<span>-<flags>`.
fn set_traceparent(headers: &mut HeaderMap, trace: TraceId, span: SpanId, flags: TraceFlags) {
    let text = format!("00-{trace}-{span}-{:02x}", flags.to_u8());
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.insert(TRACEPARENT, value);
    }
}

fn nonzero_u128() -> u128 {
    fastrand::u128(1..)
}

fn nonzero_u64() -> u64 {
    fastrand::u64(1..)
}
