//! `POST /v1/messages`: the Anthropic Messages API, plain or streamed.
//!
//! A stream is `message_start` (usage with the input and cache tokens and `output_tokens: 1`),
//! `content_block_start`, `ping`, several `content_block_delta`s (`text_delta`),
//! `content_block_stop`, `message_delta` (`stop_reason:"end_turn"` and the final
//! `output_tokens`), then `message_stop`, each as `event: <type>\ndata: <json>\n\n`.
//! As in the real API, `input_tokens` excludes the cache read and write tokens.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::digest::{Fnv, fnv1a};
use crate::error::{Flavor, MockError};
use crate::handler::{AppState, prologue};
use crate::input::{self, Conversation, TOKENS_PER_MESSAGE};
use crate::json::{Id, json_response};
use crate::knobs::Knobs;
use crate::reply::Reply;
use crate::sse::stream_response;

#[derive(Deserialize)]
struct MessagesRequest<'a> {
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    system: Option<&'a RawValue>,
    #[serde(default, borrow)]
    messages: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
}

/// Handles one Messages request.
pub(crate) async fn handle(State(state): State<AppState>, request: Request) -> Response {
    match prologue(&state, request, Flavor::Anthropic).await {
        Ok((knobs, body)) => {
            answer(&knobs, &body).unwrap_or_else(|e| e.response(Flavor::Anthropic))
        }
        Err(response) => response,
    }
}

fn answer(knobs: &Knobs, body: &[u8]) -> Result<Response, MockError> {
    let request: MessagesRequest<'_> = serde_json::from_slice(body)?;
    let conversation = Conversation::parse(request.messages)?;
    let system = input::text(request.system)?;
    let mut input_tokens = conversation.tokens;
    let mut digest = Fnv::new();
    if let Some(raw) = request.system {
        input_tokens += system.words + TOKENS_PER_MESSAGE;
        digest.write(raw.get().as_bytes());
    }
    digest.write(b"\0");
    if let Some(raw) = request.messages {
        digest.write(raw.get().as_bytes());
    }
    let mut reply = Reply::new(&request.model, digest, conversation.last_user.as_deref());
    reply.lengthen_to(knobs.reply_words);
    let usage = Usage {
        input_tokens,
        cache_creation_input_tokens: knobs.cache_write_tokens,
        cache_read_input_tokens: knobs.cached_tokens,
        output_tokens: reply.words + knobs.reasoning_tokens,
    };
    let usage = (!knobs.no_usage).then_some(usage);
    let id = Id {
        prefix: "msg_mock_",
        digest: fnv1a(body),
    };
    let model = &*request.model;
    if request.stream != Some(true) {
        let text = [TextBlock::new(&reply.text)];
        let message = Message::new(id, model, &text, Some("end_turn"), usage);
        return Ok(json_response(StatusCode::OK, &message));
    }
    let events = reply.chunks().count() + 6;
    Ok(stream_response(knobs, events, |sse| {
        let start_usage = usage.map(|usage| Usage {
            output_tokens: 1,
            ..usage
        });
        let message = Message::new(id, model, &[], None, start_usage);
        sse.event(
            "message_start",
            &MessageStart {
                kind: "message_start",
                message,
            },
        )?;
        sse.event(
            "content_block_start",
            &BlockStart {
                kind: "content_block_start",
                index: 0,
                content_block: TextBlock::new(""),
            },
        )?;
        sse.event("ping", &Bare { kind: "ping" })?;
        for piece in reply.chunks() {
            let delta = BlockDelta {
                kind: "content_block_delta",
                index: 0,
                delta: TextDelta {
                    kind: "text_delta",
                    text: piece,
                },
            };
            sse.event("content_block_delta", &delta)?;
        }
        sse.event(
            "content_block_stop",
            &BlockStop {
                kind: "content_block_stop",
                index: 0,
            },
        )?;
        let delta = MessageDelta {
            kind: "message_delta",
            delta: StopDelta {
                stop_reason: "end_turn",
                stop_sequence: (),
            },
            usage: usage.map(|usage| OutputUsage {
                output_tokens: usage.output_tokens,
            }),
        };
        sse.event("message_delta", &delta)?;
        sse.event(
            "message_stop",
            &Bare {
                kind: "message_stop",
            },
        )
    }))
}

#[derive(Clone, Copy, Serialize)]
struct Usage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

#[derive(Serialize)]
struct Message<'a> {
    id: Id,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: &'a [TextBlock<'a>],
    stop_reason: Option<&'static str>,
    stop_sequence: (),
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

impl<'a> Message<'a> {
    const fn new(
        id: Id,
        model: &'a str,
        content: &'a [TextBlock<'a>],
        stop_reason: Option<&'static str>,
        usage: Option<Usage>,
    ) -> Self {
        Self {
            id,
            kind: "message",
            role: "assistant",
            model,
            content,
            stop_reason,
            stop_sequence: (),
            usage,
        }
    }
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

impl<'a> TextBlock<'a> {
    const fn new(text: &'a str) -> Self {
        Self { kind: "text", text }
    }
}

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: Message<'a>,
}

#[derive(Serialize)]
struct BlockStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    content_block: TextBlock<'a>,
}

#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: TextDelta<'a>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct BlockStop {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
}

#[derive(Serialize)]
struct MessageDelta {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: StopDelta,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<OutputUsage>,
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: (),
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u64,
}

/// An event whose data is only its type (`ping`, `message_stop`).
#[derive(Serialize)]
struct Bare {
    #[serde(rename = "type")]
    kind: &'static str,
}
