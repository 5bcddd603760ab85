//! One model's prices and the cost of one call, in integers.
//!
//! Prices are held as femto-USD (1e-15 USD) per token, so every decimal price a provider
//! publishes (down to 1e-9 USD per 1M tokens) is exact, and costs are summed in `u128` with no
//! rounding until the single conversion to nano-USD at the end. Parsing files and matching
//! model names live elsewhere ([`super::format`], [`super::litellm`], [`super::matching`]).

use crate::usage::Usage;

/// Femto-USD in one nano-USD.
const FEMTO_PER_NANO: u128 = 1_000_000;
/// Femto-USD per token for a price of 1 USD per 1M tokens.
const FEMTO_PER_USD_PER_MILLION: f64 = 1e9;
/// Femto-USD per token for a price of 1 USD per token.
const FEMTO_PER_USD_PER_TOKEN: f64 = 1e15;
/// The highest price accepted, in femto-USD per token (1000 USD per token).
const MAX_FEMTO_PER_TOKEN: f64 = 1e18;

/// The prices of one model, in femto-USD (1e-15 USD) per token.
///
/// A `None` detail price falls back as [`ModelPrice::cost_nano_usd`] describes; `tiers` are the
/// long-context prices, sorted by threshold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelPrice {
    /// Price of an uncached text input token.
    pub input: u64,
    /// Price of a text output token.
    pub output: u64,
    /// Price of an input token read from the prompt cache.
    pub cache_read: Option<u64>,
    /// Price of an input token written to the prompt cache with the default (5 minute) lifetime.
    pub cache_write_5m: Option<u64>,
    /// Price of an input token written to the prompt cache with a one-hour lifetime.
    pub cache_write_1h: Option<u64>,
    /// Price of a reasoning output token, when it differs from `output`.
    pub reasoning: Option<u64>,
    /// Price of an audio input token.
    pub audio_input: Option<u64>,
    /// Price of an audio output token.
    pub audio_output: Option<u64>,
    /// Long-context prices, sorted by `above_prompt_tokens`, lowest first.
    pub tiers: Vec<PriceTier>,
}

/// Prices that replace the base ones for a whole call whose prompt exceeds a threshold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTier {
    /// The tier applies when `prompt_tokens` is strictly greater than this.
    pub above_prompt_tokens: u64,
    /// Replaces [`ModelPrice::input`]; `None` keeps the base price.
    pub input: Option<u64>,
    /// Replaces [`ModelPrice::output`]; `None` keeps the base price.
    pub output: Option<u64>,
    /// Replaces [`ModelPrice::cache_read`]; `None` keeps the base price.
    pub cache_read: Option<u64>,
}

impl ModelPrice {
    /// The cost of a call in nano-USD (1e-9 USD), rounded half up.
    ///
    /// Detail counts are subsets of the totals (see [`Usage`]), so the uncached input is
    /// `prompt − cache_read − cache_write − cache_write_1h − audio_input` (never below zero) and
    /// the plain output is `completion − reasoning − audio_output`. Each part is priced apart:
    /// cache reads, 5-minute cache writes and audio input fall back to the input price; one-hour
    /// cache writes fall back to the 5-minute price, then the input price; reasoning and audio
    /// output fall back to the output price. When `prompt_tokens` is above a tier's threshold,
    /// the highest such tier's input, output and cache-read prices replace the base ones for the
    /// whole call. The result saturates at `i64::MAX` and is never negative.
    pub fn cost_nano_usd(&self, usage: &Usage) -> i64 {
        let femto = self.cost_femto_usd(usage);
        let nano = femto.saturating_add(FEMTO_PER_NANO / 2) / FEMTO_PER_NANO;
        i64::try_from(nano).unwrap_or(i64::MAX)
    }

    /// The exact cost of a call in femto-USD (1e-15 USD), before rounding to nano-USD.
    pub fn cost_femto_usd(&self, usage: &Usage) -> u128 {
        let tier = self
            .tiers
            .iter()
            .rev()
            .find(|tier| usage.prompt_tokens > tier.above_prompt_tokens);
        let input = tier.and_then(|t| t.input).unwrap_or(self.input);
        let output = tier.and_then(|t| t.output).unwrap_or(self.output);
        let cache_read = tier.and_then(|t| t.cache_read).or(self.cache_read);
        let cache_write_5m = self.cache_write_5m.unwrap_or(input);

        let uncached_input = usage
            .prompt_tokens
            .saturating_sub(usage.cache_read_tokens)
            .saturating_sub(usage.cache_write_tokens)
            .saturating_sub(usage.cache_write_1h_tokens)
            .saturating_sub(usage.audio_input_tokens);
        let plain_output = usage
            .completion_tokens
            .saturating_sub(usage.reasoning_tokens)
            .saturating_sub(usage.audio_output_tokens);

        [
            (uncached_input, input),
            (usage.cache_read_tokens, cache_read.unwrap_or(input)),
            (usage.cache_write_tokens, cache_write_5m),
            (
                usage.cache_write_1h_tokens,
                self.cache_write_1h.unwrap_or(cache_write_5m),
            ),
            (usage.audio_input_tokens, self.audio_input.unwrap_or(input)),
            (plain_output, output),
            (usage.reasoning_tokens, self.reasoning.unwrap_or(output)),
            (
                usage.audio_output_tokens,
                self.audio_output.unwrap_or(output),
            ),
        ]
        .into_iter()
        .fold(0u128, |sum, (tokens, price)| {
            sum.saturating_add(u128::from(tokens) * u128::from(price))
        })
    }
}

/// Converts a price in USD per 1M tokens to femto-USD per token, rounded to the nearest unit.
///
/// Returns `None` for a negative, non-finite or absurdly large price.
pub(crate) fn femto_from_usd_per_million(usd: f64) -> Option<u64> {
    to_femto(usd * FEMTO_PER_USD_PER_MILLION)
}

/// Converts a price in USD per token to femto-USD per token, rounded to the nearest unit.
///
/// Returns `None` for a negative, non-finite or absurdly large price.
pub(crate) fn femto_from_usd_per_token(usd: f64) -> Option<u64> {
    to_femto(usd * FEMTO_PER_USD_PER_TOKEN)
}

fn to_femto(femto: f64) -> Option<u64> {
    if !(0.0..=MAX_FEMTO_PER_TOKEN).contains(&femto) {
        return None;
    }
    // In range by the check above, and rounded, so the cast is exact.
    Some(femto.round() as u64)
}
