//! Token usage of one call, in one shape for every provider.

use serde::{Deserialize, Serialize};

/// Token counts of one call.
///
/// Every detail count is a *subset* of a total: `cache_read_tokens`, `cache_write_tokens`,
/// `cache_write_1h_tokens` and `audio_input_tokens` are part of `prompt_tokens`;
/// `reasoning_tokens` and `audio_output_tokens` are part of `completion_tokens`. Providers that
/// report them apart (Anthropic's `input_tokens` excludes cache reads and writes) are normalised
/// to this shape by the extractor, so sums and cost work the same for all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// All input tokens, cached ones included.
    pub prompt_tokens: u64,
    /// All output tokens, reasoning and audio included.
    pub completion_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to the prompt cache with the default (5 minute) lifetime.
    pub cache_write_tokens: u64,
    /// Input tokens written to the prompt cache with a one-hour lifetime.
    pub cache_write_1h_tokens: u64,
    /// Output tokens spent on hidden reasoning.
    pub reasoning_tokens: u64,
    /// Input tokens that were audio.
    pub audio_input_tokens: u64,
    /// Output tokens that were audio.
    pub audio_output_tokens: u64,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}
