//! The template engine: a MiniJinja environment with kgateway's helper functions, and the
//! view of one request or response that templates render against.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE},
};
use bytes::Bytes;
use gateway_core::extensions::ConnectionInfo;
use http::{Extensions, HeaderMap, Method, Uri, header::HOST, request, response};
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, State,
    value::{Object, ObjectRepr, Value},
};
use std::{collections::HashMap, fmt, sync::Arc};

/// Instructions one template may run per rendering; a template that loops longer fails to
/// render (MiniJinja's `fuel`).
pub const TEMPLATE_FUEL: u64 = 100_000;

/// Key under which the [`Scope`] finds itself, for the helper functions. It cannot be
/// written in a template: `.` would be read as an attribute lookup.
const SCOPE_KEY: &str = "gateway.scope";

/// Names the gateway gives a meaning in templates. A JSON body field with one of these names
/// is not visible as a top-level variable (read it through `body.<name>` or `context()`), so
/// that a body cannot hide a helper.
pub(super) const HELPERS: [&str; 13] = [
    "base64_decode",
    "base64_encode",
    "base64url_decode",
    "base64url_encode",
    "body",
    "context",
    "env",
    "header",
    "raw_string",
    "replace_with_random",
    "replace_with_string",
    "request_header",
    "substring",
];

/// A new environment with the gateway's settings and helpers, and no templates: no
/// autoescaping (headers and bodies are not HTML), bounded execution, lenient undefined
/// values (an unknown variable renders empty, as kgateway's engine does).
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.add_function("header", header);
    env.add_function("request_header", request_header);
    env.add_function("context", context);
    env.add_function("substring", substring);
    env.add_function("base64_encode", |input: &str| STANDARD.encode(input));
    env.add_function("base64url_encode", |input: &str| URL_SAFE.encode(input));
    env.add_function("base64_decode", |input: &str| decode(&STANDARD, input));
    env.add_function("base64url_decode", |input: &str| decode(&URL_SAFE, input));
    env.add_function("replace_with_random", replace_with_random);
    env.add_function(
        "replace_with_string",
        |input: &str, from: &str, to: &str| input.replace(from, to),
    );
    env.add_function("raw_string", raw_string);
    env
}

/// Adds `env(name)`, answering from the process environment as it is now. Environment
/// variables do not change while the gateway runs, so they are read once, when templates
/// are compiled, instead of under the environment lock on every request.
pub(super) fn add_env_function(env: &mut Environment<'static>) {
    let vars: Arc<HashMap<String, String>> = Arc::new(std::env::vars().collect());
    env.add_function("env", move |name: &str| {
        vars.get(name).cloned().unwrap_or_default()
    });
}

/// `header(name)`: a header of the message being transformed (the request's for request
/// templates, the response's for response templates); pseudo-headers `:method`, `:path`,
/// `:authority`, `:scheme` (requests) and `:status` (responses) work too. Empty when absent.
fn header(state: &State<'_, '_>, name: &str) -> String {
    with_view(state, |view| view.header(name)).unwrap_or_default()
}

/// `request_header(name)`: a header of the request, from request and response templates.
fn request_header(state: &State<'_, '_>, name: &str) -> String {
    with_view(state, |view| view.request_header(name)).unwrap_or_default()
}

/// `context()`: the whole parsed JSON body (useful when it is not an object).
fn context(state: &State<'_, '_>) -> Value {
    let scope = state.lookup(SCOPE_KEY);
    let json = scope.as_ref().and_then(|scope| {
        scope
            .downcast_object_ref::<Scope<request::Parts>>()
            .map(|scope| &scope.json)
            .or_else(|| {
                scope
                    .downcast_object_ref::<Scope<ResponseView>>()
                    .map(|scope| &scope.json)
            })
    });
    json.cloned().unwrap_or_default()
}

/// Reads the message of the scope being rendered.
fn with_view<R>(state: &State<'_, '_>, read: impl FnOnce(&dyn View) -> R) -> Option<R> {
    let scope = state.lookup(SCOPE_KEY)?;
    if let Some(scope) = scope.downcast_object_ref::<Scope<request::Parts>>() {
        return Some(read(&scope.view));
    }
    let scope = scope.downcast_object_ref::<Scope<ResponseView>>()?;
    Some(read(&scope.view))
}

/// `substring(input, start, length?)`: `length` characters of `input` from character
/// `start`; to the end when `length` is absent or not positive; empty when `start` is
/// negative or past the end.
fn substring(input: &str, start: i64, length: Option<i64>) -> String {
    let Ok(start) = usize::try_from(start) else {
        return String::new();
    };
    let rest = input.chars().skip(start);
    match length.and_then(|length| usize::try_from(length).ok()) {
        Some(length) if length > 0 => rest.take(length).collect(),
        _ => rest.collect(),
    }
}

/// Decodes base64 text into UTF-8 text; empty when either step fails.
fn decode(engine: &impl Engine, input: &str) -> String {
    engine
        .decode(input)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

/// `replace_with_random(input, pattern)`: every `pattern` in `input` replaced by one random
/// 128-bit value in base64.
fn replace_with_random(input: &str, pattern: &str) -> String {
    let random = STANDARD_NO_PAD.encode(fastrand::u128(..).to_le_bytes());
    input.replace(pattern, &random)
}

/// `raw_string(input)`: `input` escaped as the inside of a JSON string (quotes, backslashes
/// and control characters escaped), for building JSON bodies.
fn raw_string(input: &str) -> String {
    let quoted = serde_json::Value::from(input).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// The request as response templates see it (`request_header`).
#[derive(Clone, Debug)]
pub(super) struct RequestHead {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    scheme: &'static str,
}

impl RequestHead {
    /// A copy of what templates read of `request`.
    pub(super) fn of<B>(request: &http::Request<B>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            scheme: scheme(request.uri(), request.extensions()),
        }
    }
}

/// The scheme the client used: the URI's, else TLS on the connection, else `http`.
fn scheme(uri: &Uri, extensions: &Extensions) -> &'static str {
    match uri.scheme_str() {
        Some("https") => "https",
        Some(_) => "http",
        None => extensions
            .get::<ConnectionInfo>()
            .map_or("http", ConnectionInfo::scheme),
    }
}

/// A message head as templates read it.
pub(super) trait View: fmt::Debug + Send + Sync + 'static {
    /// `header(name)`.
    fn header(&self, name: &str) -> String;
    /// `request_header(name)`.
    fn request_header(&self, name: &str) -> String;
}

impl View for request::Parts {
    fn header(&self, name: &str) -> String {
        request_value(
            &self.method,
            &self.uri,
            &self.headers,
            scheme(&self.uri, &self.extensions),
            name,
        )
    }

    fn request_header(&self, name: &str) -> String {
        self.header(name)
    }
}

/// A response head, with the request it answers when response templates read it.
#[derive(Clone, Debug)]
pub(super) struct ResponseView {
    pub(super) parts: response::Parts,
    pub(super) request: Option<RequestHead>,
}

impl View for ResponseView {
    fn header(&self, name: &str) -> String {
        if name == ":status" {
            return self.parts.status.as_str().to_owned();
        }
        header_value(&self.parts.headers, name)
    }

    fn request_header(&self, name: &str) -> String {
        self.request.as_ref().map_or_else(String::new, |head| {
            request_value(&head.method, &head.uri, &head.headers, head.scheme, name)
        })
    }
}

/// What templates render against: a message head, its body and the body parsed as JSON.
///
/// As the root context it answers `body` (a [`BodyValue`]) and the top-level fields of a JSON
/// object body; the helper functions reach it through [`SCOPE_KEY`].
#[derive(Clone, Debug)]
pub(super) struct Scope<V> {
    view: V,
    /// The `body` variable.
    body: Value,
    /// The body parsed as JSON; undefined when it was not parsed (or empty).
    json: Value,
}

impl<V> Scope<V> {
    /// A scope over `view` with its body (`None` when no template reads it) and the body's
    /// JSON value (undefined when not parsed).
    pub(super) fn new(view: V, body: Option<Bytes>, json: Value) -> Self {
        let body = body.map_or(Value::UNDEFINED, |raw| {
            Value::from_object(BodyValue {
                raw,
                json: json.clone(),
            })
        });
        Self { view, body, json }
    }

    /// The message head back.
    pub(super) fn into_view(self) -> V {
        self.view
    }
}

/// A request header or pseudo-header.
fn request_value(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    scheme: &str,
    name: &str,
) -> String {
    match name {
        ":method" => method.as_str().to_owned(),
        ":path" => uri
            .path_and_query()
            .map_or_else(|| uri.path(), |path| path.as_str())
            .to_owned(),
        ":authority" => match uri.authority() {
            Some(authority) => authority.as_str().to_owned(),
            None => header_value(headers, HOST.as_str()),
        },
        ":scheme" => scheme.to_owned(),
        _ => header_value(headers, name),
    }
}

/// The first value of header `name` (any case) as text; empty when absent.
fn header_value(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default()
}

impl<V: View + Clone> Object for Scope<V> {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        key.as_str().and_then(|key| self.get_value_by_str(key))
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        match key {
            SCOPE_KEY => Some(Value::from_dyn_object(self.clone())),
            "body" => Some(self.body.clone()),
            key if HELPERS.contains(&key) => None,
            key => self
                .json
                .get_attr(key)
                .ok()
                .filter(|value| !value.is_undefined()),
        }
    }
}

/// The `body` variable: `body()` and `{{ body }}` give the raw body as text, `body.field`
/// (or `body["field"]`, `body[0]`) reads the parsed JSON.
#[derive(Debug)]
struct BodyValue {
    raw: Bytes,
    json: Value,
}

impl Object for BodyValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.json
            .get_item(key)
            .ok()
            .filter(|value| !value.is_undefined())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.raw.is_empty()
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        if !args.is_empty() {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                "body() takes no arguments",
            ));
        }
        Ok(Value::from(String::from_utf8_lossy(&self.raw).into_owned()))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str(&String::from_utf8_lossy(&self.raw))
    }
}
