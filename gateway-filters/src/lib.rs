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

pub mod builder;
pub mod cors;
mod head;
pub mod header_modifier;
pub mod mirror;
pub mod path_modifier;
pub mod redirect;
pub mod retry;
pub mod spec;
pub mod stream_idle;
pub mod timeout;
pub mod url_rewrite;

pub use builder::GatewayServiceBuilderExt;
