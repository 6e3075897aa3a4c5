use http::StatusCode;
use std::{collections::BTreeMap, convert::Infallible, sync::Arc, time::Duration};
use tokio::sync::Notify;
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::{
    Request, Response, ResponseFlag, body, error::local_response, extensions::ResourceRef,
};

const ROUTE: &str = r#"gateway="default/gw",listener="http",route="default/api",rule="0""#;
const BACKEND: &str = r#"backend="default/echo:8080""#;

fn route_labels() -> RouteLabels {
    RouteLabels::new("default/gw", "http", "default/api", "0")
}

fn backend_labels() -> BackendLabels {
    BackendLabels::new("default/echo:8080")
}

fn exposition(metrics: &Metrics) -> String {
    let mut text = String::new();
    metrics.encode(&mut text).unwrap();
    text
}

/// Sample lines as `series -> value`, where `series` is the name with its labels exactly as
/// exposed.
fn samples(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_owned(), value.to_owned())
        })
        .collect()
}

fn value(samples: &BTreeMap<String, String>, series: &str) -> Option<String> {
    samples.get(series).cloned()
}

fn plain(status: StatusCode) -> Response {
    let mut response = http::Response::new(body::empty());
    *response.status_mut() = status;
    response
}

/// Answers according to the path; `/sleep/<ms>` waits that long, then answers 200.
async fn answer(request: Request) -> Result<Response, Infallible> {
    let path = request.uri().path();
    let response = match path {
        "/switch" => plain(StatusCode::SWITCHING_PROTOCOLS),
        "/ok" => plain(StatusCode::OK),
        "/moved" => plain(StatusCode::MOVED_PERMANENTLY),
        "/missing" => plain(StatusCode::NOT_FOUND),
        "/limited" => local_response(StatusCode::TOO_MANY_REQUESTS, ResponseFlag::RateLimited),
        "/retried" => {
            // An upstream 503 the retry layer marked once the retries ran out.
            let mut response = plain(StatusCode::SERVICE_UNAVAILABLE);
            response
                .extensions_mut()
                .insert(ResponseFlag::UpstreamRetryLimitExceeded);
            response
        }
        _ => match path.strip_prefix("/sleep/") {
            Some(ms) => {
                tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                plain(StatusCode::OK)
            }
            None => plain(StatusCode::IM_A_TEAPOT),
        },
    };
    Ok(response)
}

fn request(path: &str) -> Request {
    http::Request::get(path).body(body::empty()).unwrap()
}

async fn send<S>(service: &S, path: &str) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    service.clone().oneshot(request(path)).await.unwrap()
}

#[tokio::test]
async fn route_layer_counts_status_classes_and_flags() {
    let metrics = Metrics::new();
    let route = metrics.route(&route_labels());
    let service = MetricsLayer::new(&route).layer(tower::service_fn(answer));
    for path in [
        "/switch", "/ok", "/ok", "/moved", "/missing", "/limited", "/limited", "/limited",
        "/retried",
    ] {
        send(&service, path).await;
    }

    let text = exposition(&metrics);
    let samples = samples(&text);
    let class = |class: &str| {
        value(
            &samples,
            &format!(r#"gateway_requests_total{{{ROUTE},code_class="{class}"}}"#),
        )
    };
    assert_eq!(class("1xx").as_deref(), Some("1"));
    assert_eq!(class("2xx").as_deref(), Some("2"));
    assert_eq!(class("3xx").as_deref(), Some("1"));
    assert_eq!(class("4xx").as_deref(), Some("4"));
    assert_eq!(class("5xx").as_deref(), Some("1"));

    let flag = |flag: &str| {
        value(
            &samples,
            &format!(r#"gateway_response_flags_total{{{ROUTE},flag="{flag}"}}"#),
        )
    };
    assert_eq!(flag("RL").as_deref(), Some("3"));
    assert_eq!(flag("URX").as_deref(), Some("1"));
    // Flags that never happened have no series at all.
    assert_eq!(flag("UF"), None);
    assert_eq!(
        samples
            .keys()
            .filter(|series| series.starts_with("gateway_response_flags_total"))
            .count(),
        2
    );

    assert_eq!(
        value(
            &samples,
            &format!("gateway_request_duration_seconds_count{{{ROUTE}}}")
        )
        .as_deref(),
        Some("9")
    );
    // Nothing upstream was recorded, and no backend was resolved.
    assert!(!text.contains("gateway_upstream"), "{text}");

    for line in [
        "# TYPE gateway_requests counter",
        "# TYPE gateway_response_flags counter",
        "# TYPE gateway_request_duration_seconds histogram",
        "# UNIT gateway_request_duration_seconds seconds",
        "# TYPE gateway_retries counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn durations_land_in_envoy_buckets() {
    let metrics = Metrics::new();
    let route = metrics.route(&route_labels());
    let service = MetricsLayer::new(&route).layer(tower::service_fn(answer));
    for path in ["/sleep/3", "/sleep/40", "/sleep/2000", "/sleep/90000"] {
        send(&service, path).await;
    }

    let samples = samples(&exposition(&metrics));
    let bucket = |le: &str| {
        value(
            &samples,
            &format!(r#"gateway_request_duration_seconds_bucket{{le="{le}",{ROUTE}}}"#),
        )
        .unwrap()
    };
    // Cumulative counts: 3 ms, 40 ms, 2 s and 90 s.
    let expected = [
        ("0.0005", "0"),
        ("0.001", "0"),
        ("0.005", "1"),
        ("0.01", "1"),
        ("0.025", "1"),
        ("0.05", "2"),
        ("0.1", "2"),
        ("0.25", "2"),
        ("0.5", "2"),
        ("1.0", "2"),
        ("2.5", "3"),
        ("5.0", "3"),
        ("10.0", "3"),
        ("30.0", "3"),
        ("60.0", "3"),
        ("+Inf", "4"),
    ];
    for (le, count) in expected {
        assert_eq!(bucket(le), count, "le={le}");
    }
    assert_eq!(
        samples
            .keys()
            .filter(|series| series.starts_with("gateway_request_duration_seconds_bucket"))
            .count(),
        expected.len()
    );
    assert_eq!(
        value(
            &samples,
            &format!("gateway_request_duration_seconds_sum{{{ROUTE}}}")
        )
        .as_deref(),
        Some("92.043")
    );
    assert_eq!(
        value(
            &samples,
            &format!("gateway_request_duration_seconds_count{{{ROUTE}}}")
        )
        .as_deref(),
        Some("4")
    );
}

#[tokio::test]
async fn upstream_layer_tracks_in_flight_errors_and_abandoned_tries() {
    let metrics = Metrics::new();
    let backend = metrics.backend(&backend_labels());
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let mut service =
        MetricsLayer::upstream(&backend).layer(tower::service_fn(move |request: Request| {
            let gate = gate.clone();
            async move {
                if request.uri().path() == "/refused" {
                    gate.notified().await;
                    return Ok::<_, Infallible>(local_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ResponseFlag::UpstreamConnectionFailure,
                    ));
                }
                Ok(plain(StatusCode::OK))
            }
        }));
    let active = format!("gateway_upstream_active_requests{{{BACKEND}}}");
    let upstream_class = |samples: &BTreeMap<String, String>, class: &str| {
        value(
            samples,
            &format!(r#"gateway_upstream_requests_total{{{BACKEND},code_class="{class}"}}"#),
        )
        .unwrap()
    };

    let pending = service.ready().await.unwrap().call(request("/refused"));
    let samples_now = samples(&exposition(&metrics));
    assert_eq!(value(&samples_now, &active).as_deref(), Some("1"));
    assert_eq!(upstream_class(&samples_now, "5xx"), "0");

    release.notify_one();
    let response = pending.await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let samples_now = samples(&exposition(&metrics));
    assert_eq!(value(&samples_now, &active).as_deref(), Some("0"));
    assert_eq!(upstream_class(&samples_now, "5xx"), "1");
    assert_eq!(
        value(
            &samples_now,
            &format!(r#"gateway_upstream_errors_total{{{BACKEND},flag="UF"}}"#)
        )
        .as_deref(),
        Some("1")
    );

    // A try abandoned before its answer (an outer timeout) leaves the gauge and counts
    // nothing as answered.
    let abandoned = service.ready().await.unwrap().call(request("/refused"));
    assert_eq!(
        value(&samples(&exposition(&metrics)), &active).as_deref(),
        Some("1")
    );
    drop(abandoned);

    send(&service, "/ok").await;
    let samples_now = samples(&exposition(&metrics));
    assert_eq!(value(&samples_now, &active).as_deref(), Some("0"));
    assert_eq!(upstream_class(&samples_now, "5xx"), "1");
    assert_eq!(upstream_class(&samples_now, "2xx"), "1");
    assert_eq!(
        value(
            &samples_now,
            &format!("gateway_upstream_request_duration_seconds_count{{{BACKEND}}}")
        )
        .as_deref(),
        Some("2")
    );
    // Only the upstream families have series.
    assert!(
        samples_now
            .keys()
            .all(|series| series.starts_with("gateway_upstream_")),
        "{samples_now:#?}"
    );
}

#[tokio::test]
async fn errors_are_not_answers() {
    let metrics = Metrics::new();
    let backend = metrics.backend(&backend_labels());
    let service = MetricsLayer::upstream(&backend).layer(tower::service_fn(|_: Request| async {
        Err::<Response, _>("connection-level failure")
    }));
    assert!(service.oneshot(request("/")).await.is_err());
    let samples = samples(&exposition(&metrics));
    assert_eq!(
        value(
            &samples,
            &format!("gateway_upstream_active_requests{{{BACKEND}}}")
        )
        .as_deref(),
        Some("0")
    );
    assert_eq!(
        value(
            &samples,
            &format!("gateway_upstream_request_duration_seconds_count{{{BACKEND}}}")
        )
        .as_deref(),
        Some("0")
    );
    assert!(
        samples
            .iter()
            .filter(|(series, _)| series.starts_with("gateway_upstream_requests_total"))
            .all(|(_, value)| value == "0")
    );
}

#[tokio::test]
async fn resolving_again_continues_the_same_series_and_policy_counters_land() {
    let metrics = Metrics::new();
    // A reload builds the rule's stack again with the same labels.
    let first = metrics.route(&route_labels());
    let second = metrics.route(&route_labels());
    let other = metrics.route(&RouteLabels::new("default/gw", "http", "default/api", "1"));
    send(
        &MetricsLayer::new(&first).layer(tower::service_fn(answer)),
        "/ok",
    )
    .await;
    send(
        &MetricsLayer::new(&second).layer(tower::service_fn(answer)),
        "/ok",
    )
    .await;
    send(
        &MetricsLayer::new(&other).layer(tower::service_fn(answer)),
        "/missing",
    )
    .await;

    first.retries().inc();
    second.retries().clone().inc_by(2);
    let backend = metrics.backend(&backend_labels());
    metrics.backend(&backend_labels()).ejections().inc();
    assert_eq!(backend.ejections().get(), 1);
    assert_eq!(first.labels(), &route_labels());
    assert_eq!(backend.labels(), &backend_labels());

    // A counter registered nowhere counts but is not exposed.
    let detached = PolicyCounter::default();
    detached.inc();
    assert_eq!(detached.get(), 1);

    let samples = samples(&exposition(&metrics));
    let other_labels = r#"gateway="default/gw",listener="http",route="default/api",rule="1""#;
    let expected = [
        (
            format!(r#"gateway_requests_total{{{ROUTE},code_class="2xx"}}"#),
            "2",
        ),
        (
            format!(r#"gateway_requests_total{{{ROUTE},code_class="4xx"}}"#),
            "0",
        ),
        (
            format!(r#"gateway_requests_total{{{other_labels},code_class="4xx"}}"#),
            "1",
        ),
        (
            format!(r#"gateway_requests_total{{{other_labels},code_class="2xx"}}"#),
            "0",
        ),
        (format!("gateway_retries_total{{{ROUTE}}}"), "3"),
        (format!("gateway_retries_total{{{other_labels}}}"), "0"),
        (
            format!("gateway_upstream_ejections_total{{{BACKEND}}}"),
            "1",
        ),
    ];
    for (series, count) in &expected {
        assert_eq!(
            value(&samples, series).as_deref(),
            Some(*count),
            "{series} in {samples:#?}"
        );
    }
}

#[test]
fn labels_from_plan_references() {
    let listener = ResourceRef::new("gateway.networking.k8s.io", "Gateway", "infra", "edge")
        .with_section("https");
    let rule = ResourceRef::new("gateway.networking.k8s.io", "HTTPRoute", "shop", "cart")
        .with_section("checkout");
    assert_eq!(
        RouteLabels::from_refs(&listener, Some(&rule)),
        RouteLabels::new("infra/edge", "https", "shop/cart", "checkout")
    );
    assert_eq!(
        RouteLabels::from_refs(&listener, None),
        RouteLabels::new("infra/edge", "https", "", "")
    );
    let other = ResourceRef::new("gateway.networking.k8s.io", "HTTPRoute", "shop", "cart")
        .with_section("0");
    assert_eq!(
        RouteLabels::from_refs(&listener, None).for_rule(&other),
        RouteLabels::new("infra/edge", "https", "shop/cart", "0")
    );

    let service = ResourceRef::new("", "Service", "shop", "cart").with_section("8080");
    assert_eq!(
        BackendLabels::from_ref(&service),
        BackendLabels::new("shop/cart:8080")
    );
    let backend = ResourceRef::new("gateway.kgateway.dev", "Backend", "shop", "llm");
    assert_eq!(
        BackendLabels::from_ref(&backend),
        BackendLabels::new("Backend/shop/llm")
    );
}

#[tokio::test]
async fn label_values_are_escaped() {
    let metrics = Metrics::new();
    let route = metrics.route(&RouteLabels::new("ns/gw", "l", "ns/r", "a\"b"));
    send(
        &MetricsLayer::new(&route).layer(tower::service_fn(answer)),
        "/ok",
    )
    .await;
    let text = exposition(&metrics);
    assert!(
        text.contains(r#"gateway_requests_total{gateway="ns/gw",listener="l",route="ns/r",rule="a\"b",code_class="2xx"} 1"#),
        "{text}"
    );
}

/// Whether the exposition has any `gateway_requests_total` series for the test route.
fn has_route_series(metrics: &Metrics) -> bool {
    exposition(metrics)
        .lines()
        .any(|line| line.starts_with("gateway_") && line.contains(ROUTE))
}

#[tokio::test]
async fn route_series_appear_at_the_first_answer() {
    let metrics = Metrics::new();
    let route = metrics.route(&route_labels());
    let service = MetricsLayer::new(&route).layer(tower::service_fn(answer));
    // Building the stack created nothing: an exposition without any series (empty
    // families are left out).
    assert!(!has_route_series(&metrics));
    assert_eq!(exposition(&metrics), "# EOF\n");

    send(&service, "/ok").await;
    let samples = samples(&exposition(&metrics));
    // The first answer created every series of the rule at once.
    for (class, count) in [
        ("1xx", "0"),
        ("2xx", "1"),
        ("3xx", "0"),
        ("4xx", "0"),
        ("5xx", "0"),
    ] {
        assert_eq!(
            value(
                &samples,
                &format!(r#"gateway_requests_total{{{ROUTE},code_class="{class}"}}"#)
            )
            .as_deref(),
            Some(count),
            "{class} in {samples:#?}"
        );
    }
    assert_eq!(
        value(&samples, &format!("gateway_retries_total{{{ROUTE}}}")).as_deref(),
        Some("0")
    );
    assert_eq!(
        value(
            &samples,
            &format!("gateway_request_duration_seconds_count{{{ROUTE}}}")
        )
        .as_deref(),
        Some("1")
    );
}

#[tokio::test]
async fn register_and_retries_create_the_series_without_an_answer() {
    let metrics = Metrics::new();
    let registered = metrics.route(&route_labels());
    registered.register();
    registered.register();
    let samples_now = samples(&exposition(&metrics));
    assert_eq!(
        value(
            &samples_now,
            &format!(r#"gateway_requests_total{{{ROUTE},code_class="2xx"}}"#)
        )
        .as_deref(),
        Some("0")
    );

    // A retry is a first use too, and reading a counter sees every handle of its labels.
    let other_labels = RouteLabels::new("default/gw", "http", "default/api", "1");
    let retried = metrics.route(&other_labels);
    retried.retries().inc();
    assert_eq!(metrics.route(&other_labels).retries().get(), 1);
    let samples_now = samples(&exposition(&metrics));
    let other = r#"gateway="default/gw",listener="http",route="default/api",rule="1""#;
    assert_eq!(
        value(&samples_now, &format!("gateway_retries_total{{{other}}}")).as_deref(),
        Some("1")
    );
    assert_eq!(
        value(
            &samples_now,
            &format!(r#"gateway_requests_total{{{other},code_class="5xx"}}"#)
        )
        .as_deref(),
        Some("0")
    );
}

#[test]
fn concurrent_first_answers_share_one_set_of_series() {
    const THREADS: usize = 8;
    const ANSWERS: usize = 500;
    let metrics = Metrics::new();
    // Two handles of the same labels (two builds), used from many threads at once: every
    // first use races to create the series, and no answer may land in a lost cell.
    let handles = [
        metrics.route(&route_labels()),
        metrics.route(&route_labels()),
    ];
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let recording = handles[thread % 2].recording();
            let retries = handles[thread % 2].retries().clone();
            scope.spawn(move || {
                for _ in 0..ANSWERS {
                    recording.answered(StatusCode::OK, None, Duration::from_millis(1));
                    retries.inc();
                }
            });
        }
    });
    let samples = samples(&exposition(&metrics));
    let total = (THREADS * ANSWERS).to_string();
    assert_eq!(
        value(
            &samples,
            &format!(r#"gateway_requests_total{{{ROUTE},code_class="2xx"}}"#)
        ),
        Some(total.clone())
    );
    assert_eq!(
        value(&samples, &format!("gateway_retries_total{{{ROUTE}}}")),
        Some(total.clone())
    );
    assert_eq!(
        value(
            &samples,
            &format!("gateway_request_duration_seconds_count{{{ROUTE}}}")
        ),
        Some(total)
    );
}
