//! What the policy modules share for reading kgateway policy fields.
//!
//! Each policy module has a `spec` part: serde types that a field of a kgateway policy
//! resource (`TrafficPolicy.spec.rateLimit`, `ListenerPolicy.spec.default.httpSettings`,
//! ...) deserializes into, with kgateway's field names. A spec turns into the module's
//! validated `Config` through a `compile` method that returns a [`FieldError`] naming the
//! field, relative to the spec it was called on; the policy compiler prefixes the path of
//! the spec within the resource. Durations are Kubernetes `metav1.Duration` strings, read
//! with [`GoDuration`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, time::Duration};

/// A policy field that cannot be served, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Path of the field, relative to the spec that reported it (`local.tokenBucket.maxTokens`).
    pub field: String,
    /// Why the value cannot be served.
    pub reason: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error seen from the spec one level up: `parent.field`.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// A Kubernetes `metav1.Duration` (Go's `time.ParseDuration` syntax: `1m`, `1.5s`,
/// `1h30m`, `250ms`, `10us`), as kgateway's policy fields take them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// Parses Go's duration syntax; negative durations are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_go_duration(text).map(Self).ok_or_else(|| {
            format!("{text:?} is not a duration (e.g. 1h30m, 1m, 1.5s, 250ms, 10us)")
        })
    }
}

impl From<GoDuration> for Duration {
    fn from(value: GoDuration) -> Self {
        value.0
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Go's `time.ParseDuration`, without a sign: one or more `<decimal><unit>` parts.
fn parse_go_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return None;
        }
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let nanos_per_unit: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        let value: f64 = number.parse().ok()?;
        let nanos = value * nanos_per_unit;
        if !nanos.is_finite() || nanos > u64::MAX as f64 {
            return None;
        }
        total = total.checked_add(Duration::from_nanos(nanos.round() as u64))?;
        rest = tail;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_kubernetes_writes_them() {
        let parse = |text| GoDuration::parse(text).map(|d| d.0);
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bad in ["", "1", "1x", "-1s", "s", "1.s5", "."] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn go_durations_deserialize_with_a_reason() {
        let ok: GoDuration = serde_json::from_str("\"2s\"").unwrap();
        assert_eq!(ok.0, Duration::from_secs(2));
        let err = serde_json::from_str::<GoDuration>("\"soon\"").unwrap_err();
        assert!(err.to_string().contains("\"soon\" is not a duration"), "{err}");
    }

    #[test]
    fn field_errors_nest_their_paths() {
        let error = FieldError::new("maxTokens", "must be at least 1")
            .within("tokenBucket")
            .within("local");
        assert_eq!(error.field, "local.tokenBucket.maxTokens");
        assert_eq!(
            FieldError::new("[2].name", "empty").within("set").field,
            "set[2].name"
        );
        assert_eq!(
            error.to_string(),
            "local.tokenBucket.maxTokens: must be at least 1"
        );
    }
}
