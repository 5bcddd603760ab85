//! Server-Sent Events: one buffer for the whole stream, sent one event per body frame.
//!
//! A stream is rendered up front into a single buffer (one allocation), with the end offset of
//! each event recorded. The response body then yields cheap [`Bytes`] slices of that buffer, one
//! per event, sleeping `chunk_delay` between events. With `x-mock-disconnect-after: N` the body
//! yields an error after `N` events, which makes the server abort the connection (HTTP/1.1) or
//! reset the stream (HTTP/2) without finishing the body.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, header};
use serde::Serialize;

use crate::json::serialization_failed;
use crate::knobs::Knobs;

/// The `content-type` both providers use for streams.
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream; charset=utf-8");

/// Builds the events of one stream.
#[derive(Debug)]
pub(crate) struct SseWriter {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl SseWriter {
    /// A writer with room for about `events` events.
    pub(crate) fn with_capacity(events: usize) -> Self {
        Self {
            buf: Vec::with_capacity(events * 256),
            ends: Vec::with_capacity(events),
        }
    }

    /// Appends `data: <json>\n\n` (OpenAI chat and completions).
    pub(crate) fn data<T: Serialize>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        self.buf.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut self.buf, value)?;
        self.finish_event();
        Ok(())
    }

    /// Appends `data: <text>\n\n` with `text` as it is, for `[DONE]`.
    pub(crate) fn raw_data(&mut self, text: &str) {
        self.buf.extend_from_slice(b"data: ");
        self.buf.extend_from_slice(text.as_bytes());
        self.finish_event();
    }

    /// Appends `event: <name>\ndata: <json>\n\n` (Anthropic and the Responses API).
    pub(crate) fn event<T: Serialize>(
        &mut self,
        name: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.buf.extend_from_slice(b"event: ");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\ndata: ");
        serde_json::to_writer(&mut self.buf, value)?;
        self.finish_event();
        Ok(())
    }

    fn finish_event(&mut self) {
        self.buf.extend_from_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }

    /// The streaming response, paced and cut short as `knobs` say.
    pub(crate) fn into_response(self, knobs: &Knobs) -> Response {
        let stream = EventStream {
            disconnect_at: knobs
                .disconnect_after
                .map_or(usize::MAX, |after| after.min(self.ends.len())),
            body: Bytes::from(self.buf),
            ends: self.ends,
            next: 0,
            start: 0,
            delay: knobs.chunk_delay,
        };
        let body = futures_util::stream::unfold(stream, EventStream::next_frame);
        (
            [
                (header::CONTENT_TYPE, EVENT_STREAM),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            Body::from_stream(body),
        )
            .into_response()
    }
}

/// Renders a stream with `render`, or answers 500 if serialization fails.
pub(crate) fn stream_response(
    knobs: &Knobs,
    events: usize,
    render: impl FnOnce(&mut SseWriter) -> Result<(), serde_json::Error>,
) -> Response {
    let mut writer = SseWriter::with_capacity(events);
    match render(&mut writer) {
        Ok(()) => writer.into_response(knobs),
        Err(_) => serialization_failed(),
    }
}

/// The error that ends a stream cut short by `x-mock-disconnect-after`.
#[derive(Debug, thiserror::Error)]
#[error("canopy-mock aborted the stream as x-mock-disconnect-after asked")]
pub(crate) struct Disconnect;

/// The state of a streaming body.
struct EventStream {
    body: Bytes,
    ends: Vec<usize>,
    next: usize,
    start: usize,
    delay: Duration,
    /// After this many events the body fails; `usize::MAX` when it never does.
    disconnect_at: usize,
}

impl EventStream {
    async fn next_frame(mut self) -> Option<(Result<Bytes, Disconnect>, Self)> {
        if self.next == self.disconnect_at {
            // Give the server one turn to flush the events already sent: hyper drops what it
            // still buffers when a body fails. Then fail once; a failed body is not polled again.
            tokio::task::yield_now().await;
            self.disconnect_at = usize::MAX;
            self.next = self.ends.len();
            return Some((Err(Disconnect), self));
        }
        let end = *self.ends.get(self.next)?;
        if self.next > 0 && !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let frame = self.body.slice(self.start..end);
        self.start = end;
        self.next += 1;
        Some((Ok(frame), self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    fn writer() -> SseWriter {
        let mut writer = SseWriter::with_capacity(3);
        writer
            .event("ping", &serde_json::json!({"type": "ping"}))
            .unwrap();
        writer.data(&[1, 2]).unwrap();
        writer.raw_data("[DONE]");
        writer
    }

    async fn frames(writer: SseWriter, disconnect_after: Option<usize>) -> Vec<Result<Bytes, ()>> {
        let knobs = Knobs {
            disconnect_after,
            ..Knobs::default()
        };
        let body = writer.into_response(&knobs).into_body();
        body.into_data_stream()
            .map(|frame| frame.map_err(|_| ()))
            .collect()
            .await
    }

    #[tokio::test]
    async fn yields_one_frame_per_event() {
        let frames = frames(writer(), None).await;
        let expected: Vec<Result<Bytes, ()>> = vec![
            Ok(Bytes::from_static(
                b"event: ping\ndata: {\"type\":\"ping\"}\n\n",
            )),
            Ok(Bytes::from_static(b"data: [1,2]\n\n")),
            Ok(Bytes::from_static(b"data: [DONE]\n\n")),
        ];
        assert_eq!(frames, expected);
    }

    #[tokio::test]
    async fn disconnect_fails_after_n_events_even_past_the_end() {
        let cut = frames(writer(), Some(1)).await;
        assert_eq!(cut.len(), 2);
        assert!(cut[0].is_ok() && cut[1].is_err());
        let late = frames(writer(), Some(10)).await;
        assert_eq!(late.len(), 4);
        assert!(late[3].is_err());
    }
}
