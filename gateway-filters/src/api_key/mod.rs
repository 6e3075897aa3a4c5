//! API key authentication (kgateway `TrafficPolicy.spec.apiKeyAuth`, Envoy's
//! `api_key_auth` filter).
//!
//! Policy:
//!
//! - The keys come from Kubernetes Secrets: each data entry is a client id and its key.
//!   The policy compiler reads the Secret `secretRef` names, or every Secret
//!   `secretSelector` selects, and hands the entries to [`ApiKeyAuthSpec::compile`]. Empty
//!   values are skipped; a key shared by two clients is refused.
//! - The key is looked for in `keySources`, in order; the first source that yields a
//!   non-empty value is used. Within a source, its `header` is tried, then its `query`
//!   parameter, then its `cookie` (as kgateway documents). A header value loses a leading
//!   `Bearer ` (as Envoy reads it, so `Authorization: Bearer <key>` works); a query value
//!   is percent-decoded (`+` stays a `+`); a quoted cookie value loses its quotes. Without
//!   `keySources`, the key is read from the header `api-key`.
//! - A request without a key, or with an unknown one, is answered `401` with Envoy's
//!   `text/plain` body `Client authentication failed.` (Envoy sends no `WWW-Authenticate`
//!   and sets no response flag, and neither does this layer). [`ApiKeyAuthLayer::stats`]
//!   counts both outcomes.
//! - On success, with `clientIdHeader`, the client id goes upstream in that header,
//!   replacing whatever the client sent in it. Unless `forwardCredential: true`, the key is
//!   stripped from **every** configured source, not only the one it came from, as Envoy's
//!   `hide_credentials` does: the headers are removed, the query parameters dropped (the
//!   rest of the query is kept as written) and the cookies dropped from `Cookie`.
//!
//! # Comparing keys without leaking them
//!
//! The keys are never compared byte by byte with what a client sends. [`ApiKeys`] keeps
//! only SHA-256 digests keyed with 32 random bytes drawn when the table is built, in a hash
//! map indexed by the digest: a request costs one SHA-256 of the presented key (its time
//! depends only on that key's length), one bucket lookup and a constant-time comparison of
//! digests. Nothing in that depends on how many bytes of the presented key match a real
//! key, nor on which key matched, and the digests cannot be predicted without the random
//! key. Comparing in constant time against every key would be just as silent but would cost
//! time in proportion to the number of keys (and a per-key early exit would leak). Keys do
//! not appear in `Debug` output, `/config_dump` (client ids and a count) or errors.
//!
//! Bodies: any request body; the response body must be a
//! [`FullBody`](crate::buffer::FullBody) (the proxy's [`BoxBody`](gateway_core::BoxBody)
//! is).
//!
//! ```
//! use gateway_core::{Request, Response, body};
//! use gateway_filters::{
//!     api_key::{ApiKeyAuthLayer, ApiKeyAuthSpec, SecretEntry},
//!     compression::Toggle,
//! };
//! use http::StatusCode;
//! use std::convert::Infallible;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: ApiKeyAuthSpec = serde_json::from_str(
//!     r#"{"secretRef": {"name": "api-keys"}, "clientIdHeader": "x-client-id",
//!         "keySources": [{"header": "x-api-key"}, {"query": "api_key"}]}"#,
//! )
//! .unwrap();
//! // The data of the Secret `api-keys`, as the policy compiler reads it.
//! let secret = [("client1", "k-123"), ("client2", "k-456")];
//! let entries = secret.iter().map(|(client, key)| SecretEntry {
//!     secret: "default/api-keys",
//!     client,
//!     key: key.as_bytes(),
//! });
//! let Toggle::Enabled(config) = spec.compile(entries).unwrap() else { unreachable!() };
//! let mut service = ServiceBuilder::new()
//!     .layer(ApiKeyAuthLayer::new(config))
//!     .service(service_fn(|request: Request| async move {
//!         // The backend sees who called, but not the key.
//!         assert!(request.headers().get("x-api-key").is_none());
//!         let client = request.headers()["x-client-id"].clone();
//!         Ok::<_, Infallible>(Response::new(body::full(client.as_bytes().to_vec())))
//!     }));
//!
//! let request = http::Request::get("/orders").header("x-api-key", "k-456");
//! let response = service.ready().await.unwrap().call(request.body(body::empty()).unwrap());
//! assert_eq!(response.await.unwrap().status(), StatusCode::OK);
//! let request = http::Request::get("/orders?api_key=k-123").body(body::empty()).unwrap();
//! let response = service.ready().await.unwrap().call(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! let request = http::Request::get("/orders?api_key=k-789").body(body::empty()).unwrap();
//! let response = service.ready().await.unwrap().call(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

mod config;
mod extract;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{ApiKeyAuthConfig, ApiKeys, ApiKeysError, KeySource};
pub use service::{ApiKeyAuthLayer, ApiKeyAuthService, ApiKeyAuthStats};
pub use spec::{ApiKeyAuthSpec, ApiKeySecretRef, ApiKeySourceSpec, LabelSelectorSpec, SecretEntry};
