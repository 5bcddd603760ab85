//! The OpenAI endpoints, and the usage object that chat and legacy completions share.

pub(crate) mod chat;
pub(crate) mod completions;
pub(crate) mod embeddings;
pub(crate) mod models;
pub(crate) mod responses;

use serde::{Deserialize, Serialize};

use crate::knobs::Knobs;

/// The `system_fingerprint` of chat responses.
pub(crate) const FINGERPRINT: &str = "fp_canopy_mock";

/// Chat and legacy completion usage, with every detail field the real API sends.
#[derive(Debug, Serialize)]
pub(crate) struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Debug, Serialize)]
struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Debug, Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl Usage {
    /// Usage for a prompt of `prompt` tokens and a reply of `reply` words, with the knobs'
    /// cached tokens added to the prompt and reasoning tokens added to the completion.
    pub(crate) fn new(prompt: u64, reply: u64, knobs: &Knobs) -> Self {
        let prompt_tokens = prompt + knobs.cached_tokens;
        let completion_tokens = reply + knobs.reasoning_tokens;
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens: knobs.cached_tokens,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: knobs.reasoning_tokens,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

/// The request's `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// Whether a stream should end with a usage chunk (and carry `"usage":null` before it).
pub(crate) fn include_usage(options: Option<&StreamOptions>, knobs: &Knobs) -> bool {
    !knobs.no_usage && options.and_then(|options| options.include_usage) == Some(true)
}
