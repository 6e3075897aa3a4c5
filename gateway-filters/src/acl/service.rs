//! The ACL layer: looks the client address up in the prefix table.

use futures_util::future::{Either, Ready, ready};
use gateway_core::extensions::{ClientAddr, ConnectionInfo};
use http::{HeaderValue, header::CONTENT_TYPE};
use std::{
    fmt,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::{AclAction, AclConfig, table::PrefixTable};
use crate::buffer::FullBody;

/// What a verdict of the table means: allow, or deny naming what denied.
#[derive(Debug)]
struct Outcome {
    allow: bool,
    /// The blocked-by value: the rule's name, `rule` or `default`.
    blocked_by: HeaderValue,
}

/// The compiled policy, shared by the layer and its services.
struct Shared {
    config: AclConfig,
    table: PrefixTable,
    /// `outcomes[0]` is the default action, `outcomes[i + 1]` rule `i`.
    outcomes: Box<[Outcome]>,
    blocked: AtomicU64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The blocked-by value when a request is denied, `None` when it is allowed.
    fn check<B>(&self, request: &http::Request<B>) -> Option<&HeaderValue> {
        let Some(client) = client_ip(request) else {
            // Fail closed, as kgateway's filter does.
            return Some(&UNKNOWN_IP);
        };
        let verdict = self.table.lookup(client);
        let outcome = usize::try_from(verdict)
            .ok()
            .and_then(|i| self.outcomes.get(i))?;
        (!outcome.allow).then_some(&outcome.blocked_by)
    }

    /// The deny response, with `blocked_by` in the blocked-by header when configured.
    fn deny<B: FullBody>(&self, blocked_by: &HeaderValue) -> http::Response<B> {
        self.blocked.fetch_add(1, Ordering::Relaxed);
        let deny = &self.config.deny_response;
        let mut response = match &deny.body {
            Some(body) => {
                let mut response = http::Response::new(B::full(body.clone(), None));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                response
            }
            None => http::Response::new(B::full(bytes::Bytes::new(), None)),
        };
        *response.status_mut() = deny.status;
        let headers = response.headers_mut();
        for (name, value) in &deny.headers {
            headers.append(name.clone(), value.clone());
        }
        if let Some(name) = &deny.blocked_by_header {
            headers.insert(name.clone(), blocked_by.clone());
        }
        response
    }
}

/// The blocked-by value when the client address is not known.
static UNKNOWN_IP: HeaderValue = HeaderValue::from_static("unknown-ip");

/// The client address: the [`ClientAddr`] the listener's policy computed, or else the
/// peer of the connection.
fn client_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<ClientAddr>()
        .map(|client| client.0)
        .or_else(|| {
            extensions
                .get::<ConnectionInfo>()
                .map(|connection| connection.remote_addr.ip())
        })
}

/// Enforces an [`AclConfig`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct AclLayer {
    shared: Arc<Shared>,
}

impl AclLayer {
    /// A layer enforcing `config`; builds its prefix table once, here.
    pub fn new(config: AclConfig) -> Self {
        let table = PrefixTable::build(
            config.rules.iter().map(|rule| rule.cidrs.as_slice()),
            config.precedence,
        );
        let outcomes = std::iter::once(Outcome {
            allow: config.default_action == AclAction::Allow,
            blocked_by: HeaderValue::from_static("default"),
        })
        .chain(config.rules.iter().map(|rule| {
            Outcome {
                allow: rule.action == AclAction::Allow,
                blocked_by: rule
                    .name
                    .as_deref()
                    .and_then(|name| HeaderValue::from_str(name).ok())
                    .unwrap_or_else(|| HeaderValue::from_static("rule")),
            }
        }))
        .collect();
        Self {
            shared: Arc::new(Shared {
                config,
                table,
                outcomes,
                blocked: AtomicU64::new(0),
            }),
        }
    }

    /// How many requests the layer's services have denied (kgateway's
    /// `dev.kgateway.http.acl.blocked` counter).
    pub fn blocked(&self) -> u64 {
        self.shared.blocked.load(Ordering::Relaxed)
    }
}

impl<S> Layer<S> for AclLayer {
    type Service = AclService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AclService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service enforcing an IP access-control policy; see the [module docs](super).
#[derive(Clone)]
pub struct AclService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for AclService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AclService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AclService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: FullBody,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<http::Response<ResBody>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        match self.shared.check(&request) {
            Some(blocked_by) => Either::Left(ready(Ok(self.shared.deny(blocked_by)))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}
