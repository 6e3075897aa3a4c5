//! kgateway `TrafficPolicy.spec.transformation`: headers and bodies rewritten with
//! templates.
//!
//! kgateway's transformation engine ("rustformation", an Envoy dynamic module) renders
//! [MiniJinja](https://docs.rs/minijinja) templates; this layer does the same, with the same
//! helper functions, so kgateway manifests work as written. Every template is compiled once,
//! by [`TransformationSpec::compile`]; a value without template syntax is rendered there and
//! then. Templates run with autoescaping off (headers and bodies are not HTML), a budget of
//! [`TEMPLATE_FUEL`] instructions per rendering, and lenient undefined values (an unknown
//! variable renders empty).
//!
//! # What templates see
//!
//! | in a template | request transform | response transform |
//! |---|---|---|
//! | `header("x")` | request header (first value; empty when absent) | response header |
//! | `header(":method")`, `":path"` (with query), `":authority"`, `":scheme"` | the request's | — |
//! | `header(":status")` | — | the response status |
//! | `request_header("x")` (and its pseudo-headers) | same as `header` | the request as forwarded (after the request transform) |
//! | `body()`, `{{ body }}` | the request body as text | the response body as text |
//! | `body.field`, `body[0]` | fields of the JSON body (`parseAs: AsJson`) | same |
//! | `{{ field }}` | top-level fields of a JSON object body (`AsJson`) | same |
//! | `context()` | the whole JSON body (e.g. an array) | same |
//!
//! Helpers, as kgateway documents them: `base64_encode(s)`, `base64_decode(s)`,
//! `base64url_encode(s)`, `base64url_decode(s)` (empty when the input is not base64 of UTF-8
//! text), `substring(s, start, length?)` (in characters; to the end when `length` is absent
//! or not positive; empty when `start` is negative or past the end), `raw_string(s)` (`s`
//! escaped as the inside of a JSON string), `replace_with_random(s, pattern)` (every
//! `pattern` replaced by one random 128-bit value), `replace_with_string(s, from, to)`, and
//! `env(name)` (the gateway's environment variable, read once when the templates are
//! compiled; note that every policy author can read the gateway's environment). MiniJinja's
//! own filters, tests and functions work too. A JSON field named like a helper is not a
//! top-level variable (read it as `body.<name>`), so a body cannot hide a helper.
//!
//! # What a transform does
//!
//! The templates render against the message as it arrived; then, in kgateway's order: the
//! body is replaced (with `Content-Length` set, `Transfer-Encoding` dropped, and
//! `Content-Type` dropped for an empty body), `set` entries replace headers (an empty value
//! removes the header), `add` entries append (an empty value adds nothing), and `remove`
//! entries go. `set` also takes the pseudo-headers `:path`, `:method`, `:authority` (which
//! sets `Host`) on requests and `:status` on responses. A rendered value that is not a valid
//! header value (or pseudo-header value) leaves that header alone, with a debug log.
//!
//! # Bodies
//!
//! A body is read into memory only when the transform needs it: a template uses `body`,
//! `context()` or JSON fields, or `parseAs` is `AsJson`. A body value without template
//! syntax replaces the body without reading it. At most [`DEFAULT_BODY_LIMIT`] bytes (1 MiB,
//! Envoy's buffer limit; see [`TransformationConfig::with_body_limit`]) are read: a longer
//! request is answered `413 Payload Too Large` (when `Content-Length` says so, without
//! reading it); a longer response is replaced by a `500` and logged. `parseAs: None` reads
//! and replaces nothing. Upgrade and `CONNECT` requests keep their body (headers are still
//! transformed), as do responses without one (to `HEAD`, `1xx`, `204`, `304`). Compressed
//! bodies are seen as they are: put request decompression in front when templates read
//! compressed requests.
//!
//! # Failures
//!
//! Nothing on the traffic path panics. A request whose template fails to render (a missing
//! JSON field used as an object, fuel exhausted, ...) or whose body is not JSON under
//! `AsJson` is answered `400 Bad Request`, as kgateway's transformation answers, flagged
//! [`DownstreamProtocolError`](gateway_core::ResponseFlag::DownstreamProtocolError); a
//! request body that fails while read gets a `400` flagged
//! [`DownstreamConnectionTermination`](gateway_core::ResponseFlag::DownstreamConnectionTermination).
//! On the response side the same failures become a `500` (kgateway answers `400` there, which
//! blames the client for the backend's answer) and a warning; a response body that fails
//! while read becomes a `502` flagged
//! [`UpstreamConnectionTermination`](gateway_core::ResponseFlag::UpstreamConnectionTermination).
//! Compile errors name the field (`request.set[1].value`): template syntax, header names
//! (kgateway's pattern, at most 16 entries per list, no duplicates), pseudo-headers in `add`
//! or `remove`, a static value that is not a valid header value, and a template that reads
//! JSON fields (or the body, with `parseAs: None`) without `parseAs: AsJson`, which kgateway
//! would answer `400` on every request. `dynamicMetadata` is not implemented.
//!
//! Header-only transforms cost no allocation for the future; transforms that read a body run
//! in one boxed future. Works over any body type that is a
//! [`FullBody`](crate::buffer::FullBody) (the proxy's [`BoxBody`](gateway_core::BoxBody) is).
//!
//! ```
//! use gateway_core::{Request, body};
//! use gateway_filters::transformation::{TransformationLayer, TransformationSpec};
//! use http_body_util::BodyExt;
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: TransformationSpec = serde_json::from_str(
//!     r#"{
//!         "request": {
//!             "set": [{"name": "x-user", "value": "{{ user.name | upper }}"}],
//!             "body": {"parseAs": "AsJson",
//!                      "value": "{\"id\": {{ user.id }}, \"via\": \"{{ header(':method') }}\"}"}
//!         },
//!         "response": {
//!             "set": [{"name": "x-echo", "value": "{{ request_header('x-user') }}"}]
//!         }
//!     }"#,
//! )
//! .unwrap();
//! // The "backend" answers with the request body it received.
//! let service = ServiceBuilder::new()
//!     .layer(TransformationLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|request: Request| async move {
//!         let user = request.headers()["x-user"].clone();
//!         let body = request.into_body().collect().await.unwrap().to_bytes();
//!         let mut response = http::Response::new(body::full(body));
//!         response.headers_mut().insert("x-seen-user", user);
//!         Ok::<_, Infallible>(response)
//!     }));
//! let request = http::Request::builder()
//!     .method("POST")
//!     .body(body::full(r#"{"user": {"id": 42, "name": "ada"}}"#))
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["x-seen-user"], "ADA");
//! assert_eq!(response.headers()["x-echo"], "ADA");
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, r#"{"id": 42, "via": "POST"}"#);
//! # }
//! ```

mod config;
mod service;
mod spec;
mod template;
#[cfg(test)]
mod tests;

pub use config::{DEFAULT_BODY_LIMIT, TransformationConfig};
pub use service::{ResponseFuture, TransformationLayer, TransformationService};
pub use spec::{
    BodyParseBehavior, BodyTransformationSpec, HeaderTransformationSpec, TransformSpec,
    TransformationSpec,
};
pub use template::TEMPLATE_FUEL;
