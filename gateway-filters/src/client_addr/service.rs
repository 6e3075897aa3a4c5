//! Computing the client address and fixing up `X-Forwarded-For`.

use gateway_core::extensions::{ClientAddr, ConnectionInfo};
use http::{HeaderMap, HeaderName, HeaderValue, header::Entry};
use std::{
    net::IpAddr,
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::{ClientAddrConfig, XffTrust};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Sets the client address; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ClientAddrLayer {
    config: Arc<ClientAddrConfig>,
}

impl ClientAddrLayer {
    /// A layer applying `config`.
    pub fn new(config: ClientAddrConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for ClientAddrLayer {
    type Service = ClientAddrService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientAddrService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Service setting the client address; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ClientAddrService<S> {
    inner: S,
    config: Arc<ClientAddrConfig>,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for ClientAddrService<S>
where
    S: Service<http::Request<ReqBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| info.remote_addr.ip().to_canonical());
        if let Some(peer) = peer {
            let config = &*self.config;
            let client = client_address(config, request.headers(), peer);
            request.extensions_mut().insert(ClientAddr(client));
            match (config.xff_has_peer, config.append_xff) {
                (true, false) => remove_last_entry(request.headers_mut()),
                (false, true) => append_entry(request.headers_mut(), peer),
                _ => {}
            }
        }
        self.inner.call(request)
    }
}

/// The trusted client address, as the [module docs](super) table says.
fn client_address(config: &ClientAddrConfig, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    let mut arrived = entries_from_the_right(headers);
    if config.xff_has_peer {
        // The listener's own entry: the peer, not something that arrived.
        arrived.next();
    }
    let trusted = match &config.trust {
        XffTrust::Hops(0) if config.use_remote_address => None,
        XffTrust::Hops(hops) => {
            // The Nth entry from the right with `useRemoteAddress`, else the (N+1)th.
            let skip = if config.use_remote_address {
                hops - 1
            } else {
                *hops
            };
            arrived.nth(skip as usize)
        }
        XffTrust::Cidrs(nets) if nets.iter().any(|net| net.contains(&peer)) => arrived.next(),
        XffTrust::Cidrs(_) => None,
    };
    trusted
        .and_then(|entry| entry.parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_canonical())
}

/// The `X-Forwarded-For` entries from the rightmost one, across all header lines, trimmed.
/// A value that is not text counts as one (unparsable) entry.
fn entries_from_the_right(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .rev()
        .flat_map(|value| value.to_str().unwrap_or("").rsplit(','))
        .map(str::trim)
}

/// Takes the appended peer off again, leaving `X-Forwarded-For` as it arrived.
fn remove_last_entry(headers: &mut HeaderMap) {
    let Entry::Occupied(mut entry) = headers.entry(&X_FORWARDED_FOR) else {
        return;
    };
    let Some(last) = entry.iter_mut().last() else {
        return;
    };
    let bytes = last.as_bytes();
    if let Some(comma) = bytes.iter().rposition(|&b| b == b',') {
        if let Ok(kept) = HeaderValue::from_bytes(bytes[..comma].trim_ascii_end()) {
            *last = kept;
        }
        return;
    }
    // The last line holds only the peer: drop that line, keep the others.
    let mut lines: Vec<HeaderValue> = entry.iter().cloned().collect();
    lines.pop();
    let mut lines = lines.into_iter();
    match lines.next() {
        None => {
            entry.remove();
        }
        Some(first) => {
            entry.insert(first);
            for line in lines {
                entry.append(line);
            }
        }
    }
}

/// Appends the peer as the last `X-Forwarded-For` entry, as a proxy does.
fn append_entry(headers: &mut HeaderMap, peer: IpAddr) {
    let joined = match headers.get(&X_FORWARDED_FOR) {
        Some(existing) if headers.get_all(&X_FORWARDED_FOR).iter().nth(1).is_none() => {
            let existing = String::from_utf8_lossy(existing.as_bytes());
            format!("{existing}, {peer}")
        }
        // Several header lines: add one more line, which is equivalent.
        Some(_) => {
            if let Ok(value) = HeaderValue::from_str(&peer.to_string()) {
                headers.append(X_FORWARDED_FOR.clone(), value);
            }
            return;
        }
        None => peer.to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&joined) {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
}
