//! `gateway run` draining on SIGTERM: the gateway stops accepting connections but a request
//! in flight when the signal arrives still gets its answer, and the process then exits
//! with status 0.
//!
//! The backend holds the request until the test releases it (rather than sleeping a
//! guessed time), so the request is provably in flight for the whole drain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http::StatusCode;
use support::{
    DEADLINE, Gateway, HELD_BODY, HeldBackend, Scratch, gateway_yaml, route_yaml, service_yaml,
    try_get,
};

#[tokio::test]
async fn in_flight_request_completes_after_sigterm() {
    let mut held = HeldBackend::spawn().await;
    let scratch = Scratch::new();
    scratch.write(
        "gateway.yaml",
        &(gateway_yaml()
            + &service_yaml("held", held.addr)
            + &route_yaml("r", "held.example", "/", "held")),
    );
    let mut gateway = Gateway::start(&scratch);
    gateway.wait_ready().await;
    let listener = gateway.listener;

    let request = tokio::spawn(try_get(listener, "held.example", "/in-flight"));
    assert!(
        held.arrived().await,
        "the request never reached the backend; log:\n{}",
        gateway.log()
    );

    // SIGTERM while the request is in flight: the gateway starts draining and stops
    // accepting, but keeps running for the request it owes an answer.
    gateway.terminate();
    gateway.wait_for_log("shutting down").await;
    gateway
        .eventually("the listener to stop accepting", || async move {
            tokio::net::TcpStream::connect(listener)
                .await
                .is_err()
                .then_some(())
        })
        .await;
    assert!(
        !request.is_finished(),
        "the request ended before its answer"
    );

    held.release();
    let answer = tokio::time::timeout(DEADLINE, request)
        .await
        .expect("the in-flight request finished")
        .expect("the request task did not panic");
    let (status, body) = answer.unwrap_or_else(|err| {
        panic!(
            "the in-flight request failed during drain: {err}; log:\n{}",
            gateway.log()
        )
    });
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, HELD_BODY);

    let exit = gateway.wait_exit().await;
    assert!(
        exit.success(),
        "exit after drain: {exit}; log:\n{}",
        gateway.log()
    );
}
