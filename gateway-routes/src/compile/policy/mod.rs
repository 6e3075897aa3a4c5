//! kgateway policy attachment: which `TrafficPolicy` objects (and Envoy Gateway
//! `SecurityPolicy` objects, which attach and merge the same way) cover which HTTPRoute
//! rules,
//! how they merge, and the status each policy earns.
//!
//! A policy attaches by `targetRefs` (by name, in its own namespace) or `targetSelectors`
//! (by labels), to a Gateway (a listener with `sectionName`) or an HTTPRoute (a rule with
//! `sectionName`). For one rule served on one listener the candidates rank, most specific
//! first: the rule, the route, the listener, the Gateway; within one level the older
//! policy (creation time, then namespace/name) ranks first. Each top-level spec field is
//! taken whole from the first candidate that sets it (or switches it off with
//! `disable: {}`), as kgateway merges.
//!
//! Status: `Accepted` is `False` with reason `Invalid` (naming the field), `TargetNotFound`
//! (no target exists) or `Conflicted` (every field it sets is taken by an older policy on
//! the same target); `Attached` tells whether it is `Attached`, `Merged` (some fields lost
//! to other policies) or `Overridden` (all of them lost to more specific ones).

mod backend;
mod backend_config;
mod decode;
mod extensions;
mod listener;
mod status;
mod targets;
mod traffic;

use foldhash::HashMap;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

pub(crate) use backend::BackendPolicies;
pub(crate) use decode::decode_spec;
pub use decode::field_path;
pub(crate) use extensions::GatewayExtensions;
pub(crate) use listener::ListenerPolicies;
pub(crate) use status::backend_statuses;
use targets::{Level, TargetKind, labels_match};
pub(crate) use traffic::PolicyReferences;
use traffic::{CompiledTrafficPolicy, compile_security_policy, compile_traffic_policy};

use crate::{
    api::{Gateway, HttpRoute, KgatewayKind, KgatewayResource},
    plan::TrafficPolicyPlan,
};

/// One TrafficPolicy while the compile runs.
#[derive(Debug)]
struct PolicyEntry<'a> {
    resource: &'a KgatewayResource,
    namespace: &'a str,
    name: &'a str,
    compiled: Result<CompiledTrafficPolicy, String>,
    /// Targets that do not exist, with the reason.
    missing: Vec<(TargetDescription, String)>,
    /// Targets that exist.
    found: Vec<TargetDescription>,
    /// Gateways it was evaluated under (`namespace`, `name`).
    ancestors: BTreeSet<(&'a str, &'a str)>,
    /// It supplied at least one field to at least one rule.
    contributed: bool,
    /// Fields it set that another policy took, with the winner and whether the winner
    /// attached at the same level.
    lost: BTreeMap<&'static str, (usize, bool)>,
}

/// A target as status reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TargetDescription {
    kind: TargetKind,
    name: String,
    section: Option<String>,
}

/// An attachment of a policy to a Gateway or HTTPRoute.
#[derive(Clone, Debug)]
struct Attach {
    policy: usize,
    section: Option<String>,
}

/// Every TrafficPolicy, indexed by what it targets.
#[derive(Debug, Default)]
pub(crate) struct TrafficPolicies<'a> {
    entries: Vec<PolicyEntry<'a>>,
    by_gateway: HashMap<(&'a str, &'a str), Vec<Attach>>,
    by_route: HashMap<(&'a str, &'a str), Vec<Attach>>,
    memo: HashMap<Vec<(usize, Level)>, Option<Arc<TrafficPolicyPlan>>>,
}

impl<'a> TrafficPolicies<'a> {
    /// Decodes every TrafficPolicy and resolves its targets.
    pub(crate) fn new(
        resources: &'a [KgatewayResource],
        gateways: &'a [Gateway],
        routes: &'a [HttpRoute],
        references: PolicyReferences<'_, '_>,
    ) -> Self {
        let mut entries: Vec<PolicyEntry<'a>> = resources
            .iter()
            .filter(|r| {
                matches!(
                    r.kind,
                    KgatewayKind::TrafficPolicy | KgatewayKind::SecurityPolicy
                )
            })
            .filter_map(|resource| {
                let namespace = resource.metadata.namespace.as_deref()?;
                Some(PolicyEntry {
                    resource,
                    namespace,
                    name: resource.metadata.name.as_deref()?,
                    compiled: if resource.kind == KgatewayKind::SecurityPolicy {
                        compile_security_policy(&resource.spec)
                    } else {
                        compile_traffic_policy(&resource.spec, namespace, references)
                    },
                    missing: Vec::new(),
                    found: Vec::new(),
                    ancestors: BTreeSet::new(),
                    contributed: false,
                    lost: BTreeMap::new(),
                })
            })
            .collect();
        entries.sort_by_key(|e| super::route_order(&e.resource.metadata));
        if entries.is_empty() {
            // Nothing to attach: skip indexing every Gateway and HTTPRoute.
            return Self::default();
        }

        let gateway_index: HashMap<(&str, &str), &Gateway> = gateways
            .iter()
            .filter_map(|g| {
                Some((
                    (
                        g.metadata.namespace.as_deref()?,
                        g.metadata.name.as_deref()?,
                    ),
                    g,
                ))
            })
            .collect();
        let route_index: HashMap<(&str, &str), &HttpRoute> = routes
            .iter()
            .filter_map(|r| {
                Some((
                    (
                        r.metadata.namespace.as_deref()?,
                        r.metadata.name.as_deref()?,
                    ),
                    r,
                ))
            })
            .collect();

        let mut index = Self::default();
        for (policy, entry) in entries.iter_mut().enumerate() {
            let Ok(compiled) = &entry.compiled else {
                // An invalid policy still reports against the targets it names.
                if let Ok(targets) =
                    serde_json::from_value::<traffic::Targets>(entry.resource.spec.clone())
                {
                    entry.found = targets
                        .target_refs
                        .iter()
                        .filter_map(|t| {
                            Some(TargetDescription {
                                kind: TargetKind::parse(&t.group, &t.kind)?,
                                name: t.name.clone(),
                                section: t.section_name.clone(),
                            })
                        })
                        .collect();
                }
                continue;
            };
            let namespace = entry.namespace;
            for target in &compiled.target_refs {
                let description = TargetDescription {
                    kind: TargetKind::parse(&target.group, &target.kind)
                        .unwrap_or(TargetKind::Gateway),
                    name: target.name.clone(),
                    section: target.section_name.clone(),
                };
                let Some(kind) = TargetKind::parse(&target.group, &target.kind) else {
                    entry.missing.push((
                        description,
                        format!(
                            "{}/{} {} is not a kind a policy can attach to here \
                             (Gateway or HTTPRoute)",
                            target.group, target.kind, target.name
                        ),
                    ));
                    continue;
                };
                let key = (namespace, target.name.as_str());
                let section = target.section_name.as_deref();
                let found = match kind {
                    TargetKind::Gateway => gateway_index
                        .get(&key)
                        .map(|g| (object_key(&g.metadata), section_exists_gateway(g, section))),
                    TargetKind::HttpRoute => route_index
                        .get(&key)
                        .map(|r| (object_key(&r.metadata), section_exists_route(r, section))),
                };
                match found {
                    None => entry.missing.push((
                        description,
                        format!("{} {namespace}/{} not found", kind.as_str(), target.name),
                    )),
                    Some((_, false)) => entry.missing.push((
                        description,
                        format!(
                            "{} {namespace}/{} has no {} named {:?}",
                            kind.as_str(),
                            target.name,
                            match kind {
                                TargetKind::Gateway => "listener",
                                TargetKind::HttpRoute => "rule",
                            },
                            section.unwrap_or_default()
                        ),
                    )),
                    Some((key, true)) => {
                        entry.found.push(description);
                        let attach = Attach {
                            policy,
                            section: target.section_name.clone(),
                        };
                        let map = match kind {
                            TargetKind::Gateway => &mut index.by_gateway,
                            TargetKind::HttpRoute => &mut index.by_route,
                        };
                        map.entry(key).or_default().push(attach);
                    }
                }
            }
            for selector in &compiled.target_selectors {
                let Some(kind) = TargetKind::parse(&selector.group, &selector.kind) else {
                    entry.missing.push((
                        TargetDescription {
                            kind: TargetKind::Gateway,
                            name: String::new(),
                            section: selector.section_name.clone(),
                        },
                        format!(
                            "targetSelectors: {}/{} is not a kind a policy can attach to \
                             here (Gateway or HTTPRoute)",
                            selector.group, selector.kind
                        ),
                    ));
                    continue;
                };
                let section = selector.section_name.as_deref();
                let mut matched = 0;
                match kind {
                    TargetKind::Gateway => {
                        for ((ns, name), gateway) in &gateway_index {
                            if *ns == namespace
                                && labels_match(
                                    &selector.match_labels,
                                    gateway.metadata.labels.as_ref(),
                                )
                                && section_exists_gateway(gateway, section)
                            {
                                matched += 1;
                                entry.found.push(TargetDescription {
                                    kind,
                                    name: (*name).to_owned(),
                                    section: selector.section_name.clone(),
                                });
                                index
                                    .by_gateway
                                    .entry((ns, name))
                                    .or_default()
                                    .push(Attach {
                                        policy,
                                        section: selector.section_name.clone(),
                                    });
                            }
                        }
                    }
                    TargetKind::HttpRoute => {
                        for ((ns, name), route) in &route_index {
                            if *ns == namespace
                                && labels_match(
                                    &selector.match_labels,
                                    route.metadata.labels.as_ref(),
                                )
                                && section_exists_route(route, section)
                            {
                                matched += 1;
                                entry.found.push(TargetDescription {
                                    kind,
                                    name: (*name).to_owned(),
                                    section: selector.section_name.clone(),
                                });
                                index.by_route.entry((ns, name)).or_default().push(Attach {
                                    policy,
                                    section: selector.section_name.clone(),
                                });
                            }
                        }
                    }
                }
                if matched == 0 {
                    entry.missing.push((
                        TargetDescription {
                            kind,
                            name: String::new(),
                            section: selector.section_name.clone(),
                        },
                        format!(
                            "no {} in namespace {namespace} matches targetSelectors labels {:?}",
                            kind.as_str(),
                            selector.match_labels
                        ),
                    ));
                }
            }
        }
        for list in index
            .by_gateway
            .values_mut()
            .chain(index.by_route.values_mut())
        {
            list.sort_by_key(|a| a.policy);
        }
        index.entries = entries;
        index
    }

    /// Whether any TrafficPolicy exists (the compile skips all policy work when not).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The merged policy of one rule served on one listener; `None` when no policy covers
    /// it. Records, for status, which policies were used and which fields they lost.
    pub(crate) fn for_rule(
        &mut self,
        gateway: (&'a str, &'a str),
        listener: &str,
        route: (&str, &str),
        rule: Option<&str>,
    ) -> Option<Arc<TrafficPolicyPlan>> {
        let mut candidates: Vec<(usize, Level)> = Vec::new();
        let mut push = |attach: &Attach, level: Level| {
            if !candidates.iter().any(|(p, _)| *p == attach.policy) {
                candidates.push((attach.policy, level));
            }
        };
        if let Some(list) = self.by_route.get(&route) {
            for a in list
                .iter()
                .filter(|a| a.section.is_some() && a.section.as_deref() == rule)
            {
                push(a, Level::RouteRule);
            }
            for a in list.iter().filter(|a| a.section.is_none()) {
                push(a, Level::Route);
            }
        }
        if let Some(list) = self.by_gateway.get(&gateway) {
            for a in list
                .iter()
                .filter(|a| a.section.as_deref() == Some(listener))
            {
                push(a, Level::Listener);
            }
            for a in list.iter().filter(|a| a.section.is_none()) {
                push(a, Level::Gateway);
            }
        }
        if candidates.is_empty() {
            return None;
        }
        for (policy, _) in &candidates {
            self.entries[*policy].ancestors.insert(gateway);
        }
        if let Some(plan) = self.memo.get(&candidates) {
            return plan.clone();
        }
        let merged = self.merge(&candidates);
        self.memo.insert(candidates, merged.clone());
        merged
    }

    fn merge(&mut self, candidates: &[(usize, Level)]) -> Option<Arc<TrafficPolicyPlan>> {
        let mut plan = TrafficPolicyPlan::default();
        let mut decided: BTreeSet<&'static str> = BTreeSet::new();
        let mut winners: BTreeMap<&'static str, (usize, Level)> = BTreeMap::new();
        let mut lost: Vec<(usize, &'static str, (usize, bool))> = Vec::new();
        let mut contributed: Vec<usize> = Vec::new();
        for &(policy, level) in candidates {
            let Ok(compiled) = &self.entries[policy].compiled else {
                continue;
            };
            let mut on_field = |name: &'static str, taken: bool| {
                if taken {
                    winners.insert(name, (policy, level));
                    contributed.push(policy);
                } else if let Some(&(winner, winner_level)) = winners.get(name) {
                    lost.push((policy, name, (winner, winner_level == level)));
                }
            };
            for &name in &compiled.disabled {
                let taken = decided.insert(name);
                on_field(name, taken);
            }
            plan.fill_from(&compiled.plan, &mut decided, on_field);
        }
        for policy in contributed {
            self.entries[policy].contributed = true;
        }
        for (policy, name, winner) in lost {
            self.entries[policy].lost.entry(name).or_insert(winner);
        }
        (!plan.set_fields().is_empty()).then(|| Arc::new(plan))
    }
}

/// `(namespace, name)` of an object, borrowed from the snapshot.
fn object_key(meta: &crate::api::ObjectMeta) -> (&str, &str) {
    (
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

fn section_exists_gateway(gateway: &Gateway, section: Option<&str>) -> bool {
    section.is_none_or(|s| gateway.spec.listeners.iter().any(|l| l.name == s))
}

fn section_exists_route(route: &HttpRoute, section: Option<&str>) -> bool {
    section.is_none_or(|s| {
        route
            .spec
            .rules
            .iter()
            .flatten()
            .any(|r| r.name.as_deref() == Some(s))
    })
}

#[cfg(test)]
mod tests;
