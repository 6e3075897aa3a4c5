//! The validated compression settings.

use serde::Serialize;

/// A part of a policy that is either configured or turned off with `disable: {}`. Kept apart
/// from "not configured" (`None` around it) because a disabled part overrides the same part
/// of a policy attached higher up, while an absent one does not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Toggle<T> {
    /// Configured and on.
    Enabled(T),
    /// Explicitly off.
    Disabled,
}

impl<T> Toggle<T> {
    /// The settings when on.
    pub fn enabled(&self) -> Option<&T> {
        match self {
            Self::Enabled(settings) => Some(settings),
            Self::Disabled => None,
        }
    }
}

/// kgateway `compression`, validated: each part absent, on or off.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompressionConfig {
    /// Response compression (kgateway `responseCompression`).
    pub response: Option<Toggle<ResponseCompressionConfig>>,
    /// Request decompression (kgateway `requestDecompression`).
    pub request: Option<Toggle<RequestDecompressionConfig>>,
}

/// A set of compression codecs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Codecs {
    /// `gzip`.
    pub gzip: bool,
    /// Brotli (`br`).
    pub brotli: bool,
    /// Zstandard (`zstd`).
    pub zstd: bool,
}

impl Codecs {
    /// No codec.
    pub const NONE: Self = Self {
        gzip: false,
        brotli: false,
        zstd: false,
    };

    /// Every codec the gateway has.
    pub const ALL: Self = Self {
        gzip: true,
        brotli: true,
        zstd: true,
    };
}

impl Default for Codecs {
    /// Gzip alone, kgateway's default when `libraries` is not set.
    fn default() -> Self {
        Self {
            gzip: true,
            ..Self::NONE
        }
    }
}

/// Response compression settings; see the [module docs](super).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseCompressionConfig {
    /// Codecs offered to clients.
    pub codecs: Codecs,
    /// Responses whose length is known and smaller than this are sent uncompressed.
    pub min_content_length: u32,
    /// Media types (lowercase, without parameters) that are compressed; a response without
    /// `Content-Type` is compressible.
    pub content_types: Vec<Box<str>>,
}

impl ResponseCompressionConfig {
    /// Envoy's default `min_content_length`, which kgateway keeps.
    pub const DEFAULT_MIN_CONTENT_LENGTH: u32 = 30;

    /// Envoy's default compressible media types, which kgateway keeps.
    pub const DEFAULT_CONTENT_TYPES: [&'static str; 8] = [
        "application/javascript",
        "application/json",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/css",
        "text/html",
        "text/plain",
        "text/xml",
    ];
}

impl Default for ResponseCompressionConfig {
    /// Gzip, a minimum length of 30 bytes and Envoy's default media types.
    fn default() -> Self {
        Self {
            codecs: Codecs::default(),
            min_content_length: Self::DEFAULT_MIN_CONTENT_LENGTH,
            content_types: Self::DEFAULT_CONTENT_TYPES
                .iter()
                .map(|t| Box::from(*t))
                .collect(),
        }
    }
}

/// Request decompression settings; see the [module docs](super).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestDecompressionConfig {
    /// Codecs decompressed; request bodies in other codings pass unchanged.
    pub codecs: Codecs,
}
