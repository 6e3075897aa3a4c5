//! Serde types for the Gateway API resources the gateway reads (v1.6, standard and
//! experimental fields), plus the core Kubernetes kinds it resolves references against.
//!
//! These are our own types rather than the `gateway-api` crate's kopium output: that crate
//! tracks Gateway API v1.5.1 while we serve v1.6.1 (TLSRoute v1, `HTTPRouteRule.retry`,
//! CORS), and owning the types lets defaults and field names stay readable. Core kinds come
//! from `k8s-openapi`, so the API-server source can feed the same types.
//!
//! Unknown fields are accepted (newer API versions add fields); the directory source reports
//! them as warnings.

mod common;
mod gateway;
mod httproute;
mod kgateway;
mod reference_grant;
mod tlsroute;

pub use common::*;
pub use gateway::*;
pub use httproute::*;
pub use kgateway::*;
pub use reference_grant::*;
pub use tlsroute::*;

pub use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
pub use k8s_openapi::api::discovery::v1::EndpointSlice;
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

/// The Gateway API group.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
