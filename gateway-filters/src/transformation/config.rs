//! The compiled transformation: every template compiled once, what each direction needs to
//! read, and how rendered values are applied to a message.

use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri,
    header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING},
    request,
    uri::{Authority, PathAndQuery},
};
use minijinja::{Environment, value::Value};
use serde::{Serialize, Serializer};
use std::{collections::HashSet, fmt, sync::Arc};

use super::{
    BodyParseBehavior, TransformSpec, TransformationSpec,
    template::{self, HELPERS, ResponseView, Scope, View},
};
use crate::spec::FieldError;

/// The most body bytes a transformation reads into memory, per request and per response,
/// unless [`TransformationConfig::with_body_limit`] says otherwise: 1 MiB, Envoy's default
/// buffer limit, which bounds kgateway's transformation filter the same way.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// Most entries kgateway accepts in `set`, `add` and `remove`.
const MAX_ENTRIES: usize = 16;
/// Longest header name kgateway accepts.
const MAX_HEADER_NAME_LENGTH: usize = 256;

/// A validated kgateway `transformation`, templates compiled; see the [module docs](super).
/// Built by [`TransformationSpec::compile`].
#[derive(Clone)]
pub struct TransformationConfig {
    spec: TransformationSpec,
    body_limit: usize,
    pub(super) compiled: Arc<Compiled>,
}

impl TransformationConfig {
    /// The same transformation reading at most `limit` body bytes per message (see
    /// [`DEFAULT_BODY_LIMIT`]).
    #[must_use]
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// The most body bytes read per message.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The spec this was compiled from.
    pub fn spec(&self) -> &TransformationSpec {
        &self.spec
    }
}

impl fmt::Debug for TransformationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransformationConfig")
            .field("spec", &self.spec)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TransformationConfig {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.body_limit == other.body_limit
    }
}

impl Eq for TransformationConfig {}

impl Serialize for TransformationConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut state = serializer.serialize_struct("TransformationConfig", 3)?;
        state.serialize_field("request", &self.spec.request)?;
        state.serialize_field("response", &self.spec.response)?;
        state.serialize_field("bodyLimit", &self.body_limit)?;
        state.end()
    }
}

/// The environment holding every template, and both directions' plans.
pub(super) struct Compiled {
    pub(super) env: Environment<'static>,
    pub(super) request: Option<Transform>,
    pub(super) response: Option<Transform>,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled")
            .field("request", &self.request.is_some())
            .field("response", &self.response.is_some())
            .finish_non_exhaustive()
    }
}

/// Which message a transform applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

/// One direction's transform.
pub(super) struct Transform {
    set: Vec<HeaderOp>,
    add: Vec<HeaderOp>,
    remove: Vec<HeaderName>,
    /// The new body, when the body is replaced.
    body: Option<BodyText>,
    /// The body is parsed as JSON (`parseAs: AsJson`).
    pub(super) parse_json: bool,
    /// The incoming body must be read: a template reads it, or it is parsed as JSON.
    pub(super) reads_body: bool,
    /// Templates to render per message (static values are rendered at compile time).
    templates: usize,
    /// A response template reads the request (`request_header`).
    pub(super) reads_request: bool,
}

/// Where a `set` or `add` entry goes.
#[derive(Debug)]
pub(super) enum Target {
    /// A header.
    Header(HeaderName),
    /// `:path`: the request path and query.
    Path,
    /// `:method`.
    Method,
    /// `:authority`: `Host` and the URI authority.
    Authority,
    /// `:status`.
    Status,
}

/// A `set` or `add` entry.
struct HeaderOp {
    target: Target,
    value: HeaderText,
}

/// A header value: none (`value` empty), known at compile time, or a template.
enum HeaderText {
    Empty,
    Static(HeaderValue),
    Template(Box<str>),
}

/// A new body: known at compile time, or a template.
enum BodyText {
    Static(Bytes),
    Template(Box<str>),
}

/// A template failed to render; the message cannot be transformed.
#[derive(Debug)]
pub(super) struct RenderError {
    /// The template's field (`request.set[1].value`).
    pub(super) field: Box<str>,
    pub(super) error: minijinja::Error,
}

/// Rendered values of one message, in the order of the transform's templates.
pub(super) struct Rendered {
    headers: Vec<Option<HeaderValue>>,
    body: Option<Bytes>,
}

// === compile ===

impl TransformationConfig {
    /// Compiles `spec` (see [`TransformationSpec::compile`]).
    pub(super) fn compile(spec: &TransformationSpec) -> Result<Self, FieldError> {
        let mut compiler = Compiler::new();
        let request = spec
            .request
            .as_ref()
            .map(|transform| compiler.transform(transform, Direction::Request))
            .transpose()?;
        let response = spec
            .response
            .as_ref()
            .map(|transform| compiler.transform(transform, Direction::Response))
            .transpose()?;
        let mut env = compiler.env;
        if compiler.uses_env {
            template::add_env_function(&mut env);
        }
        Ok(Self {
            spec: spec.clone(),
            body_limit: DEFAULT_BODY_LIMIT,
            compiled: Arc::new(Compiled {
                env,
                request,
                response,
            }),
        })
    }
}

/// Compiles transforms into one environment.
struct Compiler {
    env: Environment<'static>,
    /// MiniJinja's global functions (`range`, `dict`, ...): not JSON fields.
    builtins: HashSet<String>,
    /// Some template calls `env()`.
    uses_env: bool,
}

/// What the templates of one transform read.
#[derive(Default)]
struct Reads {
    body: bool,
    request: bool,
}

impl Compiler {
    fn new() -> Self {
        let env = template::environment();
        let builtins = env.globals().map(|(name, _)| name.to_owned()).collect();
        Self {
            env,
            builtins,
            uses_env: false,
        }
    }

    fn transform(
        &mut self,
        spec: &TransformSpec,
        direction: Direction,
    ) -> Result<Transform, FieldError> {
        let prefix = match direction {
            Direction::Request => "request",
            Direction::Response => "response",
        };
        self.transform_within(spec, direction, prefix)
            .map_err(|e| e.within(prefix))
    }

    fn transform_within(
        &mut self,
        spec: &TransformSpec,
        direction: Direction,
        prefix: &str,
    ) -> Result<Transform, FieldError> {
        for (field, len) in [
            ("set", spec.set.len()),
            ("add", spec.add.len()),
            ("remove", spec.remove.len()),
        ] {
            if len > MAX_ENTRIES {
                return Err(FieldError::new(
                    field,
                    format!("must have at most {MAX_ENTRIES} entries"),
                ));
            }
        }
        let parse_as = spec.body.as_ref().map(|body| body.parse_as);
        let mut reads = Reads::default();
        let mut templates = 0;

        let mut set = Vec::with_capacity(spec.set.len());
        let mut seen = HashSet::new();
        for (index, entry) in spec.set.iter().enumerate() {
            let field = format!("set[{index}]");
            let target = target(&entry.name, direction)
                .map_err(|reason| FieldError::new(format!("{field}.name"), reason))?;
            if !seen.insert(target_key(&target).to_owned()) {
                return Err(FieldError::new(
                    format!("{field}.name"),
                    "duplicate header name",
                ));
            }
            let value = self.header_text(
                &format!("{prefix}.{field}.value"),
                &entry.value,
                &target,
                parse_as,
                &mut reads,
            )?;
            templates += usize::from(matches!(value, HeaderText::Template(_)));
            set.push(HeaderOp { target, value });
        }

        let mut add = Vec::with_capacity(spec.add.len());
        let mut seen = HashSet::new();
        for (index, entry) in spec.add.iter().enumerate() {
            let field = format!("add[{index}]");
            let target = match target(&entry.name, direction) {
                Ok(Target::Header(name)) => Target::Header(name),
                Ok(_) => {
                    return Err(FieldError::new(
                        format!("{field}.name"),
                        "pseudo-headers can be set, not added",
                    ));
                }
                Err(reason) => return Err(FieldError::new(format!("{field}.name"), reason)),
            };
            if !seen.insert(target_key(&target).to_owned()) {
                return Err(FieldError::new(
                    format!("{field}.name"),
                    "duplicate header name",
                ));
            }
            let value = self.header_text(
                &format!("{prefix}.{field}.value"),
                &entry.value,
                &target,
                parse_as,
                &mut reads,
            )?;
            templates += usize::from(matches!(value, HeaderText::Template(_)));
            add.push(HeaderOp { target, value });
        }

        let mut remove = Vec::with_capacity(spec.remove.len());
        for (index, name) in spec.remove.iter().enumerate() {
            let field = || format!("remove[{index}]");
            let name = match target(name, direction) {
                Ok(Target::Header(name)) => name,
                Ok(_) => return Err(FieldError::new(field(), "pseudo-headers cannot be removed")),
                Err(reason) => return Err(FieldError::new(field(), reason)),
            };
            if remove.contains(&name) {
                return Err(FieldError::new(field(), "duplicate header name"));
            }
            remove.push(name);
        }

        let body = match (&spec.body, parse_as) {
            (Some(body), Some(BodyParseBehavior::AsJson | BodyParseBehavior::AsString)) => {
                match &body.value {
                    Some(value) => {
                        let key = format!("{prefix}.body.value");
                        let text = self.body_text(&key, value, parse_as, &mut reads)?;
                        templates += usize::from(matches!(text, BodyText::Template(_)));
                        Some(text)
                    }
                    None => None,
                }
            }
            _ => None,
        };

        let parse_json = parse_as == Some(BodyParseBehavior::AsJson);
        Ok(Transform {
            set,
            add,
            remove,
            body,
            parse_json,
            reads_body: reads.body || parse_json,
            templates,
            reads_request: direction == Direction::Response && reads.request,
        })
    }

    /// A header value: empty, rendered now when it has no template syntax, else compiled.
    fn header_text(
        &mut self,
        key: &str,
        source: &str,
        target: &Target,
        parse_as: Option<BodyParseBehavior>,
        reads: &mut Reads,
    ) -> Result<HeaderText, FieldError> {
        let field = relative(key);
        if source.is_empty() {
            return Ok(HeaderText::Empty);
        }
        match self.compile(key, source, parse_as, reads)? {
            Source::Static(text) if text.is_empty() => Ok(HeaderText::Empty),
            Source::Static(text) => {
                let value = HeaderValue::try_from(text)
                    .map_err(|_| FieldError::new(field, "is not a valid header value"))?;
                check_pseudo(target, &value).map_err(|reason| FieldError::new(field, reason))?;
                Ok(HeaderText::Static(value))
            }
            Source::Template => Ok(HeaderText::Template(key.into())),
        }
    }

    /// A body value: rendered now when it has no template syntax, else compiled.
    fn body_text(
        &mut self,
        key: &str,
        source: &str,
        parse_as: Option<BodyParseBehavior>,
        reads: &mut Reads,
    ) -> Result<BodyText, FieldError> {
        Ok(match self.compile(key, source, parse_as, reads)? {
            Source::Static(text) => BodyText::Static(Bytes::from(text)),
            Source::Template => BodyText::Template(key.into()),
        })
    }

    /// Compiles `source` under the name `key` (the field path), and records what it reads.
    fn compile(
        &mut self,
        key: &str,
        source: &str,
        parse_as: Option<BodyParseBehavior>,
        reads: &mut Reads,
    ) -> Result<Source, FieldError> {
        let field = relative(key);
        let invalid = |error: minijinja::Error| FieldError::new(field, describe(&error));
        if !["{{", "{%", "{#"].iter().any(|open| source.contains(open)) {
            // Plain text: what MiniJinja would render (it drops one trailing newline).
            return self
                .env
                .render_str(source, ())
                .map(Source::Static)
                .map_err(invalid);
        }
        self.env
            .add_template_owned(key.to_owned(), source.to_owned())
            .map_err(invalid)?;
        let names = self
            .env
            .get_template(key)
            .map_err(invalid)?
            .undeclared_variables(false);
        for name in names {
            match name.as_str() {
                "body" | "context" => {
                    if parse_as == Some(BodyParseBehavior::None) {
                        return Err(FieldError::new(
                            field,
                            format!("reads the body with `{name}`, but body.parseAs is None"),
                        ));
                    }
                    reads.body = true;
                }
                "request_header" => reads.request = true,
                "env" => self.uses_env = true,
                name if HELPERS.contains(&name) || self.builtins.contains(name) => {}
                _ if parse_as == Some(BodyParseBehavior::AsJson) => reads.body = true,
                name => {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "`{name}` is not a helper function; templates read JSON body \
                             fields only with body.parseAs: AsJson"
                        ),
                    ));
                }
            }
        }
        Ok(Source::Template)
    }
}

/// A template's source: compiled into the environment, or text known at compile time.
enum Source {
    Static(String),
    Template,
}

/// `key` without its direction (`set[1].value` for `request.set[1].value`): field paths of
/// a transform are reported relative to it.
fn relative(key: &str) -> &str {
    key.split_once('.').map_or(key, |(_, rest)| rest)
}

/// A template error as a reason: its kind, line and detail.
fn describe(error: &minijinja::Error) -> String {
    let mut reason = format!("invalid template: {}", error.kind());
    if let Some(line) = error.line() {
        reason.push_str(&format!(" on line {line}"));
    }
    if let Some(detail) = error.detail() {
        reason.push_str(": ");
        reason.push_str(detail);
    }
    reason
}

/// The target of header name `name` (kgateway's `HeaderName`: a token, or a pseudo-header).
fn target(name: &str, direction: Direction) -> Result<Target, String> {
    if name.is_empty() || name.len() > MAX_HEADER_NAME_LENGTH {
        return Err(format!("must be 1 to {MAX_HEADER_NAME_LENGTH} characters"));
    }
    let pseudo = match (name.to_ascii_lowercase().as_str(), direction) {
        (":path", Direction::Request) => Some(Target::Path),
        (":method", Direction::Request) => Some(Target::Method),
        (":authority", Direction::Request) => Some(Target::Authority),
        (":status", Direction::Response) => Some(Target::Status),
        _ if name.starts_with(':') => {
            return Err(format!(
                "{name} is not a pseudo-header a transformation can set here"
            ));
        }
        _ => None,
    };
    match pseudo {
        Some(target) => Ok(target),
        None => HeaderName::from_bytes(name.as_bytes())
            .map(Target::Header)
            .map_err(|_| format!("{name:?} is not a valid header name")),
    }
}

/// A name identifying the target, for duplicate checks.
fn target_key(target: &Target) -> &str {
    match target {
        Target::Header(name) => name.as_str(),
        Target::Path => ":path",
        Target::Method => ":method",
        Target::Authority => ":authority",
        Target::Status => ":status",
    }
}

/// Checks a static value for a pseudo-header.
fn check_pseudo(target: &Target, value: &HeaderValue) -> Result<(), &'static str> {
    match target {
        Target::Header(_) => Ok(()),
        Target::Path => path_and_query(value).map(drop),
        Target::Method => method(value).map(drop),
        Target::Authority => Authority::try_from(value.as_bytes())
            .map(drop)
            .map_err(|_| "is not a valid authority"),
        Target::Status => status(value).map(drop),
    }
}

fn path_and_query(value: &HeaderValue) -> Result<PathAndQuery, &'static str> {
    PathAndQuery::try_from(value.as_bytes())
        .ok()
        .filter(|path| path.as_str().starts_with('/'))
        .ok_or("is not a valid path (it must start with `/`)")
}

fn method(value: &HeaderValue) -> Result<Method, &'static str> {
    Method::from_bytes(value.as_bytes()).map_err(|_| "is not a valid method")
}

fn status(value: &HeaderValue) -> Result<StatusCode, &'static str> {
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or("is not a valid status code")
}

// === render and apply ===

impl Transform {
    /// Whether any template renders per message.
    pub(super) fn is_dynamic(&self) -> bool {
        self.templates > 0
    }

    /// Renders every template against `scope`; hands the scope back with the values.
    pub(super) fn render<V: View + Clone>(
        &self,
        env: &Environment<'static>,
        scope: Scope<V>,
    ) -> Result<(Scope<V>, Rendered), RenderError> {
        let scope = Arc::new(scope);
        let context = Value::from_dyn_object(scope.clone());
        let mut headers = Vec::with_capacity(self.templates);
        for op in self.set.iter().chain(&self.add) {
            if let HeaderText::Template(name) = &op.value {
                let text = render(env, name, &context)?;
                headers.push(header_value(name, text));
            }
        }
        let body = match &self.body {
            Some(BodyText::Template(name)) => Some(Bytes::from(render(env, name, &context)?)),
            Some(BodyText::Static(bytes)) => Some(bytes.clone()),
            None => None,
        };
        drop(context);
        // The context was the only other owner, so this moves the message back out.
        Ok((Arc::unwrap_or_clone(scope), Rendered { headers, body }))
    }

    /// The values of a transform without templates.
    pub(super) fn static_values(&self) -> Rendered {
        let body = match &self.body {
            Some(BodyText::Static(bytes)) => Some(bytes.clone()),
            _ => None,
        };
        Rendered {
            headers: Vec::new(),
            body,
        }
    }

    /// Applies the rendered values to a message head: when `replace_body` and the body is
    /// replaced, `Content-Length` for the new body (no `Transfer-Encoding`, and no
    /// `Content-Type` for an empty one); then `set`, `add` and `remove`. Returns the new
    /// body, if any. A value that is not a valid header value leaves its header alone.
    pub(super) fn apply<H: Head>(
        &self,
        head: &mut H,
        rendered: Rendered,
        replace_body: bool,
    ) -> Option<Bytes> {
        let Rendered { headers, body } = rendered;
        let body = body.filter(|_| replace_body);
        if let Some(body) = &body {
            set_body_headers(head.headers_mut(), body.len());
        }
        let mut rendered = headers.into_iter();
        let mut next_value = |text: &HeaderText| match text {
            HeaderText::Empty => Some(HeaderValue::from_static("")),
            HeaderText::Static(value) => Some(value.clone()),
            HeaderText::Template(_) => rendered.next().flatten(),
        };
        for op in &self.set {
            let Some(value) = next_value(&op.value) else {
                continue;
            };
            match &op.target {
                Target::Header(name) if value.is_empty() => {
                    head.headers_mut().remove(name);
                }
                Target::Header(name) => {
                    head.headers_mut().insert(name.clone(), value);
                }
                pseudo if value.is_empty() => {
                    tracing::debug!(header = target_key(pseudo), "empty value: not set");
                }
                pseudo => head.set_pseudo(pseudo, value),
            }
        }
        for op in &self.add {
            let Some(value) = next_value(&op.value).filter(|value| !value.is_empty()) else {
                continue;
            };
            if let Target::Header(name) = &op.target {
                head.headers_mut().append(name.clone(), value);
            }
        }
        for name in &self.remove {
            head.headers_mut().remove(name);
        }
        body
    }
}

/// Renders template `name`.
fn render(env: &Environment<'static>, name: &str, context: &Value) -> Result<String, RenderError> {
    env.get_template(name)
        .and_then(|template| template.render(context.clone()))
        .map_err(|error| RenderError {
            field: name.into(),
            error,
        })
}

/// A rendered header value; `None` (logged) when it is not a valid header value.
fn header_value(field: &str, text: String) -> Option<HeaderValue> {
    match HeaderValue::from_maybe_shared(Bytes::from(text)) {
        Ok(value) => Some(value),
        Err(_) => {
            tracing::debug!(
                field,
                "template rendered an invalid header value: header skipped"
            );
            None
        }
    }
}

/// Headers describing a replaced body of `len` bytes.
fn set_body_headers(headers: &mut HeaderMap, len: usize) {
    headers.remove(TRANSFER_ENCODING);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if len == 0 {
        headers.remove(CONTENT_TYPE);
    }
}

/// A message head a transform changes: its headers, and the pseudo-headers it has.
pub(super) trait Head {
    /// The headers.
    fn headers_mut(&mut self) -> &mut HeaderMap;
    /// Sets a pseudo-header (validated for this kind of message at compile time).
    fn set_pseudo(&mut self, target: &Target, value: HeaderValue);
}

impl Head for request::Parts {
    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn set_pseudo(&mut self, target: &Target, value: HeaderValue) {
        let outcome = match target {
            Target::Path => path_and_query(&value).map(|path| set_path(&mut self.uri, path)),
            Target::Method => method(&value).map(|method| self.method = method),
            Target::Authority => Authority::try_from(value.as_bytes())
                .map_err(|_| "is not a valid authority")
                .map(|authority| {
                    if self.uri.authority().is_some() {
                        set_authority(&mut self.uri, authority);
                    }
                    self.headers.insert(HOST, value.clone());
                }),
            Target::Header(_) | Target::Status => Ok(()),
        };
        if let Err(reason) = outcome {
            tracing::debug!(
                header = target_key(target),
                ?value,
                reason,
                "pseudo-header not set"
            );
        }
    }
}

impl Head for ResponseView {
    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.parts.headers
    }

    fn set_pseudo(&mut self, target: &Target, value: HeaderValue) {
        if let Target::Status = target {
            match status(&value) {
                Ok(status) => self.parts.status = status,
                Err(reason) => tracing::debug!(?value, reason, ":status not set"),
            }
        }
    }
}

/// Replaces the path and query of `uri`, keeping scheme and authority.
fn set_path(uri: &mut Uri, path: PathAndQuery) {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path);
    if let Ok(new) = Uri::from_parts(parts) {
        *uri = new;
    }
}

/// Replaces the authority of `uri`.
fn set_authority(uri: &mut Uri, authority: Authority) {
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(authority);
    if let Ok(new) = Uri::from_parts(parts) {
        *uri = new;
    }
}
