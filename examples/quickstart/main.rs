//! The quickstart: a gateway serving `examples/quickstart/gateway.yaml` on 127.0.0.1:8080,
//! with an in-process echo backend on 127.0.0.1:3000, reloading the YAML when it changes.
//!
//! ```sh
//! cargo run --example quickstart
//! curl -i -H 'Host: quickstart.example' http://127.0.0.1:8080/hello
//! ```

use std::{convert::Infallible, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_gateway::{
    core::admin::{AdminState, serve_admin},
    k8s,
    routes::runtime::{ListenMap, Runtime, RuntimeOptions},
};

const BACKEND: &str = "127.0.0.1:3000";
const ADMIN: &str = "127.0.0.1:15000";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let backend: SocketAddr = BACKEND.parse()?;
    tokio::spawn(echo_backend(TcpListener::bind(backend).await?));

    let stop = CancellationToken::new();
    let admin = Arc::new(AdminState::default());
    tokio::spawn(serve_admin(
        TcpListener::bind(ADMIN).await?,
        admin.clone(),
        stop.clone(),
    ));
    // Bind the Gateway's port 8080 on loopback only.
    let options = RuntimeOptions {
        listen_map: ListenMap::default().with_default_ip([127, 0, 0, 1].into()),
        ..RuntimeOptions::default()
    };
    let runtime = Arc::new(Runtime::new(options, admin));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    println!("serving {} (edit it: the gateway reloads)", dir.display());
    println!("admin:  curl http://{ADMIN}/status");
    println!("try:    curl -i -H 'Host: quickstart.example' http://127.0.0.1:8080/hello");
    let serve = k8s::serve_dir(dir, runtime.clone(), k8s::DEFAULT_DEBOUNCE, stop.clone());
    tokio::select! {
        result = serve => result?,
        _ = tokio::signal::ctrl_c() => {}
    }
    stop.cancel();
    runtime.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// Answers every request with what it received: method, path and headers.
async fn echo_backend(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                |request: hyper::Request<hyper::body::Incoming>| async move {
                    let mut text = format!("{} {}\n", request.method(), request.uri());
                    for (name, value) in request.headers() {
                        text.push_str(&format!(
                            "{name}: {}\n",
                            value.to_str().unwrap_or("<binary>")
                        ));
                    }
                    let body = request.into_body().collect().await.map(|b| b.to_bytes());
                    let size = body.map(|b| b.len()).unwrap_or(0);
                    text.push_str(&format!("({size} body bytes)\n"));
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
                },
            );
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
