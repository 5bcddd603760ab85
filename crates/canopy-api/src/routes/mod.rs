//! Handlers, one module per resource. Each is thin: validate the body into a store query, run
//! it in the caller's organisation, convert the result to the wire shape.

pub mod analytics;
pub mod custom_log;
pub mod replay;
pub mod requests;
pub mod sessions;

use canopy_core::CallId;

use crate::error::ApiError;

/// Parses a call id from the path, or answers 404 as for an unknown id.
pub fn call_id(text: &str) -> Result<CallId, ApiError> {
    CallId::parse(text)
        .ok_or_else(|| ApiError::NotFound(format!("no request `{text}`: request ids are UUIDs")))
}
