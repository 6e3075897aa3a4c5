//! kgateway's `Backend` kind (`gateway.kgateway.dev/v1alpha1`): a destination outside the
//! cluster that backendRefs name with `group: gateway.kgateway.dev, kind: Backend`.
//!
//! Served: `spec.static` (`hosts[{host, port}]`, `appProtocol`). Hosts that are IP
//! addresses are endpoints as they are; the others are DNS names the data plane looks up
//! and refreshes itself, as Envoy's `STRICT_DNS` cluster does (for HTTPRoute backendRefs;
//! TLSRoutes and GatewayExtensions take Backends of IP hosts only). `appProtocol` `http2`,
//! `grpc`, `grpc-web` and `kubernetes.io/h2c` speak HTTP/2 with prior knowledge,
//! `kubernetes.io/ws` HTTP/1.1 with upgrades, and no value HTTP/1.1, as kgateway maps them.
//! The deprecated `spec.type` is read and ignored (the kind of backend follows from the
//! field that is set). `spec.aws`, `spec.gcp` and `spec.dynamicForwardProxy` are not
//! implemented: the decoder names them and the Backend is not accepted.

use gateway_core::backend::DnsName;
use serde::Deserialize;
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use crate::{compile::policy::decode_spec, plan::AppProtocol};

/// `Backend.spec`, with the fields this gateway serves; the others are reported by
/// [`decode_spec`].
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackendSpec {
    /// `type`: deprecated in kgateway and ignored here; read so that it is not reported.
    #[serde(default, rename = "type")]
    _type: Option<String>,
    /// `static`: a fixed list of hosts.
    #[serde(default, rename = "static")]
    static_backend: Option<StaticBackend>,
}

/// `spec.static`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaticBackend {
    /// `hosts`: at least one.
    #[serde(default)]
    hosts: Vec<StaticHost>,
    /// `appProtocol`: the protocol spoken to every host.
    #[serde(default)]
    app_protocol: Option<BackendAppProtocol>,
}

/// One `spec.static.hosts` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaticHost {
    /// `host`: an IP address or a DNS name.
    host: String,
    /// `port`.
    port: u16,
}

/// `spec.static.appProtocol`, kgateway's enum.
#[derive(Clone, Copy, Debug, Deserialize)]
enum BackendAppProtocol {
    #[serde(rename = "http2")]
    Http2,
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "grpc-web")]
    GrpcWeb,
    #[serde(rename = "kubernetes.io/h2c")]
    H2c,
    #[serde(rename = "kubernetes.io/ws")]
    WebSocket,
}

/// A valid `Backend`, ready to become a [`ResolvedBackend`](crate::plan::ResolvedBackend).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StaticBackendPlan {
    /// Hosts that are IP addresses, in spec order, without repeats.
    pub(crate) endpoints: Arc<[SocketAddr]>,
    /// Hosts that are DNS names, in spec order, without repeats.
    pub(crate) dns_names: Arc<[DnsName]>,
    /// The protocol from `appProtocol`.
    pub(crate) protocol: AppProtocol,
}

/// Decodes and validates a `Backend` spec; the error names the field (`spec.aws: not
/// supported by this gateway`, `spec.static.hosts[1].port: ...`).
pub(crate) fn compile_backend(spec: &serde_json::Value) -> Result<StaticBackendPlan, String> {
    let spec: BackendSpec = decode_spec(spec)?;
    let Some(backend) = spec.static_backend else {
        return Err("spec.static: required (this gateway serves static Backends only)".into());
    };
    if backend.hosts.is_empty() {
        return Err("spec.static.hosts: at least one host is required".into());
    }
    let mut endpoints = Vec::new();
    let mut dns_names = Vec::new();
    for (i, StaticHost { host, port }) in backend.hosts.into_iter().enumerate() {
        if port == 0 {
            return Err(format!(
                "spec.static.hosts[{i}].port: must be between 1 and 65535"
            ));
        }
        let literal = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(&host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let endpoint = SocketAddr::new(ip, port);
            if !endpoints.contains(&endpoint) {
                endpoints.push(endpoint);
            }
        } else if is_dns_name(&host) {
            let name = DnsName::new(host, port);
            if !dns_names.contains(&name) {
                dns_names.push(name);
            }
        } else {
            return Err(format!(
                "spec.static.hosts[{i}].host: {host:?} is neither an IP address nor a DNS name"
            ));
        }
    }
    let protocol = match backend.app_protocol {
        None => AppProtocol::Http1,
        Some(
            BackendAppProtocol::Http2
            | BackendAppProtocol::Grpc
            | BackendAppProtocol::GrpcWeb
            | BackendAppProtocol::H2c,
        ) => AppProtocol::H2c,
        Some(BackendAppProtocol::WebSocket) => AppProtocol::WebSocket,
    };
    Ok(StaticBackendPlan {
        endpoints: endpoints.into(),
        dns_names: dns_names.into(),
        protocol,
    })
}

/// Whether `host` is a DNS name: dot-separated labels of 1 to 63 letters, digits, `-` or
/// `_` (not starting or ending with `-`), the last not all digits (so a mistyped IPv4
/// address is not taken for a name), at most 253 characters, an optional final dot.
fn is_dns_name(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
