//! The layer, the service and the response future.

use http::HeaderName;
use http_body::Body;
use pin_project_lite::pin_project;
use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
};
use tokio::time::Instant;
use tower::{Layer, Service};

use super::{
    AccessLogConfig, LogFilter, LogFormat,
    body::{RequestBody, ResponseBody},
    format::{Operator, Part},
    record::{Ctx, RequestFacts, ResponseFacts},
    render::{Escaped, Out},
    sink::Sink,
};

/// One configured log, ready to write.
#[derive(Debug)]
struct Entry {
    format: LogFormat,
    filter: Option<LogFilter>,
    sink: Arc<Sink>,
    /// The length of the last line, to size the next one's buffer.
    line_hint: AtomicUsize,
}

/// What every request of a layer shares: the logs and the headers they read.
#[derive(Debug)]
pub(crate) struct Shared {
    entries: Box<[Entry]>,
    /// Request headers any log reads, captured when a request arrives.
    pub(crate) request_headers: Box<[HeaderName]>,
    /// Response headers any log reads, captured when a response head passes.
    pub(crate) response_headers: Box<[HeaderName]>,
    /// Whether a log reads `%BYTES_RECEIVED%` (else request bodies are not counted).
    count_received: bool,
    /// Whether a log reads `%ROUTE_NAME%` (else the router is not asked to report it).
    pub(crate) wants_route: bool,
}

/// Writes access logs; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct AccessLogLayer {
    shared: Arc<Shared>,
}

impl AccessLogLayer {
    /// A layer writing `config`'s logs. Files are opened (and their writer threads
    /// started) here, or shared with other layers already writing them; a file that cannot
    /// be opened is reported in the gateway's own log and its lines are counted as dropped.
    pub fn new(config: AccessLogConfig) -> Self {
        let mut request_headers = Vec::new();
        let mut response_headers = Vec::new();
        let mut count_received = false;
        let mut wants_route = false;
        for entry in &config.entries {
            let template = &entry.format.template;
            wants_route |= template
                .commands()
                .any(|command| command.operator == Operator::RouteName);
            request_headers.extend(template.request_headers().cloned());
            response_headers.extend(template.response_headers().cloned());
            count_received |= template
                .commands()
                .any(|command| command.operator == Operator::BytesReceived);
            if let Some(filter) = &entry.filter {
                filter_headers(filter, &mut request_headers);
            }
        }
        dedup(&mut request_headers);
        dedup(&mut response_headers);
        let entries = config
            .entries
            .into_iter()
            .map(|entry| Entry {
                sink: Sink::for_path(&entry.path, config.queue_capacity),
                format: entry.format,
                filter: entry.filter,
                line_hint: AtomicUsize::new(256),
            })
            .collect();
        Self {
            shared: Arc::new(Shared {
                entries,
                request_headers: request_headers.into(),
                response_headers: response_headers.into(),
                count_received,
                wants_route,
            }),
        }
    }

    /// Blocks until every line this layer's logs have queued so far is in its file; for
    /// shutdown and tests (call it off the async workers, or where blocking is harmless).
    pub fn flush(&self) {
        for entry in self.shared.entries.iter() {
            entry.sink.flush();
        }
    }

    /// Lines dropped so far by the files this layer writes (queue full, file not
    /// writable), including those of other layers writing the same files.
    pub fn dropped_lines(&self) -> u64 {
        let mut seen: Vec<&Sink> = Vec::new();
        let mut dropped = 0;
        for entry in self.shared.entries.iter() {
            if !seen.iter().any(|sink| std::ptr::eq(*sink, &*entry.sink)) {
                seen.push(&entry.sink);
                dropped += entry.sink.dropped();
            }
        }
        dropped
    }
}

/// Adds the request headers `filter` reads.
fn filter_headers(filter: &LogFilter, names: &mut Vec<HeaderName>) {
    match filter {
        LogFilter::Header(condition) => names.push(condition.name.clone()),
        LogFilter::And(filters) | LogFilter::Or(filters) => {
            for filter in filters {
                filter_headers(filter, names);
            }
        }
        _ => {}
    }
}

/// Removes repeated names, keeping the first of each.
fn dedup(names: &mut Vec<HeaderName>) {
    let mut kept: Vec<HeaderName> = Vec::with_capacity(names.len());
    for name in names.drain(..) {
        if !kept.contains(&name) {
            kept.push(name);
        }
    }
    *names = kept;
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLogService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLogService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service writing access logs; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct AccessLogService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AccessLogService<S>
where
    S: Service<http::Request<RequestBody<ReqBody>>, Response = http::Response<ResBody>>,
    ResBody: Body,
{
    type Response = http::Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let facts = Arc::new(RequestFacts::capture(&self.shared, &mut parts));
        let counter = self.shared.count_received.then(|| facts.clone());
        let body = RequestBody::new(body, counter);
        ResponseFuture {
            inner: self.inner.call(http::Request::from_parts(parts, body)),
            request: Some(facts),
        }
    }
}

pin_project! {
    /// Response future of [`AccessLogService`]. Dropped before the response head (the
    /// client went away), it logs the request with response code `0` and flag `DC`.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        request: Option<Arc<RequestFacts>>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(request) = this.project().request.take() {
                emit(&request, &ResponseFacts::none(true));
            }
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<http::Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let request = this.request.take();
        Poll::Ready(match (result, request) {
            (Ok(response), Some(request)) => {
                let (parts, body) = response.into_parts();
                let facts = ResponseFacts::capture(&request.shared, &parts);
                let body = ResponseBody::new(body, request, facts);
                Ok(http::Response::from_parts(parts, body))
            }
            // Polled again after completing: nothing left to log.
            (Ok(response), None) => Ok(response.map(ResponseBody::unlogged)),
            (Err(error), request) => {
                if let Some(request) = request {
                    emit(&request, &ResponseFacts::none(false));
                }
                Err(error)
            }
        })
    }
}

/// Writes the lines of one finished request to every log whose filter passes it.
pub(crate) fn emit(request: &RequestFacts, response: &ResponseFacts) {
    let ctx = Ctx {
        request,
        response,
        end: Instant::now(),
    };
    for entry in request.shared.entries.iter() {
        if entry
            .filter
            .as_ref()
            .is_some_and(|filter| !ctx.passes(filter))
        {
            continue;
        }
        let mut line = Vec::with_capacity(entry.line_hint.load(Ordering::Relaxed));
        render(&entry.format, &ctx, &mut line);
        line.push(b'\n');
        entry
            .line_hint
            .store(line.len() + line.len() / 8, Ordering::Relaxed);
        entry.sink.send(line);
    }
}

/// Writes one line (without its newline).
fn render(format: &LogFormat, ctx: &Ctx<'_>, line: &mut Vec<u8>) {
    for part in format.template.parts.iter() {
        match part {
            Part::Raw(bytes) => line.put(bytes),
            Part::Text(command) => ctx
                .value(&command.operator)
                .write_text(command.max_len, line),
            Part::Escaped(command) => ctx
                .value(&command.operator)
                .write_text(command.max_len, &mut Escaped(line)),
            Part::Typed(command) => ctx
                .value(&command.operator)
                .write_typed(command.max_len, line),
        }
    }
}
