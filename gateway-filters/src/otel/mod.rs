//! Distributed tracing with OpenTelemetry (kgateway `httpSettings.tracing`, Envoy's HTTP
//! connection manager tracing with its OpenTelemetry tracer).
//!
//! For each request the layer decides whether it is traced, as Envoy does:
//!
//! - a request with a valid W3C `traceparent` follows its parent's sampled flag;
//! - otherwise a request carrying `x-client-trace-id` is traced with probability
//!   `clientSampling`, any other with probability `randomSampling`;
//! - and what was picked is finally kept with probability `overallSampling`.
//!
//! A traced request gets a `SERVER` span, child of the client's span when there is one,
//! with OpenTelemetry's HTTP server attributes (`http.request.method`, `url.path` cut at
//! `maxPathTagLength`, `url.scheme`, `server.address`, `user_agent.original`,
//! `client.address` as the listener computed it, `http.response.status_code`), the
//! response flag (`response_flags`), an error status on 5xx answers and the configured
//! extra attributes. Its name is the method, then `METHOD namespace/route/rule` once the
//! router (further in) reports the route. The span ends with the response head: the time
//! to first byte, which is what a gateway adds.
//!
//! Every request sent upstream carries a `traceparent`: the new span's id when traced;
//! otherwise a fresh span id with the not-sampled flag in the same trace, so the backend
//! joins the trace without recording it. `tracestate` passes through unchanged.
//!
//! Spans are exported over OTLP/gRPC (the `opentelemetry-otlp` exporter) by the SDK's
//! batch processor, on its own thread with a bounded queue: a slow or absent collector
//! drops spans, never delays requests. Clones of a layer share one exporter; it is flushed
//! and shut down (off the async workers) when the last one is dropped.
//!
//! ```no_run
//! use gateway_filters::otel::{TracingConfig, TracingLayer};
//! use http::{Request, Response};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, service_fn};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = TracingConfig::new("edge-gateway", "http://127.0.0.1:4317".parse()?);
//! let service = ServiceBuilder::new()
//!     .layer(TracingLayer::new(config)?)
//!     .service(service_fn(|request: Request<String>| async move {
//!         // The upstream call would carry `request.headers()["traceparent"]`.
//!         Ok::<_, Infallible>(Response::new(String::new()))
//!     }));
//! # drop(service);
//! # Ok(())
//! # }
//! ```

mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{CustomAttribute, DEFAULT_MAX_PATH_TAG_LENGTH, TracingConfig};
pub use service::{ResponseFuture, TracingError, TracingLayer, TracingService};
pub use spec::{
    AlwaysOnSpec, CustomAttributeSpec, LiteralSpec, NamedValueSpec, OpenTelemetryTracingSpec,
    SamplerSpec, TracingGrpcServiceSpec, TracingProviderSpec, TracingSpec,
};
