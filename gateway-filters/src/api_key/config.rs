//! The validated API key policy and the key table.

use http::{HeaderName, HeaderValue};
use serde::{Serialize, Serializer, ser::SerializeStruct};
use sha2::{Digest as _, Sha256};
use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasherDefault, Hash, Hasher},
    sync::Arc,
};
use subtle::ConstantTimeEq;

/// Where one key source looks for the key: its header, else its query parameter, else its
/// cookie (kgateway's precedence within a source).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeySource {
    /// A request header; a `Bearer ` prefix on its value is dropped, as Envoy does.
    pub header: Option<HeaderName>,
    /// A query parameter (percent-decoded).
    pub query: Option<Box<str>>,
    /// A cookie.
    pub cookie: Option<Box<str>>,
}

impl KeySource {
    /// The header `name`.
    pub fn header(name: HeaderName) -> Self {
        Self {
            header: Some(name),
            ..Self::default()
        }
    }
}

impl Serialize for KeySource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut source = serializer.serialize_struct("KeySource", 3)?;
        if let Some(header) = &self.header {
            source.serialize_field("header", header.as_str())?;
        }
        if let Some(query) = &self.query {
            source.serialize_field("query", query)?;
        }
        if let Some(cookie) = &self.cookie {
            source.serialize_field("cookie", cookie)?;
        }
        source.end()
    }
}

/// A keyed SHA-256 digest of an API key. Equality is constant time; hashing takes the
/// first eight bytes as they are (they are already uniformly distributed).
#[derive(Clone, Copy)]
struct Digest([u8; 32]);

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Digest {}

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

/// A hasher for [`Digest`]s: passes their first eight bytes through.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The client a key belongs to.
#[derive(Clone, Debug)]
pub(super) struct Client {
    /// The client id as a header value, for the client id header.
    pub(super) header: HeaderValue,
}

/// Why a set of keys was refused. Names clients, never keys.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeysError {
    /// The same key for two clients: which one a request is would be a guess.
    #[error("clients {0:?} and {1:?} share an API key")]
    Shared(String, String),
    /// An empty key.
    #[error("client {0:?} has an empty API key")]
    Empty(String),
    /// A client id that cannot be sent in a header.
    #[error("client id {0:?} is not a valid header value")]
    ClientId(String),
}

/// API keys and the client each belongs to.
///
/// Keys are held only as SHA-256 digests keyed with 32 random bytes drawn when the table is
/// built, in a hash map indexed by the digest. A lookup hashes the presented key in full
/// (time depending only on its length), finds the bucket by the digest's first bytes and
/// compares digests in constant time. The work does not depend on how close the presented
/// key is to a real one, and which digests are near which is unknowable without the
/// random key, so timing tells an attacker nothing about the keys. It costs one SHA-256
/// whatever the number of keys, where comparing against every key would cost time
/// proportional to their number.
#[derive(Clone)]
pub struct ApiKeys {
    salt: [u8; 32],
    keys: HashMap<Digest, Client, BuildHasherDefault<DigestHasher>>,
    /// Sorted, distinct client ids, for `/config_dump`.
    clients: Vec<Arc<str>>,
    /// SHA-256 of the (client, key) pairs, sorted: equal tables have equal fingerprints,
    /// whatever their random salts.
    fingerprint: [u8; 32],
}

impl ApiKeys {
    /// A table of `(client id, key)` pairs. A key listed twice for one client is kept
    /// once; a key shared by two clients, an empty key and a client id that cannot be a
    /// header value are refused.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, ApiKeysError> {
        let mut pairs: Vec<(&str, &[u8])> = entries.into_iter().collect();
        pairs.sort_unstable();
        pairs.dedup();
        let salt = random_salt();
        let mut keys =
            HashMap::with_capacity_and_hasher(pairs.len(), BuildHasherDefault::default());
        let mut owners: HashMap<Digest, &str, BuildHasherDefault<DigestHasher>> =
            HashMap::with_capacity_and_hasher(pairs.len(), BuildHasherDefault::default());
        let mut fingerprint = Sha256::new();
        let mut clients: Vec<Arc<str>> = Vec::new();
        for (client, key) in pairs {
            if key.is_empty() {
                return Err(ApiKeysError::Empty(client.to_owned()));
            }
            let digest = digest(&salt, key);
            if let Some(owner) = owners.insert(digest, client) {
                return Err(ApiKeysError::Shared(owner.to_owned(), client.to_owned()));
            }
            let header = HeaderValue::from_str(client)
                .map_err(|_| ApiKeysError::ClientId(client.to_owned()))?;
            if clients.last().is_none_or(|last| **last != *client) {
                clients.push(client.into());
            }
            keys.insert(digest, Client { header });
            for part in [client.as_bytes(), key] {
                fingerprint.update((part.len() as u64).to_le_bytes());
                fingerprint.update(part);
            }
        }
        Ok(Self {
            salt,
            keys,
            clients,
            fingerprint: fingerprint.finalize().into(),
        })
    }

    /// The client `key` belongs to, if any.
    pub(super) fn find(&self, key: &[u8]) -> Option<&Client> {
        self.keys.get(&digest(&self.salt, key))
    }

    /// The client id `key` belongs to, if any.
    pub fn client(&self, key: &[u8]) -> Option<&str> {
        self.find(key)
            .and_then(|client| client.header.to_str().ok())
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The client ids, sorted.
    pub fn clients(&self) -> impl Iterator<Item = &str> {
        self.clients.iter().map(|client| &**client)
    }
}

fn digest(salt: &[u8; 32], key: &[u8]) -> Digest {
    Digest(
        Sha256::new()
            .chain_update(salt)
            .chain_update(key)
            .finalize()
            .into(),
    )
}

/// 32 random bytes from a CSPRNG (`uuid`'s v4 generator, backed by `rand`'s thread RNG).
fn random_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    salt[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    salt[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    salt
}

impl PartialEq for ApiKeys {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for ApiKeys {}

impl Hash for ApiKeys {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
    }
}

impl fmt::Debug for ApiKeys {
    /// Client ids and the number of keys: never a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("keys", &self.keys.len())
            .field("clients", &self.clients)
            .finish()
    }
}

impl Serialize for ApiKeys {
    /// `{"keys": 3, "clients": ["a", "b"]}`: never a key.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut keys = serializer.serialize_struct("ApiKeys", 2)?;
        keys.serialize_field("keys", &self.keys.len())?;
        keys.serialize_field("clients", &self.clients)?;
        keys.end()
    }
}

/// An API key policy (kgateway `TrafficPolicy.spec.apiKeyAuth`); see the
/// [module docs](super).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyAuthConfig {
    /// The keys and their clients.
    pub keys: ApiKeys,
    /// Where to look for the key, in order; the first source that yields a non-empty value
    /// is used.
    pub key_sources: Vec<KeySource>,
    /// Whether the key goes upstream; when `false` (kgateway's default) every configured
    /// source is stripped from the request.
    pub forward_credential: bool,
    /// The request header that carries the client id upstream, if any.
    #[serde(serialize_with = "opt_header_name")]
    pub client_id_header: Option<HeaderName>,
}

impl ApiKeyAuthConfig {
    /// kgateway's default key source: the header `api-key`.
    pub const DEFAULT_HEADER: HeaderName = HeaderName::from_static("api-key");

    /// `keys` read from the `api-key` header, which is stripped, without a client id
    /// header: kgateway's defaults.
    pub fn new(keys: ApiKeys) -> Self {
        Self {
            keys,
            key_sources: vec![KeySource::header(Self::DEFAULT_HEADER)],
            forward_credential: false,
            client_id_header: None,
        }
    }
}

fn opt_header_name<S: Serializer>(name: &Option<HeaderName>, s: S) -> Result<S::Ok, S::Error> {
    match name {
        Some(name) => s.serialize_str(name.as_str()),
        None => s.serialize_none(),
    }
}
