//! The kgateway fields: `TrafficPolicy.spec.rateLimit.global` (the descriptors and the
//! provider it names) and `GatewayExtension.spec.rateLimit` (the provider).

use http::HeaderName;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{
    DEFAULT_TIMEOUT, DescriptorEntry, RateLimitDescriptor, RateLimitProvider, XRateLimitHeaders,
};
use crate::spec::{ExtGrpcServiceSpec, FieldError, GoDuration, NamespacedObjectReferenceSpec};

/// kgateway `RateLimitPolicy` (`rateLimit.global`): what to send to the rate limit service
/// of the `GatewayExtension` it names.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalRateLimitSpec {
    /// The descriptors; at least one.
    pub descriptors: Vec<RateLimitDescriptorSpec>,
    /// The `GatewayExtension` of type `RateLimit` providing the service; the policy
    /// compiler resolves it (and its `backendRef`) into the layer's provider and endpoints.
    pub extension_ref: NamespacedObjectReferenceSpec,
}

impl GlobalRateLimitSpec {
    /// Validates the descriptors and that `extensionRef` names an extension; errors name
    /// the field (`descriptors[0].entries[1].header`, `extensionRef.name`).
    pub fn compile(&self) -> Result<Arc<[RateLimitDescriptor]>, FieldError> {
        self.extension_ref
            .validate()
            .map_err(|e| e.within("extensionRef"))?;
        if self.descriptors.is_empty() {
            return Err(FieldError::new("descriptors", "at least one is required"));
        }
        self.descriptors
            .iter()
            .enumerate()
            .map(|(index, descriptor)| {
                descriptor
                    .compile()
                    .map_err(|error| error.within(&format!("descriptors[{index}]")))
            })
            .collect()
    }
}

/// kgateway `RateLimitDescriptor`: entries sent together as one descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitDescriptorSpec {
    /// The entries; at least one.
    pub entries: Vec<RateLimitDescriptorEntrySpec>,
}

impl RateLimitDescriptorSpec {
    /// Validates the descriptor.
    pub fn compile(&self) -> Result<RateLimitDescriptor, FieldError> {
        if self.entries.is_empty() {
            return Err(FieldError::new("entries", "at least one is required"));
        }
        let entries = self
            .entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                entry
                    .compile()
                    .map_err(|error| error.within(&format!("entries[{index}]")))
            })
            .collect::<Result<_, _>>()?;
        Ok(RateLimitDescriptor { entries })
    }
}

/// kgateway `RateLimitDescriptorEntryType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum DescriptorEntryType {
    /// A fixed key and value (`generic`).
    Generic,
    /// A request header's value (`header`).
    Header,
    /// The client address.
    RemoteAddress,
    /// The request path.
    Path,
}

/// kgateway `RateLimitDescriptorEntry`: a `type` and, for `Generic` and `Header`, the
/// field of that name (and no other).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitDescriptorEntrySpec {
    /// What the entry holds.
    #[serde(rename = "type")]
    pub entry_type: DescriptorEntryType,
    /// The key and value of a `Generic` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<GenericEntrySpec>,
    /// The header of a `Header` entry; its name, as written, is also the entry's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

impl RateLimitDescriptorEntrySpec {
    /// Validates the entry (kgateway's "exactly one entry type must be specified" rule).
    pub fn compile(&self) -> Result<DescriptorEntry, FieldError> {
        let only = |what: &str| {
            FieldError::new(
                "",
                format!("a {what} entry takes neither generic nor header"),
            )
        };
        match (self.entry_type, &self.generic, &self.header) {
            (DescriptorEntryType::Generic, Some(generic), None) => {
                for (field, text) in [
                    ("generic.key", &generic.key),
                    ("generic.value", &generic.value),
                ] {
                    if text.is_empty() {
                        return Err(FieldError::new(field, "must not be empty"));
                    }
                }
                Ok(DescriptorEntry::Generic {
                    key: generic.key.clone(),
                    value: generic.value.clone(),
                })
            }
            (DescriptorEntryType::Generic, _, _) => Err(FieldError::new(
                "generic",
                "a Generic entry needs generic (and no header)",
            )),
            (DescriptorEntryType::Header, None, Some(header)) => {
                let name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                    FieldError::new("header", format!("{header:?} is not a header name"))
                })?;
                Ok(DescriptorEntry::Header {
                    name,
                    key: header.clone(),
                })
            }
            (DescriptorEntryType::Header, _, _) => Err(FieldError::new(
                "header",
                "a Header entry needs header (and no generic)",
            )),
            (DescriptorEntryType::RemoteAddress, None, None) => Ok(DescriptorEntry::RemoteAddress),
            (DescriptorEntryType::RemoteAddress, _, _) => Err(only("RemoteAddress")),
            (DescriptorEntryType::Path, None, None) => Ok(DescriptorEntry::Path),
            (DescriptorEntryType::Path, _, _) => Err(only("Path")),
        }
    }
}

/// kgateway `RateLimitDescriptorEntryGeneric`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenericEntrySpec {
    /// The entry's key.
    pub key: String,
    /// The entry's value.
    pub value: String,
}

/// kgateway `RateLimitProvider` (`GatewayExtension.spec.rateLimit`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitProviderSpec {
    /// Where the service is; the smaller of its `requestTimeout` and `timeout` bounds a
    /// call.
    pub grpc_service: ExtGrpcServiceSpec,
    /// The service's configuration domain for these requests.
    pub domain: String,
    /// Let requests through when the service cannot be asked (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
    /// How long a call may take (default 100 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// `Off` (default) or `DraftVersion03`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_rate_limit_headers: Option<XRateLimitHeadersSpec>,
}

impl RateLimitProviderSpec {
    /// Validates the provider; the compiler resolves `grpcService.backendRef` into the
    /// endpoints itself. Errors name the field (`grpcService.authority`, `timeout`).
    pub fn compile(&self) -> Result<RateLimitProvider, FieldError> {
        if self.domain.is_empty() {
            return Err(FieldError::new("domain", "must not be empty"));
        }
        let timeout = self.timeout.map_or(DEFAULT_TIMEOUT, |timeout| timeout.0);
        if timeout.is_zero() {
            return Err(FieldError::new("timeout", "must be more than 0"));
        }
        let grpc = self
            .grpc_service
            .compile()
            .map_err(|e| e.within("grpcService"))?;
        let timeout = grpc
            .request_timeout
            .map_or(timeout, |request_timeout| timeout.min(request_timeout));
        Ok(RateLimitProvider {
            domain: self.domain.clone(),
            authority: grpc.authority,
            fail_open: self.fail_open.unwrap_or(true),
            timeout,
            x_rate_limit_headers: match self.x_rate_limit_headers {
                None | Some(XRateLimitHeadersSpec::Off) => XRateLimitHeaders::Off,
                Some(XRateLimitHeadersSpec::DraftVersion03) => XRateLimitHeaders::DraftVersion03,
            },
        })
    }
}

/// kgateway `XRateLimitHeadersStandard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum XRateLimitHeadersSpec {
    /// No headers.
    Off,
    /// The `draft-polli-ratelimit-headers-03` headers.
    DraftVersion03,
}
