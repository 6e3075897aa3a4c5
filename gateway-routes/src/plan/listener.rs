//! Gateways, listeners and TLS.

use gateway_core::extensions::ResourceRef;
use serde::Serialize;
use std::sync::Arc;

use super::{BackendTarget, HostMatch, VirtualHost};

/// A Gateway the gateway programs.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPlan {
    /// The Gateway.
    pub resource: ResourceRef,
    /// Its valid listeners, in spec order.
    pub listeners: Vec<ListenerPlan>,
}

/// What a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ListenerProtocol {
    /// Plaintext HTTP/1.1 and h2c.
    Http,
    /// TLS-terminated HTTP/1.1 and HTTP/2.
    Https,
    /// TLS routed by SNI (TLSRoute), passthrough or terminated.
    Tls,
}

/// One Gateway listener.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerPlan {
    /// The Gateway, with `section` = the listener name.
    pub resource: ResourceRef,
    /// Port as written in the Gateway (what clients send in `Host`, and the default
    /// redirect port); the bind address may differ (listen map).
    pub port: u16,
    /// Protocol.
    pub protocol: ListenerProtocol,
    /// Hostname the listener serves; all when `Any`.
    pub hostname: HostMatch,
    /// Certificate for HTTPS and terminating TLS listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsTermination>,
    /// HTTP routing table (HTTP and HTTPS listeners).
    pub virtual_hosts: Vec<VirtualHost>,
    /// TLS routes (TLS listeners), in precedence order.
    pub tls_routes: Vec<TlsRoutePlan>,
    /// HTTP settings from a kgateway ListenerPolicy or HTTPListenerPolicy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_policy: Option<Arc<super::ListenerHttpPlan>>,
}

/// A certificate a listener serves.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsTermination {
    /// The Secrets the certificates came from.
    pub certificate_refs: Vec<ResourceRef>,
    /// The first certificate chain and key, ready for rustls.
    #[serde(serialize_with = "gateway_core::serde_http::redacted")]
    pub certified_key: Arc<rustls::sign::CertifiedKey>,
}

/// A TLSRoute attached to a TLS listener: SNI hostnames to weighted TCP backends.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoutePlan {
    /// The TLSRoute.
    pub resource: ResourceRef,
    /// SNI hostnames (already intersected with the listener hostname).
    pub hostnames: Vec<HostMatch>,
    /// Weighted backends of the first rule.
    pub backends: Vec<WeightedTarget>,
}

/// A backend target with a weight.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedTarget {
    /// Relative weight.
    pub weight: u32,
    /// Where connections go.
    pub target: BackendTarget,
}
