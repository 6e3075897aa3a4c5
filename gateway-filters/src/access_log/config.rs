//! The validated access log configuration.

use http::HeaderName;
use regex::Regex;
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

use super::format::Template;
use crate::spec::FieldError;

/// How many lines may wait for a sink's writer thread before new ones are dropped.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

/// Envoy's default format string (its trailing newline is the line end every format gets).
pub const ENVOY_DEFAULT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% \
%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% \
%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \
\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \
\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"";

/// Access logging for a listener: every entry writes one line per request that passes its
/// filter. See the [module docs](super).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogConfig {
    /// The logs, each with its own file, format and filter (kgateway's `accessLog` list).
    pub entries: Vec<AccessLogEntry>,
    /// Lines that may wait for a file's writer before further ones are dropped (and
    /// counted). A file shared by several configurations keeps the capacity it was first
    /// opened with.
    pub queue_capacity: usize,
}

impl Default for AccessLogConfig {
    /// No logs, and a queue of [`DEFAULT_QUEUE_CAPACITY`] lines per file.
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

/// One access log: where, how, and for which requests.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogEntry {
    /// The file the lines are appended to (`/dev/stdout` and `/dev/stderr` work).
    pub path: PathBuf,
    /// The line format.
    pub format: LogFormat,
    /// Which requests are logged; all of them when `None`.
    pub filter: Option<LogFilter>,
}

/// Where a [`LogFormat`] came from, kept for `/config_dump`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum FormatSource {
    Text(String),
    Json(serde_json::Value),
}

/// A parsed line format: a format string or a format dictionary (JSON), with Envoy's
/// command operators resolved once.
#[derive(Clone, Debug)]
pub struct LogFormat {
    source: FormatSource,
    pub(crate) template: Template,
}

impl LogFormat {
    /// Envoy's default format ([`ENVOY_DEFAULT_FORMAT`]).
    pub fn envoy_default() -> Self {
        Self {
            source: FormatSource::Text(ENVOY_DEFAULT_FORMAT.to_owned()),
            // The default is fixed and tested to parse.
            template: Template::text(ENVOY_DEFAULT_FORMAT).unwrap_or(Template {
                parts: Box::new([]),
            }),
        }
    }

    /// A format string (`stringFormat`). Every line ends with one newline: a trailing
    /// newline in `format` — or the two characters `\n`, as YAML single quotes leave it —
    /// is that line end, not an extra one. An empty format is Envoy's default. Errors name
    /// no field (the caller knows where the format came from).
    pub fn text(format: &str) -> Result<Self, FieldError> {
        if format.is_empty() {
            return Ok(Self::envoy_default());
        }
        let body = format
            .strip_suffix('\n')
            .or_else(|| format.strip_suffix("\\n"))
            .unwrap_or(format);
        let template = Template::text(body).map_err(|reason| FieldError::new("", reason))?;
        Ok(Self {
            source: FormatSource::Text(format.to_owned()),
            template,
        })
    }

    /// A format dictionary (`jsonFormat`): an object whose string values are format
    /// strings, written as one JSON object per line. A value that is exactly one command
    /// operator is typed (numbers for codes, counts and durations, `null` when unset);
    /// other strings are text with `-` for unset values. Errors name the key.
    pub fn json(format: &serde_json::Value) -> Result<Self, FieldError> {
        Ok(Self {
            source: FormatSource::Json(format.clone()),
            template: Template::json(format)?,
        })
    }
}

impl Serialize for LogFormat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(serializer)
    }
}

/// A comparison operator of the status code and duration filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum ComparisonOp {
    /// Equal.
    #[serde(rename = "EQ")]
    Eq,
    /// Greater or equal.
    #[serde(rename = "GE")]
    Ge,
    /// Less or equal.
    #[serde(rename = "LE")]
    Le,
}

/// `value op this.value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// How to compare.
    pub op: ComparisonOp,
    /// What to compare with.
    pub value: u64,
}

impl Comparison {
    /// Whether `value` passes.
    pub fn matches(&self, value: u64) -> bool {
        match self.op {
            ComparisonOp::Eq => value == self.value,
            ComparisonOp::Ge => value >= self.value,
            ComparisonOp::Le => value <= self.value,
        }
    }
}

/// How a request header's value is matched.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HeaderValueMatch {
    /// The whole value equals this.
    Exact(String),
    /// The whole value matches this (anchored) expression.
    RegularExpression(#[serde(serialize_with = "gateway_core::serde_http::regex")] Regex),
}

/// A request header condition; a request without the header does not match.
#[derive(Clone, Debug, Serialize)]
pub struct HeaderCondition {
    /// The header.
    #[serde(serialize_with = "gateway_core::serde_http::header_name")]
    pub name: HeaderName,
    /// The match on its (first) value.
    pub value: HeaderValueMatch,
}

/// Which requests a log records (Envoy's `AccessLogFilter`, as far as kgateway exposes
/// and this gateway implements it).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LogFilter {
    /// The response code compares true (`0` when no response was sent).
    StatusCode(Comparison),
    /// The total duration in milliseconds compares true.
    Duration(Comparison),
    /// The request is not a health check answered by the gateway.
    NotHealthCheck,
    /// The request header matches.
    Header(HeaderCondition),
    /// The response carries one of these flags (short codes such as `RL`, `UH`).
    ResponseFlags(Vec<String>),
    /// Every filter matches (none: always).
    And(Vec<LogFilter>),
    /// At least one filter matches.
    Or(Vec<LogFilter>),
}
