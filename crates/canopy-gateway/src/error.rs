//! Errors Canopy itself answers on proxy routes, in the provider's own error shape.
//!
//! Upstream errors are never rewritten: they pass through as the upstream sent them. These are
//! only the failures that happen in Canopy, classified by where they come from as in the
//! public error table below.
//!
//! | kind | status | OpenAI `type` | Anthropic `type` |
//! |---|---|---|---|
//! | `InvalidHeader` | 400 | `invalid_request_error` | `invalid_request_error` |
//! | `InvalidBody` | 400 | `invalid_request_error` | `invalid_request_error` |
//! | `InvalidPath` | 400 | `invalid_request_error` | `invalid_request_error` |
//! | `Unauthorized` | 401 | `invalid_request_error` | `authentication_error` |
//! | `UnknownRoute` | 404 | `invalid_request_error` | `not_found_error` |
//! | `TargetNotAllowed` | 403 | `invalid_request_error` | `permission_error` |
//! | `PayloadTooLarge` | 413 | `invalid_request_error` | `request_too_large` |
//! | `RateLimited` | 429 | `rate_limit_error` | `rate_limit_error` |
//! | `UpstreamUnreachable` | 502 | `upstream_error` | `api_error` |
//! | `UpstreamTimeout` | 504 | `upstream_error` | `timeout_error` |
//! | `ShuttingDown` | 503 | `upstream_error` | `overloaded_error` |

use axum::response::{IntoResponse, Response};
use canopy_core::extract::WireFormat;
use http::{HeaderValue, StatusCode, header};

/// Where a failure comes from and how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A Canopy header is malformed (the client's fault).
    InvalidHeader,
    /// The request body could not be read (the client stopped sending it).
    InvalidBody,
    /// The path would leave the provider's base path (`..` in any spelling).
    InvalidPath,
    /// No valid Canopy key was sent while keys are required.
    Unauthorized,
    /// No provider serves the route.
    UnknownRoute,
    /// `Helicone-Target-Url` is not in the configured allow-list.
    TargetNotAllowed,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// A rate-limit policy's quota is used up (answered with `X-Helicone-Error: rate_limited`).
    RateLimited,
    /// The upstream could not be reached or broke the connection.
    UpstreamUnreachable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// Canopy is shutting down and cut the call.
    ShuttingDown,
}

impl ErrorKind {
    /// The HTTP status answered.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidHeader => StatusCode::BAD_REQUEST,
            Self::InvalidBody => StatusCode::BAD_REQUEST,
            Self::InvalidPath => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UnknownRoute => StatusCode::NOT_FOUND,
            Self::TargetNotAllowed => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable, low-cardinality name for metrics and the OpenAI `code` field.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidHeader => "invalid_header",
            Self::InvalidBody => "invalid_body",
            Self::InvalidPath => "invalid_path",
            Self::Unauthorized => "invalid_canopy_key",
            Self::UnknownRoute => "unknown_route",
            Self::TargetNotAllowed => "target_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::ShuttingDown => "shutting_down",
        }
    }

    fn openai_type(self) -> &'static str {
        match self {
            Self::UpstreamUnreachable | Self::UpstreamTimeout | Self::ShuttingDown => {
                "upstream_error"
            }
            Self::RateLimited => "rate_limit_error",
            _ => "invalid_request_error",
        }
    }

    fn anthropic_type(self) -> &'static str {
        match self {
            Self::InvalidHeader => "invalid_request_error",
            Self::InvalidBody => "invalid_request_error",
            Self::InvalidPath => "invalid_request_error",
            Self::Unauthorized => "authentication_error",
            Self::UnknownRoute => "not_found_error",
            Self::TargetNotAllowed => "permission_error",
            Self::PayloadTooLarge => "request_too_large",
            Self::RateLimited => "rate_limit_error",
            Self::UpstreamUnreachable => "api_error",
            Self::UpstreamTimeout => "timeout_error",
            Self::ShuttingDown => "overloaded_error",
        }
    }

    fn google_status(self) -> &'static str {
        match self {
            Self::InvalidHeader => "INVALID_ARGUMENT",
            Self::InvalidBody => "INVALID_ARGUMENT",
            Self::InvalidPath => "INVALID_ARGUMENT",
            Self::Unauthorized => "UNAUTHENTICATED",
            Self::UnknownRoute => "NOT_FOUND",
            Self::TargetNotAllowed => "PERMISSION_DENIED",
            Self::PayloadTooLarge => "INVALID_ARGUMENT",
            Self::RateLimited => "RESOURCE_EXHAUSTED",
            Self::UpstreamUnreachable => "UNAVAILABLE",
            Self::UpstreamTimeout => "DEADLINE_EXCEEDED",
            Self::ShuttingDown => "UNAVAILABLE",
        }
    }
}

/// A failure Canopy answers itself.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GatewayError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// A sentence for the client; names the header, limit or upstream involved.
    pub message: String,
    /// The error shape to answer in.
    pub format: WireFormat,
    /// The header named by an `InvalidHeader` error, for OpenAI's `param` field.
    pub param: Option<&'static str>,
}

impl GatewayError {
    /// A new error answered in `format`'s shape.
    pub fn new(kind: ErrorKind, format: WireFormat, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            format,
            param: None,
        }
    }

    /// Names the offending header.
    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// The JSON body in the provider's shape.
    pub fn body(&self) -> serde_json::Value {
        match self.format {
            WireFormat::Openai => serde_json::json!({
                "error": {
                    "message": self.message,
                    "type": self.kind.openai_type(),
                    "param": self.param,
                    "code": self.kind.code(),
                }
            }),
            WireFormat::Anthropic => serde_json::json!({
                "type": "error",
                "error": { "type": self.kind.anthropic_type(), "message": self.message },
            }),
            WireFormat::Gemini => serde_json::json!({
                "error": {
                    "code": self.kind.status().as_u16(),
                    "message": self.message,
                    "status": self.kind.google_status(),
                }
            }),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = (self.kind.status(), self.body().to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_each_providers_shape() {
        let err = GatewayError::new(ErrorKind::InvalidHeader, WireFormat::Openai, "bad id")
            .with_param("Helicone-Request-Id");
        assert_eq!(
            err.body(),
            serde_json::json!({"error": {"message": "bad id", "type": "invalid_request_error",
                "param": "Helicone-Request-Id", "code": "invalid_header"}})
        );
        let err = GatewayError::new(ErrorKind::UpstreamTimeout, WireFormat::Anthropic, "slow");
        assert_eq!(
            err.body(),
            serde_json::json!({"type": "error", "error": {"type": "timeout_error", "message": "slow"}})
        );
        assert_eq!(err.kind.status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
