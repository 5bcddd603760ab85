//! Extractors: JSON bodies whose errors are 400s in the API's envelope, and the caller's
//! organisation.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use canopy_store::Principal;

use crate::error::ApiError;

/// `axum::Json`, but a body that does not parse is a 400 naming the field.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "invalid request body: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// The caller's organisation, set by the auth layer. Without one the call is refused: no
/// handler can run unscoped.
pub struct Org(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Org {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Self)
            .ok_or_else(|| {
                ApiError::Unauthorized("no organisation was established for this call".into())
            })
    }
}
