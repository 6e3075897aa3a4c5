//! HTTP basic authentication (kgateway `TrafficPolicy.spec.basicAuth`, Envoy's
//! `basic_auth` filter).
//!
//! Policy:
//!
//! - The users come from htpasswd text: the policy's inline `users` (`user:hash` each), or
//!   the data of the Secret `secretRef` names (key `.htpasswd` by default), which the policy
//!   compiler reads and hands to [`BasicAuthSpec::compile`]. Hashes are verified exactly as
//!   Apache's `htpasswd` writes them: `{SHA}` (`-s`, base64 of SHA-1: the only scheme
//!   kgateway's Envoy filter takes), `$apr1$` (`-m`, Apache's MD5-crypt, `htpasswd`'s
//!   default) and bcrypt `$2y$`/`$2b$`/`$2a$` (`-B`, cost 4 to 17). Plain-text and
//!   `crypt()` entries are refused when the policy is compiled. Every comparison is constant
//!   time (`subtle`, and the `bcrypt` crate's own).
//! - A request needs `Authorization: Basic <base64 of user:password>` (the first such
//!   header; the scheme name in any case). Otherwise it is answered `401` with
//!   `WWW-Authenticate: Basic realm="<scheme>://<host><path>"` (the realm Envoy sends;
//!   [`Realm::Fixed`] sets another) and Envoy's `text/plain` reason: `User authentication
//!   failed.` followed by `Missing username and password.`, `Expected 'Basic'
//!   authentication scheme.`, `Invalid basic credential format.` or `Invalid
//!   username/password combination.`. No response flag is set (Envoy sets none).
//! - On success the user name goes upstream in `x-envoy-basic-auth-user` (as kgateway
//!   documents), replacing whatever the client sent in it; `Authorization` is left as it
//!   came, as Envoy leaves it. [`BasicAuthLayer::stats`] counts both outcomes.
//!
//! Nothing secret is logged or shown: `Debug` and `/config_dump` list user names and hash
//! schemes only, and compile errors name the line and user, never a hash.
//!
//! # bcrypt off the request path
//!
//! bcrypt is slow on purpose (a cost of 10 takes tens of milliseconds of CPU, `htpasswd
//! -B`'s default of 5 a few). The layer does both of the usual things:
//!
//! - **A success cache.** Each success of a slow scheme (bcrypt, `$apr1$`) is remembered as
//!   a keyed SHA-256 digest of (user, password) under a random key drawn when the layer is
//!   built, in a lock-free direct-mapped table of 1024 slots (32 KiB). A returning client
//!   costs one SHA-256 and a constant-time compare. Failures are never cached, so a
//!   password guess always pays the full price. The trade-off: a copy of the process memory
//!   would let an attacker test guesses for cached users at SHA-256 speed instead of bcrypt
//!   speed; a new policy (a changed password) builds a new layer with an empty cache.
//! - **The blocking pool for misses.** An uncached bcrypt verification runs on tokio's
//!   blocking pool (`spawn_blocking`), at most one per core at a time (a semaphore), so a
//!   flood of wrong passwords queues behind it instead of stalling the runtime's workers.
//!   `$apr1$` (a thousand MD5 rounds, a fraction of a millisecond) and `{SHA}` are verified
//!   in place.
//!
//! A cache alone would still burn a worker on every miss; the pool alone would pay the full
//! bcrypt price on every request of a legitimate client. An unknown user costs what a
//! `{SHA}` user costs (a decoy SHA-1); as with Apache, a bcrypt user's longer answer tells
//! that the user exists.
//!
//! Bodies: any request body; the response body must be a
//! [`FullBody`](crate::buffer::FullBody) (the proxy's [`BoxBody`](gateway_core::BoxBody)
//! is). The inner service must be `Clone + Send + 'static` (a request waiting for bcrypt
//! takes a clone of it along).
//!
//! ```
//! use gateway_core::{Request, Response, body};
//! use gateway_filters::{basic_auth::{BasicAuthLayer, BasicAuthSpec}, compression::Toggle};
//! use http::StatusCode;
//! use std::convert::Infallible;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Made with `htpasswd -nbs bob 'bob:with:colons'` and `htpasswd -nbB alice alice-secret`.
//! let spec: BasicAuthSpec = serde_json::from_str(
//!     r#"{"users": [
//!         "bob:{SHA}8aUnfNGKI8Dqt5dVwX6XWOY08h4=",
//!         "alice:$2y$05$sE6NGgpwE6eTZis9gqipTuElOmEv2.jzeDpbHYUH1JiQzpOs0CjZK"]}"#,
//! )
//! .unwrap();
//! let Toggle::Enabled(config) = spec.compile(None).unwrap() else { unreachable!() };
//! let mut service = ServiceBuilder::new()
//!     .layer(BasicAuthLayer::new(config))
//!     .service(service_fn(|request: Request| async move {
//!         let user = request.headers()["x-envoy-basic-auth-user"].clone();
//!         Ok::<_, Infallible>(Response::new(body::full(user.as_bytes().to_vec())))
//!     }));
//! let with = |credentials: Option<&str>| {
//!     let mut request = http::Request::builder().uri("/private").header("host", "app.example");
//!     if let Some(credentials) = credentials {
//!         request = request.header("authorization", credentials);
//!     }
//!     request.body(body::empty()).unwrap()
//! };
//!
//! // bob:bob:with:colons and alice:alice-secret
//! for credentials in ["Basic Ym9iOmJvYjp3aXRoOmNvbG9ucw==", "Basic YWxpY2U6YWxpY2Utc2VjcmV0"] {
//!     let response = service.ready().await.unwrap().call(with(Some(credentials))).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::OK);
//! }
//! let response = service.ready().await.unwrap().call(with(None)).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     "Basic realm=\"http://app.example/private\""
//! );
//! # }
//! ```

mod apr1;
mod cache;
mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{BasicAuthConfig, Htpasswd, HtpasswdError, MAX_BCRYPT_COST, Realm};
pub use service::{BasicAuthLayer, BasicAuthService, BasicAuthStats, ResponseFuture};
pub use spec::{BasicAuthSecretRef, BasicAuthSpec};
