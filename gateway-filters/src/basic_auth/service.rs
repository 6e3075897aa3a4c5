//! The basic auth layer: reads the credentials, verifies them, challenges on failure.

use base64::{
    Engine,
    alphabet::STANDARD,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use gateway_core::extensions::ConnectionInfo;
use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE},
};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    num::NonZeroUsize,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::{
    BasicAuthConfig, Realm,
    cache::{Entry, SuccessCache},
    config::{PasswordHash, User},
};
use crate::buffer::FullBody;

/// Base64 as Envoy reads the credentials: the standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Longest decoded `user:password` read: longer credentials are refused as malformed
/// (they are decoded on the stack, not on the heap).
const MAX_CREDENTIALS: usize = 1024;

/// Longest path in the request-URL realm, as Envoy cuts it.
const MAX_REALM_PATH: usize = 256;

/// Why a request is refused, with Envoy's answer for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Denial {
    Missing,
    Scheme,
    Format,
    Credentials,
}

impl Denial {
    fn body(self) -> &'static str {
        match self {
            Self::Missing => "User authentication failed. Missing username and password.",
            Self::Scheme => "User authentication failed. Expected 'Basic' authentication scheme.",
            Self::Format => "User authentication failed. Invalid basic credential format.",
            Self::Credentials => {
                "User authentication failed. Invalid username/password combination."
            }
        }
    }
}

/// How many requests the layer's services have let through or refused (Envoy's
/// `basic_auth.allowed` and `basic_auth.denied`), and how many bcrypt verifications ran on
/// the blocking pool (the rest were answered from the success cache, or were cheap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicAuthStats {
    /// Requests with valid credentials.
    pub allowed: u64,
    /// Requests answered `401`.
    pub denied: u64,
    /// bcrypt verifications run on the blocking pool.
    pub slow_verifications: u64,
}

/// The policy and its runtime state, shared by the layer and its services.
struct Shared {
    config: BasicAuthConfig,
    cache: SuccessCache,
    /// Bounds concurrent bcrypt verifications to the number of cores, so that a flood of
    /// wrong passwords queues instead of taking every core and blocking thread.
    slow: Arc<Semaphore>,
    /// Verified for unknown users so that they cost what a `{SHA}` user costs.
    decoy: PasswordHash,
    allowed: AtomicU64,
    denied: AtomicU64,
    slow_verifications: AtomicU64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the fast part of a check found.
enum Check<'a> {
    /// Valid credentials: forward this user.
    Allow(&'a User),
    Deny(Denial),
    /// A bcrypt user whose success is not cached: verify on the blocking pool.
    Slow {
        user: &'a User,
        password: Vec<u8>,
        entry: Entry,
    },
}

impl Shared {
    fn check<'a>(&'a self, headers: &HeaderMap, buffer: &mut [u8; MAX_CREDENTIALS]) -> Check<'a> {
        let (name, password) = match credentials(headers, buffer) {
            Ok(credentials) => credentials,
            Err(denial) => return Check::Deny(denial),
        };
        let Some(user) = self.config.users.get(name) else {
            // Do the work of a {SHA} user, whose timing an unknown user should not stand out
            // from (bcrypt and $apr1$ users are told apart by time anyway, as in Apache).
            self.decoy.verify(password);
            return Check::Deny(Denial::Credentials);
        };
        if !user.hash.is_cached() {
            return if user.hash.verify(password) {
                Check::Allow(user)
            } else {
                Check::Deny(Denial::Credentials)
            };
        }
        let entry = self.cache.entry(user.index, password);
        if self.cache.contains(&entry) {
            return Check::Allow(user);
        }
        if user.hash.is_slow() {
            return Check::Slow {
                user,
                password: password.to_vec(),
                entry,
            };
        }
        if user.hash.verify(password) {
            self.cache.insert(&entry);
            Check::Allow(user)
        } else {
            Check::Deny(Denial::Credentials)
        }
    }

    /// Verifies a bcrypt hash on the blocking pool, at most one per core at a time. Fails
    /// closed if the pool cannot run it.
    async fn verify_slow(&self, hash: PasswordHash, password: Vec<u8>) -> bool {
        let Ok(permit) = self.slow.clone().acquire_owned().await else {
            return false;
        };
        self.slow_verifications.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let verified = hash.verify(&password);
            drop(permit);
            verified
        })
        .await
        .unwrap_or(false)
    }

    /// Puts the user name in the forwarded-user header and counts the success.
    fn allow<B>(&self, request: &mut http::Request<B>, user: &HeaderValue) {
        self.allowed.fetch_add(1, Ordering::Relaxed);
        if let Some(name) = &self.config.forward_username_header {
            request.headers_mut().insert(name.clone(), user.clone());
        }
    }

    /// The `401` with its challenge and Envoy's text.
    fn deny<B, R: FullBody>(
        &self,
        request: &http::Request<B>,
        denial: Denial,
    ) -> http::Response<R> {
        self.denied.fetch_add(1, Ordering::Relaxed);
        let mut response = http::Response::new(R::text(denial.body()));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let challenge = match &self.config.realm {
            Realm::Fixed(challenge) => challenge.clone(),
            Realm::RequestUri => request_uri_challenge(request),
        };
        headers.insert(WWW_AUTHENTICATE, challenge);
        response
    }
}

/// The user name and password of a `Basic` `Authorization` header (the first one), decoded
/// into `buffer`. The scheme name is matched without regard to case (RFC 7617).
fn credentials<'b>(
    headers: &HeaderMap,
    buffer: &'b mut [u8; MAX_CREDENTIALS],
) -> Result<(&'b [u8], &'b [u8]), Denial> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or(Denial::Missing)?
        .as_bytes();
    let token = match value.split_at_checked(6) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"basic ") => token.trim_ascii(),
        _ => return Err(Denial::Scheme),
    };
    let length = BASE64
        .decode_slice(token, buffer)
        .map_err(|_| Denial::Format)?;
    let decoded = buffer.get(..length).ok_or(Denial::Format)?;
    let colon = decoded
        .iter()
        .position(|byte| *byte == b':')
        .ok_or(Denial::Format)?;
    Ok((&decoded[..colon], &decoded[colon + 1..]))
}

/// `Basic realm="<scheme>://<host><path>"`, the path cut at 256 bytes, as Envoy answers.
fn request_uri_challenge<B>(request: &http::Request<B>) -> HeaderValue {
    let headers = request.headers();
    let uri = request.uri();
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .or_else(|| uri.scheme_str())
        .or_else(|| {
            request
                .extensions()
                .get::<ConnectionInfo>()
                .map(ConnectionInfo::scheme)
        })
        .unwrap_or("http");
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()))
        .unwrap_or("");
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let mut end = path.len().min(MAX_REALM_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    let mut realm = String::with_capacity(24 + scheme.len() + host.len() + end);
    realm.push_str("Basic realm=\"");
    for part in [scheme, "://", host, &path[..end]] {
        realm.extend(part.chars().filter(|c| !matches!(c, '"' | '\\')));
    }
    realm.push('"');
    HeaderValue::from_str(&realm).unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"\""))
}

/// Enforces a [`BasicAuthConfig`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct BasicAuthLayer {
    shared: Arc<Shared>,
}

impl BasicAuthLayer {
    /// A layer enforcing `config`, with an empty success cache under a fresh random key.
    pub fn new(config: BasicAuthConfig) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            shared: Arc::new(Shared {
                config,
                cache: SuccessCache::new(),
                slow: Arc::new(Semaphore::new(cores)),
                decoy: PasswordHash::Sha1([0; 20]),
                allowed: AtomicU64::new(0),
                denied: AtomicU64::new(0),
                slow_verifications: AtomicU64::new(0),
            }),
        }
    }

    /// The counts so far, over every service this layer made.
    pub fn stats(&self) -> BasicAuthStats {
        BasicAuthStats {
            allowed: self.shared.allowed.load(Ordering::Relaxed),
            denied: self.shared.denied.load(Ordering::Relaxed),
            slow_verifications: self.shared.slow_verifications.load(Ordering::Relaxed),
        }
    }
}

impl<S> Layer<S> for BasicAuthLayer {
    type Service = BasicAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BasicAuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service enforcing HTTP basic authentication; see the [module docs](super).
#[derive(Clone)]
pub struct BasicAuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for BasicAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuthService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

/// The boxed future of a request waiting for a bcrypt verification.
type Verifying<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for BasicAuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: FullBody + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, http::Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let mut buffer = [0u8; MAX_CREDENTIALS];
        match self.shared.check(request.headers(), &mut buffer) {
            Check::Allow(user) => {
                self.shared.allow(&mut request, &user.name);
                ResponseFuture::inner(self.inner.call(request))
            }
            Check::Deny(denial) => ResponseFuture::answered(self.shared.deny(&request, denial)),
            Check::Slow {
                user,
                password,
                entry,
            } => {
                let hash = user.hash.clone();
                let name = user.name.clone();
                let shared = self.shared.clone();
                // The service made ready by `poll_ready` goes with the request; this one
                // keeps a fresh clone.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::verifying(Box::pin(async move {
                    if shared.verify_slow(hash, password).await {
                        shared.cache.insert(&entry);
                        shared.allow(&mut request, &name);
                        inner.call(request).await
                    } else {
                        Ok(shared.deny(&request, Denial::Credentials))
                    }
                }))
            }
        }
    }
}

pin_project! {
    /// Response future of [`BasicAuthService`].
    pub struct ResponseFuture<F, R, E> {
        #[pin]
        state: State<F, R, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, R, E> {
        // Refused: the `401`, until it is taken.
        Answered { response: Option<R> },
        // Let through: the inner service's future.
        Inner { #[pin] future: F },
        // Waiting for a bcrypt verification, then the inner service.
        Verifying { future: Verifying<R, E> },
    }
}

impl<F, R, E> ResponseFuture<F, R, E> {
    fn answered(response: R) -> Self {
        Self {
            state: State::Answered {
                response: Some(response),
            },
        }
    }

    fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    fn verifying(future: Verifying<R, E>) -> Self {
        Self {
            state: State::Verifying { future },
        }
    }
}

impl<F, R, E> fmt::Debug for ResponseFuture<F, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Answered { .. } => "Answered",
            State::Inner { .. } => "Inner",
            State::Verifying { .. } => "Verifying",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}

impl<F, R, E> Future for ResponseFuture<F, R, E>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Verifying { future } => future.as_mut().poll(cx),
        }
    }
}
