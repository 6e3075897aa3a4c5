//! HTTP/1.1 upgrades (WebSocket and friends): a fresh connection per upgrade, and a spliced
//! byte stream once the upstream agrees with `101 Switching Protocols`.
//!
//! Upgraded connections never return to a pool, so they are made directly with hyper's
//! connection API instead of the pooled client.

use http::StatusCode;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

use super::{
    AppProtocol, UpstreamClient, errors,
    headers::Keep,
    pool::{Checkin, connect_tcp},
    service::{failure, from_upstream, prepare, record},
    state::{InFlight, Outcome},
};
use crate::{ProxyError, Request, Response, body};

/// Forwards an upgrade request to `endpoint`; on `101` splices the downstream and upstream
/// connections in a background task and returns the `101` with its upgrade headers. The
/// request stays counted in flight (`in_flight`) for as long as the spliced stream lasts.
pub(super) async fn forward(
    client: &UpstreamClient,
    endpoint: SocketAddr,
    mut request: Request,
    in_flight: InFlight,
) -> Response {
    // Taken before the request moves on: hyper keeps the downstream connection's pending
    // upgrade in the request extensions.
    let downstream = hyper::upgrade::on(&mut request);
    let keep = Keep {
        upgrade: true,
        te_trailers: false,
    };
    if let Err(rejected) = prepare(&mut request, endpoint, AppProtocol::Http1, keep) {
        return rejected.into_response();
    }
    let mut response = match send(client, endpoint, request).await {
        Ok(response) => response,
        Err(err) => {
            in_flight
                .state()
                .record(in_flight.index(), Outcome::Failure);
            return failure(err, endpoint);
        }
    };
    record(&in_flight, response.status());
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return from_upstream(
            response,
            endpoint,
            Keep::default(),
            Some(in_flight),
            None,
            Checkin::none(),
        );
    }
    let upstream = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        let (downstream, upstream) = match tokio::try_join!(downstream, upstream) {
            Ok(pair) => pair,
            Err(err) => {
                tracing::debug!(%endpoint, error = %err, "upgrade did not complete");
                return;
            }
        };
        let mut downstream = TokioIo::new(downstream);
        let mut upstream = TokioIo::new(upstream);
        match tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await {
            Ok((sent, received)) => {
                tracing::trace!(%endpoint, sent, received, "upgraded connection closed");
            }
            Err(err) => tracing::debug!(%endpoint, error = %err, "upgraded connection failed"),
        }
        drop(in_flight);
    });
    let mut response = from_upstream(response, endpoint, keep, None, None, Checkin::none());
    *response.body_mut() = body::empty();
    response
}

/// Connects, sends the request and waits for response headers, each step bounded.
async fn send(
    client: &UpstreamClient,
    endpoint: SocketAddr,
    request: Request,
) -> Result<http::Response<hyper::body::Incoming>, ProxyError> {
    let stream = connect_tcp(endpoint, client.connect_timeout(), client.tcp_keepalive()).await?;
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(errors::from_hyper)?;
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(%endpoint, error = %err, "upstream upgrade connection failed");
            }
        });
        sender
            .send_request(request)
            .await
            .map_err(errors::from_hyper)
    };
    match tokio::time::timeout(client.response_header_timeout(), exchange).await {
        Ok(result) => result,
        Err(_elapsed) => Err(ProxyError::Timeout),
    }
}
