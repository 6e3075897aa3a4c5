//! The plan: what the gateway serves, as plain pre-validated data.
//!
//! The compiler produces a [`Plan`] from a snapshot; `build` turns it into services. Every
//! value here is already parsed (header names, status codes, durations, regexes,
//! certificates), so building services cannot fail on user input. The plan serialises to
//! JSON for the admin `/config_dump` endpoint (private keys are redacted).

mod backend;
mod http;
mod listener;
mod listener_policy;
mod policy;

pub use self::http::*;
pub use backend::*;
pub use listener::*;
pub use listener_policy::*;
pub use policy::*;

use serde::Serialize;

/// Everything the gateway serves.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Programmed Gateways, in namespace/name order.
    pub gateways: Vec<GatewayPlan>,
}
