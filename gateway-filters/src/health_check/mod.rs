//! Listener health checks: kgateway's `httpSettings.healthCheck`
//! (`ListenerPolicy.spec.default.httpSettings.healthCheck`, and the deprecated
//! `HTTPListenerPolicy.spec.healthCheck`).
//!
//! Policy, as kgateway configures Envoy's `health_check` HTTP filter (non-pass-through mode,
//! one header matcher on `:path`): a `GET` or `HEAD` request whose path — with its query,
//! exactly as the client sent it — equals `healthCheck.path` is answered by the gateway
//! itself with `200 OK` and an empty body, before routing; the backends never see it. Any
//! other request goes on unchanged. The answer carries a [`HealthCheckResponse`] in its
//! extensions so that the access log can tell health checks apart (`notHealthCheckFilter`).
//!
//! Two deliberate differences from Envoy: only `GET` and `HEAD` are answered (Envoy's
//! filter matches the path whatever the method; a `POST /healthz` here is routed like any
//! other request), and the answer is always `200` (Envoy answers `503` while its admin
//! interface has marked the server as failing, which this gateway has no equivalent of).
//!
//! Put the layer inside the access log so health checks are logged, and outside the router
//! so that they need no route. The answer's empty body is the service's own body type
//! (`ResBody: Default`), so the layer works over any request and response body.
//!
//! ```
//! use gateway_filters::health_check::{HealthCheckLayer, HealthCheckResponse, HealthCheckSpec};
//! use http::{Request, Response, StatusCode};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: HealthCheckSpec = serde_json::from_str(r#"{"path": "/healthz"}"#).unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(HealthCheckLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|_: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("from the backend")))
//!     }));
//!
//! let probe = Request::get("/healthz").body(()).unwrap();
//! let response = service.clone().oneshot(probe).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert!(response.body().is_empty());
//! assert!(response.extensions().get::<HealthCheckResponse>().is_some());
//!
//! let other = Request::get("/healthz/deep").body(()).unwrap();
//! let response = service.oneshot(other).await.unwrap();
//! assert_eq!(response.body(), "from the backend");
//! # }
//! ```

mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::HealthCheckConfig;
pub use service::{HealthCheckLayer, HealthCheckResponse, HealthCheckService, ResponseFuture};
pub use spec::HealthCheckSpec;
