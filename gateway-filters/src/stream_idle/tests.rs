use bytes::Bytes;
use gateway_core::{BoxBody, ResponseFlag, body};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use std::{convert::Infallible, time::Duration};
use tokio::sync::mpsc;
use tower::{ServiceExt, service_fn};

use super::*;

type Chunks = mpsc::Sender<Result<http_body::Frame<Bytes>, gateway_core::BoxError>>;

/// A streaming body fed by the returned sender.
fn streaming() -> (Chunks, BoxBody) {
    let (tx, rx) = mpsc::channel(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (tx, body::boxed(StreamBody::new(stream)))
}

fn chunk(text: &'static str) -> Result<http_body::Frame<Bytes>, gateway_core::BoxError> {
    Ok(http_body::Frame::data(Bytes::from_static(text.as_bytes())))
}

#[tokio::test(start_paused = true)]
async fn a_quiet_upstream_gets_408_with_the_si_flag() {
    let service = StreamIdleLayer::new(Duration::from_secs(5)).layer_fn_test(|_| async {
        tokio::time::sleep(Duration::from_secs(6)).await;
        Ok::<_, Infallible>(Response::new(body::full("late")))
    });
    let response = service.oneshot(Request::new(body::empty())).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::StreamIdleTimeout)
    );
}

#[tokio::test(start_paused = true)]
async fn an_upstream_answering_in_time_is_untouched() {
    let service = StreamIdleLayer::new(Duration::from_secs(5)).layer_fn_test(|_| async {
        tokio::time::sleep(Duration::from_secs(4)).await;
        Ok::<_, Infallible>(Response::new(body::full("in time")))
    });
    let response = service.oneshot(Request::new(body::empty())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes, "in time");
}

#[tokio::test(start_paused = true)]
async fn request_body_frames_keep_the_stream_alive() {
    // The backend reads the whole body before answering; the client sends a chunk every
    // 3 s for 12 s, longer than the 5 s timeout but never quiet for 5 s.
    let service = StreamIdleLayer::new(Duration::from_secs(5)).layer_fn_test(
        |request: Request<IdleBody<BoxBody>>| async move {
            let read = request.into_body().collect().await;
            let status = if read.is_ok() {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            let mut response = Response::new(body::empty());
            *response.status_mut() = status;
            Ok::<_, Infallible>(response)
        },
    );
    let (tx, body) = streaming();
    tokio::spawn(async move {
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            tx.send(chunk("x")).await.unwrap();
        }
    });
    let response = service.oneshot(Request::new(body)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_response_body_ends_with_an_error() {
    let (tx, response_body) = streaming();
    let response_body = parking_lot::Mutex::new(Some(response_body));
    let service = StreamIdleLayer::new(Duration::from_secs(5)).layer_fn_test(move |_| {
        let body = response_body.lock().take().unwrap();
        async move { Ok::<_, Infallible>(Response::new(body)) }
    });
    let response = service.oneshot(Request::new(body::empty())).await.unwrap();
    tx.send(chunk("first")).await.unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "first");
    // Nothing more for longer than the timeout: the body fails instead of hanging.
    let error = body.frame().await.unwrap().unwrap_err();
    assert_eq!(error.to_string(), "stream idle timeout");
    drop(tx);
}

/// Test-only shorthand: the layer over a closure service.
trait LayerFnTest {
    fn layer_fn_test<F, Fut, ResBody>(self, f: F) -> StreamIdleService<tower::util::ServiceFn<F>>
    where
        F: FnMut(Request<IdleBody<BoxBody>>) -> Fut,
        Fut: std::future::Future<Output = Result<Response<ResBody>, Infallible>>;
}

impl LayerFnTest for StreamIdleLayer {
    fn layer_fn_test<F, Fut, ResBody>(self, f: F) -> StreamIdleService<tower::util::ServiceFn<F>>
    where
        F: FnMut(Request<IdleBody<BoxBody>>) -> Fut,
        Fut: std::future::Future<Output = Result<Response<ResBody>, Infallible>>,
    {
        tower::Layer::layer(&self, service_fn(f))
    }
}
