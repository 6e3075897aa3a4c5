//! The parts of a token the layer reads itself: the JOSE header (`alg`, `kid`), the
//! registered claims it checks (`iss`, `aud`, `exp`, `nbf`), and the claims it copies into
//! request headers.

use http::HeaderValue;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::{borrow::Cow, str::FromStr};

use super::{keys::decode_segment, verify::Status};

/// A token split into its three base64url segments.
pub(crate) struct Segments<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
}

impl<'a> Segments<'a> {
    /// `header.payload.signature`, with exactly two dots and no empty part.
    pub(crate) fn split(token: &'a str) -> Result<Self, Status> {
        let mut parts = token.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(header), Some(payload), Some(signature), None)
                if !header.is_empty() && !payload.is_empty() && !signature.is_empty() =>
            {
                Ok(Self { header, payload })
            }
            _ => Err(Status::BadFormat),
        }
    }
}

/// The JOSE header fields the layer uses.
#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(default, borrow)]
    alg: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    kid: Option<Cow<'a, str>>,
}

/// The token's algorithm and key id.
#[derive(Debug)]
pub(crate) struct TokenHeader {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Box<str>>,
}

impl TokenHeader {
    /// Reads the header segment. `alg` must name a signature algorithm: `none` (and any
    /// other name) is refused here, before any key is looked at.
    pub(crate) fn parse(segment: &str) -> Result<Self, Status> {
        let bytes = decode_segment(segment).ok_or(Status::HeaderParseError)?;
        if !is_object(&bytes) {
            return Err(Status::HeaderParseError);
        }
        let raw: RawHeader<'_> =
            serde_json::from_slice(&bytes).map_err(|_| Status::HeaderParseError)?;
        let alg = raw.alg.ok_or(Status::HeaderBadAlg)?;
        let alg = Algorithm::from_str(&alg).map_err(|_| Status::HeaderNotImplementedAlg)?;
        Ok(Self {
            alg,
            kid: raw.kid.map(|kid| kid.into()),
        })
    }
}

/// The registered claims the layer checks, borrowed from the decoded payload where the
/// JSON allows.
#[derive(Deserialize)]
pub(crate) struct Registered<'a> {
    #[serde(default, borrow)]
    iss: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    aud: Option<Audiences<'a>>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<u64>,
}

/// `aud`: one string or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audiences<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
}

/// A NumericDate: seconds since the epoch, a non-negative number (a fraction is dropped).
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.is_finite() && value >= 0.0 {
        Ok(Some(value as u64))
    } else {
        Err(serde::de::Error::custom("not a NumericDate"))
    }
}

impl<'a> Registered<'a> {
    /// Reads the registered claims from the decoded payload.
    pub(crate) fn parse(payload: &'a [u8]) -> Result<Self, Status> {
        if !is_object(payload) {
            return Err(Status::PayloadParseError);
        }
        serde_json::from_slice(payload).map_err(|_| Status::PayloadParseError)
    }

    /// The `iss` claim, if it is there.
    pub(crate) fn issuer(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// Envoy's time checks, with `skew` seconds of leeway either way: not before `nbf`,
    /// not after `exp`. Claims that are absent are not checked.
    pub(crate) fn check_time(&self, now: u64, skew: u64) -> Result<(), Status> {
        if let Some(nbf) = self.nbf
            && now.saturating_add(skew) < nbf
        {
            return Err(Status::NotYetValid);
        }
        if let Some(exp) = self.exp
            && now > exp.saturating_add(skew)
        {
            return Err(Status::Expired);
        }
        Ok(())
    }

    /// Whether one of the token's audiences is one of `allowed` (already passed through
    /// [`normalize_audience`]). With none allowed, any token passes; with some, a token
    /// without `aud` does not.
    pub(crate) fn audience_allowed(&self, allowed: &[Box<str>]) -> bool {
        if allowed.is_empty() {
            return true;
        }
        let fits = |aud: &str| {
            let aud = normalize_audience(aud);
            allowed.iter().any(|allowed| **allowed == *aud)
        };
        match &self.aud {
            None => false,
            Some(Audiences::One(aud)) => fits(aud),
            Some(Audiences::Many(auds)) => auds.iter().any(|aud| fits(aud)),
        }
    }
}

/// An audience as Envoy compares it: without an `http://` or `https://` scheme and without
/// a trailing `/`, so that `https://api.example.com/` and `api.example.com` are the same.
pub(crate) fn normalize_audience(aud: &str) -> &str {
    let aud = aud
        .strip_prefix("https://")
        .or_else(|| aud.strip_prefix("http://"))
        .unwrap_or(aud);
    aud.strip_suffix('/').unwrap_or(aud)
}

/// Whether `json` is an object (serde would also read a struct from an array).
fn is_object(json: &[u8]) -> bool {
    json.trim_ascii_start().first() == Some(&b'{')
}

/// The claims of a verified token, for copying into headers.
pub(crate) struct Claims(Map<String, Value>);

impl Claims {
    /// Reads the whole payload of a token that verified.
    pub(crate) fn parse(payload: &[u8]) -> Option<Self> {
        serde_json::from_slice(payload).ok().map(Self)
    }

    /// The claim `name`: a top-level claim of that name, or else the value at that
    /// dot-separated path through nested objects.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        if let Some(value) = self.0.get(name) {
            return Some(value);
        }
        let mut path = name.split('.');
        let first = self.0.get(path.next()?)?;
        path.try_fold(first, |value, step| value.as_object()?.get(step))
    }
}

/// A claim as a header value: strings as they are, numbers and booleans as their JSON
/// text, arrays and objects as compact JSON. `null`, and text that cannot be a header
/// value (control characters), give nothing.
pub(crate) fn header_value(value: &Value) -> Option<HeaderValue> {
    match value {
        Value::Null => None,
        Value::Bool(true) => Some(HeaderValue::from_static("true")),
        Value::Bool(false) => Some(HeaderValue::from_static("false")),
        Value::String(text) => HeaderValue::from_str(text).ok(),
        Value::Number(number) => HeaderValue::try_from(number.to_string()).ok(),
        Value::Array(_) | Value::Object(_) => HeaderValue::try_from(value.to_string()).ok(),
    }
}
