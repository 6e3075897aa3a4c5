//! GatewayClasses, Gateways and listeners: which Gateways we program, which listeners
//! are valid, and the conditions each earns.

use gateway_core::extensions::ResourceRef;
use std::{collections::BTreeMap, sync::Arc};

use super::{
    Diagnostics, certificates,
    hostnames::parse_hostname,
    refs::{Referrer, reference_allowed},
    status::{Conditions, GatewayStatus, GatewayStatusAddress, ListenerStatus, generation},
};
use crate::{
    api::{GATEWAY_GROUP, Gateway, GatewayClass, LabelSelector, Listener, RouteGroupKind, Secret},
    plan::{HostMatch, ListenerPlan, ListenerProtocol, TlsTermination},
};

/// Which namespaces may attach routes to a listener.
#[derive(Clone, Debug)]
pub(crate) enum AllowedNamespaces {
    /// Only the Gateway's namespace.
    Same,
    /// Any namespace.
    All,
    /// Namespaces whose labels match.
    Selector(LabelSelector),
}

/// A listener while routes attach to it.
#[derive(Debug)]
pub(crate) struct ListenerState {
    /// The spec name.
    pub(crate) name: String,
    /// The spec port.
    pub(crate) port: u16,
    /// Protocol, when supported.
    pub(crate) protocol: Option<ListenerProtocol>,
    /// Hostname pattern.
    pub(crate) hostname: HostMatch,
    /// Accepted and programmed: routes may attach.
    pub(crate) usable: bool,
    /// Namespaces allowed to attach.
    pub(crate) allowed_namespaces: AllowedNamespaces,
    /// Route kinds allowed to attach.
    pub(crate) kinds: Vec<RouteGroupKind>,
    /// Routes attached so far.
    pub(crate) attached_routes: i32,
    /// Conditions computed from the listener alone.
    pub(crate) conditions: Vec<crate::api::Condition>,
    /// TLS termination, when the listener terminates.
    pub(crate) tls: Option<TlsTermination>,
}

/// A Gateway of our class while routes attach to it.
#[derive(Debug)]
pub(crate) struct GatewayState<'a> {
    /// The Gateway.
    pub(crate) gateway: &'a Gateway,
    /// Namespace.
    pub(crate) namespace: &'a str,
    /// Name.
    pub(crate) name: &'a str,
    /// Listeners in spec order.
    pub(crate) listeners: Vec<ListenerState>,
}

impl GatewayState<'_> {
    /// The Gateway as a resource reference.
    pub(crate) fn resource(&self) -> ResourceRef {
        ResourceRef::new(GATEWAY_GROUP, "Gateway", self.namespace, self.name)
    }
}

/// The classes whose `controllerName` is ours, and their status.
pub(crate) fn our_classes<'a>(
    classes: &'a [GatewayClass],
    controller_name: &str,
    time: &Arc<str>,
) -> (
    Vec<&'a str>,
    Vec<(&'a GatewayClass, Vec<crate::api::Condition>)>,
) {
    let mut names = Vec::new();
    let mut statuses = Vec::new();
    for class in classes {
        if class.spec.controller_name != controller_name {
            continue;
        }
        let Some(name) = class.metadata.name.as_deref() else {
            continue;
        };
        names.push(name);
        let c = Conditions {
            generation: generation(&class.metadata),
            time,
        };
        statuses.push((
            class,
            vec![
                c.make("Accepted", true, "Accepted", ""),
                c.make("SupportedVersion", true, "SupportedVersion", ""),
            ],
        ));
    }
    (names, statuses)
}

/// Validates a Gateway's listeners (protocol, TLS, allowed kinds, conflicts).
pub(crate) fn gateway_state<'a>(
    gateway: &'a Gateway,
    secrets: &[Secret],
    grants: &[crate::api::ReferenceGrant],
    time: &Arc<str>,
    diagnostics: &mut Diagnostics,
) -> Option<GatewayState<'a>> {
    let namespace = gateway.metadata.namespace.as_deref()?;
    let name = gateway.metadata.name.as_deref()?;
    let c = Conditions {
        generation: generation(&gateway.metadata),
        time,
    };
    let resource = format!("Gateway {namespace}/{name}");
    let mut listeners: Vec<ListenerState> = gateway
        .spec
        .listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| {
            listener_state(
                listener,
                index,
                namespace,
                secrets,
                grants,
                &c,
                &resource,
                diagnostics,
            )
        })
        .collect();
    mark_conflicts(&mut listeners, &c, &resource, diagnostics);
    Some(GatewayState {
        gateway,
        namespace,
        name,
        listeners,
    })
}

#[allow(clippy::too_many_arguments)]
fn listener_state(
    listener: &Listener,
    index: usize,
    namespace: &str,
    secrets: &[Secret],
    grants: &[crate::api::ReferenceGrant],
    c: &Conditions<'_>,
    resource: &str,
    diagnostics: &mut Diagnostics,
) -> ListenerState {
    let field = format!("spec.listeners[{index}]");
    let mut accepted: Result<(), (&'static str, String)> = Ok(());
    let mut resolved: Result<(), (&'static str, String)> = Ok(());

    let tls_mode = listener
        .tls
        .as_ref()
        .and_then(|t| t.mode.as_deref())
        .unwrap_or("Terminate");
    let passthrough = listener.protocol == "TLS" && tls_mode == "Passthrough";
    let protocol = match listener.protocol.as_str() {
        "HTTP" => Some(ListenerProtocol::Http),
        "HTTPS" => Some(ListenerProtocol::Https),
        "TLS" => Some(ListenerProtocol::Tls),
        other => {
            accepted = Err((
                "UnsupportedProtocol",
                format!("{field}.protocol: {other:?} is not supported (HTTP, HTTPS, TLS)"),
            ));
            None
        }
    };

    let hostname = match listener.hostname.as_deref() {
        None => HostMatch::Any,
        Some(text) => parse_hostname(text).unwrap_or_else(|reason| {
            accepted = Err(("Invalid", format!("{field}.hostname: {reason}")));
            HostMatch::Any
        }),
    };

    let default_kind = match protocol {
        Some(ListenerProtocol::Tls) => "TLSRoute",
        _ => "HTTPRoute",
    };
    let mut kinds = Vec::new();
    let requested = listener
        .allowed_routes
        .as_ref()
        .map(|a| a.kinds.as_slice())
        .unwrap_or(&[]);
    if requested.is_empty() {
        kinds.push(RouteGroupKind {
            group: Some(GATEWAY_GROUP.into()),
            kind: default_kind.into(),
        });
    } else {
        for kind in requested {
            if kind.group() == GATEWAY_GROUP && kind.kind == default_kind {
                if !kinds.iter().any(|k: &RouteGroupKind| k.kind == kind.kind) {
                    kinds.push(RouteGroupKind {
                        group: Some(GATEWAY_GROUP.into()),
                        kind: kind.kind.clone(),
                    });
                }
            } else {
                resolved = Err((
                    "InvalidRouteKinds",
                    format!(
                        "{field}.allowedRoutes.kinds: {}/{} is not supported on a {} listener",
                        kind.group(),
                        kind.kind,
                        listener.protocol
                    ),
                ));
            }
        }
    }

    let allowed_namespaces = match listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
    {
        None => AllowedNamespaces::Same,
        Some(ns) => match ns.from.as_deref().unwrap_or("Same") {
            "All" => AllowedNamespaces::All,
            "Selector" => match &ns.selector {
                Some(selector) => AllowedNamespaces::Selector(selector.clone()),
                None => {
                    accepted = Err((
                        "Invalid",
                        format!(
                            "{field}.allowedRoutes.namespaces.selector: required when from is Selector"
                        ),
                    ));
                    AllowedNamespaces::Same
                }
            },
            _ => AllowedNamespaces::Same,
        },
    };

    let mut tls = None;
    let terminates = matches!(protocol, Some(ListenerProtocol::Https))
        || (matches!(protocol, Some(ListenerProtocol::Tls)) && !passthrough);
    if matches!(protocol, Some(ListenerProtocol::Https)) && tls_mode == "Passthrough" {
        accepted = Err((
            "UnsupportedValue",
            format!("{field}.tls.mode: Passthrough is not allowed on an HTTPS listener"),
        ));
    } else if terminates {
        match terminate(listener, &field, namespace, secrets, grants) {
            Ok(termination) => tls = Some(termination),
            Err(err) => resolved = Err(err),
        }
    }

    let mut conditions = Vec::new();
    let is_accepted = accepted.is_ok();
    let is_resolved = resolved.is_ok();
    match &accepted {
        Ok(()) => conditions.push(c.make("Accepted", true, "Accepted", "")),
        Err((reason, message)) => {
            diagnostics.push(resource, format!("{message} ({reason})"));
            conditions.push(c.make("Accepted", false, reason, message.clone()));
        }
    }
    match &resolved {
        Ok(()) => conditions.push(c.make("ResolvedRefs", true, "ResolvedRefs", "")),
        Err((reason, message)) => {
            diagnostics.push(resource, format!("{message} ({reason})"));
            conditions.push(c.make("ResolvedRefs", false, reason, message.clone()));
        }
    }
    // An invalid route kind alone does not stop the listener: the valid kinds still attach.
    let invalid_certificate = !is_resolved && tls.is_none() && terminates;
    let usable = is_accepted && !invalid_certificate && !kinds.is_empty();
    conditions.push(if usable {
        c.make("Programmed", true, "Programmed", "")
    } else {
        c.make("Programmed", false, "Invalid", "listener is not valid")
    });
    conditions.push(c.make("Conflicted", false, "NoConflicts", ""));
    ListenerState {
        name: listener.name.clone(),
        port: listener.port,
        protocol,
        hostname,
        usable,
        allowed_namespaces,
        kinds,
        attached_routes: 0,
        conditions,
        tls,
    }
}

/// Resolves the certificate of a terminating listener.
fn terminate(
    listener: &Listener,
    field: &str,
    namespace: &str,
    secrets: &[Secret],
    grants: &[crate::api::ReferenceGrant],
) -> Result<TlsTermination, (&'static str, String)> {
    let refs = listener
        .tls
        .as_ref()
        .map(|t| t.certificate_refs.as_slice())
        .unwrap_or(&[]);
    let invalid = |message: String| ("InvalidCertificateRef", message);
    if refs.is_empty() {
        return Err(invalid(format!(
            "{field}.tls.certificateRefs: at least one certificate is required"
        )));
    }
    let mut resources = Vec::new();
    let mut first = None;
    for (i, cert_ref) in refs.iter().enumerate() {
        let ref_field = format!("{field}.tls.certificateRefs[{i}]");
        let ns = cert_ref.namespace.as_deref().unwrap_or(namespace);
        if !(cert_ref.group().is_empty() && cert_ref.kind() == "Secret") {
            return Err(invalid(format!(
                "{ref_field}: {}/{} is not a supported certificate kind (Secret)",
                cert_ref.group(),
                cert_ref.kind()
            )));
        }
        let from = Referrer {
            group: GATEWAY_GROUP,
            kind: "Gateway",
            namespace,
        };
        if !reference_allowed(grants, from, "", "Secret", ns, &cert_ref.name) {
            return Err((
                "RefNotPermitted",
                format!(
                    "{ref_field}: Secret {ns}/{} is not permitted by any ReferenceGrant",
                    cert_ref.name
                ),
            ));
        }
        let secret = secrets
            .iter()
            .find(|s| {
                s.metadata.namespace.as_deref() == Some(ns)
                    && s.metadata.name.as_deref() == Some(&cert_ref.name)
            })
            .ok_or_else(|| {
                invalid(format!(
                    "{ref_field}: Secret {ns}/{} not found",
                    cert_ref.name
                ))
            })?;
        let key = certificates::certified_key(secret).map_err(|reason| {
            invalid(format!(
                "{ref_field}: Secret {ns}/{}: {reason}",
                cert_ref.name
            ))
        })?;
        first.get_or_insert(key);
        resources.push(ResourceRef::new("", "Secret", ns, &cert_ref.name));
    }
    let certified_key =
        first.ok_or_else(|| invalid(format!("{field}.tls.certificateRefs: empty")))?;
    Ok(TlsTermination {
        certificate_refs: resources,
        certified_key,
    })
}

/// Marks listeners that share a port with an incompatible protocol, or a port, protocol
/// and hostname with an earlier listener.
fn mark_conflicts(
    listeners: &mut [ListenerState],
    c: &Conditions<'_>,
    resource: &str,
    diagnostics: &mut Diagnostics,
) {
    let family = |p: Option<ListenerProtocol>| match p {
        Some(ListenerProtocol::Http) => 0,
        Some(ListenerProtocol::Https | ListenerProtocol::Tls) => 1,
        None => 2,
    };
    for i in 0..listeners.len() {
        let mut conflict = None;
        for j in 0..listeners.len() {
            if i == j || listeners[i].port != listeners[j].port {
                continue;
            }
            if family(listeners[i].protocol) != family(listeners[j].protocol) {
                conflict = Some("ProtocolConflict");
                break;
            }
            if j < i && listeners[i].hostname == listeners[j].hostname {
                conflict = Some("HostnameConflict");
            }
        }
        if let Some(reason) = conflict {
            let message = format!(
                "spec.listeners[{i}]: port {} conflicts with another listener ({reason})",
                listeners[i].port
            );
            diagnostics.push(resource, message.clone());
            let listener = &mut listeners[i];
            listener.usable = false;
            for condition in &mut listener.conditions {
                match &*condition.type_ {
                    "Conflicted" => {
                        *condition = c.make("Conflicted", true, reason, message.clone())
                    }
                    "Programmed" => {
                        *condition = c.make("Programmed", false, "Invalid", message.clone())
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The Gateway's status once routes have attached.
pub(crate) fn gateway_status(
    state: &GatewayState<'_>,
    addresses: Vec<GatewayStatusAddress>,
    time: &Arc<str>,
) -> GatewayStatus {
    let c = Conditions {
        generation: generation(&state.gateway.metadata),
        time,
    };
    let any_usable = state.listeners.iter().any(|l| l.usable) || state.listeners.is_empty();
    let all_usable = state.listeners.iter().all(|l| l.usable);
    let accepted = if all_usable {
        c.make("Accepted", true, "Accepted", "")
    } else if any_usable {
        c.make(
            "Accepted",
            true,
            "ListenersNotValid",
            "some listeners are invalid",
        )
    } else {
        c.make(
            "Accepted",
            false,
            "ListenersNotValid",
            "no listener is valid",
        )
    };
    let programmed = if any_usable {
        c.make("Programmed", true, "Programmed", "")
    } else {
        c.make("Programmed", false, "Invalid", "no listener is valid")
    };
    GatewayStatus {
        addresses,
        conditions: vec![accepted, programmed],
        listeners: state
            .listeners
            .iter()
            .map(|l| ListenerStatus {
                name: l.name.clone(),
                supported_kinds: l.kinds.clone(),
                attached_routes: l.attached_routes,
                conditions: l.conditions.clone(),
            })
            .collect(),
    }
}

/// The plan of a usable listener (routes are added later).
pub(crate) fn listener_plan(
    state: &GatewayState<'_>,
    listener: &ListenerState,
) -> Option<ListenerPlan> {
    Some(ListenerPlan {
        resource: state.resource().with_section(listener.name.as_str()),
        port: listener.port,
        protocol: listener.protocol?,
        hostname: listener.hostname.clone(),
        tls: listener.tls.clone(),
        virtual_hosts: Vec::new(),
        tls_routes: Vec::new(),
        http_policy: None,
    })
}

/// Whether a namespace with these labels is allowed by the listener.
pub(crate) fn namespace_allowed(
    allowed: &AllowedNamespaces,
    gateway_namespace: &str,
    route_namespace: &str,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> bool {
    match allowed {
        AllowedNamespaces::All => true,
        AllowedNamespaces::Same => gateway_namespace == route_namespace,
        AllowedNamespaces::Selector(selector) => {
            let empty = BTreeMap::new();
            selector_matches(selector, namespace_labels.unwrap_or(&empty))
        }
    }
}

/// Kubernetes label selector semantics (`matchLabels` and `matchExpressions`).
pub(crate) fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|expr| {
        let values = expr.values.as_deref().unwrap_or(&[]);
        let value = labels.get(&expr.key);
        match expr.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}
