//! Verification of a request against the providers, as Envoy's `jwt_authn` filter does it
//! for kgateway's requirement (`requires_any` over the providers, plus `allow_missing` in
//! `AllowMissing` mode).

use http::{HeaderMap, HeaderName, StatusCode, Uri};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    JwtConfig, JwtProvider,
    claims::{Claims, Registered, Segments, TokenHeader, header_value, normalize_audience},
    config::Jwks,
    jwks::{RemoteKeys, Waiter},
    keys::{KeyCheck, KeySet, decode_segment},
};

/// The most token sources a provider looks at; more are ignored (kgateway allows one).
const MAX_SOURCES: usize = 64;

/// Why a token (or a request) failed, with Envoy's (`jwt_verify_lib`) wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// No token where the providers look.
    Missing,
    /// Not three dot-separated segments.
    BadFormat,
    /// The header is not base64url JSON.
    HeaderParseError,
    /// The header has no `alg` string.
    HeaderBadAlg,
    /// `alg` names no supported signature algorithm (`none` included).
    HeaderNotImplementedAlg,
    /// The payload is not base64url JSON, or a registered claim has the wrong type.
    PayloadParseError,
    /// `iss` is not the provider's issuer.
    UnknownIssuer,
    /// `nbf` is still ahead, beyond the leeway.
    NotYetValid,
    /// `exp` has passed, beyond the leeway.
    Expired,
    /// No `aud` is among the provider's audiences.
    AudienceNotAllowed,
    /// Keys fit the token, but the signature did not verify with any.
    VerificationFail,
    /// No key fits the token's `kid` and `alg`.
    KidAlgMismatch,
    /// The remote JWKS has never been fetched successfully.
    JwksFetchFail,
}

impl Status {
    /// Envoy's text for the status, sent as the body of the refusal.
    pub(crate) const fn message(self) -> &'static str {
        match self {
            Self::Missing => "Jwt is missing",
            Self::BadFormat => "Jwt is not in the form of Header.Payload.Signature",
            Self::HeaderParseError => "Jwt header is an invalid Base64url input or an invalid JSON",
            Self::HeaderBadAlg => "Jwt header [alg] field is not a string",
            Self::HeaderNotImplementedAlg => "Jwt header [alg] field value is invalid",
            Self::PayloadParseError => "Jwt payload is an invalid Base64 or an invalid JSON",
            Self::UnknownIssuer => "Jwt issuer is not configured",
            Self::NotYetValid => "Jwt not yet valid",
            Self::Expired => "Jwt is expired",
            Self::AudienceNotAllowed => "Audiences in Jwt are not allowed",
            Self::VerificationFail => "Jwt verification fails",
            Self::KidAlgMismatch => "Jwks doesn't have key to match kid or alg from Jwt",
            Self::JwksFetchFail => "Jwks remote fetch is failed",
        }
    }

    /// `403` for a token whose audience is not allowed (the token is fine, the route is not
    /// for it), `401` for everything else, as Envoy answers.
    pub(crate) const fn http_status(self) -> StatusCode {
        match self {
            Self::AudienceNotAllowed => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// Statuses that say "not for this provider" rather than "a bad token": when every
    /// provider fails, another provider's reason wins over these (Envoy's `requires_any`).
    const fn is_weak(self) -> bool {
        matches!(self, Self::Missing | Self::UnknownIssuer)
    }
}

/// What to do with a request.
pub(crate) enum Decision {
    /// Forward it (claims headers set, tokens removed as configured).
    Allow,
    /// Refuse it.
    Deny(Status),
    /// A remote key set is being fetched (or was just asked to be) and may hold the key a
    /// token names: wait for it, then decide again without waiting.
    Wait(Waiter),
}

/// Why one provider did not accept the request.
enum Failure {
    Denied(Status),
    Wait(Waiter),
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        Self::Denied(status)
    }
}

/// The providers, ready to verify requests.
pub(crate) struct Verifier {
    providers: Box<[ProviderState]>,
    allow_missing: bool,
    /// Every claims header of every provider: removed from each request first, so that only
    /// values from verified tokens reach the upstream.
    claims_headers: Box<[HeaderName]>,
}

struct ProviderState {
    provider: JwtProvider,
    /// The provider's audiences, normalized as tokens' are.
    audiences: Box<[Box<str>]>,
    keys: Keys,
}

enum Keys {
    Local(KeySet),
    Remote(Box<RemoteKeys>),
}

impl Verifier {
    pub(crate) fn new(config: &JwtConfig) -> Self {
        let providers = config
            .providers
            .iter()
            .map(|provider| {
                if provider.token_sources.len() > MAX_SOURCES {
                    tracing::warn!(
                        provider = %provider.name,
                        "JWT provider has more than {MAX_SOURCES} token sources; the rest are ignored"
                    );
                }
                ProviderState {
                    audiences: provider
                        .audiences
                        .iter()
                        .map(|aud| normalize_audience(aud).into())
                        .collect(),
                    keys: match &provider.jwks {
                        Jwks::Local(keys) => Keys::Local(keys.clone()),
                        Jwks::Remote(remote) => {
                            Keys::Remote(Box::new(RemoteKeys::new(
                                provider.name.clone(),
                                (**remote).clone(),
                            )))
                        }
                    },
                    provider: provider.clone(),
                }
            })
            .collect();
        let mut claims_headers: Vec<HeaderName> = Vec::new();
        for claim in config.providers.iter().flat_map(|p| &p.claims_to_headers) {
            if !claims_headers.contains(&claim.header) {
                claims_headers.push(claim.header.clone());
            }
        }
        Self {
            providers,
            allow_missing: config.allow_missing,
            claims_headers: claims_headers.into(),
        }
    }

    /// Starts the background fetches of remote key sets, if a Tokio runtime is at hand and
    /// they have not started yet (an atomic load once they have).
    pub(crate) fn start(&self) {
        for remote in self.remotes() {
            remote.start();
        }
    }

    /// The remote key sets.
    pub(crate) fn remotes(&self) -> impl Iterator<Item = &RemoteKeys> {
        self.providers.iter().filter_map(|state| match &state.keys {
            Keys::Remote(remote) => Some(&**remote),
            Keys::Local(_) => None,
        })
    }

    /// Verifies the request: the first provider that accepts it sets its claims headers and
    /// takes its tokens out; when none does, the most telling reason is returned.
    /// With `may_wait`, a token whose key may come with a fetch of a remote key set gets
    /// [`Decision::Wait`]; without, that token fails.
    pub(crate) fn decide<B>(&self, request: &mut http::Request<B>, may_wait: bool) -> Decision {
        for name in &*self.claims_headers {
            request.headers_mut().remove(name);
        }
        let now = unix_now();
        let mut reason = Status::Missing;
        let mut waiter = None;
        for state in &*self.providers {
            match state.verify(request.headers(), request.uri(), now, may_wait) {
                Ok(found) => {
                    // `http::Request` lends its headers and URI mutably one at a time: the
                    // URI is taken out meanwhile.
                    let mut uri = std::mem::take(request.uri_mut());
                    state.apply(found, request.headers_mut(), &mut uri);
                    *request.uri_mut() = uri;
                    return Decision::Allow;
                }
                Err(Failure::Wait(wait)) => {
                    waiter.get_or_insert(wait);
                }
                Err(Failure::Denied(status)) => {
                    if !status.is_weak() || reason == Status::Missing {
                        reason = status;
                    }
                }
            }
        }
        if let Some(waiter) = waiter {
            return Decision::Wait(waiter);
        }
        if self.allow_missing && reason == Status::Missing {
            Decision::Allow
        } else {
            Decision::Deny(reason)
        }
    }
}

impl ProviderState {
    /// Verifies every token the provider's sources find; returns which sources found one.
    fn verify(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        now: u64,
        may_wait: bool,
    ) -> Result<u64, Failure> {
        let mut found = 0u64;
        for (index, source) in self
            .provider
            .token_sources
            .iter()
            .take(MAX_SOURCES)
            .enumerate()
        {
            let Some(token) = source.extract(headers, uri) else {
                continue;
            };
            found |= 1 << index;
            // Every token must verify: a request with a good token and a bad one would let
            // the upstream read the bad one as if it had been checked.
            self.verify_token(&token, now, may_wait)?;
        }
        if found == 0 {
            Err(Status::Missing.into())
        } else {
            Ok(found)
        }
    }

    /// Envoy's order: format and header, issuer, time, audience, then the signature.
    fn verify_token(&self, token: &str, now: u64, may_wait: bool) -> Result<(), Failure> {
        let segments = Segments::split(token)?;
        let header = TokenHeader::parse(segments.header)?;
        let payload = decode_segment(segments.payload).ok_or(Status::PayloadParseError)?;
        let claims = Registered::parse(&payload)?;
        if let Some(issuer) = &self.provider.issuer
            && claims.issuer() != Some(&**issuer)
        {
            return Err(Status::UnknownIssuer.into());
        }
        claims.check_time(now, self.provider.clock_skew.as_secs())?;
        if !claims.audience_allowed(&self.audiences) {
            return Err(Status::AudienceNotAllowed.into());
        }
        let kid = header.kid.as_deref();
        match &self.keys {
            Keys::Local(keys) => match keys.verify(token, header.alg, kid) {
                KeyCheck::Verified => Ok(()),
                KeyCheck::BadSignature => Err(Status::VerificationFail.into()),
                KeyCheck::NoMatchingKey => Err(Status::KidAlgMismatch.into()),
            },
            Keys::Remote(remote) => {
                let keys = remote.current();
                match keys.verify(token, header.alg, kid) {
                    KeyCheck::Verified => Ok(()),
                    KeyCheck::BadSignature => Err(Status::VerificationFail.into()),
                    KeyCheck::NoMatchingKey => {
                        // A key id the set does not know (or no keys yet) may be a key the
                        // server has published since: fetch again, at most once per interval.
                        let unknown = keys.is_empty() || kid.is_some_and(|kid| !keys.has_kid(kid));
                        if unknown
                            && may_wait
                            && let Some(waiter) = remote.request_refresh(&keys)
                        {
                            return Err(Failure::Wait(waiter));
                        }
                        Err(if keys.is_empty() {
                            Status::JwksFetchFail
                        } else {
                            Status::KidAlgMismatch
                        }
                        .into())
                    }
                }
            }
        }
    }

    /// What an accepted request gets: the claims headers of each verified token, and the
    /// tokens taken out unless they are forwarded.
    fn apply(&self, found: u64, headers: &mut HeaderMap, uri: &mut Uri) {
        let sources = self
            .provider
            .token_sources
            .iter()
            .take(MAX_SOURCES)
            .enumerate();
        let found_sources = || {
            sources
                .clone()
                .filter(|(index, _)| found & (1 << index) != 0)
        };
        if !self.provider.claims_to_headers.is_empty() {
            for (_, source) in found_sources() {
                let Some(claims) = source
                    .extract(headers, uri)
                    .and_then(|token| {
                        let segments = Segments::split(&token).ok()?;
                        decode_segment(segments.payload)
                    })
                    .and_then(|payload| Claims::parse(&payload))
                else {
                    continue;
                };
                for claim in &self.provider.claims_to_headers {
                    if let Some(value) = claims.get(&claim.claim).and_then(header_value) {
                        headers.append(claim.header.clone(), value);
                    }
                }
            }
        }
        if !self.provider.forward_token {
            for (_, source) in found_sources() {
                source.remove(headers, uri);
            }
        }
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
