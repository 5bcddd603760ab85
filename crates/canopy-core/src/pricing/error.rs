//! The error raised when a price catalog cannot be loaded.
//!
//! Only loading fails: a lookup of a model the catalog does not know is `None`, not an error.

use thiserror::Error;

/// Why a price catalog file was rejected. Each variant names the part of the file at fault.
#[derive(Debug, Error)]
pub enum PricingError {
    /// The text is not JSON.
    #[error("price catalog is not valid JSON: {source}")]
    Json {
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is not an object, so it is neither Canopy's format nor LiteLLM's.
    #[error(
        "price catalog must be a JSON object (Canopy's format with `version` and `models`, or \
         LiteLLM's map of model names), found {found}"
    )]
    UnknownFormat {
        /// The JSON type found at the top level.
        found: &'static str,
    },
    /// A Canopy-format file does not match the schema: a missing, unknown or mistyped field.
    #[error("price catalog does not match Canopy's format: {source}")]
    Schema {
        /// The parser's error; it names the field and gives line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The file states a unit other than USD per 1M tokens.
    #[error("price catalog unit must be \"USD per 1M tokens\", found {unit:?}")]
    UnsupportedUnit {
        /// The unit the file states.
        unit: String,
    },
    /// A model entry has an empty provider or model name.
    #[error("model entry {index} of the price catalog has an empty `{field}`")]
    EmptyName {
        /// The entry's position in `models`, from 0.
        index: usize,
        /// `provider` or `model`.
        field: &'static str,
    },
    /// A price is negative, not finite or absurdly large.
    #[error(
        "price `{field}` of {provider}/{model} must be a non-negative number of USD no larger than \
         1000 USD per token, found {value}"
    )]
    InvalidPrice {
        /// The entry's provider.
        provider: String,
        /// The entry's model.
        model: String,
        /// The price field at fault, as named in the file.
        field: String,
        /// The value found.
        value: f64,
    },
    /// A LiteLLM entry is not an object.
    #[error("LiteLLM entry {model:?} must be an object, found {found}")]
    NotAnEntry {
        /// The entry's key.
        model: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// A LiteLLM field that must be a number or a numeric string is something else.
    #[error("field `{field}` of LiteLLM entry {model:?} must be a number, found {found}")]
    NotANumber {
        /// The entry's key.
        model: String,
        /// The field at fault.
        field: String,
        /// The value found, as JSON.
        found: String,
    },
    /// The same provider and model (ignoring case) appear twice in one file.
    #[error("{provider}/{model} is listed twice in the price catalog")]
    DuplicateModel {
        /// The provider.
        provider: String,
        /// The model.
        model: String,
    },
    /// Two long-context tiers of one model have the same threshold.
    #[error("{provider}/{model} has two tiers above {above_prompt_tokens} prompt tokens")]
    DuplicateTier {
        /// The provider.
        provider: String,
        /// The model.
        model: String,
        /// The repeated threshold.
        above_prompt_tokens: u64,
    },
    /// A model rule cannot be applied.
    #[error("model rule {index} of the price catalog is invalid: {reason}")]
    InvalidRule {
        /// The rule's position in `rules.model_rules`, from 0.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The name of a JSON value's type, for error messages.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
