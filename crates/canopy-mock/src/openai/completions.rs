//! `POST /v1/completions`: OpenAI's legacy `text_completion`, plain or streamed.
//!
//! The prompt may be a string, an array of strings or token arrays; its words are the prompt
//! tokens. Streams are `text_completion` chunks with `choices[].text`, a last chunk with
//! `finish_reason:"stop"`, the optional usage chunk (as for chat), then `data: [DONE]`.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{StreamOptions, Usage, include_usage};
use crate::digest::{Fnv, request_digest};
use crate::error::{Flavor, MockError};
use crate::handler::{AppState, prologue};
use crate::input;
use crate::json::{CREATED, Id, Tri, json_response};
use crate::knobs::Knobs;
use crate::reply::Reply;
use crate::sse::stream_response;

#[derive(Deserialize)]
struct CompletionRequest<'a> {
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    prompt: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

/// Handles one legacy completion request.
pub(crate) async fn handle(State(state): State<AppState>, request: Request) -> Response {
    match prologue(&state, request, Flavor::OpenAi).await {
        Ok((knobs, body)) => answer(&knobs, &body).unwrap_or_else(|e| e.response(Flavor::OpenAi)),
        Err(response) => response,
    }
}

fn answer(knobs: &Knobs, body: &[u8]) -> Result<Response, MockError> {
    let request: CompletionRequest<'_> = serde_json::from_slice(body)?;
    let prompt = input::text(request.prompt)?;
    let mut digest = Fnv::new();
    if let Some(raw) = request.prompt {
        digest.write(raw.get().as_bytes());
    }
    let reply = Reply::new(&request.model, digest, prompt.first.as_deref());
    let usage = (!knobs.no_usage).then(|| Usage::new(prompt.words, reply.words, knobs));
    let id = Id {
        prefix: "cmpl-mock-",
        digest: request_digest(
            &request.model,
            request.prompt.map_or("", |raw| raw.get()),
            request.stream == Some(true),
        ),
    };
    let model = &*request.model;
    if request.stream != Some(true) {
        let choices = [Choice::new(&reply.text, Some("stop"))];
        let usage = usage.as_ref().map_or(Tri::Absent, Tri::Value);
        let completion = TextCompletion::new(id, model, &choices, usage);
        return Ok(json_response(StatusCode::OK, &completion));
    }
    let include_usage = include_usage(request.stream_options.as_ref(), knobs);
    let per_chunk = if include_usage {
        Tri::Null
    } else {
        Tri::Absent
    };
    let events = reply.chunks().count() + 3;
    Ok(stream_response(knobs, events, |sse| {
        for piece in reply.chunks() {
            let choices = [Choice::new(piece, None)];
            sse.data(&TextCompletion::new(id, model, &choices, per_chunk))?;
        }
        let last = [Choice::new("", Some("stop"))];
        sse.data(&TextCompletion::new(id, model, &last, per_chunk))?;
        if let (true, Some(usage)) = (include_usage, usage.as_ref()) {
            sse.data(&TextCompletion::new(id, model, &[], Tri::Value(usage)))?;
        }
        sse.raw_data("[DONE]");
        Ok(())
    }))
}

#[derive(Serialize)]
struct TextCompletion<'a> {
    id: Id,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [Choice<'a>],
    #[serde(skip_serializing_if = "Tri::is_absent")]
    usage: Tri<&'a Usage>,
}

impl<'a> TextCompletion<'a> {
    const fn new(id: Id, model: &'a str, choices: &'a [Choice<'a>], usage: Tri<&'a Usage>) -> Self {
        Self {
            id,
            object: "text_completion",
            created: CREATED,
            model,
            choices,
            usage,
        }
    }
}

#[derive(Serialize)]
struct Choice<'a> {
    text: &'a str,
    index: u32,
    logprobs: (),
    finish_reason: Option<&'static str>,
}

impl<'a> Choice<'a> {
    const fn new(text: &'a str, finish_reason: Option<&'static str>) -> Self {
        Self {
            text,
            index: 0,
            logprobs: (),
            finish_reason,
        }
    }
}
