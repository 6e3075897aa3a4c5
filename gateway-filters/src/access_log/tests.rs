//! Format parsing and rendering, filters, the body and future bookkeeping, the writer
//! threads (real files in a temporary directory, a FIFO for the full queue), kgateway's
//! documented examples, and the listener policies together behind the real listener.

use bytes::Bytes;
use gateway_core::{
    BoxBody, HttpService, Limits, ResponseFlag,
    backend::UpstreamEndpoint,
    body,
    extensions::{ClientAddr, ConnectionInfo, MatchedRoute, RequestId, ResourceRef},
    listener::{SocketManager, SocketState},
    test_util::http1_client,
};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tempfile::TempDir;
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

use super::{format::Template, sink::Sink, time::TimeFormat, *};
use crate::{
    client_addr::{ClientAddrLayer, ClientAddrSpec},
    health_check::{HealthCheckConfig, HealthCheckLayer, HealthCheckResponse},
    request_id::{RequestIdConfig, RequestIdLayer},
};

// === helpers ===

/// A log file in its own temporary directory and the layer writing it.
struct Harness {
    _dir: TempDir,
    path: PathBuf,
    layer: AccessLogLayer,
}

impl Harness {
    /// One `accessLog` entry: `file_sink` gets the path filled in.
    fn new(mut file_sink: Value, filter: Option<Value>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        file_sink["path"] = json!(path);
        let mut entry = json!({ "fileSink": file_sink });
        if let Some(filter) = filter {
            entry["filter"] = filter;
        }
        let specs: Vec<AccessLogSpec> = serde_json::from_value(json!([entry])).unwrap();
        let layer = AccessLogLayer::new(compile(&specs).unwrap());
        Self {
            _dir: dir,
            path,
            layer,
        }
    }

    fn text(format: &str) -> Self {
        Self::new(json!({ "stringFormat": format }), None)
    }

    fn json(format: Value) -> Self {
        Self::new(json!({ "jsonFormat": format }), None)
    }

    /// The lines written so far.
    fn lines(&self) -> Vec<String> {
        self.layer.flush();
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines, parsed as JSON.
    fn objects(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Sends `request` to `backend` through the layer and reads the whole response body.
    async fn send<S, B>(&self, backend: S, request: Request<Full<Bytes>>) -> Response<Bytes>
    where
        S: tower::Service<
                Request<RequestBody<Full<Bytes>>>,
                Response = Response<B>,
                Error = Infallible,
            >,
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Debug,
    {
        let response = self.layer.layer(backend).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Response::from_parts(parts, bytes)
    }
}

/// A backend that reads the request body and answers `status` with `text`, with
/// `extend` adding to the response.
fn backend(
    status: StatusCode,
    text: &'static str,
    extend: impl Fn(&mut http::response::Parts) + Clone + Send + 'static,
) -> impl tower::Service<
    Request<RequestBody<Full<Bytes>>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future + Send,
> + Clone {
    service_fn(move |request: Request<RequestBody<Full<Bytes>>>| {
        let extend = extend.clone();
        async move {
            request.into_body().collect().await.unwrap();
            let (mut parts, body) = Response::new(Full::new(Bytes::from(text))).into_parts();
            parts.status = status;
            extend(&mut parts);
            Ok::<_, Infallible>(Response::from_parts(parts, body))
        }
    })
}

fn ok_backend() -> impl tower::Service<
    Request<RequestBody<Full<Bytes>>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future + Send,
> + Clone {
    backend(StatusCode::OK, "hello", |_| {})
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

/// A body that sends one chunk after `delay`, then either ends or never does.
struct SlowBody {
    sleep: Pin<Box<tokio::time::Sleep>>,
    chunk: Option<Bytes>,
    ends: bool,
}

impl SlowBody {
    fn new(delay: Duration, chunk: &'static str, ends: bool) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep(delay)),
            chunk: Some(Bytes::from(chunk)),
            ends,
        }
    }
}

impl Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.chunk.is_some() {
            std::task::ready!(self.sleep.as_mut().poll(cx));
            return Poll::Ready(self.chunk.take().map(|chunk| Ok(Frame::data(chunk))));
        }
        if self.ends {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

// === format parsing ===

#[test]
fn envoy_default_format_parses() {
    assert!(Template::text(ENVOY_DEFAULT_FORMAT).is_ok());
    assert!(!LogFormat::envoy_default().template.parts.is_empty());
}

#[test]
fn unknown_operators_and_bad_syntax_are_errors_naming_the_field() {
    for (format, reason) in [
        ("%FOO%", "unknown command operator %FOO%"),
        ("%REQ%", "needs a header name"),
        ("%REQ()%", "needs a header name"),
        ("%REQ(:bogus)%", "not a request pseudo-header"),
        ("%REQ(bad header)%", "not a header name"),
        ("%RESP(:status)%", "pseudo-headers are not supported"),
        ("%DURATION(x)%", "takes no arguments"),
        ("%REQ(a", "no closing )"),
        ("%DURATION", "not closed with %"),
        ("%DURATION:x%", "must be followed by a length"),
        ("100% sure", "starts no command operator"),
        ("%START_TIME(%Q)%", "%Q is not supported"),
        ("%PATH(XQ)%", "expected WQ or NQ"),
        ("%PATH(WQ:NOPE)%", "expected ORIG, PATH or ORIG_OR_PATH"),
    ] {
        let spec: AccessLogSpec = serde_json::from_value(
            json!({ "fileSink": { "path": "/dev/null", "stringFormat": format } }),
        )
        .unwrap();
        let error = spec.compile().unwrap_err();
        assert_eq!(error.field, "fileSink.stringFormat", "{format}");
        assert!(error.reason.contains(reason), "{format}: {error}");
    }
    let specs: Vec<AccessLogSpec> = serde_json::from_value(json!([
        { "fileSink": { "path": "/dev/null" } },
        { "fileSink": { "path": "/dev/null", "jsonFormat": { "outer": { "inner": "%NOPE%" } } } },
    ]))
    .unwrap();
    let error = compile(&specs).unwrap_err();
    assert_eq!(error.field, "[1].fileSink.jsonFormat.outer.inner");
    assert!(error.reason.contains("%NOPE%"), "{error}");
}

#[test]
fn spec_errors_name_their_fields() {
    for (entry, field, reason) in [
        (json!({}), "fileSink", "only file sinks"),
        (
            json!({ "fileSink": { "path": "" } }),
            "fileSink.path",
            "must name a file",
        ),
        (
            json!({ "fileSink": { "path": "/x", "stringFormat": "a", "jsonFormat": {} } }),
            "fileSink",
            "exactly one of",
        ),
        (
            json!({ "fileSink": { "path": "/x", "jsonFormat": "%DURATION%" } }),
            "fileSink.jsonFormat",
            "must be an object",
        ),
        (
            json!({ "fileSink": { "path": "/x" }, "filter": {} }),
            "filter",
            "exactly one filter",
        ),
        (
            json!({ "fileSink": { "path": "/x" }, "filter": {
                "statusCodeFilter": { "op": "GE", "value": 400 },
                "notHealthCheckFilter": true,
            } }),
            "filter",
            "exactly one filter",
        ),
        (
            json!({ "fileSink": { "path": "/x" }, "filter": {
                "andFilter": [ { "notHealthCheckFilter": true } ],
            } }),
            "filter.andFilter",
            "at least two",
        ),
        (
            json!({ "fileSink": { "path": "/x" }, "filter": {
                "orFilter": [ { "notHealthCheckFilter": true }, { "responseFlagFilter": { "flags": ["XX"] } } ],
            } }),
            "filter.orFilter[1].responseFlagFilter.flags[0]",
            "not a response flag",
        ),
        (
            json!({ "fileSink": { "path": "/x" }, "filter": {
                "statusCodeFilter": { "op": "EQ", "value": -1 },
            } }),
            "filter.statusCodeFilter.value",
            "not in 0..=4294967295",
        ),
        (
            json!({ "fileSink": { "path": "/x" }, "filter": {
                "headerFilter": { "header": { "type": "RegularExpression", "name": "x-a", "value": "(" } },
            } }),
            "filter.headerFilter.header.value",
            "invalid regular expression",
        ),
        (
            json!({ "fileSink": { "path": "/x" }, "filter": {
                "headerFilter": { "header": { "name": "bad name", "value": "v" } },
            } }),
            "filter.headerFilter.header.name",
            "not a header name",
        ),
    ] {
        let spec: AccessLogSpec = serde_json::from_value(entry.clone()).unwrap();
        let error = spec.compile().unwrap_err();
        assert_eq!(error.field, field, "{entry}");
        assert!(error.reason.contains(reason), "{entry}: {error}");
    }
}

#[test]
fn start_time_formats() {
    let at = |secs, nanos| Duration::new(secs, nanos);
    let render = |format: &TimeFormat, since: Duration| {
        let mut out = Vec::new();
        format.render(since, &mut out);
        String::from_utf8(out).unwrap()
    };
    let iso = TimeFormat::iso8601_millis();
    assert_eq!(
        render(&iso, at(1_460_751_420, 310_999_999)),
        "2016-04-15T20:17:00.310Z"
    );
    assert_eq!(render(&iso, at(0, 0)), "1970-01-01T00:00:00.000Z");
    let custom = TimeFormat::parse("%Y/%m/%dT%H:%M:%S%z %s|%s.%3f|%6f|%f|%%|%Z").unwrap();
    assert_eq!(
        render(&custom, at(1_460_751_420, 310_123_456)),
        "2016/04/15T20:17:00+0000 1460751420|1460751420.310|310123|310123456|%|UTC"
    );
    let calendar = TimeFormat::parse("%j %a %b %e %y %F %T").unwrap();
    assert_eq!(
        render(&calendar, at(951_868_799, 0)),
        "060 Tue Feb 29 00 2000-02-29 23:59:59"
    );
    assert_eq!(
        render(&calendar, at(1_735_606_923, 0)),
        "366 Tue Dec 31 24 2024-12-31 01:02:03"
    );
    for bad in ["%", "%5x", "%Q"] {
        assert!(TimeFormat::parse(bad).is_err(), "{bad}");
    }
}

// === rendering ===

#[tokio::test]
async fn text_format_with_missing_values_truncation_and_literal_percent() {
    let log = Harness::text(
        "%REQ(:METHOD)% %REQ(:PATH)% %REQ(X-MISSING)% %REQ(X-MISSING?USER-AGENT)% \
         %REQ(USER-AGENT):3% %RESP(CONTENT-TYPE)% %RESP(X-NONE)% %PROTOCOL% 100%% \
         %PATH(NQ)% %PATH(WQ:PATH):6% %UPSTREAM_HOST% %ROUTE_NAME% %UPSTREAM_CLUSTER% %REQ(X-EMPTY)%\n",
    );
    let request = Request::post("/items?id=7")
        .header("user-agent", "curl/8.0")
        .header("x-empty", "")
        .body(Full::new(Bytes::from("data")))
        .unwrap();
    let backend = backend(StatusCode::CREATED, "{}", |parts| {
        parts
            .headers
            .insert("content-type", HeaderValue::from_static("application/json"));
    });
    log.send(backend, request).await;
    assert_eq!(
        log.lines(),
        ["POST /items?id=7 - curl/8.0 cur application/json - HTTP/1.1 100% /items /items - - - -"]
    );
}

#[tokio::test]
async fn the_default_format_matches_envoys() {
    let log = Harness::new(json!({}), None);
    let request = Request::get("/status/200")
        .header("host", "www.example.com:8080")
        .header("user-agent", "curl/7.77.0")
        .header("x-request-id", "a6758866-0f26-4c95-95d9-4032c365c498")
        .header("x-forwarded-for", "10.0.35.28")
        .body(Full::default())
        .unwrap();
    let upstream: SocketAddr = "10.36.0.14:8080".parse().unwrap();
    let backend = backend(StatusCode::OK, "", move |parts| {
        parts.extensions.insert(UpstreamEndpoint(upstream));
        parts.headers.insert(
            "x-envoy-upstream-service-time",
            HeaderValue::from_static("2"),
        );
    });
    log.send(backend, request).await;
    let lines = log.lines();
    let pattern = regex::Regex::new(
        r#"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /status/200 HTTP/1\.1" 200 - 0 0 \d+ 2 "10\.0\.35\.28" "curl/7\.77\.0" "a6758866-0f26-4c95-95d9-4032c365c498" "www\.example\.com:8080" "10\.36\.0\.14:8080"$"#,
    )
    .unwrap();
    assert_eq!(lines.len(), 1);
    assert!(pattern.is_match(&lines[0]), "{}", lines[0]);
}

#[tokio::test]
async fn kgateway_json_example_types_values_and_shows_rl() {
    // The jsonFormat of kgateway's access logging guide.
    let log = Harness::json(json!({
        "start_time": "%START_TIME%",
        "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "protocol": "%PROTOCOL%",
        "response_code": "%RESPONSE_CODE%",
        "response_flags": "%RESPONSE_FLAGS%",
        "bytes_received": "%BYTES_RECEIVED%",
        "bytes_sent": "%BYTES_SENT%",
        "total_duration": "%DURATION%",
        "resp_backend_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
        "req_x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
        "user_agent": "%REQ(USER-AGENT)%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "authority": "%REQ(:AUTHORITY)%",
        "backendHost": "%UPSTREAM_HOST%",
        "backendCluster": "%UPSTREAM_CLUSTER%"
    }));
    let upstream: SocketAddr = "10.36.0.14:8080".parse().unwrap();
    let ok = backend(StatusCode::OK, "", move |parts| {
        parts.extensions.insert(UpstreamEndpoint(upstream));
        parts.headers.insert(
            "x-envoy-upstream-service-time",
            HeaderValue::from_static("0"),
        );
    });
    let request = Request::get("http://www.example.com:8080/status/200")
        .header("user-agent", "curl/7.77.0")
        .header("x-request-id", "a6758866-0f26-4c95-95d9-4032c365c498")
        .body(Full::default())
        .unwrap();
    log.send(ok, request).await;
    let limited = backend(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        |parts| {
            parts.extensions.insert(ResponseFlag::RateLimited);
        },
    );
    log.send(limited, get("/status/200")).await;

    let objects = log.objects();
    let mut first = objects[0].clone();
    let start = first["start_time"].take();
    assert!(
        regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            .unwrap()
            .is_match(start.as_str().unwrap()),
        "{start}"
    );
    assert!(first["total_duration"].take().is_u64());
    assert_eq!(
        first,
        json!({
            "authority": "www.example.com:8080",
            "backendCluster": null,
            "backendHost": "10.36.0.14:8080",
            "bytes_received": 0,
            "bytes_sent": 0,
            "method": "GET",
            "path": "/status/200",
            "protocol": "HTTP/1.1",
            "req_x_forwarded_for": null,
            "request_id": "a6758866-0f26-4c95-95d9-4032c365c498",
            "resp_backend_service_time": "0",
            "response_code": 200,
            "response_flags": "-",
            "start_time": null,
            "total_duration": null,
            "user_agent": "curl/7.77.0",
        })
    );
    assert_eq!(objects[1]["response_code"], 429);
    assert_eq!(objects[1]["response_flags"], "RL");
    assert_eq!(objects[1]["bytes_sent"], 17);
    assert_eq!(objects[1]["backendHost"], Value::Null);
}

#[tokio::test]
async fn kgateway_string_example_with_a_yaml_single_quoted_newline() {
    // kgateway's guide writes the format in YAML single quotes, which keep `\n` as two
    // characters.
    let log = Harness::text(
        r#"[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%UPSTREAM_HOST%"\n"#,
    );
    log.send(ok_backend(), get("/status/200")).await;
    log.send(ok_backend(), get("/again")).await;
    let lines = log.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].ends_with(r#""GET /status/200 HTTP/1.1" 200 - 0 5 0 "-" "-" "-""#),
        "{}",
        lines[0]
    );
    assert!(!lines[0].contains("\\n"));
}

#[tokio::test]
async fn json_values_mixed_nested_and_constant() {
    let log = Harness::json(json!({
        "summary": "%REQ(:METHOD)% %RESPONSE_CODE% %REQ(X-NONE)% \"q\" 5%%",
        "nested": { "code": "%RESPONSE_CODE%", "list": ["%PROTOCOL%", 1, true, null] },
        "constant": 3,
        "text": "plain",
        "header": "%REQ(X-QUOTE)%",
        "short": "%REQ(X-QUOTE):4%",
        "empty": "%REQ(X-EMPTY)%",
        "flags": "%RESPONSE_FLAGS%"
    }));
    let request = Request::get("/")
        .header("x-quote", "a\"b\\c\td")
        .header("x-empty", "")
        .body(Full::default())
        .unwrap();
    let failed = backend(StatusCode::SERVICE_UNAVAILABLE, "", |parts| {
        parts.extensions.insert(ResponseFlag::NoHealthyUpstream);
    });
    log.send(failed, request).await;
    assert_eq!(
        log.objects(),
        [json!({
            "summary": "GET 503 - \"q\" 5%",
            "nested": { "code": 503, "list": ["HTTP/1.1", 1, true, null] },
            "constant": 3,
            "text": "plain",
            "header": "a\"b\\c\td",
            "short": "a\"b\\",
            "empty": "",
            "flags": "UH"
        })]
    );
}

#[tokio::test]
async fn connection_client_route_and_request_id_extensions() {
    let log = Harness::text(
        "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT% \
         %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_PORT% \
         %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %REQUESTED_SERVER_NAME% %REQ(:SCHEME)% \
         %STREAM_ID% %ROUTE_NAME% %UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    );
    let info = ConnectionInfo {
        remote_addr: "192.0.2.5:40000".parse().unwrap(),
        local_addr: "10.0.0.2:8443".parse().unwrap(),
        tls: true,
        server_name: Some("www.example.com".into()),
    };
    let route = MatchedRoute(Arc::new(
        ResourceRef::new("gateway.networking.k8s.io", "HTTPRoute", "shop", "cart")
            .with_section("rule-0"),
    ));
    let upstream: SocketAddr = "10.1.1.1:9000".parse().unwrap();
    let with_route = backend(StatusCode::OK, "", move |parts| {
        parts.extensions.insert(route.clone());
        parts.extensions.insert(UpstreamEndpoint(upstream));
    });

    // The client address came from X-Forwarded-For: port 0, as Envoy prints it.
    let mut request = get("/");
    request.extensions_mut().insert(info.clone());
    request
        .extensions_mut()
        .insert(ClientAddr("203.0.113.7".parse().unwrap()));
    request
        .extensions_mut()
        .insert(RequestId(HeaderValue::from_static("rid-1")));
    log.send(with_route.clone(), request).await;

    // The client address is the peer's.
    let mut request = get("/");
    request.extensions_mut().insert(info);
    request
        .extensions_mut()
        .insert(ClientAddr("192.0.2.5".parse().unwrap()));
    log.send(ok_backend(), request).await;

    // Nothing known about the connection.
    log.send(ok_backend(), get("/")).await;

    assert_eq!(
        log.lines(),
        [
            "203.0.113.7:0 203.0.113.7 0 192.0.2.5:40000 10.0.0.2:8443 8443 10.0.0.2 www.example.com https rid-1 shop/cart/rule-0 10.1.1.1",
            "192.0.2.5:40000 192.0.2.5 40000 192.0.2.5:40000 10.0.0.2:8443 8443 10.0.0.2 www.example.com https - - -",
            "- - - - - - - - - - - -",
        ]
    );
}

// === timing and body bookkeeping ===

#[tokio::test(start_paused = true)]
async fn durations_and_byte_counts() {
    let log = Harness::json(json!({
        "duration": "%DURATION%",
        "response_duration": "%RESPONSE_DURATION%",
        "received": "%BYTES_RECEIVED%",
        "sent": "%BYTES_SENT%"
    }));
    let slow = service_fn(|request: Request<RequestBody<Full<Bytes>>>| async move {
        request.into_body().collect().await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
        Ok::<_, Infallible>(Response::new(SlowBody::new(
            Duration::from_millis(40),
            "late body",
            true,
        )))
    });
    let request = Request::post("/upload")
        .body(Full::new(Bytes::from("0123456789")))
        .unwrap();
    let response = log.send(slow, request).await;
    assert_eq!(response.body(), "late body");
    assert_eq!(
        log.objects(),
        [json!({ "duration": 65, "response_duration": 25, "received": 10, "sent": 9 })]
    );
}

#[tokio::test(start_paused = true)]
async fn a_response_body_dropped_before_its_end_logs_dc() {
    let log = Harness::text("%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_SENT% %DURATION%");
    let endless = service_fn(|_: Request<RequestBody<Full<Bytes>>>| async {
        let mut response = Response::new(SlowBody::new(Duration::from_millis(5), "first", false));
        response
            .extensions_mut()
            .insert(ResponseFlag::UpstreamRequestTimeout);
        Ok::<_, Infallible>(response)
    });
    let response = log
        .layer
        .layer(endless)
        .oneshot(get("/stream"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        log.lines().is_empty(),
        "nothing logged while the body streams"
    );
    drop(body);
    assert_eq!(log.lines(), ["200 UT,DC 5 15"]);
}

#[tokio::test(start_paused = true)]
async fn a_request_given_up_before_its_response_logs_code_0_and_dc() {
    let log = Harness::text("%RESPONSE_CODE% %RESPONSE_FLAGS% %DURATION% %RESPONSE_DURATION%");
    let hanging = service_fn(|_: Request<RequestBody<Full<Bytes>>>| {
        std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>()
    });
    let call = log.layer.layer(hanging).oneshot(get("/"));
    assert!(
        tokio::time::timeout(Duration::from_millis(30), call)
            .await
            .is_err()
    );
    assert_eq!(log.lines(), ["0 DC 30 -"]);
}

#[tokio::test]
async fn an_inner_error_logs_code_0() {
    let log = Harness::text("%RESPONSE_CODE% %RESPONSE_FLAGS%");
    let failing = service_fn(|_: Request<RequestBody<Full<Bytes>>>| async {
        Err::<Response<Full<Bytes>>, _>("connection-level failure")
    });
    assert!(log.layer.layer(failing).oneshot(get("/")).await.is_err());
    assert_eq!(log.lines(), ["0 -"]);
}

#[tokio::test]
async fn empty_bodies_log_at_once() {
    let log = Harness::text("%RESPONSE_CODE% %BYTES_SENT%");
    let empty = service_fn(|_: Request<RequestBody<Full<Bytes>>>| async {
        let mut response = Response::new(Full::<Bytes>::default());
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok::<_, Infallible>(response)
    });
    // The body is never polled (as hyper does with a finished body) and kept alive.
    let response = log.layer.layer(empty).oneshot(get("/")).await.unwrap();
    assert_eq!(log.lines(), ["204 0"]);
    drop(response);
    assert_eq!(log.lines(), ["204 0"], "not logged twice");
}

// === filters ===

#[tokio::test(start_paused = true)]
async fn filters_select_requests() {
    let cases = [
        (
            json!({ "statusCodeFilter": { "op": "GE", "value": 400 } }),
            vec!["/b", "/c"],
        ),
        (
            json!({ "statusCodeFilter": { "op": "EQ", "value": 200 } }),
            vec!["/a", "/d"],
        ),
        (
            json!({ "durationFilter": { "op": "GE", "value": 50 } }),
            vec!["/c"],
        ),
        (
            json!({ "durationFilter": { "op": "LE", "value": 10 } }),
            vec!["/a", "/b", "/d"],
        ),
        (
            json!({ "notHealthCheckFilter": true }),
            vec!["/a", "/b", "/c"],
        ),
        (
            json!({ "notHealthCheckFilter": false }),
            vec!["/a", "/b", "/c", "/d"],
        ),
        (
            json!({ "responseFlagFilter": { "flags": ["RL", "UT"] } }),
            vec!["/b", "/c"],
        ),
        (json!({ "responseFlagFilter": { "flags": ["UH"] } }), vec![]),
        (
            json!({ "headerFilter": { "header": { "name": "x-debug", "value": "1" } } }),
            vec!["/a"],
        ),
        (
            json!({ "headerFilter": { "header": { "type": "RegularExpression", "name": "X-Debug", "value": "[0-9]+" } } }),
            vec!["/a", "/b"],
        ),
        (
            json!({ "andFilter": [
                { "statusCodeFilter": { "op": "GE", "value": 400 } },
                { "durationFilter": { "op": "LE", "value": 10 } },
            ] }),
            vec!["/b"],
        ),
        (
            json!({ "orFilter": [
                { "headerFilter": { "header": { "name": "x-debug", "value": "1" } } },
                { "responseFlagFilter": { "flags": ["UT"] } },
            ] }),
            vec!["/a", "/c"],
        ),
    ];
    for (filter, expected) in cases {
        let log = Harness::new(
            json!({ "stringFormat": "%REQ(:PATH)%" }),
            Some(filter.clone()),
        );
        let service = log.layer.layer(service_fn(
            |request: Request<RequestBody<Full<Bytes>>>| async move {
                let mut response = Response::new(Full::<Bytes>::from("x"));
                match request.uri().path() {
                    "/b" => {
                        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                        response.extensions_mut().insert(ResponseFlag::RateLimited);
                    }
                    "/c" => {
                        tokio::time::sleep(Duration::from_millis(60)).await;
                        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
                        response
                            .extensions_mut()
                            .insert(ResponseFlag::UpstreamRequestTimeout);
                    }
                    "/d" => {
                        response.extensions_mut().insert(HealthCheckResponse);
                    }
                    _ => {}
                }
                Ok::<_, Infallible>(response)
            },
        ));
        for (path, debug) in [
            ("/a", Some("1")),
            ("/b", Some("22")),
            ("/c", None),
            ("/d", Some("x")),
        ] {
            let mut request = get(path);
            if let Some(debug) = debug {
                request
                    .headers_mut()
                    .insert("x-debug", HeaderValue::from_static(debug));
            }
            let response = service.clone().oneshot(request).await.unwrap();
            response.into_body().collect().await.unwrap();
        }
        assert_eq!(log.lines(), expected, "{filter}");
    }
}

// === writers ===

#[tokio::test]
async fn entries_write_their_own_files_and_share_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("both.log");
    let errors = dir.path().join("errors.log");
    let specs: Vec<AccessLogSpec> = serde_json::from_value(json!([
        { "fileSink": { "path": both, "stringFormat": "text %RESPONSE_CODE%" } },
        { "fileSink": { "path": both, "jsonFormat": { "code": "%RESPONSE_CODE%" } } },
        { "fileSink": { "path": errors, "stringFormat": "error %RESPONSE_CODE%" },
          "filter": { "statusCodeFilter": { "op": "GE", "value": 500 } } },
    ]))
    .unwrap();
    let layer = AccessLogLayer::new(compile(&specs).unwrap());
    let other = AccessLogLayer::new(compile(&specs[..1]).unwrap());
    assert!(Arc::ptr_eq(
        &Sink::for_path(&both, 1),
        &Sink::for_path(&both, 1)
    ));

    for status in [StatusCode::OK, StatusCode::BAD_GATEWAY] {
        let service = layer.layer(backend(status, "", |_| {}));
        let response = service.oneshot(get("/")).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let response = other.layer(ok_backend()).oneshot(get("/")).await.unwrap();
    response.into_body().collect().await.unwrap();
    layer.flush();
    other.flush();

    let read = |path: &Path| std::fs::read_to_string(path).unwrap();
    assert_eq!(
        read(&both),
        "text 200\n{\"code\":200}\ntext 502\n{\"code\":502}\ntext 200\n"
    );
    assert_eq!(read(&errors), "error 502\n");
    assert_eq!(layer.dropped_lines(), 0);
}

#[tokio::test]
async fn a_full_queue_drops_lines_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // The writer blocks opening a FIFO nobody reads: the queue (2 lines) fills up.
    let config = AccessLogConfig {
        queue_capacity: 2,
        ..compile(
            &serde_json::from_value::<Vec<AccessLogSpec>>(json!([
                { "fileSink": { "path": fifo, "stringFormat": "%REQ(:PATH)%" } }
            ]))
            .unwrap(),
        )
        .unwrap()
    };
    let layer = AccessLogLayer::new(config);
    for i in 0..5 {
        let response = layer
            .layer(ok_backend())
            .oneshot(get(&format!("/{i}")))
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(layer.dropped_lines(), 3);

    // A reader lets the writer open the FIFO; dropping the layer ends the writer after
    // it wrote what was queued.
    let reader = tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo).unwrap());
    drop(layer);
    assert_eq!(reader.await.unwrap(), "/0\n/1\n");
}

#[tokio::test]
async fn an_unwritable_path_counts_its_lines_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("access.log");
    let specs: Vec<AccessLogSpec> = serde_json::from_value(json!([
        { "fileSink": { "path": missing, "stringFormat": "%RESPONSE_CODE%" } }
    ]))
    .unwrap();
    let layer = AccessLogLayer::new(compile(&specs).unwrap());
    let response = layer.layer(ok_backend()).oneshot(get("/")).await.unwrap();
    response.into_body().collect().await.unwrap();
    layer.flush();
    assert_eq!(layer.dropped_lines(), 1);
}

// === the listener policies together, behind the real listener ===

#[tokio::test]
async fn behind_the_real_listener_with_the_other_listener_policies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let specs: Vec<AccessLogSpec> = serde_json::from_value(json!([{
        "fileSink": {
            "path": path,
            "jsonFormat": {
                "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                "peer": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
                "xff": "%REQ(X-FORWARDED-FOR)%",
                "id": "%REQ(X-REQUEST-ID)%",
                "stream": "%STREAM_ID%",
                "code": "%RESPONSE_CODE%",
                "received": "%BYTES_RECEIVED%",
                "sent": "%BYTES_SENT%",
                "path": "%REQ(:PATH)%"
            }
        },
        "filter": { "notHealthCheckFilter": true }
    }]))
    .unwrap();
    let log = AccessLogLayer::new(compile(&specs).unwrap());
    let client_addr: ClientAddrSpec =
        serde_json::from_value(json!({ "xffNumTrustedHops": 1 })).unwrap();
    let echo = service_fn(|request: gateway_core::Request| async move {
        let text = request
            .into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        Ok::<_, Infallible>(Response::new(body::full(text)))
    });
    let stack = ServiceBuilder::new()
        .layer(ClientAddrLayer::new(client_addr.compile().unwrap()))
        .layer(RequestIdLayer::new(RequestIdConfig::default()))
        .map_response(|response: Response<ResponseBody<BoxBody>>| response.map(body::boxed))
        .layer(log.clone())
        .map_request(|request: Request<RequestBody<BoxBody>>| request.map(body::boxed))
        .layer(HealthCheckLayer::new(
            HealthCheckConfig::new("/healthz").unwrap(),
        ))
        .service(echo);
    let manager = SocketManager::new(Limits::default());
    let requested: SocketAddr = "127.0.0.1:0".parse().unwrap();
    manager
        .apply(HashMap::from([(
            requested,
            SocketState {
                http: Some(HttpService::new(stack)),
                tls: None,
            },
        )]))
        .unwrap();
    let addr = manager.local_addr(requested).unwrap();

    let client = http1_client();
    let request = Request::post(format!("http://{addr}/upload"))
        .header("x-forwarded-for", "198.51.100.7")
        .header("x-request-id", "spoofed")
        .body(body::full("hello world"))
        .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(response.body(), "hello world");
    let probe = Request::get(format!("http://{addr}/healthz"))
        .body(body::empty())
        .unwrap();
    assert_eq!(client.send(probe).await.unwrap().status(), StatusCode::OK);
    log.flush();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "the health check is filtered out: {text}");
    let mut line = lines[0].clone();
    let id = line["id"].take();
    assert_eq!(line["stream"].take(), id);
    assert!(uuid::Uuid::parse_str(id.as_str().unwrap()).is_ok(), "{id}");
    assert_eq!(
        line,
        json!({
            "client": "198.51.100.7",
            "peer": "127.0.0.1",
            "xff": "198.51.100.7, 127.0.0.1",
            "id": null,
            "stream": null,
            "code": 200,
            "received": 11,
            "sent": 11,
            "path": "/upload"
        })
    );
}
