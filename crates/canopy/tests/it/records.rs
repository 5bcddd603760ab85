//! Exactly one right record per call, whatever happens to it: a client that leaves early,
//! shutdown, a wrong format, hand-logged calls, huge figures, large bodies, durable
//! recording. Secrets are `faults/secrets.rs`'s.

use std::path::Path;
use std::time::Duration;

use canopy_core::UsageSource;
use canopy_core::completion::MAX_TOKENS;
use canopy_core::extract::WireFormat;
use canopy_core::record::STATUS_CLIENT_CANCELLED;
use canopy_gateway::Provider;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::{TestApp, chat, files_under, helicone_id, holds};

async fn api_post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api{path}", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn api_get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}/api{path}", app.url))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_client_that_leaves_before_the_response_head_leaves_one_record() {
    let app = TestApp::spawn().await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let result = impatient
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-latency-ms", "3000")
        .header("Helicone-Session-Id", "left-early")
        .json(&chat("gpt-4o-mini", false, "are you there?"))
        .send()
        .await;
    assert!(result.is_err(), "the client gave up");
    app.wait_written(1).await;
    let calls = app
        .store
        .query
        .session_calls("default", "left-early")
        .await
        .unwrap();
    assert_eq!(calls.len(), 1, "exactly one record");
    let call = &calls[0];
    assert_eq!(call.status, STATUS_CLIENT_CANCELLED);
    assert!(call.error.as_deref().unwrap().contains("disconnected"));
    assert_eq!(call.usage_source, UsageSource::Estimated);
    assert!(call.usage.prompt_tokens > 0, "the upstream got the prompt");
    assert_eq!(app.session("left-early").await.error_count, 1);
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_recorded_with_estimated_tokens() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-chunk-delay-ms", "300")
        .json(&chat("gpt-4o-mini", true, "a long answer please"))
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    // The first chunk may carry only the role; wait for text.
    while seen.matches("data:").count() < 3 {
        seen.push_str(&String::from_utf8_lossy(
            &stream.next().await.unwrap().unwrap(),
        ));
    }
    drop(stream);
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.status, STATUS_CLIENT_CANCELLED);
    assert_eq!(call.usage_source, UsageSource::Estimated);
    assert!(call.usage.prompt_tokens > 0 && call.usage.completion_tokens > 0);
    assert!(call.cost_nano_usd.unwrap() > 0);
}

#[tokio::test]
async fn an_upstream_that_breaks_mid_stream_counts_as_a_session_error() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-disconnect-after", "2")
        .header("Helicone-Session-Id", "broken")
        .json(&chat("gpt-4o-mini", true, "break please"))
        .send()
        .await
        .unwrap();
    assert!(response.bytes().await.is_err());
    app.wait_written(1).await;
    let session = app.session("broken").await;
    assert_eq!(session.error_count, 1);
    let call = &app
        .store
        .query
        .session_calls("default", "broken")
        .await
        .unwrap()[0];
    assert_eq!(call.status, 200);
    assert_eq!(call.usage_source, UsageSource::Estimated);
}

#[tokio::test]
async fn streams_cut_at_shutdown_reach_the_store() {
    let mut app = TestApp::spawn_with(|s| s.shutdown_grace = Duration::from_millis(200)).await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-chunk-delay-ms", "5000")
        .json(&chat("gpt-4o-mini", true, "a very slow answer"))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    let report = app.shutdown().await;
    assert_eq!(report.writer.written, 1, "the cut stream was written");
    assert!(!report.writer.spool_pending, "nothing waits in the spool");
    let rest: Vec<_> = stream.collect().await;
    assert!(
        rest.iter().any(Result::is_err) || rest.is_empty(),
        "the client sees the stream end"
    );
}

/// Writes a config file in `dir` and loads settings from it, the store in `dir`.
fn settings_from(dir: &Path, toml: &str) -> canopy::config::Settings {
    let file = dir.join("canopy.toml");
    std::fs::write(&file, toml).unwrap();
    let flags = canopy::config::FlagOverrides {
        listen: Some("127.0.0.1:0".into()),
        store: Some(format!("sqlite://{}", dir.join("canopy.db").display())),
    };
    let env = figment::providers::Env::prefixed("CANOPY_TEST_UNUSED_");
    canopy::config::load(Some(&file), env, flags)
        .unwrap()
        .validate()
        .unwrap()
}

#[tokio::test]
async fn a_builtin_provider_with_only_an_address_keeps_its_format() {
    let (mock_url, mock_stop) = crate::harness::spawn_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_from(
        dir.path(),
        &format!("[providers.anthropic]\nbase_url = \"{mock_url}\"\n"),
    );
    let anthropic = settings
        .providers
        .iter()
        .find(|p| p.name == "anthropic")
        .unwrap();
    assert_eq!(anthropic.format, WireFormat::Anthropic);
    let app = TestApp::start(settings, mock_url, mock_stop, dir).await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "Stream me a reply"}]});
    let response = app
        .client
        .post(format!("{}/anthropic/v1/messages", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    let _ = response.bytes().await.unwrap();
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert!(call.usage.prompt_tokens > 0, "Anthropic's usage was read");
    assert_eq!(call.usage_source, UsageSource::Reported);
}

#[tokio::test]
async fn an_answer_in_another_format_is_read_in_its_own_and_counted() {
    let app = TestApp::spawn_with(|s| {
        let mock = s.providers[0].base_url.clone();
        s.providers.push(Provider {
            name: "misread".into(),
            base_url: mock,
            format: WireFormat::Openai,
            http2_prior_knowledge: false,
        });
    })
    .await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "Which format am I?"}]});
    let expected = app.direct("/v1/messages", &body).await;
    let response = app
        .client
        .post(format!("{}/misread/v1/messages", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    assert_eq!(response.bytes().await.unwrap().to_vec(), expected);
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert!(call.usage.prompt_tokens > 0 && call.usage.completion_tokens > 0);
    assert_eq!(call.usage_source, UsageSource::Reported);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("gateway_format_mismatch_total")
                && l.contains("provider=\"misread\"")
                && l.contains("actual=\"anthropic\"")),
        "{metrics}"
    );
}

fn openai_chunk_lines() -> String {
    [
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}),
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 2}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
}

#[tokio::test]
async fn the_manual_loggers_routes_read_usage_from_streamed_text_bodies() {
    let app = TestApp::spawn().await;
    let timing = json!({"startTime": {"seconds": 1700000000, "milliseconds": 0},
        "endTime": {"seconds": 1700000001, "milliseconds": 0}});
    let request = json!({"model": "gpt-4o-mini", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = api_post(&app, "/oai/v1/log", json!({
        "providerRequest": {"url": "https://api.openai.com/v1/chat/completions", "json": request,
            "meta": {"Helicone-Session-Id": "manual"}},
        "providerResponse": {"json": {}, "textBody": openai_chunk_lines(), "status": 200, "headers": {}},
        "timing": timing,
    }))
    .await;
    assert_eq!(status, 200, "{body}");
    let openai_id = body["data"]["request_id"].as_str().unwrap().to_owned();

    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n\
               event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":12}}\n\n";
    let (status, body) = api_post(
        &app,
        "/anthropic/v1/log",
        json!({
            "providerRequest": {"url": "https://api.anthropic.com/v1/messages",
                "json": {"model": "claude-sonnet-4-5", "messages": []}, "meta": {}},
            "providerResponse": {"json": {}, "textBody": sse, "status": 200},
            "timing": timing,
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let anthropic_id = body["data"]["request_id"].as_str().unwrap().to_owned();

    // A priced model whose usage is unknown costs null, not 0.
    let (status, body) = api_post(
        &app,
        "/oai/v1/log",
        json!({
            "providerRequest": {"url": "https://api.openai.com/v1/chat/completions",
                "json": {"model": "gpt-4o", "messages": []}, "meta": {}},
            "providerResponse": {"json": {}, "status": 200},
            "timing": timing,
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let unknown_id = body["data"]["request_id"].as_str().unwrap().to_owned();

    app.wait_written(3).await;
    let call = app.call(&openai_id).await;
    assert_eq!(call.provider, "openai");
    assert_eq!(
        (call.usage.prompt_tokens, call.usage.completion_tokens),
        (21, 2)
    );
    assert_eq!(call.usage_source, UsageSource::Reported);
    assert!(call.cost_nano_usd.unwrap() > 0);
    assert_eq!(call.session_id.as_deref(), Some("manual"));
    let call = app.call(&anthropic_id).await;
    assert_eq!(call.provider, "anthropic");
    assert_eq!(
        (call.usage.prompt_tokens, call.usage.completion_tokens),
        (40, 12)
    );
    assert!(call.cost_nano_usd.unwrap() > 0);
    let call = app.call(&unknown_id).await;
    assert_eq!(call.cost_nano_usd, None, "unknown usage is a null cost");
    assert_eq!(call.usage_source, UsageSource::None);
    assert_eq!(call.pricing_model.as_deref(), Some("gpt-4o"));

    let (_, doc) = api_get(&app, "/openapi.json").await;
    assert!(doc["paths"]["/api/oai/v1/log"]["post"].is_object());
    assert!(doc["paths"]["/api/anthropic/v1/log"]["post"].is_object());
}

#[tokio::test]
async fn huge_token_counts_are_saturated_and_every_session_view_answers() {
    let app = TestApp::spawn().await;
    for _ in 0..2 {
        let (status, body) = api_post(&app, "/custom/v1/log", json!({
            "providerRequest": {"url": "https://api.openai.com/v1/chat/completions",
                "json": {"model": "gpt-4o", "messages": []},
                "meta": {"session_id": "huge", "session_name": "Huge"}},
            "providerResponse": {"json": {"model": "gpt-4o", "choices": [],
                "usage": {"prompt_tokens": 9223372036854775807_u64, "completion_tokens": 9223372036854775807_u64}},
                "status": 200},
        }))
        .await;
        assert_eq!(status, 200, "{body}");
    }
    app.wait_written(2).await;
    let session = app.session("huge").await;
    assert_eq!(session.prompt_tokens, 2 * MAX_TOKENS);
    assert!(session.cost_nano_usd > 0);

    let all = json!({"search": "", "timeFilter": {"startTimeUnixMs": 0, "endTimeUnixMs": 4102444800000_i64},
        "timezoneDifference": 0, "filter": "all"});
    let (status, body) = api_post(&app, "/v1/session/query", all.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api_post(&app, "/v1/session/count", all.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api_post(
        &app,
        "/v1/session/metrics/query",
        json!({"nameContains": "Huge",
        "timezoneDifference": 0, "pSize": "p99", "useInterquartile": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api_get(&app, "/v1/session/huge").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["session"]["prompt_tokens"].as_u64(),
        Some(2 * MAX_TOKENS)
    );
}

#[tokio::test]
async fn bodies_past_the_memory_budget_stream_upstream_uncaptured() {
    let app = TestApp::spawn_with(|s| s.gateway.body_buffer_budget = 1024).await;
    let small = chat("gpt-4o-mini", false, "small");
    let large = chat("gpt-4o-mini", false, &"word ".repeat(2000));
    let mut ids = Vec::new();
    for body in [&small, &large, &small] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        ids.push(helicone_id(&response));
        let _ = response.bytes().await.unwrap();
    }
    let sent = app.upstream_requests().await;
    assert_eq!(sent.len(), 3, "every body reached the upstream");
    assert_eq!(sent[1]["body"], large, "the large body arrived whole");
    app.wait_written(3).await;
    let call = app.call(&ids[1]).await;
    assert!(call.request_body.truncated, "not captured: marked as cut");
    assert_eq!(call.request_body.text, None);
    for id in [&ids[0], &ids[2]] {
        let call = app.call(id).await;
        assert!(!call.request_body.truncated, "the budget was returned");
        assert_eq!(call.request_model.as_deref(), Some("gpt-4o-mini"));
    }
}

#[tokio::test]
async fn durable_recording_spools_each_record_before_the_response_ends() {
    let mut app = TestApp::spawn_with(|s| {
        s.gateway.durable = true;
        s.writer.replay_interval = Duration::from_secs(3600);
    })
    .await;
    let mut ids = Vec::new();
    for stream in [false, true] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .json(&chat("gpt-4o-mini", stream, "keep me"))
            .send()
            .await
            .unwrap();
        ids.push(helicone_id(&response));
        let _ = response.bytes().await.unwrap();
        // The response has ended: its record is on disk already.
        let spooled = files_under(app.dir.path());
        let id = ids.last().unwrap();
        assert!(
            spooled.iter().any(|(_, bytes)| holds(bytes, id)),
            "record {id} is spooled"
        );
    }
    let report = app.shutdown().await;
    assert_eq!(report.writer.written, 2);
    assert!(!report.writer.spool_pending);
}

#[tokio::test]
async fn spooled_records_are_bounded_and_redacted_when_replayed() {
    let (mock_url, mock_stop) = crate::harness::spawn_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::harness::settings(dir.path(), &mock_url);
    std::fs::create_dir_all(&settings.spool_dir).unwrap();
    let record = canopy_core::CallRecord {
        org_id: "default".to_owned(),
        created_at_ms: 1_700_000_000_000,
        provider: "openai".to_owned(),
        target_url: "https://generativelanguage.googleapis.com/v1beta/x?key=SECRET-SPOOL"
            .to_owned(),
        status: 200,
        usage: canopy_core::Usage {
            prompt_tokens: u64::MAX,
            ..Default::default()
        },
        cost_nano_usd: Some(i64::MAX),
        ..Default::default()
    };
    let id = record.id.to_string();
    let line = format!("{}\n", serde_json::to_string(&record).unwrap());
    std::fs::write(settings.spool_dir.join("spool-000000000000.jsonl"), line).unwrap();
    let app = TestApp::start(settings, mock_url, mock_stop, dir).await;
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.usage.prompt_tokens, MAX_TOKENS);
    assert_eq!(
        call.cost_nano_usd,
        Some(canopy_core::completion::MAX_COST_NANO_USD)
    );
    assert!(
        !call.target_url.contains("SECRET-SPOOL"),
        "{}",
        call.target_url
    );
}
