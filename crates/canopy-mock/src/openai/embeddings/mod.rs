//! `POST /v1/embeddings`: deterministic unit vectors, one per input.
//!
//! `input` may be a string, an array of strings, one token array or an array of token arrays.
//! Each vector has 8 components (or the request's `dimensions`, up to [`MAX_DIMENSIONS`]),
//! derived from the model and the input, and normalized to length 1. `encoding_format: "base64"`
//! (what the official Python SDK asks for by default) gets the little-endian `f32` bytes in
//! base64, like the real API.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::digest::Fnv;
use crate::error::{Flavor, MockError};
use crate::handler::{AppState, prologue};
use crate::json::json_response;
use crate::knobs::Knobs;

mod inputs;
mod vector;

use inputs::Inputs;
use vector::Vector;

/// Components per vector when the request does not ask for `dimensions`.
pub(crate) const DEFAULT_DIMENSIONS: usize = 8;

/// The most components the mock computes per vector.
pub(crate) const MAX_DIMENSIONS: usize = 4096;

#[derive(Deserialize)]
struct EmbeddingRequest<'a> {
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    input: Inputs,
    #[serde(default, borrow)]
    encoding_format: Option<Cow<'a, str>>,
    #[serde(default)]
    dimensions: Option<usize>,
}

/// Handles one embeddings request.
pub(crate) async fn handle(State(state): State<AppState>, request: Request) -> Response {
    match prologue(&state, request, Flavor::OpenAi).await {
        Ok((knobs, body)) => answer(&knobs, &body).unwrap_or_else(|e| e.response(Flavor::OpenAi)),
        Err(response) => response,
    }
}

fn answer(knobs: &Knobs, body: &[u8]) -> Result<Response, MockError> {
    let request: EmbeddingRequest<'_> = serde_json::from_slice(body)?;
    let dimensions = request
        .dimensions
        .unwrap_or(DEFAULT_DIMENSIONS)
        .clamp(1, MAX_DIMENSIONS);
    let base64 = request.encoding_format.as_deref() == Some("base64");
    let mut model_digest = Fnv::new();
    model_digest.write(request.model.as_bytes());
    model_digest.write(b"\0");
    let data: Vec<Embedding> = (0..)
        .zip(&request.input.0)
        .map(|(index, input)| Embedding {
            object: "embedding",
            index,
            embedding: Vector {
                seed: model_digest.finish() ^ input.digest,
                dimensions,
                base64,
            },
        })
        .collect();
    let tokens = request.input.0.iter().map(|input| input.tokens).sum();
    let list = List {
        object: "list",
        data,
        model: &request.model,
        usage: (!knobs.no_usage).then_some(Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        }),
    };
    Ok(json_response(StatusCode::OK, &list))
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: u32,
    embedding: Vector,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}
