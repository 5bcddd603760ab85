//! Suggestions for filter boxes (`GET /v1/suggest`): property keys, a key's values, user ids.

use canopy_store::query::{MAX_SUGGESTIONS, SuggestField, Suggestion};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Query parameters of `GET /v1/suggest`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// `property_key`, `property_value` (with `key`) or `user_id`.
    #[param(inline)]
    pub field: SuggestOf,
    /// The property whose values are suggested (any case).
    pub key: Option<String>,
    /// A case-insensitive substring the suggestions contain.
    pub contains: Option<String>,
    /// At most this many (default 20, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// What is suggested.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestOf {
    /// Property keys.
    PropertyKey,
    /// One property's values.
    PropertyValue,
    /// End-user ids.
    UserId,
}

impl SuggestParams {
    /// The field and the limit, checked.
    pub fn to_field(&self) -> Result<(SuggestField, u64), ApiError> {
        let field = match self.field {
            SuggestOf::PropertyKey => SuggestField::PropertyKey,
            SuggestOf::UserId => SuggestField::UserId,
            SuggestOf::PropertyValue => match self.key.as_deref().filter(|k| !k.is_empty()) {
                Some(key) => SuggestField::PropertyValue(key.to_owned()),
                None => {
                    return Err(ApiError::BadRequest(
                        "field=property_value needs the property's `key`".into(),
                    ));
                }
            },
        };
        let limit = self.limit.unwrap_or(20);
        if limit == 0 || limit > MAX_SUGGESTIONS {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_SUGGESTIONS}, got {limit}"
            )));
        }
        Ok((field, limit))
    }
}

/// One suggestion: a value seen in the latest calls and how many of them carry it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SuggestionRow {
    pub value: String,
    pub calls: u64,
}

impl From<Suggestion> for SuggestionRow {
    fn from(s: Suggestion) -> Self {
        Self {
            value: s.value,
            calls: s.calls,
        }
    }
}
