//! Helicone's gateway features through real sockets: retries, fallbacks, the response cache
//! and rate limits, on one gateway (in memory) and on two sharing a Redis.

mod cache;
mod fallback;
mod rate_limit;
mod retry;
mod shared;

use serde_json::Value;

use crate::harness::TestApp;

/// The Canopy and Helicone control headers the mock received, over every recorded request.
pub async fn control_headers_upstream(app: &TestApp) -> Vec<String> {
    app.upstream_requests()
        .await
        .iter()
        .flat_map(|r| {
            r["headers"]
                .as_object()
                .map(|h| h.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .filter(|name| name.starts_with("helicone-") || name.starts_with("canopy-"))
        .collect()
}

/// Parses a JSON body.
pub async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// A header's value as text.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}
