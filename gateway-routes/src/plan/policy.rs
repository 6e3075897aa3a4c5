//! The effective kgateway `TrafficPolicy` of one rule, after attachment and merging.

use gateway_filters::{
    acl::AclConfig,
    api_key::ApiKeyAuthConfig,
    basic_auth::BasicAuthConfig,
    buffer::BufferConfig,
    compression::{CompressionConfig, Toggle},
    cors::CorsConfig,
    csrf::CsrfConfig,
    ext_authz::ExtAuthConfig,
    ext_proc::ExtProcConfig,
    fault::FaultConfig,
    global_rate_limit::GlobalRateLimitConfig,
    header_modifier::HeaderModifierConfig,
    jwt::JwtConfig,
    local_rate_limit::RateLimitConfig,
    path_regex::PathRegexConfig,
    retry::RetryConfig,
    transformation::TransformationConfig,
};
use serde::Serialize;
use std::{sync::Arc, time::Duration};

/// Declares [`TrafficPolicyPlan`]: one optional value per top-level `TrafficPolicy.spec`
/// field, which is also the unit of merging (a more specific or older policy wins a field
/// whole, as kgateway merges).
macro_rules! traffic_policy_plan {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty = $spec_name:literal, )*) => {
        /// The effective traffic policy of a rule: each field comes from the highest-priority
        /// policy that sets it. Fields are shared (`Arc`) with the policy they came from, so
        /// stateful layers (rate limit buckets) can be shared by every rule it covers.
        #[derive(Clone, Debug, Default, Serialize)]
        #[serde(rename_all = "camelCase")]
        pub struct TrafficPolicyPlan {
            $(
                $(#[$doc])*
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<Arc<$ty>>,
            )*
        }

        impl TrafficPolicyPlan {
            /// The `spec` names of the fields this policy sets.
            pub fn set_fields(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $( if self.$field.is_some() { names.push($spec_name); } )*
                names
            }

            /// Fills every field not yet `decided` from `lower` and marks it decided;
            /// `on_field(name, taken)` is called for each field `lower` sets, `taken`
            /// telling whether it won.
            pub(crate) fn fill_from(
                &mut self,
                lower: &Self,
                decided: &mut std::collections::BTreeSet<&'static str>,
                mut on_field: impl FnMut(&'static str, bool),
            ) {
                $(
                    if let Some(value) = &lower.$field {
                        let taken = decided.insert($spec_name);
                        if taken {
                            self.$field = Some(value.clone());
                        }
                        on_field($spec_name, taken);
                    }
                )*
            }
        }
    };
}

traffic_policy_plan! {
    /// `headerModifiers`: request and response header changes.
    header_modifiers: HeaderModifiersPlan = "headerModifiers",
    /// `cors`.
    cors: CorsConfig = "cors",
    /// `timeouts`.
    timeouts: PolicyTimeouts = "timeouts",
    /// `retry`.
    retry: PolicyRetry = "retry",
    /// `rateLimit.local` (token buckets; one set per policy, shared by every rule it
    /// covers).
    rate_limit: RateLimitConfig = "rateLimit.local",
    /// `rateLimit.global`: descriptors sent to a rate limit service.
    global_rate_limit: GlobalRateLimitConfig = "rateLimit.global",
    /// `buffer`: request body size limit, buffered before forwarding.
    buffer: BufferConfig = "buffer",
    /// `faultInjection`.
    fault_injection: FaultConfig = "faultInjection",
    /// `csrf`.
    csrf: CsrfConfig = "csrf",
    /// `transformation`: templated request and response changes.
    transformation: TransformationConfig = "transformation",
    /// `compression`: response compression and request decompression.
    compression: CompressionConfig = "compression",
    /// `urlRewrite.pathRegex`.
    url_rewrite: PathRegexConfig = "urlRewrite",
    /// `acl`: client address allow and deny rules.
    acl: AclConfig = "acl",
    /// `basicAuth` (or its `disable`).
    basic_auth: Toggle<BasicAuthConfig> = "basicAuth",
    /// `apiKeyAuth` (or its `disable`).
    api_key_auth: Toggle<ApiKeyAuthConfig> = "apiKeyAuth",
    /// `jwtAuth` (or its `disable`): the providers of a GatewayExtension, shared by every
    /// policy naming it.
    jwt_auth: Toggle<Arc<JwtConfig>> = "jwtAuth",
    /// `extAuth` (or its `disable`): an authorization server.
    ext_auth: Toggle<ExtAuthConfig> = "extAuth",
    /// `extProc` (or its `disable`): an external processor.
    ext_proc: Toggle<ExtProcConfig> = "extProc",
}

/// `headerModifiers`.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderModifiersPlan {
    /// Changes to request headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderModifierConfig>,
    /// Changes to response headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderModifierConfig>,
}

/// `timeouts`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTimeouts {
    /// Whole request, until response headers (the rule's own `timeouts.request` wins).
    #[serde(serialize_with = "gateway_core::serde_http::opt_duration")]
    pub request: Option<Duration>,
    /// Longest quiet time on a request or response body.
    #[serde(serialize_with = "gateway_core::serde_http::opt_duration")]
    pub stream_idle: Option<Duration>,
}

/// `retry`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRetry {
    /// What is retried, how often, with which backoff.
    pub config: RetryConfig,
    /// Bound on each try (the rule's `timeouts.backendRequest` wins).
    #[serde(serialize_with = "gateway_core::serde_http::opt_duration")]
    pub per_try_timeout: Option<Duration>,
}
