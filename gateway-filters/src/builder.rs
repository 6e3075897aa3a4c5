//! [`GatewayServiceBuilderExt`]: the policies of this crate as `ServiceBuilder` methods,
//! like tower-http's `ServiceBuilderExt`.
//!
//! ```
//! use gateway_core::{Request, Response, body};
//! use gateway_filters::{
//!     GatewayServiceBuilderExt,
//!     header_modifier::{HeaderModifierConfig, HeaderPair},
//!     retry::RetryConfig,
//! };
//! use http::{HeaderName, HeaderValue, StatusCode};
//! use std::{convert::Infallible, time::Duration};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let tag = HeaderModifierConfig {
//!     set: vec![HeaderPair {
//!         name: HeaderName::from_static("x-served-by"),
//!         value: HeaderValue::from_static("gateway"),
//!     }],
//!     ..HeaderModifierConfig::default()
//! };
//! let service = ServiceBuilder::new()
//!     .timeout_response(Duration::from_secs(10))
//!     .response_header_modifier(tag)
//!     .retry(RetryConfig::default())
//!     .service(service_fn(|_: Request| async {
//!         Ok::<_, Infallible>(Response::new(body::full("hello")))
//!     }));
//! let response = service.oneshot(Request::new(body::empty())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["x-served-by"], "gateway");
//! # }
//! ```

use gateway_core::HttpService;
use std::time::Duration;
use tower::{ServiceBuilder, layer::util::Stack};

use crate::{
    cors::{CorsConfig, CorsLayer},
    header_modifier::{HeaderModifierConfig, HeaderModifierLayer, ResponseHeaderModifierLayer},
    mirror::{MirrorConfig, MirrorLayer},
    redirect::{RedirectConfig, RedirectLayer},
    retry::{RetryConfig, RetryLayer},
    timeout::TimeoutLayer,
    url_rewrite::{UrlRewriteConfig, UrlRewriteLayer},
};

mod sealed {
    /// Only `ServiceBuilder` implements the extension trait.
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds this crate's layers to a [`ServiceBuilder`]; see the [module docs](self). Each
/// method is `.layer(FooLayer::new(config))`, outermost first as usual.
pub trait GatewayServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Adds a [`HeaderModifierLayer`] (Gateway API `RequestHeaderModifier`).
    fn request_header_modifier(
        self,
        config: HeaderModifierConfig,
    ) -> ServiceBuilder<Stack<HeaderModifierLayer, L>>;

    /// Adds a [`ResponseHeaderModifierLayer`] (Gateway API `ResponseHeaderModifier`).
    fn response_header_modifier(
        self,
        config: HeaderModifierConfig,
    ) -> ServiceBuilder<Stack<ResponseHeaderModifierLayer, L>>;

    /// Adds a [`RedirectLayer`] (Gateway API `RequestRedirect`).
    fn redirect(self, config: RedirectConfig) -> ServiceBuilder<Stack<RedirectLayer, L>>;

    /// Adds a [`UrlRewriteLayer`] (Gateway API `URLRewrite`).
    fn url_rewrite(self, config: UrlRewriteConfig) -> ServiceBuilder<Stack<UrlRewriteLayer, L>>;

    /// Adds a [`CorsLayer`] (Gateway API `CORS`).
    fn cors(self, config: CorsConfig) -> ServiceBuilder<Stack<CorsLayer, L>>;

    /// Adds a [`RetryLayer`] (Gateway API `HTTPRouteRule.retry`).
    fn retry(self, config: RetryConfig) -> ServiceBuilder<Stack<RetryLayer, L>>;

    /// Adds a [`TimeoutLayer`] answering `504` after `timeout` (Gateway API
    /// `HTTPRouteRule.timeouts`). Named so as not to clash with `ServiceBuilder::timeout`,
    /// which fails with an error instead of answering.
    fn timeout_response(self, timeout: Duration) -> ServiceBuilder<Stack<TimeoutLayer, L>>;

    /// Adds a [`MirrorLayer`] sending copies to `mirror` (Gateway API `RequestMirror`).
    fn mirror(
        self,
        config: MirrorConfig,
        mirror: HttpService,
    ) -> ServiceBuilder<Stack<MirrorLayer, L>>;
}

impl<L> GatewayServiceBuilderExt<L> for ServiceBuilder<L> {
    fn request_header_modifier(
        self,
        config: HeaderModifierConfig,
    ) -> ServiceBuilder<Stack<HeaderModifierLayer, L>> {
        self.layer(HeaderModifierLayer::new(config))
    }

    fn response_header_modifier(
        self,
        config: HeaderModifierConfig,
    ) -> ServiceBuilder<Stack<ResponseHeaderModifierLayer, L>> {
        self.layer(ResponseHeaderModifierLayer::new(config))
    }

    fn redirect(self, config: RedirectConfig) -> ServiceBuilder<Stack<RedirectLayer, L>> {
        self.layer(RedirectLayer::new(config))
    }

    fn url_rewrite(self, config: UrlRewriteConfig) -> ServiceBuilder<Stack<UrlRewriteLayer, L>> {
        self.layer(UrlRewriteLayer::new(config))
    }

    fn cors(self, config: CorsConfig) -> ServiceBuilder<Stack<CorsLayer, L>> {
        self.layer(CorsLayer::new(config))
    }

    fn retry(self, config: RetryConfig) -> ServiceBuilder<Stack<RetryLayer, L>> {
        self.layer(RetryLayer::new(config))
    }

    fn timeout_response(self, timeout: Duration) -> ServiceBuilder<Stack<TimeoutLayer, L>> {
        self.layer(TimeoutLayer::new(timeout))
    }

    fn mirror(
        self,
        config: MirrorConfig,
        mirror: HttpService,
    ) -> ServiceBuilder<Stack<MirrorLayer, L>> {
        self.layer(MirrorLayer::new(config, mirror))
    }
}

#[cfg(test)]
mod tests;
