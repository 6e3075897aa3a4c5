//! Request hashing for the consistent-hash load balancers (`ringHash`, `maglev`).
//!
//! The hash is FNV-1a over the key's bytes followed by MurmurHash3's 64-bit finaliser: short
//! keys spread well, and the value depends only on the bytes, so every gateway replica (and
//! every restart) maps a key to the same endpoint of the same endpoint list.

use http::{HeaderValue, header::COOKIE};
use std::{net::IpAddr, time::Duration};

use super::policy::{HashCookie, HashKey, HashPolicy};
use crate::extensions::{ClientAddr, ConnectionInfo};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A streaming 64-bit hash of bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyHasher(u64);

impl KeyHasher {
    /// A hasher; different `seed`s give independent hash functions.
    pub(super) const fn with_seed(seed: u64) -> Self {
        Self(FNV_OFFSET ^ seed)
    }

    /// Feeds `bytes`.
    pub(super) fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// The hash of everything fed so far.
    pub(super) const fn finish(self) -> u64 {
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^= k >> 33;
        k
    }
}

/// The hash of `bytes` with seed 0.
pub(super) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hasher = KeyHasher::with_seed(0);
    hasher.write(bytes);
    hasher.finish()
}

/// A hash policy made ready for requests: the `Set-Cookie` attributes of a generated cookie
/// are formatted once.
#[derive(Debug)]
pub(super) struct CompiledPolicy {
    key: CompiledKey,
    terminal: bool,
}

#[derive(Debug)]
enum CompiledKey {
    Header(http::HeaderName),
    Cookie {
        name: Box<str>,
        /// `"; Max-Age=…; Path=…"` and flags, when the cookie is generated.
        generate: Option<Box<str>>,
    },
    SourceIp,
}

impl CompiledPolicy {
    /// Prepares `policy`.
    pub(super) fn new(policy: &HashPolicy) -> Self {
        let key = match &policy.key {
            HashKey::Header(name) => CompiledKey::Header(name.clone()),
            HashKey::Cookie(cookie) => CompiledKey::Cookie {
                name: cookie.name.as_str().into(),
                generate: cookie.ttl.map(|ttl| cookie_attributes(cookie, ttl).into()),
            },
            HashKey::SourceIp => CompiledKey::SourceIp,
        };
        Self {
            key,
            terminal: policy.terminal,
        }
    }
}

/// The attributes of a generated cookie, starting with `"; "` (or empty).
fn cookie_attributes(cookie: &HashCookie, ttl: Duration) -> String {
    let mut attributes = String::new();
    if !ttl.is_zero() {
        attributes.push_str(&format!("; Max-Age={}", ttl.as_secs().max(1)));
    }
    if let Some(path) = &cookie.path {
        attributes.push_str("; Path=");
        attributes.push_str(path);
    }
    if cookie.secure {
        attributes.push_str("; Secure");
    }
    if cookie.http_only {
        attributes.push_str("; HttpOnly");
    }
    if let Some(same_site) = cookie.same_site {
        attributes.push_str("; SameSite=");
        attributes.push_str(same_site.as_str());
    }
    attributes
}

/// What hashing a request produced.
#[derive(Debug, Default)]
pub(super) struct RequestHash {
    /// The combined key hash; `None` when no policy yielded a key.
    pub(super) hash: Option<u64>,
    /// `Set-Cookie` values for cookies generated for this request.
    pub(super) set_cookies: Vec<HeaderValue>,
}

/// Hashes `request` with `policies`, Envoy's way: each policy that yields a key folds it
/// into the result (`rotate_left(1) ^ key`); a terminal policy with a key stops there.
pub(super) fn hash_request<B>(
    policies: &[CompiledPolicy],
    request: &http::Request<B>,
) -> RequestHash {
    let mut result = RequestHash::default();
    for policy in policies {
        let key = match &policy.key {
            CompiledKey::Header(name) => {
                let mut values = request.headers().get_all(name).iter().peekable();
                values.peek().is_some().then(|| {
                    let mut hasher = KeyHasher::with_seed(0);
                    for value in values {
                        hasher.write(value.as_bytes());
                        hasher.write(&[0]);
                    }
                    hasher.finish()
                })
            }
            CompiledKey::Cookie { name, generate } => match cookie_value(request, name) {
                Some(value) => Some(hash_bytes(value)),
                None => generate.as_deref().and_then(|attributes| {
                    let value = format!("{:016x}", fastrand::u64(..));
                    let header = HeaderValue::from_str(&format!("{name}={value}{attributes}"));
                    header.ok().map(|header| {
                        result.set_cookies.push(header);
                        hash_bytes(value.as_bytes())
                    })
                }),
            },
            CompiledKey::SourceIp => client_ip(request).map(|ip| match ip {
                IpAddr::V4(v4) => hash_bytes(&v4.octets()),
                IpAddr::V6(v6) => hash_bytes(&v6.octets()),
            }),
        };
        if let Some(key) = key {
            result.hash = Some(match result.hash {
                Some(previous) => previous.rotate_left(1) ^ key,
                None => key,
            });
            if policy.terminal {
                break;
            }
        }
    }
    result
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a, B>(request: &'a http::Request<B>, name: &str) -> Option<&'a [u8]> {
    request
        .headers()
        .get_all(COOKIE)
        .iter()
        .flat_map(|header| header.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let (key, value) = pair.split_at(pair.iter().position(|&b| b == b'=')?);
            (key.trim_ascii() == name.as_bytes()).then(|| value[1..].trim_ascii())
        })
}

/// The client address: [`ClientAddr`] if the listener computed one, else the peer address.
fn client_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<ClientAddr>()
        .map(|addr| addr.0)
        .or_else(|| {
            extensions
                .get::<ConnectionInfo>()
                .map(|info| info.remote_addr.ip())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::policy::SameSite;

    fn policy(key: HashKey, terminal: bool) -> CompiledPolicy {
        CompiledPolicy::new(&HashPolicy { key, terminal })
    }

    fn request(headers: &[(&str, &str)]) -> http::Request<()> {
        let mut builder = http::Request::get("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn hash_depends_only_on_bytes_and_seed() {
        assert_eq!(hash_bytes(b"abc"), hash_bytes(b"abc"));
        assert_ne!(hash_bytes(b"abc"), hash_bytes(b"abd"));
        let mut seeded = KeyHasher::with_seed(7);
        seeded.write(b"abc");
        assert_ne!(seeded.finish(), hash_bytes(b"abc"));
    }

    #[test]
    fn header_cookie_and_source_ip_keys() {
        let header = [policy(HashKey::Header("x-user".parse().unwrap()), false)];
        let a = hash_request(&header, &request(&[("x-user", "alice")]));
        let b = hash_request(&header, &request(&[("x-user", "bob")]));
        assert!(a.hash.is_some());
        assert_ne!(a.hash, b.hash);
        assert_eq!(
            a.hash,
            hash_request(&header, &request(&[("x-user", "alice")])).hash
        );
        assert_eq!(hash_request(&header, &request(&[])).hash, None);

        let cookie = [policy(HashKey::Cookie(HashCookie::named("session")), false)];
        let with = hash_request(&cookie, &request(&[("cookie", "a=1; session=xyz ;b=2")]));
        assert_eq!(with.hash, Some(hash_bytes(b"xyz")));
        assert!(with.set_cookies.is_empty());
        assert_eq!(
            hash_request(&cookie, &request(&[("cookie", "sessions=1")])).hash,
            None
        );

        let source = [policy(HashKey::SourceIp, false)];
        let mut req = request(&[]);
        assert_eq!(hash_request(&source, &req).hash, None);
        req.extensions_mut()
            .insert(ClientAddr("192.0.2.7".parse().unwrap()));
        assert_eq!(
            hash_request(&source, &req).hash,
            Some(hash_bytes(&[192, 0, 2, 7]))
        );
    }

    #[test]
    fn keys_combine_and_terminal_stops() {
        let header = HashKey::Header("x-a".parse().unwrap());
        let other = HashKey::Header("x-b".parse().unwrap());
        let req = request(&[("x-a", "1"), ("x-b", "2")]);
        let first = hash_request(&[policy(header.clone(), false)], &req)
            .hash
            .unwrap();
        let second = hash_request(&[policy(other.clone(), false)], &req)
            .hash
            .unwrap();
        let both = hash_request(
            &[policy(header.clone(), false), policy(other.clone(), false)],
            &req,
        );
        assert_eq!(both.hash, Some(first.rotate_left(1) ^ second));
        let terminal = hash_request(&[policy(header, true), policy(other, false)], &req);
        assert_eq!(terminal.hash, Some(first));
    }

    #[test]
    fn missing_cookie_with_ttl_is_generated() {
        let cookie = HashCookie {
            ttl: Some(Duration::from_secs(3600)),
            path: Some("/".to_owned()),
            http_only: true,
            same_site: Some(SameSite::Lax),
            ..HashCookie::named("sticky")
        };
        let policies = [policy(HashKey::Cookie(cookie), false)];
        let result = hash_request(&policies, &request(&[]));
        let set_cookie = result.set_cookies[0].to_str().unwrap();
        let (pair, attributes) = set_cookie.split_once(';').unwrap();
        assert_eq!(attributes, " Max-Age=3600; Path=/; HttpOnly; SameSite=Lax");
        let value = pair.strip_prefix("sticky=").unwrap();
        // The next request, carrying the cookie, hashes the same.
        let again = hash_request(&policies, &request(&[("cookie", pair)]));
        assert_eq!(again.hash, result.hash);
        assert_eq!(result.hash, Some(hash_bytes(value.as_bytes())));
        assert!(again.set_cookies.is_empty());
    }
}
