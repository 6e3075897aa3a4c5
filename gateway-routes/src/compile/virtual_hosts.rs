//! Builds a listener's virtual hosts: one per distinct effective hostname, each holding
//! every match of every attached rule in Gateway API precedence order.

use std::{cmp::Ordering, ops::Range, sync::Arc};

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

/// An effective hostname with the first bytes of its name, taken while the name is
/// fresh (see [`HostKey`]).
#[derive(Debug)]
struct HostEntry {
    prefix: u64,
    hostname: HostMatch,
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
        self.hostnames
            .extend(hostnames.iter().map(|hostname| HostEntry {
                prefix: name_prefix(hostname),
                hostname: hostname.clone(),
            }));
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
    // n log n comparisons and no map.
    let mut pairs: Vec<(HostKey<'_>, usize)> = Vec::with_capacity(attached.hostnames.len());
    for (index, route) in attached.routes.iter().enumerate() {
        pairs.extend(
            attached.hostnames[route.hostnames.clone()]
                .iter()
                .map(|entry| (HostKey::new(entry), index)),
        );
    }
    pairs.sort_unstable_by(|a, b| a.0.order(&b.0).then(a.1.cmp(&b.1)));
    pairs.dedup_by(|a, b| a.1 == b.1 && a.0.same(&b.0));

    let mut hosts = Vec::new();
    // Reused for every virtual host: (precedence key, entry).
    let mut keyed = Vec::new();
    for group in pairs.chunk_by(|a, b| a.0.same(&b.0)) {
        let hostname = group[0].0.hostname;
        let mut rules: Vec<Arc<RulePlan>> = Vec::with_capacity(
            group
                .iter()
                .map(|&(_, index)| attached.routes[index].rules.len())
                .sum(),
        );
        keyed.clear();
        for &(_, index) in group {
            let route = &attached.routes[index];
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

/// A hostname as the virtual host order sorts it: `HostMatch`'s order (most specific
/// first, then by name), with the first bytes of the name kept inline so that most
/// comparisons of thousands of distinct names never read the names themselves.
#[derive(Clone, Copy, Debug)]
struct HostKey<'a> {
    /// [`HostMatch::specificity`].
    specificity: (u8, usize),
    /// The first eight bytes of the name, big-endian, zero-padded.
    prefix: u64,
    /// The name (empty for `Any`).
    name: &'a str,
    hostname: &'a HostMatch,
}

impl<'a> HostKey<'a> {
    fn new(entry: &'a HostEntry) -> Self {
        Self {
            specificity: entry.hostname.specificity(),
            prefix: entry.prefix,
            name: host_name(&entry.hostname),
            hostname: &entry.hostname,
        }
    }

    /// The same hostname.
    fn same(&self, other: &Self) -> bool {
        self.specificity == other.specificity
            && self.prefix == other.prefix
            && self.name == other.name
    }

    /// Orders as `(specificity, HostMatch)`: the variant and the name's length decide
    /// first, and names of one length compare byte-wise, as the inline prefix does.
    fn order(&self, other: &Self) -> Ordering {
        (self.specificity, self.prefix, self.name).cmp(&(
            other.specificity,
            other.prefix,
            other.name,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(name: &str) -> HostMatch {
        HostMatch::Exact(name.into())
    }

    #[test]
    fn host_keys_order_as_specificity_then_hostname() {
        let hosts = [
            HostMatch::Any,
            HostMatch::Wildcard(".example.com".into()),
            HostMatch::Wildcard(".a.example.com".into()),
            exact("svc-10.example"),
            exact("svc-9.example"),
            exact("svc-2.example"),
            exact("a"),
            exact("b"),
            exact("abcdefgh-2"),
            exact("abcdefgh-1"),
        ];
        let entry = |hostname: &HostMatch| HostEntry {
            prefix: name_prefix(hostname),
            hostname: hostname.clone(),
        };
        let mut expected: Vec<&HostMatch> = hosts.iter().collect();
        expected.sort_by(|a, b| (a.specificity(), a).cmp(&(b.specificity(), b)));
        let entries: Vec<HostEntry> = hosts.iter().map(entry).collect();
        let mut keys: Vec<HostKey<'_>> = entries.iter().map(HostKey::new).collect();
        keys.sort_unstable_by(HostKey::order);
        let sorted: Vec<&HostMatch> = keys.iter().map(|k| k.hostname).collect();
        assert_eq!(sorted, expected);
        let (a, also_a) = (entry(&exact("a")), entry(&exact("a")));
        let wild_a = entry(&HostMatch::Wildcard("a".into()));
        assert!(HostKey::new(&a).same(&HostKey::new(&also_a)));
        assert!(!HostKey::new(&a).same(&HostKey::new(&wild_a)));
    }
}
