//! `POST /v1/responses`: the OpenAI Responses API, plain or streamed.
//!
//! The stream has the real event sequence, each as `event: <type>\ndata: <json>\n\n`:
//! `response.created`, `response.in_progress`, `response.output_item.added`,
//! `response.content_part.added`, several `response.output_text.delta`,
//! `response.output_text.done`, `response.content_part.done`, `response.output_item.done`, and
//! `response.completed`, whose `response.usage` carries the token counts.

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
use crate::json::{CREATED, Id, Tri, json_response};
use crate::knobs::Knobs;
use crate::reply::Reply;
use crate::sse::stream_response;

mod shapes;

use shapes::{
    Empty, ItemEvent, OutputItem, OutputText, PartEvent, ResponseEvent, ResponseObject, TextEvent,
};

#[derive(Deserialize)]
struct ResponsesRequest<'a> {
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    instructions: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
}

/// Handles one Responses API request.
pub(crate) async fn handle(State(state): State<AppState>, request: Request) -> Response {
    match prologue(&state, request, Flavor::OpenAi).await {
        Ok((knobs, body)) => answer(&knobs, &body).unwrap_or_else(|e| e.response(Flavor::OpenAi)),
        Err(response) => response,
    }
}

fn answer(knobs: &Knobs, body: &[u8]) -> Result<Response, MockError> {
    let request: ResponsesRequest<'_> = serde_json::from_slice(body)?;
    let conversation = Conversation::parse_input(request.input)?;
    let instructions = input::text(request.instructions)?;
    let mut prompt_tokens = conversation.tokens;
    let mut digest = Fnv::new();
    if let Some(raw) = request.instructions {
        prompt_tokens += instructions.words + TOKENS_PER_MESSAGE;
        digest.write(raw.get().as_bytes());
    }
    digest.write(b"\0");
    if let Some(raw) = request.input {
        digest.write(raw.get().as_bytes());
    }
    let reply = Reply::new(&request.model, digest, conversation.last_user.as_deref());
    let usage = Usage::new(prompt_tokens, reply.words, knobs);
    let digest = fnv1a(body);
    let item_id = Id {
        prefix: "msg_mock_",
        digest,
    };
    let done_text = [OutputText::new(&reply.text)];
    let done_item = [OutputItem::new(item_id, "completed", &done_text)];
    let response = ResponseObject {
        id: Id {
            prefix: "resp_mock_",
            digest,
        },
        object: "response",
        created_at: CREATED,
        status: "completed",
        error: (),
        incomplete_details: (),
        instructions: request.instructions,
        model: &request.model,
        output: &done_item,
        parallel_tool_calls: true,
        previous_response_id: (),
        tool_choice: "auto",
        tools: &[],
        usage: if knobs.no_usage {
            Tri::Absent
        } else {
            Tri::Value(&usage)
        },
        metadata: Empty {},
    };
    if request.stream != Some(true) {
        return Ok(json_response(StatusCode::OK, &response));
    }
    let events = reply.chunks().count() + 8;
    Ok(stream_response(knobs, events, |sse| {
        let mut seq = Sequence(0);
        let item = OutputItem::new(item_id, "in_progress", &[]);
        let empty = OutputText::new("");
        let started = ResponseObject {
            status: "in_progress",
            output: &[],
            usage: if knobs.no_usage {
                Tri::Absent
            } else {
                Tri::Null
            },
            ..response
        };
        for kind in ["response.created", "response.in_progress"] {
            sse.event(kind, &ResponseEvent::new(kind, seq.next(), &started))?;
        }
        let kind = "response.output_item.added";
        sse.event(kind, &ItemEvent::new(kind, seq.next(), &item))?;
        let kind = "response.content_part.added";
        sse.event(kind, &PartEvent::new(kind, seq.next(), item_id, &empty))?;
        for piece in reply.chunks() {
            let kind = "response.output_text.delta";
            sse.event(kind, &TextEvent::delta(seq.next(), item_id, piece))?;
        }
        let kind = "response.output_text.done";
        sse.event(kind, &TextEvent::done(seq.next(), item_id, &reply.text))?;
        let kind = "response.content_part.done";
        sse.event(
            kind,
            &PartEvent::new(kind, seq.next(), item_id, &done_text[0]),
        )?;
        let kind = "response.output_item.done";
        sse.event(kind, &ItemEvent::new(kind, seq.next(), &done_item[0]))?;
        let kind = "response.completed";
        sse.event(kind, &ResponseEvent::new(kind, seq.next(), &response))
    }))
}

/// The `sequence_number` counter of a stream.
struct Sequence(u32);

impl Sequence {
    fn next(&mut self) -> u32 {
        let current = self.0;
        self.0 += 1;
        current
    }
}

/// Responses API usage: `input_tokens` include the cached ones, `output_tokens` the reasoning.
#[derive(Serialize)]
pub(super) struct Usage {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Serialize)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct OutputDetails {
    reasoning_tokens: u64,
}

impl Usage {
    fn new(prompt: u64, reply: u64, knobs: &Knobs) -> Self {
        let input_tokens = prompt + knobs.cached_tokens;
        let output_tokens = reply + knobs.reasoning_tokens;
        Self {
            input_tokens,
            input_tokens_details: InputDetails {
                cached_tokens: knobs.cached_tokens,
            },
            output_tokens,
            output_tokens_details: OutputDetails {
                reasoning_tokens: knobs.reasoning_tokens,
            },
            total_tokens: input_tokens + output_tokens,
        }
    }
}
