//! The capture guard: observes a response as it streams to the client and records the call once.
//!
//! [`CaptureBody`] wraps the upstream body. Every chunk goes to the client as it arrived; a
//! copy (capped at the capture limit) is kept for the record, and streamed responses are split
//! into SSE events and observed for usage as they pass. When Canopy added
//! `stream_options.include_usage` for the client, the body is forwarded event by event instead,
//! without the usage-only chunk and the `"usage":null` members the option adds.
//!
//! The [`Capture`] inside holds the call's [`CallGuard`] and completes it once: when the body
//! is dropped after its end (on a task of its own, so after hyper has flushed the last bytes),
//! when the upstream fails mid-body, when shutdown cuts the call, or on `Drop` when the client
//! went away first (status −3, with the usage seen so far or an estimate). A client
//! that leaves after the stream's last event (`[DONE]`, `message_stop`) got the whole answer:
//! that call is recorded as the upstream answered it.
//!
//! Nothing here needs a server: [`CaptureBody::from_stream`] takes any stream of chunks, so
//! the unit tests in `capture/tests.rs` drive it directly.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use canopy_core::extract::request::strip_null_usage;
use canopy_core::extract::{self, StreamObserver, WireFormat};
use canopy_core::record::STATUS_CLIENT_CANCELLED;
use canopy_core::sse::{RawEvent, SseSplitter};
use http_body::{Body, Frame, SizeHint};

use crate::recorder::{CallGuard, Outcome, millis, stored_body};
use crate::upstream::UpstreamStream;

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
    /// Keep the whole body the client receives, up to this many bytes, for the cache.
    pub keep_for_cache: Option<usize>,
}

/// Why a capture ended early.
const CLIENT_LEFT: &str = "the client disconnected before the response ended";
const CUT_AT_SHUTDOWN: &str = "Canopy shut down before the response ended";

/// Observes one call's response and completes its record once.
pub struct Capture {
    guard: CallGuard,
    options: CaptureOptions,
    splitter: SseSplitter,
    observer: StreamObserver,
    body: Vec<u8>,
    body_truncated: bool,
    /// Every byte the upstream declared has reached the client's body: the call succeeded,
    /// even if the body is dropped before it is polled again.
    delivered: bool,
    /// The bytes the client received, for the cache; `None` once over the limit.
    kept: Option<Vec<u8>>,
}

impl Capture {
    /// Starts capturing the response of the call `guard` owns.
    pub fn new(guard: CallGuard, options: CaptureOptions) -> Self {
        Self {
            guard,
            options,
            splitter: SseSplitter::new(),
            observer: StreamObserver::new(options.format),
            body: Vec::new(),
            body_truncated: false,
            delivered: false,
            kept: options.keep_for_cache.map(|_| Vec::new()),
        }
    }

    /// Observes one upstream chunk and returns the bytes the client gets for it.
    fn on_chunk(&mut self, chunk: Bytes) -> Bytes {
        let out = self.observe_chunk(chunk);
        self.keep_for_cache(&out);
        out
    }

    /// Adds bytes the client gets to the copy kept for the cache.
    fn keep_for_cache(&mut self, bytes: &[u8]) {
        let limit = self.options.keep_for_cache.unwrap_or(0);
        if let Some(kept) = self.kept.as_mut() {
            if kept.len() + bytes.len() > limit {
                self.kept = None;
            } else {
                kept.extend_from_slice(bytes);
            }
        }
    }

    fn observe_chunk(&mut self, chunk: Bytes) -> Bytes {
        if self.options.is_stream {
            let started = self.guard.started();
            if self.guard.record().time_to_first_token_ms.is_none() {
                let ttft = started.elapsed();
                self.guard.record().time_to_first_token_ms = Some(millis(ttft));
                self.guard.recorder().meters().upstream_ttft(ttft);
            }
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
        let rest = self.finish_events();
        self.keep_for_cache(&rest);
        rest
    }

    fn finish_events(&mut self) -> Bytes {
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
        let limit = self.guard.recorder().body_capture_limit();
        let room = limit.saturating_sub(self.body.len());
        if chunk.len() > room {
            self.body_truncated = true;
        }
        self.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// Completes the record. `status` overrides the upstream's (for a call cut short);
    /// `error` notes a failure.
    fn emit(&mut self, status: Option<i32>, error: Option<String>) {
        if self.guard.is_done() {
            return;
        }
        let facts = if self.options.is_stream {
            std::mem::take(&mut self.observer).into_facts()
        } else {
            extract::usage_from_body(self.options.format, &self.body)
        };
        let upstream_status = self.guard.record().status;
        let error = error.or_else(|| {
            (status.is_none() && upstream_status >= 400).then(|| upstream_error_text(&self.body))
        });
        let body = std::mem::take(&mut self.body);
        let response_body = stored_body(body, self.body_truncated, self.options.omit_response);
        let succeeded =
            status.is_none() && error.is_none() && (200..300).contains(&upstream_status);
        let kept_body = self.kept.take().filter(|_| succeeded).map(Bytes::from);
        self.guard.finish(Outcome {
            status,
            error,
            facts,
            response_body: Some(response_body),
            format: Some(self.options.format),
            kept_body,
        });
    }

    /// Every byte reached the client's body: the call succeeded, and its record is completed
    /// when the capture is dropped, or now when recording is durable (a durable record is
    /// spooled before the response's last bytes are handed over).
    fn mark_delivered(&mut self) {
        self.delivered = true;
        if self.guard.recorder().is_durable() {
            self.emit(None, None);
        }
    }

    /// Ends a stream cut short: the events seen so far are read, then the record is completed.
    fn cut_short(&mut self, reason: &str) {
        self.on_end();
        self.emit(Some(STATUS_CLIENT_CANCELLED), Some(reason.to_owned()));
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // A client may close a stream as soon as it reads the last event (the Anthropic SDK
        // does), before Canopy reads the upstream's end: the answer reached it whole.
        if self.delivered || self.observer.ended() {
            self.emit(None, None);
        } else if !self.guard.is_done() {
            self.cut_short(CLIENT_LEFT);
        }
    }
}

/// Observes one event and appends the bytes the client gets for it, hiding the usage chunk.
fn forward_event(observer: &mut StreamObserver, event: RawEvent<'_>, out: &mut Vec<u8>) {
    // A piece of an event too long to hold goes on unread and unchanged.
    if !event.whole {
        out.extend_from_slice(event.bytes);
        return;
    }
    if observer.observe(&event.parse()) {
        return;
    }
    out.extend_from_slice(&strip_null_usage(event.bytes));
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

type CutSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The response body the client reads: upstream bytes through a [`Capture`].
pub struct CaptureBody {
    upstream: UpstreamStream,
    /// Taken only by `Drop`.
    capture: Option<Capture>,
    size_hint: SizeHint,
    /// Bytes still expected when the upstream declared a length. Hyper stops polling a body
    /// once it has that many bytes, so when the count reaches zero the call is marked
    /// delivered. With durable recording it is completed (and spooled) before the last bytes
    /// are handed over; otherwise when the body is dropped (see `Drop`).
    remaining: Option<u64>,
    ended: bool,
    /// Resolves when shutdown cuts calls in flight; made on the first wait for the upstream.
    cut: Option<CutSignal>,
}

impl CaptureBody {
    /// Wraps any stream of upstream chunks; `length` is the length the upstream declared.
    pub fn from_stream(
        upstream: UpstreamStream,
        length: Option<u64>,
        mut capture: Capture,
    ) -> Self {
        let mut size_hint = SizeHint::default();
        let remaining = length.filter(|_| !capture.options.hide_usage_chunk);
        if let Some(length) = remaining {
            size_hint.set_exact(length);
        }
        let ended = remaining == Some(0);
        if ended {
            capture.emit(None, None);
        }
        Self {
            upstream,
            capture: Some(capture),
            size_hint,
            remaining,
            ended,
            cut: None,
        }
    }
}

/// Whether shutdown cut the call; registers for the cut when it has not happened yet.
fn poll_cut(cut: &mut Option<CutSignal>, capture: &Capture, cx: &mut Context<'_>) -> bool {
    let recorder = capture.guard.recorder();
    if recorder.is_cut() {
        return true;
    }
    let signal = cut.get_or_insert_with(|| Box::pin(recorder.cut_signal()));
    signal.as_mut().poll(cx).is_ready()
}

impl Body for CaptureBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let Some(capture) = this.capture.as_mut() else {
            return Poll::Ready(None);
        };
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => {
                    if poll_cut(&mut this.cut, capture, cx) {
                        this.ended = true;
                        capture.cut_short(CUT_AT_SHUTDOWN);
                        let error = std::io::Error::other(CUT_AT_SHUTDOWN);
                        return Poll::Ready(Some(Err(error)));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    let length = chunk.len() as u64;
                    let out = capture.on_chunk(chunk);
                    if let Some(remaining) = this.remaining.as_mut() {
                        *remaining = remaining.saturating_sub(length);
                        if *remaining == 0 {
                            this.ended = true;
                            capture.mark_delivered();
                        }
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    if this.ended {
                        return Poll::Ready(None);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.ended = true;
                    let message = format!("the upstream body failed: {error}");
                    capture.on_end();
                    capture.emit(None, Some(message.clone()));
                    return Poll::Ready(Some(Err(std::io::Error::other(message))));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let rest = capture.on_end();
                    capture.mark_delivered();
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

impl Drop for CaptureBody {
    /// Hyper drops a body once it has buffered the body's last bytes and before it writes them
    /// to the socket. Completing the record (reading usage, pricing, redacting, queueing) there
    /// would put that work between the upstream's answer and the client's, so the capture is
    /// dropped on a task of its own, which the runtime runs after this connection's task has
    /// flushed and yielded. Outside a runtime it is dropped here.
    fn drop(&mut self) {
        let Some(capture) = self.capture.take() else {
            return;
        };
        if capture.guard.is_done() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { drop(capture) });
        }
    }
}

#[cfg(test)]
mod tests;
