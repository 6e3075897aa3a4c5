//! What the directory source needs to know about any [`Object`]: its metadata, and
//! whether it lives in a namespace.

use gateway_routes::{api::ObjectMeta, snapshot::Object};

/// The object's metadata.
pub(crate) fn metadata(object: &Object) -> &ObjectMeta {
    match object {
        Object::GatewayClass(o) => &o.metadata,
        Object::Gateway(o) => &o.metadata,
        Object::HttpRoute(o) => &o.metadata,
        Object::TlsRoute(o) => &o.metadata,
        Object::ReferenceGrant(o) => &o.metadata,
        Object::Service(o) => &o.metadata,
        Object::EndpointSlice(o) => &o.metadata,
        Object::Secret(o) => &o.metadata,
        Object::ConfigMap(o) => &o.metadata,
        Object::Namespace(o) => &o.metadata,
        Object::Kgateway(o) => &o.metadata,
    }
}

/// Gives a namespaced object without a namespace the `default` one, as `kubectl apply`
/// does. GatewayClasses and Namespaces are cluster-scoped and keep none.
pub(crate) fn default_namespace(object: &mut Object) {
    let metadata = match object {
        Object::GatewayClass(_) | Object::Namespace(_) => return,
        Object::Gateway(o) => &mut o.metadata,
        Object::HttpRoute(o) => &mut o.metadata,
        Object::TlsRoute(o) => &mut o.metadata,
        Object::ReferenceGrant(o) => &mut o.metadata,
        Object::Service(o) => &mut o.metadata,
        Object::EndpointSlice(o) => &mut o.metadata,
        Object::Secret(o) => &mut o.metadata,
        Object::ConfigMap(o) => &mut o.metadata,
        Object::Kgateway(o) => &mut o.metadata,
    };
    if metadata.namespace.as_deref().is_none_or(str::is_empty) {
        metadata.namespace = Some("default".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use gateway_routes::api::{GatewayClass, Service};

    use super::*;

    #[test]
    fn only_namespaced_kinds_get_default() {
        let mut service = Object::Service(Service::default());
        default_namespace(&mut service);
        assert_eq!(metadata(&service).namespace.as_deref(), Some("default"));
        let mut class = Object::GatewayClass(GatewayClass::default());
        default_namespace(&mut class);
        assert_eq!(metadata(&class).namespace, None);
    }
}
