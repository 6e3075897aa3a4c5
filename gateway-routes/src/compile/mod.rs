//! The compiler: `Snapshot` in, `Plan` and status out. Pure and deterministic.
//!
//! Steps: pick the GatewayClasses whose `controllerName` is ours; validate their Gateways'
//! listeners; compile every route's rules once; attach each route's parentRefs to
//! listeners (sectionName, port, allowedRoutes, hostname intersection); order every
//! listener's matches by Gateway API precedence; and record the conditions each object
//! earns. Invalid input never aborts the compile: it shows up as a condition (and a
//! [`Diagnostic`]) while everything valid is served.

mod attach;
mod certificates;
mod duration;
mod filters;
mod gateways;
mod hostnames;
mod http_routes;
mod intern;
mod matches;
mod policy;
mod refs;
mod status;
mod tls_routes;
mod virtual_hosts;

pub use policy::field_path;
pub use status::*;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::{collections::BTreeMap, fmt};

use attach::{Attachments, ParentOutcome, RouteInfo, attach, defaulted};
use gateways::{GatewayState, gateway_state, gateway_status, listener_plan, our_classes};
use hostnames::parse_hostname;
use http_routes::{RuleArena, compile_route};
use intern::Interner;
use refs::{BackendIndex, RefError};
use tls_routes::{tls_backends, tls_route_plan};
use virtual_hosts::{ListenerRoutes, virtual_hosts};

use crate::{
    api::{ObjectMeta, ParentReference},
    plan::{GatewayPlan, HostMatch, Plan, TlsRoutePlan},
    snapshot::Snapshot,
};

/// The controller name served when none is configured.
pub const DEFAULT_CONTROLLER_NAME: &str = "tower-gateway.dev/gateway-controller";

/// Inputs of a compile besides the snapshot.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// GatewayClasses with this `spec.controllerName` are ours.
    pub controller_name: String,
    /// `lastTransitionTime` written into every condition (RFC 3339).
    pub transition_time: String,
    /// Addresses reported for each Gateway, keyed `namespace/name`; Gateways not listed
    /// report their `spec.addresses`.
    pub gateway_addresses: BTreeMap<String, Vec<GatewayStatusAddress>>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            controller_name: DEFAULT_CONTROLLER_NAME.to_owned(),
            transition_time: "1970-01-01T00:00:00Z".to_owned(),
            gateway_addresses: BTreeMap::new(),
        }
    }
}

/// One problem found while compiling, naming the resource, the field and the reason.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// `Kind namespace/name`.
    pub resource: String,
    /// `field.path: reason`.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.resource, self.message)
    }
}

/// Diagnostics collected during a compile.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub(crate) fn push(&mut self, resource: &str, message: String) {
        self.0.push(Diagnostic {
            resource: resource.to_owned(),
            message,
        });
    }
}

/// What a compile produces.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    /// What to serve.
    pub plan: Plan,
    /// The status of every GatewayClass, Gateway and route this controller handles.
    pub statuses: Vec<ObjectStatus>,
    /// Problems, each naming resource, field and reason.
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles a snapshot.
pub fn compile(snapshot: &Snapshot, options: &CompileOptions) -> Compiled {
    let stamp = StatusStamp::new(options);
    let time = &stamp.time;
    let mut diagnostics = Diagnostics::default();
    let mut statuses = Vec::new();

    let (class_names, class_statuses) =
        our_classes(&snapshot.gateway_classes, &options.controller_name, time);
    for (class, conditions) in class_statuses {
        statuses.push(ObjectStatus {
            api_version: GATEWAY_API_VERSION.into(),
            kind: "GatewayClass".into(),
            namespace: String::new(),
            name: class.metadata.name.clone().unwrap_or_default(),
            status: StatusBody::Conditions { conditions },
        });
    }

    let mut gateways: Vec<GatewayState<'_>> = snapshot
        .gateways
        .iter()
        .filter(|g| class_names.contains(&g.spec.gateway_class_name.as_str()))
        .filter_map(|g| {
            gateway_state(
                g,
                &snapshot.secrets,
                &snapshot.reference_grants,
                time,
                &mut diagnostics,
            )
        })
        .collect();
    gateways.sort_by(|a, b| (a.namespace, a.name).cmp(&(b.namespace, b.name)));

    let namespace_labels: BTreeMap<&str, &BTreeMap<String, String>> = snapshot
        .namespaces
        .iter()
        .filter_map(|ns| Some((ns.metadata.name.as_deref()?, ns.metadata.labels.as_ref()?)))
        .collect();
    let backend_policies = policy::BackendPolicies::new(&snapshot.kgateway, &snapshot.services);
    let backends = BackendIndex::new(
        &snapshot.services,
        &snapshot.endpoint_slices,
        &snapshot.reference_grants,
        &snapshot.kgateway,
        &backend_policies,
    );

    let listener_policies =
        policy::ListenerPolicies::new(&snapshot.kgateway, &snapshot.gateways, &backends);
    let extensions =
        policy::GatewayExtensions::new(&snapshot.kgateway, &backends, &snapshot.config_maps);
    let mut traffic_policies = policy::TrafficPolicies::new(
        &snapshot.kgateway,
        &snapshot.gateways,
        &snapshot.http_routes,
        policy::PolicyReferences {
            secrets: &snapshot.secrets,
            extensions: &extensions,
            grants: &snapshot.reference_grants,
        },
    );
    // Gateway (namespace, name) and listener names, for policy lookups while routes attach.
    let gateway_keys: Vec<((&str, &str), Vec<&str>)> = gateways
        .iter()
        .map(|g| {
            (
                (g.namespace, g.name),
                g.gateway
                    .spec
                    .listeners
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect(),
            )
        })
        .collect();

    // Per gateway, per listener: attached HTTP routes and TLS routes.
    let mut http_attached: Vec<Vec<ListenerRoutes>> = gateways
        .iter()
        .map(|g| {
            g.listeners
                .iter()
                .map(|_| ListenerRoutes::default())
                .collect()
        })
        .collect();
    let mut tls_attached: Vec<Vec<Vec<TlsRoutePlan>>> = gateways
        .iter()
        .map(|g| g.listeners.iter().map(|_| Vec::new()).collect())
        .collect();

    let mut routes: Vec<_> = snapshot
        .http_routes
        .iter()
        .map(|r| (route_order(&r.metadata), r))
        .collect();
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    statuses.reserve(routes.len());
    let mut intern = Interner::default();
    let mut arena = RuleArena::new(routes.len(), &mut intern);
    // Reused from route to route.
    let mut hostnames = Vec::new();
    let mut attachments = Attachments::default();
    // The precedence tie-breaker of each route: its rank in creation time, namespace, name
    // order, shared by routes that tie on all three.
    let mut order = 0;
    for (index, (key, route)) in routes.iter().enumerate() {
        if index > 0 && routes[index - 1].0 != *key {
            order = index;
        }
        let Some(namespace) = route.metadata.namespace.as_deref() else {
            continue;
        };
        let resource = || {
            format!(
                "HTTPRoute {namespace}/{}",
                route.metadata.name.as_deref().unwrap_or_default()
            )
        };
        let compiled = compile_route(route, namespace, &backends, &mut intern, &mut arena);
        for message in &compiled.invalid_rules {
            diagnostics.push(&resource(), message.clone());
        }
        let hostname_error = route_hostnames(&route.spec.hostnames, &mut hostnames);
        let all_invalid = compiled.invalid_rules.len() == compiled.rules.len();
        let rules_error = all_invalid.then(|| compiled.invalid_rules.join("; "));
        let info = RouteInfo {
            kind: "HTTPRoute",
            namespace,
            hostnames: &hostnames,
            hostname_error: hostname_error.as_deref(),
            rules_error: rules_error.as_deref(),
        };
        let parents = attach_parents(
            &route.spec.parent_refs,
            &info,
            &mut gateways,
            &namespace_labels,
            &mut attachments,
            |gateway, listener, hostnames| {
                let policies = if traffic_policies.is_empty() {
                    Vec::new()
                } else {
                    let (key, listeners) = &gateway_keys[gateway];
                    let route_key = (
                        namespace,
                        route.metadata.name.as_deref().unwrap_or_default(),
                    );
                    arena.rules[compiled.rules.clone()]
                        .iter()
                        .map(|rule| {
                            traffic_policies.for_rule(
                                *key,
                                listeners[listener],
                                route_key,
                                rule.plan.resource.section.as_deref(),
                            )
                        })
                        .collect()
                };
                http_attached[gateway][listener].push(
                    hostnames,
                    order,
                    compiled.rules.clone(),
                    policies,
                );
            },
        );
        let route_status = route_status(
            parents,
            &route.metadata,
            &compiled.ref_errors,
            &compiled.invalid_rules,
            &stamp,
            &resource,
            &mut diagnostics,
        );
        statuses.push(ObjectStatus {
            api_version: GATEWAY_API_VERSION.into(),
            kind: "HTTPRoute".into(),
            namespace: namespace.to_owned(),
            name: route.metadata.name.clone().unwrap_or_default(),
            status: StatusBody::Route(route_status),
        });
    }

    statuses.extend(traffic_policies.statuses(&stamp, &mut diagnostics));
    statuses.extend(extensions.statuses(&stamp, &mut diagnostics));
    statuses.extend(listener_policies.statuses(&stamp, &mut diagnostics));
    statuses.extend(backend_policies.statuses(&stamp, &mut diagnostics));
    statuses.extend(policy::backend_statuses(
        &backends,
        &stamp,
        &mut diagnostics,
    ));

    let mut tls_routes: Vec<_> = snapshot.tls_routes.iter().collect();
    tls_routes.sort_by(|a, b| route_order(&a.metadata).cmp(&route_order(&b.metadata)));
    for route in tls_routes {
        let Some(namespace) = route.metadata.namespace.as_deref() else {
            continue;
        };
        let resource = || {
            format!(
                "TLSRoute {namespace}/{}",
                route.metadata.name.as_deref().unwrap_or_default()
            )
        };
        let mut ref_errors = Vec::new();
        let targets = tls_backends(route, namespace, &backends, &mut ref_errors);
        let hostname_error = route_hostnames(&route.spec.hostnames, &mut hostnames);
        let info = RouteInfo {
            kind: "TLSRoute",
            namespace,
            hostnames: &hostnames,
            hostname_error: hostname_error.as_deref(),
            rules_error: None,
        };
        let parents = attach_parents(
            &route.spec.parent_refs,
            &info,
            &mut gateways,
            &namespace_labels,
            &mut attachments,
            |gateway, listener, hostnames| {
                tls_attached[gateway][listener].push(tls_route_plan(
                    route,
                    namespace,
                    hostnames.to_vec(),
                    targets.clone(),
                ));
            },
        );
        let route_status = route_status(
            parents,
            &route.metadata,
            &ref_errors,
            &[],
            &stamp,
            &resource,
            &mut diagnostics,
        );
        statuses.push(ObjectStatus {
            api_version: GATEWAY_API_VERSION.into(),
            kind: "TLSRoute".into(),
            namespace: namespace.to_owned(),
            name: route.metadata.name.clone().unwrap_or_default(),
            status: StatusBody::Route(route_status),
        });
    }

    let mut plan = Plan::default();
    for (g, state) in gateways.iter().enumerate() {
        let key = format!("{}/{}", state.namespace, state.name);
        let addresses = options
            .gateway_addresses
            .get(&key)
            .cloned()
            .unwrap_or_else(|| {
                state
                    .gateway
                    .spec
                    .addresses
                    .iter()
                    .map(|a| GatewayStatusAddress {
                        type_: a.type_.clone().unwrap_or_else(|| "IPAddress".into()),
                        value: a.value.clone(),
                    })
                    .collect()
            });
        statuses.push(ObjectStatus {
            api_version: GATEWAY_API_VERSION.into(),
            kind: "Gateway".into(),
            namespace: state.namespace.to_owned(),
            name: state.name.to_owned(),
            status: StatusBody::Gateway(gateway_status(state, addresses, time)),
        });
        let listeners: Vec<_> = state
            .listeners
            .iter()
            .enumerate()
            .filter(|(_, l)| l.usable)
            .filter_map(|(i, l)| {
                let mut listener = listener_plan(state, l)?;
                listener.http_policy =
                    listener_policies.for_port((state.namespace, state.name), l.port);
                listener.virtual_hosts = virtual_hosts(&http_attached[g][i], &arena);
                let mut tls = std::mem::take(&mut tls_attached[g][i]);
                tls.sort_by(|a, b| {
                    let best =
                        |r: &TlsRoutePlan| r.hostnames.iter().map(HostMatch::specificity).min();
                    best(a).cmp(&best(b))
                });
                listener.tls_routes = tls;
                Some(listener)
            })
            .collect();
        if !listeners.is_empty() {
            plan.gateways.push(GatewayPlan {
                resource: state.resource(),
                listeners,
            });
        }
    }

    statuses.sort_by(|a, b| {
        let kind_rank = |k: &str| match k {
            "GatewayClass" => 0,
            "Gateway" => 1,
            _ => 2,
        };
        (kind_rank(&a.kind), &a.kind, &a.namespace, &a.name).cmp(&(
            kind_rank(&b.kind),
            &b.kind,
            &b.namespace,
            &b.name,
        ))
    });
    Compiled {
        plan,
        statuses,
        diagnostics: diagnostics.0,
    }
}

/// Creation timestamp (`None` when unknown, ordering first), namespace, name: the
/// tie-breakers between routes (and between policies), borrowed from the metadata.
pub(crate) fn route_order(meta: &ObjectMeta) -> (Option<&Time>, &str, &str) {
    (
        meta.creation_timestamp.as_ref(),
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// Parses a route's hostnames into `out` (cleared first); the first invalid one is
/// reported.
fn route_hostnames(hostnames: &[String], out: &mut Vec<HostMatch>) -> Option<String> {
    out.clear();
    let mut error = None;
    for (i, hostname) in hostnames.iter().enumerate() {
        match parse_hostname(hostname) {
            Ok(h) => out.push(h),
            Err(reason) => {
                error.get_or_insert(format!("spec.hostnames[{i}]: {reason}"));
            }
        }
    }
    error
}

/// How each parentRef of a route fared.
type ParentResults = Vec<(ParentReference, Result<(), (&'static str, String)>)>;

/// Attaches a route's parentRefs, calling `on_attach(gateway, listener, hostnames)` for
/// each listener it lands on (`attachments` is scratch space).
fn attach_parents(
    parent_refs: &[ParentReference],
    info: &RouteInfo<'_>,
    gateways: &mut [GatewayState<'_>],
    namespace_labels: &BTreeMap<&str, &BTreeMap<String, String>>,
    attachments: &mut Attachments,
    mut on_attach: impl FnMut(usize, usize, &[HostMatch]),
) -> ParentResults {
    let mut results: ParentResults = Vec::new();
    for parent in parent_refs {
        let stored = defaulted(parent);
        if results.iter().any(|(p, _)| *p == stored) {
            continue;
        }
        if let Some(error) = info.hostname_error {
            if matches!(
                attach(parent, info, gateways, namespace_labels, attachments),
                ParentOutcome::NotOurs
            ) {
                continue;
            }
            results.push((stored, Err(("UnsupportedValue", error.to_owned()))));
            continue;
        }
        match attach(parent, info, gateways, namespace_labels, attachments) {
            ParentOutcome::NotOurs => {}
            ParentOutcome::Rejected {
                reason, message, ..
            } => results.push((stored, Err((reason, message)))),
            ParentOutcome::Attached { gateway } => {
                if let Some(error) = info.rules_error {
                    results.push((stored, Err(("UnsupportedValue", error.to_owned()))));
                    continue;
                }
                for (listener, hostnames) in attachments.listeners() {
                    gateways[gateway].listeners[listener].attached_routes += 1;
                    on_attach(gateway, listener, hostnames);
                }
                results.push((stored, Ok(())));
            }
        }
    }
    results
}

/// The `RouteStatus` of a route from its parents' outcomes and its reference errors.
fn route_status(
    parents: ParentResults,
    meta: &ObjectMeta,
    ref_errors: &[RefError],
    invalid_rules: &[String],
    stamp: &StatusStamp,
    resource: &impl Fn() -> String,
    diagnostics: &mut Diagnostics,
) -> RouteStatus {
    let c = stamp.conditions(meta);
    for error in ref_errors {
        diagnostics.push(&resource(), error.diagnostic());
    }
    let resolved = match ref_errors.first() {
        None => c.make("ResolvedRefs", true, "ResolvedRefs", ""),
        Some(error) => c.make("ResolvedRefs", false, error.reason, error.message.clone()),
    };
    RouteStatus {
        parents: parents
            .into_iter()
            .map(|(parent_ref, outcome)| {
                let partially_invalid = outcome.is_ok() && !invalid_rules.is_empty();
                let mut conditions = Vec::with_capacity(2 + usize::from(partially_invalid));
                conditions.push(match outcome {
                    Ok(()) => c.make("Accepted", true, "Accepted", ""),
                    Err((reason, message)) => {
                        diagnostics.push(
                            &resource(),
                            format!(
                                "spec.parentRefs ({}): {message} ({reason})",
                                parent_ref.name
                            ),
                        );
                        c.make("Accepted", false, reason, message)
                    }
                });
                conditions.push(resolved.clone());
                if partially_invalid {
                    conditions.push(c.make(
                        "PartiallyInvalid",
                        true,
                        "UnsupportedValue",
                        invalid_rules.join("; "),
                    ));
                }
                RouteParentStatus {
                    parent_ref,
                    controller_name: stamp.controller_name.clone(),
                    conditions,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
