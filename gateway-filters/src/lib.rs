//! Gateway policies as tower layers.
//!
//! Each module is one policy: a `FooConfig` (validated configuration), a `FooLayer` and a
//! `FooService`. Every layer works in any tower stack over the proxy's body type, so a
//! library user can put one in an axum or hyper service on its own; most are generic over
//! the request and response bodies. [`GatewayServiceBuilderExt`] adds them to a
//! `tower::ServiceBuilder` by name.
//!
//! | module | Gateway API field | answers itself with |
//! |---|---|---|
//! | [`header_modifier`] | `RequestHeaderModifier`, `ResponseHeaderModifier` | — |
//! | [`url_rewrite`] | `URLRewrite` | — |
//! | [`redirect`] | `RequestRedirect` | the redirect |
//! | [`mirror`] | `RequestMirror` | — |
//! | [`cors`] | `CORS` | preflight answers |
//! | [`timeout`] | `timeouts.request`, `timeouts.backendRequest` | `504`, flag `UT` |
//! | [`retry`] | `retry` | — (flags `URX` when retries run out) |
//! | [`stream_idle`] | TrafficPolicy `timeouts.streamIdle` | `408`, flag `SI` |
//! | [`csrf`] | TrafficPolicy `csrf` | `403` |
//! | [`local_rate_limit`] | TrafficPolicy `rateLimit.local` (and our `perClient` extension) | `429`, flag `RL` |
//! | [`global_rate_limit`] | TrafficPolicy `rateLimit.global`, GatewayExtension `rateLimit` | `429`, flag `RL`; `500` when the service fails and `failOpen` is off |
//! | [`fault`] | TrafficPolicy `faultInjection` | the abort, flag `FI` (delays: `DI`) |
//! | [`buffer`] | TrafficPolicy `buffer.maxRequestSize` | `413` |
//! | [`path_regex`] | kgateway `urlRewrite.pathRegex` | — |
//! | [`direct_response`] | kgateway `DirectResponse` | the configured answer |
//! | [`compression`] | kgateway `compression` | — |
//! | [`transformation`] | kgateway `transformation` | `400`, `413`, `500` when a message cannot be transformed |
//! | [`ext_proc`] | kgateway `extProc` (GatewayExtension type `ExtProc`) | the processor's immediate responses; `413`, `500`, `504` on failures |
//! | [`access_log`] | kgateway `httpSettings.accessLog` (file sinks) | — |
//! | [`request_id`] | kgateway `httpSettings.generateRequestId`, `preserveExternalRequestId` | — |
//! | [`client_addr`] | kgateway `httpSettings.useRemoteAddress`, `xffNumTrustedHops`, `xffTrustedCIDRs`, `skipXFFAppend` | — |
//! | [`acl`] | TrafficPolicy `acl` (and Envoy Gateway `authorization` on client CIDRs) | `403` (or `denyResponse`) |
//! | [`basic_auth`] | TrafficPolicy `basicAuth` | `401` with a `Basic` challenge |
//! | [`api_key`] | TrafficPolicy `apiKeyAuth` | `401` |
//! | [`health_check`] | kgateway `httpSettings.healthCheck` | `200` on the health check path |
//! | [`jwt`] | TrafficPolicy `jwtAuth` (the providers of a GatewayExtension `jwt`) | `401`, `403` (audience not allowed) |
//! | [`ext_authz`] | kgateway `extAuth` (GatewayExtension `ExtAuth`, gRPC or HTTP) | the server's denial, flag `UAEX`; `statusOnError` (`UAEX`); `413` |

pub mod access_log;
pub mod acl;
pub mod api_key;
pub mod basic_auth;
pub mod buffer;
pub mod builder;
pub mod client_addr;
pub mod compression;
pub mod cors;
pub mod csrf;
pub mod direct_response;
pub mod ext_authz;
pub mod ext_proc;
pub mod fault;
pub mod global_rate_limit;
mod grpc_channel;
mod head;
pub mod header_modifier;
pub mod health_check;
pub mod jwt;
pub mod local_rate_limit;
pub mod mirror;
pub mod otel;
pub mod path_modifier;
pub mod path_regex;
pub mod redirect;
pub mod request_id;
pub mod retry;
pub mod spec;
pub mod stream_idle;
pub mod timeout;
pub mod transformation;
pub mod url_rewrite;

pub use builder::GatewayServiceBuilderExt;
