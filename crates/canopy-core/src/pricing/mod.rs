//! The price catalog and the cost of a call in integer nano-USD.
//!
//! [`PriceCatalog::builtin`] is the versioned catalog compiled from
//! `crates/canopy-core/pricing/catalog.json` (a data file, built by `build_catalog.py` and
//! described in the README beside it); users extend or override it with their own file in the
//! same format or in LiteLLM's ([`PriceCatalog::from_json`], [`PriceCatalog::merge`]).
//! [`PriceCatalog::lookup`] finds the entry for a model as a provider reported it, and
//! [`ModelPrice::cost_nano_usd`] prices a [`Usage`](crate::Usage).
//!
//! Layout: `price` holds prices and cost, `format` and `litellm` read the two file formats,
//! `matching` finds names, `error` says why a file was rejected. Nothing here reads files,
//! counts unknown models or logs: callers pass text in and record a `None` cost as null.

mod error;
mod format;
mod litellm;
mod matching;
mod price;

#[cfg(test)]
mod tests;

pub use error::PricingError;
pub use price::{ModelPrice, PriceTier};

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use matching::{Index, Rules};

/// The built-in catalog's text.
const BUILTIN: &str = include_str!("../../pricing/catalog.json");

/// A set of model prices with the rules that match model names to them.
#[derive(Debug, Clone)]
pub struct PriceCatalog {
    version: String,
    entries: Vec<Entry>,
    rules: Rules,
    index: Index,
}

/// The catalog entry that prices a looked-up model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceMatch<'a> {
    /// The catalog provider of the entry (`google` for the `gemini` route).
    pub provider: &'a str,
    /// The entry's model name, as the catalog spells it.
    pub model: &'a str,
    /// The entry's prices.
    pub price: &'a ModelPrice,
}

/// One priced model; `provider` is lowercase, `model` as the file spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    provider: String,
    model: String,
    price: ModelPrice,
}

/// What a parsed file contributes.
struct Parts {
    version: String,
    entries: Vec<Entry>,
    rules: Rules,
}

impl PriceCatalog {
    /// The catalog compiled into the binary (`pricing/catalog.json`).
    ///
    /// It is parsed on each call (about a millisecond): build it once at startup and share it.
    pub fn builtin() -> Result<Self, PricingError> {
        Self::from_json(BUILTIN)
    }

    /// Parses a catalog file: Canopy's own format (an object with `version` and `models`), or
    /// LiteLLM's `model_prices_and_context_window.json` (an object keyed by model name),
    /// detected automatically.
    pub fn from_json(text: &str) -> Result<Self, PricingError> {
        let value: Value =
            serde_json::from_str(text).map_err(|source| PricingError::Json { source })?;
        let parts = match value {
            Value::Object(object)
                if object.contains_key("models") || object.contains_key("version") =>
            {
                format::parse(text)?
            }
            Value::Object(object) => litellm::parse(object)?,
            other => {
                return Err(PricingError::UnknownFormat {
                    found: error::json_type(&other),
                });
            }
        };
        Ok(Self::from_parts(parts))
    }

    fn from_parts(parts: Parts) -> Self {
        let mut entries = parts.entries;
        resolve_aliases(&mut entries, &parts.rules);
        let index = Index::build(&entries, &parts.rules.provider_priority);
        Self {
            version: parts.version,
            entries,
            rules: parts.rules,
            index,
        }
    }

    /// Adds or replaces entries and rules from `overrides`.
    ///
    /// An override entry replaces a built-in entry of the same provider and model (ignoring
    /// case). Override model rules are tried before the existing ones and replace any with the
    /// same prefix and providers; override provider aliases win; providers named in the
    /// override's priority list go first. The version becomes `"<this>+<overrides>"`.
    pub fn merge(&mut self, overrides: PriceCatalog) {
        let PriceCatalog {
            version,
            mut entries,
            rules: new_rules,
            ..
        } = overrides;
        self.rules
            .provider_aliases
            .extend(new_rules.provider_aliases);
        resolve_aliases(&mut self.entries, &self.rules);
        resolve_aliases(&mut entries, &self.rules);

        let mut positions: HashMap<(String, String), usize> = (self.entries.iter())
            .enumerate()
            .map(|(position, e)| ((e.provider.clone(), e.model.to_lowercase()), position))
            .collect();
        for entry in entries {
            let key = (entry.provider.clone(), entry.model.to_lowercase());
            match positions.get(&key) {
                Some(&position) => self.entries[position] = entry,
                None => {
                    positions.insert(key, self.entries.len());
                    self.entries.push(entry);
                }
            }
        }

        let rules = &mut self.rules;
        let mut priority = new_rules.provider_priority;
        priority.append(&mut rules.provider_priority);
        let mut seen = HashSet::new();
        priority.retain(|provider| seen.insert(provider.clone()));
        rules.provider_priority = priority;
        let mut model_rules = new_rules.model_rules;
        rules.model_rules.retain(|old| {
            !model_rules
                .iter()
                .any(|new| new.prefix == old.prefix && new.providers == old.providers)
        });
        model_rules.append(&mut rules.model_rules);
        rules.model_rules = model_rules;

        if !version.is_empty() && version != self.version {
            self.version = format!("{}+{version}", self.version);
        }
        self.index = Index::build(&self.entries, &self.rules.provider_priority);
    }

    /// The catalog's version, such as `2026-11`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many models the catalog prices.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog prices no model.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many models the catalog prices for one provider (a route name such as `gemini` is
    /// resolved to its catalog provider).
    pub fn provider_len(&self, provider: &str) -> usize {
        let provider = provider.trim().to_ascii_lowercase();
        let provider = self.rules.resolve(&provider);
        self.entries
            .iter()
            .filter(|entry| entry.provider == provider)
            .count()
    }

    /// Prices `usage` of `model` as `provider` reported it: the catalog model it matched and the
    /// cost in nano-USD, or `None` when the model has no price.
    pub fn price(&self, provider: &str, model: &str, usage: &crate::Usage) -> Option<(&str, i64)> {
        let found = self.lookup(provider, model)?;
        Some((found.model, found.price.cost_nano_usd(usage)))
    }

    /// Finds the price for a model as a provider reported it, or `None` when the catalog does
    /// not know the model (record the cost as null then, never 0).
    ///
    /// `provider` is the route's provider name (`openai`, `gemini`, `openrouter`, or a
    /// user-configured name the catalog does not know, which falls back to the model alone).
    /// The order is the exact name, the name without a dated-snapshot suffix, the catalog's
    /// prefix rules, and then the same with the model alone across all providers.
    pub fn lookup(&self, provider: &str, model: &str) -> Option<PriceMatch<'_>> {
        let position = self.index.lookup(&self.rules, provider, model)?;
        let entry = self.entries.get(position)?;
        Some(PriceMatch {
            provider: &entry.provider,
            model: &entry.model,
            price: &entry.price,
        })
    }
}

/// Renames entries filed under a route name (`gemini`) to the catalog provider (`google`).
fn resolve_aliases(entries: &mut [Entry], rules: &Rules) {
    for entry in entries {
        if let Some(provider) = rules.provider_aliases.get(&entry.provider) {
            entry.provider.clone_from(provider);
        }
    }
}
