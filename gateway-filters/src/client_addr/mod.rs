//! The client's address: kgateway's `httpSettings.useRemoteAddress`,
//! `xffNumTrustedHops`, `xffTrustedCIDRs` and `skipXFFAppend` (Envoy's HTTP connection
//! manager options and its `xff` original IP detection extension).
//!
//! The layer computes the *trusted client address* as Envoy does and stores it in the
//! request extensions as [`ClientAddr`](gateway_core::extensions::ClientAddr), which IP
//! rules, per-client rate limits and the access log read. Let `A` be the
//! `X-Forwarded-For` entries as the request arrived (all header lines, in order) and `N`
//! be `xffNumTrustedHops` (default 0):
//!
//! | `useRemoteAddress` | trust | client address | fallback |
//! |---|---|---|---|
//! | `true` (default) | `N = 0` | the peer (the socket's remote address) | — |
//! | `true` | `N > 0` | the `N`th entry of `A` from the right | the peer, when `A` has fewer than `N` entries |
//! | `false` | `N` | the `(N+1)`th entry of `A` from the right | the peer, when `A` has fewer than `N+1` entries |
//! | `false` | `xffTrustedCIDRs` | the last entry of `A`, when the peer is in one of the ranges | the peer, when it is not or `A` is empty |
//!
//! An entry that is not an IP address falls back to the peer too. kgateway accepts
//! `xffTrustedCIDRs` only with `useRemoteAddress: false` and without `xffNumTrustedHops`;
//! the spec refuses other combinations the same way.
//!
//! What goes upstream: Envoy appends the peer to `X-Forwarded-For` when `useRemoteAddress`
//! is true and `skipXFFAppend` is not, and with `useRemoteAddress: false` only when
//! `skipXFFAppend: false` is set explicitly (kgateway's defaults). Everything else is a
//! "transparent" proxy that leaves the header as it came.
//!
//! **The listener has already appended the peer.** gateway-core's HTTP listener adds the
//! peer address as the last `X-Forwarded-For` entry of every request, before any layer
//! runs, and puts the [`ConnectionInfo`](gateway_core::extensions::ConnectionInfo) in the
//! request extensions. With [`ClientAddrConfig::xff_has_peer`] set (the default), the layer
//! therefore reads the last entry as that appended peer, not as part of `A`, and removes it
//! again when the policy says not to append. A library user whose stack does not append
//! sets `xff_has_peer: false`; the layer then appends the peer itself when the policy says
//! to, so the header leaves the same either way. Without a `ConnectionInfo` the peer is
//! unknown and the layer changes nothing.
//!
//! Envoy's `x-envoy-external-address` and `x-envoy-internal` headers are not set. The
//! layer works over any request and response body and never answers by itself.
//!
//! ```
//! use gateway_core::extensions::{ClientAddr, ConnectionInfo};
//! use gateway_filters::client_addr::{ClientAddrLayer, ClientAddrSpec};
//! use http::{Request, Response};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // One trusted load balancer in front of the gateway.
//! let spec: ClientAddrSpec = serde_json::from_str(r#"{"xffNumTrustedHops": 1}"#).unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(ClientAddrLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|request: Request<()>| async move {
//!         let client = request.extensions().get::<ClientAddr>().unwrap().0;
//!         Ok::<_, Infallible>(Response::new(client.to_string()))
//!     }));
//!
//! // As the listener hands it over: the balancer (10.0.0.9) connected, and the listener
//! // appended it to what the balancer sent.
//! let mut request = Request::builder()
//!     .header("x-forwarded-for", "198.51.100.7, 203.0.113.5, 10.0.0.9")
//!     .body(())
//!     .unwrap();
//! request.extensions_mut().insert(ConnectionInfo {
//!     remote_addr: "10.0.0.9:40000".parse().unwrap(),
//!     local_addr: "10.0.0.2:8080".parse().unwrap(),
//!     tls: false,
//!     server_name: None,
//! });
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.body(), "203.0.113.5");
//! # }
//! ```

mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{ClientAddrConfig, XffTrust};
pub use service::{ClientAddrLayer, ClientAddrService};
pub use spec::ClientAddrSpec;
