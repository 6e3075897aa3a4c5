//! A backend's endpoints and how the next one is picked.

use http::uri::Authority;
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

/// The application protocol a backend speaks, from the Service port's `appProtocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AppProtocol {
    /// HTTP/1.1 (the default when no `appProtocol` is set).
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge over plaintext (`kubernetes.io/h2c`).
    H2c,
}

/// A set of endpoints reached with one protocol, picked in round-robin order.
///
/// The endpoint list is fixed; a change of endpoints builds a new `Backend`.
#[derive(Debug)]
pub struct Backend {
    endpoints: Arc<[SocketAddr]>,
    /// Each endpoint as a URI authority, made once so requests do not format addresses.
    authorities: Box<[Authority]>,
    protocol: AppProtocol,
    cursor: AtomicUsize,
}

impl Backend {
    /// A backend over `endpoints` speaking `protocol`.
    pub fn new(endpoints: Arc<[SocketAddr]>, protocol: AppProtocol) -> Self {
        let authorities = endpoints
            .iter()
            .filter_map(|addr| Authority::try_from(addr.to_string()).ok())
            .collect();
        Self {
            endpoints,
            authorities,
            protocol,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The next endpoint in round-robin order, or `None` when there are no endpoints.
    pub fn next(&self) -> Option<SocketAddr> {
        let len = self.endpoints.len();
        if len == 0 {
            return None;
        }
        let index = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
        self.endpoints.get(index).copied()
    }

    /// The next endpoint and its URI authority, in round-robin order.
    pub(crate) fn next_with_authority(&self) -> Option<(SocketAddr, Authority)> {
        let len = self.endpoints.len();
        if len == 0 || self.authorities.len() != len {
            return None;
        }
        let index = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
        Some((
            *self.endpoints.get(index)?,
            self.authorities.get(index)?.clone(),
        ))
    }

    /// All endpoints, in the order they were given.
    pub fn endpoints(&self) -> &Arc<[SocketAddr]> {
        &self.endpoints
    }

    /// The protocol spoken to every endpoint.
    pub fn protocol(&self) -> AppProtocol {
        self.protocol
    }
}

/// The endpoint a response came from (or that was tried), set in the response extensions
/// by [`BackendService`](super::BackendService) for the access log (Envoy's
/// `%UPSTREAM_HOST%`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamEndpoint(pub SocketAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_cycles_and_empty_is_none() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let backend = Backend::new(vec![a, b].into(), AppProtocol::Http1);
        let picked: Vec<_> = (0..4).map(|_| backend.next().unwrap()).collect();
        assert_eq!(picked, [a, b, a, b]);
        assert_eq!(backend.protocol(), AppProtocol::Http1);
        assert_eq!(&backend.endpoints()[..], &[a, b]);

        let empty = Backend::new(Vec::new().into(), AppProtocol::H2c);
        assert_eq!(empty.next(), None);
    }
}
