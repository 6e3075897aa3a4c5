//! Helpers for tests of the gateway and of code built on it (feature `test-util`).
//!
//! - [`spawn_echo`] and friends: a real HTTP/1.1 + h2c echo backend on `127.0.0.1:0` that
//!   answers with JSON describing the request, like the Gateway API conformance echo server.
//! - Misbehaving backends ([`spawn_refused`], [`spawn_hang`], [`spawn_reset`],
//!   [`spawn_garbage`]) and an upgrade peer ([`spawn_upgrade_echo`]).
//! - [`self_signed`] certificates (rcgen, rustls' `ring` provider).
//! - Clients: [`http1_client`], [`h2c_client`], [`tls_client_config`] and the one-shot
//!   [`get`].
//!
//! Servers run as tasks on the calling runtime and stop with it. Helpers panic when set-up
//! fails (binding a loopback port, generating a key): in a test that is a failed assertion.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic on set-up failure, as an assertion would"
)]

mod certs;
mod client;
mod echo;
mod misbehave;

pub use certs::{TestCert, self_signed};
pub use client::{TestClient, get, h2c_client, http1_client, tls_client_config};
pub use echo::{spawn_echo, spawn_echo_h2c, spawn_echo_named};
pub use misbehave::{spawn_garbage, spawn_hang, spawn_refused, spawn_reset, spawn_upgrade_echo};

/// Binds a listener on a free loopback port.
async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

/// Accepts connections on `listener` forever, handling each in its own task.
fn serve<F, Fut>(listener: tokio::net::TcpListener, handle: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(handle(stream));
                }
                // Transient (e.g. out of file descriptors): back off instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    });
}
