//! The kgateway field: `TrafficPolicy.spec.compression`.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use super::{
    Codecs, CompressionConfig, RequestDecompressionConfig, ResponseCompressionConfig, Toggle,
};
use crate::spec::FieldError;

/// Most content types kgateway accepts in `contentTypes`.
const MAX_CONTENT_TYPES: usize = 50;
/// Longest content type kgateway accepts, in characters.
const MAX_CONTENT_TYPE_LENGTH: usize = 256;

/// kgateway `Compression` (`TrafficPolicy.spec.compression`): response compression and
/// request decompression. At least one of the two must be set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompressionSpec {
    /// Compression of responses the client accepts compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_compression: Option<ResponseCompressionSpec>,
    /// Decompression of compressed request bodies before they are forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_decompression: Option<RequestDecompressionSpec>,
}

/// kgateway `ResponseCompression`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseCompressionSpec {
    /// Codecs offered to clients (1 to 3, no duplicates); `[Gzip]` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libraries: Option<Vec<CompressionLibrary>>,
    /// Smallest response `Content-Length` that is compressed; 30 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_content_length_bytes: Option<i32>,
    /// Content types that are compressed, replacing the default list (1 to 50 entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_types: Option<Vec<String>>,
    /// Turns response compression off (overriding a policy attached higher up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<PolicyDisable>,
}

/// kgateway `RequestDecompression`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestDecompressionSpec {
    /// Codecs decompressed (1 to 3, no duplicates); `[Gzip]` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libraries: Option<Vec<CompressionLibrary>>,
    /// Turns request decompression off (overriding a policy attached higher up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<PolicyDisable>,
}

/// kgateway `CompressionLibrary`: a compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum CompressionLibrary {
    /// `gzip`.
    Gzip,
    /// Brotli (`br`).
    Brotli,
    /// Zstandard (`zstd`).
    Zstd,
}

/// kgateway `shared.PolicyDisable`: an empty object (`disable: {}`) that turns a feature off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct PolicyDisable {}

impl CompressionSpec {
    /// Validates the spec as kgateway's CRD does; errors name the field relative to
    /// `compression` (`responseCompression.contentTypes[2]`).
    pub fn compile(&self) -> Result<CompressionConfig, FieldError> {
        if self.response_compression.is_none() && self.request_decompression.is_none() {
            return Err(FieldError::new(
                "responseCompression",
                "at least one of responseCompression and requestDecompression must be set",
            ));
        }
        let response = self
            .response_compression
            .as_ref()
            .map(|spec| spec.compile().map_err(|e| e.within("responseCompression")))
            .transpose()?;
        let request = self
            .request_decompression
            .as_ref()
            .map(|spec| spec.compile().map_err(|e| e.within("requestDecompression")))
            .transpose()?;
        Ok(CompressionConfig { response, request })
    }
}

impl ResponseCompressionSpec {
    /// Validates the spec; errors name the field relative to `responseCompression`.
    pub fn compile(&self) -> Result<Toggle<ResponseCompressionConfig>, FieldError> {
        let codecs = codecs(self.libraries.as_deref()).map_err(|e| e.within("libraries"))?;
        let min_content_length = match self.min_content_length_bytes {
            None => ResponseCompressionConfig::DEFAULT_MIN_CONTENT_LENGTH,
            Some(bytes) => u32::try_from(bytes)
                .map_err(|_| FieldError::new("minContentLengthBytes", "must be at least 0"))?,
        };
        let content_types = match &self.content_types {
            None => ResponseCompressionConfig::default().content_types,
            Some(types) => content_types(types).map_err(|e| e.within("contentTypes"))?,
        };
        if self.disable.is_some() {
            return Ok(Toggle::Disabled);
        }
        Ok(Toggle::Enabled(ResponseCompressionConfig {
            codecs,
            min_content_length,
            content_types,
        }))
    }
}

impl RequestDecompressionSpec {
    /// Validates the spec; errors name the field relative to `requestDecompression`.
    pub fn compile(&self) -> Result<Toggle<RequestDecompressionConfig>, FieldError> {
        let codecs = codecs(self.libraries.as_deref()).map_err(|e| e.within("libraries"))?;
        if self.disable.is_some() {
            return Ok(Toggle::Disabled);
        }
        Ok(Toggle::Enabled(RequestDecompressionConfig { codecs }))
    }
}

/// The codecs of a `libraries` list: gzip alone when absent; otherwise 1 to 3 distinct ones.
fn codecs(libraries: Option<&[CompressionLibrary]>) -> Result<Codecs, FieldError> {
    let Some(libraries) = libraries else {
        return Ok(Codecs::default());
    };
    if libraries.is_empty() {
        return Err(FieldError::new("", "must list at least one library"));
    }
    let mut codecs = Codecs::NONE;
    for (index, library) in libraries.iter().enumerate() {
        let slot = match library {
            CompressionLibrary::Gzip => &mut codecs.gzip,
            CompressionLibrary::Brotli => &mut codecs.brotli,
            CompressionLibrary::Zstd => &mut codecs.zstd,
        };
        if *slot {
            return Err(FieldError::new(
                format!("[{index}]"),
                "libraries must not contain duplicates",
            ));
        }
        *slot = true;
    }
    Ok(codecs)
}

/// A `contentTypes` list: 1 to 50 distinct entries of 1 to 256 characters, kept lowercase.
fn content_types(types: &[String]) -> Result<Vec<Box<str>>, FieldError> {
    if types.is_empty() {
        return Err(FieldError::new("", "must list at least one content type"));
    }
    if types.len() > MAX_CONTENT_TYPES {
        return Err(FieldError::new(
            "",
            format!("must list at most {MAX_CONTENT_TYPES} content types"),
        ));
    }
    let mut seen = HashSet::with_capacity(types.len());
    let mut out = Vec::with_capacity(types.len());
    for (index, content_type) in types.iter().enumerate() {
        let field = || format!("[{index}]");
        let length = content_type.chars().count();
        if length == 0 || length > MAX_CONTENT_TYPE_LENGTH {
            return Err(FieldError::new(
                field(),
                format!("must be 1 to {MAX_CONTENT_TYPE_LENGTH} characters"),
            ));
        }
        let lower = content_type.trim().to_ascii_lowercase();
        if !seen.insert(lower.clone()) {
            return Err(FieldError::new(field(), "duplicate content type"));
        }
        out.push(lower.into_boxed_str());
    }
    Ok(out)
}
