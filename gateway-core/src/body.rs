//! The one body type used inside the proxy.
//!
//! Every request and response body is boxed once at the edge (when it leaves hyper's
//! `Incoming` or a synthetic response is built) so that layers, routers and the upstream
//! client all agree on a single concrete type.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

/// Error type carried by boxed bodies and erased services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The proxy's body type: any `http_body::Body<Data = Bytes>` behind one box.
pub type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// An HTTP request as it travels through the proxy.
pub type Request = http::Request<BoxBody>;

/// An HTTP response as it travels through the proxy.
pub type Response = http::Response<BoxBody>;

/// Boxes any body whose data is `Bytes` into the proxy's body type.
pub fn boxed<B>(body: B) -> BoxBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// An empty body.
pub fn empty() -> BoxBody {
    boxed(Empty::<Bytes>::new())
}

/// A body holding exactly `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> BoxBody {
    boxed(Full::new(bytes.into()))
}
