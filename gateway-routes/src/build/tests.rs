//! What one build hands the next: route metric handles carried across reloads.

use gateway_core::{Limits, backend::UpstreamClient, body, metrics::Metrics};
use std::sync::Arc;

use super::{BuildContext, SocketRouter, socket_router};
use crate::{
    compile::test_support::{CONTROLLER, compile_yaml},
    fixtures,
    plan::Plan,
};

/// The test Gateway with one route per `(name, hostname)`, each sending to a Service that
/// does not exist: the rules answer 500 themselves, without any I/O.
fn plan(routes: &[(&str, &str)]) -> Plan {
    let mut yaml = fixtures::gateway(CONTROLLER, fixtures::HTTP_LISTENER);
    for (name, hostname) in routes {
        yaml.push_str(&fixtures::route(name, hostname, "/", "missing"));
    }
    compile_yaml(&yaml).plan
}

fn router(plan: &Plan, ctx: &mut BuildContext) -> SocketRouter {
    socket_router(&[&plan.gateways[0].listeners[0]], ctx)
}

async fn send(router: &SocketRouter, host: &str) {
    let request = http::Request::builder()
        .uri("/")
        .header(http::header::HOST, host)
        .body(body::empty())
        .unwrap();
    let response = router.route(request).await.unwrap();
    assert_eq!(response.status(), 500);
}

/// The value of the `5xx` request counter of `route`, if it has one.
fn errors(metrics: &Metrics, route: &str) -> Option<String> {
    let mut text = String::new();
    metrics.encode(&mut text).unwrap();
    text.lines()
        .find(|line| {
            line.starts_with("gateway_requests_total{")
                && line.contains(&format!("route=\"default/{route}\""))
                && line.contains("code_class=\"5xx\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .map(str::to_owned)
}

#[tokio::test]
async fn route_metrics_carry_to_the_next_build_of_the_same_registry_only() {
    let client = UpstreamClient::new(&Limits::default());
    let metrics = Arc::new(Metrics::new());

    let mut first = BuildContext::new(client.clone()).with_metrics(metrics.clone());
    let before = router(&plan(&[("a", "a.example")]), &mut first);
    send(&before, "a.example").await;

    // A reload adds route b: a keeps counting in its series, b gets its own.
    let mut second = BuildContext::new(client.clone())
        .with_metrics(metrics.clone())
        .with_carry(first.into_carry());
    let after = router(
        &plan(&[("a", "a.example"), ("b", "b.example")]),
        &mut second,
    );
    // Building b created no series for it: they appear with its first answer.
    assert_eq!(errors(&metrics, "b"), None);
    send(&after, "a.example").await;
    send(&after, "b.example").await;
    assert_eq!(errors(&metrics, "a").as_deref(), Some("2"));
    assert_eq!(errors(&metrics, "b").as_deref(), Some("1"));

    // A build recording into another registry resolves its own handles rather than
    // reusing those of the registry the carry came from.
    let other = Arc::new(Metrics::new());
    let mut third = BuildContext::new(client)
        .with_metrics(other.clone())
        .with_carry(second.into_carry());
    let elsewhere = router(&plan(&[("a", "a.example")]), &mut third);
    send(&elsewhere, "a.example").await;
    assert_eq!(errors(&other, "a").as_deref(), Some("1"));
    assert_eq!(errors(&metrics, "a").as_deref(), Some("2"));
}
