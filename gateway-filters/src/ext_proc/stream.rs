//! One `ExternalProcessor/Process` stream per request, and the task that owns it.
//!
//! The request's parts (the service future, a streamed request body, a streamed response
//! body) may each have messages in flight at once, and the processor answers them in the
//! order they were sent. One task per request owns the gRPC stream, so no lock is needed:
//! the parts send it [`Call`]s (a message and a channel for its answer) through an
//! [`Exchange`] handle; the task forwards each message, keeps the answer channels in
//! sending order, checks that each answer is of the kind its message expects, and bounds
//! the wait for each with the message timeout.
//!
//! The stream is opened with the first message, so a request that sends nothing opens
//! none. It ends in one of these ways, each answered to every message still waiting and to
//! every later one with a [`Stop`]:
//!
//! - every handle is dropped (the request is done): the request stream is half-closed and
//!   the processor is given one message timeout to close its side;
//! - the processor closes the stream cleanly, or sends an immediate response: the rest of
//!   the request goes on unprocessed ([`Stop::Continue`]);
//! - the stream fails, a message times out, or an answer comes out of order: unprocessed
//!   when failing open, otherwise [`Stop::Fail`] with `504` (timeout) or `500`.
//!
//! Every channel here is unbounded on purpose: each part bounds the messages it has in
//! flight, so the task never holds more than those.

use envoy_types::pb::{
    envoy::{
        extensions::filters::http::ext_proc::v3::{
            ProcessingMode as ProtoMode,
            processing_mode::{BodySendMode as ProtoBodyMode, HeaderSendMode as ProtoHeaderMode},
        },
        service::ext_proc::v3::{
            ProcessingRequest, ProcessingResponse, ProtocolConfiguration,
            external_processor_client::ExternalProcessorClient, processing_request,
            processing_response,
        },
    },
    google::protobuf::Duration as ProtoDuration,
};
use http::{StatusCode, Uri};
use std::{collections::VecDeque, pin::pin, sync::Arc, sync::OnceLock, time::Duration};
use tokio::{
    sync::{mpsc, oneshot},
    time::{Instant, Sleep},
};
use tonic::{
    Streaming,
    transport::{Channel, Endpoint},
};

use super::{BodySendMode, ExtProcConfig, HeaderSendMode, ProcessingMode};

/// What every request of a layer shares: the configuration and the gRPC channel.
#[derive(Debug)]
pub(super) struct Processor {
    pub(super) config: ExtProcConfig,
    /// Made on first use: a tonic channel spawns its worker on the runtime at hand, and a
    /// layer may be built outside one.
    channel: OnceLock<Channel>,
}

impl Processor {
    pub(super) fn new(config: ExtProcConfig) -> Self {
        Self {
            config,
            channel: OnceLock::new(),
        }
    }

    /// The layer's channel: one HTTP/2 connection per endpoint, shared by every request.
    fn channel(&self) -> Channel {
        self.channel
            .get_or_init(|| {
                let server = &self.config.server;
                let origin = server.authority().and_then(|authority| {
                    Uri::builder()
                        .scheme("http")
                        .authority(authority.clone())
                        .path_and_query("/")
                        .build()
                        .ok()
                });
                let endpoints: Vec<Endpoint> = server
                    .endpoints()
                    .iter()
                    .map(|uri| {
                        let endpoint = Endpoint::from(uri.clone());
                        match &origin {
                            Some(origin) => endpoint.origin(origin.clone()),
                            None => endpoint,
                        }
                    })
                    .collect();
                match <[Endpoint; 1]>::try_from(endpoints) {
                    Ok([endpoint]) => endpoint.connect_lazy(),
                    Err(endpoints) => Channel::balance_list(endpoints.into_iter()),
                }
            })
            .clone()
    }

    /// The mode for the rest of a request when the processor's answer to headers carries
    /// `proposed`: Envoy's effective override (header and trailer modes set to `DEFAULT`
    /// keep `current`, body modes are always taken), when overrides are allowed and the
    /// result is in the allowed list. Anything else keeps `current`.
    pub(super) fn override_mode(
        &self,
        current: ProcessingMode,
        proposed: Option<&ProtoMode>,
    ) -> ProcessingMode {
        let Some(proposed) = proposed else {
            return current;
        };
        if !self.config.allow_mode_override {
            return current;
        }
        let header = |value: i32, current: HeaderSendMode| match ProtoHeaderMode::try_from(value) {
            Ok(ProtoHeaderMode::Send) => Some(HeaderSendMode::Send),
            Ok(ProtoHeaderMode::Skip) => Some(HeaderSendMode::Skip),
            Ok(ProtoHeaderMode::Default) => Some(current),
            Err(_) => None,
        };
        let body = |value: i32| match ProtoBodyMode::try_from(value) {
            Ok(ProtoBodyMode::None) => Some(BodySendMode::None),
            Ok(ProtoBodyMode::Streamed) => Some(BodySendMode::Streamed),
            Ok(ProtoBodyMode::Buffered) => Some(BodySendMode::Buffered),
            Ok(ProtoBodyMode::BufferedPartial) => Some(BodySendMode::BufferedPartial),
            _ => None,
        };
        let effective = (|| {
            Some(ProcessingMode {
                request_header_mode: current.request_header_mode,
                response_header_mode: header(
                    proposed.response_header_mode,
                    current.response_header_mode,
                )?,
                request_body_mode: body(proposed.request_body_mode)?,
                response_body_mode: body(proposed.response_body_mode)?,
                request_trailer_mode: header(
                    proposed.request_trailer_mode,
                    current.request_trailer_mode,
                )?,
                response_trailer_mode: header(
                    proposed.response_trailer_mode,
                    current.response_trailer_mode,
                )?,
            })
        })();
        match effective {
            Some(mode)
                if self.config.allowed_override_modes.is_empty()
                    || self
                        .config
                        .allowed_override_modes
                        .iter()
                        .any(|allowed| allowed.matches_override(&mode)) =>
            {
                mode
            }
            _ => {
                tracing::debug!("ext_proc: mode override refused");
                current
            }
        }
    }
}

/// Why no (more) answers come from the processor for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// The rest of the request goes on unprocessed.
    Continue,
    /// The request fails with this status.
    Fail(StatusCode),
}

/// The answer to one message.
pub(super) type Reply = Result<ProcessingResponse, Stop>;

/// A message and where its answer goes.
#[derive(Debug)]
struct Call {
    message: ProcessingRequest,
    reply: oneshot::Sender<Reply>,
}

/// A request's handle on its stream's task. Clones share the stream.
#[derive(Clone, Debug)]
pub(super) struct Exchange {
    calls: mpsc::UnboundedSender<Call>,
}

impl Exchange {
    /// Starts the task for one request; it opens the stream with the first message.
    pub(super) fn start(processor: &Arc<Processor>) -> Self {
        let (calls, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(Arc::clone(processor), receiver));
        Self { calls }
    }

    /// Sends `message`; the receiver gets its answer. A dropped sender (never, while the
    /// task runs) means [`Stop::Continue`].
    pub(super) fn send(&self, message: ProcessingRequest) -> oneshot::Receiver<Reply> {
        let (reply, receiver) = oneshot::channel();
        // A closed channel drops `reply`, which the receiver reads as the end.
        let _ = self.calls.send(Call { message, reply });
        receiver
    }

    /// Sends `message` and waits for its answer.
    pub(super) async fn call(&self, message: ProcessingRequest) -> Reply {
        self.send(message).await.unwrap_or(Err(Stop::Continue))
    }
}

/// The kinds of messages, to match each answer with its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    RequestHeaders,
    ResponseHeaders,
    RequestBody,
    ResponseBody,
    RequestTrailers,
    ResponseTrailers,
}

impl Kind {
    fn of_message(message: &ProcessingRequest) -> Option<Self> {
        use processing_request::Request;
        Some(match message.request.as_ref()? {
            Request::RequestHeaders(_) => Self::RequestHeaders,
            Request::ResponseHeaders(_) => Self::ResponseHeaders,
            Request::RequestBody(_) => Self::RequestBody,
            Request::ResponseBody(_) => Self::ResponseBody,
            Request::RequestTrailers(_) => Self::RequestTrailers,
            Request::ResponseTrailers(_) => Self::ResponseTrailers,
        })
    }

    fn of_answer(answer: &processing_response::Response) -> Option<Self> {
        use processing_response::Response;
        Some(match answer {
            Response::RequestHeaders(_) => Self::RequestHeaders,
            Response::ResponseHeaders(_) => Self::ResponseHeaders,
            Response::RequestBody(_) => Self::RequestBody,
            Response::ResponseBody(_) => Self::ResponseBody,
            Response::RequestTrailers(_) => Self::RequestTrailers,
            Response::ResponseTrailers(_) => Self::ResponseTrailers,
            Response::ImmediateResponse(_) | Response::StreamedImmediateResponse(_) => {
                return None;
            }
        })
    }

    fn is_headers(self) -> bool {
        matches!(self, Self::RequestHeaders | Self::ResponseHeaders)
    }
}

/// A message waiting for its answer.
#[derive(Debug)]
struct Pending {
    kind: Kind,
    reply: oneshot::Sender<Reply>,
    deadline: Instant,
    /// The processor already extended this message's deadline (it may once).
    extended: bool,
    /// A standalone `mode_override` received before the answer to these headers.
    mode_override: Option<ProtoMode>,
}

/// How the processor failed a request.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("no answer within the message timeout")]
    Timeout,
    #[error("the stream failed: {0}")]
    Stream(tonic::Status),
    #[error("out of order: {0}")]
    Spurious(&'static str),
}

/// The task: waits for the first message, converses, then answers the stragglers.
async fn run(processor: Arc<Processor>, mut calls: mpsc::UnboundedReceiver<Call>) {
    let Some(first) = calls.recv().await else {
        return;
    };
    let end = converse(&processor, first, &mut calls).await;
    while let Some(call) = calls.recv().await {
        let _ = call.reply.send(Err(end));
    }
}

/// The stream's life; returns what later messages are told.
async fn converse(
    processor: &Processor,
    mut first: Call,
    calls: &mut mpsc::UnboundedReceiver<Call>,
) -> Stop {
    let config = &processor.config;
    first.message.protocol_config = Some(ProtocolConfiguration {
        request_body_mode: proto_body_mode(config.processing_mode.request_body_mode),
        response_body_mode: proto_body_mode(config.processing_mode.response_body_mode),
        send_body_without_waiting_for_header_response: false,
    });
    let (outbound, mut outbound_rx) = mpsc::unbounded_channel::<ProcessingRequest>();
    let requests = futures_util::stream::poll_fn(move |cx| outbound_rx.poll_recv(cx));
    let mut client = ExternalProcessorClient::new(processor.channel());
    let mut open = pin!(client.process(requests));
    let mut conversation = Conversation {
        processor,
        outbound: Some(outbound),
        pending: VecDeque::new(),
    };
    let mut timer = pin!(tokio::time::sleep(config.message_timeout));
    conversation.push(first, timer.as_mut());
    let mut responses: Option<Streaming<ProcessingResponse>> = None;
    loop {
        tokio::select! {
            call = calls.recv() => match call {
                Some(call) => conversation.push(call, timer.as_mut()),
                None => return conversation.finish(responses).await,
            },
            opened = &mut open, if responses.is_none() => match opened {
                Ok(stream) => responses = Some(stream.into_inner()),
                Err(status) => return conversation.fail(Failure::Stream(status)),
            },
            message = next(&mut responses), if responses.is_some() => match message {
                Ok(Some(message)) => {
                    if let Some(stop) = conversation.receive(message, timer.as_mut()) {
                        return stop;
                    }
                }
                Ok(None) => {
                    tracing::debug!("ext_proc: the processor closed the stream");
                    return conversation.end(Stop::Continue);
                }
                Err(status) => return conversation.fail(Failure::Stream(status)),
            },
            () = timer.as_mut(), if !conversation.pending.is_empty() => {
                return conversation.fail(Failure::Timeout);
            }
        }
    }
}

/// `timeout` from now (a timeout too long to count from now never ends).
fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(NEVER))
        .unwrap_or(now)
}

/// Thirty years: as good as never for a message timeout.
const NEVER: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// The next answer on an open stream.
async fn next(
    responses: &mut Option<Streaming<ProcessingResponse>>,
) -> Result<Option<ProcessingResponse>, tonic::Status> {
    match responses {
        Some(stream) => stream.message().await,
        None => std::future::pending().await,
    }
}

fn proto_body_mode(mode: BodySendMode) -> i32 {
    match mode {
        BodySendMode::None => ProtoBodyMode::None,
        BodySendMode::Streamed => ProtoBodyMode::Streamed,
        BodySendMode::Buffered => ProtoBodyMode::Buffered,
        BodySendMode::BufferedPartial => ProtoBodyMode::BufferedPartial,
    }
    .into()
}

/// The messages of one stream waiting for answers, in sending order.
struct Conversation<'a> {
    processor: &'a Processor,
    outbound: Option<mpsc::UnboundedSender<ProcessingRequest>>,
    pending: VecDeque<Pending>,
}

impl Conversation<'_> {
    /// Sends a message and starts its clock.
    fn push(&mut self, call: Call, timer: std::pin::Pin<&mut Sleep>) {
        let (Some(kind), Some(outbound)) = (Kind::of_message(&call.message), &self.outbound) else {
            let _ = call.reply.send(Err(Stop::Continue));
            return;
        };
        if outbound.send(call.message).is_err() {
            let _ = call.reply.send(Err(Stop::Continue));
            return;
        }
        let deadline = deadline(self.processor.config.message_timeout);
        if self.pending.is_empty() {
            timer.reset(deadline);
        }
        self.pending.push_back(Pending {
            kind,
            reply: call.reply,
            deadline,
            extended: false,
            mode_override: None,
        });
    }

    /// Takes one answer; `Some` when the stream is done with.
    fn receive(
        &mut self,
        mut message: ProcessingResponse,
        timer: std::pin::Pin<&mut Sleep>,
    ) -> Option<Stop> {
        if let Some(timeout) = message.override_message_timeout {
            self.extend(timeout, timer);
            return None;
        }
        let Some(front) = self.pending.front_mut() else {
            return Some(self.fail(Failure::Spurious("an answer to no message")));
        };
        let Some(answer) = &message.response else {
            // A standalone mode override, ahead of the answer to headers.
            if front.kind.is_headers() && message.mode_override.is_some() {
                front.mode_override = message.mode_override;
                return None;
            }
            return Some(self.fail(Failure::Spurious("an empty answer")));
        };
        match (answer, Kind::of_answer(answer)) {
            (processing_response::Response::ImmediateResponse(_), _) => {
                if let Some(front) = self.pending.pop_front() {
                    let _ = front.reply.send(Ok(message));
                }
                Some(self.end(Stop::Continue))
            }
            (_, Some(kind)) if kind == front.kind => {
                let front = self.pending.pop_front()?;
                if message.mode_override.is_none() {
                    message.mode_override = front.mode_override;
                }
                let _ = front.reply.send(Ok(message));
                if let Some(next) = self.pending.front() {
                    timer.reset(next.deadline);
                }
                None
            }
            _ => Some(self.fail(Failure::Spurious("an answer of the wrong kind"))),
        }
    }

    /// `override_message_timeout`: a new deadline for the oldest message, once, when it is
    /// at least 1 ms and at most the configured maximum (zero refuses them all).
    fn extend(&mut self, timeout: ProtoDuration, timer: std::pin::Pin<&mut Sleep>) {
        let max = self.processor.config.max_message_timeout;
        let requested = u64::try_from(timeout.seconds)
            .ok()
            .zip(u32::try_from(timeout.nanos).ok())
            .and_then(|(seconds, nanos)| {
                Duration::from_secs(seconds).checked_add(Duration::from_nanos(nanos.into()))
            });
        match (self.pending.front_mut(), requested) {
            (Some(front), Some(requested))
                if !front.extended && requested >= Duration::from_millis(1) && requested <= max =>
            {
                front.extended = true;
                front.deadline = deadline(requested);
                timer.reset(front.deadline);
            }
            _ => tracing::debug!("ext_proc: message timeout override refused"),
        }
    }

    /// The processor failed this request: fail open or closed as configured.
    fn fail(&mut self, failure: Failure) -> Stop {
        let stop = if self.processor.config.fail_open {
            Stop::Continue
        } else {
            Stop::Fail(match failure {
                Failure::Timeout => StatusCode::GATEWAY_TIMEOUT,
                Failure::Stream(_) | Failure::Spurious(_) => StatusCode::INTERNAL_SERVER_ERROR,
            })
        };
        tracing::debug!(
            %failure,
            fail_open = self.processor.config.fail_open,
            "ext_proc: processing failed"
        );
        self.end(stop)
    }

    /// Tells every waiting message `stop`.
    fn end(&mut self, stop: Stop) -> Stop {
        self.outbound = None;
        for pending in self.pending.drain(..) {
            let _ = pending.reply.send(Err(stop));
        }
        stop
    }

    /// The request is done: half-close the stream and let the processor close its side
    /// within one message timeout (a processor still owed answers is cut off at once).
    async fn finish(mut self, responses: Option<Streaming<ProcessingResponse>>) -> Stop {
        self.outbound = None;
        if let (true, Some(mut responses)) = (self.pending.is_empty(), responses) {
            let drain = async { while let Ok(Some(_)) = responses.message().await {} };
            let _ = tokio::time::timeout(self.processor.config.message_timeout, drain).await;
        }
        Stop::Continue
    }
}
