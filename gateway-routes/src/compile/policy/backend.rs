//! kgateway `BackendConfigPolicy` attachment: which Service (port) gets which
//! [`BackendPolicy`], and the status of each policy.
//!
//! A policy targets Services in its own namespace by name (`targetRefs`) or labels
//! (`targetSelectors`); a `sectionName` (our extension: kgateway's targets carry none)
//! narrows it to one Service port by name, and wins over a whole-Service policy. Two
//! policies on the same target: the older wins whole, the newer is `Conflicted`.

use foldhash::HashMap;
use gateway_core::backend::BackendPolicy;
use std::{collections::BTreeSet, sync::Arc};

use super::status::{policy_object_status, self_ref};
use super::{
    backend_config::{CompiledBackendConfigPolicy, compile_backend_config_policy},
    targets::labels_match,
};
use crate::{
    api::{KgatewayKind, KgatewayResource, ParentReference, Service},
    compile::{Diagnostics, ObjectStatus, status::StatusStamp},
};

/// A target: Service namespace, name, and optional port name.
type Target = (String, String, Option<String>);

#[derive(Debug)]
struct Entry<'a> {
    resource: &'a KgatewayResource,
    compiled: Result<CompiledBackendConfigPolicy, String>,
    policy: Option<Arc<BackendPolicy>>,
    targets: BTreeSet<Target>,
    missing: Vec<String>,
}

/// Every BackendConfigPolicy, resolved to the Service ports it configures.
#[derive(Debug, Default)]
pub(crate) struct BackendPolicies<'a> {
    entries: Vec<Entry<'a>>,
    /// The winning policy (entry index) of each target.
    winners: HashMap<Target, usize>,
}

impl<'a> BackendPolicies<'a> {
    /// Decodes every BackendConfigPolicy and resolves its targets against `services`.
    pub(crate) fn new(resources: &'a [KgatewayResource], services: &[Service]) -> Self {
        let mut entries: Vec<Entry<'a>> = resources
            .iter()
            .filter(|r| r.kind == KgatewayKind::BackendConfigPolicy)
            .map(|resource| {
                let compiled = compile_backend_config_policy(&resource.spec);
                Entry {
                    resource,
                    policy: compiled.as_ref().ok().map(|c| Arc::new(c.policy.clone())),
                    compiled,
                    targets: BTreeSet::new(),
                    missing: Vec::new(),
                }
            })
            .collect();
        entries.sort_by_key(|e| super::super::route_order(&e.resource.metadata));
        let mut winners = HashMap::default();
        for (i, entry) in entries.iter_mut().enumerate() {
            let Ok(compiled) = &entry.compiled else {
                continue;
            };
            let namespace = entry
                .resource
                .metadata
                .namespace
                .clone()
                .unwrap_or_default();
            let in_namespace = |s: &&Service| s.metadata.namespace.as_deref() == Some(&namespace);
            for target in &compiled.target_refs {
                if target.kind != "Service" {
                    entry.missing.push(format!(
                        "{}/{} {namespace}/{} is not served by this gateway yet",
                        target.group, target.kind, target.name
                    ));
                    continue;
                }
                match services
                    .iter()
                    .filter(in_namespace)
                    .find(|s| s.metadata.name.as_deref() == Some(target.name.as_str()))
                {
                    None => entry
                        .missing
                        .push(format!("Service {namespace}/{} not found", target.name)),
                    Some(service) if !has_port(service, target.section_name.as_deref()) => {
                        entry.missing.push(format!(
                            "Service {namespace}/{} has no port named {:?}",
                            target.name,
                            target.section_name.as_deref().unwrap_or_default()
                        ));
                    }
                    Some(_) => {
                        entry.targets.insert((
                            namespace.clone(),
                            target.name.clone(),
                            target.section_name.clone(),
                        ));
                    }
                }
            }
            for selector in &compiled.target_selectors {
                let before = entry.targets.len();
                if selector.kind == "Service" && selector.group.is_empty() {
                    for service in services.iter().filter(in_namespace) {
                        if labels_match(&selector.match_labels, service.metadata.labels.as_ref())
                            && has_port(service, selector.section_name.as_deref())
                            && let Some(name) = &service.metadata.name
                        {
                            entry.targets.insert((
                                namespace.clone(),
                                name.clone(),
                                selector.section_name.clone(),
                            ));
                        }
                    }
                }
                if entry.targets.len() == before {
                    entry.missing.push(format!(
                        "no Service in namespace {namespace} matches targetSelectors labels {:?}",
                        selector.match_labels
                    ));
                }
            }
            for target in &entry.targets {
                winners.entry(target.clone()).or_insert(i);
            }
        }
        Self { entries, winners }
    }

    /// The policy of a Service port: one naming the port wins over one for the whole
    /// Service.
    pub(crate) fn for_port(
        &self,
        namespace: &str,
        service: &str,
        port_name: Option<&str>,
    ) -> Option<Arc<BackendPolicy>> {
        let lookup = |section: Option<&str>| {
            self.winners.get(&(
                namespace.to_owned(),
                service.to_owned(),
                section.map(str::to_owned),
            ))
        };
        let winner = port_name
            .and_then(|p| lookup(Some(p)))
            .or_else(|| lookup(None))?;
        self.entries[*winner].policy.clone()
    }

    /// Whether any BackendConfigPolicy exists.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The status of every BackendConfigPolicy; problems also go to `diagnostics`.
    pub(crate) fn statuses(
        &self,
        stamp: &StatusStamp,
        diagnostics: &mut Diagnostics,
    ) -> Vec<ObjectStatus> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let resource = entry.resource.display_name();
                let c = stamp.conditions(&entry.resource.metadata);
                for missing in &entry.missing {
                    diagnostics.push(
                        &resource,
                        format!("spec.targetRefs: {missing} (TargetNotFound)"),
                    );
                }
                let ancestors: Vec<(ParentReference, Vec<crate::api::Condition>)> = match &entry
                    .compiled
                {
                    Err(message) => {
                        diagnostics.push(&resource, format!("{message} (Invalid)"));
                        vec![(
                            self_ref(entry.resource),
                            vec![c.make("Accepted", false, "Invalid", message.clone())],
                        )]
                    }
                    Ok(_) if entry.targets.is_empty() => {
                        let message = if entry.missing.is_empty() {
                            "the policy has no targetRefs or targetSelectors".to_owned()
                        } else {
                            entry.missing.join("; ")
                        };
                        vec![(
                            self_ref(entry.resource),
                            vec![c.make("Accepted", false, "TargetNotFound", message)],
                        )]
                    }
                    Ok(_) => entry
                        .targets
                        .iter()
                        .map(|target| {
                            let service_ref = ParentReference {
                                group: Some(String::new()),
                                kind: Some("Service".to_owned()),
                                namespace: Some(target.0.clone()),
                                name: target.1.clone(),
                                section_name: target.2.clone(),
                                port: None,
                            };
                            let conditions = match self.winners.get(target) {
                                Some(w) if *w != i => {
                                    let message = format!(
                                        "{} already configures Service {}/{}",
                                        self.entries[*w].resource.display_name(),
                                        target.0,
                                        target.1
                                    );
                                    diagnostics.push(&resource, format!("{message} (Conflicted)"));
                                    vec![
                                        c.make("Accepted", false, "Conflicted", message.clone()),
                                        c.make("Attached", false, "Overridden", message),
                                    ]
                                }
                                _ => vec![
                                    c.make("Accepted", true, "Valid", entry.missing.join("; ")),
                                    c.make("Attached", true, "Attached", ""),
                                ],
                            };
                            (service_ref, conditions)
                        })
                        .collect(),
                };
                policy_object_status(entry.resource, ancestors, stamp)
            })
            .collect()
    }
}

/// Whether a Service has a port named `name` (any Service matches no name).
fn has_port(service: &Service, name: Option<&str>) -> bool {
    name.is_none_or(|name| {
        service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .is_some_and(|ports| ports.iter().any(|p| p.name.as_deref() == Some(name)))
    })
}
