//! Runtime and vocabulary of the gateway.
//!
//! This crate owns sockets and bytes: listeners (TCP, TLS with SNI, HTTP/1.1 and HTTP/2),
//! upstream connection pools, graceful drain and the admin server. It knows nothing of
//! Gateway API objects; `gateway-routes` compiles those into the services this crate runs.

pub mod admin;
pub mod backend;
pub mod body;
pub mod error;
pub mod extensions;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod serde_http;
pub mod service;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use body::{BoxBody, BoxError, Request, Response};
pub use error::{ProxyError, ResponseFlag};
pub use limits::Limits;
pub use service::HttpService;
