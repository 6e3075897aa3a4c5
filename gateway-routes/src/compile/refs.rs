//! Cross-namespace permission (ReferenceGrant) and backend resolution: a backendRef to a
//! Service port becomes endpoint addresses the way Kubernetes resolves it; a backendRef to
//! a kgateway `Backend` becomes its static hosts (see [`backend`]).

mod backend;
#[cfg(test)]
mod tests;

use foldhash::HashMap;
use gateway_core::extensions::ResourceRef;
use gateway_filters::direct_response::{DirectResponseConfig, DirectResponseSpec};

use super::policy::BackendPolicies;
use backend::{StaticBackendPlan, compile_backend};
use k8s_openapi::api::core::v1::ServicePort;
use std::{cell::RefCell, collections::BTreeMap, net::SocketAddr, sync::Arc};

use crate::{
    api::{
        BackendObjectReference, EndpointSlice, KGATEWAY_GROUP, KgatewayKind, KgatewayResource,
        ReferenceGrant, Service,
    },
    plan::{AppProtocol, BackendTarget, ResolvedBackend},
};

/// The label EndpointSlices carry to name their Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Who refers to what, for ReferenceGrant checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Referrer<'a> {
    pub(crate) group: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) namespace: &'a str,
}

/// Whether a reference from `from` to `group/kind` `namespace/name` is allowed: always
/// within a namespace, otherwise only when a ReferenceGrant in the target namespace says so.
pub(crate) fn reference_allowed(
    grants: &[ReferenceGrant],
    from: Referrer<'_>,
    group: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> bool {
    if from.namespace == namespace {
        return true;
    }
    grants
        .iter()
        .filter(|grant| grant.metadata.namespace.as_deref() == Some(namespace))
        .any(|grant| {
            grant.spec.from.iter().any(|f| {
                f.group == from.group && f.kind == from.kind && f.namespace == from.namespace
            }) && grant.spec.to.iter().any(|t| {
                t.group == group && t.kind == kind && t.name.as_deref().is_none_or(|n| n == name)
            })
        })
}

/// Why a backendRef is not resolved, with the route `ResolvedRefs` reason it earns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RefError {
    /// `InvalidKind`, `RefNotPermitted`, `BackendNotFound` or `UnsupportedProtocol`.
    pub(crate) reason: &'static str,
    /// Human-readable detail naming the reference.
    pub(crate) message: String,
    /// Path of the offending reference in the route (`spec.rules[0].backendRefs[1]`).
    pub(crate) field: String,
}

impl RefError {
    /// The diagnostic line: field path, reason and detail.
    pub(crate) fn diagnostic(&self) -> String {
        format!("{}: {} ({})", self.field, self.message, self.reason)
    }
}

/// Services and their EndpointSlices, and kgateway Backends, indexed once per compile.
#[derive(Debug)]
pub(crate) struct BackendIndex<'a> {
    services: HashMap<(&'a str, &'a str), &'a Service>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
    grants: &'a [ReferenceGrant],
    /// kgateway DirectResponses, which HTTPRoute `ExtensionRef` filters name.
    direct_responses: HashMap<(&'a str, &'a str), &'a KgatewayResource>,
    /// kgateway BackendConfigPolicies, by the Service port they configure.
    policies: &'a BackendPolicies<'a>,
    /// kgateway Backends by namespace/name, compiled (or why not).
    backends: BTreeMap<(&'a str, &'a str), KgatewayBackend<'a>>,
    /// Service ports already resolved, by the Service's address in the snapshot and the
    /// port: every backendRef to the same port shares one `ResolvedBackend` (resolved
    /// once, and cheap for the build step to look up by pointer).
    resolved: RefCell<HashMap<(usize, u16), Arc<ResolvedBackend>>>,
}

/// One kgateway `Backend` and what it compiled to.
#[derive(Debug)]
struct KgatewayBackend<'a> {
    resource: &'a KgatewayResource,
    compiled: Result<StaticBackendPlan, String>,
}

impl<'a> BackendIndex<'a> {
    /// Indexes services by namespace/name and slices by namespace/service name.
    pub(crate) fn new(
        services: &'a [Service],
        slices: &'a [EndpointSlice],
        grants: &'a [ReferenceGrant],
        kgateway: &'a [KgatewayResource],
        policies: &'a BackendPolicies<'a>,
    ) -> Self {
        let backends = kgateway
            .iter()
            .filter(|r| r.kind == KgatewayKind::Backend)
            .filter_map(|resource| {
                let key = (
                    resource.metadata.namespace.as_deref()?,
                    resource.metadata.name.as_deref()?,
                );
                let compiled = compile_backend(&resource.spec);
                Some((key, KgatewayBackend { resource, compiled }))
            })
            .collect();
        let direct_responses = kgateway
            .iter()
            .filter(|r| r.kind == KgatewayKind::DirectResponse)
            .filter_map(|r| {
                Some((
                    (
                        r.metadata.namespace.as_deref()?,
                        r.metadata.name.as_deref()?,
                    ),
                    r,
                ))
            })
            .collect();
        let services = services
            .iter()
            .filter_map(|svc| {
                Some((
                    (
                        svc.metadata.namespace.as_deref()?,
                        svc.metadata.name.as_deref()?,
                    ),
                    svc,
                ))
            })
            .collect();
        let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::default();
        for slice in slices {
            let service = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(SERVICE_NAME_LABEL));
            if let (Some(namespace), Some(service)) = (slice.metadata.namespace.as_deref(), service)
            {
                by_service
                    .entry((namespace, service.as_str()))
                    .or_default()
                    .push(slice);
            }
        }
        Self {
            services,
            slices: by_service,
            grants,
            direct_responses,
            policies,
            backends,
            resolved: RefCell::default(),
        }
    }

    /// Every kgateway `Backend` (by namespace, then name) and why it is not valid, if it
    /// is not: what its status reports.
    pub(crate) fn kgateway_backends(
        &self,
    ) -> impl Iterator<Item = (&'a KgatewayResource, Result<(), &str>)> + '_ {
        self.backends.values().map(|backend| {
            (
                backend.resource,
                backend
                    .compiled
                    .as_ref()
                    .map(|_| ())
                    .map_err(String::as_str),
            )
        })
    }

    /// The DirectResponse `name` in `namespace`, compiled; the error names the field.
    pub(crate) fn direct_response(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Result<DirectResponseConfig, String>> {
        let resource = self.direct_responses.get(&(namespace, name))?;
        Some(
            serde_json::from_value::<DirectResponseSpec>(resource.spec.clone())
                .map_err(|e| format!("spec: {e}"))
                .and_then(|spec| spec.compile().map_err(|e| e.within("spec").to_string())),
        )
    }

    /// Resolves a backendRef of `from` to a target; errors carry the status reason.
    pub(crate) fn resolve(
        &self,
        from: Referrer<'_>,
        backend: &BackendObjectReference,
    ) -> Result<Arc<ResolvedBackend>, RefError> {
        let namespace = backend.namespace.as_deref().unwrap_or(from.namespace);
        let (group, kind) = (backend.group(), backend.kind());
        if group == KGATEWAY_GROUP && kind == KgatewayKind::Backend.as_str() {
            return self.resolve_kgateway_backend(from, namespace, &backend.name);
        }
        if !(group.is_empty() && kind == "Service") {
            return Err(RefError {
                field: String::new(),
                reason: "InvalidKind",
                message: format!(
                    "backendRef {namespace}/{} has unsupported kind {group}/{kind}",
                    backend.name
                ),
            });
        }
        if !reference_allowed(self.grants, from, "", "Service", namespace, &backend.name) {
            return Err(RefError {
                field: String::new(),
                reason: "RefNotPermitted",
                message: format!(
                    "backendRef to Service {namespace}/{} is not permitted by any ReferenceGrant",
                    backend.name
                ),
            });
        }
        let not_found = |message: String| RefError {
            field: String::new(),
            reason: "BackendNotFound",
            message,
        };
        let service = self
            .services
            .get(&(namespace, backend.name.as_str()))
            .ok_or_else(|| not_found(format!("Service {namespace}/{} not found", backend.name)))?;
        let port = backend.port.ok_or_else(|| {
            not_found(format!(
                "backendRef to Service {namespace}/{} must set port",
                backend.name
            ))
        })?;
        let key = (std::ptr::from_ref::<Service>(service) as usize, port);
        if let Some(resolved) = self.resolved.borrow().get(&key) {
            return Ok(resolved.clone());
        }
        let service_port = service
            .spec
            .as_ref()
            .and_then(|spec| spec.ports.as_ref())
            .and_then(|ports| ports.iter().find(|p| p.port == i32::from(port)))
            .ok_or_else(|| {
                not_found(format!(
                    "Service {namespace}/{} has no port {port}",
                    backend.name
                ))
            })?;
        let protocol = app_protocol(service_port).map_err(|message| RefError {
            field: String::new(),
            reason: "UnsupportedProtocol",
            message,
        })?;
        let endpoints = self.endpoints(namespace, &backend.name, service_port);
        let policy = if self.policies.is_empty() {
            None
        } else {
            self.policies
                .for_port(namespace, &backend.name, service_port.name.as_deref())
        };
        let resolved = Arc::new(ResolvedBackend {
            resource: ResourceRef::new("", "Service", namespace, &backend.name)
                .with_section(port.to_string()),
            endpoints,
            dns_names: Arc::from([]),
            protocol,
            policy,
        });
        self.resolved.borrow_mut().insert(key, resolved.clone());
        Ok(resolved)
    }

    /// Resolves a backendRef to the kgateway `Backend` `namespace/name`: its hosts, whatever
    /// the reference's port (the hosts carry their own; kgateway needs none either). Host
    /// names are served to HTTPRoutes only.
    fn resolve_kgateway_backend(
        &self,
        from: Referrer<'_>,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<ResolvedBackend>, RefError> {
        let kind = KgatewayKind::Backend.as_str();
        if !reference_allowed(self.grants, from, KGATEWAY_GROUP, kind, namespace, name) {
            return Err(RefError {
                field: String::new(),
                reason: "RefNotPermitted",
                message: format!(
                    "backendRef to Backend {namespace}/{name} is not permitted by any \
                     ReferenceGrant"
                ),
            });
        }
        let not_found = |message: String| RefError {
            field: String::new(),
            reason: "BackendNotFound",
            message,
        };
        let backend = self
            .backends
            .get(&(namespace, name))
            .ok_or_else(|| not_found(format!("Backend {namespace}/{name} not found")))?;
        let compiled = backend.compiled.as_ref().map_err(|error| {
            not_found(format!("Backend {namespace}/{name} is not valid: {error}"))
        })?;
        // Only HTTPRoute backends are built to look names up; anywhere else the names
        // would be dropped without a word.
        if from.kind != "HTTPRoute" && !compiled.dns_names.is_empty() {
            return Err(RefError {
                field: String::new(),
                reason: "InvalidKind",
                message: format!(
                    "Backend {namespace}/{name} has DNS host names, which only HTTPRoute \
                     backendRefs serve here (a {} needs IP hosts)",
                    from.kind
                ),
            });
        }
        Ok(Arc::new(ResolvedBackend {
            resource: ResourceRef::new(KGATEWAY_GROUP, kind, namespace, name),
            endpoints: compiled.endpoints.clone(),
            dns_names: compiled.dns_names.clone(),
            protocol: compiled.protocol,
            policy: None,
        }))
    }

    /// Resolves like [`Self::resolve`], folding errors into an invalid target.
    pub(crate) fn target(
        &self,
        from: Referrer<'_>,
        backend: &BackendObjectReference,
        field: impl FnOnce() -> String,
    ) -> (BackendTarget, Option<RefError>) {
        match self.resolve(from, backend) {
            Ok(resolved) => (BackendTarget::Resolved(resolved), None),
            Err(err) => (
                BackendTarget::Invalid {
                    reason: Arc::from(err.message.as_str()),
                },
                Some(RefError {
                    field: field(),
                    ..err
                }),
            ),
        }
    }

    /// Ready endpoint addresses for a Service port: the slices' port with the Service
    /// port's name, on every ready endpoint address. Never the ClusterIP.
    fn endpoints(&self, namespace: &str, service: &str, port: &ServicePort) -> Arc<[SocketAddr]> {
        let port_name = port.name.as_deref().unwrap_or("");
        let mut out = Vec::new();
        for slice in self.slices.get(&(namespace, service)).into_iter().flatten() {
            if slice.address_type == "FQDN" {
                continue;
            }
            let Some(number) = slice
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref().unwrap_or("") == port_name)
                .and_then(|p| p.port)
                .and_then(|p| u16::try_from(p).ok())
            else {
                continue;
            };
            for endpoint in slice.endpoints.iter().flatten() {
                let ready = endpoint
                    .conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    .unwrap_or(true);
                if !ready {
                    continue;
                }
                for address in &endpoint.addresses {
                    if let Ok(ip) = address.parse() {
                        let addr = SocketAddr::new(ip, number);
                        if !out.contains(&addr) {
                            out.push(addr);
                        }
                    }
                }
            }
        }
        out.sort();
        out.into()
    }
}

/// The protocol to speak to a Service port, from its `appProtocol`.
fn app_protocol(port: &ServicePort) -> Result<AppProtocol, String> {
    match port.app_protocol.as_deref() {
        None | Some("http") | Some("HTTP") => Ok(AppProtocol::Http1),
        Some("kubernetes.io/h2c") => Ok(AppProtocol::H2c),
        Some("kubernetes.io/ws") => Ok(AppProtocol::WebSocket),
        Some(other) if other.contains('/') => Err(format!(
            "Service port {} has unsupported appProtocol {other:?}",
            port.port
        )),
        Some(_) => Ok(AppProtocol::Http1),
    }
}
