//! The kgateway field: `TrafficPolicy.spec.urlRewrite`.

use serde::{Deserialize, Serialize};

use super::PathRegexConfig;
use crate::spec::FieldError;

/// Longest `pattern` and `substitution` kgateway accepts, in characters.
const MAX_LENGTH: usize = 1024;

/// kgateway `URLRewrite` (`TrafficPolicy.spec.urlRewrite`): URL rewrites with regular
/// expressions. kgateway honours it only on policies attached to HTTPRoutes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlRewriteSpec {
    /// Rewrite of the request path; required (kgateway's only `urlRewrite` field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<PathRegexSpec>,
}

impl UrlRewriteSpec {
    /// Validates the rewrite; errors name the field relative to `urlRewrite`
    /// (`pathRegex.substitution`).
    pub fn compile(&self) -> Result<PathRegexConfig, FieldError> {
        let path_regex = self
            .path_regex
            .as_ref()
            .ok_or_else(|| FieldError::new("pathRegex", "is required"))?;
        path_regex.compile().map_err(|e| e.within("pathRegex"))
    }
}

/// kgateway `PathRegexRewrite`: how to rewrite the request path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathRegexSpec {
    /// RE2-style regular expression matched against the request path (not the query).
    pub pattern: String,
    /// Replacement for every match; `\1`…`\9` and `\g<name>` refer to capture groups.
    pub substitution: String,
}

impl PathRegexSpec {
    /// Validates the pattern and substitution (1 to 1024 characters each, a valid pattern,
    /// references to groups the pattern has) and prepares the rewrite.
    pub fn compile(&self) -> Result<PathRegexConfig, FieldError> {
        check_length("pattern", &self.pattern)?;
        check_length("substitution", &self.substitution)?;
        PathRegexConfig::new(&self.pattern, &self.substitution)
    }
}

fn check_length(field: &str, value: &str) -> Result<(), FieldError> {
    match value.chars().count() {
        0 => Err(FieldError::new(field, "must not be empty")),
        n if n > MAX_LENGTH => Err(FieldError::new(
            field,
            format!("must be at most {MAX_LENGTH} characters"),
        )),
        _ => Ok(()),
    }
}
