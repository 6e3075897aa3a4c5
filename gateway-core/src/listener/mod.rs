//! Downstream listeners: one bound socket per address, serving HTTP/1.1 and HTTP/2
//! (prior-knowledge h2c on plaintext, ALPN on TLS), TLS with SNI-selected certificates, and
//! TLS passthrough or terminated TCP proxying.
//!
//! What a socket serves is a [`SocketState`], swapped atomically on reload: each new
//! connection and each new request loads the current state, so in-flight requests finish on
//! the state they started with. [`SocketManager`] owns the sockets; applying a new set of
//! states only binds addresses that are new and only closes addresses that are gone.

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

use crate::HttpService;
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
