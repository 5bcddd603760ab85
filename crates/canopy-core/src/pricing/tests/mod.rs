//! Tests of the pricing module, one file per concern: `lookup` (the built-in catalog and name
//! matching), `files` (both file formats, merging, errors), `cost` (hand-computed costs) and
//! `properties` (cost never drops when tokens are added). Shared helpers live here.

mod cost;
mod files;
mod lookup;
mod properties;

use super::{ModelPrice, PriceCatalog};

/// Femto-USD per token for a price in USD per 1M tokens.
fn per_m(usd: f64) -> u64 {
    (usd * 1e9).round() as u64
}

/// The built-in catalog, which must parse.
fn builtin() -> PriceCatalog {
    PriceCatalog::builtin().expect("the built-in catalog parses")
}

/// `(catalog provider, catalog model)` of what `lookup` finds.
fn found(catalog: &PriceCatalog, provider: &str, model: &str) -> Option<(String, String)> {
    let hit = catalog.lookup(provider, model)?;
    Some((hit.provider.to_owned(), hit.model.to_owned()))
}

/// What `found` returns for a hit.
fn pair(provider: &str, model: &str) -> Option<(String, String)> {
    Some((provider.to_owned(), model.to_owned()))
}

/// The built-in price of a model the catalog must know.
fn price_of(provider: &str, model: &str) -> ModelPrice {
    let catalog = builtin();
    let hit = catalog.lookup(provider, model);
    hit.expect("the model is in the catalog").price.clone()
}
