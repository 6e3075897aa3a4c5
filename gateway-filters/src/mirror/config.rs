//! Configuration of the request mirror.

use serde::Serialize;

/// How many requests are mirrored: `numerator / denominator` (100/100 mirrors all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MirrorConfig {
    /// Numerator.
    pub numerator: u32,
    /// Denominator (non-zero).
    pub denominator: u32,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        Self {
            numerator: 100,
            denominator: 100,
        }
    }
}
