//! Plan → services: one router per socket, one stack per rule, TLS tables per TLS socket.
//!
//! The binary decides where each Gateway listener binds (the listen map); listeners that
//! resolve to the same address share a socket and are told apart by `Host` and SNI.

mod listener;
mod matcher;
mod router;
mod stack;
mod tls;
mod weighted;

pub use router::SocketRouter;
pub use stack::{BuildCarry, BuildContext};

use foldhash::HashMap;
use gateway_core::{
    HttpService,
    extensions::{ListenerPort, MatchedRoute, ResourceRef, RouteContext},
    limits::ListenerLimits,
    listener::{SocketConfig, SocketState},
};
use gateway_filters::{compression::Toggle, jwt::JwtLayer};
use std::{net::SocketAddr, sync::Arc};

use crate::plan::{HostMatch, ListenerPlan, ListenerProtocol, Plan, RequestMatch};
use router::{ListenerRouter, RouteSlot, VirtualHostRouter, matched_prefix};

/// Builds what every socket serves. `bind` maps a Gateway and listener port to the address
/// that listener binds. Listeners whose protocol family (plaintext vs TLS) differs from the
/// first listener on an address are skipped and returned as warnings.
pub fn build_sockets(
    plan: &Plan,
    bind: impl Fn(&ResourceRef, u16) -> SocketAddr,
    ctx: &mut BuildContext,
) -> (
    std::collections::HashMap<SocketAddr, SocketConfig>,
    Vec<String>,
) {
    let mut grouped: HashMap<SocketAddr, Vec<&ListenerPlan>> = HashMap::default();
    let mut order = Vec::new();
    for gateway in &plan.gateways {
        for listener in &gateway.listeners {
            let addr = bind(&gateway.resource, listener.port);
            let entry = grouped.entry(addr).or_default();
            if entry.is_empty() {
                order.push(addr);
            }
            entry.push(listener);
        }
    }
    let mut warnings = Vec::new();
    let mut sockets = std::collections::HashMap::new();
    for addr in order {
        let listeners = grouped.remove(&addr).unwrap_or_default();
        let plaintext = listeners
            .first()
            .is_some_and(|l| l.protocol == ListenerProtocol::Http);
        let (same, other): (Vec<&ListenerPlan>, Vec<&ListenerPlan>) = listeners
            .into_iter()
            .partition(|l| (l.protocol == ListenerProtocol::Http) == plaintext);
        for skipped in other {
            warnings.push(format!(
                "{} binds {addr}, which already serves listeners of another protocol; skipped",
                skipped.resource
            ));
        }
        let http_listeners: Vec<&ListenerPlan> = same
            .iter()
            .copied()
            .filter(|l| l.protocol != ListenerProtocol::Tls)
            .collect();
        let mut limits = ListenerLimits::default();
        let http = (!http_listeners.is_empty()).then(|| {
            let router = HttpService::new(socket_router(&http_listeners, ctx));
            let policies: Vec<_> = http_listeners
                .iter()
                .filter_map(|l| l.http_policy.as_ref())
                .collect();
            match policies.first() {
                None => router,
                Some(policy) => {
                    if policies.iter().any(|p| !Arc::ptr_eq(p, policy)) {
                        warnings.push(format!(
                            "{addr} is shared by listeners with different listener policies; \
                             {} applies to all of them",
                            policy.source
                        ));
                    }
                    limits = policy.limits;
                    listener::listener_service(policy, router, ctx, &mut warnings)
                }
            }
        });
        let tls = if plaintext {
            None
        } else {
            let (table, tls_warnings) = tls::tls_table(&same);
            warnings.extend(tls_warnings);
            Some(Arc::new(table))
        };
        sockets.insert(
            addr,
            SocketConfig {
                state: SocketState { http, tls },
                limits,
            },
        );
    }
    (sockets, warnings)
}

/// Builds the router of the HTTP(S) listeners sharing one socket.
pub fn socket_router(listeners: &[&ListenerPlan], ctx: &mut BuildContext) -> SocketRouter {
    let mut routers: Vec<ListenerRouter> =
        listeners.iter().map(|l| listener_router(l, ctx)).collect();
    // Most specific listener hostname first: a request goes to exactly one listener.
    routers.sort_by_key(|r| r.hostname.specificity());
    SocketRouter::new(routers)
}

fn listener_router(listener: &ListenerPlan, ctx: &mut BuildContext) -> ListenerRouter {
    let exact_hosts = listener
        .virtual_hosts
        .iter()
        .filter(|vhost| matches!(vhost.hostname, HostMatch::Exact(_)))
        .count();
    let mut router = ListenerRouter {
        hostname: listener.hostname.clone(),
        port: ListenerPort(listener.port),
        exact: HashMap::with_capacity_and_hasher(exact_hosts, Default::default()),
        wildcard: HashMap::default(),
        any: None,
    };
    let rule_count = listener.virtual_hosts.iter().map(|v| v.rules.len()).sum();
    let mut metrics = ctx.listener_metrics(&listener.resource, rule_count);
    // The stack and JWT layer of each rule of one virtual host, reused across them.
    let mut services: Vec<HttpService> = Vec::new();
    let mut jwt: Vec<Option<JwtLayer>> = Vec::new();
    for vhost in &listener.virtual_hosts {
        services.clear();
        services.extend(vhost.rules.iter().map(|rule| {
            let metrics = metrics.rule(&rule.resource);
            stack::rule_service(rule, metrics.as_ref(), ctx)
        }));
        jwt.clear();
        jwt.extend(vhost.rules.iter().map(
            |rule| match rule.policy.as_ref()?.jwt_auth.as_deref()? {
                Toggle::Enabled(config) => Some(ctx.jwt(config)),
                Toggle::Disabled => None,
            },
        ));
        let slots = vhost
            .routes
            .iter()
            .map(|entry| RouteSlot {
                matcher: RequestMatch::clone(&entry.matcher),
                context: RouteContext {
                    port: router.port,
                    route: MatchedRoute(vhost.rules[entry.rule].resource.clone()),
                    prefix: matched_prefix(&entry.matcher),
                },
                jwt: jwt[entry.rule].clone(),
                service: services[entry.rule].clone(),
            })
            .collect();
        let vhost_router = VirtualHostRouter { slots };
        match &vhost.hostname {
            HostMatch::Exact(name) => {
                router.exact.insert(name.clone(), vhost_router);
            }
            HostMatch::Wildcard(suffix) => {
                router.wildcard.insert(suffix.clone(), vhost_router);
            }
            HostMatch::Any => router.any = Some(vhost_router),
        }
    }
    ctx.finish_listener_metrics(metrics);
    router
}

#[cfg(test)]
mod tests;
