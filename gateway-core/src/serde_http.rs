//! Serialisers for `http` and std types that have no serde support, so that the compiled
//! plan can be shown by the admin `/config_dump` endpoint.
//!
//! Use with `#[serde(serialize_with = "gateway_core::serde_http::header_name")]` and friends.

use serde::{Serializer, ser::SerializeSeq};
use std::time::Duration;

/// Serialises a `HeaderName` as its lowercase string.
pub fn header_name<S: Serializer>(name: &http::HeaderName, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name.as_str())
}

/// Serialises a list of `HeaderName`s.
pub fn header_names<S: Serializer>(names: &[http::HeaderName], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(names.len()))?;
    for name in names {
        seq.serialize_element(name.as_str())?;
    }
    seq.end()
}

/// Serialises a `HeaderValue` as a string (lossy for non-visible-ASCII bytes).
pub fn header_value<S: Serializer>(value: &http::HeaderValue, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(value.as_bytes()))
}

/// Serialises an optional `HeaderValue`.
pub fn opt_header_value<S: Serializer>(
    value: &Option<http::HeaderValue>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => header_value(value, s),
        None => s.serialize_none(),
    }
}

/// Serialises a `StatusCode` as its number.
pub fn status_code<S: Serializer>(code: &http::StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(code.as_u16())
}

/// Serialises a `Method` as its name.
pub fn method<S: Serializer>(method: &http::Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(method.as_str())
}

/// Serialises an optional `Method`.
pub fn opt_method<S: Serializer>(method: &Option<http::Method>, s: S) -> Result<S::Ok, S::Error> {
    match method {
        Some(m) => s.serialize_str(m.as_str()),
        None => s.serialize_none(),
    }
}

/// Serialises a `Duration` as `"<seconds>s"` with millisecond precision (e.g. `"1.5s"`).
pub fn duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{}s", d.as_secs_f64()))
}

/// Serialises an optional `Duration`.
pub fn opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => duration(d, s),
        None => s.serialize_none(),
    }
}

/// Serialises a compiled regex as its source pattern.
pub fn regex<S: Serializer>(re: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(re.as_str())
}

/// Serialises a secret as a fixed placeholder: private keys never reach `/config_dump`.
pub fn redacted<T, S: Serializer>(_: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("[redacted]")
}
