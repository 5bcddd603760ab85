//! Calls that fail: every one gets a precise error in the provider's shape and is recorded.

use std::time::Duration;

use canopy_core::extract::WireFormat;
use canopy_core::record::{
    STATUS_CLIENT_CANCELLED, STATUS_UPSTREAM_TIMEOUT, STATUS_UPSTREAM_UNREACHABLE,
};
use canopy_gateway::Provider;
use futures_util::StreamExt;
use serde_json::json;

use crate::harness::{TestApp, chat, helicone_id};

#[tokio::test]
async fn an_unopenable_store_stops_startup_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("canopy.toml");
    std::fs::write(
        &file,
        "store = \"sqlite:///nonexistent-canopy-dir/sub/canopy.db\"\n",
    )
    .unwrap();
    let env = figment::providers::Env::prefixed("CANOPY_TEST_UNUSED_");
    let settings = canopy::config::load(Some(&file), env, Default::default())
        .unwrap()
        .validate()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = canopy::serve::run(settings, listener, std::future::pending(), |_| {})
        .await
        .err()
        .unwrap();
    let text = format!("{error:#}");
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(
        text.contains("`store`") && text.contains("nonexistent-canopy-dir"),
        "{text}"
    );
}

#[tokio::test]
async fn an_invalid_request_id_is_rejected_in_the_providers_shape_and_recorded() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Request-Id", "not-a-uuid")
        .json(&chat("gpt-4o-mini", false, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let id = helicone_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "Helicone-Request-Id");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not-a-uuid")
    );

    let response = app
        .client
        .post(format!("{}/anthropic/v1/messages", app.url))
        .header("Helicone-Request-Id", "nope")
        .json(&json!({"model": "claude-haiku-4-5", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    assert!(
        app.upstream_requests().await.is_empty(),
        "nothing reached the upstream"
    );
    app.wait_written(2).await;
    let call = app.call(&id).await;
    assert_eq!(call.status, 400);
    assert!(call.error.unwrap().contains("Helicone-Request-Id"));
}

#[tokio::test]
async fn an_unknown_route_is_a_404_that_says_what_exists() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/nosuchprovider/v1/chat", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let id = helicone_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/nosuchprovider")
    );
    app.wait_written(1).await;
    assert_eq!(app.call(&id).await.status, 404);
}

#[tokio::test]
async fn upstream_errors_pass_through_unchanged_and_are_recorded() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-status", "429")
        .header("Helicone-Session-Id", "err-sess")
        .json(&chat("gpt-4o-mini", false, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let id = helicone_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.status, 429);
    assert_eq!(call.error.as_deref(), body["error"]["message"].as_str());
    assert_eq!(
        call.cost_nano_usd,
        Some(0),
        "a failed call with a known model costs nothing"
    );
    assert_eq!(app.session("err-sess").await.error_count, 1);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_recorded_as_minus_one() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_with(|s| {
        s.providers.push(Provider {
            name: "dead".into(),
            base_url: url::Url::parse(&dead).unwrap(),
            format: WireFormat::Anthropic,
            http2_prior_knowledge: false,
        });
    })
    .await;
    let response = app
        .client
        .post(format!("{}/dead/v1/messages", app.url))
        .header("Helicone-Session-Id", "dead-sess")
        .json(&json!({"model": "claude-haiku-4-5", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let id = helicone_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["type"], "error",
        "Anthropic's error shape on an Anthropic route"
    );
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.status, STATUS_UPSTREAM_UNREACHABLE);
    assert!(call.error.unwrap().contains(&dead));
    assert_eq!(app.session("dead-sess").await.error_count, 1);
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_recorded_as_minus_two() {
    let app =
        TestApp::spawn_with(|s| s.gateway.upstream_timeout = Duration::from_millis(200)).await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-latency-ms", "5000")
        .json(&chat("gpt-4o-mini", false, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let id = helicone_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_timeout");
    app.wait_written(1).await;
    assert_eq!(app.call(&id).await.status, STATUS_UPSTREAM_TIMEOUT);
}

#[tokio::test]
async fn an_oversized_body_is_a_413_and_nothing_goes_upstream() {
    let app = TestApp::spawn_with(|s| s.gateway.max_request_body = 1024).await;
    let big = chat("gpt-4o-mini", false, &"x".repeat(4096));
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let id = helicone_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("1024"));
    // A streamed upload (no length, not JSON) is cut at the limit too.
    let chunks =
        futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 512])));
    let response = app
        .client
        .post(format!("{}/v1/files", app.url))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    app.wait_written(2).await;
    assert_eq!(app.call(&id).await.status, 413);
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_still_leaves_a_record() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-chunk-delay-ms", "200")
        .header("Helicone-Session-Id", "gone")
        .json(&chat("gpt-4o-mini", true, "a long answer please"))
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(stream);
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.status, STATUS_CLIENT_CANCELLED);
    assert!(call.time_to_first_token_ms.is_some());
    assert_eq!(app.session("gone").await.request_count, 1);
}

#[tokio::test]
async fn an_upstream_that_breaks_mid_stream_is_recorded_with_the_error() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-disconnect-after", "2")
        .json(&chat("gpt-4o-mini", true, "break please"))
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    assert!(
        response.bytes().await.is_err(),
        "the client sees the broken stream"
    );
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.status, 200);
    assert!(call.error.unwrap().contains("upstream body failed"));
    assert!(
        call.response_body
            .text
            .unwrap()
            .contains("chat.completion.chunk")
    );
}
