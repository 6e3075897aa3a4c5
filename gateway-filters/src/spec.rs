//! What the policy modules share for reading kgateway policy fields.
//!
//! Each policy module has a `spec` part: serde types that a field of a kgateway policy
//! resource (`TrafficPolicy.spec.rateLimit`, `ListenerPolicy.spec.default.httpSettings`,
//! ...) deserializes into, with kgateway's field names. A spec turns into the module's
//! validated `Config` through a `compile` method that returns a [`FieldError`] naming the
//! field, relative to the spec it was called on; the policy compiler prefixes the path of
//! the spec within the resource. Durations are Kubernetes `metav1.Duration` strings, read
//! with [`GoDuration`]; byte sizes are Kubernetes `resource.Quantity` values, read with
//! [`ByteQuantity`]; percentages (kgateway's `int32` fields from 0 to 100) are [`Percent`].
//! The `backendRef` that names an external server (an extension's, a tracing collector, a
//! remote JWKS) is a [`BackendRefSpec`] everywhere, the `extensionRef` by which a policy
//! names a `GatewayExtension` a [`NamespacedObjectReferenceSpec`], and the `grpcService` of
//! the ext-authz and rate limit extensions one [`ExtGrpcServiceSpec`].

use http::uri::Authority;
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

    /// The duration, if it is at least one millisecond, as kgateway's CRDs require of
    /// timeouts and intervals; else an error naming `field`.
    pub fn at_least_1ms(self, field: &str) -> Result<Duration, FieldError> {
        if self.0 < Duration::from_millis(1) {
            return Err(FieldError::new(
                field,
                format!("{self}: must be at least 1ms"),
            ));
        }
        Ok(self.0)
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

/// A Kubernetes `resource.Quantity` used as a size in bytes, as kgateway's
/// `buffer.maxRequestSize` takes it: a plain number (`512`, `1.5`), a binary suffix
/// (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`: powers of 1024), a decimal suffix (`k`, `M`, `G`,
/// `T`, `P`, `E`: powers of 1000; `m`, `u`, `n` for fractions) or an exponent (`1e3`,
/// `2E6`). In YAML it may also be written as an integer. A fraction of a byte rounds up, as
/// `Quantity.Value()` does (`1.5k` is 1500 bytes, `100m` is 1 byte); negative sizes and
/// sizes beyond `u64` are refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ByteQuantity(pub u64);

impl ByteQuantity {
    /// Parses a quantity as Kubernetes writes it (`1Mi`, `10k`, `512`, `1.5Gi`, `1e6`).
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_byte_quantity(text).map(Self).map_err(|reason| {
            format!("{text:?} is not a size in bytes (e.g. 512, 10k, 1Mi, 1Gi): {reason}")
        })
    }
}

impl From<ByteQuantity> for u64 {
    fn from(value: ByteQuantity) -> Self {
        value.0
    }
}

impl fmt::Display for ByteQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteQuantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ByteQuantityVisitor)
    }
}

/// Reads a quantity from a string or a (non-negative, integral) number.
struct ByteQuantityVisitor;

impl serde::de::Visitor<'_> for ByteQuantityVisitor {
    type Value = ByteQuantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size in bytes: an integer or a quantity string such as 1Mi")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        ByteQuantity::parse(text).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(ByteQuantity(value))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
        u64::try_from(value)
            .map(ByteQuantity)
            .map_err(|_| E::custom(format!("{value} is negative: a size must not be")))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Self::Value, E> {
        // Quantity.Value() rounds a fraction of a byte up.
        if value.is_finite() && value >= 0.0 && value.ceil() <= u64::MAX as f64 {
            Ok(ByteQuantity(value.ceil() as u64))
        } else {
            Err(E::custom(format!("{value} is not a size in bytes")))
        }
    }
}

/// `<sign><digits>[.<digits>]<suffix>` → bytes, rounded up.
fn parse_byte_quantity(text: &str) -> Result<u64, &'static str> {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if unsigned.starts_with('-') {
        return Err("a size must not be negative");
    }
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err("no number");
    }
    if fraction.contains('.') {
        return Err("more than one decimal point");
    }
    let (binary_exponent, decimal_exponent): (u32, i64) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        exponent => {
            let digits = exponent
                .strip_prefix(['e', 'E'])
                .ok_or("unknown suffix (binary: Ki Mi Gi Ti Pi Ei; decimal: n u m k M G T P E)")?;
            let value: i64 = digits.parse().map_err(|_| "invalid exponent")?;
            (0, value)
        }
    };
    // The digits without the point, scaled by the suffix; the point moves the exponent.
    let mut mantissa: u128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(digit - b'0')))
            .ok_or("too large")?;
    }
    let fraction_digits = i64::try_from(fraction.len()).map_err(|_| "too many digits")?;
    let exponent = decimal_exponent
        .checked_sub(fraction_digits)
        .ok_or("exponent out of range")?;
    let scaled = mantissa
        .checked_mul(1u128 << binary_exponent)
        .ok_or("too large")?;
    let bytes = if exponent >= 0 {
        let factor = u32::try_from(exponent)
            .ok()
            .and_then(|e| 10u128.checked_pow(e))
            .ok_or("too large")?;
        if scaled == 0 {
            0
        } else {
            scaled.checked_mul(factor).ok_or("too large")?
        }
    } else {
        match u32::try_from(exponent.unsigned_abs())
            .ok()
            .and_then(|e| 10u128.checked_pow(e))
        {
            Some(divisor) => scaled.div_ceil(divisor),
            // Smaller than any number we could hold: a fraction of a byte, or nothing.
            None => u128::from(scaled != 0),
        }
    };
    u64::try_from(bytes).map_err(|_| "too large")
}

/// A kgateway percentage field (`int32`, 0 to 100): the share of requests a part of a
/// policy applies to. [`Percent::sample`] draws whether the current request is in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Percent(u8);

impl Percent {
    /// No request.
    pub const ZERO: Self = Self(0);
    /// Every request.
    pub const HUNDRED: Self = Self(100);

    /// The percentage `value`, if it is between 0 and 100.
    pub fn new(value: i64) -> Option<Self> {
        u8::try_from(value)
            .ok()
            .filter(|value| *value <= 100)
            .map(Self)
    }

    /// The percentage, 0 to 100.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Whether this request is in the share: never at 0 %, always at 100 % (no random
    /// number is drawn for either), otherwise drawn with `fastrand`.
    pub fn sample(self) -> bool {
        match self.0 {
            0 => false,
            100.. => true,
            share => fastrand::u8(0..100) < share,
        }
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        Self::new(value).ok_or_else(|| {
            serde::de::Error::custom(format!("{value} is not a percentage (0 to 100)"))
        })
    }
}

/// Gateway API `BackendObjectReference`: the Kubernetes Service (or kgateway `Backend`)
/// an extension's server, a tracing collector or a remote JWKS is reached at. kgateway
/// names it `backendRef` in `ExtGrpcService` and `ExtHttpService` (ext-authz, ext-proc,
/// rate limit), `CommonGrpcService` (tracing) and `RemoteJWKS` (JWT). The first three
/// take a Gateway API `BackendRef`, whose `weight` means nothing for the one server named
/// there: it is left out, so the policy compiler reports it. The policy compiler resolves
/// the reference into endpoints; the layers take the resolved addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendRefSpec {
    /// API group of the referent; core (`""`, a Service) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind of the referent; `Service` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; the referring object's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Port of the referent; required for a Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl BackendRefSpec {
    /// The group, defaulted to core (`""`).
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or("")
    }

    /// The kind, defaulted to `Service`.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Service")
    }

    /// `reference`, which the spec requires, if it is present and names its referent;
    /// errors name `backendRef` (`backendRef.name`).
    pub fn required(reference: Option<&Self>) -> Result<&Self, FieldError> {
        match reference {
            None => Err(FieldError::new("backendRef", "required")),
            Some(reference) if reference.name.is_empty() => {
                Err(FieldError::new("backendRef.name", "must not be empty"))
            }
            Some(reference) => Ok(reference),
        }
    }
}

/// kgateway `shared.NamespacedObjectReference`: an object by name, in the referring
/// object's namespace unless `namespace` says otherwise. It is the `extensionRef` by which
/// a TrafficPolicy names the `GatewayExtension` providing its ext-authz (`extAuth`),
/// ext-proc (`extProc`), rate limit service (`rateLimit.global`) or JWT providers
/// (`jwtAuth`); the policy compiler resolves it (checking ReferenceGrants for another
/// namespace). One type for all of them, so every policy reads the field alike.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectReferenceSpec {
    /// Name of the referent; required.
    pub name: String,
    /// Namespace of the referent; the referring object's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl NamespacedObjectReferenceSpec {
    /// Checks that the reference names its referent, as kgateway's CRD does (an object
    /// name is at least one character); the error names `name`, relative to the
    /// reference (the caller nests it: `extensionRef.name`).
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        Ok(())
    }

    /// The referent's namespace: `namespace`, or `referrer_namespace` (the namespace of
    /// the object holding the reference) when absent.
    pub fn namespace_or<'a>(&'a self, referrer_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(referrer_namespace)
    }
}

/// kgateway `ExtGrpcService`, the gRPC server of an ext-authz (`extAuth.grpcService`) or
/// rate limit (`rateLimit.grpcService`) `GatewayExtension`. Its `retry` is not
/// implemented (a call is not retried), so it is absent and reported. Ext-proc, which
/// does not read `requestTimeout`, has
/// [`ExtProcGrpcServiceSpec`](crate::ext_proc::ExtProcGrpcServiceSpec).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtGrpcServiceSpec {
    /// The server's Service (or kgateway Backend), resolved by the policy compiler;
    /// required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<BackendRefSpec>,
    /// The `:authority` of the calls; the endpoint's address when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// How long one call may take (at least 1ms); each policy has its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<GoDuration>,
}

/// A validated [`ExtGrpcServiceSpec`]: what the layer needs besides the endpoints the
/// policy compiler resolves `backendRef` into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtGrpcService {
    /// The `:authority` of the calls, when set.
    pub authority: Option<Authority>,
    /// `requestTimeout`, when set.
    pub request_timeout: Option<Duration>,
}

impl ExtGrpcServiceSpec {
    /// Validates the service as kgateway's CRD does: `backendRef` present and named,
    /// `authority` a `host[:port]`, `requestTimeout` at least 1ms. Errors name the field
    /// relative to `grpcService`.
    pub fn compile(&self) -> Result<ExtGrpcService, FieldError> {
        BackendRefSpec::required(self.backend_ref.as_ref())?;
        Ok(ExtGrpcService {
            authority: grpc_authority(self.authority.as_deref())?,
            request_timeout: self
                .request_timeout
                .map(|timeout| timeout.at_least_1ms("requestTimeout"))
                .transpose()?,
        })
    }
}

/// A gRPC service's `authority` field, parsed; the error names `authority`.
pub(crate) fn grpc_authority(text: Option<&str>) -> Result<Option<Authority>, FieldError> {
    text.map(|text| {
        text.parse::<Authority>()
            .map_err(|_| FieldError::new("authority", format!("{text:?} is not a host[:port]")))
    })
    .transpose()
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
        assert!(
            err.to_string().contains("\"soon\" is not a duration"),
            "{err}"
        );
    }

    #[test]
    fn durations_under_a_millisecond_are_refused_naming_the_field() {
        let duration = |text| GoDuration::parse(text).unwrap();
        assert_eq!(
            duration("1ms").at_least_1ms("timeout"),
            Ok(Duration::from_millis(1))
        );
        assert_eq!(
            duration("999us").at_least_1ms("timeout"),
            Err(FieldError::new("timeout", "999µs: must be at least 1ms"))
        );
        assert!(duration("0s").at_least_1ms("timeout").is_err());
    }

    #[test]
    fn backend_refs_read_kgateway_fields_and_only_port_numbers() {
        let reference: BackendRefSpec = serde_json::from_str(
            r#"{"group": "", "kind": "Service", "name": "authz", "namespace": "infra", "port": 9000}"#,
        )
        .unwrap();
        assert_eq!(
            reference,
            BackendRefSpec {
                group: Some(String::new()),
                kind: Some("Service".into()),
                name: "authz".into(),
                namespace: Some("infra".into()),
                port: Some(9000),
            }
        );
        assert_eq!(
            serde_json::to_value(BackendRefSpec {
                name: "a".into(),
                ..BackendRefSpec::default()
            })
            .unwrap(),
            serde_json::json!({"name": "a"})
        );
        for bad in [
            r#"{"port": 80}"#,
            r#"{"name": "a", "port": 65536}"#,
            r#"{"name": "a", "port": -1}"#,
        ] {
            assert!(
                serde_json::from_str::<BackendRefSpec>(bad).is_err(),
                "{bad} should be refused"
            );
        }
        let named = BackendRefSpec {
            name: "a".into(),
            ..BackendRefSpec::default()
        };
        assert_eq!(BackendRefSpec::required(Some(&named)), Ok(&named));
        assert_eq!(
            BackendRefSpec::required(None).unwrap_err().field,
            "backendRef"
        );
        assert_eq!(
            BackendRefSpec::required(Some(&BackendRefSpec::default()))
                .unwrap_err()
                .field,
            "backendRef.name"
        );
    }

    #[test]
    fn namespaced_object_references_round_trip_and_require_a_name() {
        let reference: NamespacedObjectReferenceSpec =
            serde_json::from_str(r#"{"name": "authz", "namespace": "infra"}"#).unwrap();
        assert_eq!(
            reference,
            NamespacedObjectReferenceSpec {
                name: "authz".into(),
                namespace: Some("infra".into()),
            }
        );
        assert_eq!(
            serde_json::to_value(&reference).unwrap(),
            serde_json::json!({"name": "authz", "namespace": "infra"})
        );
        assert_eq!(reference.namespace_or("policies"), "infra");
        assert_eq!(reference.validate(), Ok(()));

        let local: NamespacedObjectReferenceSpec =
            serde_json::from_str(r#"{"name": "authz"}"#).unwrap();
        assert_eq!(local.namespace, None);
        assert_eq!(local.namespace_or("policies"), "policies");
        assert_eq!(
            serde_json::to_value(&local).unwrap(),
            serde_json::json!({"name": "authz"}),
            "an absent namespace stays absent"
        );
        assert_eq!(
            serde_json::from_value::<NamespacedObjectReferenceSpec>(
                serde_json::to_value(&local).unwrap()
            )
            .unwrap(),
            local
        );

        let missing =
            serde_json::from_str::<NamespacedObjectReferenceSpec>(r#"{"namespace": "infra"}"#)
                .unwrap_err();
        assert!(
            missing.to_string().contains("missing field `name`"),
            "{missing}"
        );
        assert_eq!(
            NamespacedObjectReferenceSpec::default()
                .validate()
                .map_err(|e| e.within("extensionRef")),
            Err(FieldError::new("extensionRef.name", "must not be empty"))
        );
    }

    #[test]
    fn ext_grpc_services_compile_or_name_the_field() {
        let compile = |json: serde_json::Value| {
            serde_json::from_value::<ExtGrpcServiceSpec>(json)
                .unwrap()
                .compile()
        };
        assert_eq!(
            compile(serde_json::json!({
                "backendRef": {"name": "a", "port": 9000},
                "authority": "authz.example:9000",
                "requestTimeout": "1.5s"
            })),
            Ok(ExtGrpcService {
                authority: Some(Authority::from_static("authz.example:9000")),
                request_timeout: Some(Duration::from_millis(1500)),
            })
        );
        assert_eq!(
            compile(serde_json::json!({"backendRef": {"name": "a"}})),
            Ok(ExtGrpcService::default())
        );
        for (json, field) in [
            (serde_json::json!({}), "backendRef"),
            (
                serde_json::json!({"backendRef": {"name": ""}}),
                "backendRef.name",
            ),
            (
                serde_json::json!({"backendRef": {"name": "a"}, "authority": "a b"}),
                "authority",
            ),
            (
                serde_json::json!({"backendRef": {"name": "a"}, "requestTimeout": "500us"}),
                "requestTimeout",
            ),
        ] {
            assert_eq!(compile(json.clone()).unwrap_err().field, field, "{json}");
        }
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

    #[test]
    fn byte_quantities_parse_as_kubernetes_writes_them() {
        let parse = |text| ByteQuantity::parse(text).map(u64::from);
        assert_eq!(parse("512"), Ok(512));
        assert_eq!(parse("+512"), Ok(512));
        assert_eq!(parse("10k"), Ok(10_000));
        assert_eq!(parse("1M"), Ok(1_000_000));
        assert_eq!(parse("1G"), Ok(1_000_000_000));
        assert_eq!(parse("1Ki"), Ok(1024));
        assert_eq!(parse("1Mi"), Ok(1_048_576));
        assert_eq!(parse("1Gi"), Ok(1_073_741_824));
        assert_eq!(parse("512Ki"), Ok(524_288));
        assert_eq!(parse("1.5Gi"), Ok(1_610_612_736));
        assert_eq!(parse("0.5Ki"), Ok(512));
        assert_eq!(parse(".5k"), Ok(500));
        assert_eq!(parse("1.5"), Ok(2), "a fraction of a byte rounds up");
        assert_eq!(parse("100m"), Ok(1));
        assert_eq!(parse("1500m"), Ok(2));
        assert_eq!(parse("1e3"), Ok(1000));
        assert_eq!(parse("2E6"), Ok(2_000_000));
        assert_eq!(parse("1E"), Ok(1_000_000_000_000_000_000), "E alone is exa");
        assert_eq!(parse("1e-100"), Ok(1));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("0e-100"), Ok(0));
        assert_eq!(parse("15Ei"), Ok(15 << 60));
        for bad in [
            "", "k", "-1", "-1Mi", "1KB", "1ki", "1 Mi", "1..5", "1.2.3", "1e", "1ex", "16Ei",
            "1e30",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn byte_quantities_deserialize_from_strings_and_numbers() {
        let from = |json| serde_json::from_str::<ByteQuantity>(json).map(|q| q.0);
        assert_eq!(from("\"1Mi\"").unwrap(), 1_048_576);
        assert_eq!(from("1024").unwrap(), 1024);
        assert_eq!(from("1.5").unwrap(), 2);
        assert!(from("-1").is_err());
        let err = from("\"lots\"").unwrap_err();
        assert!(
            err.to_string().contains("\"lots\" is not a size in bytes"),
            "{err}"
        );
        assert_eq!(serde_json::to_string(&ByteQuantity(42)).unwrap(), "42");
    }

    #[test]
    fn percentages_are_bounded_and_sampled() {
        assert_eq!(Percent::new(0), Some(Percent::ZERO));
        assert_eq!(Percent::new(100), Some(Percent::HUNDRED));
        assert_eq!(Percent::new(101), None);
        assert_eq!(Percent::new(-1), None);
        assert!((0..1000).all(|_| Percent::HUNDRED.sample()));
        assert!((0..1000).all(|_| !Percent::ZERO.sample()));
        fastrand::seed(7);
        let quarter = Percent::new(25).unwrap();
        let hits = (0..10_000).filter(|_| quarter.sample()).count();
        assert!((2_000..3_000).contains(&hits), "{hits} of 10000");
        assert_eq!(serde_json::from_str::<Percent>("30").unwrap().get(), 30);
        let err = serde_json::from_str::<Percent>("150").unwrap_err();
        assert!(err.to_string().contains("150 is not a percentage"), "{err}");
        assert!(serde_json::from_str::<Percent>("\"50\"").is_err());
    }
}
