//! The load benchmark's fixed peers (see `benches/load/run.py`).
//!
//! - `loadbench upstream PORT`: the origin every proxy forwards to. `GET /large` answers
//!   65,536 bytes, any other path 100 bytes; HTTP/1.1 keep-alive and h2c on one port.
//! - `loadbench floor LISTEN_PORT UPSTREAM_PORT`: the "hyper floor", the least a Rust proxy
//!   built from our libraries can do: hyper's auto server (h1 + h2c) in front of
//!   hyper-util's pooled HTTP/1.1 client, nothing else. The gateway is measured against it.
//!
//! Both run on a current-thread tokio runtime, one worker as every anchor gets.
//!
//! ```sh
//! cargo build --release --example loadbench
//! target/release/examples/loadbench upstream 28080 &
//! target/release/examples/loadbench floor 28081 28080
//! ```

use std::{convert::Infallible, net::SocketAddr, process::ExitCode};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Request, Response, body::Incoming};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::net::TcpListener;

const SMALL: usize = 100;
const LARGE: usize = 65_536;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = |i: usize| args.get(i).and_then(|p| p.parse::<u16>().ok());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("loadbench: starting tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match (args.first().map(String::as_str), port(1), port(2)) {
        (Some("upstream"), Some(listen), None) => runtime.block_on(upstream(listen)),
        (Some("floor"), Some(listen), Some(upstream)) => runtime.block_on(floor(listen, upstream)),
        _ => {
            eprintln!("usage: loadbench upstream PORT | loadbench floor LISTEN_PORT UPSTREAM_PORT");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadbench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Serves `service` on every connection accepted at `port` with hyper's auto server.
async fn serve<S, F, B>(port: u16, service: S) -> std::io::Result<()>
where
    S: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind(loopback(port)).await?;
    let server = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        // Latency matters more than coalescing small writes for a proxy benchmark.
        stream.set_nodelay(true)?;
        let service = hyper::service::service_fn(service.clone());
        let server = server.clone();
        tokio::spawn(async move {
            let _ = server.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn upstream(port: u16) -> std::io::Result<()> {
    let small = Bytes::from(vec![b's'; SMALL]);
    let large = Bytes::from(vec![b'l'; LARGE]);
    serve(port, move |request: Request<Incoming>| {
        let body = if request.uri().path() == "/large" {
            large.clone()
        } else {
            small.clone()
        };
        async move { Ok(Response::new(Full::new(body))) }
    })
    .await
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn floor(port: u16, upstream_port: u16) -> std::io::Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(connector);
    let authority = loopback(upstream_port).to_string();
    serve(port, move |request: Request<Incoming>| {
        let client = client.clone();
        let authority = authority.clone();
        async move {
            let (mut parts, body) = request.into_parts();
            let path = parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            parts.version = http::Version::HTTP_11;
            parts.uri = match http::Uri::builder()
                .scheme("http")
                .authority(authority.as_str())
                .path_and_query(path)
                .build()
            {
                Ok(uri) => uri,
                Err(_) => return Ok(status(http::StatusCode::BAD_REQUEST)),
            };
            match client.request(Request::from_parts(parts, body)).await {
                Ok(response) => Ok(response.map(BodyExt::boxed)),
                Err(_) => Ok(status(http::StatusCode::BAD_GATEWAY)),
            }
        }
    })
    .await
}

fn status(code: http::StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = code;
    response
}
