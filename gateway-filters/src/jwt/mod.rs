//! JWT authentication (kgateway `TrafficPolicy.spec.jwtAuth`, Envoy's `jwt_authn` filter).
//!
//! `jwtAuth.extensionRef` names a GatewayExtension whose `spec.jwt` lists providers
//! ([`JwtSpec`]); the policy compiler resolves it and the ConfigMaps and backends it refers
//! to ([`JwtReferences`]) into a [`JwtConfig`]. `jwtAuth.disable` ([`JwtAuthSpec`]) is the
//! compiler's business: it leaves the layer out.
//!
//! For each request, as Envoy does for kgateway's requirement (`requires_any` over the
//! providers):
//!
//! 1. Headers named by any provider's `claimsToHeaders` are removed, so that only claims of
//!    verified tokens reach the upstream.
//! 2. Providers are tried in order. A provider looks for tokens where its `tokenSource`
//!    says: a header with an optional prefix, a query parameter, or (in [`TokenSource`]
//!    only: kgateway has no field for it) a cookie; by default `Authorization: Bearer` and
//!    the `access_token` query parameter. Every token it finds must pass, in Envoy's order:
//!    three segments; a header whose `alg` names a signature algorithm (`none` never does);
//!    `iss` equal to the provider's `issuer` when one is set; `nbf` and `exp` with
//!    [`JwtProvider::clock_skew`] of leeway (60 s, Envoy's default); an `aud` among the
//!    provider's `audiences` when some are set; and the signature, with the keys whose
//!    `kid` fits and whose type allows the token's `alg` (see [`KeySet`]: an `HS256` token
//!    is never checked against an RSA or EC key, nor an `RS256` token against an `oct` key).
//! 3. The first provider whose tokens all pass wins: its `claimsToHeaders` are set on the
//!    request, and its tokens are removed from it (the header, the query parameter, the
//!    cookie) unless `forwardToken` is set. The request goes on.
//! 4. When no provider passes: with `validationMode: AllowMissing` and no token anywhere,
//!    the request goes on unauthenticated. Otherwise it is refused with the most telling
//!    reason (a provider's real error wins over another's "no token" or "other issuer"):
//!    `401` with `WWW-Authenticate: Bearer realm="<scheme>://<host><path>"` for a missing
//!    token, the same plus `, error="invalid_token"` for a bad one, and `403` for a token
//!    whose audience is not allowed (kgateway has no claim requirements, which would be the
//!    other `403`). The body is Envoy's reason text (`Jwt is missing`, `Jwt is expired`,
//!    ...). Envoy records no response flag for these, and neither does this layer.
//!
//! Keys are given in the configuration (`jwks.local`: a JWKS, one JWK or a PEM public key,
//! inline or from a ConfigMap) or fetched from a JWKS server (`jwks.remote`, see
//! [`RemoteJwks`]): by a background task owned by the layer, refreshed every
//! `cacheDuration` (5 minutes by default), keeping the last good keys when a fetch fails,
//! and fetched again early (at most once per [`RemoteJwks::unknown_kid_refetch_interval`])
//! for a token whose `kid` the set does not know, which then waits for that fetch. Requests
//! read keys without a lock. A JWKS URL may be `http://` or `https://`: over TLS the
//! server's certificate is checked for the URL's host, against the Mozilla roots or the
//! certificate authorities given in [`RemoteJwks::ca_certificates`].
//!
//! **Where in the stack.** kgateway's `claimsToHeaders` clears Envoy's route cache so that
//! routes can match on the claims headers. To get that, the gateway's router calls
//! [`JwtLayer::authenticate`] with the JWT policy of the route a request first matches,
//! then matches the request again with the claims headers it gained; `authenticate` runs
//! the same verification, with the same refusals and counts, as the layer's service. The
//! layer itself makes no assumption: it works anywhere in a tower stack over
//! `http::Request<B>`, before or after a router.
//!
//! Bodies: any request body (the service must be `Clone` so that a request waiting for keys
//! can take it along); the response body must be a [`FullBody`](crate::buffer::FullBody)
//! (the proxy's [`BoxBody`](gateway_core::BoxBody) is) for the refusals' text.
//!
//! ```
//! use gateway_core::{Request, Response, body};
//! use gateway_filters::jwt::{DirectReferences, JwtLayer, JwtSpec};
//! use http::StatusCode;
//! use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
//! use std::convert::Infallible;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A GatewayExtension's `spec.jwt` with an inline HMAC key (base64url of 32 bytes).
//! let spec: JwtSpec = serde_json::from_str(r#"{
//!     "providers": [{
//!         "name": "example",
//!         "issuer": "https://issuer.example",
//!         "audiences": ["orders"],
//!         "claimsToHeaders": [{"name": "sub", "header": "x-user"}],
//!         "jwks": {"local": {"inline":
//!             "{\"keys\": [{\"kty\": \"oct\", \"kid\": \"k1\", \"alg\": \"HS256\", \"k\": \"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I\"}]}"
//!         }}
//!     }]
//! }"#).unwrap();
//! let mut service = ServiceBuilder::new()
//!     .layer(JwtLayer::new(spec.compile(&DirectReferences).unwrap()))
//!     .service(service_fn(|request: Request| async move {
//!         // The upstream sees the claim, not the token.
//!         assert!(request.headers().get("authorization").is_none());
//!         let user = request.headers()["x-user"].clone();
//!         let mut response = Response::new(body::empty());
//!         response.headers_mut().insert("x-seen-user", user);
//!         Ok::<_, Infallible>(response)
//!     }));
//!
//! let mut header = Header::new(Algorithm::HS256);
//! header.kid = Some("k1".into());
//! let claims = serde_json::json!({
//!     "iss": "https://issuer.example", "aud": "orders", "sub": "alice",
//!     "exp": jsonwebtoken::get_current_timestamp() + 600,
//! });
//! let token = encode(
//!     &header,
//!     &claims,
//!     &EncodingKey::from_secret(b"secret-secret-secret-secret-secr"),
//! )
//! .unwrap();
//!
//! let request = http::Request::get("/orders")
//!     .header("host", "shop.example")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(body::empty())
//!     .unwrap();
//! let response = service.ready().await.unwrap().call(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["x-seen-user"], "alice");
//!
//! let anonymous = http::Request::get("/orders")
//!     .header("host", "shop.example")
//!     .body(body::empty())
//!     .unwrap();
//! let response = service.ready().await.unwrap().call(anonymous).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     "Bearer realm=\"http://shop.example/orders\""
//! );
//! # }
//! ```

mod claims;
mod client;
mod config;
mod jwks;
mod keys;
mod service;
mod spec;
#[cfg(test)]
mod tests;
mod token;
mod verify;

pub use config::{
    CaCertificates, CaCertificatesError, ClaimToHeader, DEFAULT_CACHE_DURATION, DEFAULT_CLOCK_SKEW,
    DEFAULT_FAILED_REFETCH, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_JWKS_BYTES,
    DEFAULT_UNKNOWN_KID_REFETCH_INTERVAL, FetchRetry, Jwks, JwtConfig, JwtProvider, RemoteJwks,
    TokenSource,
};
pub use keys::{KeySet, KeySetError};
pub use service::{Authenticate, JwtLayer, JwtService, JwtStats, ResponseFuture};
pub use spec::{
    ClaimToHeaderSpec, DirectReferences, HeaderSourceSpec, JwksAsyncFetchSpec,
    JwksRetryBackOffSpec, JwksRetryPolicySpec, JwksSpec, JwtAuth, JwtAuthSpec, JwtProviderSpec,
    JwtReferences, JwtSpec, LocalJwksSpec, LocalObjectReferenceSpec, PolicyDisableSpec,
    RemoteJwksSpec, TokenSourceSpec, ValidationMode,
};
