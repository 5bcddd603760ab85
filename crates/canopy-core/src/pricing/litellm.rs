//! Reading LiteLLM's `model_prices_and_context_window.json` into catalog entries.
//!
//! LiteLLM's file is an object keyed by model name (`gpt-4o`, `gemini/gemini-2.5-pro`,
//! `together_ai/meta-llama/...`) whose values hold per-token USD prices and a
//! `litellm_provider`. Keys are turned into what the provider's API reports (the routing prefix
//! goes) and providers into Canopy's names (`gemini` → `google`). Entries without a per-token
//! input price (images, audio by the second) and entries whose every price is zero (LiteLLM's
//! placeholders) are left out, so such models cost null rather than a false 0. The key
//! `sample_spec` documents the format and is skipped. Rules are not part of LiteLLM's format.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{PricingError, json_type};
use super::format::sort_tiers;
use super::matching::Rules;
use super::price::{ModelPrice, PriceTier, femto_from_usd_per_token};
use super::{Entry, Parts};

/// The version reported by a catalog read from LiteLLM's file, which carries none.
pub(crate) const VERSION: &str = "litellm";

/// LiteLLM's `litellm_provider` values that differ from Canopy's provider names.
const PROVIDERS: &[(&str, &str)] = &[
    ("codestral", "mistral"),
    ("cohere_chat", "cohere"),
    ("fireworks_ai", "fireworks"),
    ("fireworks_ai-embedding-models", "fireworks"),
    ("gemini", "google"),
    ("text-completion-codestral", "mistral"),
    ("text-completion-openai", "openai"),
    ("together_ai", "together"),
];

/// Parses LiteLLM's format from the file's top-level object.
pub(crate) fn parse(object: Map<String, Value>) -> Result<Parts, PricingError> {
    // Keyed by (provider, lowercase model); the value remembers whether the key had a routing
    // prefix, so an entry named as the API names it wins over a prefixed duplicate.
    let mut chosen: BTreeMap<(String, String), (bool, Entry)> = BTreeMap::new();
    for (key, value) in object {
        if key == "sample_spec" {
            continue;
        }
        let Value::Object(fields) = value else {
            return Err(PricingError::NotAnEntry {
                found: json_type(&value),
                model: key,
            });
        };
        let Some((prefixed, entry)) = entry(&key, &fields)? else {
            continue;
        };
        let slot = (entry.provider.clone(), entry.model.to_lowercase());
        match chosen.get(&slot) {
            Some((false, _)) => {}
            Some((true, _)) if prefixed => {}
            _ => {
                chosen.insert(slot, (prefixed, entry));
            }
        }
    }
    Ok(Parts {
        version: VERSION.to_owned(),
        entries: chosen.into_values().map(|(_, entry)| entry).collect(),
        rules: Rules::default(),
    })
}

/// One entry, with whether its key carried a routing prefix; `None` when it has no token price.
fn entry(key: &str, fields: &Map<String, Value>) -> Result<Option<(bool, Entry)>, PricingError> {
    let price = |field: &str| -> Result<Option<u64>, PricingError> {
        let number = match fields.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(number)) => number.as_f64(),
            Some(Value::String(text)) => text.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        let not_a_number = || PricingError::NotANumber {
            model: key.to_owned(),
            field: field.to_owned(),
            found: fields.get(field).map(Value::to_string).unwrap_or_default(),
        };
        let usd = number.ok_or_else(not_a_number)?;
        let femto = femto_from_usd_per_token(usd).ok_or_else(|| PricingError::InvalidPrice {
            provider: provider_of(fields).0,
            model: key.to_owned(),
            field: field.to_owned(),
            value: usd,
        })?;
        Ok(Some(femto))
    };
    let Some(input) = price("input_cost_per_token")? else {
        return Ok(None);
    };
    let mut tiers: BTreeMap<u64, PriceTier> = BTreeMap::new();
    for field in fields.keys() {
        let Some((kind, threshold)) = tier_field(field) else {
            continue;
        };
        let tier = tiers.entry(threshold).or_insert_with(|| PriceTier {
            above_prompt_tokens: threshold,
            ..PriceTier::default()
        });
        let value = price(field)?;
        match kind {
            TierKind::Input => tier.input = value,
            TierKind::Output => tier.output = value,
            TierKind::CacheRead => tier.cache_read = value,
        }
    }
    let price = ModelPrice {
        input,
        output: price("output_cost_per_token")?.unwrap_or(0),
        cache_read: price("cache_read_input_token_cost")?,
        cache_write_5m: price("cache_creation_input_token_cost")?,
        cache_write_1h: price("cache_creation_input_token_cost_above_1hr")?,
        reasoning: price("output_cost_per_reasoning_token")?,
        audio_input: price("input_cost_per_audio_token")?,
        audio_output: price("output_cost_per_audio_token")?,
        tiers: tiers.into_values().collect(),
    };
    if is_all_zero(&price) {
        return Ok(None);
    }
    let (provider, route) = provider_of(fields);
    let model = [route.as_str(), provider.as_str()]
        .into_iter()
        .filter(|prefix| !prefix.is_empty())
        .find_map(|prefix| key.strip_prefix(prefix)?.strip_prefix('/'))
        .filter(|model| !model.is_empty());
    let prefixed = model.is_some();
    let mut entry = Entry {
        provider,
        model: model.unwrap_or(key).to_owned(),
        price,
    };
    sort_tiers(&mut entry)?;
    Ok(Some((prefixed, entry)))
}

/// Canopy's provider name and LiteLLM's routing prefix (the part of `litellm_provider` before
/// a `-`, as in `vertex_ai-language-models`).
fn provider_of(fields: &Map<String, Value>) -> (String, String) {
    let litellm = fields
        .get("litellm_provider")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let route = litellm.split('-').next().unwrap_or_default().to_owned();
    let provider = match PROVIDERS.iter().find(|(from, _)| *from == litellm) {
        Some((_, to)) => (*to).to_owned(),
        None => match litellm.strip_prefix("text-completion-") {
            Some(rest) => rest.to_owned(),
            None if route.is_empty() => "unknown".to_owned(),
            None => route.clone(),
        },
    };
    (provider, route)
}

enum TierKind {
    Input,
    Output,
    CacheRead,
}

/// Recognises `input_cost_per_token_above_200k_tokens` and its output and cache-read kin.
fn tier_field(field: &str) -> Option<(TierKind, u64)> {
    let (kind, rest) = if let Some(rest) = field.strip_prefix("input_cost_per_token_above_") {
        (TierKind::Input, rest)
    } else if let Some(rest) = field.strip_prefix("output_cost_per_token_above_") {
        (TierKind::Output, rest)
    } else if let Some(rest) = field.strip_prefix("cache_read_input_token_cost_above_") {
        (TierKind::CacheRead, rest)
    } else {
        return None;
    };
    let thousands: u64 = rest.strip_suffix("k_tokens")?.parse().ok()?;
    Some((kind, thousands.checked_mul(1000)?))
}

fn is_all_zero(price: &ModelPrice) -> bool {
    let details = [
        price.cache_read,
        price.cache_write_5m,
        price.cache_write_1h,
        price.reasoning,
        price.audio_input,
        price.audio_output,
    ];
    let tiers = price
        .tiers
        .iter()
        .flat_map(|tier| [tier.input, tier.output, tier.cache_read]);
    price.input == 0
        && price.output == 0
        && details.into_iter().chain(tiers).flatten().all(|p| p == 0)
}
