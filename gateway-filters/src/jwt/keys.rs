//! Key sets: JWKS documents, single JWKs and PEM public keys, turned into the keys tokens
//! are verified with.
//!
//! Each key knows the algorithms it may verify, from its type (and its `alg`, `crv` when
//! given): RSA keys `RS*`/`PS*`, EC keys the `ES*` of their curve, `oct` keys `HS*`, Ed25519
//! keys `EdDSA`. A token is only checked against keys that allow its `alg`, and
//! `jsonwebtoken`'s `Validation::algorithms` is set to exactly that list, so an `HS256`
//! token can never be checked with an RSA public key as its HMAC secret (algorithm
//! confusion), nor an `RS256` token against an `oct` key. `alg: none` is no algorithm at all.
//!
//! Keys that cannot verify signatures are skipped when a set is read (encryption keys,
//! unknown key types and curves, broken parameters), as Envoy does. Beyond Envoy, RSA keys
//! under 2048 bits and HMAC secrets shorter than the hash (RFC 7518 §3.2, §3.3: 32, 48 and
//! 64 bytes) are refused too; a set with no usable key is an error.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse},
};
use serde::{Deserialize, Serialize, Serializer, de::IgnoredAny, ser::SerializeSeq};
use std::{
    fmt,
    hash::{Hash, Hasher},
    sync::Arc,
};

/// Smallest RSA modulus accepted (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;

/// Why a key set could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeySetError(String);

/// The keys of a JWKS (or of one JWK or PEM public key), ready to verify tokens. Cheap to
/// clone. Two sets are equal when they were read from the same text.
#[derive(Clone)]
pub struct KeySet {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Vec<VerifyingKey>,
    /// The text the set was read from (trimmed): its identity for `Eq` and `Hash`.
    source: Box<str>,
}

/// One usable key.
struct VerifyingKey {
    kid: Option<Box<str>>,
    kty: &'static str,
    /// The algorithms this key verifies, all of one family.
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
    /// `algorithms` as `jsonwebtoken` checks them; claims are checked by the layer itself.
    validation: Validation,
}

/// The outcome of checking a token's signature against a key set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// A key whose `kid` and algorithms fit verified the signature.
    Verified,
    /// No key fits the token's `kid` and `alg`.
    NoMatchingKey,
    /// Keys fit, but none verified the signature.
    BadSignature,
}

/// `{"keys": [...]}`, each key read on its own so that one bad key does not spoil the set.
#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// A set with no keys: what a remote JWKS holds before its first successful fetch.
    pub(crate) fn empty() -> Self {
        Self {
            inner: Arc::new(Inner {
                keys: Vec::new(),
                source: "".into(),
            }),
        }
    }

    /// Reads a JWKS document (`{"keys": [...]}`), as a JWKS server serves it.
    pub fn from_jwks(text: &str) -> Result<Self, KeySetError> {
        let raw: RawSet = serde_json::from_str(text)
            .map_err(|e| KeySetError(format!("not a JWKS document: {e}")))?;
        let mut keys = Vec::with_capacity(raw.keys.len());
        let mut skipped = Vec::new();
        for (index, value) in raw.keys.into_iter().enumerate() {
            let read = serde_json::from_value::<Jwk>(value)
                .map_err(|e| format!("not a JWK: {e}"))
                .and_then(VerifyingKey::from_jwk);
            match read {
                Ok(key) => keys.push(key),
                Err(reason) => skipped.push(format!("keys[{index}]: {reason}")),
            }
        }
        if !skipped.is_empty() {
            tracing::debug!(skipped = %skipped.join("; "), "JWKS keys skipped");
        }
        Self::from_keys(keys, text, &skipped)
    }

    /// Reads what kgateway's `jwks.local` accepts: a PEM public key (RSA, EC or Ed25519),
    /// a JWKS document, or a single JWK, tried in that order.
    pub fn from_local(text: &str) -> Result<Self, KeySetError> {
        let trimmed = text.trim();
        if trimmed.starts_with("-----BEGIN") {
            return Self::from_pem(trimmed);
        }
        let value: serde_json::Value = serde_json::from_str(trimmed)
            .map_err(|e| KeySetError(format!("neither a PEM public key, a JWKS nor a JWK: {e}")))?;
        if value.get("keys").is_some() {
            return Self::from_jwks(trimmed);
        }
        let key = serde_json::from_value::<Jwk>(value)
            .map_err(|e| format!("not a JWK: {e}"))
            .and_then(VerifyingKey::from_jwk)
            .map_err(KeySetError)?;
        Self::from_keys(vec![key], trimmed, &[])
    }

    /// Reads a PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`). As kgateway does, an RSA
    /// key verifies `RS256` (a PEM block names no algorithm); an EC key the `ES*` of its
    /// curve; an Ed25519 key `EdDSA`.
    pub fn from_pem(text: &str) -> Result<Self, KeySetError> {
        let pem = text.as_bytes();
        let key = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            check_rsa_size(&key).map_err(KeySetError)?;
            VerifyingKey::new(None, "RSA", vec![Algorithm::RS256], key)
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            let algorithm = match key.as_bytes().len() {
                65 => Algorithm::ES256,
                97 => Algorithm::ES384,
                _ => {
                    return Err(KeySetError(
                        "EC PEM key: only P-256 and P-384 are supported".into(),
                    ));
                }
            };
            VerifyingKey::new(None, "EC", vec![algorithm], key)
        } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            VerifyingKey::new(None, "OKP", vec![Algorithm::EdDSA], key)
        } else {
            return Err(KeySetError(
                "not an RSA, EC or Ed25519 public key in PEM form".into(),
            ));
        };
        Self::from_keys(vec![key], text, &[])
    }

    fn from_keys(
        keys: Vec<VerifyingKey>,
        source: &str,
        skipped: &[String],
    ) -> Result<Self, KeySetError> {
        if keys.is_empty() {
            return Err(KeySetError(if skipped.is_empty() {
                "the key set has no keys".into()
            } else {
                format!("no usable key ({})", skipped.join("; "))
            }));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                source: source.trim().into(),
            }),
        })
    }

    /// How many usable keys the set has.
    pub fn len(&self) -> usize {
        self.inner.keys.len()
    }

    /// Whether the set has no keys (only a remote JWKS not fetched yet).
    pub fn is_empty(&self) -> bool {
        self.inner.keys.is_empty()
    }

    /// Whether a key of the set has the key id `kid`.
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.inner
            .keys
            .iter()
            .any(|key| key.kid.as_deref() == Some(kid))
    }

    /// Checks the signature of `token` (whose header says `alg` and `kid`) with every key
    /// that fits: a key with another `kid` is skipped (keys without one fit any token, and a
    /// token without one is tried on every key), and so is a key that does not allow `alg`.
    pub(crate) fn verify(&self, token: &str, alg: Algorithm, kid: Option<&str>) -> KeyCheck {
        let mut fitting = false;
        for key in &self.inner.keys {
            if let (Some(wanted), Some(own)) = (kid, key.kid.as_deref())
                && wanted != own
            {
                continue;
            }
            if !key.algorithms.contains(&alg) {
                continue;
            }
            fitting = true;
            if jsonwebtoken::decode::<IgnoredAny>(token, &key.key, &key.validation).is_ok() {
                return KeyCheck::Verified;
            }
        }
        if fitting {
            KeyCheck::BadSignature
        } else {
            KeyCheck::NoMatchingKey
        }
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.inner.keys.iter()).finish()
    }
}

impl fmt::Debug for VerifyingKey {
    /// The key's identity, never its material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kty", &self.kty)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

impl PartialEq for KeySet {
    fn eq(&self, other: &Self) -> bool {
        self.inner.source == other.inner.source
    }
}

impl Eq for KeySet {}

impl Hash for KeySet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.source.hash(state);
    }
}

impl Serialize for KeySet {
    /// Each key as `{"kid", "kty", "algorithms"}`: what the keys are, not their material
    /// (an `oct` key is a secret).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
            kty: &'static str,
            algorithms: &'a [Algorithm],
        }
        let mut seq = serializer.serialize_seq(Some(self.inner.keys.len()))?;
        for key in &self.inner.keys {
            seq.serialize_element(&Shown {
                kid: key.kid.as_deref(),
                kty: key.kty,
                algorithms: &key.algorithms,
            })?;
        }
        seq.end()
    }
}

// === impl VerifyingKey ===

impl VerifyingKey {
    fn new(
        kid: Option<Box<str>>,
        kty: &'static str,
        algorithms: Vec<Algorithm>,
        key: DecodingKey,
    ) -> Self {
        let mut validation = Validation::default();
        validation.algorithms.clone_from(&algorithms);
        // The layer checks `exp`, `nbf`, `iss` and `aud` itself (Envoy's order, its clock
        // skew, its audience matching); `jsonwebtoken` only checks the signature.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        Self {
            kid,
            kty,
            algorithms,
            key,
            validation,
        }
    }

    /// A JWK as a verification key, or why it cannot be one.
    fn from_jwk(jwk: Jwk) -> Result<Self, String> {
        let kid = jwk.common.key_id.as_deref().map(Box::from);
        let named = |reason: String| match &kid {
            Some(kid) => format!("kid {kid:?}: {reason}"),
            None => reason,
        };
        if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
            return Err(named("an encryption key (use: enc)".into()));
        }
        if let Some(operations) = &jwk.common.key_operations
            && !operations.contains(&KeyOperations::Verify)
        {
            return Err(named("key_ops does not include verify".into()));
        }
        let declared = jwk.common.key_algorithm;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| named(format!("unreadable: {e}")))?;
        let (kty, algorithms) = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => {
                check_rsa_size(&key).map_err(named)?;
                (
                    "RSA",
                    of_family(AlgorithmFamily::Rsa, declared).map_err(named)?,
                )
            }
            AlgorithmParameters::EllipticCurve(params) => {
                let (algorithm, point_len) = match params.curve {
                    EllipticCurve::P256 => (Algorithm::ES256, 65),
                    EllipticCurve::P384 => (Algorithm::ES384, 97),
                    ref other => return Err(named(format!("curve {other:?} is not supported"))),
                };
                if key.as_bytes().len() != point_len {
                    return Err(named("x or y has the wrong length for the curve".into()));
                }
                ("EC", only(algorithm, declared).map_err(named)?)
            }
            AlgorithmParameters::OctetKey(_) => {
                let secret_len = key.as_bytes().len();
                let algorithms: Vec<Algorithm> = of_family(AlgorithmFamily::Hmac, declared)
                    .map_err(named)?
                    .into_iter()
                    .filter(|algorithm| secret_len >= hmac_min_len(*algorithm))
                    .collect();
                if algorithms.is_empty() {
                    return Err(named(format!(
                        "an HMAC secret of {secret_len} bytes is shorter than its hash \
                         (RFC 7518: at least 32 bytes for HS256)"
                    )));
                }
                ("oct", algorithms)
            }
            AlgorithmParameters::OctetKeyPair(params) => {
                if params.curve != EllipticCurve::Ed25519 {
                    return Err(named(format!(
                        "curve {:?} is not supported for OKP keys",
                        params.curve
                    )));
                }
                ("OKP", only(Algorithm::EdDSA, declared).map_err(named)?)
            }
        };
        Ok(Self::new(kid, kty, algorithms, key))
    }
}

/// The algorithms of `family` a key verifies: the declared one (which must be of the
/// family), or all of them.
fn of_family(
    family: AlgorithmFamily,
    declared: Option<KeyAlgorithm>,
) -> Result<Vec<Algorithm>, String> {
    match declared.map(declared_algorithm).transpose()? {
        Some(algorithm) if algorithm.family() == family => Ok(vec![algorithm]),
        Some(algorithm) => Err(format!(
            "alg {algorithm:?} does not fit a key of family {family:?}"
        )),
        None => Ok(family.algorithms().to_vec()),
    }
}

/// `[algorithm]`, if the declared `alg` (when there is one) is that algorithm.
fn only(algorithm: Algorithm, declared: Option<KeyAlgorithm>) -> Result<Vec<Algorithm>, String> {
    match declared.map(declared_algorithm).transpose()? {
        Some(other) if other != algorithm => Err(format!(
            "alg {other:?} does not fit this key ({algorithm:?})"
        )),
        _ => Ok(vec![algorithm]),
    }
}

/// A JWK's `alg` as a signature algorithm.
fn declared_algorithm(declared: KeyAlgorithm) -> Result<Algorithm, String> {
    Ok(match declared {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        other => return Err(format!("alg {other} is not a signature algorithm")),
    })
}

/// The shortest HMAC secret RFC 7518 §3.2 allows for `algorithm`: the size of its hash.
fn hmac_min_len(algorithm: Algorithm) -> usize {
    match algorithm {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// Refuses RSA keys under [`MIN_RSA_BITS`].
fn check_rsa_size(key: &DecodingKey) -> Result<(), String> {
    let modulus = match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, .. } => Some(n.as_slice()),
        DecodingKeyKind::SecretOrDer(der) => pkcs1_modulus(der),
    };
    let bits = modulus.map(bit_length).unwrap_or(0);
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "an RSA key of {bits} bits is too small (at least {MIN_RSA_BITS})"
        ));
    }
    Ok(())
}

/// The modulus of a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`).
fn pkcs1_modulus(der: &[u8]) -> Option<&[u8]> {
    let (tag, sequence) = der_item(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, modulus) = der_item(sequence)?;
    (tag == 0x02).then_some(modulus)
}

/// The tag and contents of the DER item at the start of `input`.
fn der_item(input: &[u8]) -> Option<(u8, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (digits, rest) = rest.split_at(count);
        let len = digits
            .iter()
            .fold(0usize, |len, digit| (len << 8) | usize::from(*digit));
        (len, rest)
    };
    rest.get(..len).map(|contents| (tag, contents))
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let Some(start) = bytes.iter().position(|byte| *byte != 0) else {
        return 0;
    };
    (bytes.len() - start) * 8 - bytes[start].leading_zeros() as usize
}

/// Decodes a base64url segment of a token (no padding, as JWS writes it).
pub(crate) fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}
