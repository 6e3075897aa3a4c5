//! Configuration of the external processing layer: the server, the processing mode and the
//! failure policy.

use http::{Uri, uri::Authority};
use serde::{Serialize, Serializer};
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// Envoy's default `message_timeout`: how long the gateway waits for the answer to each
/// message it sends the processor.
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_millis(200);

/// The most body bytes held in memory for `BUFFERED` and `BUFFERED_PARTIAL` processing
/// (1 MiB, Envoy's default per-connection buffer limit).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// Whether a message's headers (or trailers) are sent to the processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HeaderSendMode {
    /// Send them and wait for the processor's answer.
    Send,
    /// Do not send them.
    Skip,
}

/// How a message's body is sent to the processor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BodySendMode {
    /// Not at all; the body goes on untouched.
    #[default]
    None,
    /// Chunk by chunk as it arrives; each chunk goes on as the processor returns it.
    Streamed,
    /// Read in full (up to the body limit) and sent in one message; a longer request is
    /// answered `413`, a longer response is replaced by a `500`.
    Buffered,
    /// Read up to the body limit and sent in one message; the rest of a longer body goes on
    /// unprocessed after the processed part.
    BufferedPartial,
}

/// Envoy's `ProcessingMode`: which parts of the request and the response the processor
/// sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingMode {
    /// Request headers; `Send` by default.
    pub request_header_mode: HeaderSendMode,
    /// Response headers; `Send` by default.
    pub response_header_mode: HeaderSendMode,
    /// Request body; `None` by default.
    pub request_body_mode: BodySendMode,
    /// Response body; `None` by default.
    pub response_body_mode: BodySendMode,
    /// Request trailers; `Skip` by default.
    pub request_trailer_mode: HeaderSendMode,
    /// Response trailers; `Skip` by default.
    pub response_trailer_mode: HeaderSendMode,
}

impl Default for ProcessingMode {
    /// Envoy's defaults: headers both ways, no bodies, no trailers.
    fn default() -> Self {
        Self {
            request_header_mode: HeaderSendMode::Send,
            response_header_mode: HeaderSendMode::Send,
            request_body_mode: BodySendMode::None,
            response_body_mode: BodySendMode::None,
            request_trailer_mode: HeaderSendMode::Skip,
            response_trailer_mode: HeaderSendMode::Skip,
        }
    }
}

impl ProcessingMode {
    /// Whether any part of any message is sent; when not, the layer stands aside.
    pub fn sends_anything(&self) -> bool {
        self.request_header_mode == HeaderSendMode::Send
            || self.response_header_mode == HeaderSendMode::Send
            || self.request_body_mode != BodySendMode::None
            || self.response_body_mode != BodySendMode::None
            || self.request_trailer_mode == HeaderSendMode::Send
            || self.response_trailer_mode == HeaderSendMode::Send
    }

    /// Whether `self` equals `other` in everything but the request header mode (which a
    /// mode override cannot change, so Envoy ignores it when matching allowed overrides).
    pub(super) fn matches_override(&self, other: &Self) -> bool {
        self.response_header_mode == other.response_header_mode
            && self.request_body_mode == other.request_body_mode
            && self.response_body_mode == other.response_body_mode
            && self.request_trailer_mode == other.request_trailer_mode
            && self.response_trailer_mode == other.response_trailer_mode
    }
}

/// Where the external processor listens: one or more plaintext HTTP/2 (h2c) endpoints,
/// with an optional `:authority` for the gRPC requests. The policy compiler resolves
/// kgateway's `grpcService.backendRef` into this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcServer {
    #[serde(serialize_with = "uris")]
    endpoints: Arc<[Uri]>,
    #[serde(serialize_with = "opt_authority")]
    authority: Option<Authority>,
}

impl GrpcServer {
    /// The server at `uri` (`http://ext-proc.default.svc:9000`).
    pub fn new(uri: Uri) -> Self {
        Self {
            endpoints: Arc::from([uri]),
            authority: None,
        }
    }

    /// The servers at `addrs`, requests balanced over them; `None` when `addrs` is empty.
    pub fn from_addrs(addrs: impl IntoIterator<Item = SocketAddr>) -> Option<Self> {
        let endpoints: Arc<[Uri]> = addrs
            .into_iter()
            .filter_map(|addr| Uri::try_from(format!("http://{addr}")).ok())
            .collect();
        (!endpoints.is_empty()).then_some(Self {
            endpoints,
            authority: None,
        })
    }

    /// The same servers, called with `authority` as the gRPC requests' `:authority`
    /// (kgateway's `grpcService.authority`).
    #[must_use]
    pub fn with_authority(mut self, authority: Authority) -> Self {
        self.authority = Some(authority);
        self
    }

    /// The endpoints requests are balanced over.
    pub fn endpoints(&self) -> &[Uri] {
        &self.endpoints
    }

    /// The `:authority` of the gRPC requests, when set.
    pub fn authority(&self) -> Option<&Authority> {
        self.authority.as_ref()
    }
}

fn uris<S: Serializer>(uris: &Arc<[Uri]>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(uris.iter().map(ToString::to_string))
}

fn opt_authority<S: Serializer>(authority: &Option<Authority>, s: S) -> Result<S::Ok, S::Error> {
    match authority {
        Some(authority) => s.serialize_some(authority.as_str()),
        None => s.serialize_none(),
    }
}

/// The validated configuration of an [`ExtProcLayer`](super::ExtProcLayer): Envoy's
/// `ExternalProcessor` filter as kgateway's `GatewayExtension` (type `ExtProc`) and
/// `TrafficPolicy.extProc` configure it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtProcConfig {
    /// The processor.
    pub server: GrpcServer,
    /// Whether requests go on unprocessed when the processor fails (stream errors, message
    /// timeouts, out-of-order answers) instead of being answered `500` (`504` for a
    /// timeout). Envoy's `failure_mode_allow`, kgateway's `failOpen`.
    pub fail_open: bool,
    /// Which parts of the messages the processor sees.
    pub processing_mode: ProcessingMode,
    /// Whether the processor may change the processing mode of a request in its answer to
    /// headers (`mode_override`).
    pub allow_mode_override: bool,
    /// The modes an override may select (compared without the request header mode); any
    /// mode when empty.
    pub allowed_override_modes: Vec<ProcessingMode>,
    /// How long the answer to each message may take.
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub message_timeout: Duration,
    /// The longest `override_message_timeout` the processor may ask for; zero refuses them.
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub max_message_timeout: Duration,
    /// The most body bytes held for buffered processing.
    pub body_limit: usize,
}

impl ExtProcConfig {
    /// A configuration for `server` with Envoy's defaults: fail closed, headers both ways,
    /// a 200 ms message timeout, no mode overrides, a 1 MiB body limit. (kgateway's
    /// `failOpen` defaults to `true`: [`ExtProcProviderSpec`](super::ExtProcProviderSpec)
    /// applies that default.)
    pub fn new(server: GrpcServer) -> Self {
        Self {
            server,
            fail_open: false,
            processing_mode: ProcessingMode::default(),
            allow_mode_override: false,
            allowed_override_modes: Vec::new(),
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
            max_message_timeout: Duration::ZERO,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// The same configuration with `mode` (a route's `TrafficPolicy.extProc.processingMode`
    /// replaces the extension's).
    #[must_use]
    pub fn with_processing_mode(mut self, mode: ProcessingMode) -> Self {
        self.processing_mode = mode;
        self
    }
}
