//! Which CORS headers a request earns, computed from the configuration once per layer.

use http::{
    HeaderMap, HeaderValue, Method,
    header::{
        ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
        ORIGIN, VARY,
    },
};

use super::{CorsConfig, OriginPattern};

/// The configuration with its response header values pre-built.
#[derive(Debug)]
pub(super) struct Policy {
    config: CorsConfig,
    allow_methods: Option<HeaderValue>,
    allow_headers: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    max_age: HeaderValue,
}

/// What to do with a request.
pub(super) enum Decision {
    /// Not a CORS request (no `Origin`), or an actual request from a disallowed origin:
    /// forward it untouched.
    PassThrough,
    /// A preflight: answer it with these headers (none for a disallowed origin).
    Preflight(HeaderMap),
    /// An actual request from an allowed origin: forward it, then add these headers to
    /// the response.
    Actual(HeaderMap),
}

impl Policy {
    pub(super) fn new(config: CorsConfig) -> Self {
        let allow_methods = join(config.allow_methods.iter().map(Method::as_str));
        let allow_headers = join(config.allow_headers.iter().map(|h| h.as_str()));
        let expose_headers = join(config.expose_headers.iter().filter_map(|h| h.to_str().ok()));
        let max_age = HeaderValue::from(config.max_age);
        Self {
            config,
            allow_methods,
            allow_headers,
            expose_headers,
            max_age,
        }
    }

    pub(super) fn decide<B>(&self, request: &http::Request<B>) -> Decision {
        let headers = request.headers();
        let Some(origin) = headers.get(ORIGIN) else {
            return Decision::PassThrough;
        };
        let preflight = request.method() == Method::OPTIONS
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        let allowed = self.allow_origin(origin);
        match (preflight, allowed) {
            (true, None) => Decision::Preflight(HeaderMap::new()),
            (true, Some(allow_origin)) => {
                Decision::Preflight(self.preflight(headers, allow_origin))
            }
            (false, None) => Decision::PassThrough,
            (false, Some(allow_origin)) => Decision::Actual(self.common(allow_origin)),
        }
    }

    /// The `Access-Control-Allow-Origin` value for an allowed origin: `*` when the match is
    /// the `*` pattern and credentials are off, else the origin itself.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let text = origin.to_str().ok()?;
        let pattern = self.config.allow_origins.iter().find(|p| p.matches(text))?;
        if *pattern == OriginPattern::Any && !self.config.allow_credentials {
            Some(HeaderValue::from_static("*"))
        } else {
            Some(origin.clone())
        }
    }

    /// Headers every response to an allowed origin carries.
    fn common(&self, allow_origin: HeaderValue) -> HeaderMap {
        let mut out = HeaderMap::new();
        if allow_origin != "*" {
            // The answer depends on the Origin: caches must keep one copy per origin.
            out.insert(VARY, HeaderValue::from_static("origin"));
        }
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.config.allow_credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose_headers {
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        out
    }

    fn preflight(&self, request: &HeaderMap, allow_origin: HeaderValue) -> HeaderMap {
        let mut out = self.common(allow_origin);
        // `*` in allowMethods / allowHeaders: echo what the client asks for, which is valid
        // with and without credentials (a literal `*` is not allowed with credentials).
        let methods = if self.config.allow_any_method {
            request.get(ACCESS_CONTROL_REQUEST_METHOD).cloned()
        } else {
            self.allow_methods.clone()
        };
        if let Some(methods) = methods {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        let headers = if self.config.allow_any_header {
            join(
                request
                    .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            )
        } else {
            self.allow_headers.clone()
        };
        if let Some(headers) = headers {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, headers);
        }
        out.insert(ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        out
    }
}

/// `a, b, c`, or `None` when there is nothing to join.
fn join<'a>(items: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    let joined = items
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if joined.is_empty() {
        return None;
    }
    HeaderValue::try_from(joined).ok()
}
