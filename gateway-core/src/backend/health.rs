//! Active HTTP health checking: a background task per backend probes every endpoint each
//! interval and marks endpoints unhealthy or healthy again in the backend's state.
//!
//! Probes run over their own small pool (one idle connection per endpoint, like Envoy's
//! `reuse_connection`), with the backend's protocol (HTTP/1.1, or HTTP/2 for h2c), so they
//! neither count against circuit breakers nor take connections from traffic. The task stops
//! when the token is cancelled, which happens when the [`Backend`](super::Backend) is dropped.

use bytes::Bytes;
use http::{HeaderValue, Request, Uri, header::HOST, uri::Scheme};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use std::{sync::Arc, time::Duration};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{AppProtocol, policy::HealthCheck, state::BackendState};

/// Response bytes read from a probe so its connection can be reused; a larger body drops
/// the connection instead.
const MAX_PROBE_BODY: usize = 4096;

type ProbeClient = Client<HttpConnector, Empty<Bytes>>;

/// What one probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// An expected status.
    Healthy,
    /// No answer in time, or the connection failed: counts toward `unhealthyThreshold`.
    Failed,
    /// An unexpected status: unhealthy at once.
    Unhealthy,
}

/// Consecutive results of one endpoint.
#[derive(Clone, Copy, Debug, Default)]
struct Streak {
    /// Whether the endpoint has been probed yet.
    probed: bool,
    healthy: bool,
    successes: u32,
    failures: u32,
}

impl Streak {
    /// Folds `verdict` in; returns the endpoint's health when it changes.
    fn update(&mut self, verdict: Verdict, check: &HealthCheck) -> Option<bool> {
        let first = !self.probed;
        self.probed = true;
        match verdict {
            Verdict::Healthy => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if first || (!self.healthy && self.successes >= check.healthy_threshold.max(1)) {
                    self.healthy = true;
                    return Some(true);
                }
            }
            Verdict::Failed | Verdict::Unhealthy => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                let down = first
                    || verdict == Verdict::Unhealthy
                    || self.failures >= check.unhealthy_threshold.max(1);
                if down && (first || self.healthy) {
                    self.healthy = false;
                    return Some(false);
                }
            }
        }
        None
    }
}

/// Probes `state`'s endpoints every `check.interval` until `stop` is cancelled.
pub(super) async fn run(
    state: Arc<BackendState>,
    check: HealthCheck,
    protocol: AppProtocol,
    stop: CancellationToken,
) {
    let client = probe_client(&check, protocol);
    let requests: Vec<Option<Request<Empty<Bytes>>>> = state
        .hosts
        .iter()
        .map(|host| probe_request(&check, host.authority.clone()))
        .collect();
    let mut streaks = vec![Streak::default(); state.hosts.len()];
    // `interval` panics on zero; a validated policy never has it.
    let mut ticks = tokio::time::interval(check.interval.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let probes = requests
            .iter()
            .map(|request| probe(&client, &check, request.as_ref()));
        let verdicts = tokio::select! {
            () = stop.cancelled() => return,
            verdicts = futures_util::future::join_all(probes) => verdicts,
        };
        for (index, (verdict, streak)) in verdicts.into_iter().zip(&mut streaks).enumerate() {
            if let Some(healthy) = streak.update(verdict, &check) {
                if let Some(host) = state.hosts.get(index) {
                    tracing::debug!(endpoint = %host.addr, healthy, "health check changed endpoint health");
                }
                state.set_healthy(index, healthy);
            } else if verdict == Verdict::Healthy && streak.healthy {
                // A good probe of a healthy endpoint also ends an outlier ejection (Envoy's
                // `successful_active_health_check_uneject_host`, on by default).
                state.set_healthy(index, true);
            }
        }
    }
}

fn probe_client(check: &HealthCheck, protocol: AppProtocol) -> ProbeClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(check.timeout));
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(check.interval.saturating_mul(2).max(Duration::from_secs(1)));
    if protocol == AppProtocol::H2c {
        builder.http2_only(true);
    }
    builder.build(connector)
}

/// The probe request for the endpoint at `authority`, built once and cloned per probe.
fn probe_request(
    check: &HealthCheck,
    authority: Option<http::uri::Authority>,
) -> Option<Request<Empty<Bytes>>> {
    let uri = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(authority?)
        .path_and_query(check.http.path.clone())
        .build()
        .ok()?;
    let mut request = Request::builder()
        .method(check.http.method.clone())
        .uri(uri)
        .body(Empty::new())
        .ok()?;
    if let Some(host) = &check.http.host {
        request.headers_mut().insert(HOST, host.clone());
    }
    request.headers_mut().insert(
        http::header::USER_AGENT,
        HeaderValue::from_static("tower-gateway-health-check"),
    );
    Some(request)
}

async fn probe(
    client: &ProbeClient,
    check: &HealthCheck,
    template: Option<&Request<Empty<Bytes>>>,
) -> Verdict {
    let Some(template) = template else {
        return Verdict::Failed;
    };
    let mut request = Request::new(Empty::new());
    *request.method_mut() = template.method().clone();
    *request.uri_mut() = template.uri().clone();
    *request.headers_mut() = template.headers().clone();
    let exchange = async {
        let response = client.request(request).await.ok()?;
        let status = response.status().as_u16();
        // Reading a small body lets the connection be reused; its content is not checked.
        let _ = Limited::new(response.into_body(), MAX_PROBE_BODY)
            .collect()
            .await;
        Some(status)
    };
    match tokio::time::timeout(check.timeout, exchange).await {
        Ok(Some(status)) if check.http.is_expected(status) => Verdict::Healthy,
        Ok(Some(_)) => Verdict::Unhealthy,
        Ok(None) | Err(_) => Verdict::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::policy::HttpHealthCheck;

    fn check(unhealthy_threshold: u32, healthy_threshold: u32) -> HealthCheck {
        HealthCheck {
            timeout: Duration::from_secs(1),
            interval: Duration::from_secs(5),
            unhealthy_threshold,
            healthy_threshold,
            http: HttpHealthCheck::get("/healthz".parse().unwrap()),
        }
    }

    #[test]
    fn thresholds_and_first_probe() {
        let check = check(2, 3);
        // The first probe decides either way.
        assert_eq!(
            Streak::default().update(Verdict::Failed, &check),
            Some(false)
        );
        let mut streak = Streak::default();
        assert_eq!(streak.update(Verdict::Healthy, &check), Some(true));
        // Then `unhealthyThreshold` failures in a row...
        assert_eq!(streak.update(Verdict::Failed, &check), None);
        assert_eq!(streak.update(Verdict::Healthy, &check), None);
        assert_eq!(streak.update(Verdict::Failed, &check), None);
        assert_eq!(streak.update(Verdict::Failed, &check), Some(false));
        // ... and `healthyThreshold` successes in a row.
        assert_eq!(streak.update(Verdict::Healthy, &check), None);
        assert_eq!(streak.update(Verdict::Healthy, &check), None);
        assert_eq!(streak.update(Verdict::Healthy, &check), Some(true));
        // An unexpected status is unhealthy at once.
        assert_eq!(streak.update(Verdict::Unhealthy, &check), Some(false));
        assert_eq!(streak.update(Verdict::Unhealthy, &check), None);
    }
}
