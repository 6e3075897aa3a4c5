//! The `PolicyStatus` of each TrafficPolicy, and its diagnostics.

use super::{PolicyEntry, TargetDescription, TrafficPolicies};
use crate::{
    api::{Condition, GATEWAY_GROUP, KgatewayResource, ParentReference},
    compile::{
        Diagnostics, ObjectStatus, PolicyAncestorStatus, PolicyStatus, StatusBody,
        status::{Conditions, StatusStamp},
    },
};

impl TrafficPolicies<'_> {
    /// The status of every TrafficPolicy; problems also go to `diagnostics`.
    pub(crate) fn statuses(
        &self,
        stamp: &StatusStamp,
        diagnostics: &mut Diagnostics,
    ) -> Vec<ObjectStatus> {
        self.entries
            .iter()
            .map(|entry| {
                let resource = entry.resource.display_name();
                let c = stamp.conditions(&entry.resource.metadata);
                let conditions = self.conditions(entry, &c, &resource, diagnostics);
                let ancestors = ancestor_refs(entry)
                    .into_iter()
                    .map(|ancestor_ref| (ancestor_ref, conditions.clone()))
                    .collect();
                policy_object_status(entry.resource, ancestors, stamp)
            })
            .collect()
    }

    fn conditions(
        &self,
        entry: &PolicyEntry<'_>,
        c: &Conditions<'_>,
        resource: &str,
        diagnostics: &mut Diagnostics,
    ) -> Vec<crate::api::Condition> {
        if let Err(message) = &entry.compiled {
            diagnostics.push(resource, format!("{message} (Invalid)"));
            return vec![
                c.make("Accepted", false, "Invalid", message.clone()),
                c.make("Attached", false, "Invalid", "the policy is not valid"),
            ];
        }
        for (_, reason) in &entry.missing {
            diagnostics.push(
                resource,
                format!("spec.targetRefs: {reason} (TargetNotFound)"),
            );
        }
        if entry.found.is_empty() {
            let message = entry
                .missing
                .iter()
                .map(|(_, reason)| reason.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let message = if message.is_empty() {
                "the policy has no targetRefs or targetSelectors".to_owned()
            } else {
                message
            };
            return vec![
                c.make("Accepted", false, "TargetNotFound", message.clone()),
                c.make("Attached", false, "TargetNotFound", message),
            ];
        }
        let accepted_message = entry
            .missing
            .iter()
            .map(|(_, reason)| reason.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let winners = |same_level_only: bool| {
            entry
                .lost
                .iter()
                .filter(|(_, (_, same))| !same_level_only || *same)
                .map(|(field, (winner, _))| {
                    let winner = &self.entries[*winner];
                    format!("{field} (from {}/{})", winner.namespace, winner.name)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !entry.contributed && !entry.lost.is_empty() {
            if entry.lost.values().all(|(_, same)| *same) {
                let message = format!(
                    "every field it sets is taken by an older policy on the same target: {}",
                    winners(true)
                );
                diagnostics.push(resource, format!("{message} (Conflicted)"));
                return vec![
                    c.make("Accepted", false, "Conflicted", message.clone()),
                    c.make("Attached", false, "Overridden", message),
                ];
            }
            return vec![
                c.make("Accepted", true, "Valid", accepted_message),
                c.make(
                    "Attached",
                    false,
                    "Overridden",
                    format!("every field it sets is overridden: {}", winners(false)),
                ),
            ];
        }
        let attached = if !entry.lost.is_empty() {
            c.make(
                "Attached",
                true,
                "Merged",
                format!("merged; fields taken by other policies: {}", winners(false)),
            )
        } else if entry.contributed {
            c.make("Attached", true, "Attached", "")
        } else {
            c.make(
                "Attached",
                false,
                "Pending",
                "no route under its targets is served",
            )
        };
        vec![
            c.make("Accepted", true, "Valid", accepted_message),
            attached,
        ]
    }
}

/// The Gateways a policy is served under; when none, its targets themselves.
fn ancestor_refs(entry: &PolicyEntry<'_>) -> Vec<ParentReference> {
    if !entry.ancestors.is_empty() {
        return entry
            .ancestors
            .iter()
            .map(|(namespace, name)| gateway_ref(namespace, name))
            .collect();
    }
    let targets: Vec<&TargetDescription> = entry
        .found
        .iter()
        .chain(entry.missing.iter().map(|(t, _)| t))
        .collect();
    if targets.is_empty() {
        // No target at all: report against the policy itself so the status is not empty.
        return vec![self_ref(entry.resource)];
    }
    targets
        .into_iter()
        .map(|t| ParentReference {
            group: Some(GATEWAY_GROUP.to_owned()),
            kind: Some(t.kind.as_str().to_owned()),
            namespace: Some(entry.namespace.to_owned()),
            name: t.name.clone(),
            section_name: t.section.clone(),
            port: None,
        })
        .collect()
}

/// The status of every kgateway `Backend`: `Accepted=True` (reason `Accepted`), or
/// `Accepted=False` with reason `Invalid` and a message naming the field (`spec.aws: not
/// supported by this gateway`), also reported as a diagnostic naming the Backend.
pub(crate) fn backend_statuses(
    backends: &crate::compile::refs::BackendIndex<'_>,
    stamp: &StatusStamp,
    diagnostics: &mut Diagnostics,
) -> Vec<ObjectStatus> {
    backends
        .kgateway_backends()
        .map(|(resource, outcome)| {
            let c = stamp.conditions(&resource.metadata);
            let condition = match outcome {
                Ok(()) => c.make("Accepted", true, "Accepted", ""),
                Err(message) => {
                    diagnostics.push(&resource.display_name(), format!("{message} (Invalid)"));
                    c.make("Accepted", false, "Invalid", message)
                }
            };
            conditions_status(resource, vec![condition])
        })
        .collect()
}

/// The status of a kgateway kind whose status is only `conditions` (GatewayExtension,
/// Backend).
pub(crate) fn conditions_status(
    resource: &KgatewayResource,
    conditions: Vec<Condition>,
) -> ObjectStatus {
    ObjectStatus {
        api_version: format!("{}/v1alpha1", resource.kind.group()).into(),
        kind: resource.kind.as_str().into(),
        namespace: resource.metadata.namespace.clone().unwrap_or_default(),
        name: resource.metadata.name.clone().unwrap_or_default(),
        status: StatusBody::Conditions { conditions },
    }
}

/// The status of a kgateway resource: one `PolicyAncestorStatus` per reference, each with
/// its conditions.
pub(crate) fn policy_object_status(
    resource: &KgatewayResource,
    ancestors: Vec<(ParentReference, Vec<Condition>)>,
    stamp: &StatusStamp,
) -> ObjectStatus {
    ObjectStatus {
        api_version: format!("{}/v1alpha1", resource.kind.group()).into(),
        kind: resource.kind.as_str().into(),
        namespace: resource.metadata.namespace.clone().unwrap_or_default(),
        name: resource.metadata.name.clone().unwrap_or_default(),
        status: StatusBody::Policy(PolicyStatus {
            ancestors: ancestors
                .into_iter()
                .map(|(ancestor_ref, conditions)| PolicyAncestorStatus {
                    ancestor_ref,
                    controller_name: stamp.controller_name.clone(),
                    conditions,
                })
                .collect(),
        }),
    }
}

/// A reference to the resource itself, for a status with no Gateway or target to report
/// against (so the status is never empty).
pub(crate) fn self_ref(resource: &KgatewayResource) -> ParentReference {
    ParentReference {
        group: Some(resource.kind.group().to_owned()),
        kind: Some(resource.kind.as_str().to_owned()),
        namespace: resource.metadata.namespace.clone(),
        name: resource.metadata.name.clone().unwrap_or_default(),
        section_name: None,
        port: None,
    }
}

/// A reference to the Gateway `namespace/name`.
pub(crate) fn gateway_ref(namespace: &str, name: &str) -> ParentReference {
    ParentReference {
        group: Some(GATEWAY_GROUP.to_owned()),
        kind: Some("Gateway".to_owned()),
        namespace: Some(namespace.to_owned()),
        name: name.to_owned(),
        section_name: None,
        port: None,
    }
}
