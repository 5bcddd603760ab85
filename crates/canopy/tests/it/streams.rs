//! Streamed calls: the client gets exactly the stream it asked for; the record has exact usage.

use canopy_core::UsageSource;
use serde_json::json;

use crate::harness::{TestApp, chat, helicone_id};

#[tokio::test]
async fn a_stream_without_usage_gets_usage_recorded_but_not_shown() {
    let app = TestApp::spawn().await;
    let body = chat("gpt-4o-mini", true, "Where is my parcel?");
    let expected = app.direct("/v1/chat/completions", &body).await;
    let mut with_usage = body.clone();
    with_usage["stream_options"] = json!({"include_usage": true});
    let usage_stream = String::from_utf8(
        app.direct("/v1/chat/completions", &with_usage)
            .await
            .to_vec(),
    )
    .unwrap();

    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Session-Id", "stream-sess")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let id = helicone_id(&response);
    let got = response.bytes().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected),
        "the client sees exactly the stream it asked for"
    );

    let sent = app.upstream_requests().await;
    assert_eq!(
        sent.last().unwrap()["body"]["stream_options"]["include_usage"],
        true
    );

    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert!(call.is_stream);
    assert_eq!(call.usage_source, UsageSource::Reported);
    let usage_line = usage_stream
        .lines()
        .find(|l| l.contains("\"choices\":[]"))
        .expect("usage chunk");
    let usage: serde_json::Value =
        serde_json::from_str(usage_line.trim_start_matches("data: ")).unwrap();
    assert_eq!(
        call.usage.prompt_tokens,
        usage["usage"]["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        call.usage.completion_tokens,
        usage["usage"]["completion_tokens"].as_u64().unwrap()
    );
    assert!(call.cost_nano_usd.unwrap() > 0);
    assert!(call.time_to_first_token_ms.is_some());
    assert_eq!(
        app.session("stream-sess").await.prompt_tokens,
        call.usage.prompt_tokens
    );
}

#[tokio::test]
async fn a_legacy_completions_stream_gets_usage_injected_too() {
    let app = TestApp::spawn().await;
    let body =
        json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time", "stream": true});
    let expected = String::from_utf8(app.direct("/v1/completions", &body).await).unwrap();
    let response = app
        .client
        .post(format!("{}/v1/completions", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    assert_eq!(response.text().await.unwrap(), expected);
    assert_eq!(
        app.upstream_requests().await.last().unwrap()["body"]["stream_options"]["include_usage"],
        true
    );
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.usage_source, UsageSource::Reported);
    assert!(call.usage.completion_tokens > 0 && call.cost_nano_usd.unwrap() > 0);
}

#[tokio::test]
async fn a_stream_that_asked_for_usage_is_passed_through_untouched() {
    let app = TestApp::spawn().await;
    let mut body = chat("gpt-4o", true, "Refund please");
    body["stream_options"] = json!({"include_usage": true});
    let expected = app.direct("/v1/chat/completions", &body).await;
    let response = app
        .client
        .post(format!("{}/openai/v1/chat/completions", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    assert_eq!(response.bytes().await.unwrap().to_vec(), expected);
    app.wait_written(1).await;
    assert!(app.call(&id).await.usage.completion_tokens > 0);
}

#[tokio::test]
async fn stream_usage_false_turns_injection_off() {
    let app = TestApp::spawn().await;
    let body = chat("gpt-4o-mini", true, "No usage please");
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Stream-Usage", "false")
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    let _ = response.bytes().await.unwrap();
    let sent = app.upstream_requests().await;
    assert!(sent.last().unwrap()["body"].get("stream_options").is_none());
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(
        call.usage_source,
        UsageSource::Estimated,
        "no usage came back, so it is counted"
    );
    assert!(call.usage.prompt_tokens > 0 && call.usage.completion_tokens > 0);
    assert!(call.cost_nano_usd.unwrap() > 0);
}

#[tokio::test]
async fn anthropic_and_responses_streams_pass_through_with_usage() {
    let app = TestApp::spawn().await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "Stream me a reply"}]});
    let expected = app.direct("/v1/messages", &body).await;
    let response = app
        .client
        .post(format!("{}/anthropic/v1/messages", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    assert_eq!(response.bytes().await.unwrap().to_vec(), expected);

    let responses_body = json!({"model": "gpt-4o-mini", "input": "stream it", "stream": true});
    let expected = app.direct("/v1/responses", &responses_body).await;
    let response = app
        .client
        .post(format!("{}/v1/responses", app.url))
        .json(&responses_body)
        .send()
        .await
        .unwrap();
    let responses_id = helicone_id(&response);
    assert_eq!(response.bytes().await.unwrap().to_vec(), expected);

    app.wait_written(2).await;
    let call = app.call(&id).await;
    assert!(call.is_stream && call.usage.prompt_tokens > 0 && call.usage.completion_tokens > 0);
    assert_eq!(call.usage_source, UsageSource::Reported);
    assert!(call.cost_nano_usd.unwrap() > 0);
    let call = app.call(&responses_id).await;
    assert!(call.usage.completion_tokens > 0 && call.cost_nano_usd.unwrap() > 0);
}
