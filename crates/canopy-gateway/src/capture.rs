//! The capture guard: observes a response as it streams to the client and records the call once.
//!
//! [`CaptureBody`] wraps the upstream body. Every chunk goes to the client as it arrived; a
//! copy (capped at the capture limit) is kept for the record, and streamed responses are split
//! into SSE events and observed for usage as they pass. When Canopy added
//! `stream_options.include_usage` for the client, the body is forwarded event by event instead,
//! without the usage-only chunk and the `"usage":null` members the option adds.
//!
//! The [`Capture`] inside is the emit-once guard: it submits its record when the body ends,
//! when the upstream fails mid-body, or on `Drop` when the client went away first (status −3).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use canopy_core::extract::request::strip_null_usage;
use canopy_core::extract::{self, ResponseFacts, StreamObserver, WireFormat};
use canopy_core::record::{STATUS_CLIENT_CANCELLED, StoredBody};
use canopy_core::sse::{RawEvent, SseSplitter};
use canopy_core::{CallRecord, Usage, UsageSource};
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};

use crate::Gateway;
use crate::telemetry::{
    GATEWAY_REQUESTS_TOTAL, GATEWAY_UNPRICED_CALLS_TOTAL, LABEL_PROVIDER, LABEL_STATUS_CLASS,
    UPSTREAM_TTFT_SECONDS, provider_label, status_class,
};

/// What the capture needs to know about the call besides its record.
#[derive(Debug, Clone, Copy)]
pub struct CaptureOptions {
    /// How to read usage.
    pub format: WireFormat,
    /// The response is an SSE stream.
    pub is_stream: bool,
    /// Canopy injected `include_usage`: hide the usage chunk from the client.
    pub hide_usage_chunk: bool,
    /// Do not keep the response body.
    pub omit_response: bool,
}

/// The emit-once guard over one call's record.
pub struct Capture {
    gateway: Gateway,
    record: Option<CallRecord>,
    started: Instant,
    options: CaptureOptions,
    splitter: SseSplitter,
    observer: StreamObserver,
    body: Vec<u8>,
    body_truncated: bool,
    /// The request body as sent, for estimating tokens when the response reports none.
    request_body: bytes::Bytes,
    /// Every byte the upstream declared has reached the client's body: the call succeeded,
    /// even if the body is dropped before it is polled again.
    delivered: bool,
}

impl Capture {
    /// Starts capturing the response of `record`'s call, which began at `started`.
    pub fn new(
        gateway: Gateway,
        record: CallRecord,
        started: Instant,
        options: CaptureOptions,
        request_body: bytes::Bytes,
    ) -> Self {
        Self {
            gateway,
            record: Some(record),
            started,
            options,
            splitter: SseSplitter::new(),
            observer: StreamObserver::new(options.format),
            body: Vec::new(),
            body_truncated: false,
            request_body,
            delivered: false,
        }
    }

    /// Observes one upstream chunk and returns the bytes the client gets for it.
    fn on_chunk(&mut self, chunk: Bytes) -> Bytes {
        if let Some(record) = self.record.as_mut()
            && record.time_to_first_token_ms.is_none()
            && self.options.is_stream
        {
            let ttft = self.started.elapsed();
            record.time_to_first_token_ms = Some(millis(ttft));
            metrics::histogram!(UPSTREAM_TTFT_SECONDS).record(ttft);
        }
        self.keep(&chunk);
        if !self.options.is_stream {
            return chunk;
        }
        if !self.options.hide_usage_chunk {
            let observer = &mut self.observer;
            self.splitter.feed(&chunk, |event| {
                observer.observe(&event.parse());
            });
            return chunk;
        }
        let mut out = Vec::with_capacity(chunk.len());
        let (observer, splitter) = (&mut self.observer, &mut self.splitter);
        splitter.feed(&chunk, |event| forward_event(observer, event, &mut out));
        Bytes::from(out)
    }

    /// The upstream body ended: returns bytes still held back, if any.
    fn on_end(&mut self) -> Bytes {
        let mut out = Vec::new();
        let (observer, splitter, hide) = (
            &mut self.observer,
            &mut self.splitter,
            self.options.hide_usage_chunk,
        );
        splitter.finish(|event| {
            if hide {
                forward_event(observer, event, &mut out);
            } else {
                observer.observe(&event.parse());
            }
        });
        Bytes::from(out)
    }

    fn keep(&mut self, chunk: &[u8]) {
        let limit = self.gateway.inner.settings.body_capture_limit;
        let room = limit.saturating_sub(self.body.len());
        if chunk.len() > room {
            self.body_truncated = true;
        }
        self.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// Completes the record and hands it to the writer. `status` overrides the upstream's
    /// (for a cancelled client); `error` notes a failure.
    fn emit(&mut self, status: Option<i32>, error: Option<String>) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        let elapsed = self.started.elapsed();
        record.latency_ms = Some(millis(elapsed));
        record.response_created_at_ms = Some(record.created_at_ms + millis(elapsed));
        if let Some(status) = status {
            record.status = status;
        }
        let facts = if self.options.is_stream {
            std::mem::take(&mut self.observer).into_facts()
        } else {
            extract::from_body(self.options.format, &self.body)
        };
        if record.status >= 400 && error.is_none() {
            record.error = Some(upstream_error_text(&self.body));
        }
        if error.is_some() {
            record.error = error;
        }
        let body = std::mem::take(&mut self.body);
        record.response_body = stored_body(body, self.body_truncated, self.options.omit_response);
        let estimated = (facts.usage.is_none() && (200..300).contains(&record.status))
            .then(|| crate::estimate::estimate(&self.request_body, &facts.output_text));
        finish_record(&self.gateway, &mut record, facts, estimated);
        self.gateway.inner.ingest.submit(record);
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.delivered {
            self.emit(None, None);
        } else if self.record.is_some() {
            self.emit(
                Some(STATUS_CLIENT_CANCELLED),
                Some("the client disconnected before the response ended".to_owned()),
            );
        }
    }
}

/// Observes one event and appends the bytes the client gets for it, hiding the usage chunk.
fn forward_event(observer: &mut StreamObserver, event: RawEvent, out: &mut Vec<u8>) {
    if observer.observe(&event.parse()) {
        return;
    }
    out.extend_from_slice(&strip_null_usage(&event.0));
}

/// Fills usage (reported, else `estimated`), models and cost, and counts the call.
pub fn finish_record(
    gateway: &Gateway,
    record: &mut CallRecord,
    facts: ResponseFacts,
    estimated: Option<Usage>,
) {
    record.response_model = facts.model;
    match (facts.usage, estimated) {
        (Some(usage), _) => {
            record.usage = usage;
            record.usage_source = UsageSource::Reported;
        }
        (None, Some(usage)) => {
            record.usage = usage;
            record.usage_source = UsageSource::Estimated;
        }
        (None, None) => {}
    }
    let model = record
        .response_model
        .clone()
        .or_else(|| record.request_model.clone());
    let provider = provider_label(&gateway.inner.providers, &record.provider);
    if let Some(model) = model {
        match gateway
            .inner
            .prices
            .price(&pricing_provider(record), &model, &record.usage)
        {
            Some((matched, cost)) => {
                record.pricing_model = Some(matched.to_owned());
                record.cost_nano_usd = Some(cost);
            }
            None => {
                record.cost_nano_usd = None;
                metrics::counter!(GATEWAY_UNPRICED_CALLS_TOTAL, LABEL_PROVIDER => provider.clone())
                    .increment(1);
            }
        }
    }
    metrics::counter!(
        GATEWAY_REQUESTS_TOTAL,
        LABEL_PROVIDER => provider,
        LABEL_STATUS_CLASS => status_class(record.status),
    )
    .increment(1);
}

/// The provider name prices are looked up under: the route, or for `/gateway/*` calls the
/// built-in provider whose host the target is.
fn pricing_provider(record: &CallRecord) -> String {
    if record.provider != crate::provider::GATEWAY_ROUTE {
        return record.provider.clone();
    }
    let host = url::Url::parse(&record.target_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    crate::provider::BUILTIN
        .iter()
        .find(|(_, origin, _)| host.as_deref().is_some_and(|h| origin.contains(h)))
        .map_or_else(
            || record.provider.clone(),
            |(name, _, _)| (*name).to_owned(),
        )
}

/// A body as stored: text, cut at the capture limit, or nothing when omitted.
pub fn stored_body(bytes: Vec<u8>, truncated: bool, omitted: bool) -> StoredBody {
    if omitted {
        return StoredBody {
            text: None,
            truncated: false,
            omitted: true,
        };
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    StoredBody {
        text: (!text.is_empty()).then_some(text),
        truncated,
        omitted: false,
    }
}

/// The message of an upstream error body, or its start.
fn upstream_error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Option<Inner>,
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Inner {
        Object { message: Option<String> },
        Text(String),
    }
    if let Ok(e) = serde_json::from_slice::<Envelope>(body) {
        let message = match e.error {
            Some(Inner::Object { message }) => message,
            Some(Inner::Text(text)) => Some(text),
            None => e.message,
        };
        if let Some(message) = message {
            return message;
        }
    }
    let mut text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
    if text.is_empty() {
        text = "the upstream answered with an error status and no body".to_owned();
    }
    text
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

type UpstreamStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The response body the client reads: upstream bytes through a [`Capture`].
pub struct CaptureBody {
    upstream: UpstreamStream,
    capture: Capture,
    size_hint: SizeHint,
    /// Bytes still expected when the upstream declared a length. Hyper stops polling a body
    /// once it has that many bytes, so when the count reaches zero the call is marked
    /// delivered, and its record is completed after the last bytes are handed to hyper: on the
    /// next poll or when hyper drops the body, off the path of the response.
    remaining: Option<u64>,
    ended: bool,
}

impl CaptureBody {
    /// Wraps an upstream response's body.
    pub fn new(response: reqwest::Response, capture: Capture) -> Self {
        let mut size_hint = SizeHint::default();
        let remaining = response
            .content_length()
            .filter(|_| !capture.options.hide_usage_chunk);
        if let Some(length) = remaining {
            size_hint.set_exact(length);
        }
        let ended = remaining == Some(0);
        let mut body = Self {
            upstream: Box::pin(response.bytes_stream()),
            capture,
            size_hint,
            remaining,
            ended,
        };
        if ended {
            body.capture.emit(None, None);
        }
        body
    }
}

impl Body for CaptureBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.ended {
            if this.capture.delivered {
                this.capture.emit(None, None);
            }
            return Poll::Ready(None);
        }
        loop {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    let length = chunk.len() as u64;
                    let out = this.capture.on_chunk(chunk);
                    if let Some(remaining) = this.remaining.as_mut() {
                        *remaining = remaining.saturating_sub(length);
                        if *remaining == 0 {
                            this.ended = true;
                            this.capture.delivered = true;
                        }
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    if this.ended {
                        this.capture.emit(None, None);
                        return Poll::Ready(None);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.ended = true;
                    let message = format!(
                        "the upstream body failed: {}",
                        crate::upstream::describe(&error)
                    );
                    this.capture.on_end();
                    this.capture.emit(None, Some(message.clone()));
                    return Poll::Ready(Some(Err(std::io::Error::other(message))));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let rest = this.capture.on_end();
                    this.capture.emit(None, None);
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        self.size_hint
    }
}
