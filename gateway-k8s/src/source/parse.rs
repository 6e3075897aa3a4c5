//! Decoding one YAML document into an [`Object`] of a kind the gateway reads.
//!
//! Two passes over the document text, both with serde-saphyr so that every error carries
//! the line it happened on: the first reads only `apiVersion` and `kind` (and catches YAML
//! syntax errors anywhere in the document); the second deserializes the text straight into
//! the typed struct for that kind, through `serde_path_to_error` (field path of a type
//! error) and `serde_ignored` (unknown fields, reported as warnings since newer Gateway API
//! versions add fields).
//!
//! The kind table mirrors [`Object::from_json`], which the API-server source uses: same
//! groups (any version), same kinds, everything else ignored.

use gateway_routes::{
    api::{GATEWAY_GROUP, KgatewayBody, KgatewayKind, KgatewayResource},
    snapshot::Object,
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_saphyr::{Budget, Options};

use super::{
    diagnostic::{DocumentError, document_error},
    object::default_namespace,
};

/// What one document turned out to be.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// An empty document (nothing, or only comments).
    Empty,
    /// A kind the gateway does not read (Deployment, Pod, ...).
    Ignored {
        /// The document's `apiVersion`.
        api_version: String,
        /// The document's `kind`.
        kind: String,
    },
    /// An object the gateway reads.
    Object {
        /// The object, with its namespace defaulted.
        object: Box<Object>,
        /// The document's `kind`, for messages.
        kind: String,
        /// Paths of fields the typed struct does not know (`spec.listeners[0].foo`).
        unknown_fields: Vec<String>,
    },
}

/// The first pass: just enough to pick the type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    api_version: Option<String>,
    kind: Option<String>,
}

/// Decodes one document (the text of one [`super::split::Document`]).
///
/// Kinds the gateway reads are parsed once: their type header is found by a scan of the
/// top-level lines, and the typed pass reports any YAML error. Everything else (and any
/// header the scan cannot read plainly) takes the full first pass, so a syntax error in
/// any document is still reported.
pub(crate) fn decode_document(text: &str) -> Result<Decoded, DocumentError> {
    let (api_version, kind) = match scan_type_meta(text).filter(|(v, k)| read_kind(v, k)) {
        Some((api_version, kind)) => (api_version.to_owned(), kind.to_owned()),
        None => {
            let Some(meta) =
                serde_saphyr::from_str_with_options::<Option<TypeMeta>>(text, options())
                    .map_err(|e| document_error(text, None, &e))?
            else {
                return Ok(Decoded::Empty);
            };
            (
                required(meta.api_version, "apiVersion")?,
                required(meta.kind, "kind")?,
            )
        }
    };
    let group = group_of(&api_version);

    let typed = match (group, kind.as_str()) {
        (GATEWAY_GROUP, "GatewayClass") => typed(text, Object::GatewayClass),
        (GATEWAY_GROUP, "Gateway") => typed(text, Object::Gateway),
        (GATEWAY_GROUP, "HTTPRoute") => typed(text, Object::HttpRoute),
        (GATEWAY_GROUP, "TLSRoute") => typed(text, Object::TlsRoute),
        (GATEWAY_GROUP, "ReferenceGrant") => typed(text, Object::ReferenceGrant),
        ("", "Service") => typed(text, Object::Service),
        ("", "Secret") => typed(text, Object::Secret),
        ("", "ConfigMap") => typed(text, Object::ConfigMap),
        ("", "Namespace") => typed(text, Object::Namespace),
        ("discovery.k8s.io", "EndpointSlice") => typed(text, Object::EndpointSlice),
        (group, name) => match KgatewayKind::from_group_kind(group, name) {
            Some(k) => typed(text, |body: KgatewayBody| {
                Object::Kgateway(KgatewayResource::new(k, body))
            }),
            None => return Ok(Decoded::Ignored { api_version, kind }),
        },
    };
    let (mut object, unknown_fields) = typed?;
    default_namespace(&mut object);
    Ok(Decoded::Object {
        object: Box::new(object),
        kind,
        unknown_fields,
    })
}

/// The group of an `apiVersion` (empty for the core group).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Whether the gateway reads objects of this type.
fn read_kind(api_version: &str, kind: &str) -> bool {
    match group_of(api_version) {
        GATEWAY_GROUP => matches!(
            kind,
            "GatewayClass" | "Gateway" | "HTTPRoute" | "TLSRoute" | "ReferenceGrant"
        ),
        "" => matches!(kind, "Service" | "Secret" | "ConfigMap" | "Namespace"),
        "discovery.k8s.io" => kind == "EndpointSlice",
        group => KgatewayKind::from_group_kind(group, kind).is_some(),
    }
}

/// `apiVersion` and `kind` from unindented `key: value` lines holding plain or quoted
/// scalars; `None` when either is missing or written any other way.
fn scan_type_meta(text: &str) -> Option<(&str, &str)> {
    let (mut api_version, mut kind) = (None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "apiVersion" => &mut api_version,
            "kind" => &mut kind,
            _ => continue,
        };
        if slot.is_some() {
            return None;
        }
        let value = value.split_once(" #").map_or(value, |(v, _)| v).trim();
        let value = match value.as_bytes() {
            [b'"', .., b'"'] | [b'\'', .., b'\''] => &value[1..value.len() - 1],
            _ => value,
        };
        let plain = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-' | b'_'));
        if !plain {
            return None;
        }
        *slot = Some(value);
    }
    Some((api_version?, kind?))
}

/// A required, non-empty top-level string.
fn required(value: Option<String>, field: &str) -> Result<String, DocumentError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| DocumentError {
            line: None,
            reason: format!("missing `{field}`"),
        })
}

/// Top-level fields every manifest may carry that the typed structs need not model:
/// the type header, and `status` (written by controllers, ignored on input).
const EXPECTED_TOP_LEVEL: [&str; 3] = ["apiVersion", "kind", "status"];

/// The second pass: the document text straight into `T`, recording unknown fields.
fn typed<T: DeserializeOwned>(
    text: &str,
    wrap: impl FnOnce(T) -> Object,
) -> Result<(Object, Vec<String>), DocumentError> {
    let mut unknown_fields = Vec::new();
    let mut error_path = None;
    let value = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        let mut record = |path: serde_ignored::Path<'_>| {
            let path = gateway_routes::compile::field_path(&path);
            if !EXPECTED_TOP_LEVEL.contains(&path.as_str()) {
                unknown_fields.push(path);
            }
        };
        let de = serde_ignored::Deserializer::new(de, &mut record);
        serde_path_to_error::deserialize(de).map_err(|e| {
            error_path = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| document_error(text, error_path.as_deref(), &e))?;
    Ok((wrap(value), unknown_fields))
}

/// serde-saphyr options: errors without source snippets (we render file and line
/// ourselves), and budgets that bound what one document may cost, aliases included
/// (billion-laughs safe). Limits sit far above any real manifest.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = 64;
    budget.max_nodes = 250_000;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_total_scalar_bytes = 16 * 1024 * 1024;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options.with_snippet = false;
    options
}

#[cfg(test)]
mod tests;
