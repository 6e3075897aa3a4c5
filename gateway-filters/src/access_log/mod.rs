//! Access logs: kgateway's `httpSettings.accessLog` (file sinks), Envoy's file access log
//! with its format strings and format dictionaries.
//!
//! Each entry appends one line per request to its file (`/dev/stdout` works) when the
//! response body has ended — or failed, or been dropped because the client went away — in
//! the entry's format, if the entry's filter lets the request through.
//!
//! **Formats.** `stringFormat` is an Envoy format string; `jsonFormat` a format dictionary
//! (an object of keys to format strings, nesting allowed) written as one JSON object per
//! line, keys in sorted order; with neither (or an empty `stringFormat`) the line is
//! Envoy's default format ([`ENVOY_DEFAULT_FORMAT`]). Formats are parsed once, when the
//! spec compiles; an unknown command operator is an error naming the field
//! (`[0].fileSink.jsonFormat.flags`). Every line ends with exactly one newline, whether or
//! not the format ends with one (or with the two characters `\n`, which YAML single quotes
//! leave in kgateway's examples). `%%` is a literal `%`.
//!
//! **Command operators**: `%START_TIME%` (UTC, ISO 8601 with milliseconds; or
//! `%START_TIME(format)%` with `%Y %y %m %d %e %j %H %M %S %s %f %1f…%9f %z %Z %b %a %T
//! %F`), `%REQ(X?Y):Z%` (`X` or else `Y`, request headers or `:method`, `:path`,
//! `:authority`, `:scheme`), `%RESP(X?Y):Z%` (response headers), `%PATH(WQ|NQ:ORIG|PATH|
//! ORIG_OR_PATH)%`, `%PROTOCOL%`, `%RESPONSE_CODE%`, `%RESPONSE_FLAGS%`,
//! `%BYTES_RECEIVED%` and `%BYTES_SENT%` (body bytes), `%DURATION%` (milliseconds to the
//! end of the response body), `%RESPONSE_DURATION%` (to the response head),
//! `%UPSTREAM_HOST%` / `%UPSTREAM_REMOTE_ADDRESS%` (`_WITHOUT_PORT`), `%UPSTREAM_CLUSTER%`,
//! `%ROUTE_NAME%` (`namespace/name/section` of the matched rule), `%STREAM_ID%` (the
//! request id), `%DOWNSTREAM_REMOTE_ADDRESS%` (the client address, with port `0` when it
//! came from `X-Forwarded-For`, as Envoy prints it; `_WITHOUT_PORT`),
//! `%DOWNSTREAM_REMOTE_PORT%`, `%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%` (the peer;
//! `_WITHOUT_PORT`), `%DOWNSTREAM_LOCAL_ADDRESS%` (`_WITHOUT_PORT`),
//! `%DOWNSTREAM_LOCAL_PORT%`, `%REQUESTED_SERVER_NAME%`. `:Z` cuts a value to `Z` bytes.
//!
//! **Missing values** are `-` in text, as Envoy prints them (empty values too). In a
//! format dictionary a value that is exactly one operator is typed as Envoy types it:
//! numbers for `RESPONSE_CODE`, `BYTES_*`, `*DURATION` and ports, `null` when unset, strings
//! otherwise (`RESPONSE_FLAGS` is `"-"` when there are none); a value mixing text and
//! operators is a string with `-` for unset parts. So kgateway's example dictionary logs,
//! for a rate-limited request, `"response_code":429,"response_flags":"RL"`.
//!
//! **Where values come from.** The request side is taken when the request reaches this
//! layer, before inner layers rewrite it; the client address
//! ([`ClientAddr`](gateway_core::extensions::ClientAddr)), request id
//! ([`RequestId`](gateway_core::extensions::RequestId)) and connection facts come from the
//! request extensions, so put the client address and request id layers outside this one.
//! Response flags ([`ResponseFlag`](gateway_core::ResponseFlag)), the upstream endpoint
//! ([`UpstreamEndpoint`](gateway_core::backend::UpstreamEndpoint)), the matched route
//! ([`matched_route`](gateway_core::extensions::matched_route), request or response side) and
//! health check answers ([`HealthCheckResponse`](crate::health_check::HealthCheckResponse))
//! come from the response extensions. `DC` is added when the client went away before the
//! response ended; then, without a response head, the code is `0`. `%UPSTREAM_CLUSTER%` is
//! accepted but always unset: responses do not carry the backend's name.
//!
//! **Filters**: `statusCodeFilter`, `durationFilter`, `notHealthCheckFilter`,
//! `headerFilter`, `responseFlagFilter`, and `andFilter` / `orFilter` of those. kgateway's
//! `traceableFilter`, `grpcStatusFilter`, `celFilter` and `runtimeFilter`, and the
//! `grpcService` and `openTelemetry` sinks, are not implemented (reported as unknown
//! fields).
//!
//! **Writing.** Lines are formatted on the request's task, into one buffer per line sized
//! from the previous line, and handed to the file's writer — a std thread per path, shared
//! by every layer writing that path — through a bounded queue
//! ([`AccessLogConfig::queue_capacity`]). The request never waits and never touches the
//! file: when the queue is full the line is dropped and counted
//! ([`AccessLogLayer::dropped_lines`]). [`AccessLogLayer::flush`] waits for what is queued.
//!
//! **Bodies.** The inner service gets the request body wrapped in a [`RequestBody`]
//! (counting), and the response body comes back wrapped in a [`ResponseBody`] (counting,
//! writing the line at its end). Inside the gateway, where every body is a
//! [`BoxBody`](gateway_core::BoxBody), box them again around the layer:
//!
//! ```
//! use gateway_core::{BoxBody, Request, Response, body};
//! use gateway_filters::access_log::{
//!     AccessLogLayer, AccessLogSpec, RequestBody, ResponseBody, compile,
//! };
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("access.log");
//! let specs: Vec<AccessLogSpec> = serde_json::from_value(serde_json::json!([{
//!     "fileSink": {
//!         "path": path,
//!         "jsonFormat": {
//!             "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
//!             "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
//!             "response_code": "%RESPONSE_CODE%",
//!             "response_flags": "%RESPONSE_FLAGS%",
//!             "bytes_sent": "%BYTES_SENT%",
//!             "user_agent": "%REQ(USER-AGENT)%"
//!         }
//!     }
//! }]))
//! .unwrap();
//! let log = AccessLogLayer::new(compile(&specs).unwrap());
//!
//! let service = ServiceBuilder::new()
//!     .map_response(|response: http::Response<ResponseBody<BoxBody>>| response.map(body::boxed))
//!     .layer(log.clone())
//!     .map_request(|request: http::Request<RequestBody<BoxBody>>| request.map(body::boxed))
//!     .service(service_fn(|_: Request| async {
//!         // A rate limiter answering by itself.
//!         let limited = gateway_core::error::local_response(
//!             http::StatusCode::TOO_MANY_REQUESTS,
//!             gateway_core::ResponseFlag::RateLimited,
//!         );
//!         Ok::<Response, Infallible>(limited)
//!     }));
//!
//! let request = http::Request::get("/api").body(body::empty()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! // The line is written when the response body ends.
//! http_body_util::BodyExt::collect(response.into_body()).await.unwrap();
//! log.flush();
//!
//! let line = std::fs::read_to_string(&path).unwrap();
//! assert_eq!(
//!     line,
//!     r#"{"bytes_sent":17,"method":"GET","path":"/api","response_code":429,"response_flags":"RL","user_agent":null}"#
//!         .to_owned()
//!         + "\n"
//! );
//! # }
//! ```

mod body;
mod config;
mod format;
mod record;
mod render;
mod service;
mod sink;
mod spec;
#[cfg(test)]
mod tests;
mod time;

pub use body::{RequestBody, ResponseBody};
pub use config::{
    AccessLogConfig, AccessLogEntry, Comparison, ComparisonOp, DEFAULT_QUEUE_CAPACITY,
    ENVOY_DEFAULT_FORMAT, HeaderCondition, HeaderValueMatch, LogFilter, LogFormat,
};
pub use service::{AccessLogLayer, AccessLogService, ResponseFuture};
pub use spec::{
    AccessLogFilterSpec, AccessLogSpec, ComparisonSpec, FileSinkSpec, FilterTypeSpec,
    HeaderFilterSpec, HeaderMatchSpec, HeaderMatchType, ResponseFlagFilterSpec, compile,
};
