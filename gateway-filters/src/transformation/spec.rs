//! The kgateway field: `TrafficPolicy.spec.transformation`.

use serde::{Deserialize, Serialize};

use super::TransformationConfig;
use crate::spec::FieldError;

/// kgateway `TransformationPolicy` (`TrafficPolicy.spec.transformation`): changes to the
/// request before it is forwarded and to the response before it is returned. Compiled by
/// [`compile`](TransformationSpec::compile).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformationSpec {
    /// Changes to the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<TransformSpec>,
    /// Changes to the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<TransformSpec>,
}

impl TransformationSpec {
    /// Validates the spec as kgateway's CRD does and compiles every template. Errors name
    /// the field relative to `transformation` (`request.set[1].value`): a template that does
    /// not parse, a header name that is not valid, too many or duplicate entries, a
    /// pseudo-header where it cannot go, a value without template syntax that is not a
    /// valid header value, or a template that reads JSON body fields without
    /// `body.parseAs: AsJson` (or the body with `parseAs: None`).
    pub fn compile(&self) -> Result<TransformationConfig, FieldError> {
        TransformationConfig::compile(self)
    }
}

/// kgateway `Transform`: the changes to one message. `dynamicMetadata` (Envoy dynamic
/// metadata) is not implemented.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformSpec {
    /// Headers to set (replacing any value); an empty value removes the header. At most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<HeaderTransformationSpec>,
    /// Headers to add (kept alongside existing values); an empty value adds nothing. At
    /// most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<HeaderTransformationSpec>,
    /// Headers to remove, after `set` and `add`. At most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// How to read the body and what to replace it with; without it the body is read only
    /// when a template uses it, and is never replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyTransformationSpec>,
}

/// kgateway `HeaderTransformation`: a header and the template of its value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderTransformationSpec {
    /// Header name, or a pseudo-header (`:path`, `:method`, `:authority` on requests,
    /// `:status` on responses; `set` only).
    pub name: String,
    /// Template of the value.
    #[serde(default)]
    pub value: String,
}

/// kgateway `BodyTransformation`: how to read the body and the template of the new one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BodyTransformationSpec {
    /// How the body is read; `AsString` by default.
    #[serde(default)]
    pub parse_as: BodyParseBehavior,
    /// Template of the new body; the body is kept when absent (and when `parseAs` is
    /// `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// kgateway `BodyParseBehavior`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum BodyParseBehavior {
    /// The body is text: `body()` reads it.
    #[default]
    AsString,
    /// The body is JSON: its top-level fields are template variables, `body.field` and
    /// `context()` read it; a body that is not JSON fails the transformation.
    AsJson,
    /// The body is neither read nor replaced.
    None,
}
