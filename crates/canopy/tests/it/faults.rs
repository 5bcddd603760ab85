//! The fault suite: Canopy under load, at shutdown, with its store locked, facing broken
//! upstreams, hostile input, a second organisation and secrets. Every test runs on loopback
//! with the mock provider, bounded in calls and time, and ends by checking that Canopy still
//! answers.
//!
//! Faults covered in other modules, not repeated here:
//! - `failures.rs`: an unreachable upstream (502, recorded −1), an upstream past the head
//!   timeout (504, −2), a 429 passed through and recorded, an oversized body (413, small
//!   limit), a client gone mid-stream (−3), an upstream that breaks mid-stream;
//! - `records.rs`: a client gone before the response head (one record, −3), a client gone
//!   mid-stream (estimated tokens), streams cut at shutdown;
//! - `proxy.rs`: credentials redacted in the record, path traversal out of a provider's base
//!   path (seven spellings), a session id that is not UTF-8 (400);
//! - `api.rs`: a malformed query body (400), a limit over the maximum (400), one SQL-shaped
//!   model value;
//! - `auth.rs`: two organisations sharing one session id on the query, count, get, feedback,
//!   session and analytics routes, and calls without a valid key.

mod hostile;
mod isolation;
mod load;
mod secrets;
mod upstream;

use std::future::Future;
use std::time::Duration;

use canopy::config::Settings;

use crate::harness::{TestApp, chat, settings, spawn_mock};

/// The settings of a fault test whose files live in `dir`, the spool among them. (Without a
/// SQLite file to sit beside, the spool would default to `canopy.spool` in the working
/// directory, shared by every PostgreSQL test running at once.)
pub(super) fn settings_in(dir: &std::path::Path, mock_url: &str) -> Settings {
    let mut settings = settings(dir, mock_url);
    settings.spool_dir = dir.join("faults.spool");
    settings
}

/// Starts the mock provider and Canopy with [`settings_in`] a fresh directory, adjusted.
pub(super) async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let (mock_url, mock_stop) = spawn_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path(), &mock_url);
    adjust(&mut settings);
    TestApp::start(settings, mock_url, mock_stop, dir).await
}

/// Starts the mock provider and Canopy with [`settings_in`] a fresh directory.
pub(super) async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// Polls `check` every 20 ms until it holds; fails naming `what` after `limit`.
pub(super) async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if check().await {
            return;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
    }
}

/// Asserts that Canopy still answers `/healthz` and a normal call after a fault.
pub(super) async fn still_serves(app: &TestApp) {
    let health = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "/healthz after the fault");
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&chat("gpt-4o-mini", false, "still there?"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "a normal call after the fault");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["choices"].is_array(), "{body}");
}

/// The calls of one session in the default organisation.
pub(super) async fn session_calls(app: &TestApp, session: &str) -> Vec<canopy_core::CallRecord> {
    app.store
        .query
        .session_calls("default", session)
        .await
        .unwrap()
}
