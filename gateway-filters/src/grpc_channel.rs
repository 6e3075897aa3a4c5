//! What the gRPC clients of the policies (external authorization, the global rate limit)
//! share: a lazily connected channel to a fixed set of endpoints, and the `grpc-timeout`
//! value of a deadline.

use http::{Uri, uri::Authority};
use std::{net::SocketAddr, time::Duration};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint, channel::Change},
};

/// A channel to `endpoints` that connects on first use: a plain one for a single endpoint,
/// a balanced one for several. `authority` is sent as `:authority` when set.
pub(crate) fn lazy_channel(
    endpoints: &[SocketAddr],
    authority: Option<&Authority>,
    connect_timeout: Option<Duration>,
) -> Channel {
    let origin = authority.and_then(|authority| {
        Uri::builder()
            .scheme("http")
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .ok()
    });
    let mut built = endpoints.iter().filter_map(|addr| {
        let uri = Uri::builder()
            .scheme("http")
            .authority(addr.to_string())
            .path_and_query("/")
            .build()
            .ok()?;
        let mut endpoint = Endpoint::from(uri);
        if let Some(timeout) = connect_timeout {
            endpoint = endpoint.connect_timeout(timeout);
        }
        Some(match &origin {
            Some(origin) => endpoint.origin(origin.clone()),
            None => endpoint,
        })
    });
    if endpoints.len() == 1
        && let Some(endpoint) = built.next()
    {
        return endpoint.connect_lazy();
    }
    let (channel, changes) = Channel::balance_channel(endpoints.len().max(1));
    for endpoint in built {
        // The queue holds every endpoint: sending cannot fail.
        let _ = changes.try_send(Change::Insert(endpoint.uri().clone(), endpoint));
    }
    channel
}

/// The `grpc-timeout` value for `timeout`: whole milliseconds (at most 8 digits, as the
/// gRPC spec allows), else seconds.
pub(crate) fn grpc_timeout(timeout: Duration) -> Option<MetadataValue<Ascii>> {
    let millis = timeout.as_millis().max(1);
    let text = if millis <= 99_999_999 {
        format!("{millis}m")
    } else {
        format!("{}S", timeout.as_secs().min(99_999_999))
    };
    MetadataValue::try_from(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_use_milliseconds_then_seconds() {
        assert_eq!(grpc_timeout(Duration::from_millis(200)).unwrap(), "200m");
        assert_eq!(grpc_timeout(Duration::ZERO).unwrap(), "1m");
        assert_eq!(
            grpc_timeout(Duration::from_secs(200_000)).unwrap(),
            "200000S"
        );
    }
}
