//! The API's one error type and its public codes.
//!
//! Every failure answers Helicone's envelope, `{"data": null, "error": "<message>"}`, with the
//! status below. Messages name what was wrong (the field, the filter column, the id), except
//! for the store's failures: those answer a generic message, and the cause travels in the
//! response's [`ErrorCause`] extension to the server's logging layer, never to the client.
//!
//! | variant | status | message |
//! |---|---|---|
//! | `BadRequest` | 400 | a malformed body or query string, an unknown filter table / column / operator, a bad value |
//! | `Unauthorized` | 401 | a missing, unknown or revoked key |
//! | `NotFound` | 404 | no such request or session in the caller's organisation |
//! | `TooManyRequests` | 429 | the organisation already runs as many replays as it may |
//! | `Failed` | 500 | a replay job failed; a message fit to answer (the cause is logged where it happened) |
//! | `Store` | 500 | `internal error` (the cause is logged) |

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
    /// The organisation already runs as much of this as it may.
    #[error("{0}")]
    TooManyRequests(String),
    /// A replay job failed; the text is fit to answer, its cause was logged.
    #[error("{0}")]
    Failed(String),
    /// The store failed. Its text names tables and driver details, so it is logged, not answered.
    #[error("internal error")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Failed(_) | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What is logged about a server error; `None` for the client's errors.
    pub fn cause(&self) -> Option<String> {
        match self {
            Self::Store(error) => Some(format!("the store failed: {error}")),
            Self::Failed(message) => Some(message.clone()),
            Self::BadRequest(_)
            | Self::Unauthorized(_)
            | Self::NotFound(_)
            | Self::TooManyRequests(_) => None,
        }
    }
}

/// Why a response is a server error, for the logging layer in front of the API. It is a
/// response extension: it never reaches the client.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

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
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(cause) = self.cause() {
            response.extensions_mut().insert(ErrorCause(cause));
        }
        response
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_store_failure_answers_a_generic_message_and_keeps_the_cause_for_the_log() {
        let driver_text = "no such column: calls.secret_column";
        let error = ApiError::Store(StoreError::Read {
            what: "session list",
            source: driver_text.into(),
        });
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = response.extensions().get::<ErrorCause>().cloned().unwrap();
        assert!(cause.0.contains(driver_text), "{cause:?}");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(body, r#"{"data":null,"error":"internal error"}"#);
    }
}
