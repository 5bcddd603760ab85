//! Errors the mock answers with, in the error shape of the provider whose route was called.
//!
//! OpenAI routes answer `{"error":{"message","type","param":null,"code"}}`; the Anthropic route
//! answers `{"type":"error","error":{"type","message"}}`. The `type` follows the status the way
//! each provider does (see [`openai_kind`] and [`anthropic_kind`]).

use axum::response::Response;
use http::StatusCode;
use serde::Serialize;

use crate::json::json_response;
use crate::knobs::KnobError;

/// Whose error shape to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `/v1/chat/completions`, `/v1/completions`, `/v1/responses`, `/v1/embeddings`, `/v1/models`.
    OpenAi,
    /// `/v1/messages`.
    Anthropic,
}

/// Why a request was not answered normally.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MockError {
    /// The body is not valid JSON, or a field the mock reads has the wrong type.
    #[error("We could not parse the JSON body of your request. ({0})")]
    InvalidJson(#[from] serde_json::Error),
    /// An `x-mock-*` header has an unusable value.
    #[error(transparent)]
    Knob(#[from] KnobError),
    /// The request body could not be read, or is larger than the mock accepts.
    #[error("canopy-mock could not read the request body (at most {max} bytes are accepted)")]
    Body {
        /// The size limit in bytes.
        max: usize,
    },
    /// `x-mock-status` asked for this error.
    #[error("canopy-mock: error {} requested by the x-mock-status header", .0.as_u16())]
    Requested(StatusCode),
}

impl MockError {
    /// The HTTP status of the error response.
    pub(crate) const fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_) | Self::Knob(_) => StatusCode::BAD_REQUEST,
            Self::Body { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Requested(status) => *status,
        }
    }

    /// The error response in `flavor`'s shape.
    pub(crate) fn response(&self, flavor: Flavor) -> Response {
        error_response(flavor, self.status(), &self.to_string())
    }
}

/// An error response with `status` and `message` in `flavor`'s shape.
pub(crate) fn error_response(flavor: Flavor, status: StatusCode, message: &str) -> Response {
    match flavor {
        Flavor::OpenAi => {
            let (kind, code) = openai_kind(status);
            json_response(
                status,
                &OpenAiError {
                    error: OpenAiErrorBody {
                        message,
                        kind,
                        param: (),
                        code,
                    },
                },
            )
        }
        Flavor::Anthropic => json_response(
            status,
            &AnthropicError {
                kind: "error",
                error: AnthropicErrorBody {
                    kind: anthropic_kind(status),
                    message,
                },
            },
        ),
    }
}

/// OpenAI's error `type` and `code` for a status.
pub(crate) fn openai_kind(status: StatusCode) -> (&'static str, Option<&'static str>) {
    match status.as_u16() {
        401 => ("authentication_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        500..=599 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

/// Anthropic's error `type` for a status.
pub(crate) fn anthropic_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

#[derive(Serialize)]
struct OpenAiError<'a> {
    error: OpenAiErrorBody<'a>,
}

#[derive(Serialize)]
struct OpenAiErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: (),
    code: Option<&'static str>,
}

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorBody<'a>,
}

#[derive(Serialize)]
struct AnthropicErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_status() {
        assert_eq!(
            openai_kind(StatusCode::BAD_REQUEST).0,
            "invalid_request_error"
        );
        assert_eq!(
            openai_kind(StatusCode::TOO_MANY_REQUESTS).0,
            "rate_limit_error"
        );
        assert_eq!(
            openai_kind(StatusCode::INTERNAL_SERVER_ERROR).0,
            "server_error"
        );
        assert_eq!(
            anthropic_kind(StatusCode::UNAUTHORIZED),
            "authentication_error"
        );
        assert_eq!(
            anthropic_kind(StatusCode::INTERNAL_SERVER_ERROR),
            "api_error"
        );
        let overloaded = StatusCode::from_u16(529).unwrap();
        assert_eq!(anthropic_kind(overloaded), "overloaded_error");
    }
}
