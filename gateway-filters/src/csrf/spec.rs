//! The kgateway field: `TrafficPolicy.spec.csrf`.

use serde::{Deserialize, Serialize};

use super::{CsrfConfig, OriginMatcher};
use crate::spec::{FieldError, Percent};

/// Most `additionalOrigins` kgateway's CRD accepts.
const MAX_ADDITIONAL_ORIGINS: usize = 16;

/// kgateway `CSRFPolicy`: at most one of `percentageEnabled` and `percentageShadowed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrfSpec {
    /// Share of requests checked and enforced (0 to 100). kgateway's default is 0: the
    /// filter is off unless this (or `percentageShadowed`) is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_enabled: Option<Percent>,
    /// Share of requests checked but only counted and logged (0 to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_shadowed: Option<Percent>,
    /// Source origins allowed besides the destination (at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_origins: Vec<StringMatcherSpec>,
}

impl CsrfSpec {
    /// Validates the policy; errors name the field (`additionalOrigins[1].safeRegex`).
    pub fn compile(&self) -> Result<CsrfConfig, FieldError> {
        if self.percentage_enabled.is_some() && self.percentage_shadowed.is_some() {
            return Err(FieldError::new(
                "",
                "set at most one of percentageEnabled and percentageShadowed",
            ));
        }
        if self.additional_origins.len() > MAX_ADDITIONAL_ORIGINS {
            return Err(FieldError::new(
                "additionalOrigins",
                format!(
                    "{} entries: at most {MAX_ADDITIONAL_ORIGINS} are allowed",
                    self.additional_origins.len()
                ),
            ));
        }
        let additional_origins = self
            .additional_origins
            .iter()
            .enumerate()
            .map(|(i, matcher)| {
                matcher
                    .compile()
                    .map_err(|error| error.within(&format!("additionalOrigins[{i}]")))
            })
            .collect::<Result<_, _>>()?;
        Ok(CsrfConfig {
            percentage_enabled: self.percentage_enabled.unwrap_or(Percent::ZERO),
            percentage_shadowed: self.percentage_shadowed.unwrap_or(Percent::ZERO),
            additional_origins,
        })
    }
}

/// kgateway's shared `StringMatcher`: exactly one of `exact`, `prefix`, `suffix`,
/// `contains` and `safeRegex`; `ignoreCase` applies to all but `safeRegex`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StringMatcherSpec {
    /// The whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// A non-empty start of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// A non-empty end of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// A non-empty part of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// An RE2-style regular expression matching the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_regex: Option<String>,
    /// Compare ASCII letters without regard to case (not for `safeRegex`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_case: Option<bool>,
}

impl StringMatcherSpec {
    /// Validates the matcher and compiles its regex.
    pub fn compile(&self) -> Result<OriginMatcher, FieldError> {
        let set = [
            ("exact", &self.exact),
            ("prefix", &self.prefix),
            ("suffix", &self.suffix),
            ("contains", &self.contains),
            ("safeRegex", &self.safe_regex),
        ];
        let mut chosen = set
            .iter()
            .filter_map(|(name, value)| value.as_deref().map(|value| (*name, value)));
        let (Some((kind, value)), None) = (chosen.next(), chosen.next()) else {
            return Err(FieldError::new(
                "",
                "set exactly one of exact, prefix, suffix, contains and safeRegex",
            ));
        };
        if value.is_empty() && kind != "exact" {
            return Err(FieldError::new(kind, "must not be empty"));
        }
        let matcher = match kind {
            "exact" => OriginMatcher::exact(value),
            "prefix" => OriginMatcher::prefix(value),
            "suffix" => OriginMatcher::suffix(value),
            "contains" => OriginMatcher::contains(value),
            _ => OriginMatcher::safe_regex(value).map_err(|error| {
                FieldError::new(
                    "safeRegex",
                    format!("invalid regular expression {value:?}: {error}"),
                )
            })?,
        };
        Ok(if self.ignore_case == Some(true) {
            matcher.ignoring_case()
        } else {
            matcher
        })
    }
}
