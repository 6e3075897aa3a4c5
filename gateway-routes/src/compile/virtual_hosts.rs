//! Builds a listener's virtual hosts: one per distinct effective hostname, each holding
//! every match of every attached rule in Gateway API precedence order.

use std::{ops::Range, sync::Arc};

use super::http_routes::RuleArena;
use crate::plan::{HostMatch, RouteEntry, RulePlan, TrafficPolicyPlan, VirtualHost};

/// The HTTPRoutes attached to one listener, in attachment order.
#[derive(Debug, Default)]
pub(crate) struct ListenerRoutes {
    routes: Vec<AttachedRoute>,
    /// The effective hostnames of every attached route, back to back.
    hostnames: Vec<HostEntry>,
}

/// A route attached to a listener.
#[derive(Debug)]
struct AttachedRoute {
    /// Effective hostnames on this listener, in [`ListenerRoutes::hostnames`].
    hostnames: Range<usize>,
    /// Tie-breaker across routes: the rank of the route's creation timestamp, then
    /// namespace/name, among all routes (equal for routes that tie on all three).
    order: usize,
    /// The route's compiled rules, in [`RuleArena::rules`].
    rules: Range<usize>,
    /// The merged TrafficPolicy of each rule on this listener (empty when no policy
    /// exists at all).
    policies: Vec<Option<Arc<TrafficPolicyPlan>>>,
}

/// An effective hostname with its sort key, taken while the name is fresh: the order of
/// [`HostMatch::specificity`] then name, as two integers that decide most comparisons.
#[derive(Debug)]
struct HostEntry {
    /// The variant, then longer names first: [`HostMatch::specificity`] as one integer.
    rank: u64,
    /// The first eight bytes of the name, big-endian, zero-padded: names of one length
    /// order as these do, unless the bytes tie.
    prefix: u64,
    hostname: HostMatch,
}

impl HostEntry {
    fn new(hostname: &HostMatch) -> Self {
        Self {
            rank: host_rank(hostname),
            prefix: name_prefix(hostname),
            hostname: hostname.clone(),
        }
    }

    /// The name (empty for `Any`).
    fn name(&self) -> &str {
        host_name(&self.hostname)
    }
}

/// One (hostname, route) pair of a listener, as the virtual host order sorts it.
#[derive(Clone, Copy, Debug)]
struct HostPair {
    rank: u64,
    prefix: u64,
    /// Index in [`ListenerRoutes::hostnames`].
    entry: usize,
    /// Index in [`ListenerRoutes::routes`].
    route: usize,
}

impl ListenerRoutes {
    /// Attaches a route: its effective hostnames on this listener, its precedence
    /// tie-breaker, its rules in the arena and the TrafficPolicy of each rule here.
    pub(crate) fn push(
        &mut self,
        hostnames: &[HostMatch],
        order: usize,
        rules: Range<usize>,
        policies: Vec<Option<Arc<TrafficPolicyPlan>>>,
    ) {
        let start = self.hostnames.len();
        self.hostnames.extend(hostnames.iter().map(HostEntry::new));
        self.routes.push(AttachedRoute {
            hostnames: start..self.hostnames.len(),
            order,
            rules,
            policies,
        });
    }
}

/// Builds the virtual hosts of a listener, most specific hostname first.
///
/// Rules and matches are shared with the compiled routes in `arena` (only a rule that
/// gains a TrafficPolicy on this listener is copied), so thousands of routes cost no
/// copies.
pub(crate) fn virtual_hosts(attached: &ListenerRoutes, arena: &RuleArena) -> Vec<VirtualHost> {
    // Every (hostname, route) pair, ordered most specific hostname first and then by
    // attachment order: one sort, so thousands of routes with their own hostnames cost
    // n log n comparisons and no map. The pairs are small (two words of key, two
    // indexes), and names are read only when their first eight bytes tie.
    let entries = &attached.hostnames;
    let mut pairs: Vec<HostPair> = Vec::with_capacity(entries.len());
    for (index, route) in attached.routes.iter().enumerate() {
        pairs.extend(route.hostnames.clone().map(|entry| HostPair {
            rank: entries[entry].rank,
            prefix: entries[entry].prefix,
            entry,
            route: index,
        }));
    }
    let same_host = |a: &HostPair, b: &HostPair| {
        a.rank == b.rank
            && a.prefix == b.prefix
            && entries[a.entry].name() == entries[b.entry].name()
    };
    pairs.sort_unstable_by(|a, b| {
        (a.rank, a.prefix)
            .cmp(&(b.rank, b.prefix))
            .then_with(|| entries[a.entry].name().cmp(entries[b.entry].name()))
            .then(a.route.cmp(&b.route))
    });
    pairs.dedup_by(|a, b| a.route == b.route && same_host(a, b));

    let mut hosts = Vec::with_capacity(pairs.chunk_by(same_host).count());
    // Reused for every virtual host: (precedence key, entry).
    let mut keyed = Vec::new();
    for group in pairs.chunk_by(same_host) {
        let hostname = &entries[group[0].entry].hostname;
        let mut rules: Vec<Arc<RulePlan>> = Vec::with_capacity(
            group
                .iter()
                .map(|pair| attached.routes[pair.route].rules.len())
                .sum(),
        );
        keyed.clear();
        for pair in group {
            let route = &attached.routes[pair.route];
            for (rule_index, rule) in arena.rules[route.rules.clone()].iter().enumerate() {
                let plan_index = rules.len();
                rules.push(match route.policies.get(rule_index).cloned().flatten() {
                    None => rule.plan.clone(),
                    Some(policy) => Arc::new(RulePlan {
                        policy: Some(policy),
                        ..RulePlan::clone(&rule.plan)
                    }),
                });
                for (match_index, m) in arena.matches[rule.matches.clone()].iter().enumerate() {
                    keyed.push((
                        (m.rank, route.order, rule_index, match_index),
                        RouteEntry {
                            matcher: m.matcher.clone(),
                            rule: plan_index,
                        },
                    ));
                }
            }
        }
        keyed.sort_by_key(|a| a.0);
        hosts.push(VirtualHost {
            hostname: hostname.clone(),
            rules,
            routes: keyed.drain(..).map(|(_, entry)| entry).collect(),
        });
    }
    hosts
}

/// The first eight bytes of a hostname's name (empty for `Any`), big-endian, zero-padded.
fn name_prefix(hostname: &HostMatch) -> u64 {
    let mut prefix = [0; 8];
    let name = host_name(hostname);
    let len = name.len().min(prefix.len());
    prefix[..len].copy_from_slice(&name.as_bytes()[..len]);
    u64::from_be_bytes(prefix)
}

/// The name of a hostname pattern (empty for `Any`).
fn host_name(hostname: &HostMatch) -> &str {
    match hostname {
        HostMatch::Exact(name) | HostMatch::Wildcard(name) => name,
        HostMatch::Any => "",
    }
}

/// [`HostMatch::specificity`] as one integer: the variant in the high half, the length
/// subtracted from `u32::MAX` in the low half (names are at most 253 bytes).
fn host_rank(hostname: &HostMatch) -> u64 {
    let (variant, _) = hostname.specificity();
    let len = u32::try_from(host_name(hostname).len()).unwrap_or(u32::MAX);
    (u64::from(variant) << 32) | u64::from(u32::MAX - len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::intern::Interner;

    fn exact(name: &str) -> HostMatch {
        HostMatch::Exact(name.into())
    }

    #[test]
    fn virtual_hosts_order_by_specificity_then_hostname_one_per_host() {
        let hosts = [
            HostMatch::Any,
            HostMatch::Wildcard(".example.com".into()),
            HostMatch::Wildcard(".a.example.com".into()),
            HostMatch::Wildcard(".ab".into()),
            exact(".ab"),
            exact("svc-10.example"),
            exact("svc-9.example"),
            exact("svc-2.example"),
            exact("a"),
            exact("b"),
            exact("abcdefgh-2"),
            exact("abcdefgh-1"),
        ];
        let mut attached = ListenerRoutes::default();
        for (order, host) in hosts.iter().enumerate() {
            attached.push(std::slice::from_ref(host), order, 0..0, Vec::new());
        }
        // Another route on a hostname already served, and a route naming one twice.
        attached.push(&[exact("abcdefgh-1")], hosts.len(), 0..0, Vec::new());
        attached.push(&[exact("b"), exact("b")], hosts.len() + 1, 0..0, Vec::new());
        let mut intern = Interner::default();
        let arena = RuleArena::new(0, &mut intern);

        let built: Vec<HostMatch> = virtual_hosts(&attached, &arena)
            .into_iter()
            .map(|vhost| vhost.hostname)
            .collect();
        let mut expected = hosts.to_vec();
        expected.sort_by(|a, b| (a.specificity(), a).cmp(&(b.specificity(), b)));
        assert_eq!(built, expected);
    }
}
