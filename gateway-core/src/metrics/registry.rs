//! The process's metric registry, its label sets, and the resolution of per-route and
//! per-backend handles.

use prometheus_client::{
    encoding::{EncodeLabelSet, text},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};
use std::{fmt, sync::Arc};

use super::{
    handles::{BackendMetrics, PolicyCounter, Recorder, RouteCells, RouteMetrics},
    series::{CODE_CLASSES, DurationHistogram, FlagFamily},
};
use crate::extensions::ResourceRef;

/// Labels of the downstream families: which Gateway listener and which route rule served
/// the request.
///
/// | label | value |
/// |---|---|
/// | `gateway` | `namespace/name` of the Gateway |
/// | `listener` | the listener name |
/// | `route` | `namespace/name` of the route, empty when no route matched |
/// | `rule` | the rule's `name`, else its index in `spec.rules`; empty when no route matched |
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    gateway: Arc<str>,
    listener: Arc<str>,
    route: Arc<str>,
    rule: Arc<str>,
}

impl RouteLabels {
    /// Labels from their values as they should appear (see the table above).
    pub fn new(gateway: &str, listener: &str, route: &str, rule: &str) -> Self {
        Self {
            gateway: gateway.into(),
            listener: listener.into(),
            route: route.into(),
            rule: rule.into(),
        }
    }

    /// Labels for the rule `route` (an HTTPRoute reference whose section is the rule)
    /// served by `listener` (a Gateway reference whose section is the listener name), as
    /// the plan carries them. `route: None` labels what a listener answers when no route
    /// matched (`NR`).
    pub fn from_refs(listener: &ResourceRef, route: Option<&ResourceRef>) -> Self {
        let labels = Self {
            gateway: qualified(listener),
            listener: listener.section.clone().unwrap_or_default(),
            route: Arc::default(),
            rule: Arc::default(),
        };
        match route {
            Some(route) => labels.for_rule(route),
            None => labels,
        }
    }

    /// The labels of the rule `route` served by the same listener as `self`, sharing the
    /// `gateway` and `listener` strings: a builder makes the listener's labels once
    /// ([`RouteLabels::from_refs`] without a route) and derives each rule's from them.
    pub fn for_rule(&self, route: &ResourceRef) -> Self {
        Self {
            gateway: self.gateway.clone(),
            listener: self.listener.clone(),
            route: qualified(route),
            rule: route.section.clone().unwrap_or_default(),
        }
    }
}

/// Labels of the upstream families: `backend`, the backend a request was sent to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BackendLabels {
    backend: Arc<str>,
}

impl BackendLabels {
    /// A `backend` label with exactly this value.
    pub fn new(backend: &str) -> Self {
        Self {
            backend: backend.into(),
        }
    }

    /// The label for a resolved backend reference: `namespace/name:port` for a Service
    /// (the plan's section is the port), `Kind/namespace/name[:section]` for other kinds
    /// (e.g. kgateway's `Backend`), so that two kinds of the same name stay apart.
    pub fn from_ref(backend: &ResourceRef) -> Self {
        let mut value = String::new();
        if &*backend.kind != "Service" {
            value.push_str(&backend.kind);
            value.push('/');
        }
        value.push_str(&qualified(backend));
        if let Some(section) = &backend.section {
            value.push(':');
            value.push_str(section);
        }
        Self::new(&value)
    }
}

/// `namespace/name`, or `name` for a cluster-scoped object.
fn qualified(resource: &ResourceRef) -> Arc<str> {
    if resource.namespace.is_empty() {
        return resource.name.clone();
    }
    // Concatenated, not `format!`ed: a 10,000-route reload labels every rule, and the
    // formatting machinery cost 700 instructions a label.
    let mut value = String::with_capacity(resource.namespace.len() + 1 + resource.name.len());
    value.push_str(&resource.namespace);
    value.push('/');
    value.push_str(&resource.name);
    value.into()
}

/// `RouteLabels` plus `code_class`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteClassLabels {
    #[prometheus(flatten)]
    route: RouteLabels,
    code_class: &'static str,
}

/// `BackendLabels` plus `code_class`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BackendClassLabels {
    #[prometheus(flatten)]
    backend: BackendLabels,
    code_class: &'static str,
}

/// The gateway's metrics: one prometheus-client [`Registry`] and the families the request
/// path records into; see the [module docs](super) for the families.
///
/// Create it once per process, share it in an `Arc` with the admin server
/// ([`AdminState::with_metrics`](crate::admin::AdminState::with_metrics)) and with whoever
/// builds route stacks, which take a [`RouteMetrics`] per route rule with
/// [`Metrics::route`] and a [`BackendMetrics`] per backend with [`Metrics::backend`].
/// Creating a series locks and hashes; recording through a handle whose series exist does
/// not.
///
/// Series are never removed: a route that disappears on reload keeps its last values, and
/// resolving the same labels again (a reload that keeps the route) continues the same
/// counters, as Prometheus counters must.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    route: Arc<RouteFamilies>,
    upstream_requests: Family<BackendClassLabels, Counter>,
    upstream_errors: FlagFamily<BackendLabels>,
    upstream_duration: Family<BackendLabels, DurationHistogram>,
    upstream_active: Family<BackendLabels, Gauge>,
    upstream_ejections: Family<BackendLabels, Counter>,
}

/// The downstream families, shared by the registry, which encodes them, and by every
/// [`RouteMetrics`], which creates its series in them on first use.
#[derive(Debug, Default)]
pub(crate) struct RouteFamilies {
    requests: Family<RouteClassLabels, Counter>,
    response_flags: FlagFamily<RouteLabels>,
    request_duration: Family<RouteLabels, DurationHistogram>,
    retries: Family<RouteLabels, Counter>,
}

impl RouteFamilies {
    /// The cells of the rule labelled `labels`: looked up, or created (every series of the
    /// rule at once: the five status classes, the flag cells, the histogram, the retries).
    pub(crate) fn resolve(&self, labels: &RouteLabels) -> RouteCells {
        let by_class = CODE_CLASSES.map(|code_class| {
            self.requests.get_or_create_owned(&RouteClassLabels {
                route: labels.clone(),
                code_class,
            })
        });
        RouteCells::new(
            Recorder::new(
                by_class,
                self.response_flags.get_or_create(labels),
                self.request_duration.get_or_create_owned(labels),
                None,
            ),
            self.retries.get_or_create_owned(labels),
        )
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The gateway's families in a registry of their own.
    pub fn new() -> Self {
        Self::with_registry(Registry::default())
    }

    /// The gateway's families added to `registry`, which may already hold other metrics
    /// (process metrics, a library's own) that should be served on the same endpoint.
    pub fn with_registry(mut registry: Registry) -> Self {
        let route = Arc::new(RouteFamilies::default());
        let upstream_requests = Family::default();
        let upstream_errors = FlagFamily::default();
        let upstream_duration = Family::default();
        let upstream_active = Family::default();
        let upstream_ejections = Family::default();
        registry.register(
            "gateway_requests",
            "Downstream requests answered, by route rule and status class",
            Family::clone(&route.requests),
        );
        registry.register(
            "gateway_response_flags",
            "Downstream responses carrying an Envoy response flag (answers the gateway made itself, or upstream answers it marked), by route rule and flag",
            FlagFamily::clone(&route.response_flags),
        );
        registry.register_with_unit(
            "gateway_request_duration",
            "Time from receiving a downstream request to its response headers, by route rule",
            Unit::Seconds,
            Family::clone(&route.request_duration),
        );
        registry.register(
            "gateway_retries",
            "Retries sent by the retry policy, by route rule",
            Family::clone(&route.retries),
        );
        registry.register(
            "gateway_upstream_requests",
            "Requests sent to a backend (each try), by backend and status class of the answer",
            Family::clone(&upstream_requests),
        );
        registry.register(
            "gateway_upstream_errors",
            "Upstream requests the gateway answered with a failure flag (UH, UF, UT, UC, UPE, UO), by backend and flag",
            FlagFamily::clone(&upstream_errors),
        );
        registry.register_with_unit(
            "gateway_upstream_request_duration",
            "Time from sending a request to a backend to its response headers, by backend",
            Unit::Seconds,
            Family::clone(&upstream_duration),
        );
        registry.register(
            "gateway_upstream_active_requests",
            "Requests sent to a backend and not yet answered, by backend",
            Family::clone(&upstream_active),
        );
        registry.register(
            "gateway_upstream_ejections",
            "Endpoints ejected from a backend's load balancing (outlier detection, health checks), by backend",
            Family::clone(&upstream_ejections),
        );
        Self {
            registry,
            route,
            upstream_requests,
            upstream_errors,
            upstream_duration,
            upstream_active,
            upstream_ejections,
        }
    }

    /// The registry, for encoders other than [`Metrics::encode`].
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Appends the OpenMetrics text exposition of every registered metric, `# EOF`
    /// included, to `out`. Serve it as [`OPENMETRICS_CONTENT_TYPE`](super::OPENMETRICS_CONTENT_TYPE).
    pub fn encode(&self, out: &mut String) -> fmt::Result {
        text::encode(out, &self.registry)
    }

    /// The handles of one route rule, for the [`MetricsLayer`](super::MetricsLayer) of its
    /// stack and its retry layer. Cheap: no lock, no lookup. The rule's series are created
    /// when it first records (its first answer, or a retry), so a rule that has served
    /// nothing has no series yet; [`RouteMetrics::register`] creates them at once. After
    /// that, recording is an atomic load and atomic adds. Call it while building the rule's
    /// stack, never per request.
    pub fn route(&self, labels: &RouteLabels) -> RouteMetrics {
        RouteMetrics::new(self.route.clone(), labels.clone())
    }

    /// The handles of one backend, resolved once like [`Metrics::route`]. Several route
    /// rules sending to the same backend may each resolve it: they share its series.
    pub fn backend(&self, labels: &BackendLabels) -> BackendMetrics {
        let by_class = CODE_CLASSES.map(|code_class| {
            self.upstream_requests
                .get_or_create_owned(&BackendClassLabels {
                    backend: labels.clone(),
                    code_class,
                })
        });
        let recorder = Arc::new(Recorder::new(
            by_class,
            self.upstream_errors.get_or_create(labels),
            self.upstream_duration.get_or_create_owned(labels),
            Some(self.upstream_active.get_or_create_owned(labels)),
        ));
        BackendMetrics::new(
            recorder,
            PolicyCounter::from_counter(self.upstream_ejections.get_or_create_owned(labels)),
            labels.clone(),
        )
    }
}
