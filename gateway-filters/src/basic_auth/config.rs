//! The validated basic auth policy: users and password hashes read from htpasswd text.

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderName, HeaderValue};
use serde::{Serialize, Serializer, ser::SerializeMap};
use sha1::{Digest, Sha1};
use std::{collections::HashMap, fmt, str::FromStr};
use subtle::ConstantTimeEq;

use super::apr1;

/// Highest bcrypt cost accepted: what `htpasswd -C` allows. A higher cost would let one
/// request hold a core for seconds.
pub const MAX_BCRYPT_COST: u32 = 17;

/// Lowest bcrypt cost: bcrypt's own minimum.
const MIN_BCRYPT_COST: u32 = 4;

/// A password hash as Apache's `htpasswd` writes it.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum PasswordHash {
    /// `{SHA}` + base64 of the password's SHA-1 (`htpasswd -s`; the only scheme kgateway's
    /// Envoy filter takes).
    Sha1([u8; 20]),
    /// `$apr1$<salt>$<hash>`: Apache's MD5-crypt (`htpasswd -m`, its default).
    Apr1 {
        salt: Box<[u8]>,
        encoded: [u8; apr1::ENCODED_LEN],
    },
    /// `$2y$`, `$2b$` or `$2a$`: bcrypt (`htpasswd -B`), kept as written.
    Bcrypt(Box<str>),
}

impl PasswordHash {
    /// Reads the hash field of an htpasswd line.
    fn parse(text: &str) -> Result<Self, &'static str> {
        if let Some(digest) = text.strip_prefix("{SHA}") {
            let mut sha = [0u8; 20];
            return match STANDARD.decode_slice(digest, &mut sha) {
                Ok(20) if digest.len() == 28 => Ok(Self::Sha1(sha)),
                _ => Err("a {SHA} hash must be the base64 of 20 bytes"),
            };
        }
        if let Some(rest) = text.strip_prefix(apr1::MAGIC) {
            let (salt, encoded) = rest
                .split_once('$')
                .ok_or("an $apr1$ hash must be $apr1$<salt>$<hash>")?;
            if salt.is_empty() || salt.len() > apr1::MAX_SALT {
                return Err("an $apr1$ salt must be 1 to 8 characters");
            }
            let encoded: [u8; apr1::ENCODED_LEN] = encoded
                .as_bytes()
                .try_into()
                .ok()
                .filter(|encoded: &[u8; apr1::ENCODED_LEN]| apr1::is_crypt64(encoded))
                .ok_or("an $apr1$ hash must end with 22 crypt base-64 characters")?;
            return Ok(Self::Apr1 {
                salt: salt.as_bytes().into(),
                encoded,
            });
        }
        if ["$2y$", "$2b$", "$2a$"]
            .iter()
            .any(|prefix| text.starts_with(prefix))
        {
            let parts =
                bcrypt::HashParts::from_str(text).map_err(|_| "not a well-formed bcrypt hash")?;
            if !(MIN_BCRYPT_COST..=MAX_BCRYPT_COST).contains(&parts.get_cost()) {
                return Err("bcrypt cost must be 4 to 17 (what htpasswd -C writes)");
            }
            return Ok(Self::Bcrypt(text.into()));
        }
        Err(
            "unsupported hash: only {SHA}, $apr1$ and bcrypt ($2y$, $2b$, $2a$) are \
             verified; plain text and crypt() are refused",
        )
    }

    /// The scheme's name, for `/config_dump` and errors.
    pub(super) fn scheme(&self) -> &'static str {
        match self {
            Self::Sha1(_) => "sha1",
            Self::Apr1 { .. } => "apr1",
            Self::Bcrypt(_) => "bcrypt",
        }
    }

    /// Whether verifying is slow enough to go to the blocking pool (bcrypt only).
    pub(super) fn is_slow(&self) -> bool {
        matches!(self, Self::Bcrypt(_))
    }

    /// Whether a success is worth caching (every scheme slower than one SHA-256).
    pub(super) fn is_cached(&self) -> bool {
        !matches!(self, Self::Sha1(_))
    }

    /// Whether `password` matches, compared in constant time. Slow for bcrypt: call it
    /// from the blocking pool.
    pub(super) fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Sha1(expected) => {
                let actual: [u8; 20] = Sha1::digest(password).into();
                actual.ct_eq(expected).into()
            }
            Self::Apr1 { salt, encoded } => apr1::encode(password, salt).ct_eq(encoded).into(),
            // The crate compares in constant time; a malformed hash was refused when parsed.
            Self::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
        }
    }
}

/// One user of the table.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct User {
    /// Position in the table: the user's part of a success-cache entry.
    pub(super) index: u32,
    /// The user name as a header value, for the forwarded-user header.
    pub(super) name: HeaderValue,
    pub(super) hash: PasswordHash,
}

/// Why htpasswd text was refused. Names a line and, when it has one, the user: never the
/// hash or any other part of the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtpasswdError {
    /// The line, counted from 1 (entries of a list count as lines).
    pub line: usize,
    /// The user of that line, when the line has one.
    pub user: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for HtpasswdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(user) = &self.user {
            write!(f, " (user {user:?})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for HtpasswdError {}

/// Users and password hashes, read from htpasswd text (`user:hash` lines).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Htpasswd {
    users: HashMap<Box<[u8]>, User>,
}

impl Htpasswd {
    /// Reads htpasswd text: one `user:hash` per line; blank lines and lines starting with
    /// `#` are skipped, surrounding white space is trimmed, and anything after a second
    /// `:` is ignored (Apache's extra fields). A user listed twice with the same hash is
    /// kept once; with different hashes it is refused, as kgateway refuses it.
    pub fn parse(text: &str) -> Result<Self, HtpasswdError> {
        Self::from_lines(text.split('\n'))
    }

    /// Reads htpasswd lines (`users` entries of a policy): as [`Htpasswd::parse`], one
    /// line per item.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Self, HtpasswdError> {
        let mut users: HashMap<Box<[u8]>, User> = HashMap::new();
        for (number, line) in lines.into_iter().enumerate() {
            let line_number = number + 1;
            let error = |user: Option<&str>, reason: &str| HtpasswdError {
                line: line_number,
                user: user.map(str::to_owned),
                reason: reason.to_owned(),
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, rest)) = line.split_once(':') else {
                return Err(error(None, "no ':' between user and hash"));
            };
            if user.is_empty() {
                return Err(error(None, "empty user name"));
            }
            let hash_text = rest.split(':').next().unwrap_or(rest);
            let hash =
                PasswordHash::parse(hash_text).map_err(|reason| error(Some(user), reason))?;
            let name = HeaderValue::from_str(user)
                .map_err(|_| error(Some(user), "the user name is not a valid header value"))?;
            if let Some(existing) = users.get(user.as_bytes()) {
                if existing.hash != hash {
                    return Err(error(Some(user), "listed twice with different hashes"));
                }
                continue;
            }
            let index =
                u32::try_from(users.len()).map_err(|_| error(Some(user), "too many users"))?;
            users.insert(user.as_bytes().into(), User { index, name, hash });
        }
        Ok(Self { users })
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user names, sorted.
    pub fn users(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .users
            .values()
            .filter_map(|user| user.name.to_str().ok())
            .collect();
        names.sort_unstable();
        names
    }

    /// Whether `user` has `password`. Blocking: a bcrypt hash takes milliseconds to
    /// hundreds of milliseconds (the layer moves those to the blocking pool).
    pub fn verify(&self, user: &[u8], password: &[u8]) -> bool {
        self.users
            .get(user)
            .is_some_and(|entry| entry.hash.verify(password))
    }

    pub(super) fn get(&self, user: &[u8]) -> Option<&User> {
        self.users.get(user)
    }
}

impl fmt::Debug for Htpasswd {
    /// User names and schemes only: hashes stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.schemes()).finish()
    }
}

impl Serialize for Htpasswd {
    /// `{"alice": "bcrypt", "bob": "sha1"}`: user names and schemes, never hashes.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let schemes = self.schemes();
        let mut map = serializer.serialize_map(Some(schemes.len()))?;
        for (user, scheme) in schemes {
            map.serialize_entry(&user, scheme)?;
        }
        map.end()
    }
}

impl Htpasswd {
    fn schemes(&self) -> Vec<(String, &'static str)> {
        let mut schemes: Vec<_> = self
            .users
            .iter()
            .map(|(user, entry)| {
                (
                    String::from_utf8_lossy(user).into_owned(),
                    entry.hash.scheme(),
                )
            })
            .collect();
        schemes.sort_unstable();
        schemes
    }
}

/// The `realm` of the `WWW-Authenticate: Basic realm="..."` challenge of a `401`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Realm {
    /// The request's URL, `scheme://host/path` with the path cut at 256 bytes, as Envoy's
    /// basic auth filter (and so kgateway) answers. Built on denials only.
    #[default]
    RequestUri,
    /// A fixed realm, shown by browsers in their login prompt.
    Fixed(HeaderValue),
}

impl Realm {
    /// A fixed realm: `Basic realm="<realm>"`, or `None` when `realm` holds `"`, `\` or a
    /// character that cannot be in a header.
    pub fn fixed(realm: &str) -> Option<Self> {
        if realm.contains(['"', '\\']) {
            return None;
        }
        HeaderValue::from_str(&format!("Basic realm=\"{realm}\""))
            .ok()
            .map(Self::Fixed)
    }
}

impl Serialize for Realm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::RequestUri => serializer.serialize_str("requestUri"),
            Self::Fixed(value) => gateway_core::serde_http::header_value(value, serializer),
        }
    }
}

/// A basic auth policy (kgateway `TrafficPolicy.spec.basicAuth`); see the
/// [module docs](super).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthConfig {
    /// The users and their password hashes.
    pub users: Htpasswd,
    /// The request header that carries the authenticated user name upstream; kgateway
    /// documents `x-envoy-basic-auth-user`. Whatever the client sent in it is replaced.
    #[serde(serialize_with = "opt_header_name")]
    pub forward_username_header: Option<HeaderName>,
    /// The realm of the challenge.
    pub realm: Realm,
}

impl BasicAuthConfig {
    /// The header kgateway documents for the authenticated user name.
    pub const FORWARD_USERNAME_HEADER: HeaderName =
        HeaderName::from_static("x-envoy-basic-auth-user");

    /// `users`, forwarding the user name in `x-envoy-basic-auth-user`, challenging with
    /// Envoy's request-URL realm: what kgateway configures.
    pub fn new(users: Htpasswd) -> Self {
        Self {
            users,
            forward_username_header: Some(Self::FORWARD_USERNAME_HEADER),
            realm: Realm::RequestUri,
        }
    }
}

fn opt_header_name<S: Serializer>(name: &Option<HeaderName>, s: S) -> Result<S::Ok, S::Error> {
    match name {
        Some(name) => s.serialize_str(name.as_str()),
        None => s.serialize_none(),
    }
}
