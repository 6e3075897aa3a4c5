//! External processing (kgateway `TrafficPolicy.spec.extProc` with a `GatewayExtension` of
//! type `ExtProc`; Envoy's `ext_proc` filter).
//!
//! Each request opens one bidirectional gRPC stream,
//! `envoy.service.ext_proc.v3.ExternalProcessor/Process`, to the processor, so existing
//! ext_proc servers work unchanged. The gateway sends the parts of the request and of the
//! response that the [processing mode](ProcessingMode) selects, in order, and waits for the
//! processor's answer to each:
//!
//! 1. request headers (pseudo-headers `:method`, `:scheme`, `:authority`, `:path` first,
//!    values in `raw_value`; `Host` travels as `:authority`), then the request body and
//!    trailers;
//! 2. the inner service (the backend) gets the request as the answers left it;
//! 3. response headers (`:status` first), then the response body and trailers; the client
//!    gets the response as the answers left it.
//!
//! The stream opens with the first message (a request that sends nothing opens none), the
//! protocol configuration (the body modes) rides on that first message, and the stream is
//! half-closed when the request is done. The layer keeps one gRPC channel (one HTTP/2
//! connection per endpoint, plaintext h2c) shared by all its clones, made on the first
//! request.
//!
//! # Processing mode
//!
//! Headers are sent (`SEND`) or not (`SKIP`); by default request and response headers are
//! sent, trailers skipped and bodies not sent. Body modes:
//!
//! - `NONE`: the body goes on untouched (trailers are still sent when their mode is `SEND`);
//! - `STREAMED`: each chunk is sent as it arrives (split at 64 KiB, at most four chunks
//!   waiting for answers, after which reading pauses) and goes on as its answer comes back,
//!   so nothing is buffered beyond that window; the last chunk carries `end_of_stream`
//!   (an empty one is sent when the body's end was not known with its last data). The
//!   `Content-Length` is dropped, since the processor may change the length;
//! - `BUFFERED`: the body is read whole (at most [`ExtProcConfig::body_limit`], 1 MiB by
//!   default) and sent in one message; over the limit, a request is answered
//!   `413 Payload Too Large` (at once when its `Content-Length` says so) and a response is
//!   replaced by a `500`, as Envoy does. The processed body goes on with its exact
//!   `Content-Length`;
//! - `BUFFERED_PARTIAL`: as `BUFFERED`, but a longer body has its first `body_limit` bytes
//!   processed and the rest goes on untouched after them.
//!
//! `FULL_DUPLEX_STREAMED` is refused by [`ProcessingModeSpec::compile`]. With
//! `allowProcessingModeOverride`, the processor's answer to headers may change the mode of
//! the rest of the request (`mode_override`, also as a standalone message before the
//! answer), within `allowedProcessingModeOverrides` when that list is set; `DEFAULT` header
//! modes in an override keep the current ones. Upgrade and `CONNECT` requests, and
//! `101 Switching Protocols` responses, never have their bodies processed.
//!
//! # Answers
//!
//! - `CommonResponse` with `CONTINUE`: the header mutation (`remove_headers` first, then
//!   `set_headers` with Envoy's append actions, or the legacy `append` flag, which defaults
//!   to overwrite) and the body mutation (`body` replaces, `clear_body` empties the chunk or
//!   body) are applied. Header
//!   mutations in answers to bodies apply only in the buffered modes. Envoy's default
//!   mutation rules hold: `host`, `:authority`, `:scheme`, `:method` and `x-envoy-*` are
//!   left alone; `:path` may be set on requests, `:status` on responses. An invalid name or
//!   value fails the request (`500`).
//! - `CONTINUE_AND_REPLACE`: as above, then nothing more of that message is sent; in an
//!   answer to headers the body is replaced by the mutation's (a request may also change its
//!   `:method` then), or kept when there is none.
//! - `ImmediateResponse` at any point: the client gets its status (`200` when unset or
//!   below `200`), headers and body (`text/plain`), and the backend is not called (or its
//!   response is dropped). Once a streamed response body has started, the body ends with a
//!   [`ProcessingError`] instead (the headers are gone); a streamed request body ends the
//!   same way towards the backend, and the client gets the immediate response.
//! - `override_message_timeout`: a new deadline for the message waiting, once, when at most
//!   `maxMessageTimeout`.
//!
//! # Failures
//!
//! Each answer must come within the message timeout (200 ms by default), in order and of
//! the kind its message expects. When the stream cannot be opened, fails, times out or
//! answers out of order, the request goes on unprocessed with `failOpen` (kgateway's
//! default), and otherwise gets `504 Gateway Timeout` (timeouts) or
//! `500 Internal Server Error` (everything else), with an empty body, as Envoy answers. A
//! processor that closes the stream cleanly is simply out of the rest of the request. A
//! body that fails while it is buffered gets `400` (`DC`) for requests and `502` (`UC`)
//! for responses.
//!
//! Not implemented: the HTTP (non-gRPC) service, `FULL_DUPLEX_STREAMED`, streamed
//! immediate responses, gRPC status in immediate responses, attributes, dynamic metadata,
//! route cache clearing (the route is chosen before this layer), observability mode, TLS to
//! the processor.
//!
//! # Body types
//!
//! Bodies the layer makes whole are [`FullBody`](crate::buffer::FullBody)s; bodies it
//! streams are [`ExtProcBody`]s; the proxy's [`BoxBody`](gateway_core::BoxBody) is both.
//!
//! ```
//! use gateway_core::{Request, body};
//! use gateway_filters::ext_proc::{ExtProcLayer, ExtProcProviderSpec, GrpcServer};
//! use http::StatusCode;
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A processor address where nothing listens.
//! let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! drop(listener);
//! let server = GrpcServer::from_addrs([addr]).unwrap();
//!
//! // kgateway's failOpen defaults to true: requests go on when the processor is down.
//! let spec: ExtProcProviderSpec = serde_json::from_str(
//!     r#"{"grpcService": {"backendRef": {"name": "ext-proc", "port": 9000}}}"#,
//! )
//! .unwrap();
//! let backend = service_fn(|_: Request| async {
//!     Ok::<_, Infallible>(http::Response::new(body::full("from the backend")))
//! });
//! let open = ServiceBuilder::new()
//!     .layer(ExtProcLayer::new(spec.compile(server.clone()).unwrap()))
//!     .service(backend.clone());
//! let response = open.oneshot(http::Request::new(body::empty())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! // Failing closed, the same request gets a 500.
//! let spec: ExtProcProviderSpec = serde_json::from_str(
//!     r#"{"grpcService": {"backendRef": {"name": "ext-proc", "port": 9000}},
//!         "failOpen": false}"#,
//! )
//! .unwrap();
//! let closed = ServiceBuilder::new()
//!     .layer(ExtProcLayer::new(spec.compile(server).unwrap()))
//!     .service(backend);
//! let response = closed.oneshot(http::Request::new(body::empty())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
//! # }
//! ```

mod body;
mod config;
mod mutation;
mod service;
mod spec;
mod stream;
#[cfg(test)]
mod tests;

pub use body::{ExtProcBody, ProcessedBody, ProcessingError};
pub use config::{
    BodySendMode, DEFAULT_BODY_LIMIT, DEFAULT_MESSAGE_TIMEOUT, ExtProcConfig, GrpcServer,
    HeaderSendMode, ProcessingMode,
};
pub use service::{ExtProcLayer, ExtProcService, ResponseFuture};
pub use spec::{
    BodyModeSpec, ExtProcGrpcServiceSpec, ExtProcPolicy, ExtProcPolicySpec, ExtProcProviderSpec,
    HeaderModeSpec, ProcessingModeSpec,
};
