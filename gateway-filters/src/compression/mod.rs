//! kgateway `TrafficPolicy.spec.compression`: response compression and request
//! decompression, on tower-http's compressors.
//!
//! **Response compression** ([`ResponseCompressionLayer`], kgateway `responseCompression`,
//! Envoy's compressor filter): the codec is negotiated from the request's `Accept-Encoding`
//! among the configured [`libraries`](ResponseCompressionSpec::libraries) (gzip by default):
//! the highest `q` wins, `*` stands for any coding not listed, and on equal `q` the better
//! codec wins (zstd, then br, then gzip; kgateway leaves such ties to the client's order).
//! A response is compressed only when it is not already encoded (`Content-Encoding`), is not
//! a range (`Content-Range`), has no `Cache-Control: no-transform`, has a media type in
//! [`content_types`](ResponseCompressionConfig::content_types) (parameters ignored; a
//! response without `Content-Type` qualifies) and a known length (from `Content-Length` or
//! the body) of at least [`min_content_length`](ResponseCompressionConfig::min_content_length)
//! bytes, 30 by default; responses of unknown length (streams) qualify. Responses to `HEAD`
//! are never compressed. A compressed response gets `Content-Encoding`, loses
//! `Content-Length` and `Accept-Ranges`, and a strong `ETag` becomes weak, as Envoy does.
//! Every response that could have been compressed carries `Vary: Accept-Encoding`, whether
//! or not this client got it compressed. A client that accepts none of the codecs (even one
//! refusing `identity`) gets the response as it is.
//!
//! **Request decompression** ([`RequestDecompressionLayer`], kgateway
//! `requestDecompression`, Envoy's decompressor filter with its response direction off): a
//! request whose `Content-Encoding` is one of the configured codecs (gzip by default:
//! exactly `gzip`, `br` or `zstd`) is forwarded with its body decompressed and without
//! `Content-Encoding` and `Content-Length`; other codings, and requests with
//! `Cache-Control: no-transform`, pass unchanged. A body that fails to decompress fails the
//! request body as the backend reads it. kgateway places decompression before the buffer
//! limit so that the limit counts decompressed bytes; the stack builder decides where the
//! layer goes.
//!
//! [`CompressionSpec`] reads the kgateway field; each part compiles to a [`Toggle`]:
//! `disable: {}` turns that part off (overriding a policy attached higher up). Both layers
//! work over the proxy's [`Request`](gateway_core::Request) and
//! [`Response`](gateway_core::Response); the compressor takes any request body. Only
//! requests that get a codec go through tower-http (whose bodies the layers box once), so
//! the others cost a header check.
//!
//! ```
//! use gateway_core::{Request, body};
//! use gateway_filters::compression::{CompressionSpec, ResponseCompressionLayer};
//! use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: CompressionSpec = serde_json::from_str(
//!     r#"{"responseCompression": {"libraries": ["Zstd", "Gzip"]}}"#,
//! )
//! .unwrap();
//! let config = spec.compile().unwrap();
//! let response_config = config.response.unwrap().enabled().unwrap().clone();
//! let service = ServiceBuilder::new()
//!     .layer(ResponseCompressionLayer::new(response_config))
//!     .service(service_fn(|_: Request| async {
//!         let mut response = http::Response::new(body::full("a compressible page ".repeat(10)));
//!         response
//!             .headers_mut()
//!             .insert(CONTENT_TYPE, "text/html; charset=utf-8".parse().unwrap());
//!         Ok::<_, Infallible>(response)
//!     }));
//! let request = http::Request::builder()
//!     .header(ACCEPT_ENCODING, "gzip, br")
//!     .body(body::empty())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
//! assert_eq!(response.headers()[VARY], "accept-encoding");
//! # }
//! ```

mod config;
mod encoding;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{
    Codecs, CompressionConfig, RequestDecompressionConfig, ResponseCompressionConfig, Toggle,
};
pub use service::{
    DecompressionFuture, RequestDecompressionLayer, RequestDecompressionService,
    ResponseCompressionLayer, ResponseCompressionService, ResponseFuture,
};
pub use spec::{
    CompressionLibrary, CompressionSpec, PolicyDisable, RequestDecompressionSpec,
    ResponseCompressionSpec,
};
