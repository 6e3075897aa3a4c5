//! One bound address: its accept loop and the state it serves.

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use std::{io, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    SocketState,
    connection::{ConnectionSettings, serve_connection},
};

/// Pending connections the kernel queues for one socket.
const BACKLOG: i32 = 1024;

/// What a socket holds, swapped as one on reload: the state it serves and the settings its
/// next connections get.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) state: SocketState,
    pub(crate) settings: Arc<ConnectionSettings>,
}

/// A bound socket that is accepting connections.
#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) local_addr: SocketAddr,
    pub(crate) served: Arc<ArcSwap<Served>>,
    /// Stops accepting and drains this socket's connections.
    pub(crate) stop: CancellationToken,
}

/// Binds `addr` with `SO_REUSEADDR`, so a restarted gateway can bind while old connections
/// linger in TIME_WAIT.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

impl Socket {
    /// Starts accepting on `listener`, serving at most `max_connections` at once; must run
    /// inside a tokio runtime.
    pub(crate) fn start(
        listener: std::net::TcpListener,
        served: Served,
        max_connections: usize,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> io::Result<Self> {
        let listener = TcpListener::from_std(listener)?;
        let local_addr = listener.local_addr()?;
        let served = Arc::new(ArcSwap::from_pointee(served));
        let socket = Self {
            local_addr,
            served: served.clone(),
            stop: stop.clone(),
        };
        let permits = Arc::new(Semaphore::new(max_connections.max(1)));
        tracker.spawn(accept_loop(
            listener,
            served,
            permits,
            tracker.clone(),
            stop,
        ));
        Ok(socket)
    }
}

async fn accept_loop(
    listener: TcpListener,
    served: Arc<ArcSwap<Served>>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let local_addr = listener.local_addr().ok();
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote_addr)) => {
                let local = local_addr.unwrap_or(remote_addr);
                // The task is the connection's future and the permit side by side (an
                // `async` block awaiting the future would hold it twice).
                let connection =
                    serve_connection(stream, remote_addr, local, served.clone(), stop.clone());
                tracker.spawn(connection.map(move |()| drop(permit)));
            }
            Err(err) => {
                // Out of file descriptors or a similar transient failure: back off briefly
                // instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracing::debug!(addr = ?local_addr, "socket stopped accepting");
}
