//! HTTPRoute rules into plan rules: matches, filters, weighted backends, timeouts, retry.

use gateway_core::extensions::ResourceRef;
use gateway_filters::retry::RetryConfig;
use http::StatusCode;
use std::{fmt, ops::Range, sync::Arc};

use super::{
    duration::parse_duration,
    filters::{FilterError, convert_filters},
    intern::Interner,
    matches::{MatchRank, default_match, rank, request_match},
    refs::{BackendIndex, RefError, Referrer},
};
use crate::{
    api::{GATEWAY_GROUP, HttpRoute, HttpRouteRule},
    plan::{BackendPlan, BackendTarget, RequestMatch, RulePlan, TimeoutsPlan},
};

/// A rule ready to be placed in virtual hosts. The plan is shared: every virtual host and
/// listener the rule is served under points at the same one.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    /// The rule as served (without a TrafficPolicy; attachment adds it per listener).
    pub(crate) plan: Arc<RulePlan>,
    /// Its matches in [`RuleArena::matches`], in spec order.
    pub(crate) matches: Range<usize>,
}

/// One match of a rule, shared like the rule, with its precedence rank computed while the
/// match is fresh (ordering a virtual host then reads no matcher).
#[derive(Debug)]
pub(crate) struct CompiledMatch {
    /// [`rank`] of the matcher.
    pub(crate) rank: MatchRank,
    /// The matcher.
    pub(crate) matcher: Arc<RequestMatch>,
}

/// The rules and matches of every HTTPRoute of one compile, back to back: a route owns a
/// range of rules and each rule a range of matches, so thousands of routes cost two
/// growing vectors instead of a few small allocations each (and freeing them).
#[derive(Debug)]
pub(crate) struct RuleArena {
    /// Rules of every route, route after route, in spec order.
    pub(crate) rules: Vec<CompiledRule>,
    /// Matches of every rule, rule after rule, in spec order.
    pub(crate) matches: Vec<CompiledMatch>,
    /// The group and kind every rule's resource names, one shared copy.
    group: Arc<str>,
    kind: Arc<str>,
    /// The namespace of the last route compiled: routes come ordered, mostly with their
    /// neighbours' namespace, which is then shared without a lookup.
    namespace: Option<Arc<str>>,
}

impl RuleArena {
    /// An empty arena with room for `routes` single-rule routes, taking the shared
    /// strings from `intern`.
    pub(crate) fn new(routes: usize, intern: &mut Interner) -> Self {
        Self {
            rules: Vec::with_capacity(routes),
            matches: Vec::with_capacity(routes),
            group: intern.str(GATEWAY_GROUP),
            kind: intern.str("HTTPRoute"),
            namespace: None,
        }
    }

    /// `namespace`, shared.
    fn namespace(&mut self, namespace: &str, intern: &mut Interner) -> Arc<str> {
        match &self.namespace {
            Some(last) if **last == *namespace => last.clone(),
            _ => self.namespace.insert(intern.str(namespace)).clone(),
        }
    }
}

/// All rules of a route and what went wrong while compiling them.
#[derive(Debug, Default)]
pub(crate) struct CompiledRoute {
    /// The route's rules in [`RuleArena::rules`], in spec order (invalid ones answer 500).
    pub(crate) rules: Range<usize>,
    /// Unresolved references (`ResolvedRefs=False`).
    pub(crate) ref_errors: Vec<RefError>,
    /// Invalid rules (`PartiallyInvalid`, or `Accepted=False` when all are invalid).
    pub(crate) invalid_rules: Vec<String>,
}

/// `spec.rules[i]`: the field path of a rule, formatted only when a message names it.
#[derive(Clone, Copy, Debug)]
struct RuleField(usize);

impl fmt::Display for RuleField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spec.rules[{}]", self.0)
    }
}

/// Compiles every rule of an HTTPRoute into `arena`.
pub(crate) fn compile_route(
    route: &HttpRoute,
    namespace: &str,
    backends: &BackendIndex<'_>,
    intern: &mut Interner,
    arena: &mut RuleArena,
) -> CompiledRoute {
    let name = route.metadata.name.as_deref().unwrap_or_default();
    let from = Referrer {
        group: GATEWAY_GROUP,
        kind: "HTTPRoute",
        namespace,
    };
    let default_rules = [HttpRouteRule::default()];
    let rules = match route.spec.rules.as_deref() {
        Some(rules) if !rules.is_empty() => rules,
        _ => &default_rules,
    };
    // Every rule's resource shares the route's group, kind, namespace and name.
    let route_ref = ResourceRef {
        group: arena.group.clone(),
        kind: arena.kind.clone(),
        namespace: arena.namespace(namespace, intern),
        name: Arc::from(name),
        section: None,
    };
    let mut out = CompiledRoute {
        rules: arena.rules.len()..arena.rules.len() + rules.len(),
        ..CompiledRoute::default()
    };
    for (index, rule) in rules.iter().enumerate() {
        let section = match &rule.name {
            Some(name) => Arc::from(name.as_str()),
            None => intern.index(index),
        };
        let resource = Arc::new(ResourceRef {
            section: Some(section),
            ..route_ref.clone()
        });
        let field = RuleField(index);
        let first_match = arena.matches.len();
        let compiled = compile_rule(
            rule,
            field,
            resource.clone(),
            from,
            backends,
            &mut out.ref_errors,
            intern,
            &mut arena.matches,
        );
        let plan = match compiled {
            Ok(plan) => plan,
            Err(FilterError(message)) => {
                arena.matches.truncate(first_match);
                if rule_matches(rule, field, intern, &mut arena.matches).is_err() {
                    push_match(&mut arena.matches, default_match(intern));
                }
                let reason = Arc::from(message.as_str());
                out.invalid_rules.push(message);
                Arc::new(RulePlan {
                    resource,
                    filters: Vec::new(),
                    backends: vec![BackendPlan {
                        weight: 1,
                        target: BackendTarget::Invalid { reason },
                        filters: Vec::new(),
                    }],
                    timeouts: TimeoutsPlan::default(),
                    retry: None,
                    policy: None,
                })
            }
        };
        arena.rules.push(CompiledRule {
            plan,
            matches: first_match..arena.matches.len(),
        });
    }
    out
}

fn push_match(matches: &mut Vec<CompiledMatch>, matcher: RequestMatch) {
    matches.push(CompiledMatch {
        rank: rank(&matcher),
        matcher: Arc::new(matcher),
    });
}

/// Appends the matches of a rule to `matches`; on an error appends nothing.
fn rule_matches(
    rule: &HttpRouteRule,
    field: RuleField,
    intern: &mut Interner,
    matches: &mut Vec<CompiledMatch>,
) -> Result<(), FilterError> {
    match rule.matches.as_deref() {
        None | Some([]) => push_match(matches, default_match(intern)),
        Some(specs) => {
            let start = matches.len();
            for (i, m) in specs.iter().enumerate() {
                match request_match(m, format_args!("{field}.matches[{i}]"), intern) {
                    Ok(matcher) => push_match(matches, matcher),
                    Err(message) => {
                        matches.truncate(start);
                        return Err(FilterError(message));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Compiles one rule, appending its matches to `matches` (the caller drops them on an
/// error).
#[allow(clippy::too_many_arguments)]
fn compile_rule(
    rule: &HttpRouteRule,
    field: RuleField,
    resource: Arc<ResourceRef>,
    from: Referrer<'_>,
    backends: &BackendIndex<'_>,
    ref_errors: &mut Vec<RefError>,
    intern: &mut Interner,
    matches: &mut Vec<CompiledMatch>,
) -> Result<Arc<RulePlan>, FilterError> {
    rule_matches(rule, field, intern, matches)?;
    let filters = if rule.filters.is_empty() {
        Vec::new()
    } else {
        convert_filters(
            &rule.filters,
            &field.to_string(),
            from,
            backends,
            ref_errors,
        )?
    };
    let mut plans = Vec::with_capacity(rule.backend_refs.len());
    for (i, backend_ref) in rule.backend_refs.iter().enumerate() {
        let (target, error) = backends.target(from, &backend_ref.backend, || {
            format!("{field}.backendRefs[{i}]")
        });
        ref_errors.extend(error);
        let filters = if backend_ref.filters.is_empty() {
            Vec::new()
        } else {
            convert_filters(
                &backend_ref.filters,
                &format!("{field}.backendRefs[{i}]"),
                from,
                backends,
                ref_errors,
            )?
        };
        plans.push(BackendPlan {
            weight: backend_ref.weight.unwrap_or(1),
            target,
            filters,
        });
    }
    let timeouts = timeouts(rule, field)?;
    let retry = rule
        .retry
        .as_ref()
        .map(|retry| {
            let codes = retry
                .codes
                .iter()
                .enumerate()
                .map(|(i, code)| {
                    StatusCode::from_u16(*code)
                        .ok()
                        .filter(|c| c.is_server_error() || c.is_client_error())
                        .ok_or_else(|| {
                            FilterError(format!(
                                "{field}.retry.codes[{i}]: {code} is not a 4xx/5xx code"
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let defaults = RetryConfig::default();
            Ok::<_, FilterError>(RetryConfig {
                codes,
                attempts: retry.attempts.unwrap_or(defaults.attempts),
                backoff: retry
                    .backoff
                    .as_deref()
                    .map(|b| {
                        parse_duration(b)
                            .map_err(|e| FilterError(format!("{field}.retry.backoff: {e}")))
                    })
                    .transpose()?
                    .unwrap_or(defaults.backoff),
                ..defaults
            })
        })
        .transpose()?;
    Ok(Arc::new(RulePlan {
        resource,
        filters,
        backends: plans,
        timeouts,
        retry,
        policy: None,
    }))
}

fn timeouts(rule: &HttpRouteRule, field: RuleField) -> Result<TimeoutsPlan, FilterError> {
    let Some(spec) = &rule.timeouts else {
        return Ok(TimeoutsPlan::default());
    };
    let parse = |value: &Option<String>, what: &str| {
        value
            .as_deref()
            .map(|v| {
                parse_duration(v).map_err(|e| FilterError(format!("{field}.timeouts.{what}: {e}")))
            })
            .transpose()
            // A zero duration disables the timeout.
            .map(|d| d.filter(|d| !d.is_zero()))
    };
    let request = parse(&spec.request, "request")?;
    let backend_request = parse(&spec.backend_request, "backendRequest")?;
    if let (Some(request), Some(backend)) = (request, backend_request)
        && backend > request
    {
        return Err(FilterError(format!(
            "{field}.timeouts.backendRequest: must not be longer than timeouts.request"
        )));
    }
    Ok(TimeoutsPlan {
        request,
        backend_request,
    })
}
