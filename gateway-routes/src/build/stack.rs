//! The one place where the order of a rule's layers is written.
//!
//! Outermost first:
//! 1. CORS: a preflight is answered before anything else runs, and every response is
//!    decorated with the CORS headers (the rule's `CORS` filter, else the TrafficPolicy's).
//! 2. The TrafficPolicy's stream idle timeout (`timeouts.streamIdle`), then the request
//!    timeout (`timeouts.request`, else the TrafficPolicy's): bound everything below,
//!    retries included.
//! 3. The TrafficPolicy's `headerModifiers`.
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

use gateway_core::{
    BoxBody, HttpService, Request, ResponseFlag,
    backend::{Backend, BackendService, UpstreamClient},
    body,
    error::local_response,
};
use gateway_filters::{
    cors::CorsLayer,
    header_modifier::{HeaderModifierLayer, ResponseHeaderModifierLayer},
    mirror::MirrorLayer,
    redirect::RedirectLayer,
    retry::RetryLayer,
    stream_idle::{IdleBody, StreamIdleLayer},
    timeout::TimeoutLayer,
    url_rewrite::UrlRewriteLayer,
};
use http::StatusCode;
use std::{collections::HashMap, convert::Infallible, sync::Arc, time::Duration};
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
}

impl BuildContext {
    /// A context sending upstream traffic through `client`.
    pub fn new(client: UpstreamClient) -> Self {
        Self {
            client,
            backends: HashMap::new(),
        }
    }

    /// The service for a backend target; invalid targets answer 500.
    pub(crate) fn target(&mut self, target: &BackendTarget) -> HttpService {
        match target {
            BackendTarget::Invalid { .. } => answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                ResponseFlag::InvalidBackend,
            ),
            BackendTarget::Resolved(resolved) => {
                if let Some(service) = self.backends.get(resolved) {
                    return service.clone();
                }
                let backend = Backend::new(resolved.endpoints.clone(), protocol(resolved));
                let service =
                    HttpService::new(BackendService::new(self.client.clone(), Arc::new(backend)));
                self.backends.insert(resolved.clone(), service.clone());
                service
            }
        }
    }

    /// The upstream client (TLS routes dial through their own TCP path but share limits).
    pub fn client(&self) -> &UpstreamClient {
        &self.client
    }
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
pub(crate) fn rule_service(rule: &RulePlan, ctx: &mut BuildContext) -> HttpService {
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
        service = HttpService::new(RetryLayer::new(retry.clone()).layer(service));
    }
    // 4: the rule's filters, first filter outermost.
    service = filters(&rule.filters, service, ctx);
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
    // 1: CORS outermost, so preflights never reach a backend.
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
    service
}

/// Wraps `inner` in a stream idle timeout; the watched bodies are boxed back into the
/// gateway's body type (one allocation per body, only on rules with the policy).
fn stream_idle(idle: Duration, inner: HttpService) -> HttpService {
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
            FilterPlan::Cors(_) => service,
        })
}
