//! TLSRoute: SNI hostnames to weighted TCP backends.

use gateway_core::extensions::ResourceRef;

use super::refs::{BackendIndex, RefError, Referrer};
use crate::{
    api::{GATEWAY_GROUP, TlsRoute},
    plan::{HostMatch, TlsRoutePlan, WeightedTarget},
};

/// Resolves the backends of every rule of a TLSRoute.
pub(crate) fn tls_backends(
    route: &TlsRoute,
    namespace: &str,
    backends: &BackendIndex<'_>,
    ref_errors: &mut Vec<RefError>,
) -> Vec<WeightedTarget> {
    let from = Referrer {
        group: GATEWAY_GROUP,
        kind: "TLSRoute",
        namespace,
    };
    route
        .spec
        .rules
        .iter()
        .enumerate()
        .flat_map(|(r, rule)| {
            rule.backend_refs
                .iter()
                .enumerate()
                .map(move |(b, x)| (r, b, x))
        })
        .map(|(r, b, backend_ref)| {
            let (target, error) = backends.target(from, &backend_ref.backend, || {
                format!("spec.rules[{r}].backendRefs[{b}]")
            });
            ref_errors.extend(error);
            WeightedTarget {
                weight: backend_ref.weight.unwrap_or(1),
                target,
            }
        })
        .collect()
}

/// The plan entry of a TLSRoute on one listener.
pub(crate) fn tls_route_plan(
    route: &TlsRoute,
    namespace: &str,
    hostnames: Vec<HostMatch>,
    backends: Vec<WeightedTarget>,
) -> TlsRoutePlan {
    TlsRoutePlan {
        resource: ResourceRef::new(
            GATEWAY_GROUP,
            "TLSRoute",
            namespace,
            route.metadata.name.as_deref().unwrap_or_default(),
        ),
        hostnames,
        backends,
    }
}
