//! The validated tracing configuration.

use http::{HeaderName, Uri, uri::Authority};
use serde::{Serialize, Serializer};
use std::sync::Arc;

use crate::spec::Percent;

/// Envoy's default `max_path_tag_length`.
pub const DEFAULT_MAX_PATH_TAG_LENGTH: usize = 256;

/// What the [tracing layer](super::TracingLayer) runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracingConfig {
    /// `service.name` of the exported spans' resource.
    pub service_name: Arc<str>,
    /// The OTLP/gRPC collector (`http://10.0.0.9:4317`), as the policy compiler resolves
    /// `grpcService.backendRef`.
    #[serde(serialize_with = "display")]
    pub collector: Uri,
    /// The `:authority` of the export calls, when set.
    #[serde(serialize_with = "opt_display")]
    pub authority: Option<Authority>,
    /// Share of requests with `x-client-trace-id` that are traced.
    pub client_sampling: Percent,
    /// Share of requests without a parent decision or client id that are traced.
    pub random_sampling: Percent,
    /// Share of the requests picked by the other two rules that are finally traced.
    pub overall_sampling: Percent,
    /// Longest `url.path` attribute, in bytes (cut at a character boundary).
    pub max_path_tag_length: usize,
    /// Extra attributes on every span.
    pub attributes: Arc<[CustomAttribute]>,
}

impl TracingConfig {
    /// Spans of `service_name` to `collector`, every request traced, no extra attributes.
    pub fn new(service_name: &str, collector: Uri) -> Self {
        Self {
            service_name: service_name.into(),
            collector,
            authority: None,
            client_sampling: Percent::HUNDRED,
            random_sampling: Percent::HUNDRED,
            overall_sampling: Percent::HUNDRED,
            max_path_tag_length: DEFAULT_MAX_PATH_TAG_LENGTH,
            attributes: Arc::new([]),
        }
    }
}

/// One extra span attribute (kgateway `CustomAttribute`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomAttribute {
    /// A value known when the policy was compiled (a literal, or an environment variable).
    Fixed {
        /// Attribute name.
        name: Arc<str>,
        /// Its value.
        value: Arc<str>,
    },
    /// A request header's value.
    RequestHeader {
        /// Attribute name.
        name: Arc<str>,
        /// The header read.
        #[serde(serialize_with = "display_header")]
        header: HeaderName,
        /// The value when the header is absent; no attribute without one.
        default_value: Option<Arc<str>>,
    },
    /// An environment attribute whose variable is unset and has no default: nothing.
    Absent,
}

fn display<S: Serializer>(uri: &Uri, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(uri)
}

fn opt_display<S: Serializer>(value: &Option<Authority>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => s.serialize_some(value.as_str()),
        None => s.serialize_none(),
    }
}

fn display_header<S: Serializer>(name: &HeaderName, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name.as_str())
}
