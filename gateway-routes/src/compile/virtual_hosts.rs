//! Builds a listener's virtual hosts: one per distinct effective hostname, each holding
//! every match of every attached rule in Gateway API precedence order.

use std::{collections::BTreeMap, sync::Arc};

use super::{http_routes::CompiledRoute, matches::rank};
use crate::plan::{HostMatch, RouteEntry, TrafficPolicyPlan, VirtualHost};

/// A route attached to a listener.
#[derive(Debug)]
pub(crate) struct AttachedRoute {
    /// Effective hostnames on this listener.
    pub(crate) hostnames: Vec<HostMatch>,
    /// Tie-breakers across routes: creation timestamp, then namespace/name.
    pub(crate) order: (String, String, String),
    /// The compiled rules.
    pub(crate) route: Arc<CompiledRoute>,
    /// The merged TrafficPolicy of each rule on this listener (empty when no policy
    /// exists at all).
    pub(crate) policies: Vec<Option<Arc<TrafficPolicyPlan>>>,
}

/// Builds the virtual hosts of a listener, most specific hostname first.
pub(crate) fn virtual_hosts(attached: &[AttachedRoute]) -> Vec<VirtualHost> {
    // Hostname → the routes carrying it, in attachment order; one pass, so thousands of
    // routes with their own hostnames cost linear time.
    let mut by_hostname: BTreeMap<((u8, usize), &HostMatch), Vec<&AttachedRoute>> = BTreeMap::new();
    for route in attached {
        for hostname in &route.hostnames {
            let routes = by_hostname
                .entry((hostname.specificity(), hostname))
                .or_default();
            if !routes.last().is_some_and(|last| std::ptr::eq(*last, route)) {
                routes.push(route);
            }
        }
    }
    by_hostname
        .into_iter()
        .map(|((_, hostname), routes)| {
            let mut rules = Vec::new();
            let mut keyed = Vec::new();
            for route in routes {
                for (rule_index, rule) in route.route.rules.iter().enumerate() {
                    let plan_index = rules.len();
                    let mut plan = rule.plan.clone();
                    plan.policy = route.policies.get(rule_index).cloned().flatten();
                    rules.push(plan);
                    for (match_index, m) in rule.matches.iter().enumerate() {
                        keyed.push((
                            (rank(m), &route.order, rule_index, match_index),
                            RouteEntry {
                                matcher: m.clone(),
                                rule: plan_index,
                            },
                        ));
                    }
                }
            }
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            VirtualHost {
                hostname: hostname.clone(),
                rules,
                routes: keyed.into_iter().map(|(_, entry)| entry).collect(),
            }
        })
        .collect()
}
