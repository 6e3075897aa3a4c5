use bytes::Bytes;
use gateway_core::{Request, Response, ResponseFlag, body};
use http::{
    HeaderMap, HeaderValue, Method, StatusCode, Uri,
    header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING, UPGRADE},
};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;

/// What the backend received.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

fn spec(json: &str) -> TransformationSpec {
    serde_json::from_str(json).unwrap()
}

fn layer(json: &str) -> TransformationLayer {
    TransformationLayer::new(spec(json).compile().unwrap())
}

/// A backend that reads the request, records it in the response extensions and answers
/// `answer()`; counts its calls.
fn backend(
    answer: fn() -> Response,
    calls: Arc<AtomicUsize>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    service_fn(move |request: Request| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let mut response = answer();
            response.extensions_mut().insert(Seen {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
            });
            Ok(response)
        }
    })
}

fn ok() -> Response {
    http::Response::new(body::full("backend"))
}

/// Sends `request` through `layer` in front of a recording backend answering `answer()`.
async fn send_to(
    layer: TransformationLayer,
    request: Request,
    answer: fn() -> Response,
) -> Response {
    let calls = Arc::new(AtomicUsize::new(0));
    layer
        .layer(backend(answer, calls))
        .oneshot(request)
        .await
        .unwrap()
}

async fn send(json: &str, request: Request) -> Response {
    send_to(layer(json), request, ok).await
}

fn received(response: &Response) -> Seen {
    response
        .extensions()
        .get::<Seen>()
        .cloned()
        .expect("the backend was called")
}

async fn text(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn get(uri: &str) -> http::request::Builder {
    http::Request::builder()
        .uri(uri)
        .header(HOST, "example.com")
}

fn post_json(json: &'static str) -> Request {
    http::Request::builder()
        .method(Method::POST)
        .uri("/api/users?x=1")
        .header(HOST, "example.com")
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, json.len())
        .body(body::full(json))
        .unwrap()
}

/// A body that never ends: reading it would hang the test.
fn endless() -> body::BoxBody {
    body::boxed(StreamBody::new(futures_util::stream::pending::<
        Result<Frame<Bytes>, Infallible>,
    >()))
}

// === kgateway's documented examples ===

#[tokio::test]
async fn static_headers_are_set_and_added() {
    let json = r#"{
        "request": {"add": [{"name": "my-header", "value": "static"}]},
        "response": {"set": [{"name": "foo", "value": "bar"}]}
    }"#;
    let response = send(
        json,
        get("/")
            .header("my-header", "client")
            .body(body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.headers()["foo"], "bar");
    let seen = received(&response);
    let values: Vec<_> = seen.headers.get_all("my-header").iter().collect();
    assert_eq!(values, ["client", "static"]);
}

#[tokio::test]
async fn response_headers_from_request_headers_env_and_helpers() {
    let json = r#"{"response": {"set": [
        {"name": "x-gateway-response", "value": "{{ request_header(\"x-gateway-request\") }}"},
        {"name": "x-path", "value": "{{ env(\"PATH\") }}"},
        {"name": "x-response-raw", "value": "{{ raw_string(\"hello\") }}"},
        {"name": "x-replace", "value": "{{ replace_with_random(request_header(\"baz\"), \"pattern-to-replace\") }}"}
    ]}}"#;
    let request = get("/")
        .header("x-gateway-request", "from-the-request")
        .header("baz", "a-pattern-to-replace-b")
        .body(body::empty())
        .unwrap();
    let response = send(json, request).await;
    let headers = response.headers();
    assert_eq!(headers["x-gateway-response"], "from-the-request");
    assert_eq!(headers["x-path"], std::env::var("PATH").unwrap().as_str());
    assert_eq!(headers["x-response-raw"], "hello");
    let replaced = headers["x-replace"].to_str().unwrap();
    assert!(
        replaced.starts_with("a-") && replaced.ends_with("-b"),
        "{replaced}"
    );
    assert!(!replaced.contains("pattern-to-replace"));
    // 16 random bytes in unpadded base64.
    assert_eq!(replaced.len(), "a-".len() + 22 + "-b".len());
}

#[tokio::test]
async fn change_the_response_status() {
    let json = r#"{"response": {"set": [
        {"name": ":status", "value": "{% if header(\":status\") == \"404\" %}400{% else %}{{ header(\":status\") }}{% endif %}"}
    ]}}"#;
    let not_found = || {
        let mut response = http::Response::new(body::empty());
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    };
    let response = send_to(
        layer(json),
        get("/").body(body::empty()).unwrap(),
        not_found,
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = send(json, get("/").body(body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn decode_base64_headers() {
    let json = r#"{"request": {"set": [
        {"name": "x-decoded", "value": "{{ base64_decode(request_header(\"x-base64-encoded\")) }}"},
        {"name": "x-decoded-sub", "value": "{{ substring(base64_decode(request_header(\"x-base64-encoded\")), 8) }}"},
        {"name": "x-encoded", "value": "{{ base64_encode(\"transformation test\") }}"}
    ]}}"#;
    let request = get("/")
        .header("x-base64-encoded", "dHJhbnNmb3JtYXRpb24gdGVzdA==")
        .body(body::empty())
        .unwrap();
    let seen = received(&send(json, request).await);
    assert_eq!(seen.headers["x-decoded"], "transformation test");
    assert_eq!(seen.headers["x-decoded-sub"], "mation test");
    assert_eq!(seen.headers["x-encoded"], "dHJhbnNmb3JtYXRpb24gdGVzdA==");
}

#[tokio::test]
async fn update_the_response_body() {
    let json = r#"{"response": {"body": {"parseAs": "AsString",
        "value": "path {{ request_header(\":path\") }} answered {{ header(\":status\") }}: {{ body() }}"}}}"#;
    let response = send(json, get("/json?a=1").body(body::empty()).unwrap()).await;
    let expected = "path /json?a=1 answered 200: backend";
    assert_eq!(
        response.headers()[CONTENT_LENGTH],
        expected.len().to_string().as_str()
    );
    assert_eq!(text(response).await, expected);
}

#[tokio::test]
async fn json_body_to_body() {
    fn slideshow() -> Response {
        let mut response = http::Response::new(body::full(
            r#"{"slideshow": {"author": "Yours Truly", "title": "Sample Slide Show",
                "slides": [{"title": "Wake up!"}, {"title": "Overview"}]}}"#,
        ));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
    let json = r#"{"response": {"body": {"parseAs": "AsJson",
        "value": "{\"author\": \"{{ slideshow.author }}\", \"title\": \"{{ body.slideshow.title }}\", \"first\": \"{{ slideshow.slides[0].title }}\", \"count\": {{ slideshow.slides | length }}}"}}}"#;
    let response = send_to(
        layer(json),
        get("/").body(body::empty()).unwrap(),
        slideshow,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(
        text(response).await,
        r#"{"author": "Yours Truly", "title": "Sample Slide Show", "first": "Wake up!", "count": 2}"#
    );
}

// === requests ===

#[tokio::test]
async fn request_templates_see_pseudo_headers_and_body() {
    let json = r#"{"request": {
        "set": [
            {"name": "x-method", "value": "{{ header(':method') }}"},
            {"name": "x-path", "value": "{{ header(':path') }}"},
            {"name": "x-authority", "value": "{{ header(':authority') }}"},
            {"name": "x-scheme", "value": "{{ header(':scheme') }}"},
            {"name": "x-name", "value": "{{ name }}/{{ body.name }}/{{ body['tags'][1] }}"},
            {"name": "x-missing", "value": "[{{ nothing }}]"}
        ],
        "body": {"parseAs": "AsJson"}
    }}"#;
    let response = send(json, post_json(r#"{"name": "ada", "tags": ["a", "b"]}"#)).await;
    let seen = received(&response);
    assert_eq!(seen.headers["x-method"], "POST");
    assert_eq!(seen.headers["x-path"], "/api/users?x=1");
    assert_eq!(seen.headers["x-authority"], "example.com");
    assert_eq!(seen.headers["x-scheme"], "http");
    assert_eq!(seen.headers["x-name"], "ada/ada/b");
    assert_eq!(seen.headers["x-missing"], "[]");
    // Parsed but not replaced: the body goes on as it came.
    assert_eq!(seen.body, r#"{"name": "ada", "tags": ["a", "b"]}"#);
    assert_eq!(seen.headers[CONTENT_LENGTH], "35");
}

#[tokio::test]
async fn raw_body_context_and_helper_names() {
    let json = r#"{"request": {
        "set": [
            {"name": "x-first", "value": "{{ context()[0].id }}"},
            {"name": "x-raw", "value": "{{ body() }}|{{ body }}"}
        ],
        "body": {"parseAs": "AsJson"}
    }}"#;
    let seen = received(&send(json, post_json(r#"[{"id":7}]"#)).await);
    assert_eq!(seen.headers["x-first"], "7");
    assert_eq!(seen.headers["x-raw"], r#"[{"id":7}]|[{"id":7}]"#);

    // A JSON field named like a helper does not hide it.
    let json = r#"{"request": {
        "set": [{"name": "x-h", "value": "{{ header('x-a') }}-{{ body.header }}"}],
        "body": {"parseAs": "AsJson"}
    }}"#;
    let mut request = post_json(r#"{"header": "from-json"}"#);
    request
        .headers_mut()
        .insert("x-a", HeaderValue::from_static("from-header"));
    let seen = received(&send(json, request).await);
    assert_eq!(seen.headers["x-h"], "from-header-from-json");
}

#[tokio::test]
async fn request_bodies_are_replaced() {
    let json = r#"{"request": {"body": {"parseAs": "AsJson",
        "value": "{\"user\": \"{{ name | upper }}\", \"raw\": \"{{ raw_string(note) }}\"}"}}}"#;
    let mut request = post_json(r#"{"name": "ada", "note": "say \"hi\"\n"}"#);
    request
        .headers_mut()
        .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    let seen = received(&send(json, request).await);
    let expected = r#"{"user": "ADA", "raw": "say \"hi\"\n"}"#;
    assert_eq!(seen.body, expected);
    assert_eq!(
        seen.headers[CONTENT_LENGTH],
        expected.len().to_string().as_str()
    );
    assert!(!seen.headers.contains_key(TRANSFER_ENCODING));
    assert_eq!(seen.headers[CONTENT_TYPE], "application/json");

    // An empty body drops the content type.
    let json = r#"{"request": {"body": {"value": "{{ '' }}"}}}"#;
    let seen = received(&send(json, post_json("{}")).await);
    assert_eq!(seen.body, "");
    assert_eq!(seen.headers[CONTENT_LENGTH], "0");
    assert!(!seen.headers.contains_key(CONTENT_TYPE));
}

#[tokio::test]
async fn set_add_remove_and_pseudo_headers() {
    let json = r#"{"request": {
        "set": [
            {"name": "x-set", "value": "{{ header('x-set') }}-new"},
            {"name": "x-empty", "value": ""},
            {"name": "x-blank", "value": "{{ '' }}"},
            {"name": ":path", "value": "/v2{{ header(':path') }}"},
            {"name": ":method", "value": "PUT"},
            {"name": ":authority", "value": "upstream.internal"}
        ],
        "add": [
            {"name": "x-add", "value": "two"},
            {"name": "x-add-empty", "value": "{{ header('absent') }}"},
            {"name": "x-gone", "value": "added"}
        ],
        "remove": ["x-gone", "X-Remove"]
    }}"#;
    let request = get("/a?b=c")
        .header("x-set", "old")
        .header("x-empty", "1")
        .header("x-blank", "1")
        .header("x-add", "one")
        .header("x-remove", "1")
        .body(body::empty())
        .unwrap();
    let seen = received(&send(json, request).await);
    assert_eq!(seen.headers["x-set"], "old-new");
    assert!(!seen.headers.contains_key("x-empty"));
    assert!(!seen.headers.contains_key("x-blank"));
    let added: Vec<_> = seen.headers.get_all("x-add").iter().collect();
    assert_eq!(added, ["one", "two"]);
    assert!(!seen.headers.contains_key("x-add-empty"));
    assert!(!seen.headers.contains_key("x-gone"));
    assert!(!seen.headers.contains_key("x-remove"));
    assert_eq!(seen.uri, "/v2/a?b=c");
    assert_eq!(seen.method, Method::PUT);
    assert_eq!(seen.headers[HOST], "upstream.internal");
}

#[tokio::test]
async fn invalid_rendered_values_are_skipped() {
    let json = r#"{"request": {"set": [
        {"name": "x-bad", "value": "{{ 'a\nb' }}"},
        {"name": ":path", "value": "{{ 'no slash' }}"},
        {"name": "x-good", "value": "{{ 'fine' }}"}
    ]}}"#;
    let request = get("/keep")
        .header("x-bad", "kept")
        .body(body::empty())
        .unwrap();
    let response = send(json, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = received(&response);
    assert_eq!(seen.headers["x-bad"], "kept");
    assert_eq!(seen.headers["x-good"], "fine");
    assert_eq!(seen.uri, "/keep");
}

#[tokio::test]
async fn request_render_errors_answer_400_without_calling_the_backend() {
    let cases = [
        // An attribute of an undefined value is an error, as in kgateway's engine.
        r#"{"request": {"set": [{"name": "x", "value": "{{ missing.field }}"}], "body": {"parseAs": "AsJson"}}}"#,
        // Fuel runs out.
        r#"{"request": {"set": [{"name": "x", "value": "{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}"}]}}"#,
        // A type error.
        r#"{"request": {"body": {"value": "{{ 1 + 'a' }}"}}}"#,
    ];
    for json in cases {
        let calls = Arc::new(AtomicUsize::new(0));
        let response = layer(json)
            .layer(backend(ok, calls.clone()))
            .oneshot(post_json(r#"{"present": 1}"#))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{json}");
        assert_eq!(
            response.extensions().get::<ResponseFlag>(),
            Some(&ResponseFlag::DownstreamProtocolError)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0, "{json}");
        assert_eq!(text(response).await, "bad request");
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_answer_400() {
    let json = r#"{"request": {"body": {"parseAs": "AsJson"}}}"#;
    let calls = Arc::new(AtomicUsize::new(0));
    let response = layer(json)
        .layer(backend(ok, calls.clone()))
        .oneshot(post_json("not json"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // An empty body is no JSON at all, not an error.
    let response = send(json, get("/").body(body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_bodies_over_the_limit_answer_413() {
    let config =
        spec(r#"{"request": {"body": {"parseAs": "AsString", "value": "{{ body() }}!"}}}"#)
            .compile()
            .unwrap()
            .with_body_limit(8);
    assert_eq!(config.body_limit(), 8);
    let limited = TransformationLayer::new(config);

    // Declared too long: answered without reading the (endless) body.
    let request = http::Request::builder()
        .method(Method::POST)
        .header(CONTENT_LENGTH, "9")
        .body(endless())
        .unwrap();
    let response = send_to(limited.clone(), request, ok).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text(response).await, "payload too large");

    // Streamed past the limit.
    let chunks =
        ["12345", "6789"].map(|chunk| Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))));
    let request = http::Request::builder()
        .method(Method::POST)
        .body(body::boxed(StreamBody::new(futures_util::stream::iter(
            chunks,
        ))))
        .unwrap();
    let response = send_to(limited.clone(), request, ok).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // At the limit.
    let response = send_to(limited, post_json("12345678"), ok).await;
    assert_eq!(received(&response).body, "12345678!");
}

#[tokio::test]
async fn a_failing_request_body_answers_400() {
    let json = r#"{"request": {"set": [{"name": "x", "value": "{{ body() }}"}]}}"#;
    let failing = futures_util::stream::iter([Err::<Frame<Bytes>, _>(std::io::Error::other(
        "client went away",
    ))]);
    let request = http::Request::builder()
        .method(Method::POST)
        .body(body::boxed(StreamBody::new(failing)))
        .unwrap();
    let response = send(json, request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::DownstreamConnectionTermination)
    );
}

/// A backend that does not read the body (it would never end).
fn unread_backend()
-> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    service_fn(|request: Request| async move {
        let mut response = http::Response::new(body::empty());
        response.extensions_mut().insert(Seen {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            body: Bytes::new(),
        });
        let mut request = Some(request);
        // Keep the body alive until the response is built, as a proxy would.
        response
            .extensions_mut()
            .insert(Arc::new(request.take().is_some()));
        Ok(response)
    })
}

#[tokio::test]
async fn bodies_are_read_only_when_the_transform_needs_them() {
    // Header templates that do not use the body: the endless body is passed along.
    let headers_only = layer(
        r#"{"request": {"set": [{"name": "x-m", "value": "{{ header(':method') }}"}]}, "response": {"set": [{"name": "x-r", "value": "{{ header(':status') }}"}]}}"#,
    );
    let request = http::Request::builder()
        .method(Method::POST)
        .body(endless())
        .unwrap();
    let response = headers_only
        .layer(unread_backend())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(received(&response).headers["x-m"], "POST");
    assert_eq!(response.headers()["x-r"], "200");

    // A static body replaces the request body without reading it.
    let static_body = layer(r#"{"request": {"body": {"value": "replaced"}}}"#);
    let request = http::Request::builder()
        .method(Method::POST)
        .body(endless())
        .unwrap();
    let response = static_body
        .layer(backend(ok, Arc::default()))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(received(&response).body, "replaced");
}

#[tokio::test]
async fn upgrade_requests_keep_their_body() {
    let json = r#"{"request": {
        "set": [{"name": "x-up", "value": "{{ header('upgrade') }}"}],
        "body": {"value": "{{ body() }} replaced"}
    }}"#;
    let request = http::Request::builder()
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .body(endless())
        .unwrap();
    let response = layer(json)
        .layer(unread_backend())
        .oneshot(request)
        .await
        .unwrap();
    let seen = received(&response);
    assert_eq!(seen.headers["x-up"], "websocket");
    assert!(!seen.headers.contains_key(CONTENT_LENGTH));
}

// === responses ===

fn json_answer() -> Response {
    let mut response = http::Response::new(body::full(r#"{"id": 7, "name": "ada"}"#));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[tokio::test]
async fn response_templates_see_the_forwarded_request() {
    let json = r#"{
        "request": {"set": [{"name": "x-request-id", "value": "req-{{ header('x-n') }}"}]},
        "response": {
            "set": [
                {"name": "x-for", "value": "{{ request_header('x-request-id') }} {{ request_header(':method') }} {{ request_header(':path') }}"},
                {"name": "x-type", "value": "{{ header('content-type') }}"}
            ],
            "body": {"parseAs": "AsJson", "value": "{{ name }}#{{ id }}"}
        }
    }"#;
    let request = get("/users/7")
        .header("x-n", "1")
        .body(body::empty())
        .unwrap();
    let response = send_to(layer(json), request, json_answer).await;
    assert_eq!(response.headers()["x-for"], "req-1 GET /users/7");
    assert_eq!(response.headers()["x-type"], "application/json");
    assert_eq!(text(response).await, "ada#7");
}

#[tokio::test]
async fn response_failures_answer_500() {
    // Not JSON.
    let json = r#"{"response": {"body": {"parseAs": "AsJson", "value": "{{ id }}"}}}"#;
    let response = send(json, get("/").body(body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(text(response).await, "internal server error");

    // A template error.
    let json = r#"{"response": {"set": [{"name": "x", "value": "{{ header(':status') + 1 }}"}]}}"#;
    let response = send(json, get("/").body(body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    // Over the limit.
    let config = spec(r#"{"response": {"body": {"value": "{{ body() }}"}}}"#)
        .compile()
        .unwrap()
        .with_body_limit(4);
    let response = send_to(
        TransformationLayer::new(config),
        get("/").body(body::empty()).unwrap(),
        ok,
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_failing_response_body_answers_502() {
    fn failing() -> Response {
        let stream = futures_util::stream::iter([Err::<Frame<Bytes>, _>(std::io::Error::other(
            "upstream reset",
        ))]);
        http::Response::new(body::boxed(StreamBody::new(stream)))
    }
    let json = r#"{"response": {"body": {"value": "{{ body() }}"}}}"#;
    let response = send_to(layer(json), get("/").body(body::empty()).unwrap(), failing).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::UpstreamConnectionTermination)
    );
}

#[tokio::test]
async fn responses_without_a_body_keep_it_empty() {
    let json = r#"{"response": {
        "set": [{"name": "x-seen", "value": "[{{ body() }}]"}],
        "body": {"value": "replaced"}
    }}"#;
    let head = http::Request::builder()
        .method(Method::HEAD)
        .body(body::empty())
        .unwrap();
    let response = send(json, head).await;
    assert_eq!(response.headers()["x-seen"], "[]");
    assert_eq!(text(response).await, "backend");

    fn no_content() -> Response {
        let mut response = http::Response::new(body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        response
    }
    let response = send_to(
        layer(json),
        get("/").body(body::empty()).unwrap(),
        no_content,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(text(response).await, "");
}

// === compile ===

#[test]
fn compile_errors_name_the_field() {
    let error = |json: &str| spec(json).compile().unwrap_err();
    let syntax = error(
        r#"{"request": {"set": [{"name": "a", "value": "ok"}, {"name": "b", "value": "{{ oops"}]}}"#,
    );
    assert_eq!(syntax.field, "request.set[1].value");
    assert!(syntax.reason.contains("syntax error"), "{syntax}");
    assert_eq!(
        error(r#"{"response": {"body": {"value": "{% if %}"}}}"#).field,
        "response.body.value"
    );
    let json_field = error(r#"{"request": {"add": [{"name": "a", "value": "{{ user.id }}"}]}}"#);
    assert_eq!(json_field.field, "request.add[0].value");
    assert!(json_field.reason.contains("AsJson"), "{json_field}");
    assert_eq!(
        error(r#"{"request": {"set": [{"name": "a", "value": "{{ body() }}"}], "body": {"parseAs": "None"}}}"#)
            .field,
        "request.set[0].value"
    );
    assert_eq!(
        error(r#"{"request": {"set": [{"name": "a b", "value": "x"}]}}"#).field,
        "request.set[0].name"
    );
    assert_eq!(
        error(
            r#"{"request": {"set": [{"name": "a", "value": "x"}, {"name": "A", "value": "y"}]}}"#
        )
        .field,
        "request.set[1].name"
    );
    assert_eq!(
        error(r#"{"request": {"add": [{"name": ":path", "value": "/x"}]}}"#).field,
        "request.add[0].name"
    );
    assert_eq!(
        error(r#"{"request": {"remove": [":method"]}}"#).field,
        "request.remove[0]"
    );
    assert_eq!(
        error(r#"{"request": {"remove": ["x", "X"]}}"#).field,
        "request.remove[1]"
    );
    assert_eq!(
        error(r#"{"request": {"set": [{"name": ":status", "value": "200"}]}}"#).field,
        "request.set[0].name"
    );
    assert_eq!(
        error(r#"{"response": {"set": [{"name": ":status", "value": "abc"}]}}"#).field,
        "response.set[0].value"
    );
    assert_eq!(
        error(r#"{"response": {"set": [{"name": "x", "value": "a\u0001b"}]}}"#).field,
        "response.set[0].value"
    );
    let many = (0..17)
        .map(|i| format!(r#"{{"name": "x-{i}", "value": "v"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        error(&format!(r#"{{"request": {{"set": [{many}]}}}}"#)).field,
        "request.set"
    );
}

#[test]
fn specs_read_kgateway_json_and_serialise_back() {
    let json = r#"{"request": {"set": [{"name": "a", "value": "{{ header('b') }}"}],
        "remove": ["c"], "body": {"parseAs": "AsJson"},
        "dynamicMetadata": [{"namespace": "n", "key": "k", "value": {"stringValue": "v"}}]}}"#;
    let spec = spec(json);
    let request = spec.request.as_ref().unwrap();
    assert_eq!(
        request.body.as_ref().unwrap().parse_as,
        BodyParseBehavior::AsJson
    );
    assert_eq!(request.remove, ["c"]);
    let config = spec.compile().unwrap();
    assert_eq!(config.spec(), &spec);
    assert_eq!(config.body_limit(), DEFAULT_BODY_LIMIT);
    assert_eq!(
        serde_json::to_value(&config).unwrap(),
        serde_json::json!({
            "request": {"set": [{"name": "a", "value": "{{ header('b') }}"}], "remove": ["c"],
                        "body": {"parseAs": "AsJson"}},
            "response": null,
            "bodyLimit": 1048576
        })
    );
    // `parseAs` defaults to AsString.
    let spec: BodyTransformationSpec = serde_json::from_str(r#"{"value": "x"}"#).unwrap();
    assert_eq!(spec.parse_as, BodyParseBehavior::AsString);
}

#[test]
fn helpers_behave_as_kgateway_documents() {
    let env = template::environment();
    let render = |source: &str| env.render_str(source, ()).unwrap();
    assert_eq!(
        render("{{ substring('ENVOYPROXY something', 5, 5) }}"),
        "PROXY"
    );
    assert_eq!(
        render("{{ substring('ENVOYPROXY something', 5) }}"),
        "PROXY something"
    );
    assert_eq!(render("{{ substring('abc', 1, 0) }}"), "bc");
    assert_eq!(render("{{ substring('abc', 1, -1) }}"), "bc");
    assert_eq!(render("{{ substring('abc', 5) }}"), "");
    assert_eq!(render("{{ substring('abc', -1) }}"), "");
    assert_eq!(render("{{ substring('héllo', 1, 3) }}"), "éll");
    assert_eq!(render("{{ base64_decode('not base64!') }}"), "");
    assert_eq!(render("{{ base64url_encode('??>') }}"), "Pz8-");
    assert_eq!(render("{{ base64url_decode('Pz8-') }}"), "??>");
    assert_eq!(render(r#"{{ raw_string('a "b"\n') }}"#), r#"a \"b\"\n"#);
    assert_eq!(
        render("{{ replace_with_string('a-b-c', '-', '+') }}"),
        "a+b+c"
    );
    // Outside a request, header lookups are empty rather than failing.
    assert_eq!(render("[{{ header('x') }}{{ request_header('x') }}]"), "[]");
    // No HTML escaping.
    assert_eq!(render("{{ '<a&b>' }}"), "<a&b>");
}
