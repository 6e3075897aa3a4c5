//! Mirror behaviour: what the mirror receives, and that it never holds up the main request.

use bytes::Bytes;
use gateway_core::{BoxError, HttpService, Request, Response, body};
use http::{Method, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use std::convert::Infallible;
use tokio::sync::{mpsc, oneshot};
use tower::{Layer, ServiceExt, service_fn};

use super::{MirrorConfig, MirrorLayer, tee::MIRROR_BUFFER_FRAMES};

/// What a service received.
#[derive(Debug)]
struct Received {
    method: Method,
    uri: String,
    host: Option<String>,
    header: Option<String>,
    body: Result<Bytes, String>,
}

async fn receive(request: Request) -> Received {
    let method = request.method().clone();
    let uri = request.uri().to_string();
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (host, header) = (header("host"), header("x-test"));
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string());
    Received {
        method,
        uri,
        host,
        header,
        body,
    }
}

/// A mirror reporting what it received on the returned channel.
fn recording_mirror() -> (HttpService, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mirror = HttpService::new(service_fn(move |request: Request| {
        let tx = tx.clone();
        async move {
            tx.send(receive(request).await).unwrap();
            Ok::<_, Infallible>(Response::new(body::empty()))
        }
    }));
    (mirror, rx)
}

/// The main backend: echoes the body it read.
fn echo() -> impl tower::Service<Request, Response = Response, Error = Infallible> + Clone {
    service_fn(|request: Request| async move {
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(body::full(bytes)))
    })
}

fn streamed(chunks: Vec<Bytes>) -> body::BoxBody {
    let frames: Vec<Result<Frame<Bytes>, BoxError>> =
        chunks.into_iter().map(|c| Ok(Frame::data(c))).collect();
    body::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

fn request(body: body::BoxBody) -> Request {
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = "/mirror?x=1".parse().unwrap();
    request
        .headers_mut()
        .insert("host", "gateway.example".parse().unwrap());
    request.headers_mut().insert("x-test", "1".parse().unwrap());
    request
}

async fn text(response: Response) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn the_mirror_receives_the_same_request_and_body() {
    let (mirror, mut received) = recording_mirror();
    let service = MirrorLayer::new(MirrorConfig::default(), mirror).layer(echo());
    let chunks = vec![Bytes::from("hello "), Bytes::from("mirror")];
    let response = service.oneshot(request(streamed(chunks))).await.unwrap();
    assert_eq!(text(response).await, "hello mirror");
    let copy = received.recv().await.unwrap();
    assert_eq!(copy.method, Method::POST);
    assert_eq!(copy.uri, "/mirror?x=1");
    assert_eq!(copy.host.as_deref(), Some("gateway.example"));
    assert_eq!(copy.header.as_deref(), Some("1"));
    assert_eq!(copy.body.unwrap(), "hello mirror");
}

#[tokio::test]
async fn unsampled_requests_are_not_mirrored() {
    let (mirror, mut received) = recording_mirror();
    let config = MirrorConfig {
        numerator: 0,
        denominator: 100,
    };
    let layer = MirrorLayer::new(config, mirror);
    let service = layer.layer(echo());
    for _ in 0..10 {
        let response = service
            .clone()
            .oneshot(request(body::full("x")))
            .await
            .unwrap();
        assert_eq!(text(response).await, "x");
    }
    // Dropping the last handle on the mirror closes its channel: nothing was sent.
    drop((service, layer));
    assert!(received.recv().await.is_none());
}

#[tokio::test]
async fn a_mirror_that_never_answers_does_not_hold_up_the_request() {
    let mirror = HttpService::new(service_fn(|_: Request| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(body::empty()))
    }));
    let service = MirrorLayer::new(MirrorConfig::default(), mirror).layer(echo());
    let response = service.oneshot(request(body::full("main"))).await.unwrap();
    assert_eq!(text(response).await, "main");
}

#[tokio::test]
async fn a_failing_mirror_does_not_change_the_answer() {
    let mirror = HttpService::new(service_fn(|_: Request| async {
        Ok::<_, Infallible>(gateway_core::error::local_response(
            StatusCode::SERVICE_UNAVAILABLE,
            gateway_core::ResponseFlag::UpstreamConnectionFailure,
        ))
    }));
    let service = MirrorLayer::new(MirrorConfig::default(), mirror).layer(echo());
    let response = service.oneshot(request(body::full("main"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .extensions()
            .get::<gateway_core::ResponseFlag>()
            .is_none()
    );
    assert_eq!(text(response).await, "main");
}

#[tokio::test]
async fn a_mirror_that_falls_behind_loses_its_copy_not_the_request() {
    // The mirror waits for a go-ahead before it reads its body.
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go = std::sync::Arc::new(parking_lot::Mutex::new(Some(go_rx)));
    let (tx, mut received) = mpsc::unbounded_channel();
    let mirror = HttpService::new(service_fn(move |request: Request| {
        let go = go.lock().take();
        let tx = tx.clone();
        async move {
            if let Some(go) = go {
                go.await.unwrap();
            }
            tx.send(receive(request).await).unwrap();
            Ok::<_, Infallible>(Response::new(body::empty()))
        }
    }));
    let service = MirrorLayer::new(MirrorConfig::default(), mirror).layer(echo());
    let chunks: Vec<Bytes> = (0..MIRROR_BUFFER_FRAMES * 4)
        .map(|i| Bytes::from(format!("{i},")))
        .collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    let response = service.oneshot(request(streamed(chunks))).await.unwrap();
    assert_eq!(text(response).await, expected);
    go_tx.send(()).unwrap();
    let copy = received.recv().await.unwrap();
    assert!(copy.body.unwrap_err().contains("abandoned"));
}

#[tokio::test]
async fn upgrades_are_not_mirrored() {
    let (mirror, mut received) = recording_mirror();
    let layer = MirrorLayer::new(MirrorConfig::default(), mirror);
    let service = layer.layer(echo());
    let mut upgrade = request(body::empty());
    upgrade
        .headers_mut()
        .insert("upgrade", "websocket".parse().unwrap());
    service.oneshot(upgrade).await.unwrap();
    drop(layer);
    assert!(received.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_stuck_mirror_is_given_up() {
    // The mirror holds a sender until its call is dropped: the channel closing proves the
    // task let go of it.
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mirror = HttpService::new(service_fn(move |_: Request| {
        let _held = tx.clone();
        async move {
            let _held = _held;
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(body::empty()))
        }
    }));
    let layer = MirrorLayer::new(MirrorConfig::default(), mirror)
        .with_timeout(std::time::Duration::from_secs(1));
    let service = layer.layer(echo());
    let response = service.oneshot(request(body::empty())).await.unwrap();
    assert_eq!(text(response).await, "");
    drop(layer);
    // Paused time jumps to the mirror's deadline; its future is then dropped.
    assert!(rx.recv().await.is_none());
}
