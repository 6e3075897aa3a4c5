//! The set of bound sockets, reconciled against each new configuration.

use parking_lot::Mutex;
use std::{collections::HashMap, fmt, io, net::SocketAddr, sync::Arc, time::Duration};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    SocketState,
    connection::ConnectionContext,
    http::HttpServers,
    socket::{Socket, bind},
};
use crate::Limits;

/// Sockets that could not be bound while applying a configuration.
#[derive(Debug, thiserror::Error)]
pub struct ApplyError {
    /// Each address that failed and why.
    pub failures: Vec<(SocketAddr, io::Error)>,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("listeners not bound:")?;
        for (addr, err) in &self.failures {
            write!(f, " {addr}: {err};")?;
        }
        Ok(())
    }
}

/// Owns the listening sockets of the gateway.
///
/// [`SocketManager::apply`] swaps the state of sockets that stay, binds addresses that are
/// new and drains addresses that are gone; a socket is never rebound while its address is
/// unchanged.
#[derive(Debug)]
pub struct SocketManager {
    ctx: Arc<ConnectionContext>,
    sockets: Mutex<HashMap<SocketAddr, Socket>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl SocketManager {
    /// A manager with no sockets, applying `limits` to every connection.
    pub fn new(limits: Limits) -> Self {
        let servers = HttpServers::new(&limits);
        Self {
            ctx: Arc::new(ConnectionContext { limits, servers }),
            sockets: Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Makes the bound sockets match `desired`. Must run inside a tokio runtime.
    ///
    /// Addresses that fail to bind are reported; every other address is applied, so one
    /// unavailable port does not hold back the rest of the configuration.
    pub fn apply(&self, mut desired: HashMap<SocketAddr, SocketState>) -> Result<(), ApplyError> {
        let mut sockets = self.sockets.lock();
        sockets.retain(|addr, socket| {
            let keep = desired.contains_key(addr);
            if !keep {
                tracing::info!(%addr, "closing listener socket");
                socket.stop.cancel();
            }
            keep
        });
        let mut failures = Vec::new();
        for (addr, state) in desired.drain() {
            if let Some(socket) = sockets.get(&addr) {
                socket.state.store(Arc::new(state));
                continue;
            }
            let started = bind(addr).and_then(|listener| {
                Socket::start(
                    listener,
                    state,
                    self.ctx.clone(),
                    &self.tracker,
                    self.shutdown.child_token(),
                )
            });
            match started {
                Ok(socket) => {
                    tracing::info!(%addr, local = %socket.local_addr, "listening");
                    sockets.insert(addr, socket);
                }
                Err(err) => failures.push((addr, err)),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApplyError { failures })
        }
    }

    /// The address a socket actually bound, by the address it was asked to bind (they differ
    /// for port 0).
    pub fn local_addr(&self, requested: SocketAddr) -> Option<SocketAddr> {
        self.sockets.lock().get(&requested).map(|s| s.local_addr)
    }

    /// Every bound socket as (requested address, bound address).
    pub fn bound(&self) -> Vec<(SocketAddr, SocketAddr)> {
        self.sockets
            .lock()
            .iter()
            .map(|(requested, socket)| (*requested, socket.local_addr))
            .collect()
    }

    /// Stops accepting everywhere, lets in-flight requests finish for up to `grace`, then
    /// returns (connections still open are left to the runtime's shutdown).
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown.cancel();
        self.sockets.lock().clear();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("drain deadline reached with connections still open");
        }
    }
}
