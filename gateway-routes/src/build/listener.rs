//! The layers a ListenerPolicy puts in front of a socket's router.
//!
//! Outermost first: client address (so everything below sees the computed client), request
//! id, tracing (so the trace id and the client are known, and the span covers everything
//! the gateway does), access log (so it logs every request, health checks and unrouted ones
//! included), health check answers, early request header changes, the listener's stream
//! idle timeout, then the router.

use gateway_core::{BoxBody, HttpService, body};
use gateway_filters::{
    access_log::{AccessLogLayer, RequestBody, ResponseBody},
    client_addr::ClientAddrLayer,
    header_modifier::HeaderModifierLayer,
    health_check::HealthCheckLayer,
    request_id::RequestIdLayer,
};
use tower::{
    Layer,
    util::{MapRequest, MapResponse},
};

use super::stack::{BuildContext, stream_idle};
use crate::plan::ListenerHttpPlan;

/// Wraps a socket's router in its listener policy's layers; a tracer that cannot be made
/// is left out and reported in `warnings`.
pub(crate) fn listener_service(
    policy: &ListenerHttpPlan,
    router: HttpService,
    ctx: &mut BuildContext,
    warnings: &mut Vec<String>,
) -> HttpService {
    let mut service = router;
    if let Some(idle) = policy.stream_idle_timeout {
        service = stream_idle(idle, service);
    }
    if let Some(modifier) = &policy.early_request_header_modifier {
        service = HttpService::new(HeaderModifierLayer::new(modifier.clone()).layer(service));
    }
    if let Some(health) = &policy.health_check {
        service = HttpService::new(HealthCheckLayer::new(health.clone()).layer(service));
    }
    if let Some(log) = &policy.access_log {
        let inner = MapRequest::new(service, |request: http::Request<RequestBody<BoxBody>>| {
            request.map(body::boxed)
        });
        service = HttpService::new(MapResponse::new(
            AccessLogLayer::new(log.clone()).layer(inner),
            |response: http::Response<ResponseBody<BoxBody>>| response.map(body::boxed),
        ));
    }
    if let Some(tracing) = &policy.tracing {
        match ctx.tracer(tracing) {
            Ok(layer) => service = HttpService::new(layer.layer(service)),
            Err(error) => warnings.push(format!("{}: tracing is off: {error}", policy.source)),
        }
    }
    service = HttpService::new(RequestIdLayer::new(policy.request_id).layer(service));
    HttpService::new(ClientAddrLayer::new(policy.client_addr.clone()).layer(service))
}
