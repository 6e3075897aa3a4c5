//! kgateway's `AccessLog` type (`httpSettings.accessLog[]`).

use http::HeaderName;
use regex::RegexBuilder;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::{
    AccessLogConfig, AccessLogEntry, Comparison, ComparisonOp, HeaderCondition, HeaderValueMatch,
    LogFilter, LogFormat,
};
use crate::spec::FieldError;

/// One `httpSettings.accessLog` entry. Only file sinks are implemented: an entry with a
/// `grpcService` or `openTelemetry` sink is reported as an unimplemented field.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogSpec {
    /// Write to a local file (or `/dev/stdout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sink: Option<FileSinkSpec>,
    /// Which requests are logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<AccessLogFilterSpec>,
}

/// kgateway `FileSink`: a path and one of `stringFormat` / `jsonFormat`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSinkSpec {
    /// The file the lines are appended to.
    pub path: String,
    /// An Envoy format string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_format: Option<String>,
    /// An Envoy format dictionary: an object of keys to format strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_format: Option<serde_json::Value>,
}

/// kgateway `AccessLogFilter`: exactly one filter, or `andFilter` / `orFilter` of them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogFilterSpec {
    /// Compare the response code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code_filter: Option<ComparisonSpec>,
    /// Compare the total duration in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_filter: Option<ComparisonSpec>,
    /// Leave out health checks the gateway answered (when `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_health_check_filter: Option<bool>,
    /// Match a request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_filter: Option<HeaderFilterSpec>,
    /// Match response flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_flag_filter: Option<ResponseFlagFilterSpec>,
    /// All of these (at least two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and_filter: Option<Vec<FilterTypeSpec>>,
    /// Any of these (at least two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or_filter: Option<Vec<FilterTypeSpec>>,
}

/// kgateway `FilterType`: exactly one filter.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterTypeSpec {
    /// Compare the response code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code_filter: Option<ComparisonSpec>,
    /// Compare the total duration in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_filter: Option<ComparisonSpec>,
    /// Leave out health checks the gateway answered (when `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_health_check_filter: Option<bool>,
    /// Match a request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_filter: Option<HeaderFilterSpec>,
    /// Match response flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_flag_filter: Option<ResponseFlagFilterSpec>,
}

/// kgateway `ComparisonFilter` (status code and duration filters).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonSpec {
    /// `EQ`, `GE` or `LE`.
    pub op: ComparisonOp,
    /// The value compared with (0 to 4294967295).
    pub value: i64,
}

/// kgateway `HeaderFilter`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderFilterSpec {
    /// A Gateway API `HTTPHeaderMatch`.
    pub header: HeaderMatchSpec,
}

/// Gateway API `HTTPHeaderMatch`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatchSpec {
    /// `Exact` (default) or `RegularExpression`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<HeaderMatchType>,
    /// The header name.
    pub name: String,
    /// The value to match.
    pub value: String,
}

/// Gateway API `HeaderMatchType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum HeaderMatchType {
    /// The whole value equals.
    Exact,
    /// The whole value matches a regular expression.
    RegularExpression,
}

/// kgateway `ResponseFlagFilter`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseFlagFilterSpec {
    /// Envoy response flag short codes (`RL`, `UH`, `UF`, ...).
    pub flags: Vec<String>,
}

/// The response flag codes Envoy accepts in a `ResponseFlagFilter`, plus the gateway's
/// own `IB` (invalid backend reference).
const KNOWN_FLAGS: &[&str] = &[
    "UH", "UF", "UO", "NR", "URX", "NC", "DT", "DC", "LH", "UT", "LR", "UR", "UC", "DI", "FI",
    "RL", "UAEX", "RLSE", "IH", "SI", "DPE", "UPE", "UMSDR", "OM", "DF", "DO", "DR", "UDO", "IB",
];

/// Compiles a whole `accessLog` list; errors are prefixed with the entry index
/// (`[1].fileSink.jsonFormat.code`).
pub fn compile(specs: &[AccessLogSpec]) -> Result<AccessLogConfig, FieldError> {
    let entries = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| spec.compile().map_err(|e| e.within(&format!("[{i}]"))))
        .collect::<Result<_, _>>()?;
    Ok(AccessLogConfig {
        entries,
        ..AccessLogConfig::default()
    })
}

impl AccessLogSpec {
    /// Parses the format and the filter of one entry.
    pub fn compile(&self) -> Result<AccessLogEntry, FieldError> {
        let sink = self.file_sink.as_ref().ok_or_else(|| {
            FieldError::new(
                "fileSink",
                "required: only file sinks are supported (grpcService and openTelemetry are not)",
            )
        })?;
        if sink.path.is_empty() {
            return Err(FieldError::new("fileSink.path", "must name a file"));
        }
        let format = match (&sink.string_format, &sink.json_format) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "fileSink",
                    "exactly one of stringFormat and jsonFormat may be set",
                ));
            }
            (Some(text), None) => {
                LogFormat::text(text).map_err(|e| e.within("fileSink.stringFormat"))?
            }
            (None, Some(json)) => {
                LogFormat::json(json).map_err(|e| e.within("fileSink.jsonFormat"))?
            }
            (None, None) => LogFormat::envoy_default(),
        };
        let filter = self
            .filter
            .as_ref()
            .map(|filter| filter.compile().map_err(|e| e.within("filter")))
            .transpose()?;
        Ok(AccessLogEntry {
            path: PathBuf::from(&sink.path),
            format,
            filter,
        })
    }
}

impl AccessLogFilterSpec {
    /// The filter; exactly one field must be set.
    pub fn compile(&self) -> Result<LogFilter, FieldError> {
        let leaf = FilterTypeSpec {
            status_code_filter: self.status_code_filter.clone(),
            duration_filter: self.duration_filter.clone(),
            not_health_check_filter: self.not_health_check_filter,
            header_filter: self.header_filter.clone(),
            response_flag_filter: self.response_flag_filter.clone(),
        };
        let set = leaf.set_count()
            + usize::from(self.and_filter.is_some())
            + usize::from(self.or_filter.is_some());
        if set != 1 {
            return Err(FieldError::new(
                "",
                "exactly one filter (or andFilter / orFilter) must be set",
            ));
        }
        let group = |filters: &[FilterTypeSpec], field: &str| {
            if filters.len() < 2 {
                return Err(FieldError::new(field, "must list at least two filters"));
            }
            filters
                .iter()
                .enumerate()
                .map(|(i, filter)| {
                    filter
                        .compile()
                        .map_err(|e| e.within(&format!("{field}[{i}]")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        match (&self.and_filter, &self.or_filter) {
            (Some(filters), _) => group(filters, "andFilter").map(LogFilter::And),
            (_, Some(filters)) => group(filters, "orFilter").map(LogFilter::Or),
            (None, None) => leaf.compile(),
        }
    }
}

impl FilterTypeSpec {
    fn set_count(&self) -> usize {
        usize::from(self.status_code_filter.is_some())
            + usize::from(self.duration_filter.is_some())
            + usize::from(self.not_health_check_filter.is_some())
            + usize::from(self.header_filter.is_some())
            + usize::from(self.response_flag_filter.is_some())
    }

    /// The filter; exactly one field must be set.
    pub fn compile(&self) -> Result<LogFilter, FieldError> {
        if self.set_count() != 1 {
            return Err(FieldError::new("", "exactly one filter must be set"));
        }
        if let Some(comparison) = &self.status_code_filter {
            return comparison
                .compile()
                .map(LogFilter::StatusCode)
                .map_err(|e| e.within("statusCodeFilter"));
        }
        if let Some(comparison) = &self.duration_filter {
            return comparison
                .compile()
                .map(LogFilter::Duration)
                .map_err(|e| e.within("durationFilter"));
        }
        if let Some(not_health_check) = self.not_health_check_filter {
            // `false` asks for nothing: an empty `And` lets every request through.
            return Ok(if not_health_check {
                LogFilter::NotHealthCheck
            } else {
                LogFilter::And(Vec::new())
            });
        }
        if let Some(header) = &self.header_filter {
            return header
                .compile()
                .map_err(|e| e.within("headerFilter.header"));
        }
        if let Some(flags) = &self.response_flag_filter {
            return flags.compile().map_err(|e| e.within("responseFlagFilter"));
        }
        Err(FieldError::new("", "exactly one filter must be set"))
    }
}

impl ComparisonSpec {
    fn compile(&self) -> Result<Comparison, FieldError> {
        let value = u32::try_from(self.value).map_err(|_| {
            FieldError::new("value", format!("{} is not in 0..=4294967295", self.value))
        })?;
        Ok(Comparison {
            op: self.op,
            value: u64::from(value),
        })
    }
}

impl HeaderFilterSpec {
    fn compile(&self) -> Result<LogFilter, FieldError> {
        let header = &self.header;
        let name = HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| {
            FieldError::new("name", format!("{:?} is not a header name", header.name))
        })?;
        let value = match header.kind.unwrap_or(HeaderMatchType::Exact) {
            HeaderMatchType::Exact => HeaderValueMatch::Exact(header.value.clone()),
            HeaderMatchType::RegularExpression => {
                let regex = RegexBuilder::new(&format!("^(?:{})$", header.value))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        FieldError::new("value", format!("invalid regular expression: {e}"))
                    })?;
                HeaderValueMatch::RegularExpression(regex)
            }
        };
        Ok(LogFilter::Header(HeaderCondition { name, value }))
    }
}

impl ResponseFlagFilterSpec {
    fn compile(&self) -> Result<LogFilter, FieldError> {
        if self.flags.is_empty() {
            return Err(FieldError::new("flags", "must list at least one flag"));
        }
        for (i, flag) in self.flags.iter().enumerate() {
            if !KNOWN_FLAGS.contains(&flag.as_str()) {
                return Err(FieldError::new(
                    format!("flags[{i}]"),
                    format!("{flag:?} is not a response flag (e.g. RL, UH, UF, NR)"),
                ));
            }
        }
        Ok(LogFilter::ResponseFlags(self.flags.clone()))
    }
}
