//! HTTP routing: virtual hosts, ordered matches and rules.

use gateway_core::extensions::ResourceRef;
use gateway_filters::{
    cors::CorsConfig, direct_response::DirectResponseConfig, header_modifier::HeaderModifierConfig,
    mirror::MirrorConfig, redirect::RedirectConfig, retry::RetryConfig,
    url_rewrite::UrlRewriteConfig,
};
use http::{HeaderName, Method};
use serde::Serialize;
use std::{sync::Arc, time::Duration};

use super::BackendTarget;

/// A hostname pattern: exact, `*.suffix` wildcard, or any.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HostMatch {
    /// Exactly this lowercase hostname.
    Exact(Arc<str>),
    /// Any hostname ending in this suffix (stored with its leading dot: `.example.com`)
    /// with at least one more label before it.
    Wildcard(Arc<str>),
    /// Any hostname.
    Any,
}

/// The routes for one hostname pattern of one listener.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualHost {
    /// Which `Host` values this virtual host serves.
    pub hostname: HostMatch,
    /// Rules, referenced by index from `routes`. Shared with every other virtual host and
    /// listener serving the same rule under the same TrafficPolicy.
    pub rules: Vec<Arc<RulePlan>>,
    /// Matches in precedence order: the first that matches wins.
    pub routes: Vec<RouteEntry>,
}

/// One match of one rule, in precedence order within its virtual host.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteEntry {
    /// What the request must look like (shared with every virtual host and listener
    /// serving the same rule).
    #[serde(rename = "match")]
    pub matcher: Arc<RequestMatch>,
    /// Index into the virtual host's `rules`.
    pub rule: usize,
}

/// All conditions of one HTTPRoute match.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMatch {
    /// Path condition.
    pub path: PathMatch,
    /// Method condition.
    #[serde(serialize_with = "gateway_core::serde_http::opt_method")]
    pub method: Option<Method>,
    /// Header conditions (all must hold).
    pub headers: Vec<HeaderMatch>,
    /// Query parameter conditions (all must hold).
    pub query_params: Vec<QueryParamMatch>,
}

/// A path condition.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PathMatch {
    /// The path equals this.
    Exact(Arc<str>),
    /// The path starts with these segments (stored without a trailing slash; `/` matches
    /// everything).
    Prefix(Arc<str>),
    /// The whole path matches this anchored regex.
    Regex(#[serde(serialize_with = "gateway_core::serde_http::regex")] regex::Regex),
}

/// A value condition for headers and query parameters.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ValueMatch {
    /// Equal to this.
    Exact(Arc<str>),
    /// Whole value matches this anchored regex.
    Regex(#[serde(serialize_with = "gateway_core::serde_http::regex")] regex::Regex),
}

/// A header condition.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatch {
    /// Header name.
    #[serde(serialize_with = "gateway_core::serde_http::header_name")]
    pub name: HeaderName,
    /// Value condition.
    pub value: ValueMatch,
}

/// A query parameter condition.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryParamMatch {
    /// Parameter name (case-sensitive).
    pub name: Arc<str>,
    /// Value condition.
    pub value: ValueMatch,
}

/// One HTTPRoute rule as served.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulePlan {
    /// The HTTPRoute, with `section` = the rule name or index.
    pub resource: Arc<ResourceRef>,
    /// Filters in spec order.
    pub filters: Vec<FilterPlan>,
    /// Weighted backends; when empty (and no filter answers) the rule answers 500.
    pub backends: Vec<BackendPlan>,
    /// Timeouts.
    pub timeouts: TimeoutsPlan,
    /// Retry policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    /// The kgateway TrafficPolicy in effect (merged from every policy that covers the
    /// rule); the rule's own fields (timeouts, retry, filters) win over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Arc<super::TrafficPolicyPlan>>,
}

/// Rule timeouts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeoutsPlan {
    /// Whole request, until response headers, across retries.
    #[serde(serialize_with = "gateway_core::serde_http::opt_duration")]
    pub request: Option<Duration>,
    /// Each try to a backend.
    #[serde(serialize_with = "gateway_core::serde_http::opt_duration")]
    pub backend_request: Option<Duration>,
}

/// A weighted backend of a rule, with its own filters.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendPlan {
    /// Relative weight (0 never chosen).
    pub weight: u32,
    /// Where requests go.
    pub target: BackendTarget,
    /// Filters applied when this backend is chosen.
    pub filters: Vec<FilterPlan>,
}

/// A filter of a rule or backend.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FilterPlan {
    /// Change request headers.
    RequestHeaderModifier(HeaderModifierConfig),
    /// Change response headers.
    ResponseHeaderModifier(HeaderModifierConfig),
    /// Answer with a redirect.
    RequestRedirect(RedirectConfig),
    /// Rewrite host and path.
    UrlRewrite(UrlRewriteConfig),
    /// Copy requests to another backend.
    RequestMirror {
        /// Which share of requests.
        config: MirrorConfig,
        /// Where copies go.
        target: BackendTarget,
    },
    /// Answer CORS preflights and decorate responses.
    Cors(CorsConfig),
    /// Answer with a fixed status and body (kgateway DirectResponse via `ExtensionRef`).
    DirectResponse(DirectResponseConfig),
}
