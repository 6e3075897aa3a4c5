//! The JWT layer and service.

use gateway_core::extensions::ConnectionInfo;
use http::{
    HeaderValue,
    header::{CONTENT_TYPE, HOST, WWW_AUTHENTICATE},
};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::{Future, Ready, ready},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
};
use tower::{Layer, Service};

use super::{
    JwtConfig,
    verify::{Decision, Status, Verifier},
};
use crate::buffer::FullBody;

/// Envoy's limit on the request path shown in the `WWW-Authenticate` realm.
const MAX_REALM_PATH: usize = 256;

/// Counters of the layer (Envoy's `jwt_authn.*` statistics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JwtStats {
    /// Requests let through (with a verified token, or without one in `AllowMissing` mode).
    pub allowed: u64,
    /// Requests refused (`401` or `403`).
    pub denied: u64,
    /// Successful fetches of remote key sets.
    pub jwks_fetch_success: u64,
    /// Failed fetches of remote key sets (the last good keys stayed in use).
    pub jwks_fetch_failed: u64,
}

/// The verifier and counters, shared by the layer, its clones and its services. The
/// background fetches of remote key sets stop when the last of them is dropped.
struct Shared {
    config: JwtConfig,
    verifier: Verifier,
    allowed: AtomicU64,
    denied: AtomicU64,
}

/// Authenticates requests with JWTs; see the [module docs](super).
#[derive(Clone)]
pub struct JwtLayer {
    shared: Arc<Shared>,
}

impl JwtLayer {
    /// A layer enforcing `config`. Inside a Tokio runtime, remote key sets start being
    /// fetched at once; otherwise with the first request.
    pub fn new(config: JwtConfig) -> Self {
        let verifier = Verifier::new(&config);
        verifier.start();
        Self {
            shared: Arc::new(Shared {
                config,
                verifier,
                allowed: AtomicU64::new(0),
                denied: AtomicU64::new(0),
            }),
        }
    }

    /// The counts so far, over every service this layer made.
    pub fn stats(&self) -> JwtStats {
        let (jwks_fetch_success, jwks_fetch_failed) = self
            .shared
            .verifier
            .remotes()
            .map(|remote| remote.fetch_counts())
            .fold((0, 0), |(ok, failed), (o, f)| (ok + o, failed + f));
        JwtStats {
            allowed: self.shared.allowed.load(Ordering::Relaxed),
            denied: self.shared.denied.load(Ordering::Relaxed),
            jwks_fetch_success,
            jwks_fetch_failed,
        }
    }

    /// Authenticates `request` as the layer's services do, without calling anything: the
    /// future resolves to the request, with the claims headers of the provider that
    /// accepted it set and its tokens removed (unless `forwardToken`), or to the refusal
    /// to send instead (`401`/`403` with `WWW-Authenticate` and the reason as text), exactly
    /// the response [`JwtService`] would send. The `allowed` and `denied` [counts](Self::stats)
    /// include it. A request whose token names a key a remote key set may bring waits for
    /// that fetch (at most the remote's `timeout`); otherwise the future is ready at once.
    ///
    /// It exists for routing on claims. kgateway's `claimsToHeaders` clears Envoy's route
    /// cache, so HTTPRoute header matches see the claims headers: the gateway's router,
    /// which is not a tower stack, authenticates a request with the JWT policy of the route
    /// it first matched, then matches again with the headers this set.
    pub fn authenticate<B, ResBody>(&self, request: http::Request<B>) -> Authenticate<B, ResBody>
    where
        B: Send + 'static,
        ResBody: FullBody + 'static,
    {
        self.shared.authenticate(request)
    }

    /// Returns once every remote key set of the layer has completed at least `fetches`
    /// fetches, successful or not (at once when there is none). `wait_for_jwks_fetches(1)`
    /// is the gate kgateway's `asyncFetch.fastListener: false` asks for before serving.
    pub async fn wait_for_jwks_fetches(&self, fetches: u64) {
        self.shared.verifier.start();
        for remote in self.shared.verifier.remotes() {
            let mut completed = remote.subscribe();
            // An error means the task is gone, with the layer: nothing more will come.
            let _ = completed.wait_for(|count| *count >= fetches).await;
        }
    }
}

impl fmt::Debug for JwtLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayer")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S> Layer<S> for JwtLayer {
    type Service = JwtService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service authenticating requests with JWTs; see the [module docs](super).
#[derive(Clone)]
pub struct JwtService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for JwtService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for JwtService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone,
    ReqBody: Send + 'static,
    ResBody: FullBody + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let state = match self.shared.authenticate(request).into_decided() {
            Ok(Ok(request)) => State::Inner {
                future: self.inner.call(request),
            },
            Ok(Err(refusal)) => State::Denied {
                future: ready(Ok(refusal)),
            },
            Err(waiting) => {
                // The service that was made ready goes with the request; a clone stays.
                let clone = self.inner.clone();
                State::Authenticating {
                    waiting,
                    inner: std::mem::replace(&mut self.inner, clone),
                }
            }
        };
        ResponseFuture { state }
    }
}

impl Shared {
    /// Verifies `request`, counting the outcome: the one decision path of
    /// [`JwtLayer::authenticate`] and [`JwtService`].
    fn authenticate<B, R>(self: &Arc<Self>, mut request: http::Request<B>) -> Authenticate<B, R>
    where
        B: Send + 'static,
        R: FullBody + 'static,
    {
        self.verifier.start();
        let state = match self.verifier.decide(&mut request, true) {
            Decision::Allow => AuthState::Decided(ready(Ok(self.allow(request)))),
            Decision::Deny(status) => AuthState::Decided(ready(Err(self.deny(status, &request)))),
            Decision::Wait(waiter) => {
                let shared = Arc::clone(self);
                AuthState::Waiting(Box::pin(async move {
                    waiter.wait().await;
                    let status = match shared.verifier.decide(&mut request, false) {
                        Decision::Allow => return Ok(shared.allow(request)),
                        Decision::Deny(status) => status,
                        // Not returned without `may_wait`; refuse as if keys were missing.
                        Decision::Wait(_) => Status::JwksFetchFail,
                    };
                    Err(shared.deny(status, &request))
                }))
            }
        };
        Authenticate { state }
    }

    /// Counts a request let through.
    fn allow<B>(&self, request: http::Request<B>) -> http::Request<B> {
        self.allowed.fetch_add(1, Ordering::Relaxed);
        request
    }

    /// Counts and logs a refusal and builds its response.
    fn deny<B: FullBody, R>(
        &self,
        status: Status,
        request: &http::Request<R>,
    ) -> http::Response<B> {
        self.denied.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            reason = status.message(),
            path = request.uri().path(),
            "JWT: refused"
        );
        refusal(status, request)
    }
}

/// Envoy's answer to a request that fails authentication: `401` (`403` for an audience that
/// is not allowed), the reason as a plain-text body, and `WWW-Authenticate: Bearer
/// realm="<scheme>://<host><path>"`, with `, error="invalid_token"` unless the token was
/// missing. Unlike Envoy, the realm leaves out the query string, which may hold the token.
/// Envoy records no response flag for it, and neither does this layer.
fn refusal<B: FullBody, R>(status: Status, request: &http::Request<R>) -> http::Response<B> {
    let mut response = http::Response::new(B::text(status.message()));
    *response.status_mut() = status.http_status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(WWW_AUTHENTICATE, challenge(status, request));
    response
}

/// The `WWW-Authenticate` value for a refusal.
fn challenge<R>(status: Status, request: &http::Request<R>) -> HeaderValue {
    let uri = request.uri();
    let scheme = uri
        .scheme_str()
        .or_else(|| {
            request
                .extensions()
                .get::<ConnectionInfo>()
                .map(ConnectionInfo::scheme)
        })
        .unwrap_or("http");
    let host = request
        .headers()
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()))
        .unwrap_or("");
    let path = uri.path();
    let path = path
        .char_indices()
        .nth(MAX_REALM_PATH)
        .map_or(path, |(end, _)| &path[..end]);
    let mut value = String::with_capacity(48 + host.len() + path.len());
    value.push_str("Bearer realm=\"");
    for part in [scheme, "://", host, path] {
        for c in part.chars() {
            if c == '"' || c == '\\' {
                value.push('\\');
            }
            value.push(c);
        }
    }
    value.push('"');
    if status != Status::Missing {
        value.push_str(", error=\"invalid_token\"");
    }
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// Future of [`JwtLayer::authenticate`]: the authenticated request, or the refusal to send
/// instead.
pub struct Authenticate<B, ResBody> {
    state: AuthState<B, ResBody>,
}

/// The outcome of an authentication.
type Outcome<B, R> = Result<http::Request<B>, http::Response<R>>;

/// An authentication waiting for a remote key set, then deciding again.
type Waiting<B, R> = Pin<Box<dyn Future<Output = Outcome<B, R>> + Send>>;

// The request is carried inline when decided at once, so that the usual case allocates
// nothing; only the rare wait for keys is boxed.
#[allow(clippy::large_enum_variant)]
enum AuthState<B, R> {
    /// Decided at once (the usual case).
    Decided(Ready<Outcome<B, R>>),
    /// Waiting for keys.
    Waiting(Waiting<B, R>),
}

impl<B, R> Authenticate<B, R> {
    /// The outcome, if it was decided without waiting; else the future to wait on.
    fn into_decided(self) -> Result<Outcome<B, R>, Waiting<B, R>> {
        match self.state {
            AuthState::Decided(outcome) => Ok(outcome.into_inner()),
            AuthState::Waiting(waiting) => Err(waiting),
        }
    }
}

impl<B, R> fmt::Debug for Authenticate<B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            AuthState::Decided(_) => "decided",
            AuthState::Waiting(_) => "waiting for keys",
        };
        f.debug_tuple("Authenticate").field(&state).finish()
    }
}

impl<B, R> Future for Authenticate<B, R> {
    type Output = Outcome<B, R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            AuthState::Decided(outcome) => Pin::new(outcome).poll(cx),
            AuthState::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

pin_project! {
    /// Response future of [`JwtService`].
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<http::Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, ResBody>
    where
        S: Service<http::Request<ReqBody>>,
    {
        /// Refused at once.
        Denied { future: Ready<Result<http::Response<ResBody>, S::Error>> },
        /// Let through: the inner service answers.
        Inner { #[pin] future: S::Future },
        /// Waiting for keys, with the inner service that was made ready.
        Authenticating { waiting: Waiting<ReqBody, ResBody>, inner: S },
    }
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<http::Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Denied { .. } => "denied",
            State::Inner { .. } => "inner",
            State::Authenticating { .. } => "waiting for keys",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Output = Result<http::Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let future = match state.as_mut().project() {
                StateProj::Denied { future } => return Pin::new(future).poll(cx),
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Authenticating { waiting, inner } => {
                    match ready!(waiting.as_mut().poll(cx)) {
                        Ok(request) => inner.call(request),
                        Err(refusal) => return Poll::Ready(Ok(refusal)),
                    }
                }
            };
            state.set(State::Inner { future });
        }
    }
}
