//! Backends: resolved endpoint sets, or the reason a reference is invalid.

use gateway_core::{backend::DnsName, extensions::ResourceRef};
use serde::Serialize;
use std::{net::SocketAddr, sync::Arc};

/// Application protocol spoken to a backend (Service port `appProtocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AppProtocol {
    /// HTTP/1.1 (default).
    Http1,
    /// HTTP/2 with prior knowledge (`kubernetes.io/h2c`).
    H2c,
    /// WebSocket over HTTP/1.1 (`kubernetes.io/ws`).
    WebSocket,
}

/// A Service port resolved to its endpoints, or a kgateway `Backend` resolved to its
/// static hosts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedBackend {
    /// The Service, with `section` = the Service port number; or the `Backend`.
    pub resource: ResourceRef,
    /// Endpoint addresses known at compile time: a Service's ready endpoints (pod IP :
    /// target port), or a `Backend`'s hosts that are IP addresses. May be empty.
    pub endpoints: Arc<[SocketAddr]>,
    /// Host names whose addresses are endpoints too, looked up at run time (a `Backend`'s
    /// hosts that are not IP addresses; Envoy's `STRICT_DNS`): build such a backend with
    /// [`Backend::resolving`](gateway_core::backend::Backend::resolving). Empty for
    /// Services.
    #[serde(skip_serializing_if = "dns_names_empty")]
    pub dns_names: Arc<[DnsName]>,
    /// Protocol to speak.
    pub protocol: AppProtocol,
    /// Connection, load-balancing and health settings from a kgateway BackendConfigPolicy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Arc<gateway_core::backend::BackendPolicy>>,
}

/// Where a backendRef leads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BackendTarget {
    /// A resolved backend.
    Resolved(Arc<ResolvedBackend>),
    /// An invalid reference: requests it would receive answer 500.
    Invalid {
        /// Why (also reported in route status).
        reason: Arc<str>,
    },
}

fn dns_names_empty(names: &Arc<[DnsName]>) -> bool {
    names.is_empty()
}
