//! What a compile found about each route, kept compact until it is written as status.
//!
//! Traffic needs only the plan. A route's status (its parents' conditions, their
//! messages, the defaulted parentRefs) is a dozen allocations per route, a tenth of a
//! 10,000-route compile, so the compile records each route's outcome here as indexes and
//! reasons and [`StatusReport::finish`] writes the statuses and diagnostics once the plan
//! is serving.

use std::ops::Range;

use super::{
    Diagnostic, Diagnostics, GATEWAY_API_VERSION, ObjectStatus, RouteParentStatus, RouteStatus,
    StatusBody, StatusStamp, attach::defaulted, refs::RefError,
};
use crate::api::{ObjectMeta, ParentReference};

/// How one parentRef of a route fared: the index of the parentRef in the route's spec,
/// and `Err((reason, message))` when the parent refused the route.
pub(crate) type ParentResult = (usize, Result<(), (&'static str, String)>);

/// One route's outcome: what its status and diagnostics are written from.
#[derive(Debug)]
pub(crate) struct RouteRecord<'s> {
    /// `HTTPRoute` or `TLSRoute`.
    pub(crate) kind: &'static str,
    /// The route's metadata (name, generation).
    pub(crate) meta: &'s ObjectMeta,
    /// The route's namespace.
    pub(crate) namespace: &'s str,
    /// The route's parentRefs, as written.
    pub(crate) parent_refs: &'s [ParentReference],
    /// The route's parent results in [`StatusReport::parents`].
    pub(crate) parents: Range<usize>,
    /// Unresolved references (`ResolvedRefs=False`).
    pub(crate) ref_errors: Vec<RefError>,
    /// Invalid rules (`PartiallyInvalid`, or `Accepted=False` when all are invalid).
    pub(crate) invalid_rules: Vec<String>,
}

/// The statuses and diagnostics of a compile whose plan is already made: written by
/// [`finish`](Self::finish), which a reload calls after the new plan serves.
#[derive(Debug)]
pub struct StatusReport<'s> {
    pub(crate) stamp: StatusStamp,
    /// Statuses written during the compile: GatewayClasses, Gateways, policies.
    pub(crate) statuses: Vec<ObjectStatus>,
    /// Diagnostics found before the routes (Gateways, listeners).
    pub(crate) gateway_diagnostics: Diagnostics,
    /// HTTPRoutes, in precedence order.
    pub(crate) http_routes: Vec<RouteRecord<'s>>,
    /// Diagnostics of the policies, reported after the HTTPRoutes.
    pub(crate) policy_diagnostics: Diagnostics,
    /// TLSRoutes, in precedence order.
    pub(crate) tls_routes: Vec<RouteRecord<'s>>,
    /// The parent results of every route, back to back.
    pub(crate) parents: Vec<ParentResult>,
}

impl StatusReport<'_> {
    /// Writes the status of every GatewayClass, Gateway, route and policy this controller
    /// handles (ordered by kind, namespace, name) and the diagnostics, each naming
    /// resource, field and reason.
    pub fn finish(self) -> (Vec<ObjectStatus>, Vec<Diagnostic>) {
        let Self {
            stamp,
            mut statuses,
            gateway_diagnostics: mut diagnostics,
            http_routes,
            policy_diagnostics,
            tls_routes,
            parents,
        } = self;
        statuses.reserve(http_routes.len() + tls_routes.len());
        let mut parents = parents.into_iter();
        for record in http_routes {
            statuses.push(record.status(&mut parents, &stamp, &mut diagnostics));
        }
        diagnostics.0.extend(policy_diagnostics.0);
        for record in tls_routes {
            statuses.push(record.status(&mut parents, &stamp, &mut diagnostics));
        }
        statuses.sort_by(|a, b| {
            let kind_rank = |k: &str| match k {
                "GatewayClass" => 0,
                "Gateway" => 1,
                _ => 2,
            };
            (kind_rank(&a.kind), &a.kind, &a.namespace, &a.name).cmp(&(
                kind_rank(&b.kind),
                &b.kind,
                &b.namespace,
                &b.name,
            ))
        });
        (statuses, diagnostics.0)
    }
}

impl RouteRecord<'_> {
    /// The route's status, taking its parent results from `parents`; its problems go to
    /// `diagnostics`.
    fn status(
        self,
        parents: &mut impl Iterator<Item = ParentResult>,
        stamp: &StatusStamp,
        diagnostics: &mut Diagnostics,
    ) -> ObjectStatus {
        let name = self.meta.name.as_deref().unwrap_or_default();
        let resource = format!("{} {}/{name}", self.kind, self.namespace);
        for message in &self.invalid_rules {
            diagnostics.push(&resource, message.clone());
        }
        for error in &self.ref_errors {
            diagnostics.push(&resource, error.diagnostic());
        }
        let c = stamp.conditions(self.meta);
        let resolved = match self.ref_errors.first() {
            None => c.make("ResolvedRefs", true, "ResolvedRefs", ""),
            Some(error) => c.make("ResolvedRefs", false, error.reason, error.message.clone()),
        };
        let route_parents = parents
            .take(self.parents.len())
            .map(|(index, outcome)| {
                let parent_ref = defaulted(&self.parent_refs[index]);
                let partially_invalid = outcome.is_ok() && !self.invalid_rules.is_empty();
                let mut conditions = Vec::with_capacity(2 + usize::from(partially_invalid));
                conditions.push(match outcome {
                    Ok(()) => c.make("Accepted", true, "Accepted", ""),
                    Err((reason, message)) => {
                        diagnostics.push(
                            &resource,
                            format!(
                                "spec.parentRefs ({}): {message} ({reason})",
                                parent_ref.name
                            ),
                        );
                        c.make("Accepted", false, reason, message)
                    }
                });
                conditions.push(resolved.clone());
                if partially_invalid {
                    conditions.push(c.make(
                        "PartiallyInvalid",
                        true,
                        "UnsupportedValue",
                        self.invalid_rules.join("; "),
                    ));
                }
                RouteParentStatus {
                    parent_ref,
                    controller_name: stamp.controller_name.clone(),
                    conditions,
                }
            })
            .collect();
        ObjectStatus {
            api_version: GATEWAY_API_VERSION.into(),
            kind: self.kind.into(),
            namespace: self.namespace.to_owned(),
            name: name.to_owned(),
            status: StatusBody::Route(RouteStatus {
                parents: route_parents,
            }),
        }
    }
}
