//! Tests against real ext_proc servers: tonic `ExternalProcessor` implementations on
//! 127.0.0.1:0 that answer as Envoy expects, in front of backends that report what they
//! received.

use bytes::Bytes;
use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            HeaderValue as ProtoHeaderValue, HeaderValueOption,
            header_value_option::HeaderAppendAction,
        },
        extensions::filters::http::ext_proc::v3::{
            ProcessingMode as ProtoMode, processing_mode::BodySendMode as ProtoBodyMode,
        },
        service::ext_proc::v3::{
            BodyMutation, BodyResponse, CommonResponse, HeaderMutation, HeadersResponse,
            ImmediateResponse, ProcessingRequest, ProcessingResponse, TrailersResponse,
            body_mutation::Mutation,
            common_response::ResponseStatus,
            external_processor_server::{ExternalProcessor, ExternalProcessorServer},
            processing_request::Request as Part,
            processing_response::Response as Answer,
        },
        r#type::v3::HttpStatus,
    },
    google::protobuf::{BoolValue, Duration as ProtoDuration},
};
use gateway_core::{BoxBody, BoxError, Request, Response, body};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header::CONTENT_LENGTH};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::mpsc;
use tonic::transport::{Server, server::TcpIncoming};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::buffer::FullBody;

// === the processor ===

/// What the test processor does with one message.
#[allow(
    clippy::large_enum_variant,
    reason = "one per message of a test processor: size does not matter"
)]
enum Action {
    Reply(ProcessingResponse),
    /// Several messages (e.g. a standalone mode override, then the answer).
    Replies(Vec<ProcessingResponse>),
    /// Sends the first messages at once and the last one after a while (a slow processor
    /// asking for more time).
    Slow(Vec<ProcessingResponse>, Duration, ProcessingResponse),
    /// Never answers (and keeps the stream open).
    Stall,
    /// Ends the stream cleanly.
    Close,
    /// Ends the stream with an error status.
    Fail(tonic::Status),
}

type Handler = Arc<dyn Fn(&ProcessingRequest) -> Action + Send + Sync>;

/// A tonic `ExternalProcessor` answering each message with its handler, recording every
/// message and counting streams.
#[derive(Clone)]
struct TestProcessor {
    handler: Handler,
    log: Arc<Log>,
}

#[derive(Default)]
struct Log {
    messages: Mutex<Vec<ProcessingRequest>>,
    streams: AtomicUsize,
}

impl Log {
    fn messages(&self) -> Vec<ProcessingRequest> {
        self.messages.lock().clone()
    }

    fn parts(&self) -> Vec<Part> {
        self.messages()
            .into_iter()
            .filter_map(|message| message.request)
            .collect()
    }
}

type AnswerStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<ProcessingResponse, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl ExternalProcessor for TestProcessor {
    type ProcessStream = AnswerStream;

    async fn process(
        &self,
        request: tonic::Request<tonic::Streaming<ProcessingRequest>>,
    ) -> Result<tonic::Response<AnswerStream>, tonic::Status> {
        self.log.streams.fetch_add(1, Ordering::SeqCst);
        let mut inbound = request.into_inner();
        let (answers, mut receiver) = mpsc::unbounded_channel();
        let this = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                this.log.messages.lock().push(message.clone());
                match (this.handler)(&message) {
                    Action::Reply(answer) => {
                        let _ = answers.send(Ok(answer));
                    }
                    Action::Replies(list) => {
                        for answer in list {
                            let _ = answers.send(Ok(answer));
                        }
                    }
                    Action::Slow(now, delay, later) => {
                        for answer in now {
                            let _ = answers.send(Ok(answer));
                        }
                        tokio::time::sleep(delay).await;
                        let _ = answers.send(Ok(later));
                    }
                    Action::Stall => std::future::pending::<()>().await,
                    Action::Close => return,
                    Action::Fail(status) => {
                        let _ = answers.send(Err(status));
                        return;
                    }
                }
            }
        });
        let stream = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

/// Starts a processor on 127.0.0.1:0.
fn spawn_processor(
    handler: impl Fn(&ProcessingRequest) -> Action + Send + Sync + 'static,
) -> (GrpcServer, Arc<Log>) {
    let incoming = TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = incoming.local_addr().unwrap();
    let log = Arc::new(Log::default());
    let processor = TestProcessor {
        handler: Arc::new(handler),
        log: Arc::clone(&log),
    };
    tokio::spawn(
        Server::builder().serve_with_incoming(ExternalProcessorServer::new(processor), incoming),
    );
    (GrpcServer::from_addrs([addr]).unwrap(), log)
}

/// The answer to `message`, of its kind, carrying `common`.
fn answer(message: &ProcessingRequest, common: CommonResponse) -> ProcessingResponse {
    let response = match message.request.as_ref().unwrap() {
        Part::RequestHeaders(_) => Answer::RequestHeaders(HeadersResponse {
            response: Some(common),
        }),
        Part::ResponseHeaders(_) => Answer::ResponseHeaders(HeadersResponse {
            response: Some(common),
        }),
        Part::RequestBody(_) => Answer::RequestBody(BodyResponse {
            response: Some(common),
        }),
        Part::ResponseBody(_) => Answer::ResponseBody(BodyResponse {
            response: Some(common),
        }),
        Part::RequestTrailers(_) => Answer::RequestTrailers(TrailersResponse {
            header_mutation: common.header_mutation,
        }),
        Part::ResponseTrailers(_) => Answer::ResponseTrailers(TrailersResponse {
            header_mutation: common.header_mutation,
        }),
    };
    ProcessingResponse {
        response: Some(response),
        ..ProcessingResponse::default()
    }
}

/// `CONTINUE` without changes.
fn proceed(message: &ProcessingRequest) -> Action {
    Action::Reply(answer(message, CommonResponse::default()))
}

fn headers(set_headers: Vec<HeaderValueOption>, remove_headers: &[&str]) -> CommonResponse {
    CommonResponse {
        header_mutation: Some(HeaderMutation {
            set_headers,
            remove_headers: remove_headers.iter().map(|name| name.to_string()).collect(),
        }),
        ..CommonResponse::default()
    }
}

fn replace_body(body: impl Into<Vec<u8>>) -> CommonResponse {
    CommonResponse {
        body_mutation: Some(BodyMutation {
            mutation: Some(Mutation::Body(body.into())),
        }),
        ..CommonResponse::default()
    }
}

/// A `set_headers` entry with the value in `raw_value` and the default action.
fn set(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(ProtoHeaderValue {
            key: key.to_owned(),
            value: String::new(),
            raw_value: value.as_bytes().to_vec(),
        }),
        ..HeaderValueOption::default()
    }
}

fn set_with(key: &str, value: &str, action: HeaderAppendAction) -> HeaderValueOption {
    HeaderValueOption {
        append_action: action.into(),
        ..set(key, value)
    }
}

fn immediate(code: i32, body: &str, set_headers: Vec<HeaderValueOption>) -> ProcessingResponse {
    ProcessingResponse {
        response: Some(Answer::ImmediateResponse(ImmediateResponse {
            status: Some(HttpStatus { code }),
            headers: Some(HeaderMutation {
                set_headers,
                remove_headers: Vec::new(),
            }),
            body: body.as_bytes().to_vec(),
            ..ImmediateResponse::default()
        })),
        ..ProcessingResponse::default()
    }
}

/// The headers of a headers message, as (name, value) pairs.
fn proto_headers(part: &Part) -> Vec<(String, String)> {
    let map = match part {
        Part::RequestHeaders(h) | Part::ResponseHeaders(h) => h.headers.clone(),
        Part::RequestTrailers(t) | Part::ResponseTrailers(t) => t.trailers.clone(),
        _ => None,
    };
    map.unwrap_or_default()
        .headers
        .into_iter()
        .map(|h| (h.key, String::from_utf8(h.raw_value).unwrap()))
        .collect()
}

fn body_of(part: &Part) -> Option<(String, bool)> {
    match part {
        Part::RequestBody(b) | Part::ResponseBody(b) => {
            Some((String::from_utf8(b.body.clone()).unwrap(), b.end_of_stream))
        }
        _ => None,
    }
}

// === the backend and the client side ===

/// What a backend received.
#[derive(Clone, Debug)]
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    trailers: Option<HeaderMap>,
}

type Seen = Arc<Mutex<Vec<Received>>>;

/// A backend recording each request (body and trailers read to the end) and answering
/// with `reply()`.
fn backend(
    seen: Seen,
    reply: impl Fn() -> Response + Clone + Send + Sync + 'static,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    service_fn(move |request: Request| {
        let seen = Arc::clone(&seen);
        let reply = reply.clone();
        async move {
            let (parts, body) = request.into_parts();
            let collected = body.collect().await.unwrap();
            seen.lock().push(Received {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                trailers: collected.trailers().cloned(),
                body: collected.to_bytes(),
            });
            Ok(reply())
        }
    })
}

fn ok_text(text: &'static str) -> impl Fn() -> Response + Clone + Send + Sync + 'static {
    move || {
        let mut response = http::Response::new(body::full(text));
        response
            .headers_mut()
            .insert("x-backend", HeaderValue::from_static("yes"));
        response
    }
}

/// Test settings: a message timeout no loaded machine misses.
fn config(server: GrpcServer) -> ExtProcConfig {
    let mut config = ExtProcConfig::new(server);
    config.message_timeout = Duration::from_secs(10);
    config
}

/// A body fed frame by frame through a channel.
fn channel_body() -> (
    mpsc::UnboundedSender<Result<Frame<Bytes>, BoxError>>,
    BoxBody,
) {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let stream = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    (sender, body::boxed(StreamBody::new(stream)))
}

/// A body of `chunks`, one frame each, and optional trailers.
fn chunked(chunks: &[&'static str], trailers: Option<HeaderMap>) -> BoxBody {
    let (sender, body) = channel_body();
    for chunk in chunks {
        sender
            .send(Ok(Frame::data(Bytes::from_static(chunk.as_bytes()))))
            .unwrap();
    }
    if let Some(trailers) = trailers {
        sender.send(Ok(Frame::trailers(trailers))).unwrap();
    }
    body
}

async fn read(response: Response) -> (http::response::Parts, Bytes, Option<HeaderMap>) {
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    (parts, collected.to_bytes(), trailers)
}

/// `future`'s output; a test waiting more than ten seconds fails instead of hanging.
async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("within ten seconds")
}

fn all(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

// === headers ===

#[tokio::test]
#[allow(
    deprecated,
    reason = "the legacy `append` flag is part of what is tested"
)]
async fn header_mutations_reach_the_backend_and_the_client() {
    let (server, log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::RequestHeaders(_) => Action::Reply(answer(
            message,
            headers(
                vec![
                    set("x-added", "1"),
                    set_with(
                        "x-existing",
                        "new",
                        HeaderAppendAction::OverwriteIfExistsOrAdd,
                    ),
                    HeaderValueOption {
                        append: Some(BoolValue { value: true }),
                        ..set("x-multi", "second")
                    },
                    // The default action (`APPEND_IF_EXISTS_OR_ADD` is proto3's zero, so it
                    // reads as unset) defers to `append`, which defaults to overwrite.
                    set_with("x-default", "new", HeaderAppendAction::AppendIfExistsOrAdd),
                    set_with("x-existing", "ignored", HeaderAppendAction::AddIfAbsent),
                    set_with("x-absent", "added", HeaderAppendAction::AddIfAbsent),
                    set_with("x-nowhere", "no", HeaderAppendAction::OverwriteIfExists),
                    set("host", "evil.example"),
                    set(":authority", "evil.example"),
                    set("x-envoy-internal", "true"),
                    set(":path", "/rewritten?q=1"),
                ],
                &["x-remove-me", "host", ":method"],
            ),
        )),
        Part::ResponseHeaders(_) => Action::Reply(answer(
            message,
            headers(
                vec![set("x-response", "added"), set(":status", "201")],
                &["x-backend"],
            ),
        )),
        _ => proceed(message),
    });
    let seen = Seen::default();
    let service = ExtProcLayer::new(config(server))
        .layer(backend(Arc::clone(&seen), ok_text("from the backend")));
    let request = http::Request::get("/original?a=b")
        .header("host", "example.com")
        .header("x-existing", "old")
        .header("x-multi", "first")
        .header("x-default", "old")
        .header("x-remove-me", "gone")
        .body(body::empty())
        .unwrap();
    let (parts, text, _) = read(service.oneshot(request).await.unwrap()).await;

    let received = seen.lock()[0].clone();
    assert_eq!(received.uri, "/rewritten?q=1");
    assert_eq!(received.method, Method::GET);
    assert_eq!(received.headers["host"], "example.com");
    assert_eq!(received.headers["x-added"], "1");
    assert_eq!(all(&received.headers, "x-existing"), ["new"]);
    assert_eq!(all(&received.headers, "x-multi"), ["first", "second"]);
    assert_eq!(all(&received.headers, "x-default"), ["new"]);
    assert_eq!(received.headers["x-absent"], "added");
    assert!(!received.headers.contains_key("x-nowhere"));
    assert!(!received.headers.contains_key("x-remove-me"));
    assert!(!received.headers.contains_key("x-envoy-internal"));

    assert_eq!(parts.status, StatusCode::CREATED);
    assert_eq!(parts.headers["x-response"], "added");
    assert!(!parts.headers.contains_key("x-backend"));
    assert_eq!(text, "from the backend");

    // What the processor saw: one stream, request headers (pseudo-headers first, `Host` as
    // `:authority`, no body), then response headers with `:status`.
    assert_eq!(log.streams.load(Ordering::SeqCst), 1);
    let messages = log.messages();
    assert_eq!(messages.len(), 2);
    let protocol = messages[0].protocol_config.unwrap();
    assert_eq!(protocol.request_body_mode, i32::from(ProtoBodyMode::None));
    assert!(messages[1].protocol_config.is_none());
    let request_headers = proto_headers(messages[0].request.as_ref().unwrap());
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        request_headers[..4],
        pairs(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "example.com"),
            (":path", "/original?a=b")
        ])[..]
    );
    assert!(!request_headers.iter().any(|(name, _)| name == "host"));
    let Some(Part::RequestHeaders(first)) = &messages[0].request else {
        panic!("request headers first");
    };
    assert!(first.end_of_stream, "a GET without a body");
    let response_headers = proto_headers(messages[1].request.as_ref().unwrap());
    assert_eq!(response_headers[0], pairs(&[(":status", "200")])[0]);
    assert!(response_headers.contains(&pairs(&[("x-backend", "yes")])[0]));
}

#[tokio::test]
async fn invalid_mutations_fail_the_request() {
    let (server, _log) = spawn_processor(|message| {
        Action::Reply(answer(message, headers(vec![set("bad header", "x")], &[])))
    });
    let seen = Seen::default();
    let mut config = config(server);
    config.fail_open = true;
    let service = ExtProcLayer::new(config).layer(backend(Arc::clone(&seen), ok_text("hi")));
    let response = service
        .oneshot(http::Request::new(body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(seen.lock().is_empty());
}

// === bodies ===

#[tokio::test]
async fn buffered_bodies_are_replaced_whole() {
    let (server, log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::RequestBody(_) => Action::Reply(answer(message, replace_body("replaced request"))),
        Part::ResponseBody(_) => {
            Action::Reply(answer(message, replace_body("the processor's response")))
        }
        _ => proceed(message),
    });
    let seen = Seen::default();
    let mut config = config(server);
    config.processing_mode.request_body_mode = BodySendMode::Buffered;
    config.processing_mode.response_body_mode = BodySendMode::Buffered;
    let service = ExtProcLayer::new(config).layer(backend(
        Arc::clone(&seen),
        ok_text("the backend's response"),
    ));
    let request = http::Request::post("/")
        .body(chunked(&["hello ", "world"], None))
        .unwrap();
    let (parts, text, _) = read(service.oneshot(request).await.unwrap()).await;

    let received = seen.lock()[0].clone();
    assert_eq!(received.body, "replaced request");
    assert_eq!(received.headers[CONTENT_LENGTH], "16");
    assert_eq!(text, "the processor's response");
    assert_eq!(parts.headers[CONTENT_LENGTH], "24");

    let parts = log.parts();
    let bodies: Vec<_> = parts.iter().filter_map(body_of).collect();
    assert_eq!(
        bodies,
        [
            ("hello world".to_owned(), true),
            ("the backend's response".to_owned(), true)
        ]
    );
    let Part::RequestHeaders(first) = &parts[0] else {
        panic!("request headers first");
    };
    assert!(!first.end_of_stream, "the request has a body");
}

#[tokio::test]
async fn buffered_bodies_over_the_limit_are_refused() {
    let (server, log) = spawn_processor(proceed);
    let seen = Seen::default();
    let mut config = config(server);
    config.processing_mode.request_body_mode = BodySendMode::Buffered;
    config.processing_mode.response_body_mode = BodySendMode::Buffered;
    config.body_limit = 8;
    let service = ExtProcLayer::new(config).layer(backend(
        Arc::clone(&seen),
        ok_text("a response over eight bytes"),
    ));

    // A request growing past the limit while it streams in.
    let request = http::Request::post("/")
        .body(chunked(&["1234", "5678", "9"], None))
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A request announcing its length: refused before its body is read.
    let (_sender, unread) = channel_body();
    let request = http::Request::post("/")
        .header(CONTENT_LENGTH, "100")
        .body(unread)
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(seen.lock().is_empty());
    assert!(log.parts().iter().all(|part| body_of(part).is_none()));

    // A response over the limit becomes a 500.
    let request = http::Request::post("/").body(body::full("small")).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(seen.lock().len(), 1);
}

#[tokio::test]
async fn buffered_partial_processes_the_first_part_only() {
    let (server, log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::RequestBody(b) => {
            Action::Reply(answer(message, replace_body(b.body.to_ascii_uppercase())))
        }
        _ => proceed(message),
    });
    let seen = Seen::default();
    let mut config = config(server);
    config.processing_mode.request_body_mode = BodySendMode::BufferedPartial;
    config.body_limit = 7;
    let service = ExtProcLayer::new(config).layer(backend(Arc::clone(&seen), ok_text("ok")));

    let request = http::Request::post("/")
        .body(chunked(&["hello ", "wor", "ld"], None))
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let request = http::Request::post("/").body(body::full("short")).unwrap();
    service.oneshot(request).await.unwrap();

    let seen = seen.lock();
    assert_eq!(seen[0].body, "HELLO World");
    assert!(!seen[0].headers.contains_key(CONTENT_LENGTH));
    assert_eq!(seen[1].body, "SHORT");
    let bodies: Vec<_> = log.parts().iter().filter_map(body_of).collect();
    assert_eq!(
        bodies,
        [("hello w".to_owned(), false), ("short".to_owned(), true)]
    );
}

#[tokio::test]
async fn streamed_bodies_go_through_chunk_by_chunk() {
    let (server, log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::RequestBody(b) | Part::ResponseBody(b) => {
            Action::Reply(answer(message, replace_body(b.body.to_ascii_uppercase())))
        }
        _ => proceed(message),
    });
    let mut config = config(server);
    config.processing_mode.request_body_mode = BodySendMode::Streamed;
    config.processing_mode.response_body_mode = BodySendMode::Streamed;

    // The backend reports each request chunk as it arrives and answers with a body the test
    // feeds.
    let (at_backend, mut backend_chunks) = mpsc::unbounded_channel::<Option<Bytes>>();
    let (response_sender, response_body) = channel_body();
    let response_body = Arc::new(Mutex::new(Some(response_body)));
    let lengths = Arc::new(Mutex::new(Vec::new()));
    let backend = {
        let lengths = Arc::clone(&lengths);
        service_fn(move |request: Request| {
            let at_backend = at_backend.clone();
            let body = response_body.lock().take().unwrap();
            lengths
                .lock()
                .push(request.headers().get(CONTENT_LENGTH).cloned());
            async move {
                let mut incoming = request.into_body();
                tokio::spawn(async move {
                    while let Some(frame) = incoming.frame().await {
                        if let Ok(data) = frame.unwrap().into_data() {
                            at_backend.send(Some(data)).unwrap();
                        }
                    }
                    at_backend.send(None).unwrap();
                });
                Ok::<_, Infallible>(http::Response::new(body))
            }
        })
    };
    let service = ExtProcLayer::new(config).layer(backend);

    let (client, request_body) = channel_body();
    let request = http::Request::post("/upload")
        .header(CONTENT_LENGTH, "11")
        .body(request_body)
        .unwrap();
    client.send(Ok(Frame::data(Bytes::from("hello")))).unwrap();
    let response = within(service.oneshot(request)).await.unwrap();

    // Each chunk reaches the backend before the client sends the next.
    assert_eq!(
        within(backend_chunks.recv()).await.unwrap().unwrap(),
        "HELLO"
    );
    client.send(Ok(Frame::data(Bytes::from(" world")))).unwrap();
    assert_eq!(
        within(backend_chunks.recv()).await.unwrap().unwrap(),
        " WORLD"
    );
    drop(client);
    assert_eq!(within(backend_chunks.recv()).await.unwrap(), None);
    assert_eq!(*lengths.lock(), [None], "the length may change: not sent");

    // The response streams the same way.
    let mut body = response.into_body();
    response_sender
        .send(Ok(Frame::data(Bytes::from("abc"))))
        .unwrap();
    let frame = within(body.frame()).await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "ABC");
    response_sender
        .send(Ok(Frame::data(Bytes::from("def"))))
        .unwrap();
    let frame = within(body.frame()).await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "DEF");
    drop(response_sender);
    assert!(within(body.frame()).await.is_none());

    let requests: Vec<_> = log
        .parts()
        .iter()
        .filter(|part| matches!(part, Part::RequestBody(_)))
        .filter_map(body_of)
        .collect();
    assert_eq!(
        requests,
        [
            ("hello".to_owned(), false),
            (" world".to_owned(), false),
            (String::new(), true)
        ]
    );
    assert_eq!(log.streams.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_immediate_response_mid_stream_answers_the_client() {
    let (server, _log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::RequestBody(b) if b.body.starts_with(b"evil") => {
            Action::Reply(immediate(400, "no evil here", Vec::new()))
        }
        Part::RequestBody(b) => Action::Reply(answer(message, replace_body(b.body.clone()))),
        _ => proceed(message),
    });
    let mut config = config(server);
    config.processing_mode.request_body_mode = BodySendMode::Streamed;
    let backend_saw = Arc::new(Mutex::new(None));
    let backend = {
        let backend_saw = Arc::clone(&backend_saw);
        service_fn(move |request: Request| {
            let backend_saw = Arc::clone(&backend_saw);
            async move {
                let result = request.into_body().collect().await;
                *backend_saw.lock() = Some(result.map(|c| c.to_bytes()).map_err(|e| e.to_string()));
                Ok::<_, Infallible>(http::Response::new(body::full("backend")))
            }
        })
    };
    let service = ExtProcLayer::new(config).layer(backend);
    let request = http::Request::post("/")
        .body(chunked(&["fine ", "evil"], None))
        .unwrap();
    let (parts, text, _) = read(service.oneshot(request).await.unwrap()).await;
    assert_eq!(parts.status, StatusCode::BAD_REQUEST);
    assert_eq!(text, "no evil here");
    // The backend's body broke off with the processor's error.
    let saw = backend_saw.lock().clone().unwrap();
    assert!(saw.unwrap_err().contains("immediate response"));
}

// === immediate responses ===

#[tokio::test]
async fn immediate_responses_answer_instead_of_the_backend() {
    let (server, log) = spawn_processor(|message| {
        Action::Reply(immediate(403, "denied", vec![set("x-reason", "policy")]))
            .only_for_request_headers(message)
    });
    let seen = Seen::default();
    let service =
        ExtProcLayer::new(config(server)).layer(backend(Arc::clone(&seen), ok_text("hi")));
    let (parts, text, _) = read(
        service
            .oneshot(http::Request::new(body::empty()))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(parts.status, StatusCode::FORBIDDEN);
    assert_eq!(text, "denied");
    assert_eq!(parts.headers["x-reason"], "policy");
    assert_eq!(parts.headers["content-type"], "text/plain");
    assert!(seen.lock().is_empty());
    assert_eq!(log.messages().len(), 1, "nothing sent after the answer");
}

#[tokio::test]
async fn immediate_responses_replace_the_backends_response() {
    let (server, _log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::ResponseHeaders(_) => Action::Reply(immediate(0, "", Vec::new())),
        _ => proceed(message),
    });
    let seen = Seen::default();
    let service =
        ExtProcLayer::new(config(server)).layer(backend(Arc::clone(&seen), ok_text("secret")));
    let (parts, text, _) = read(
        service
            .oneshot(http::Request::new(body::empty()))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK, "no status: Envoy's 200");
    assert!(text.is_empty());
    assert!(!parts.headers.contains_key("x-backend"));
    assert_eq!(seen.lock().len(), 1);
}

impl Action {
    /// `self` for request headers, `CONTINUE` for anything else.
    fn only_for_request_headers(self, message: &ProcessingRequest) -> Self {
        match message.request {
            Some(Part::RequestHeaders(_)) => self,
            _ => proceed(message),
        }
    }
}

// === failures ===

#[tokio::test(start_paused = true)]
async fn a_stalled_processor_times_out_open_or_closed() {
    for (fail_open, expected, backend_calls) in [
        (true, StatusCode::OK, 1),
        (false, StatusCode::GATEWAY_TIMEOUT, 0),
    ] {
        let (server, _log) = spawn_processor(|_| Action::Stall);
        let seen = Seen::default();
        let mut config = ExtProcConfig::new(server);
        config.fail_open = fail_open;
        assert_eq!(config.message_timeout, Duration::from_millis(200));
        let service = ExtProcLayer::new(config).layer(backend(Arc::clone(&seen), ok_text("hi")));
        let response = service
            .oneshot(http::Request::new(body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "failOpen {fail_open}");
        assert_eq!(seen.lock().len(), backend_calls, "failOpen {fail_open}");
    }
}

/// Real time: the processor is slower than the message timeout, and asks for more.
#[tokio::test]
async fn a_processor_may_ask_for_more_time_up_to_the_maximum() {
    for (max, expected) in [
        (Duration::from_secs(30), StatusCode::OK),
        (Duration::ZERO, StatusCode::GATEWAY_TIMEOUT),
    ] {
        let (server, _log) = spawn_processor(|message| {
            let more_time = ProcessingResponse {
                override_message_timeout: Some(ProtoDuration {
                    seconds: 20,
                    nanos: 0,
                }),
                ..ProcessingResponse::default()
            };
            let answer = answer(message, CommonResponse::default());
            Action::Slow(vec![more_time], Duration::from_millis(1500), answer)
                .only_for_request_headers(message)
        });
        let seen = Seen::default();
        let mut config = config(server);
        config.message_timeout = Duration::from_secs(1);
        config.max_message_timeout = max;
        let service = ExtProcLayer::new(config).layer(backend(Arc::clone(&seen), ok_text("hi")));
        let response = within(service.oneshot(http::Request::new(body::empty())))
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "maxMessageTimeout {max:?}");
    }
}

#[tokio::test]
async fn stream_errors_fail_open_or_closed() {
    for (fail_open, expected, backend_calls) in [
        (true, StatusCode::OK, 1),
        (false, StatusCode::INTERNAL_SERVER_ERROR, 0),
    ] {
        let (server, _log) = spawn_processor(|_| Action::Fail(tonic::Status::internal("boom")));
        let seen = Seen::default();
        let mut config = config(server);
        config.fail_open = fail_open;
        let service = ExtProcLayer::new(config).layer(backend(Arc::clone(&seen), ok_text("hi")));
        let response = service
            .oneshot(http::Request::new(body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "failOpen {fail_open}");
        assert_eq!(seen.lock().len(), backend_calls, "failOpen {fail_open}");
    }
}

#[tokio::test]
async fn out_of_order_answers_fail_the_request() {
    let (server, _log) = spawn_processor(|message| {
        let mut wrong = answer(message, CommonResponse::default());
        wrong.response = Some(Answer::ResponseHeaders(HeadersResponse::default()));
        Action::Reply(wrong)
    });
    let seen = Seen::default();
    let service =
        ExtProcLayer::new(config(server)).layer(backend(Arc::clone(&seen), ok_text("hi")));
    let response = service
        .oneshot(http::Request::new(body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(seen.lock().is_empty());
}

#[tokio::test]
async fn a_processor_closing_the_stream_leaves_the_request_alone() {
    let (server, log) = spawn_processor(|_| Action::Close);
    let seen = Seen::default();
    // Even failing closed: a clean close is not a failure.
    let service =
        ExtProcLayer::new(config(server)).layer(backend(Arc::clone(&seen), ok_text("untouched")));
    let (parts, text, _) = read(
        service
            .oneshot(http::Request::new(body::empty()))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(text, "untouched");
    assert_eq!(seen.lock().len(), 1);
    assert_eq!(log.messages().len(), 1, "response headers not sent");
}

// === trailers ===

#[tokio::test]
async fn trailers_are_sent_and_mutated_both_ways() {
    let (server, log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::RequestTrailers(_) => Action::Reply(answer(
            message,
            headers(vec![set("x-checksum", "fixed"), set("x-added", "1")], &[]),
        )),
        Part::ResponseTrailers(_) => Action::Reply(answer(
            message,
            headers(vec![set("grpc-message", "rewritten")], &["x-secret"]),
        )),
        _ => proceed(message),
    });
    let seen = Seen::default();
    let mut config = config(server);
    config.processing_mode.request_trailer_mode = HeaderSendMode::Send;
    config.processing_mode.response_trailer_mode = HeaderSendMode::Send;
    let reply = || {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-message", HeaderValue::from_static("original"));
        trailers.insert("x-secret", HeaderValue::from_static("s"));
        http::Response::new(BoxBody::full(Bytes::from("response data"), Some(trailers)))
    };
    let service = ExtProcLayer::new(config).layer(backend(Arc::clone(&seen), reply));
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let request = http::Request::post("/")
        .body(chunked(&["request ", "data"], Some(trailers)))
        .unwrap();
    let (_, text, trailers) = read(service.oneshot(request).await.unwrap()).await;

    let received = seen.lock()[0].clone();
    assert_eq!(
        received.body, "request data",
        "bodies untouched in mode NONE"
    );
    let request_trailers = received.trailers.unwrap();
    assert_eq!(request_trailers["x-checksum"], "fixed");
    assert_eq!(request_trailers["x-added"], "1");
    assert_eq!(text, "response data");
    let trailers = trailers.unwrap();
    assert_eq!(trailers["grpc-message"], "rewritten");
    assert!(!trailers.contains_key("x-secret"));

    let parts = log.parts();
    assert!(parts.iter().all(|part| body_of(part).is_none()));
    let sent: Vec<_> = parts
        .iter()
        .filter(|part| matches!(part, Part::RequestTrailers(_) | Part::ResponseTrailers(_)))
        .map(proto_headers)
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], [("x-checksum".to_owned(), "abc".to_owned())]);
}

// === modes ===

#[tokio::test]
async fn the_processor_may_override_the_mode_when_allowed() {
    let handler = |message: &ProcessingRequest| match message.request.as_ref().unwrap() {
        Part::RequestHeaders(_) => {
            // A standalone override first, then the answer.
            let mode = ProtoMode {
                request_body_mode: ProtoBodyMode::Buffered.into(),
                ..ProtoMode::default()
            };
            let standalone = ProcessingResponse {
                mode_override: Some(mode),
                ..ProcessingResponse::default()
            };
            Action::Replies(vec![standalone, answer(message, CommonResponse::default())])
        }
        Part::RequestBody(_) => Action::Reply(answer(message, replace_body("overridden"))),
        _ => proceed(message),
    };
    for allow in [true, false] {
        let (server, _log) = spawn_processor(handler);
        let seen = Seen::default();
        let mut config = config(server);
        config.allow_mode_override = allow;
        let service = ExtProcLayer::new(config).layer(backend(Arc::clone(&seen), ok_text("ok")));
        let request = http::Request::post("/")
            .body(body::full("original"))
            .unwrap();
        service.oneshot(request).await.unwrap();
        let expected = if allow { "overridden" } else { "original" };
        assert_eq!(seen.lock()[0].body, expected, "allow {allow}");
    }
}

#[tokio::test]
async fn continue_and_replace_rewrites_the_request_from_its_headers() {
    let (server, log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::RequestHeaders(_) => Action::Reply(answer(
            message,
            CommonResponse {
                status: ResponseStatus::ContinueAndReplace.into(),
                ..CommonResponse {
                    header_mutation: headers(vec![set(":method", "POST")], &[]).header_mutation,
                    ..replace_body("a new body")
                }
            },
        )),
        _ => proceed(message),
    });
    let seen = Seen::default();
    let mut config = config(server);
    config.processing_mode.request_body_mode = BodySendMode::Buffered;
    let service = ExtProcLayer::new(config).layer(backend(Arc::clone(&seen), ok_text("ok")));
    let request = http::Request::get("/").body(body::empty()).unwrap();
    service.oneshot(request).await.unwrap();
    let received = seen.lock()[0].clone();
    assert_eq!(received.method, Method::POST);
    assert_eq!(received.body, "a new body");
    assert_eq!(received.headers[CONTENT_LENGTH], "10");
    assert!(log.parts().iter().all(|part| body_of(part).is_none()));
}

#[tokio::test]
async fn a_policy_skipping_everything_leaves_requests_alone() {
    let (server, log) = spawn_processor(proceed);
    let mode = ProcessingMode {
        request_header_mode: HeaderSendMode::Skip,
        response_header_mode: HeaderSendMode::Skip,
        ..ProcessingMode::default()
    };
    assert!(!mode.sends_anything());
    let seen = Seen::default();
    let service = ExtProcLayer::new(config(server).with_processing_mode(mode))
        .layer(backend(Arc::clone(&seen), ok_text("ok")));
    let response = service
        .oneshot(http::Request::new(body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(log.streams.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn each_request_has_its_own_stream_on_one_channel() {
    let (server, log) = spawn_processor(proceed);
    let seen = Seen::default();
    let layer = ExtProcLayer::new(config(server));
    let service = layer.layer(backend(Arc::clone(&seen), ok_text("ok")));
    for _ in 0..3 {
        let response = service
            .clone()
            .oneshot(http::Request::new(body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(log.streams.load(Ordering::SeqCst), 3);
    assert_eq!(log.messages().len(), 6);
}

// === over real HTTP ===

/// Serves `service` over HTTP/1.1 on a loopback port.
async fn serve(service: gateway_core::HttpService) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: http::Request<_>| {
                    service.call_shared(request.map(body::boxed))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_gateway_over_real_sockets_forwards_what_the_processor_made() {
    let (server, _log) = spawn_processor(|message| match message.request.as_ref().unwrap() {
        Part::RequestHeaders(_) => Action::Reply(answer(
            message,
            headers(vec![set("x-processed", "yes")], &[]),
        )),
        Part::RequestBody(b) => {
            Action::Reply(answer(message, replace_body(b.body.to_ascii_uppercase())))
        }
        Part::ResponseHeaders(_) => Action::Reply(answer(
            message,
            headers(vec![set("x-seen-by", "ext-proc")], &[]),
        )),
        _ => proceed(message),
    });
    let echo = gateway_core::test_util::spawn_echo().await;
    let client = gateway_core::test_util::http1_client();
    let upstream = client.clone();
    let forward = service_fn(move |mut request: Request| {
        let upstream = upstream.clone();
        async move {
            *request.uri_mut() = format!("http://{echo}{}", request.uri().path())
                .parse()
                .unwrap();
            let response = upstream.inner().request(request).await.unwrap();
            Ok::<_, Infallible>(response.map(body::boxed))
        }
    });
    let mut config = config(server);
    config.processing_mode.request_body_mode = BodySendMode::Buffered;
    let gateway = serve(gateway_core::HttpService::new(
        ExtProcLayer::new(config).layer(forward),
    ))
    .await;

    let request = http::Request::post(format!("http://{gateway}/echo"))
        .body(chunked(&["over ", "the wire"], None))
        .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-seen-by"], "ext-proc");
    let echoed: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(echoed["body"], "OVER THE WIRE");
    assert_eq!(echoed["headers"]["x-processed"][0], "yes");
    assert_eq!(echoed["headers"]["content-length"][0], "13");
}

// === mode overrides, unit ===

#[test]
fn mode_overrides_follow_envoys_rules() {
    let server = GrpcServer::new(Uri::from_static("http://127.0.0.1:1"));
    let mut config = ExtProcConfig::new(server);
    let current = ProcessingMode::default();
    let buffered_request = ProtoMode {
        request_body_mode: ProtoBodyMode::Buffered.into(),
        ..ProtoMode::default()
    };
    let processor = |config: &ExtProcConfig| stream::Processor::new(config.clone());

    // Not allowed: ignored.
    assert_eq!(
        processor(&config).override_mode(current, Some(&buffered_request)),
        current
    );
    // Allowed: DEFAULT header modes keep the current ones; body modes are taken.
    config.allow_mode_override = true;
    let overridden = processor(&config).override_mode(current, Some(&buffered_request));
    assert_eq!(overridden.request_body_mode, BodySendMode::Buffered);
    assert_eq!(overridden.response_header_mode, HeaderSendMode::Send);
    assert_eq!(overridden.response_body_mode, BodySendMode::None);
    // An allow-list: only listed modes.
    config.allowed_override_modes = vec![ProcessingMode {
        response_body_mode: BodySendMode::Streamed,
        ..ProcessingMode::default()
    }];
    assert_eq!(
        processor(&config).override_mode(current, Some(&buffered_request)),
        current
    );
    config.allowed_override_modes.push(ProcessingMode {
        request_header_mode: HeaderSendMode::Skip,
        request_body_mode: BodySendMode::Buffered,
        ..ProcessingMode::default()
    });
    assert_eq!(
        processor(&config)
            .override_mode(current, Some(&buffered_request))
            .request_body_mode,
        BodySendMode::Buffered,
        "the request header mode is not compared"
    );
    // Full duplex is not served: the override is refused.
    let duplex = ProtoMode {
        request_body_mode: ProtoBodyMode::FullDuplexStreamed.into(),
        ..ProtoMode::default()
    };
    config.allowed_override_modes.clear();
    assert_eq!(
        processor(&config).override_mode(current, Some(&duplex)),
        current
    );
}

// === specs ===

#[test]
fn a_gateway_extension_compiles_with_kgateways_defaults() {
    let spec: ExtProcProviderSpec = serde_json::from_value(serde_json::json!({
        "grpcService": {
            "backendRef": {"name": "ext-proc", "port": 4444},
            "authority": "ext-proc.internal:4444"
        }
    }))
    .unwrap();
    let server = GrpcServer::new(Uri::from_static("http://10.0.0.7:4444"));
    let config = spec.compile(server).unwrap();
    assert!(config.fail_open, "kgateway's failOpen defaults to true");
    assert_eq!(config.processing_mode, ProcessingMode::default());
    assert_eq!(config.message_timeout, DEFAULT_MESSAGE_TIMEOUT);
    assert_eq!(config.max_message_timeout, Duration::ZERO);
    assert!(!config.allow_mode_override);
    assert_eq!(
        config.server.authority().unwrap().as_str(),
        "ext-proc.internal:4444"
    );
    assert_eq!(config.body_limit, DEFAULT_BODY_LIMIT);
    let dumped = serde_json::to_value(&config).unwrap();
    assert_eq!(dumped["server"]["endpoints"][0], "http://10.0.0.7:4444/");
    assert_eq!(dumped["processingMode"]["requestHeaderMode"], "SEND");
}

#[test]
fn a_gateway_extension_compiles_every_field() {
    let spec: ExtProcProviderSpec = serde_json::from_value(serde_json::json!({
        "grpcService": {"backendRef": {"name": "ext-proc", "namespace": "infra", "port": 4444}},
        "failOpen": false,
        "processingMode": {
            "requestHeaderMode": "SKIP",
            "responseHeaderMode": "DEFAULT",
            "requestBodyMode": "STREAMED",
            "responseBodyMode": "BUFFERED_PARTIAL",
            "requestTrailerMode": "SEND"
        },
        "allowProcessingModeOverride": true,
        "allowedProcessingModeOverrides": [{"requestBodyMode": "BUFFERED"}],
        "messageTimeout": "1s",
        "maxMessageTimeout": "5s"
    }))
    .unwrap();
    let config = spec
        .compile(GrpcServer::new(Uri::from_static(
            "http://ext-proc.infra:4444",
        )))
        .unwrap();
    assert!(!config.fail_open);
    assert_eq!(
        config.processing_mode,
        ProcessingMode {
            request_header_mode: HeaderSendMode::Skip,
            response_header_mode: HeaderSendMode::Send,
            request_body_mode: BodySendMode::Streamed,
            response_body_mode: BodySendMode::BufferedPartial,
            request_trailer_mode: HeaderSendMode::Send,
            response_trailer_mode: HeaderSendMode::Skip,
        }
    );
    assert!(config.allow_mode_override);
    assert_eq!(
        config.allowed_override_modes,
        [ProcessingMode {
            request_body_mode: BodySendMode::Buffered,
            ..ProcessingMode::default()
        }]
    );
    assert_eq!(config.message_timeout, Duration::from_secs(1));
    assert_eq!(config.max_message_timeout, Duration::from_secs(5));
}

#[test]
fn gateway_extension_errors_name_the_field() {
    let server = || GrpcServer::new(Uri::from_static("http://127.0.0.1:1"));
    let error = |json: serde_json::Value| {
        serde_json::from_value::<ExtProcProviderSpec>(json)
            .unwrap()
            .compile(server())
            .unwrap_err()
    };
    let grpc = serde_json::json!({"backendRef": {"name": "p", "port": 1}});
    assert_eq!(error(serde_json::json!({})).field, "grpcService");
    assert_eq!(
        error(serde_json::json!({"grpcService": {}})).field,
        "grpcService.backendRef"
    );
    assert_eq!(
        error(serde_json::json!({"grpcService": {"backendRef": {"name": ""}}})).field,
        "grpcService.backendRef.name"
    );
    assert_eq!(
        error(
            serde_json::json!({"grpcService": {"backendRef": {"name": "p"}, "authority": "a b"}})
        )
        .field,
        "grpcService.authority"
    );
    let duplex = error(serde_json::json!({
        "grpcService": grpc,
        "processingMode": {"responseBodyMode": "FULL_DUPLEX_STREAMED"}
    }));
    assert_eq!(duplex.field, "processingMode.responseBodyMode");
    assert!(duplex.reason.contains("not supported"), "{duplex}");
    assert_eq!(
        error(serde_json::json!({
            "grpcService": grpc,
            "allowedProcessingModeOverrides": [{}, {"requestBodyMode": "FULL_DUPLEX_STREAMED"}]
        }))
        .field,
        "allowedProcessingModeOverrides[1].requestBodyMode"
    );
    assert_eq!(
        error(serde_json::json!({"grpcService": grpc, "messageTimeout": "0s"})).field,
        "messageTimeout"
    );
    assert_eq!(
        error(serde_json::json!({"grpcService": grpc, "maxMessageTimeout": "500us"})).field,
        "maxMessageTimeout"
    );
    assert!(
        serde_json::from_value::<ExtProcProviderSpec>(serde_json::json!({
            "grpcService": grpc, "processingMode": {"requestBodyMode": "SOMETIMES"}
        }))
        .is_err()
    );
}

#[test]
fn traffic_policies_reference_an_extension_or_disable() {
    let spec: ExtProcPolicySpec = serde_json::from_value(serde_json::json!({
        "extensionRef": {"name": "processor", "namespace": "infra"},
        "processingMode": {"responseBodyMode": "STREAMED"}
    }))
    .unwrap();
    let ExtProcPolicy::Enabled {
        extension_ref,
        processing_mode,
    } = spec.compile().unwrap()
    else {
        panic!("enabled");
    };
    assert_eq!(extension_ref.name, "processor");
    assert_eq!(extension_ref.namespace.as_deref(), Some("infra"));
    let mode = processing_mode.unwrap();
    assert_eq!(mode.response_body_mode, BodySendMode::Streamed);
    assert_eq!(mode.request_header_mode, HeaderSendMode::Send);
    let config = ExtProcConfig::new(GrpcServer::new(Uri::from_static("http://p:1")))
        .with_processing_mode(mode);
    assert_eq!(config.processing_mode, mode);

    let disabled: ExtProcPolicySpec =
        serde_json::from_value(serde_json::json!({"disable": {}})).unwrap();
    assert_eq!(disabled.compile().unwrap(), ExtProcPolicy::Disabled);

    let both: ExtProcPolicySpec = serde_json::from_value(serde_json::json!({
        "extensionRef": {"name": "p"}, "disable": {}
    }))
    .unwrap();
    assert_eq!(both.compile().unwrap_err().field, "disable");
    let neither = ExtProcPolicySpec::default();
    assert_eq!(neither.compile().unwrap_err().field, "extensionRef");
    let unnamed: ExtProcPolicySpec =
        serde_json::from_value(serde_json::json!({"extensionRef": {"name": ""}})).unwrap();
    assert_eq!(unnamed.compile().unwrap_err().field, "extensionRef.name");
}

#[test]
fn servers_are_built_from_addresses() {
    assert!(GrpcServer::from_addrs([]).is_none());
    let server = GrpcServer::from_addrs([
        SocketAddr::from(([10, 0, 0, 1], 9000)),
        "[::1]:9001".parse().unwrap(),
    ])
    .unwrap();
    let endpoints: Vec<String> = server.endpoints().iter().map(ToString::to_string).collect();
    assert_eq!(endpoints, ["http://10.0.0.1:9000/", "http://[::1]:9001/"]);
    assert!(server.authority().is_none());
}
