//! The set of bound sockets, reconciled against each new configuration.

use parking_lot::Mutex;
use std::{collections::HashMap, fmt, io, net::SocketAddr, sync::Arc, time::Duration};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    SocketConfig,
    connection::ConnectionSettings,
    socket::{Served, Socket, bind},
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
    limits: Limits,
    /// The settings of sockets without [`ListenerLimits`](crate::limits::ListenerLimits).
    defaults: Arc<ConnectionSettings>,
    sockets: Mutex<HashMap<SocketAddr, Socket>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl SocketManager {
    /// A manager with no sockets, applying `limits` to every connection of a socket whose
    /// [`SocketConfig::limits`] do not replace them.
    pub fn new(limits: Limits) -> Self {
        let defaults = Arc::new(ConnectionSettings::new(&limits, Default::default()));
        Self {
            limits,
            defaults,
            sockets: Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Makes the bound sockets match `desired`: a [`SocketConfig`] per address, or a bare
    /// [`SocketState`](super::SocketState) for a socket with the manager's limits. Must run
    /// inside a tokio runtime.
    ///
    /// A socket that stays gets its new state and limits for the requests and connections
    /// that start from now on; connections already open keep the limits they were accepted
    /// with. Addresses that fail to bind are reported; every other address is applied, so
    /// one unavailable port does not hold back the rest of the configuration.
    pub fn apply<C: Into<SocketConfig>>(
        &self,
        desired: HashMap<SocketAddr, C>,
    ) -> Result<(), ApplyError> {
        let mut sockets = self.sockets.lock();
        sockets.retain(|addr, socket| {
            let keep = desired.contains_key(addr);
            if !keep {
                tracing::info!(%addr, "closing listener socket");
                socket.stop.cancel();
            }
            keep
        });
        // Hyper servers are configured once per distinct set of overrides: reuse those of
        // the sockets that stay, and share new ones between sockets.
        let mut known: Vec<Arc<ConnectionSettings>> = Vec::with_capacity(sockets.len() + 1);
        known.push(self.defaults.clone());
        for socket in sockets.values() {
            let current = socket.served.load();
            if !known.iter().any(|s| Arc::ptr_eq(s, &current.settings)) {
                known.push(current.settings.clone());
            }
        }
        let mut failures = Vec::new();
        for (addr, config) in desired {
            let SocketConfig { state, limits } = config.into();
            let settings = match known.iter().find(|s| s.overrides == limits) {
                Some(found) => found.clone(),
                None => {
                    let built = Arc::new(ConnectionSettings::new(&self.limits, limits));
                    known.push(built.clone());
                    built
                }
            };
            let served = Served { state, settings };
            if let Some(socket) = sockets.get(&addr) {
                socket.served.store(Arc::new(served));
                continue;
            }
            let started = bind(addr).and_then(|listener| {
                Socket::start(
                    listener,
                    served,
                    self.limits.max_connections,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{limits::ListenerLimits, listener::SocketState};

    fn settings_of(manager: &SocketManager, addr: SocketAddr) -> Arc<ConnectionSettings> {
        manager.sockets.lock()[&addr].served.load().settings.clone()
    }

    fn config(limits: ListenerLimits) -> SocketConfig {
        SocketConfig {
            state: SocketState::default(),
            limits,
        }
    }

    #[tokio::test]
    async fn hyper_servers_are_built_once_per_distinct_override() {
        let manager = SocketManager::new(Limits::default());
        let (a, b, c): (SocketAddr, SocketAddr, SocketAddr) = (
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.3:0".parse().unwrap(),
            "127.0.0.2:0".parse().unwrap(),
        );
        let strict = ListenerLimits {
            max_headers: Some(5),
            ..ListenerLimits::default()
        };
        let desired = |c_limits| {
            HashMap::from([
                (a, config(strict)),
                (b, config(strict)),
                (c, config(c_limits)),
            ])
        };
        manager.apply(desired(ListenerLimits::default())).unwrap();
        let shared = settings_of(&manager, a);
        assert!(Arc::ptr_eq(&shared, &settings_of(&manager, b)));
        assert!(Arc::ptr_eq(&manager.defaults, &settings_of(&manager, c)));
        assert_eq!(shared.limits.max_headers, 5);

        // Reapplying reuses what exists; a changed override gets its own settings.
        let loose = ListenerLimits {
            max_headers: Some(500),
            ..ListenerLimits::default()
        };
        manager.apply(desired(loose)).unwrap();
        assert!(Arc::ptr_eq(&shared, &settings_of(&manager, a)));
        assert!(Arc::ptr_eq(&shared, &settings_of(&manager, b)));
        assert_eq!(settings_of(&manager, c).limits.max_headers, 500);
    }
}
