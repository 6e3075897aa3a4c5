use bytes::Bytes;
use futures_util::{StreamExt, stream};
use gateway_core::{BoxBody, Request, Response, ResponseFlag, body};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::rt::TokioIo;
use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::spec::ByteQuantity;

/// What the backend saw: the body, its `content-length` and `transfer-encoding` headers,
/// and the trailers.
#[derive(Debug, Default)]
struct Seen {
    body: Bytes,
    content_length: Option<HeaderValue>,
    transfer_encoding: Option<HeaderValue>,
    trailers: Option<HeaderMap>,
}

/// A backend that reads the whole body and reports it through `seen`; `calls` counts it.
fn backend(
    seen: Arc<parking_lot::Mutex<Seen>>,
    calls: Arc<AtomicUsize>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync
{
    service_fn(move |request: Request| {
        let seen = seen.clone();
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let (parts, body) = request.into_parts();
            let collected = body.collect().await.unwrap();
            let trailers = collected.trailers().cloned();
            *seen.lock() = Seen {
                body: collected.to_bytes(),
                content_length: parts.headers.get("content-length").cloned(),
                transfer_encoding: parts.headers.get("transfer-encoding").cloned(),
                trailers,
            };
            Ok::<_, Infallible>(Response::new(body::full("done")))
        }
    })
}

fn layer(max: u32) -> BufferLayer {
    BufferLayer::new(BufferConfig {
        max_request_bytes: max,
    })
}

/// A streamed body (no length known up front) of `chunks`, then `trailers` if any.
fn chunked<I>(chunks: I, trailers: Option<HeaderMap>) -> BoxBody
where
    I: IntoIterator<Item: Into<Bytes>>,
{
    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = chunks
        .into_iter()
        .map(|chunk| Ok(Frame::data(chunk.into())))
        .collect();
    frames.extend(trailers.map(|trailers| Ok(Frame::trailers(trailers))));
    body::boxed(StreamBody::new(stream::iter(frames)))
}

/// `future`'s output; a future still pending after a (paused, auto-advancing) second fails
/// the test instead of hanging it.
async fn soon<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(1), future)
        .await
        .expect("the layer waited for a body it should not have read")
}

async fn text(response: Response) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

#[test]
fn spec_reads_kubernetes_quantities_and_bounds_them() {
    let compile = |json: &str| serde_json::from_str::<BufferSpec>(json).unwrap().compile();
    assert_eq!(
        compile(r#"{"maxRequestSize": "1Mi"}"#).unwrap(),
        BufferConfig {
            max_request_bytes: 1_048_576
        }
    );
    assert_eq!(
        compile(r#"{"maxRequestSize": 4096}"#)
            .unwrap()
            .max_request_bytes,
        4096
    );
    assert_eq!(
        compile(r#"{"maxRequestSize": "4294967295"}"#)
            .unwrap()
            .max_request_bytes,
        u32::MAX
    );
    for (json, reason) in [
        (r#"{}"#, "required"),
        (r#"{"maxRequestSize": "0"}"#, "more than 0"),
        (r#"{"maxRequestSize": "4Gi"}"#, "less than 4Gi"),
    ] {
        let error = compile(json).unwrap_err();
        assert_eq!(error.field, "maxRequestSize", "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
    }
    assert!(serde_json::from_str::<BufferSpec>(r#"{"maxRequestSize": "1MB"}"#).is_err());
    let spec = BufferSpec {
        max_request_size: Some(ByteQuantity(10)),
    };
    assert_eq!(
        serde_json::to_string(&spec).unwrap(),
        r#"{"maxRequestSize":10}"#
    );
}

#[tokio::test]
async fn a_body_in_several_frames_reaches_the_backend_whole_with_its_length() {
    let seen = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer(16).layer(backend(Arc::clone(&seen), calls.clone()));
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let request = http::Request::post("/")
        .header("transfer-encoding", "chunked")
        .body(chunked(["hello ", "wide ", "world"], Some(trailers)))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "done");
    let seen = seen.lock();
    assert_eq!(seen.body, "hello wide world");
    assert_eq!(seen.content_length.as_ref().unwrap(), "16");
    assert_eq!(seen.transfer_encoding, None);
    assert_eq!(seen.trailers.as_ref().unwrap()["x-checksum"], "abc");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn requests_without_a_body_pass_untouched() {
    let seen = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer(16).layer(backend(Arc::clone(&seen), calls.clone()));
    let response = service
        .oneshot(http::Request::get("/").body(body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen.lock().content_length, None);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A body that records whether anyone polled it, and never ends.
struct Watched(Arc<AtomicBool>);

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.store(true, Ordering::SeqCst);
        Poll::Pending
    }
}

#[tokio::test(start_paused = true)]
async fn a_declared_length_over_the_limit_is_refused_without_reading_the_body() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer(1024).layer(backend(Arc::default(), calls.clone()));
    let polled = Arc::new(AtomicBool::new(false));
    let request = http::Request::post("/")
        .header("content-length", "1025")
        .body(body::boxed(Watched(polled.clone())))
        .unwrap();
    let response = soon(service.oneshot(request)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(text(response).await, "Payload Too Large");
    assert!(!polled.load(Ordering::SeqCst), "the body was read");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_passes() {
    let seen = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer(10).layer(backend(Arc::clone(&seen), calls.clone()));
    let request = http::Request::post("/")
        .body(chunked(["01234", "56789"], None))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen.lock().body, "0123456789");
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_growing_past_the_limit_is_refused_as_soon_as_it_does() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer(10).layer(backend(Arc::default(), calls.clone()));
    // After the chunk that crosses the limit the body never ends: the layer must not wait
    // for (or hold) more of it.
    let frames = stream::iter(
        ["01234", "56789", "x"]
            .map(|chunk| Ok::<_, Infallible>(Frame::data(Bytes::from_static(chunk.as_bytes())))),
    )
    .chain(stream::pending());
    let request = http::Request::post("/")
        .body(body::boxed(StreamBody::new(frames)))
        .unwrap();
    let response = soon(service.oneshot(request)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text(response).await, "Payload Too Large");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_that_breaks_off_is_answered_400_flagged_dc() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer(1024).layer(backend(Arc::default(), calls.clone()));
    let frames = stream::iter([
        Ok(Frame::data(Bytes::from_static(b"partial"))),
        Err(gateway_core::BoxError::from("connection reset")),
    ]);
    let request = http::Request::post("/")
        .body(body::boxed(StreamBody::new(frames)))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::DownstreamConnectionTermination)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn works_as_an_erased_proxy_service() {
    let seen = Arc::default();
    let service =
        gateway_core::HttpService::new(layer(64).layer(backend(Arc::clone(&seen), Arc::default())));
    let request = http::Request::post("/")
        .body(chunked(["a", "b"], None))
        .unwrap();
    let response = service.call_shared(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen.lock().body, "ab");
}

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
async fn over_real_http1_chunked_uploads_are_buffered_or_refused() {
    let seen = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = serve(gateway_core::HttpService::new(
        layer(1024).layer(backend(Arc::clone(&seen), calls.clone())),
    ))
    .await;
    let client = gateway_core::test_util::http1_client();

    let small = http::Request::post(format!("http://{addr}/"))
        .body(chunked(["chunk one, ", "chunk two"], None))
        .unwrap();
    let response = client.send(small).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    {
        let seen = seen.lock();
        assert_eq!(seen.body, "chunk one, chunk two");
        assert_eq!(seen.content_length.as_ref().unwrap(), "20");
        assert_eq!(seen.transfer_encoding, None);
    }

    let large = http::Request::post(format!("http://{addr}/"))
        .body(chunked(["x".repeat(1000), "y".repeat(25)], None))
        .unwrap();
    let response = client.send(large).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.body(), "Payload Too Large");

    let declared = http::Request::post(format!("http://{addr}/"))
        .header("content-length", "2048")
        .body(body::full(vec![b'x'; 2048]))
        .unwrap();
    let response = client.send(declared).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
