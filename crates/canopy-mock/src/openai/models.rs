//! `GET /v1/models`: a fixed model list, in OpenAI's shape or, for callers that send
//! `anthropic-version`, in Anthropic's.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header;

use crate::error::Flavor;
use crate::handler::{AppState, prologue};
use crate::json::APPLICATION_JSON;

/// The OpenAI model list.
pub(crate) const OPENAI_MODELS: &str = concat!(
    r#"{"object":"list","data":["#,
    r#"{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"canopy-mock"},"#,
    r#"{"id":"gpt-4o-mini","object":"model","created":1700000000,"owned_by":"canopy-mock"},"#,
    r#"{"id":"gpt-4.1","object":"model","created":1700000000,"owned_by":"canopy-mock"},"#,
    r#"{"id":"gpt-4.1-mini","object":"model","created":1700000000,"owned_by":"canopy-mock"},"#,
    r#"{"id":"o3-mini","object":"model","created":1700000000,"owned_by":"canopy-mock"},"#,
    r#"{"id":"gpt-3.5-turbo-instruct","object":"model","created":1700000000,"owned_by":"canopy-mock"},"#,
    r#"{"id":"text-embedding-3-small","object":"model","created":1700000000,"owned_by":"canopy-mock"}"#,
    r#"]}"#
);

/// The Anthropic model list.
pub(crate) const ANTHROPIC_MODELS: &str = concat!(
    r#"{"data":["#,
    r#"{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2023-11-14T22:13:20Z"},"#,
    r#"{"type":"model","id":"claude-haiku-4-5","display_name":"Claude Haiku 4.5","created_at":"2023-11-14T22:13:20Z"},"#,
    r#"{"type":"model","id":"claude-opus-4-1","display_name":"Claude Opus 4.1","created_at":"2023-11-14T22:13:20Z"}"#,
    r#"],"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"claude-opus-4-1"}"#
);

/// Handles `GET /v1/models`.
pub(crate) async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let flavor = if request.headers().contains_key("anthropic-version") {
        Flavor::Anthropic
    } else {
        Flavor::OpenAi
    };
    if let Err(response) = prologue(&state, request, flavor).await {
        return response;
    }
    let body = match flavor {
        Flavor::OpenAi => OPENAI_MODELS,
        Flavor::Anthropic => ANTHROPIC_MODELS,
    };
    ([(header::CONTENT_TYPE, APPLICATION_JSON)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_lists_are_valid_json() {
        for list in [OPENAI_MODELS, ANTHROPIC_MODELS] {
            let value: serde_json::Value = serde_json::from_str(list).unwrap();
            assert!(value["data"].as_array().is_some_and(|data| data.len() >= 3));
        }
    }
}
