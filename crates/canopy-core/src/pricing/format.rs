//! Canopy's own catalog file format, described in `crates/canopy-core/pricing/README.md`.
//!
//! This module turns the file's text into validated entries and rules: prices in USD per 1M
//! tokens become integer femto-USD per token, names are checked, rules are lowercased. Matching
//! and cost are not here.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::error::PricingError;
use super::matching::{ModelRule, Rules};
use super::price::{ModelPrice, PriceTier, femto_from_usd_per_million};
use super::{Entry, Parts};

/// The only unit the format accepts.
const UNIT: &str = "USD per 1M tokens";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    version: String,
    #[serde(default, rename = "source")]
    _source: Option<IgnoredAny>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    rules: RulesFile,
    models: Vec<ModelFile>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    provider_aliases: BTreeMap<String, String>,
    #[serde(default)]
    provider_priority: Vec<String>,
    #[serde(default)]
    model_rules: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default, rename = "note")]
    _note: Option<IgnoredAny>,
    #[serde(default)]
    providers: Vec<String>,
    prefix: String,
    #[serde(default)]
    strip_prefix: bool,
    #[serde(default)]
    cut_at: Option<String>,
    #[serde(default)]
    replace: Vec<(String, String)>,
    #[serde(default)]
    provider: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    provider: String,
    model: String,
    input: f64,
    #[serde(default)]
    output: Option<f64>,
    #[serde(default)]
    cache_read: Option<f64>,
    #[serde(default)]
    cache_write_5m: Option<f64>,
    #[serde(default)]
    cache_write_1h: Option<f64>,
    #[serde(default)]
    reasoning: Option<f64>,
    #[serde(default)]
    audio_input: Option<f64>,
    #[serde(default)]
    audio_output: Option<f64>,
    #[serde(default)]
    tiers: Vec<TierFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierFile {
    above_prompt_tokens: u64,
    #[serde(default)]
    input: Option<f64>,
    #[serde(default)]
    output: Option<f64>,
    #[serde(default)]
    cache_read: Option<f64>,
}

/// Parses and validates a file in Canopy's format.
pub(crate) fn parse(text: &str) -> Result<Parts, PricingError> {
    let file: CatalogFile =
        serde_json::from_str(text).map_err(|source| PricingError::Schema { source })?;
    if let Some(unit) = file.unit.filter(|unit| unit != UNIT) {
        return Err(PricingError::UnsupportedUnit { unit });
    }
    let entries = file
        .models
        .into_iter()
        .enumerate()
        .map(|(index, model)| model.into_entry(index))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(&entries)?;
    Ok(Parts {
        version: file.version,
        entries,
        rules: file.rules.into_rules()?,
    })
}

/// Fails on the first provider and model (ignoring case) listed twice.
pub(crate) fn check_unique(entries: &[Entry]) -> Result<(), PricingError> {
    let mut seen = HashSet::with_capacity(entries.len());
    for entry in entries {
        if !seen.insert((entry.provider.as_str(), entry.model.to_lowercase())) {
            return Err(PricingError::DuplicateModel {
                provider: entry.provider.clone(),
                model: entry.model.clone(),
            });
        }
    }
    Ok(())
}

/// Sorts tiers by threshold and fails when two share one.
pub(crate) fn sort_tiers(entry: &mut Entry) -> Result<(), PricingError> {
    entry
        .price
        .tiers
        .sort_by_key(|tier| tier.above_prompt_tokens);
    let repeated = entry
        .price
        .tiers
        .windows(2)
        .find(|pair| pair[0].above_prompt_tokens == pair[1].above_prompt_tokens);
    match repeated {
        Some(pair) => Err(PricingError::DuplicateTier {
            provider: entry.provider.clone(),
            model: entry.model.clone(),
            above_prompt_tokens: pair[0].above_prompt_tokens,
        }),
        None => Ok(()),
    }
}

impl ModelFile {
    fn into_entry(self, index: usize) -> Result<Entry, PricingError> {
        let provider = self.provider.trim().to_ascii_lowercase();
        let model = self.model.trim().to_owned();
        for (field, value) in [("provider", &provider), ("model", &model)] {
            if value.is_empty() {
                return Err(PricingError::EmptyName { index, field });
            }
        }
        let usd = |field: &str, value: f64| {
            femto_from_usd_per_million(value).ok_or_else(|| PricingError::InvalidPrice {
                provider: provider.clone(),
                model: model.clone(),
                field: field.to_owned(),
                value,
            })
        };
        let optional = |field: &str, value: Option<f64>| value.map(|v| usd(field, v)).transpose();
        let tiers = self
            .tiers
            .into_iter()
            .map(|tier| {
                Ok(PriceTier {
                    above_prompt_tokens: tier.above_prompt_tokens,
                    input: optional("tiers.input", tier.input)?,
                    output: optional("tiers.output", tier.output)?,
                    cache_read: optional("tiers.cache_read", tier.cache_read)?,
                })
            })
            .collect::<Result<Vec<_>, PricingError>>()?;
        let price = ModelPrice {
            input: usd("input", self.input)?,
            output: optional("output", self.output)?.unwrap_or(0),
            cache_read: optional("cache_read", self.cache_read)?,
            cache_write_5m: optional("cache_write_5m", self.cache_write_5m)?,
            cache_write_1h: optional("cache_write_1h", self.cache_write_1h)?,
            reasoning: optional("reasoning", self.reasoning)?,
            audio_input: optional("audio_input", self.audio_input)?,
            audio_output: optional("audio_output", self.audio_output)?,
            tiers,
        };
        let mut entry = Entry {
            provider,
            model,
            price,
        };
        sort_tiers(&mut entry)?;
        Ok(entry)
    }
}

impl RulesFile {
    fn into_rules(self) -> Result<Rules, PricingError> {
        let lower = |text: &str| text.trim().to_lowercase();
        let model_rules = self
            .model_rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| {
                let invalid = |reason| PricingError::InvalidRule { index, reason };
                if rule.prefix.trim().is_empty() {
                    return Err(invalid("`prefix` is empty"));
                }
                if rule.cut_at.as_deref().is_some_and(str::is_empty) {
                    return Err(invalid("`cut_at` is empty"));
                }
                if rule.replace.iter().any(|(from, _)| from.is_empty()) {
                    return Err(invalid("a `replace` pair replaces the empty string"));
                }
                Ok(ModelRule {
                    providers: rule.providers.iter().map(|p| lower(p)).collect(),
                    prefix: lower(&rule.prefix),
                    strip_prefix: rule.strip_prefix,
                    cut_at: rule.cut_at.map(|cut| cut.to_lowercase()),
                    replace: (rule.replace.iter())
                        .map(|(from, to)| (from.to_lowercase(), to.to_lowercase()))
                        .collect(),
                    provider: rule.provider.map(|p| lower(&p)),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rules {
            provider_aliases: (self.provider_aliases.iter())
                .map(|(route, provider)| (lower(route), lower(provider)))
                .collect(),
            provider_priority: self.provider_priority.iter().map(|p| lower(p)).collect(),
            model_rules,
        })
    }
}
