//! Prometheus metrics: one registry per process, per-route and per-backend handles resolved
//! when stacks are built, and a layer that records each response with atomic adds only.
//!
//! # Shape
//!
//! - [`Metrics`] owns a prometheus-client [`Registry`](prometheus_client::registry::Registry)
//!   (no global). The process creates it once, in an `Arc`, and hands it to the admin server
//!   ([`AdminState::with_metrics`](crate::admin::AdminState::with_metrics); `GET /metrics`
//!   and `GET /stats/prometheus` serve it) and to whoever builds route stacks.
//! - A stack builder takes the handles of each route rule with [`Metrics::route`] and of
//!   each backend with [`Metrics::backend`], once per rule and per plan, never per request.
//!   A backend's series are looked up (or created) right away: a lock and a hash, like
//!   prometheus-client's `Family::get_or_create`. A route rule's are created **on its first
//!   answer** (or first retry), so that building a configuration of thousands of routes
//!   does no registry work for them; [`RouteMetrics::register`] creates them up front.
//! - [`MetricsLayer::new`] (route) and [`MetricsLayer::upstream`] (backend) wrap a service
//!   and record every response: a relaxed atomic add per counter, an `Instant` read, no
//!   allocation, no label hashing, and no lock except once per route handle, when its first
//!   answer creates its series (after that, finding them is one atomic load).
//!
//! # Series of routes that have not served
//!
//! A route rule that has answered no request since it was built has no series yet: the
//! downstream families below list only rules that have served (or were
//! [registered](RouteMetrics::register)). A rule's series are created all together and are
//! never removed, so once a rule shows up it keeps all five `code_class` series, its
//! histogram and its retries counter, and a reload that keeps it continues them. Read a
//! missing series as zero (PromQL's `or vector(0)`, or `absent()` for alerts).
//! - Policies with outcomes the response does not show bump a [`PolicyCounter`]:
//!   [`RouteMetrics::retries`] for the retry layer, [`BackendMetrics::ejections`] for the
//!   code that ejects endpoints.
//!
//! # Families
//!
//! Downstream, labelled with [`RouteLabels`] (`gateway`, `listener`, `route`, `rule`):
//!
//! | family | type | extra label | what |
//! |---|---|---|---|
//! | `gateway_requests_total` | counter | `code_class` (`1xx`…`5xx`) | requests answered, by status class; all five series appear at the rule's first answer |
//! | `gateway_response_flags_total` | counter | `flag` (`RL`, `UT`, `URX`, …) | responses carrying a [`ResponseFlag`](crate::ResponseFlag): answers the gateway made itself (rate limited, timeouts, no healthy upstream…) or upstream answers it marked (retries exhausted); a series appears once non-zero |
//! | `gateway_request_duration_seconds` | histogram | | time from the request entering the layer to the response headers |
//! | `gateway_retries_total` | counter | | retries sent, bumped through [`RouteMetrics::retries`] |
//!
//! Upstream, labelled with [`BackendLabels`] (`backend`):
//!
//! | family | type | extra label | what |
//! |---|---|---|---|
//! | `gateway_upstream_requests_total` | counter | `code_class` | requests (each try) sent to the backend, by status class of the answer |
//! | `gateway_upstream_errors_total` | counter | `flag` | tries the gateway answered with a failure flag (`UH`, `UF`, `UT`, `UC`, `UPE`, `UO`); a series appears once non-zero |
//! | `gateway_upstream_request_duration_seconds` | histogram | | time from sending to the response headers |
//! | `gateway_upstream_active_requests` | gauge | | tries in flight (connection counts live in the pool, which does not expose them) |
//! | `gateway_upstream_ejections_total` | counter | | endpoint ejections, bumped through [`BackendMetrics::ejections`] |
//!
//! Histograms use [`DURATION_BUCKETS_SECONDS`] (Envoy's buckets from 0.5 ms to 60 s).
//! Rate-limited requests show as `gateway_response_flags_total{flag="RL"}`, exhausted
//! retries as `flag="URX"`. A request abandoned before its response headers (the client
//! went away, an outer timeout fired) is not counted as answered; the layer that gave up
//! counts its own answer (e.g. the route's `504` with `UT`). Status codes 600–999 count as
//! `5xx`.
//!
//! # Example
//!
//! ```
//! use gateway_core::{
//!     ResponseFlag, body,
//!     error::local_response,
//!     metrics::{Metrics, MetricsLayer, RouteLabels},
//! };
//! use http::StatusCode;
//! use std::{convert::Infallible, sync::Arc};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let metrics = Arc::new(Metrics::new());
//! // Once, when the rule's stack is built.
//! let route = metrics.route(&RouteLabels::new("default/gw", "http", "default/api", "0"));
//! let service = ServiceBuilder::new()
//!     .layer(MetricsLayer::new(&route))
//!     .service_fn(|_request: http::Request<body::BoxBody>| async {
//!         Ok::<_, Infallible>(local_response(StatusCode::TOO_MANY_REQUESTS, ResponseFlag::RateLimited))
//!     });
//! let response = service.oneshot(http::Request::new(body::empty())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
//!
//! let mut text = String::new();
//! metrics.encode(&mut text).unwrap();
//! assert!(text.contains(
//!     r#"gateway_response_flags_total{gateway="default/gw",listener="http",route="default/api",rule="0",flag="RL"} 1"#
//! ));
//! # }
//! ```

mod handles;
mod layer;
mod registry;
mod series;
#[cfg(test)]
mod tests;

pub use handles::{BackendMetrics, PolicyCounter, RouteMetrics};
pub use layer::{MetricsLayer, MetricsService, ResponseFuture};
pub use registry::{BackendLabels, Metrics, RouteLabels};
pub use series::DURATION_BUCKETS_SECONDS;

/// The content type of [`Metrics::encode`]'s output (OpenMetrics text 1.0.0), as
/// prometheus-client documents it for its text encoder.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
