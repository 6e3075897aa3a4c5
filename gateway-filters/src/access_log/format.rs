//! Envoy's command operators, parsed once into a template of parts.

use http::HeaderName;
use serde_json::Value as Json;

use super::time::TimeFormat;
use crate::spec::FieldError;

/// The header Envoy keeps the pre-rewrite path in.
pub(crate) static X_ENVOY_ORIGINAL_PATH: HeaderName =
    HeaderName::from_static("x-envoy-original-path");

/// `:authority` falls back on this header.
pub(crate) static HOST: HeaderName = HeaderName::from_static("host");

/// Where a `%REQ(...)%` value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RequestSource {
    /// `:method`.
    Method,
    /// `:path` (with the query).
    Path,
    /// `:authority` (the `host` header, or the URI's authority).
    Authority,
    /// `:scheme`.
    Scheme,
    /// A request header.
    Header(HeaderName),
}

/// Which path `%PATH(X:Y)%` logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathSource {
    /// `ORIG`: `x-envoy-original-path` only.
    Original,
    /// `PATH`: `:path` only.
    Path,
    /// `ORIG_OR_PATH` (the default): the first of the two that is present.
    OriginalOrPath,
}

/// One command operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Operator {
    /// `%START_TIME%`, `%START_TIME(format)%`.
    StartTime(TimeFormat),
    /// `%REQ(X?Y)%`.
    Request(RequestSource, Option<RequestSource>),
    /// `%RESP(X?Y)%`.
    Response(HeaderName, Option<HeaderName>),
    /// `%PATH(X:Y)%`; `true` keeps the query (`WQ`, the default).
    PathOf(bool, PathSource),
    /// `%PROTOCOL%`.
    Protocol,
    /// `%RESPONSE_CODE%`.
    ResponseCode,
    /// `%RESPONSE_FLAGS%`.
    ResponseFlags,
    /// `%BYTES_RECEIVED%`.
    BytesReceived,
    /// `%BYTES_SENT%`.
    BytesSent,
    /// `%DURATION%`.
    Duration,
    /// `%RESPONSE_DURATION%`.
    ResponseDuration,
    /// `%UPSTREAM_HOST%`, `%UPSTREAM_REMOTE_ADDRESS%`; `false` drops the port.
    UpstreamHost(bool),
    /// `%UPSTREAM_CLUSTER%`: the backend's name, which responses do not carry yet.
    UpstreamCluster,
    /// `%ROUTE_NAME%`.
    RouteName,
    /// `%STREAM_ID%`: the request id.
    StreamId,
    /// `%DOWNSTREAM_REMOTE_ADDRESS%` (the client address); `false` drops the port.
    DownstreamRemote(bool),
    /// `%DOWNSTREAM_REMOTE_PORT%`.
    DownstreamRemotePort,
    /// `%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%` (the peer); `false` drops the port.
    DownstreamDirectRemote(bool),
    /// `%DOWNSTREAM_LOCAL_ADDRESS%`; `false` drops the port.
    DownstreamLocal(bool),
    /// `%DOWNSTREAM_LOCAL_PORT%`.
    DownstreamLocalPort,
    /// `%REQUESTED_SERVER_NAME%`: the TLS SNI.
    RequestedServerName,
}

/// An operator and its `:Z` length limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Command {
    pub(crate) operator: Operator,
    pub(crate) max_len: Option<usize>,
}

/// A piece of a format string.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Command(Command),
}

/// One part of a compiled format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Bytes copied as they are (text, or JSON already serialized).
    Raw(Box<[u8]>),
    /// A value as text (`-` when unset).
    Text(Command),
    /// A value as text, JSON-escaped (inside a JSON string whose quotes are `Raw`).
    Escaped(Command),
    /// A typed JSON value (`null` when unset, numbers for counts and durations).
    Typed(Command),
}

/// A compiled format: what to write for each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) parts: Box<[Part]>,
}

impl Template {
    /// A format string (`stringFormat`). Errors are reasons, without a field.
    pub(crate) fn text(format: &str) -> Result<Self, String> {
        let mut builder = Builder::default();
        for piece in parse(format)? {
            match piece {
                Piece::Literal(text) => builder.raw(text.as_bytes()),
                Piece::Command(command) => builder.part(Part::Text(command)),
            }
        }
        Ok(builder.finish())
    }

    /// A format dictionary (`jsonFormat`): an object whose string values are format
    /// strings. A value that is exactly one operator is typed; other strings are text.
    /// Errors name the key path within the object.
    pub(crate) fn json(format: &Json) -> Result<Self, FieldError> {
        if !format.is_object() {
            return Err(FieldError::new(
                "",
                "must be an object of keys to format strings",
            ));
        }
        let mut builder = Builder::default();
        json_value(format, "", &mut builder)?;
        Ok(builder.finish())
    }

    /// Every command, in order.
    pub(crate) fn commands(&self) -> impl Iterator<Item = &Command> {
        self.parts.iter().filter_map(|part| match part {
            Part::Raw(_) => None,
            Part::Text(command) | Part::Escaped(command) | Part::Typed(command) => Some(command),
        })
    }

    /// The request headers the template reads.
    pub(crate) fn request_headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.commands()
            .flat_map(|command| match &command.operator {
                Operator::Request(main, alt) => [Some(main), alt.as_ref()],
                _ => [None, None],
            })
            .flatten()
            .filter_map(|source| match source {
                RequestSource::Header(name) => Some(name),
                RequestSource::Authority => Some(&HOST),
                _ => None,
            })
            .chain(
                self.commands()
                    .filter_map(|command| match command.operator {
                        Operator::PathOf(_, PathSource::Original | PathSource::OriginalOrPath) => {
                            Some(&X_ENVOY_ORIGINAL_PATH)
                        }
                        _ => None,
                    }),
            )
    }

    /// The response headers the template reads.
    pub(crate) fn response_headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.commands()
            .flat_map(|command| match &command.operator {
                Operator::Response(main, alt) => [Some(main), alt.as_ref()],
                _ => [None, None],
            })
            .flatten()
    }
}

/// Collects parts, merging adjacent raw bytes.
#[derive(Default)]
struct Builder {
    parts: Vec<Part>,
    raw: Vec<u8>,
}

impl Builder {
    fn raw(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
    }

    fn part(&mut self, part: Part) {
        if !self.raw.is_empty() {
            let raw = std::mem::take(&mut self.raw);
            self.parts.push(Part::Raw(raw.into()));
        }
        self.parts.push(part);
    }

    fn finish(mut self) -> Template {
        if !self.raw.is_empty() {
            self.parts.push(Part::Raw(self.raw.into()));
        }
        Template {
            parts: self.parts.into(),
        }
    }
}

/// Compiles one JSON value of a format dictionary at `path`.
fn json_value(value: &Json, path: &str, builder: &mut Builder) -> Result<(), FieldError> {
    match value {
        Json::Object(map) => {
            builder.raw(b"{");
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    builder.raw(b",");
                }
                builder.raw(Json::from(key.as_str()).to_string().as_bytes());
                builder.raw(b":");
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                json_value(value, &path, builder)?;
            }
            builder.raw(b"}");
        }
        Json::Array(items) => {
            builder.raw(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    builder.raw(b",");
                }
                json_value(item, &format!("{path}[{i}]"), builder)?;
            }
            builder.raw(b"]");
        }
        Json::String(format) => {
            let pieces = parse(format).map_err(|reason| FieldError::new(path, reason))?;
            if let [Piece::Command(command)] = pieces.as_slice() {
                builder.part(Part::Typed(command.clone()));
                return Ok(());
            }
            builder.raw(b"\"");
            for piece in pieces {
                match piece {
                    Piece::Literal(text) => {
                        let quoted = Json::from(text).to_string();
                        builder.raw(&quoted.as_bytes()[1..quoted.len() - 1]);
                    }
                    Piece::Command(command) => builder.part(Part::Escaped(command)),
                }
            }
            builder.raw(b"\"");
        }
        Json::Null | Json::Bool(_) | Json::Number(_) => builder.raw(value.to_string().as_bytes()),
    }
    Ok(())
}

/// Splits a format string into literals and commands: `%NAME%`, `%NAME(args)%`,
/// `%NAME(args):Z%`, with `%%` for a literal `%`.
fn parse(format: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        literal.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            literal.push('%');
            rest = tail;
            continue;
        }
        let position = format.len() - rest.len() + at;
        let (command, tail) =
            parse_command(after).map_err(|reason| format!("at position {position}: {reason}"))?;
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(Piece::Command(command));
        rest = tail;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// Parses `NAME(args):Z%` (the text after an opening `%`); returns the command and the
/// text after its closing `%`.
fn parse_command(text: &str) -> Result<(Command, &str), String> {
    let name_len = text
        .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    let (name, mut rest) = text.split_at(name_len);
    if name.is_empty() {
        return Err("a % that starts no command operator (write %% for a literal %)".into());
    }
    let mut args = None;
    if let Some(after) = rest.strip_prefix('(') {
        let close = after
            .find(')')
            .ok_or_else(|| format!("%{name}( has no closing )"))?;
        args = Some(&after[..close]);
        rest = &after[close + 1..];
    }
    let mut max_len = None;
    if let Some(after) = rest.strip_prefix(':') {
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let limit = after[..digits]
            .parse::<usize>()
            .map_err(|_| format!("%{name}: a : must be followed by a length"))?;
        max_len = Some(limit);
        rest = &after[digits..];
    }
    let rest = rest
        .strip_prefix('%')
        .ok_or_else(|| format!("%{name} is not closed with %"))?;
    let operator = operator(name, args)?;
    Ok((Command { operator, max_len }, rest))
}

/// The operator called `name`, with its arguments checked.
fn operator(name: &str, args: Option<&str>) -> Result<Operator, String> {
    let simple = |operator: Operator| match args {
        None => Ok(operator),
        Some(_) => Err(format!("%{name}% takes no arguments")),
    };
    match name {
        "START_TIME" => Ok(Operator::StartTime(match args {
            None | Some("") => TimeFormat::iso8601_millis(),
            Some(format) => TimeFormat::parse(format)?,
        })),
        "REQ" => {
            let (main, alt) = header_args(name, args)?;
            Ok(Operator::Request(
                request_source(main)?,
                alt.map(request_source).transpose()?,
            ))
        }
        "RESP" => {
            let (main, alt) = header_args(name, args)?;
            Ok(Operator::Response(
                response_header(main)?,
                alt.map(response_header).transpose()?,
            ))
        }
        "PATH" => path_args(args),
        "PROTOCOL" => simple(Operator::Protocol),
        "RESPONSE_CODE" => simple(Operator::ResponseCode),
        "RESPONSE_FLAGS" => simple(Operator::ResponseFlags),
        "BYTES_RECEIVED" => simple(Operator::BytesReceived),
        "BYTES_SENT" => simple(Operator::BytesSent),
        "DURATION" => simple(Operator::Duration),
        "RESPONSE_DURATION" => simple(Operator::ResponseDuration),
        "UPSTREAM_HOST" | "UPSTREAM_REMOTE_ADDRESS" => simple(Operator::UpstreamHost(true)),
        "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => simple(Operator::UpstreamHost(false)),
        "UPSTREAM_CLUSTER" => simple(Operator::UpstreamCluster),
        "ROUTE_NAME" => simple(Operator::RouteName),
        "STREAM_ID" => simple(Operator::StreamId),
        "DOWNSTREAM_REMOTE_ADDRESS" => simple(Operator::DownstreamRemote(true)),
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => simple(Operator::DownstreamRemote(false)),
        "DOWNSTREAM_REMOTE_PORT" => simple(Operator::DownstreamRemotePort),
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS" => simple(Operator::DownstreamDirectRemote(true)),
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT" => {
            simple(Operator::DownstreamDirectRemote(false))
        }
        "DOWNSTREAM_LOCAL_ADDRESS" => simple(Operator::DownstreamLocal(true)),
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT" => simple(Operator::DownstreamLocal(false)),
        "DOWNSTREAM_LOCAL_PORT" => simple(Operator::DownstreamLocalPort),
        "REQUESTED_SERVER_NAME" => simple(Operator::RequestedServerName),
        _ => Err(format!("unknown command operator %{name}%")),
    }
}

/// `X` or `X?Y`.
fn header_args<'a>(
    name: &str,
    args: Option<&'a str>,
) -> Result<(&'a str, Option<&'a str>), String> {
    let args = args
        .filter(|args| !args.is_empty())
        .ok_or_else(|| format!("%{name}(...)% needs a header name"))?;
    Ok(match args.split_once('?') {
        Some((main, alt)) => (main, Some(alt)),
        None => (args, None),
    })
}

fn request_source(name: &str) -> Result<RequestSource, String> {
    if name.starts_with(':') {
        return match name.to_ascii_lowercase().as_str() {
            ":method" => Ok(RequestSource::Method),
            ":path" => Ok(RequestSource::Path),
            ":authority" => Ok(RequestSource::Authority),
            ":scheme" => Ok(RequestSource::Scheme),
            _ => Err(format!("{name} is not a request pseudo-header")),
        };
    }
    header_name(name).map(RequestSource::Header)
}

fn response_header(name: &str) -> Result<HeaderName, String> {
    if name.starts_with(':') {
        return Err(format!("{name}: response pseudo-headers are not supported"));
    }
    header_name(name)
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name"))
}

/// `%PATH%`, `%PATH(WQ|NQ)%`, `%PATH(WQ|NQ:ORIG|PATH|ORIG_OR_PATH)%`.
fn path_args(args: Option<&str>) -> Result<Operator, String> {
    let (query, source) = match args.unwrap_or("").split_once(':') {
        Some((query, source)) => (query, source),
        None => (args.unwrap_or(""), ""),
    };
    let with_query = match query {
        "" | "WQ" => true,
        "NQ" => false,
        other => return Err(format!("%PATH({other}...)%: expected WQ or NQ")),
    };
    let source = match source {
        "" | "ORIG_OR_PATH" => PathSource::OriginalOrPath,
        "ORIG" => PathSource::Original,
        "PATH" => PathSource::Path,
        other => {
            return Err(format!(
                "%PATH(...:{other})%: expected ORIG, PATH or ORIG_OR_PATH"
            ));
        }
    };
    Ok(Operator::PathOf(with_query, source))
}
