//! Downstream listeners: one bound socket per address, serving HTTP/1.1 and HTTP/2
//! (prior-knowledge h2c on plaintext, ALPN on TLS), TLS with SNI-selected certificates, and
//! TLS passthrough or terminated TCP proxying.
//!
//! What a socket serves is a [`SocketState`], swapped atomically on reload: each new
//! connection and each new request loads the current state, so in-flight requests finish on
//! the state they started with. [`SocketManager`] owns the sockets; applying a new set of
//! states only binds addresses that are new and only closes addresses that are gone.
//!
//! A socket may also carry [`ListenerLimits`]: its own idle timeout and request-head limits
//! in place of the manager's [`Limits`](crate::Limits). They are swapped with the state, and
//! a connection takes the values current when it is accepted and keeps them to its end.
//!
//! ```
//! use gateway_core::{
//!     Limits,
//!     limits::ListenerLimits,
//!     listener::{SocketConfig, SocketManager, SocketState},
//! };
//! use std::{collections::HashMap, net::SocketAddr, time::Duration};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let manager = SocketManager::new(Limits::default());
//! let strict: SocketAddr = "127.0.0.1:0".parse().unwrap();
//! let config = SocketConfig {
//!     state: SocketState::default(),
//!     limits: ListenerLimits {
//!         idle_timeout: Some(Duration::from_secs(30)),
//!         max_request_header_bytes: Some(16 * 1024),
//!         max_headers: Some(50),
//!     },
//! };
//! manager.apply(HashMap::from([(strict, config)])).unwrap();
//! # }
//! ```

mod connection;
mod http;
mod idle;
mod manager;
mod rewind;
mod socket;
mod tcp;
mod tls;

pub use manager::{ApplyError, SocketManager};
pub use tls::{ServerNamePattern, TlsAction, TlsTable, TlsTableBuilder};

use crate::{HttpService, limits::ListenerLimits};
use std::sync::Arc;

/// What one bound socket serves.
///
/// A plaintext socket has only `http`. A TLS socket has a `tls` table that picks, by SNI,
/// whether to terminate (and then serve `http` or proxy TCP) or to pass the stream through.
#[derive(Clone, Debug, Default)]
pub struct SocketState {
    /// The HTTP service (the router) for plaintext or TLS-terminated HTTP traffic.
    pub http: Option<HttpService>,
    /// The SNI table of a TLS socket; `None` for plaintext sockets.
    pub tls: Option<Arc<TlsTable>>,
}

/// Everything one bound socket is given by [`SocketManager::apply`]: what it serves and the
/// limits that replace the manager's for its connections.
///
/// A bare [`SocketState`] converts into a configuration without overrides, so
/// `apply(HashMap<SocketAddr, SocketState>)` keeps working.
#[derive(Clone, Debug, Default)]
pub struct SocketConfig {
    /// What the socket serves.
    pub state: SocketState,
    /// Limits of this socket in place of the manager's; the default overrides nothing.
    /// New connections take the values current when they are accepted.
    pub limits: ListenerLimits,
}

impl From<SocketState> for SocketConfig {
    fn from(state: SocketState) -> Self {
        Self {
            state,
            limits: ListenerLimits::default(),
        }
    }
}
