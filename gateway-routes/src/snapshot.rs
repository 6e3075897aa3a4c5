//! The input of the compiler: every object the gateway knows about.

use crate::api::{
    ConfigMap, EndpointSlice, Gateway, GatewayClass, HttpRoute, KgatewayKind, KgatewayResource,
    Namespace, ReferenceGrant, Secret, Service, TlsRoute,
};

/// A consistent set of Kubernetes objects, as read from one source at one moment.
///
/// Sources fill it with [`Snapshot::insert`]; the compiler reads it. Order is irrelevant:
/// the compiler sorts what it needs.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// GatewayClasses.
    pub gateway_classes: Vec<GatewayClass>,
    /// Gateways.
    pub gateways: Vec<Gateway>,
    /// HTTPRoutes.
    pub http_routes: Vec<HttpRoute>,
    /// TLSRoutes.
    pub tls_routes: Vec<TlsRoute>,
    /// ReferenceGrants.
    pub reference_grants: Vec<ReferenceGrant>,
    /// Services.
    pub services: Vec<Service>,
    /// EndpointSlices.
    pub endpoint_slices: Vec<EndpointSlice>,
    /// Secrets.
    pub secrets: Vec<Secret>,
    /// ConfigMaps.
    pub config_maps: Vec<ConfigMap>,
    /// Namespaces.
    pub namespaces: Vec<Namespace>,
    /// kgateway policies and extensions (TrafficPolicy, ListenerPolicy, DirectResponse, ...).
    pub kgateway: Vec<KgatewayResource>,
}

/// One object of a kind the gateway reads.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// A GatewayClass.
    GatewayClass(GatewayClass),
    /// A Gateway.
    Gateway(Gateway),
    /// An HTTPRoute.
    HttpRoute(HttpRoute),
    /// A TLSRoute.
    TlsRoute(TlsRoute),
    /// A ReferenceGrant.
    ReferenceGrant(ReferenceGrant),
    /// A Service.
    Service(Service),
    /// An EndpointSlice.
    EndpointSlice(EndpointSlice),
    /// A Secret.
    Secret(Secret),
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// A Namespace.
    Namespace(Namespace),
    /// A kgateway policy or extension.
    Kgateway(KgatewayResource),
}

impl Snapshot {
    /// Adds one object.
    pub fn insert(&mut self, object: Object) {
        match object {
            Object::GatewayClass(o) => self.gateway_classes.push(o),
            Object::Gateway(o) => self.gateways.push(o),
            Object::HttpRoute(o) => self.http_routes.push(o),
            Object::TlsRoute(o) => self.tls_routes.push(o),
            Object::ReferenceGrant(o) => self.reference_grants.push(o),
            Object::Service(o) => self.services.push(o),
            Object::EndpointSlice(o) => self.endpoint_slices.push(o),
            Object::Secret(o) => self.secrets.push(o),
            Object::ConfigMap(o) => self.config_maps.push(o),
            Object::Namespace(o) => self.namespaces.push(o),
            Object::Kgateway(o) => self.kgateway.push(o),
        }
    }
}

/// The API group of an `apiVersion` (`""` for core `v1`).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

impl Object {
    /// Decodes one Kubernetes object of a kind the gateway reads from its JSON form.
    ///
    /// Returns `Ok(None)` for kinds the gateway ignores (Deployments, Pods, ...). Both the
    /// directory source and the API-server source go through here, so the two agree on
    /// which kinds matter.
    pub fn from_json(
        api_version: &str,
        kind: &str,
        value: serde_json::Value,
    ) -> Result<Option<Self>, serde_json::Error> {
        use serde_json::from_value;
        let object = match (group_of(api_version), kind) {
            (crate::api::GATEWAY_GROUP, "GatewayClass") => Self::GatewayClass(from_value(value)?),
            (crate::api::GATEWAY_GROUP, "Gateway") => Self::Gateway(from_value(value)?),
            (crate::api::GATEWAY_GROUP, "HTTPRoute") => Self::HttpRoute(from_value(value)?),
            (crate::api::GATEWAY_GROUP, "TLSRoute") => Self::TlsRoute(from_value(value)?),
            (crate::api::GATEWAY_GROUP, "ReferenceGrant") => {
                Self::ReferenceGrant(from_value(value)?)
            }
            ("", "Service") => Self::Service(from_value(value)?),
            ("", "Secret") => Self::Secret(from_value(value)?),
            ("", "ConfigMap") => Self::ConfigMap(from_value(value)?),
            ("", "Namespace") => Self::Namespace(from_value(value)?),
            ("discovery.k8s.io", "EndpointSlice") => Self::EndpointSlice(from_value(value)?),
            (group, kind) => match KgatewayKind::from_group_kind(group, kind) {
                Some(kind) => Self::Kgateway(KgatewayResource::new(kind, from_value(value)?)),
                None => return Ok(None),
            },
        };
        Ok(Some(object))
    }
}
