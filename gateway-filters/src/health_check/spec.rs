//! kgateway's `EnvoyHealthCheck` type.

use serde::{Deserialize, Serialize};

use super::HealthCheckConfig;
use crate::spec::FieldError;

/// `httpSettings.healthCheck` (kgateway `EnvoyHealthCheck`): the path the gateway answers
/// itself.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckSpec {
    /// The exact path (query included, if any) of health check requests.
    pub path: String,
}

impl HealthCheckSpec {
    /// Validates the path as kgateway's CRD does (`^/[-a-zA-Z0-9@:%.+~#?&/=_]+$`, at most
    /// 2048 characters).
    pub fn compile(&self) -> Result<HealthCheckConfig, FieldError> {
        HealthCheckConfig::new(&self.path).map_err(|reason| FieldError::new("path", reason))
    }
}
