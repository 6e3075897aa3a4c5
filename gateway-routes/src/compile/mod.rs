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
mod report;
mod status;
mod tls_routes;
mod virtual_hosts;

pub use policy::field_path;
pub use report::StatusReport;
pub use status::*;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::{collections::BTreeMap, fmt};

use attach::{Attachments, ParentOutcome, RouteInfo, attach, same_parent};
use gateways::{GatewayState, gateway_state, gateway_status, listener_plan, our_classes};
use hostnames::parse_hostname;
use http_routes::{RuleArena, compile_route};
use intern::Interner;
use refs::BackendIndex;
use report::{ParentResult, RouteRecord};
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
    let (plan, report) = compile_plan(snapshot, options);
    let (statuses, diagnostics) = report.finish();
    Compiled {
        plan,
        statuses,
        diagnostics,
    }
}

/// Compiles a snapshot into the plan, leaving the statuses and diagnostics to be written
/// by [`StatusReport::finish`]: a reload serves the plan first and writes the status after.
pub fn compile_plan<'s>(
    snapshot: &'s Snapshot,
    options: &CompileOptions,
) -> (Plan, StatusReport<'s>) {
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
    let mut http_records = Vec::with_capacity(routes.len());
    let mut parent_results = Vec::with_capacity(routes.len());
    let mut intern = Interner::with_capacity(routes.len());
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
        let compiled = compile_route(route, namespace, &backends, &mut intern, &mut arena);
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
        let start = parent_results.len();
        attach_parents(
            &route.spec.parent_refs,
            &info,
            &mut gateways,
            &namespace_labels,
            &mut attachments,
            &mut parent_results,
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
        http_records.push(RouteRecord {
            kind: "HTTPRoute",
            meta: &route.metadata,
            namespace,
            parent_refs: &route.spec.parent_refs,
            parents: start..parent_results.len(),
            ref_errors: compiled.ref_errors,
            invalid_rules: compiled.invalid_rules,
        });
    }

    let mut policy_diagnostics = Diagnostics::default();
    statuses.extend(traffic_policies.statuses(&stamp, &mut policy_diagnostics));
    statuses.extend(extensions.statuses(&stamp, &mut policy_diagnostics));
    statuses.extend(listener_policies.statuses(&stamp, &mut policy_diagnostics));
    statuses.extend(backend_policies.statuses(&stamp, &mut policy_diagnostics));
    statuses.extend(policy::backend_statuses(
        &backends,
        &stamp,
        &mut policy_diagnostics,
    ));

    let mut tls_routes: Vec<_> = snapshot.tls_routes.iter().collect();
    tls_routes.sort_by(|a, b| route_order(&a.metadata).cmp(&route_order(&b.metadata)));
    let mut tls_records = Vec::with_capacity(tls_routes.len());
    for route in tls_routes {
        let Some(namespace) = route.metadata.namespace.as_deref() else {
            continue;
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
        let start = parent_results.len();
        attach_parents(
            &route.spec.parent_refs,
            &info,
            &mut gateways,
            &namespace_labels,
            &mut attachments,
            &mut parent_results,
            |gateway, listener, hostnames| {
                tls_attached[gateway][listener].push(tls_route_plan(
                    route,
                    namespace,
                    hostnames.to_vec(),
                    targets.clone(),
                ));
            },
        );
        tls_records.push(RouteRecord {
            kind: "TLSRoute",
            meta: &route.metadata,
            namespace,
            parent_refs: &route.spec.parent_refs,
            parents: start..parent_results.len(),
            ref_errors,
            invalid_rules: Vec::new(),
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

    let report = StatusReport {
        stamp,
        statuses,
        gateway_diagnostics: diagnostics,
        http_routes: http_records,
        policy_diagnostics,
        tls_routes: tls_records,
        parents: parent_results,
    };
    (plan, report)
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

/// Attaches a route's parentRefs, calling `on_attach(gateway, listener, hostnames)` for
/// each listener it lands on and appending to `results` how each parent of ours fared
/// (`attachments` is scratch space).
fn attach_parents(
    parent_refs: &[ParentReference],
    info: &RouteInfo<'_>,
    gateways: &mut [GatewayState<'_>],
    namespace_labels: &BTreeMap<&str, &BTreeMap<String, String>>,
    attachments: &mut Attachments,
    results: &mut Vec<ParentResult>,
    mut on_attach: impl FnMut(usize, usize, &[HostMatch]),
) {
    let start = results.len();
    for (index, parent) in parent_refs.iter().enumerate() {
        if results[start..]
            .iter()
            .any(|&(seen, _)| same_parent(&parent_refs[seen], parent))
        {
            continue;
        }
        if let Some(error) = info.hostname_error {
            if matches!(
                attach(parent, info, gateways, namespace_labels, attachments),
                ParentOutcome::NotOurs
            ) {
                continue;
            }
            results.push((index, Err(("UnsupportedValue", error.to_owned()))));
            continue;
        }
        match attach(parent, info, gateways, namespace_labels, attachments) {
            ParentOutcome::NotOurs => {}
            ParentOutcome::Rejected {
                reason, message, ..
            } => results.push((index, Err((reason, message)))),
            ParentOutcome::Attached { gateway } => {
                if let Some(error) = info.rules_error {
                    results.push((index, Err(("UnsupportedValue", error.to_owned()))));
                    continue;
                }
                for (listener, hostnames) in attachments.listeners() {
                    gateways[gateway].listeners[listener].attached_routes += 1;
                    on_attach(gateway, listener, hostnames);
                }
                results.push((index, Ok(())));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
