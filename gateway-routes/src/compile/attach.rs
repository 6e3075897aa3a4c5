//! Route attachment: which listeners of which Gateway a parentRef selects, and why not.

use std::{collections::BTreeMap, ops::Range};

use super::{
    gateways::{GatewayState, ListenerState, namespace_allowed},
    hostnames::effective_hostnames,
};
use crate::{
    api::{GATEWAY_GROUP, ParentReference},
    plan::HostMatch,
};

/// Where the parentRefs of one route landed: reused from route to route, so attaching
/// thousands of routes allocates nothing once the buffers have grown.
#[derive(Debug, Default)]
pub(crate) struct Attachments {
    /// Listener indexes that pass the parentRef's sectionName, port and allowedRoutes.
    allowed: Vec<usize>,
    /// The route's effective hostnames on each listener it attached to, back to back.
    hostnames: Vec<HostMatch>,
    /// Listener index and its range in `hostnames`, per listener attached to.
    listeners: Vec<(usize, Range<usize>)>,
}

impl Attachments {
    /// Each listener the last [`attach`] attached to, with the route's effective
    /// hostnames on it.
    pub(crate) fn listeners(&self) -> impl Iterator<Item = (usize, &[HostMatch])> {
        self.listeners
            .iter()
            .map(|(listener, range)| (*listener, &self.hostnames[range.clone()]))
    }
}

/// Outcome of one parentRef.
#[derive(Debug)]
pub(crate) enum ParentOutcome {
    /// The parent is not a Gateway this controller programs: no status is written for it.
    NotOurs,
    /// The route attached to at least one listener of the Gateway with this index in the
    /// compile's gateway list; the listeners are in the [`Attachments`].
    Attached {
        /// Index of the Gateway.
        gateway: usize,
    },
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
    /// Why one of the route's hostnames is invalid: every parent of ours refuses the route.
    pub(crate) hostname_error: Option<&'a str>,
    /// Why every rule of the route is invalid: every parent it attaches to refuses it.
    pub(crate) rules_error: Option<&'a str>,
}

/// Resolves one parentRef against the Gateways of our class; when it attaches, `out`
/// holds the listeners and the route's effective hostnames on each.
pub(crate) fn attach(
    parent: &ParentReference,
    route: &RouteInfo<'_>,
    gateways: &[GatewayState<'_>],
    namespace_labels: &BTreeMap<&str, &BTreeMap<String, String>>,
    out: &mut Attachments,
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

    let candidate = |l: &ListenerState| {
        parent.section_name.as_deref().is_none_or(|s| s == l.name)
            && parent.port.is_none_or(|p| p == l.port)
    };
    if !gateway.listeners.iter().any(candidate) {
        return reject(
            "NoMatchingParent",
            format!(
                "Gateway {namespace}/{} has no listener matching sectionName {:?} and port {:?}",
                parent.name, parent.section_name, parent.port
            ),
        );
    }

    let labels = namespace_labels.get(route.namespace).copied();
    out.allowed.clear();
    out.allowed.extend(
        gateway
            .listeners
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                candidate(l)
                    && l.usable
                    && l.kinds.iter().any(|k| k.kind == route.kind)
                    && namespace_allowed(
                        &l.allowed_namespaces,
                        gateway.namespace,
                        route.namespace,
                        labels,
                    )
            })
            .map(|(i, _)| i),
    );
    if out.allowed.is_empty() {
        return reject(
            "NotAllowedByListeners",
            format!(
                "no listener of Gateway {namespace}/{} allows {} from namespace {}",
                parent.name, route.kind, route.namespace
            ),
        );
    }

    out.hostnames.clear();
    out.listeners.clear();
    for &i in &out.allowed {
        let start = out.hostnames.len();
        effective_hostnames(
            &gateway.listeners[i].hostname,
            route.hostnames,
            &mut out.hostnames,
        );
        if out.hostnames.len() > start {
            out.listeners.push((i, start..out.hostnames.len()));
        }
    }
    if out.listeners.is_empty() {
        return reject(
            "NoMatchingListenerHostname",
            format!(
                "no hostname of the route intersects a listener hostname of Gateway {namespace}/{}",
                parent.name
            ),
        );
    }
    ParentOutcome::Attached { gateway: index }
}

/// The parentRef as the API server stores it: group and kind defaulted.
pub(crate) fn defaulted(parent: &ParentReference) -> ParentReference {
    ParentReference {
        group: Some(parent.group().to_owned()),
        kind: Some(parent.kind().to_owned()),
        namespace: parent.namespace.clone(),
        name: parent.name.clone(),
        section_name: parent.section_name.clone(),
        port: parent.port,
    }
}

/// Whether two parentRefs name the same parent once the API server's defaults are filled
/// in: the comparison of their [`defaulted`] forms, without making them.
pub(crate) fn same_parent(a: &ParentReference, b: &ParentReference) -> bool {
    a.name == b.name
        && a.group() == b.group()
        && a.kind() == b.kind()
        && a.namespace == b.namespace
        && a.section_name == b.section_name
        && a.port == b.port
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(name: &str) -> ParentReference {
        ParentReference {
            group: None,
            kind: None,
            namespace: None,
            name: name.to_owned(),
            section_name: None,
            port: None,
        }
    }

    #[test]
    fn parents_compare_with_defaults_filled_in() {
        let written = parent("gw");
        let explicit = ParentReference {
            group: Some(GATEWAY_GROUP.to_owned()),
            kind: Some("Gateway".to_owned()),
            ..parent("gw")
        };
        assert!(same_parent(&written, &explicit));
        assert_eq!(defaulted(&written), defaulted(&explicit));
        assert_eq!(defaulted(&written), explicit);

        let differ = [
            parent("other"),
            ParentReference {
                kind: Some("Service".to_owned()),
                ..parent("gw")
            },
            ParentReference {
                namespace: Some("ns".to_owned()),
                ..parent("gw")
            },
            ParentReference {
                section_name: Some("http".to_owned()),
                ..parent("gw")
            },
            ParentReference {
                port: Some(80),
                ..parent("gw")
            },
        ];
        for other in &differ {
            assert!(!same_parent(&written, other), "{other:?}");
            assert_ne!(defaulted(&written), defaulted(other));
        }
    }
}
