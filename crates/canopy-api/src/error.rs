//! The API's one error type and its public codes.
//!
//! Every failure answers Helicone's envelope, `{"data": null, "error": "<message>"}`, with the
//! status below. Messages name what was wrong (the field, the filter column, the id).
//!
//! | variant | status | when |
//! |---|---|---|
//! | `BadRequest` | 400 | a malformed body, an unknown filter table / column / operator, a bad value |
//! | `Unauthorized` | 401 | a missing, unknown or revoked key |
//! | `NotFound` | 404 | no such request or session in the caller's organisation |
//! | `Store` | 500 | the store failed |

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_store::StoreError;
use serde::Serialize;

/// What went wrong, as answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No usable key.
    #[error("{0}")]
    Unauthorized(String),
    /// Nothing by that id.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Helicone's response envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// The result, or null on error.
    pub data: Option<T>,
    /// The error message, or null on success.
    pub error: Option<String>,
}

/// Wraps a result in the envelope.
pub fn ok<T: Serialize>(data: T) -> Json<Envelope<T>> {
    Json(Envelope {
        data: Some(data),
        error: None,
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope::<()> {
            data: None,
            error: Some(self.to_string()),
        };
        (self.status(), Json(body)).into_response()
    }
}

/// The answer of an annotation: an empty success, or a 404 naming what was not found.
pub fn done_or_not_found(
    exists: bool,
    what: impl FnOnce() -> String,
) -> ApiResult<Json<Envelope<()>>> {
    if exists {
        Ok(Json(Envelope {
            data: None,
            error: None,
        }))
    } else {
        Err(ApiError::NotFound(what()))
    }
}

/// The handlers' result.
pub type ApiResult<T> = Result<T, ApiError>;
