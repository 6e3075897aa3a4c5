//! The one place where the order of a rule's layers is written.
//!
//! Outermost first:
//! 0. CORS: a preflight is answered before anything else runs, and every response is
//!    decorated with the CORS headers (the rule's `CORS` filter, else the TrafficPolicy's).
//! 1. The TrafficPolicy's admission checks: `acl` (403), `basicAuth` and `apiKeyAuth`
//!    (401), `csrf` (403), `faultInjection` (abort or delay), `rateLimit.local` (429
//!    `local_rate_limited`, per client too).
//! 2. The TrafficPolicy's stream idle timeout (`timeouts.streamIdle`), then the request
//!    timeout (`timeouts.request`, else the TrafficPolicy's): bound everything below,
//!    retries included.
//! 3. The TrafficPolicy's `headerModifiers`, `buffer` (413), `compression`,
//!    `transformation` and `urlRewrite.pathRegex`, in that order.
//! 4. The rule's filters in spec order (header modifiers, rewrite, redirect, mirror).
//! 5. Retry (`retry`, else the TrafficPolicy's): replays the request against a freshly
//!    chosen backend.
//! 6. Weighted backend choice.
//! 7. Per backend: the backendRef's filters, the per-try timeout
//!    (`timeouts.backendRequest`, else the TrafficPolicy's `retry.perTryTimeout`), then the
//!    pooled upstream client.
//!
//! The rule's own fields always win over a TrafficPolicy's: an HTTPRoute author's explicit
//! choice is more specific than any policy attached to it.

use foldhash::HashMap;
use gateway_core::{
    BoxBody, HttpService, Request, ResponseFlag,
    backend::{Backend, BackendPolicy, BackendService, UpstreamClient},
    body,
    error::local_response,
    extensions::ResourceRef,
    metrics::{BackendLabels, Metrics, MetricsLayer, RouteLabels, RouteMetrics},
};
use gateway_filters::{
    acl::AclLayer,
    api_key::ApiKeyAuthLayer,
    basic_auth::BasicAuthLayer,
    buffer::BufferLayer,
    compression::{CompressionConfig, RequestDecompressionLayer, ResponseCompressionLayer, Toggle},
    cors::CorsLayer,
    csrf::CsrfLayer,
    direct_response::DirectResponseLayer,
    ext_authz::{ExtAuthConfig, ExtAuthLayer},
    ext_proc::{ExtProcConfig, ExtProcLayer},
    fault::FaultLayer,
    global_rate_limit::{GlobalRateLimitConfig, GlobalRateLimitLayer},
    header_modifier::{HeaderModifierLayer, ResponseHeaderModifierLayer},
    jwt::{JwtConfig, JwtLayer},
    local_rate_limit::{LocalRateLimit, LocalRateLimitLayer, RateLimitConfig},
    mirror::MirrorLayer,
    otel::{TracingConfig, TracingError, TracingLayer},
    path_regex::PathRegexLayer,
    redirect::RedirectLayer,
    retry::RetryLayer,
    stream_idle::{IdleBody, StreamIdleLayer},
    timeout::TimeoutLayer,
    transformation::TransformationLayer,
    url_rewrite::UrlRewriteLayer,
};
use http::StatusCode;
use std::collections::hash_map::Entry;
use std::{convert::Infallible, sync::Arc, time::Duration};
use tower::{
    Layer,
    util::{MapRequest, MapResponse},
};

use super::weighted::WeightedService;
use crate::plan::{BackendPlan, BackendTarget, FilterPlan, ResolvedBackend, RulePlan};

/// Shared pieces used while building one plan: the upstream client, and one backend
/// service per distinct resolved backend so rules share round-robin state and pools.
#[derive(Debug)]
pub struct BuildContext {
    client: UpstreamClient,
    backends: HashMap<Arc<ResolvedBackend>, HttpService>,
    /// `backends` by the address of the plan's `Arc`: the compiler shares one `Arc` per
    /// backend among every rule sending to it, so most lookups hash a pointer instead of
    /// the whole backend (names, endpoints, policy). Holding the `Arc` keeps the address
    /// from being reused while it is a key.
    by_address: HashMap<usize, (Arc<ResolvedBackend>, HttpService)>,
    /// What the previous build made, reused where the configuration is unchanged.
    previous: BuildCarry,
    /// One limiter per policy `rateLimit` (keyed by the address of its shared config), so
    /// every rule a policy covers draws from the same bucket.
    rate_limiters: HashMap<usize, LocalRateLimitLayer>,
    /// The layers holding a client of an external service or background work, one per
    /// policy field (keyed by the address of its shared config), so rules share them.
    external: ExternalLayers,
    /// Where request and upstream metrics go; `None` builds stacks without them.
    metrics: Option<Arc<Metrics>>,
    /// The metric handles of every rule this build made a stack for, and of the
    /// listeners it has not reached yet as the previous build left them.
    route_metrics: RouteHandles,
    /// Tells this build's uses of `route_metrics` from the previous build's.
    generation: u64,
}

/// Route metric handles by listener, then rule, each with the generation of the last
/// build that used it. The registry never removes a series, so the handles of a rule
/// still served after a reload stay valid: carrying them saves resolving every rule's
/// label set again (its strings and five family lookups).
type RouteHandles = HashMap<ResourceRef, RuleHandles>;

/// The metric handles of one listener's rules, with the generation that last used each.
type RuleHandles = HashMap<Arc<ResourceRef>, (RouteMetrics, u64)>;

/// The metric handles of one listener's rules while its stacks are built.
#[derive(Debug, Default)]
pub(crate) struct ListenerMetrics {
    /// The registry, the listener, its labels (shared by every rule's) and this build's
    /// generation; `None` when metrics are off.
    on: Option<(Arc<Metrics>, ResourceRef, RouteLabels, u64)>,
    rules: RuleHandles,
}

impl ListenerMetrics {
    /// The handles of `rule`, when metrics are on: kept from an earlier build or resolved,
    /// one hash lookup either way.
    pub(crate) fn rule(&mut self, rule: &Arc<ResourceRef>) -> Option<RouteMetrics> {
        let (metrics, _, labels, generation) = self.on.as_ref()?;
        match self.rules.entry(rule.clone()) {
            Entry::Occupied(mut kept) => {
                let (handles, used) = kept.get_mut();
                *used = *generation;
                Some(handles.clone())
            }
            Entry::Vacant(new) => {
                let handles = metrics.route(&labels.for_rule(rule));
                new.insert((handles.clone(), *generation));
                Some(handles)
            }
        }
    }
}

impl BuildContext {
    /// A context sending upstream traffic through `client`.
    pub fn new(client: UpstreamClient) -> Self {
        Self {
            client,
            backends: HashMap::default(),
            by_address: HashMap::default(),
            previous: BuildCarry::default(),
            rate_limiters: HashMap::default(),
            external: ExternalLayers::default(),
            metrics: None,
            route_metrics: HashMap::default(),
            generation: 0,
        }
    }

    /// Records every rule's requests and every backend's tries in `metrics`; the label
    /// sets are resolved here, once per stack, so requests only add to atomics.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Reuses what `previous` (the last build's [`BuildContext::into_carry`]) holds
    /// wherever this build needs the same thing: backends keep their load-balancer state,
    /// endpoint health, outlier ejections and pools, and JWT providers their fetched keys,
    /// across configuration reloads that do not change them.
    #[must_use]
    pub fn with_carry(mut self, previous: BuildCarry) -> Self {
        self.generation = previous
            .route_metrics
            .as_ref()
            .map_or(0, |(_, generation, _)| generation.wrapping_add(1));
        self.previous = previous;
        self
    }

    /// What this build made that the next one may reuse; what it did not use of the
    /// previous build is dropped (stopping its health checks and key fetches).
    pub fn into_carry(self) -> BuildCarry {
        BuildCarry {
            backends: self.backends,
            jwt: self.external.jwt,
            tracers: self.external.tracers,
            route_metrics: self
                .metrics
                .map(|metrics| (metrics, self.generation, self.route_metrics)),
        }
    }

    /// The metric handles of the rules of `listener`, to resolve while building its
    /// `rule_count` stacks (room for them is made once, not by rehashing as they come);
    /// hand them back with [`BuildContext::finish_listener_metrics`].
    pub(crate) fn listener_metrics(
        &mut self,
        listener: &ResourceRef,
        rule_count: usize,
    ) -> ListenerMetrics {
        let Some(metrics) = self.metrics.clone() else {
            return ListenerMetrics::default();
        };
        let mut rules = self.route_metrics.remove(listener).unwrap_or_else(|| {
            self.previous
                .route_metrics
                .as_mut()
                .filter(|(registry, _, _)| Arc::ptr_eq(registry, &metrics))
                .and_then(|(_, _, listeners)| listeners.remove(listener))
                .unwrap_or_default()
        });
        rules.reserve(rule_count.saturating_sub(rules.len()));
        ListenerMetrics {
            on: Some((
                metrics,
                listener.clone(),
                RouteLabels::from_refs(listener, None),
                self.generation,
            )),
            rules,
        }
    }

    /// Keeps the handles of the rules this build served on the listener, for the next
    /// build.
    pub(crate) fn finish_listener_metrics(&mut self, handles: ListenerMetrics) {
        let Some((_, listener, _, generation)) = handles.on else {
            return;
        };
        let mut rules = handles.rules;
        rules.retain(|_, (_, used)| *used == generation);
        self.route_metrics.insert(listener, rules);
    }

    /// The shared limiter of a policy's `rateLimit`; `None` when it only disables one.
    pub(crate) fn rate_limiter(
        &mut self,
        limit: &Arc<RateLimitConfig>,
    ) -> Option<LocalRateLimitLayer> {
        let LocalRateLimit::Limit(config) = limit.local.as_ref()? else {
            return None;
        };
        Some(
            self.rate_limiters
                .entry(Arc::as_ptr(limit) as usize)
                .or_insert_with(|| LocalRateLimitLayer::new(config.clone()))
                .clone(),
        )
    }

    /// The JWT layer of a GatewayExtension's providers, one per extension so that its
    /// remote key sets are fetched once.
    pub(crate) fn jwt(&mut self, config: &Arc<JwtConfig>) -> JwtLayer {
        if let Some(layer) = self.external.jwt.get(config) {
            return layer.clone();
        }
        let layer = self
            .previous
            .jwt
            .remove(config)
            .unwrap_or_else(|| JwtLayer::new(JwtConfig::clone(config)));
        self.external.jwt.insert(config.clone(), layer.clone());
        layer
    }

    /// The tracing layer of a listener policy's `tracing`: one per configuration, kept
    /// across reloads that leave it unchanged (its exporter and queued spans with it).
    pub(crate) fn tracer(
        &mut self,
        config: &Arc<TracingConfig>,
    ) -> Result<TracingLayer, TracingError> {
        if let Some((_, layer)) = self.external.tracers.iter().find(|(c, _)| c == config) {
            return Ok(layer.clone());
        }
        let layer = match self.previous.tracers.iter().position(|(c, _)| c == config) {
            Some(index) => self.previous.tracers.swap_remove(index).1,
            None => TracingLayer::new(TracingConfig::clone(config))?,
        };
        self.external.tracers.push((config.clone(), layer.clone()));
        Ok(layer)
    }

    /// The shared layer of a policy's `extAuth`.
    fn ext_auth(&mut self, config: &Arc<Toggle<ExtAuthConfig>>) -> Option<ExtAuthLayer> {
        let Toggle::Enabled(enabled) = config.as_ref() else {
            return None;
        };
        Some(
            self.external
                .ext_auth
                .entry(Arc::as_ptr(config) as usize)
                .or_insert_with(|| ExtAuthLayer::new(enabled.clone()))
                .clone(),
        )
    }

    /// The shared layer of a policy's `extProc`.
    fn ext_proc(&mut self, config: &Arc<Toggle<ExtProcConfig>>) -> Option<ExtProcLayer> {
        let Toggle::Enabled(enabled) = config.as_ref() else {
            return None;
        };
        Some(
            self.external
                .ext_proc
                .entry(Arc::as_ptr(config) as usize)
                .or_insert_with(|| ExtProcLayer::new(enabled.clone()))
                .clone(),
        )
    }

    /// The shared layer of a policy's `rateLimit.global`.
    fn global_rate_limit(&mut self, config: &Arc<GlobalRateLimitConfig>) -> GlobalRateLimitLayer {
        self.external
            .global_rate_limit
            .entry(Arc::as_ptr(config) as usize)
            .or_insert_with(|| GlobalRateLimitLayer::new(GlobalRateLimitConfig::clone(config)))
            .clone()
    }

    /// The service for a backend target; invalid targets answer 500.
    pub(crate) fn target(&mut self, target: &BackendTarget) -> HttpService {
        match target {
            BackendTarget::Invalid { .. } => answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                ResponseFlag::InvalidBackend,
            ),
            BackendTarget::Resolved(resolved) => {
                let address = Arc::as_ptr(resolved) as usize;
                if let Some((_, service)) = self.by_address.get(&address) {
                    return service.clone();
                }
                let service = self.resolved_target(resolved);
                self.by_address
                    .insert(address, (resolved.clone(), service.clone()));
                service
            }
        }
    }

    /// The service of a resolved backend: this build's, else the previous build's, else a
    /// new one.
    fn resolved_target(&mut self, resolved: &Arc<ResolvedBackend>) -> HttpService {
        if let Some(service) = self.backends.get(resolved) {
            return service.clone();
        }
        if let Some(service) = self.previous.backends.remove(resolved) {
            self.backends.insert(resolved.clone(), service.clone());
            return service;
        }
        let backend = match (&resolved.policy, tokio::runtime::Handle::try_current()) {
            (policy, Ok(runtime)) if !resolved.dns_names.is_empty() => Backend::resolving(
                resolved.endpoints.clone(),
                resolved.dns_names.clone(),
                protocol(resolved),
                policy.as_deref().unwrap_or(&BackendPolicy::default()),
                &runtime,
            ),
            (Some(policy), Ok(runtime)) => Backend::with_policy(
                resolved.endpoints.clone(),
                protocol(resolved),
                policy,
                &runtime,
            ),
            _ => Backend::new(resolved.endpoints.clone(), protocol(resolved)),
        };
        let handles = self
            .metrics
            .as_ref()
            .map(|m| m.backend(&BackendLabels::from_ref(&resolved.resource)));
        if let Some(handles) = &handles {
            backend.count_ejections(handles.ejections().clone());
        }
        // One erasure around the metrics and the backend together: each `HttpService` costs
        // a boxed future per request.
        let backend = BackendService::new(self.client.clone(), Arc::new(backend));
        let service = match &handles {
            Some(handles) => HttpService::new(MetricsLayer::upstream(handles).layer(backend)),
            None => HttpService::new(backend),
        };
        self.backends.insert(resolved.clone(), service.clone());
        service
    }

    /// The upstream client (TLS routes dial through their own TCP path but share limits).
    pub fn client(&self) -> &UpstreamClient {
        &self.client
    }
}

/// The stateful services of one build, handed to the next so that an unchanged backend
/// or JWT provider keeps its state across a reload (see [`BuildContext::with_carry`]).
#[derive(Debug, Default)]
pub struct BuildCarry {
    backends: HashMap<Arc<ResolvedBackend>, HttpService>,
    jwt: HashMap<Arc<JwtConfig>, JwtLayer>,
    tracers: Vec<(Arc<TracingConfig>, TracingLayer)>,
    /// The registry the handles record into, the generation of the build that made them,
    /// and the handles.
    route_metrics: Option<(Arc<Metrics>, u64, RouteHandles)>,
}

/// Layers that own a client or a background task, shared by every rule of one build.
#[derive(Debug, Default)]
struct ExternalLayers {
    /// By configuration: identical providers share one layer (and its key fetches).
    jwt: HashMap<Arc<JwtConfig>, JwtLayer>,
    /// By configuration (a handful at most: one per listener policy).
    tracers: Vec<(Arc<TracingConfig>, TracingLayer)>,
    ext_auth: HashMap<usize, ExtAuthLayer>,
    ext_proc: HashMap<usize, ExtProcLayer>,
    global_rate_limit: HashMap<usize, GlobalRateLimitLayer>,
}

fn protocol(resolved: &ResolvedBackend) -> gateway_core::backend::AppProtocol {
    match resolved.protocol {
        crate::plan::AppProtocol::H2c => gateway_core::backend::AppProtocol::H2c,
        crate::plan::AppProtocol::Http1 | crate::plan::AppProtocol::WebSocket => {
            gateway_core::backend::AppProtocol::Http1
        }
    }
}

/// A service that always answers `status`, tagged with `flag`.
pub(crate) fn answer(status: StatusCode, flag: ResponseFlag) -> HttpService {
    HttpService::new(tower::service_fn(move |_request: Request| {
        std::future::ready(Ok::<_, Infallible>(local_response(status, flag)))
    }))
}

/// Builds the stack of one rule.
pub(crate) fn rule_service(
    rule: &RulePlan,
    metrics: Option<&RouteMetrics>,
    ctx: &mut BuildContext,
) -> HttpService {
    let policy = rule.policy.as_deref();
    let policy_retry = policy.and_then(|p| p.retry.as_deref());
    // 6 and 7: backends, each with its own filters and per-try timeout.
    let per_try = rule
        .timeouts
        .backend_request
        .or(policy_retry.and_then(|r| r.per_try_timeout));
    let weighted: Vec<(u32, HttpService)> = rule
        .backends
        .iter()
        .map(|backend| (backend.weight, backend_service(backend, per_try, ctx)))
        .collect();
    let mut service = match WeightedService::new(weighted) {
        None => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            ResponseFlag::InvalidBackend,
        ),
        Some(weighted) => match weighted.single() {
            Some(only) => only.clone(),
            None => HttpService::new(weighted),
        },
    };
    // 5: retries wrap the backend choice so each try may land on another backend.
    if let Some(retry) = rule.retry.as_ref().or(policy_retry.map(|r| &r.config)) {
        let mut layer = RetryLayer::new(retry.clone());
        if let Some(metrics) = metrics {
            layer = layer.with_counter(metrics.retries().clone());
        }
        service = HttpService::new(layer.layer(service));
    }
    // 4: the rule's filters, first filter outermost.
    service = filters(&rule.filters, service, ctx);
    // 3: the policy's path rewrite, transformation, compression and buffer, innermost
    // first.
    if let Some(rewrite) = policy.and_then(|p| p.url_rewrite.as_deref()) {
        service = HttpService::new(PathRegexLayer::new(rewrite.clone()).layer(service));
    }
    if let Some(transformation) = policy.and_then(|p| p.transformation.as_deref()) {
        service = HttpService::new(TransformationLayer::new(transformation.clone()).layer(service));
    }
    if let Some(compression) = policy.and_then(|p| p.compression.as_deref()) {
        service = compression_layers(compression, service);
    }
    if let Some(buffer) = policy.and_then(|p| p.buffer.as_deref()) {
        service = HttpService::new(BufferLayer::new(*buffer).layer(service));
    }
    // 3: the policy's header modifiers.
    if let Some(modifiers) = policy.and_then(|p| p.header_modifiers.as_deref()) {
        if let Some(response) = &modifiers.response {
            service =
                HttpService::new(ResponseHeaderModifierLayer::new(response.clone()).layer(service));
        }
        if let Some(request) = &modifiers.request {
            service = HttpService::new(HeaderModifierLayer::new(request.clone()).layer(service));
        }
    }
    // 2: the whole-request timeout.
    let request_timeout = rule.timeouts.request.or(policy
        .and_then(|p| p.timeouts.as_ref())
        .and_then(|t| t.request));
    if let Some(timeout) = request_timeout {
        service = HttpService::new(TimeoutLayer::new(timeout).layer(service));
    }
    // 2: the policy's stream idle timeout, around everything that can stall.
    if let Some(idle) = policy
        .and_then(|p| p.timeouts.as_ref())
        .and_then(|t| t.stream_idle)
    {
        service = stream_idle(idle, service);
    }
    // 1: the external processor sees the request as admitted, just before it is
    // changed and sent on.
    if let Some(layer) = policy
        .and_then(|p| p.ext_proc.as_ref())
        .and_then(|config| ctx.ext_proc(config))
    {
        service = HttpService::new(layer.layer(service));
    }
    // 1: the policy's admission checks, cheapest refusal first in the request's path:
    // CSRF, then fault injection, then the local rate limit, then the global one.
    if let Some(config) = policy.and_then(|p| p.global_rate_limit.as_ref()) {
        service = HttpService::new(ctx.global_rate_limit(config).layer(service));
    }
    if let Some(layer) = policy
        .and_then(|p| p.rate_limit.as_ref())
        .and_then(|limit| ctx.rate_limiter(limit))
    {
        service = HttpService::new(layer.layer(service));
    }
    if let Some(fault) = policy.and_then(|p| p.fault_injection.as_deref()) {
        service = HttpService::new(FaultLayer::new(fault.clone()).layer(service));
    }
    if let Some(csrf) = policy.and_then(|p| p.csrf.as_deref()) {
        service = HttpService::new(CsrfLayer::new(csrf.clone()).layer(service));
    }
    // Authentication and authorization, then the client address rules, outside everything
    // else the policy does: a request that is not allowed costs nothing more. (JWT runs
    // in the router, before the route is chosen again with the claims.)
    if let Some(layer) = policy
        .and_then(|p| p.ext_auth.as_ref())
        .and_then(|config| ctx.ext_auth(config))
    {
        service = HttpService::new(layer.layer(service));
    }
    if let Some(Toggle::Enabled(config)) = policy.and_then(|p| p.api_key_auth.as_deref()) {
        service = HttpService::new(ApiKeyAuthLayer::new(config.clone()).layer(service));
    }
    if let Some(Toggle::Enabled(config)) = policy.and_then(|p| p.basic_auth.as_deref()) {
        service = HttpService::new(BasicAuthLayer::new(config.clone()).layer(service));
    }
    if let Some(acl) = policy.and_then(|p| p.acl.as_deref()) {
        service = HttpService::new(AclLayer::new(acl.clone()).layer(service));
    }
    // 0: CORS outermost, so preflights never reach a backend.
    let cors = rule
        .filters
        .iter()
        .find_map(|f| match f {
            FilterPlan::Cors(cors) => Some(cors),
            _ => None,
        })
        .or(policy.and_then(|p| p.cors.as_deref()));
    if let Some(cors) = cors {
        service = HttpService::new(CorsLayer::new(cors.clone()).layer(service));
    }
    // Outermost: the rule's request metrics, so every answer below is counted.
    if let Some(metrics) = metrics {
        service = HttpService::new(MetricsLayer::new(metrics).layer(service));
    }
    service
}

/// Response compression outside request decompression, each when configured and enabled.
fn compression_layers(config: &CompressionConfig, mut service: HttpService) -> HttpService {
    if let Some(Toggle::Enabled(decompression)) = &config.request {
        service =
            HttpService::new(RequestDecompressionLayer::new(decompression.clone()).layer(service));
    }
    if let Some(Toggle::Enabled(compression)) = &config.response {
        service =
            HttpService::new(ResponseCompressionLayer::new(compression.clone()).layer(service));
    }
    service
}

/// Wraps `inner` in a stream idle timeout; the watched bodies are boxed back into the
/// gateway's body type (one allocation per body, only on rules with the policy).
pub(crate) fn stream_idle(idle: Duration, inner: HttpService) -> HttpService {
    let inner = MapRequest::new(inner, |request: http::Request<IdleBody<BoxBody>>| {
        request.map(body::boxed)
    });
    HttpService::new(MapResponse::new(
        StreamIdleLayer::new(idle).layer(inner),
        |response: http::Response<IdleBody<BoxBody>>| response.map(body::boxed),
    ))
}

fn backend_service(
    backend: &BackendPlan,
    per_try: Option<Duration>,
    ctx: &mut BuildContext,
) -> HttpService {
    let mut service = ctx.target(&backend.target);
    if let Some(timeout) = per_try {
        service = HttpService::new(TimeoutLayer::new(timeout).layer(service));
    }
    filters(&backend.filters, service, ctx)
}

/// Wraps `inner` in `filters`, the first filter outermost (CORS is placed by the caller).
fn filters(filters: &[FilterPlan], inner: HttpService, ctx: &mut BuildContext) -> HttpService {
    filters
        .iter()
        .rev()
        .fold(inner, |service, filter| match filter {
            FilterPlan::RequestHeaderModifier(config) => {
                HttpService::new(HeaderModifierLayer::new(config.clone()).layer(service))
            }
            FilterPlan::ResponseHeaderModifier(config) => {
                HttpService::new(ResponseHeaderModifierLayer::new(config.clone()).layer(service))
            }
            FilterPlan::RequestRedirect(config) => {
                HttpService::new(RedirectLayer::new(config.clone()).layer(service))
            }
            FilterPlan::UrlRewrite(config) => {
                HttpService::new(UrlRewriteLayer::new(config.clone()).layer(service))
            }
            FilterPlan::RequestMirror { config, target } => {
                let target = ctx.target(target);
                HttpService::new(MirrorLayer::new(*config, target).layer(service))
            }
            FilterPlan::DirectResponse(config) => {
                HttpService::new(DirectResponseLayer::new(config.clone()).layer(service))
            }
            FilterPlan::Cors(_) => service,
        })
}
