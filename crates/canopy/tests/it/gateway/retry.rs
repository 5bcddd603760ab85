//! `Helicone-Retry-Enabled`: backoff on 429, 5xx and connection failures.

use std::time::Instant;

use super::{control_headers_upstream, header, json};
use crate::harness::{TestApp, chat, helicone_id};

fn retried(app: &TestApp) -> reqwest::RequestBuilder {
    retried_within(app, "20")
}

fn retried_within(app: &TestApp, max_timeout_ms: &str) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Authorization", "Bearer sk-test")
        .header("Helicone-Retry-Enabled", "true")
        .header("helicone-retry-min-timeout", "1")
        .header("helicone-retry-max-timeout", max_timeout_ms)
        .header("Helicone-Session-Id", "retry-session")
}

#[tokio::test]
async fn retry_a_failing_upstream_until_it_answers_and_record_each_attempt() {
    let app = TestApp::spawn().await;
    let response = retried(&app)
        .header("x-mock-status", "503")
        .header("x-mock-fail-first", "2")
        .json(&chat("gpt-4o-mini", false, "hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = helicone_id(&response);
    assert!(json(response).await["choices"].is_array());
    app.wait_written(1).await;
    let record = app.call(&id).await;
    assert_eq!(record.status, 200);
    assert_eq!(record.properties["canopy-attempts"], "3");
    assert_eq!(record.properties["canopy-attempt-statuses"], "503,503,200");
    assert!(record.cost_nano_usd.unwrap() > 0);
    assert_eq!(
        app.session("retry-session").await.request_count,
        1,
        "one record per call"
    );
    assert_eq!(app.upstream_requests().await.len(), 3);
    assert!(control_headers_upstream(&app).await.is_empty());
}

#[tokio::test]
async fn retry_gives_up_after_the_asked_number_of_retries() {
    let app = TestApp::spawn().await;
    let response = retried(&app)
        .header("helicone-retry-num", "2")
        .header("x-mock-status", "500")
        .json(&chat("gpt-4o-mini", false, "always failing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500, "the last answer passes through");
    let id = helicone_id(&response);
    app.wait_written(1).await;
    let record = app.call(&id).await;
    assert_eq!(record.properties["canopy-attempt-statuses"], "500,500,500");
    // A 400 is the caller's fault: never retried.
    let response = retried(&app)
        .header("x-mock-status", "400")
        .json(&chat("gpt-4o-mini", false, "bad"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let id = helicone_id(&response);
    app.wait_written(2).await;
    assert_eq!(app.call(&id).await.properties["canopy-attempts"], "1");
}

#[tokio::test]
async fn retry_honours_retry_after_and_stops_when_it_asks_too_much() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let response = retried_within(&app, "1000")
        .header("x-mock-status", "429")
        .header("x-mock-fail-first", "1")
        .header("x-mock-retry-after-ms", "300")
        .json(&chat("gpt-4o-mini", false, "slow down"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed().as_millis() >= 300,
        "waited as the upstream asked, not the 1 ms backoff"
    );
    // Asking for longer than helicone-retry-max-timeout: answered at once, not retried.
    let started = Instant::now();
    let response = retried(&app)
        .header("x-mock-status", "429")
        .header("x-mock-fail-key", "2")
        .header("x-mock-fail-first", "1")
        .header("x-mock-retry-after", "30")
        .json(&chat("gpt-4o-mini", false, "much slower"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after").as_deref(), Some("30"));
    assert!(started.elapsed().as_secs() < 10);
}

#[tokio::test]
async fn retry_connection_failures_then_answer_502() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/gateway/v1/chat/completions", app.url))
        .header("Helicone-Target-Url", "http://127.0.0.1:1")
        .header("Helicone-Retry-Enabled", "true")
        .header("helicone-retry-num", "2")
        .header("helicone-retry-min-timeout", "1")
        .json(&chat("gpt-4o-mini", false, "nobody home"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let id = helicone_id(&response);
    app.wait_written(1).await;
    let record = app.call(&id).await;
    assert_eq!(record.status, -1);
    assert_eq!(record.properties["canopy-attempt-statuses"], "-1,-1,-1");
}

#[tokio::test]
async fn retry_headers_with_bad_values_are_a_400_in_the_providers_shape() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/anthropic/v1/messages", app.url))
        .header("Helicone-Retry-Enabled", "true")
        .header("helicone-retry-factor", "zero")
        .json(
            &serde_json::json!({"model": "claude-3-5-haiku-latest", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let id = helicone_id(&response);
    let body = json(response).await;
    assert_eq!(body["type"], "error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("helicone-retry-factor")
    );
    app.wait_written(1).await;
    assert_eq!(
        app.call(&id).await.status,
        400,
        "the refused call is recorded"
    );
    assert!(app.upstream_requests().await.is_empty());
}
