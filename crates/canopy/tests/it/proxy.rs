//! Plain (non-streamed) calls: what the client gets, what the upstream gets, what is recorded.

use canopy_core::UsageSource;
use serde_json::json;

use crate::harness::{TestApp, chat, helicone_id};

#[tokio::test]
async fn a_plain_chat_call_passes_through_and_is_recorded_exactly() {
    let app = TestApp::spawn().await;
    let body = chat("gpt-4o-mini", false, "My invoice is wrong");
    let direct = app
        .client
        .post(format!("{}/v1/chat/completions", app.mock_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let direct_bytes = direct.bytes().await.unwrap();

    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth("sk-test-secret")
        .header("Helicone-Auth", "Bearer canopy-key")
        .header("Helicone-Session-Id", "sess-1")
        .header("Helicone-Session-Path", "triage/classify")
        .header("Helicone-Session-Name", "Support Ticket")
        .header("Helicone-Property-Environment", "test")
        .header("Helicone-User-Id", "user-7")
        .header("Helicone-Prompt-Id", "classify")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = helicone_id(&response);
    assert_eq!(
        response.bytes().await.unwrap(),
        direct_bytes,
        "the client gets the upstream's bytes"
    );

    // Upstream: Canopy's headers gone, the credential forwarded untouched.
    let sent = app.upstream_requests().await;
    let headers = &sent.last().unwrap()["headers"];
    assert_eq!(headers["authorization"], "Bearer sk-test-secret");
    for (name, _) in headers.as_object().unwrap() {
        assert!(
            !name.starts_with("helicone-") && !name.starts_with("canopy-"),
            "{name} went upstream"
        );
    }
    assert_eq!(sent.last().unwrap()["body"], body);

    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.status, 200);
    assert_eq!(call.provider, "openai");
    assert_eq!(call.request_path, "/v1/chat/completions");
    assert_eq!(call.method, "POST");
    assert_eq!(call.request_model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(call.pricing_model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(call.usage_source, UsageSource::Reported);
    let reply: serde_json::Value = serde_json::from_slice(&direct_bytes).unwrap();
    let prompt = reply["usage"]["prompt_tokens"].as_u64().unwrap();
    let completion = reply["usage"]["completion_tokens"].as_u64().unwrap();
    assert_eq!(
        (call.usage.prompt_tokens, call.usage.completion_tokens),
        (prompt, completion)
    );
    // gpt-4o-mini: $0.15 per 1M input tokens, $0.60 per 1M output tokens = 150 and 600 nano-USD per token.
    assert_eq!(
        call.cost_nano_usd,
        Some(prompt as i64 * 150 + completion as i64 * 600)
    );
    assert_eq!(call.session_id.as_deref(), Some("sess-1"));
    assert_eq!(call.session_path.as_deref(), Some("/triage/classify"));
    assert_eq!(call.session_name.as_deref(), Some("Support Ticket"));
    assert_eq!(call.user_id.as_deref(), Some("user-7"));
    assert_eq!(call.prompt_id.as_deref(), Some("classify"));
    assert_eq!(call.properties["environment"], "test");
    assert_eq!(call.properties["Helicone-Session-Id"], "sess-1");
    assert_eq!(call.properties["Helicone-Session-Path"], "/triage/classify");
    assert_eq!(call.properties["Helicone-Prompt-Id"], "classify");
    assert_eq!(
        call.response_body.text.as_deref().map(str::as_bytes),
        Some(&direct_bytes[..])
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(call.request_body.text.as_deref().unwrap())
            .unwrap(),
        body
    );
    assert!(call.latency_ms.is_some() && call.response_created_at_ms >= Some(call.created_at_ms));
    // Credentials are never stored.
    assert_eq!(call.request_headers["authorization"], "[REDACTED]");
    assert_eq!(call.request_headers["helicone-auth"], "[REDACTED]");
    let everything = format!("{call:?}");
    assert!(!everything.contains("sk-test-secret") && !everything.contains("canopy-key"));
}

#[tokio::test]
async fn anthropic_messages_count_cache_tokens_and_cost() {
    let app = TestApp::spawn().await;
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 100, "system": "Be brief.",
        "messages": [{"role": "user", "content": "Summarise the ticket"}]});
    let response = app
        .client
        .post(format!("{}/anthropic/v1/messages", app.url))
        .header("x-api-key", "sk-ant-secret")
        .header("anthropic-version", "2023-06-01")
        .header("x-mock-cached-tokens", "1000")
        .header("x-mock-cache-write-tokens", "200")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = helicone_id(&response);
    let reply: serde_json::Value = response.json().await.unwrap();
    app.wait_written(1).await;
    let call = app.call(&id).await;
    let input = reply["usage"]["input_tokens"].as_u64().unwrap();
    let output = reply["usage"]["output_tokens"].as_u64().unwrap();
    assert_eq!(call.provider, "anthropic");
    assert_eq!(call.usage.prompt_tokens, input + 1000 + 200);
    assert_eq!(call.usage.cache_read_tokens, 1000);
    assert_eq!(call.usage.cache_write_tokens, 200);
    assert_eq!(call.usage.completion_tokens, output);
    // claude-haiku-4-5: $1 input, $5 output, $0.10 cache read, $1.25 cache write per 1M tokens.
    let expected = input as i64 * 1_000 + output as i64 * 5_000 + 1000 * 100 + 200 * 1_250;
    assert_eq!(call.cost_nano_usd, Some(expected));
    assert_eq!(call.request_headers["x-api-key"], "[REDACTED]");
}

#[tokio::test]
async fn responses_embeddings_and_unknown_endpoints_are_forwarded() {
    let app = TestApp::spawn().await;
    let responses = app
        .client
        .post(format!("{}/openai/v1/responses", app.url))
        .json(&json!({"model": "gpt-4o", "input": "hello there"}))
        .send()
        .await
        .unwrap();
    assert_eq!(responses.status(), 200);
    let responses_id = helicone_id(&responses);
    let embeddings = app
        .client
        .post(format!("{}/v1/embeddings", app.url))
        .json(&json!({"model": "text-embedding-3-small", "input": ["a b c", "d e"]}))
        .send()
        .await
        .unwrap();
    let embeddings_id = helicone_id(&embeddings);
    let embedded: serde_json::Value = embeddings.json().await.unwrap();
    let models = app
        .client
        .get(format!("{}/v1/models?limit=2", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    let models_id = helicone_id(&models);
    app.wait_written(3).await;

    let call = app.call(&responses_id).await;
    assert!(call.usage.prompt_tokens > 0 && call.usage.completion_tokens > 0);
    assert!(call.cost_nano_usd.unwrap() > 0);
    let call = app.call(&embeddings_id).await;
    assert_eq!(
        call.usage.prompt_tokens,
        embedded["usage"]["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(call.usage.completion_tokens, 0);
    // text-embedding-3-small: $0.02 per 1M tokens.
    assert_eq!(
        call.cost_nano_usd,
        Some(call.usage.prompt_tokens as i64 * 20)
    );
    let call = app.call(&models_id).await;
    assert_eq!(
        (call.method.as_str(), call.request_path.as_str()),
        ("GET", "/v1/models")
    );
    assert!(
        call.target_url.ends_with("/v1/models?limit=2"),
        "{}",
        call.target_url
    );
    assert_eq!(
        call.cost_nano_usd, None,
        "a call without a model has no cost"
    );
}

#[tokio::test]
async fn a_response_without_usage_is_estimated_with_a_tokenizer() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-no-usage", "true")
        .json(&chat("gpt-4o-mini", false, "Count my tokens please"))
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert!(reply.get("usage").is_none());
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.usage_source, UsageSource::Estimated);
    let text = reply["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        call.usage.completion_tokens,
        canopy_gateway::estimate::count(text)
    );
    assert!(call.usage.prompt_tokens >= 10);
    let expected =
        call.usage.prompt_tokens as i64 * 150 + call.usage.completion_tokens as i64 * 600;
    assert_eq!(call.cost_nano_usd, Some(expected));
}

#[tokio::test]
async fn a_caller_chosen_request_id_is_kept_and_an_unknown_model_costs_null() {
    let app = TestApp::spawn().await;
    let chosen = "0190b7a0-6c8e-7cc0-8d5e-1c2b3a4d5e6f";
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Request-Id", chosen)
        .json(&chat("my-finetune-xyz", false, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(helicone_id(&response), chosen);
    app.wait_written(1).await;
    let call = app.call(chosen).await;
    assert!(call.usage.prompt_tokens > 0);
    assert_eq!(call.cost_nano_usd, None);
    assert_eq!(call.pricing_model, None);
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
        metrics.contains("canopy_gateway_unpriced_calls_total{provider=\"openai\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("canopy_ingest_written_total"), "{metrics}");
    let health = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_pricing_file_prices_models_the_catalog_lacks() {
    let prices = tempfile::NamedTempFile::new().unwrap();
    // LiteLLM's format: USD per token.
    std::fs::write(
        prices.path(),
        r#"{"my-finetune-xyz": {"input_cost_per_token": 0.000002, "output_cost_per_token": 0.000004, "litellm_provider": "openai", "mode": "chat"}}"#,
    )
    .unwrap();
    let path = prices.path().to_owned();
    let app = TestApp::spawn_with(|s| s.pricing_file = Some(path)).await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&chat("my-finetune-xyz", false, "priced now"))
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    app.wait_written(1).await;
    let call = app.call(&id).await;
    let expected =
        call.usage.prompt_tokens as i64 * 2_000 + call.usage.completion_tokens as i64 * 4_000;
    assert_eq!(call.cost_nano_usd, Some(expected));
    assert_eq!(call.pricing_model.as_deref(), Some("my-finetune-xyz"));
}

#[tokio::test]
async fn the_gateway_route_and_http2_upstreams_work() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/gateway/v1/chat/completions", app.url))
        .header("Helicone-Target-Url", &app.mock_url)
        .json(&chat("gpt-4o-mini", false, "via gateway"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let gateway_id = helicone_id(&response);
    let response = app
        .client
        .post(format!("{}/local-h2/v1/chat/completions", app.url))
        .json(&chat("gpt-4o-mini", false, "over h2c"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h2_id = helicone_id(&response);
    app.wait_written(2).await;
    let call = app.call(&gateway_id).await;
    assert_eq!(call.provider, "gateway");
    assert!(call.target_url.starts_with(&app.mock_url));
    assert!(call.cost_nano_usd.is_some());
    assert_eq!(app.call(&h2_id).await.provider, "local-h2");
}

#[tokio::test]
async fn credentials_in_a_target_url_reach_the_upstream_as_basic_auth_only() {
    let app = TestApp::spawn().await;
    let mock = app.mock_url.trim_start_matches("http://");
    let chat_url = format!("{}/gateway/v1/chat/completions", app.url);
    for (authorization, expected) in [
        (None, "Basic YWwgaWNlOnBAc3M="), // "al ice:p@ss"
        (Some("Bearer sk-own"), "Bearer sk-own"),
    ] {
        let mut request = app
            .client
            .post(&chat_url)
            .header(
                "Helicone-Target-Url",
                format!("http://al%20ice:p%40ss@{mock}"),
            )
            .json(&chat("gpt-4o-mini", false, "with credentials"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
        let upstream = app.upstream_requests().await;
        let headers = &upstream.last().unwrap()["headers"];
        assert_eq!(
            headers["authorization"], expected,
            "the call's own header wins"
        );
        assert_eq!(headers["host"], mock, "no credentials in Host");
    }
}

/// Posts `body` to `target` exactly as written: HTTP clients resolve dot segments in a URL
/// before sending it, so a raw request line is the only way to send one. Returns the status
/// and the JSON answer.
async fn raw_post(base: &str, target: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let request = format!(
        "POST {target} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
    let (_, json) = answer.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(json).unwrap_or_default())
}

/// A provider whose base URL has a path, as `[providers.based] base_url = "http://…/v1"`.
async fn app_with_based_provider() -> TestApp {
    TestApp::spawn_with(|settings| {
        let mut based = settings.providers[0].clone();
        based.name = "based".to_owned();
        based.base_url = based.base_url.join("v1").unwrap();
        settings.providers.push(based);
    })
    .await
}

#[tokio::test]
async fn a_path_never_leaves_the_providers_base_path() {
    let app = app_with_based_provider().await;
    let body = chat("gpt-4o-mini", false, "hello");
    let inside = app
        .client
        .post(format!("{}/based/chat/completions", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(inside.status(), 200, "the base path is kept");
    let before = app.upstream_requests().await.len();
    for escape in [
        "/based/%2e%2e/v1/chat/completions",
        "/based/%2E%2E/v1/chat/completions",
        "/based/.%2e/v1/chat/completions",
        "/based/../v1/chat/completions",
        "/based/..\\v1/chat/completions",
        "/based/%2e%2e%2fv1/chat/completions",
        "/based/x/%252e%252e/%252e%252e/v1/chat/completions",
    ] {
        let (status, error) = raw_post(&app.url, escape, &body).await;
        assert_eq!(status, 400, "{escape}: {error}");
        assert_eq!(error["error"]["code"], "invalid_path", "{escape}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("base path"),
            "{error}"
        );
    }
    assert_eq!(
        app.upstream_requests().await.len(),
        before,
        "no escaping call reached the upstream"
    );
}

#[tokio::test]
async fn a_session_id_that_is_not_utf8_is_a_400_not_a_merged_session() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for bytes in [&b"s-\xff"[..], &b"s-\xfe"[..]] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header(
                "Helicone-Session-Id",
                reqwest::header::HeaderValue::from_bytes(bytes).unwrap(),
            )
            .json(&chat("gpt-4o-mini", false, "hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        ids.push(helicone_id(&response));
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["param"], "Helicone-Session-Id", "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("UTF-8"),
            "{error}"
        );
    }
    app.wait_written(2).await;
    for id in ids {
        assert_eq!(app.call(&id).await.session_id, None);
    }
    let merged = app
        .store
        .query
        .get_session("default", "s-\u{fffd}")
        .await
        .unwrap();
    assert!(merged.is_none(), "no session of replaced bytes");
}
