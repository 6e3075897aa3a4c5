//! The SNI table of a TLS socket: HTTPS listeners terminate and serve HTTP, TLS listeners in
//! `Terminate` mode terminate and proxy TCP, TLS listeners in `Passthrough` mode proxy the
//! encrypted stream. An entry is keyed by the listener hostname (HTTPS) or by each TLSRoute
//! hostname (TLS).

use gateway_core::{
    backend::{AppProtocol, Backend},
    listener::{ServerNamePattern, TlsAction, TlsTable},
};
use std::{net::SocketAddr, sync::Arc};

use crate::plan::{BackendTarget, HostMatch, ListenerPlan, ListenerProtocol, TlsRoutePlan};

/// Builds the table for the listeners sharing one TLS socket, most specific hostnames first.
/// Returns the table and a warning per entry that could not be built.
pub(crate) fn tls_table(listeners: &[&ListenerPlan]) -> (TlsTable, Vec<String>) {
    let mut builder = TlsTable::builder();
    let mut warnings = Vec::new();
    let mut sorted: Vec<&ListenerPlan> = listeners.to_vec();
    sorted.sort_by_key(|l| l.hostname.specificity());
    for listener in sorted {
        match listener.protocol {
            ListenerProtocol::Http => {}
            ListenerProtocol::Https => {
                let Some(termination) = &listener.tls else {
                    continue;
                };
                match TlsAction::terminate_http(termination.certified_key.clone()) {
                    Ok(action) => {
                        builder.insert(pattern(&listener.hostname), action);
                    }
                    Err(err) => {
                        warnings.push(format!("{}: TLS configuration: {err}", listener.resource))
                    }
                }
            }
            ListenerProtocol::Tls => {
                for route in &listener.tls_routes {
                    let backend = route_backend(route);
                    let action = match &listener.tls {
                        None => Ok(TlsAction::passthrough(backend)),
                        Some(termination) => {
                            TlsAction::terminate_tcp(termination.certified_key.clone(), backend)
                        }
                    };
                    let action = match action {
                        Ok(action) => action,
                        Err(err) => {
                            warnings
                                .push(format!("{}: TLS configuration: {err}", listener.resource));
                            continue;
                        }
                    };
                    for hostname in &route.hostnames {
                        builder.insert(pattern(hostname), action.clone());
                    }
                }
            }
        }
    }
    (builder.build(), warnings)
}

fn pattern(host: &HostMatch) -> ServerNamePattern {
    match host {
        HostMatch::Exact(name) => ServerNamePattern::Exact(name.clone()),
        HostMatch::Wildcard(suffix) => ServerNamePattern::Wildcard(suffix.clone()),
        HostMatch::Any => ServerNamePattern::Any,
    }
}

/// The endpoints of a TLSRoute's backends with a non-zero weight, as one round-robin set.
/// `None` when no backend is usable, so connections are closed.
fn route_backend(route: &TlsRoutePlan) -> Option<Arc<Backend>> {
    let endpoints: Vec<SocketAddr> = route
        .backends
        .iter()
        .filter(|b| b.weight > 0)
        .filter_map(|b| match &b.target {
            BackendTarget::Resolved(resolved) => Some(resolved.endpoints.iter().copied()),
            BackendTarget::Invalid { .. } => None,
        })
        .flatten()
        .collect();
    (!endpoints.is_empty()).then(|| Arc::new(Backend::new(endpoints.into(), AppProtocol::Http1)))
}
