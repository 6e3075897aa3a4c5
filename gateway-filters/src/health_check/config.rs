//! The validated health check path.

use serde::Serialize;
use std::sync::Arc;

/// Longest path kgateway's CRD accepts.
const MAX_PATH_LEN: usize = 2048;

/// The path the gateway answers itself; see the [module docs](super).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthCheckConfig {
    path: Arc<str>,
}

impl HealthCheckConfig {
    /// A health check on `path`, which must start with `/`, have at least one character
    /// after it, and use only the characters kgateway allows (letters, digits and
    /// `-@:%.+~#?&/=_`), up to 2048 of them.
    pub fn new(path: &str) -> Result<Self, String> {
        if !path.starts_with('/') || path.len() < 2 {
            return Err(format!(
                "{path:?} must start with / and name a path (e.g. /healthz)"
            ));
        }
        if path.len() > MAX_PATH_LEN {
            return Err(format!("is longer than {MAX_PATH_LEN} characters"));
        }
        if let Some(bad) = path
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "-@:%.+~#?&/=_".contains(c)))
        {
            return Err(format!("{path:?} contains {bad:?}, which a path may not"));
        }
        Ok(Self { path: path.into() })
    }

    /// The path (with query, if any) health checks use.
    pub fn path(&self) -> &str {
        &self.path
    }
}
