//! `POST /v1/chat/completions`: a `chat.completion`, or a stream of `chat.completion.chunk`s.
//!
//! A stream is: a chunk with `delta:{"role":"assistant","content":""}`, content chunks of a few
//! words, a chunk with an empty delta and `finish_reason:"stop"`, then `data: [DONE]`. With
//! `stream_options.include_usage` every chunk ends with `"usage":null` and one more chunk with
//! `"choices":[]` and the usage comes right before `[DONE]`, exactly as the real API does.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{FINGERPRINT, StreamOptions, Usage, include_usage};
use crate::digest::{Fnv, request_digest};
use crate::error::{Flavor, MockError};
use crate::handler::{AppState, prologue};
use crate::input::Conversation;
use crate::json::{CREATED, Id, Tri, json_response};
use crate::knobs::Knobs;
use crate::reply::Reply;
use crate::sse::stream_response;

#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    messages: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

/// Handles one chat completion request.
pub(crate) async fn handle(State(state): State<AppState>, request: Request) -> Response {
    match prologue(&state, request, Flavor::OpenAi).await {
        Ok((knobs, body)) => answer(&knobs, &body).unwrap_or_else(|e| e.response(Flavor::OpenAi)),
        Err(response) => response,
    }
}

fn answer(knobs: &Knobs, body: &[u8]) -> Result<Response, MockError> {
    let request: ChatRequest<'_> = serde_json::from_slice(body)?;
    let conversation = Conversation::parse(request.messages)?;
    let mut digest = Fnv::new();
    if let Some(messages) = request.messages {
        digest.write(messages.get().as_bytes());
    }
    if let Some(seed) = knobs.reply_seed {
        digest.write(&seed.to_le_bytes());
    }
    let mut reply = Reply::new(&request.model, digest, conversation.last_user.as_deref());
    reply.lengthen_to(knobs.reply_words);
    let usage = (!knobs.no_usage).then(|| Usage::new(conversation.tokens, reply.words, knobs));
    let id = Id {
        prefix: "chatcmpl-mock-",
        digest: request_digest(
            &request.model,
            request.messages.map_or("", |raw| raw.get()),
            request.stream == Some(true),
        ),
    };
    let model = &*request.model;
    if request.stream != Some(true) {
        let completion = Completion {
            id,
            object: "chat.completion",
            created: CREATED,
            model,
            choices: [Choice {
                index: 0,
                message: Message {
                    role: "assistant",
                    content: &reply.text,
                    refusal: (),
                    annotations: &[],
                },
                logprobs: (),
                finish_reason: "stop",
            }],
            usage: usage.as_ref(),
            service_tier: "default",
            system_fingerprint: FINGERPRINT,
        };
        return Ok(json_response(StatusCode::OK, &completion));
    }
    let include_usage = include_usage(request.stream_options.as_ref(), knobs);
    let per_chunk = if include_usage {
        Tri::Null
    } else {
        Tri::Absent
    };
    let events = reply.chunks().count() + 5;
    Ok(stream_response(knobs, events, |sse| {
        let first = [ChunkChoice::new(Some("assistant"), Some(""), None)];
        sse.data(&chunk(id, model, &first, per_chunk))?;
        for piece in reply.chunks() {
            let content = [ChunkChoice::new(None, Some(piece), None)];
            sse.data(&chunk(id, model, &content, per_chunk))?;
        }
        let last = [ChunkChoice::new(None, None, Some("stop"))];
        sse.data(&chunk(id, model, &last, per_chunk))?;
        if let (true, Some(usage)) = (include_usage, usage.as_ref()) {
            sse.data(&chunk(id, model, &[], Tri::Value(usage)))?;
        }
        sse.raw_data("[DONE]");
        Ok(())
    }))
}

#[derive(Serialize)]
struct Completion<'a> {
    id: Id,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a Usage>,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: (),
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: (),
    annotations: &'static [()],
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: Id,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Tri::is_absent")]
    usage: Tri<&'a Usage>,
}

fn chunk<'a>(
    id: Id,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    usage: Tri<&'a Usage>,
) -> Chunk<'a> {
    Chunk {
        id,
        object: "chat.completion.chunk",
        created: CREATED,
        model,
        system_fingerprint: FINGERPRINT,
        choices,
        usage,
    }
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'static str>,
}

impl<'a> ChunkChoice<'a> {
    const fn new(
        role: Option<&'static str>,
        content: Option<&'a str>,
        finish_reason: Option<&'static str>,
    ) -> Self {
        Self {
            index: 0,
            delta: Delta { role, content },
            logprobs: (),
            finish_reason,
        }
    }
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}
