//! Decoding a raw policy spec into its typed form, refusing fields we do not implement.

use serde::de::DeserializeOwned;

/// Decodes `spec` into `T`. A field `T` does not model is an error naming it (`spec.extAuth:
/// not supported by this gateway`), so nothing a user wrote is silently ignored; a type
/// error names the field path and serde's reason.
pub(crate) fn decode_spec<T: DeserializeOwned>(spec: &serde_json::Value) -> Result<T, String> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(field_path(&path));
    let de = serde_ignored::Deserializer::new(spec, &mut record);
    let value: T = serde_path_to_error::deserialize(de).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." {
            "spec".to_owned()
        } else {
            format!("spec.{path}")
        };
        format!("{path}: {}", error.into_inner())
    })?;
    match unknown.first() {
        None => Ok(value),
        Some(first) => Err(format!(
            "spec.{first}: not supported by this gateway{}",
            match unknown.len() {
                1 => String::new(),
                n => format!(" (and {} more unsupported fields)", n - 1),
            }
        )),
    }
}

/// A `serde_ignored` path as Kubernetes tools print it: `rateLimit.global[0].foo`. Both the
/// policy decoder and the directory source's unknown-field warnings use it.
pub fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => match field_path(parent) {
            parent if parent.is_empty() => key.clone(),
            parent => format!("{parent}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Item {
        max_tokens: u32,
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let error = decode_spec::<Spec>(&serde_json::json!({
            "items": [{"maxTokens": 1}, {"maxTokens": 2, "burst": 3}],
            "extAuth": {}
        }))
        .unwrap_err();
        assert!(
            error.starts_with("spec.items[1].burst: not supported by this gateway")
                || error.starts_with("spec.extAuth: not supported by this gateway"),
            "{error}"
        );
        assert!(
            error.ends_with("(and 1 more unsupported fields)"),
            "{error}"
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let error = decode_spec::<Spec>(&serde_json::json!({
            "items": [{"maxTokens": "many"}]
        }))
        .unwrap_err();
        assert!(
            error.starts_with("spec.items[0].maxTokens: invalid type"),
            "{error}"
        );
        let ok = decode_spec::<Spec>(&serde_json::json!({"items": [{"maxTokens": 4}]})).unwrap();
        assert_eq!(ok.items[0].max_tokens, 4);
    }
}
