//! IP access control (kgateway `TrafficPolicy.spec.acl`, kgateway's `http-acl` filter;
//! also Envoy Gateway's `SecurityPolicy.authorization` on client CIDRs).
//!
//! Policy, as kgateway's filter applies it:
//!
//! - The **client address** is the [`ClientAddr`](gateway_core::extensions::ClientAddr)
//!   the listener's policy computed (the peer, or an `X-Forwarded-For` entry past the
//!   trusted hops: see [`client_addr`](crate::client_addr)), or else the peer of the
//!   connection ([`ConnectionInfo::remote_addr`](gateway_core::extensions::ConnectionInfo)).
//!   With neither, the request is denied (fail closed). An IPv4-mapped IPv6 address
//!   (`::ffff:10.1.2.3`) is taken as its IPv4 address; a rule CIDR inside `::ffff:0:0/96`
//!   is taken as the IPv4 range it maps.
//! - **Longest prefix wins**: of the rules whose CIDRs cover the address, the one with
//!   the most specific CIDR decides, whatever the order of the rules, so a small `allow`
//!   can punch a hole in a large `deny` and the other way round. When the same CIDR is
//!   listed twice, the later rule wins. No rule: `defaultAction`.
//! - A **deny** is answered by the layer with `denyResponse`: `403` by default, no body,
//!   the configured extra `headers`, and, with `addBlockedByHeader: X-Name`, a header
//!   `X-Name` saying what denied the request: the rule's `name`, `rule` for an unnamed
//!   rule, `default` for the default action, `unknown-ip` when the client address is
//!   unknown (kgateway's `blocked-by` metadata). [`AclLayer::blocked`] counts denies.
//!   kgateway's filter sets no response flag, and neither does this layer.
//!
//! The rules are compiled once, when the layer is built, into a table of disjoint address
//! intervals (at most `2n + 1` for `n` CIDRs) with the deciding rule of each: a request
//! costs one binary search and no allocation, whatever the number of rules.
//!
//! # Envoy Gateway's `authorization`
//!
//! Envoy Gateway's `SecurityPolicy.authorization` decides by the **first** rule, in order,
//! that matches ([`AclPrecedence::FirstMatch`]). A policy whose rules only name
//! `principal.clientCIDRs` maps onto this layer with [`AclConfig::first_match`]:
//!
//! | Envoy Gateway | here |
//! |---|---|
//! | `defaultAction: Allow` / `Deny` (default `Deny`) | [`AclConfig::default_action`] |
//! | `rules[i].action: Allow` / `Deny` | `rules[i].action` |
//! | `rules[i].principal.clientCIDRs` | `rules[i].cidrs` |
//! | `rules[i].name` | `rules[i].name` |
//! | the client IP after `ClientTrafficPolicy.clientIPDetection` | [`ClientAddr`](gateway_core::extensions::ClientAddr) from [`client_addr`](crate::client_addr) |
//! | `403 RBAC: access denied` | [`AclDenyResponse::rbac_access_denied`] |
//!
//! First match is resolved into the same table: each interval gets the earliest rule
//! covering it. Rules that also name JWT claims, headers or methods are not address rules
//! and need a different filter.
//!
//! Bodies: any request body; the response body must be a
//! [`FullBody`](crate::buffer::FullBody) (the proxy's [`BoxBody`](gateway_core::BoxBody) is).
//! [`AclSpec`] reads the kgateway field.
//!
//! ```
//! use gateway_core::{Request, Response, body, extensions::ClientAddr};
//! use gateway_filters::acl::{AclLayer, AclSpec};
//! use http::StatusCode;
//! use std::convert::Infallible;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: AclSpec = serde_json::from_str(
//!     r#"{"defaultAction": "allow",
//!         "denyResponse": {"addBlockedByHeader": "x-blocked-by"},
//!         "rules": [
//!           {"name": "internal", "cidrs": ["10.0.0.0/8"], "action": "deny"},
//!           {"name": "trusted", "cidrs": ["10.1.0.0/16"], "action": "allow"}]}"#,
//! )
//! .unwrap();
//! let mut service = ServiceBuilder::new()
//!     .layer(AclLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|_: Request| async {
//!         Ok::<_, Infallible>(Response::new(body::full("hello")))
//!     }));
//! let from = |client: &str| {
//!     let mut request = http::Request::new(body::empty());
//!     request.extensions_mut().insert(ClientAddr(client.parse().unwrap()));
//!     request
//! };
//!
//! let response = service.ready().await.unwrap().call(from("10.2.3.4")).await.unwrap();
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(response.headers()["x-blocked-by"], "internal");
//! for client in ["10.1.2.3", "192.0.2.7"] {
//!     let response = service.ready().await.unwrap().call(from(client)).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::OK, "{client}");
//! }
//! # }
//! ```

mod authorization;
mod config;
mod service;
mod spec;
mod table;
#[cfg(test)]
mod tests;

pub use authorization::{
    AuthorizationActionSpec, AuthorizationRuleSpec, AuthorizationSpec, PrincipalSpec,
};
pub use config::{AclAction, AclConfig, AclDenyResponse, AclPrecedence, AclRule};
pub use service::{AclLayer, AclService};
pub use spec::{AclActionSpec, AclDenyResponseSpec, AclResponseHeaderSpec, AclRuleSpec, AclSpec};
