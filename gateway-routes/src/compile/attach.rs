//! Route attachment: which listeners of which Gateway a parentRef selects, and why not.

use std::collections::BTreeMap;

use super::{
    gateways::{GatewayState, namespace_allowed},
    hostnames::effective_hostnames,
};
use crate::{
    api::{GATEWAY_GROUP, ParentReference},
    plan::HostMatch,
};

/// What a parentRef attached to.
#[derive(Debug)]
pub(crate) struct Attachment {
    /// Index of the Gateway in the compile's gateway list.
    pub(crate) gateway: usize,
    /// Listener indexes with the route's effective hostnames on each.
    pub(crate) listeners: Vec<(usize, Vec<HostMatch>)>,
}

/// Outcome of one parentRef.
#[derive(Debug)]
pub(crate) enum ParentOutcome {
    /// The parent is not a Gateway this controller programs: no status is written for it.
    NotOurs,
    /// The route attached to at least one listener.
    Attached(Attachment),
    /// The parent is ours but nothing attached: `Accepted=False` with this reason.
    Rejected {
        /// Gateway API reason.
        reason: &'static str,
        /// Detail.
        message: String,
    },
}

/// The route being attached.
#[derive(Debug)]
pub(crate) struct RouteInfo<'a> {
    /// `HTTPRoute` or `TLSRoute`.
    pub(crate) kind: &'a str,
    /// The route's namespace.
    pub(crate) namespace: &'a str,
    /// The route's hostnames, parsed.
    pub(crate) hostnames: &'a [HostMatch],
}

/// Resolves one parentRef against the Gateways of our class.
pub(crate) fn attach(
    parent: &ParentReference,
    route: &RouteInfo<'_>,
    gateways: &[GatewayState<'_>],
    namespace_labels: &BTreeMap<&str, &BTreeMap<String, String>>,
) -> ParentOutcome {
    if parent.group() != GATEWAY_GROUP || parent.kind() != "Gateway" {
        return ParentOutcome::NotOurs;
    }
    let namespace = parent.namespace.as_deref().unwrap_or(route.namespace);
    let Some(index) = gateways
        .iter()
        .position(|g| g.namespace == namespace && g.name == parent.name)
    else {
        return ParentOutcome::NotOurs;
    };
    let gateway = &gateways[index];
    let reject = |reason, message: String| ParentOutcome::Rejected { reason, message };

    let candidates: Vec<usize> = gateway
        .listeners
        .iter()
        .enumerate()
        .filter(|(_, l)| parent.section_name.as_deref().is_none_or(|s| s == l.name))
        .filter(|(_, l)| parent.port.is_none_or(|p| p == l.port))
        .map(|(i, _)| i)
        .collect();
    if candidates.is_empty() {
        return reject(
            "NoMatchingParent",
            format!(
                "Gateway {namespace}/{} has no listener matching sectionName {:?} and port {:?}",
                parent.name, parent.section_name, parent.port
            ),
        );
    }

    let labels = namespace_labels.get(route.namespace).copied();
    let allowed: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| {
            let l = &gateway.listeners[i];
            l.usable
                && l.kinds.iter().any(|k| k.kind == route.kind)
                && namespace_allowed(
                    &l.allowed_namespaces,
                    gateway.namespace,
                    route.namespace,
                    labels,
                )
        })
        .collect();
    if allowed.is_empty() {
        return reject(
            "NotAllowedByListeners",
            format!(
                "no listener of Gateway {namespace}/{} allows {} from namespace {}",
                parent.name, route.kind, route.namespace
            ),
        );
    }

    let listeners: Vec<(usize, Vec<HostMatch>)> = allowed
        .into_iter()
        .filter_map(|i| {
            let hostnames = effective_hostnames(&gateway.listeners[i].hostname, route.hostnames);
            (!hostnames.is_empty()).then_some((i, hostnames))
        })
        .collect();
    if listeners.is_empty() {
        return reject(
            "NoMatchingListenerHostname",
            format!(
                "no hostname of the route intersects a listener hostname of Gateway {namespace}/{}",
                parent.name
            ),
        );
    }
    ParentOutcome::Attached(Attachment {
        gateway: index,
        listeners,
    })
}

/// The parentRef as the API server stores it: group and kind defaulted.
pub(crate) fn defaulted(parent: &ParentReference) -> ParentReference {
    ParentReference {
        group: Some(parent.group().to_owned()),
        kind: Some(parent.kind().to_owned()),
        ..parent.clone()
    }
}
