//! The `x-mock-*` headers, and bodies that are not JSON.

use std::time::{Duration, Instant};

use canopy_mock::MockConfig;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::helpers::{Mock, chat_body, events, with_mock};

fn anthropic_body(stream: bool) -> Value {
    json!({"model": "claude-haiku-4-5", "max_tokens": 5, "stream": stream,
           "messages": [{"role": "user", "content": "hello"}]})
}

/// Reads a streamed body until it ends or fails; returns the bytes and whether it failed.
pub async fn read_stream(
    mock: &Mock,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (String, bool) {
    let mut request = mock.client.post(mock.url(path)).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut received = Vec::new();
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => return (String::from_utf8(received).unwrap(), true),
        }
    }
    (String::from_utf8(received).unwrap(), false)
}

#[tokio::test]
async fn status_answers_with_the_providers_error_shape() {
    with_mock(MockConfig::default(), |mock| async move {
        let headers = [("x-mock-status", "429")];
        let openai = mock
            .post(
                "/v1/chat/completions",
                &chat_body("m", "s", "u", true),
                &headers,
            )
            .await;
        assert_eq!(openai.status, 429);
        assert_eq!(openai.content_type, "application/json");
        let error = openai.json();
        assert_eq!(error["error"]["type"], "rate_limit_error");
        assert_eq!(error["error"]["param"], Value::Null);
        assert!(error["error"]["message"].is_string());
        assert!(error["error"].get("code").is_some());

        for (status, kind) in [("400", "invalid_request_error"), ("500", "server_error")] {
            let headers = [("x-mock-status", status)];
            let answer = mock
                .post("/v1/embeddings", &json!({"input": "x"}), &headers)
                .await;
            assert_eq!(answer.status.as_str(), status);
            assert_eq!(answer.json()["error"]["type"], kind);
        }

        for (status, kind) in [
            ("401", "authentication_error"),
            ("429", "rate_limit_error"),
            ("500", "api_error"),
            ("529", "overloaded_error"),
        ] {
            let headers = [("x-mock-status", status)];
            let answer = mock
                .post("/v1/messages", &anthropic_body(true), &headers)
                .await;
            assert_eq!(answer.status.as_str(), status);
            let error = answer.json();
            assert_eq!(error["type"], "error");
            assert_eq!(error["error"]["type"], kind);
            let message = error["error"]["message"].as_str().unwrap();
            assert!(message.contains(status), "{message}");
        }
    })
    .await;
}

#[tokio::test]
async fn bodies_that_are_not_json_get_a_400_in_the_providers_shape() {
    with_mock(MockConfig::default(), |mock| async move {
        let openai = mock
            .post_raw("/v1/chat/completions", "{not json".into(), &[])
            .await;
        assert_eq!(openai.status, 400);
        assert_eq!(openai.json()["error"]["type"], "invalid_request_error");
        let anthropic = mock.post_raw("/v1/messages", "[1,".into(), &[]).await;
        assert_eq!(anthropic.status, 400);
        assert_eq!(anthropic.json()["error"]["type"], "invalid_request_error");
        let wrong_type = json!({"model": "m", "messages": "not a list"});
        let wrong_type = mock.post("/v1/chat/completions", &wrong_type, &[]).await;
        assert_eq!(wrong_type.status, 400);
    })
    .await;
}

#[tokio::test]
async fn a_bad_knob_value_is_a_400_naming_the_header() {
    with_mock(MockConfig::default(), |mock| async move {
        let headers = [("x-mock-latency-ms", "soon")];
        let answer = mock
            .post(
                "/v1/chat/completions",
                &chat_body("m", "s", "u", false),
                &headers,
            )
            .await;
        assert_eq!(answer.status, 400);
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("x-mock-latency-ms"), "{message}");
    })
    .await;
}

#[tokio::test]
async fn no_usage_leaves_usage_out_everywhere() {
    with_mock(MockConfig::default(), |mock| async move {
        let headers = [("x-mock-no-usage", "true")];
        let mut chat = chat_body("m", "s", "u", false);
        let plain = mock.post("/v1/chat/completions", &chat, &headers).await;
        assert!(plain.json().get("usage").is_none(), "{}", plain.body);
        chat["stream"] = json!(true);
        chat["stream_options"] = json!({"include_usage": true});
        let stream = mock.post("/v1/chat/completions", &chat, &headers).await;
        assert!(!stream.body.contains("usage"), "{}", stream.body);
        assert!(stream.body.ends_with("data: [DONE]\n\n"));
        for body in [anthropic_body(false), anthropic_body(true)] {
            let answer = mock.post("/v1/messages", &body, &headers).await;
            assert!(!answer.body.contains("usage"), "{}", answer.body);
        }
        let responses = json!({"model": "m", "input": "hi", "stream": true});
        let responses = mock.post("/v1/responses", &responses, &headers).await;
        assert!(!responses.body.contains("usage"), "{}", responses.body);
        let embeddings = mock
            .post("/v1/embeddings", &json!({"input": "x"}), &headers)
            .await;
        assert!(!embeddings.body.contains("usage"), "{}", embeddings.body);
    })
    .await;
}

#[tokio::test]
async fn cached_and_reasoning_tokens_are_reported_inside_the_totals() {
    with_mock(MockConfig::default(), |mock| async move {
        let body = chat_body("o3-mini", "s", "u", false);
        let base = mock.post("/v1/chat/completions", &body, &[]).await.json();
        let headers = [
            ("x-mock-cached-tokens", "64"),
            ("x-mock-reasoning-tokens", "128"),
        ];
        let knobbed = mock
            .post("/v1/chat/completions", &body, &headers)
            .await
            .json();
        let (base, knobbed) = (&base["usage"], &knobbed["usage"]);
        let number = |value: &Value| value.as_u64().unwrap();
        assert_eq!(
            number(&knobbed["prompt_tokens"]),
            number(&base["prompt_tokens"]) + 64
        );
        assert_eq!(knobbed["prompt_tokens_details"]["cached_tokens"], 64);
        let completion = number(&base["completion_tokens"]) + 128;
        assert_eq!(number(&knobbed["completion_tokens"]), completion);
        assert_eq!(
            knobbed["completion_tokens_details"]["reasoning_tokens"],
            128
        );
        assert_eq!(
            number(&knobbed["total_tokens"]),
            number(&base["total_tokens"]) + 192
        );
    })
    .await;
}

#[tokio::test]
async fn latency_delays_the_head_and_the_header_overrides_the_config() {
    let config = MockConfig {
        latency_ms: 40,
        ..MockConfig::default()
    };
    with_mock(config, |mock| async move {
        let body = chat_body("m", "s", "u", false);
        let started = Instant::now();
        mock.post("/v1/chat/completions", &body, &[]).await;
        assert!(started.elapsed() >= Duration::from_millis(40));
        let started = Instant::now();
        mock.post(
            "/v1/chat/completions",
            &body,
            &[("x-mock-latency-ms", "60")],
        )
        .await;
        assert!(started.elapsed() >= Duration::from_millis(60));
    })
    .await;
}

#[tokio::test]
async fn chunk_delay_paces_the_events() {
    with_mock(MockConfig::default(), |mock| async move {
        let body = chat_body("m", "s", "one two three four five six", true);
        let started = Instant::now();
        let answer = mock
            .post(
                "/v1/chat/completions",
                &body,
                &[("x-mock-chunk-delay-ms", "5")],
            )
            .await;
        let gaps = u32::try_from(answer.events().len() - 1).unwrap();
        assert!(gaps >= 5);
        assert!(started.elapsed() >= Duration::from_millis(5) * gaps);
    })
    .await;
}

#[tokio::test]
async fn disconnect_after_aborts_the_stream_after_n_events() {
    with_mock(MockConfig::default(), |mock| async move {
        let chat = chat_body("m", "s", "one two three four five six", true);
        let full = mock.post("/v1/chat/completions", &chat, &[]).await;
        let (received, failed) = read_stream(
            &mock,
            "/v1/chat/completions",
            &chat,
            &[("x-mock-disconnect-after", "2")],
        )
        .await;
        assert!(failed, "the client should see the stream fail");
        assert_eq!(events(&received), full.events()[..2]);

        let headers = [("x-mock-disconnect-after", "0")];
        let (received, failed) =
            read_stream(&mock, "/v1/messages", &anthropic_body(true), &headers).await;
        assert!(failed && received.is_empty(), "{received:?}");

        // Past the end, every event arrives and the connection is still cut.
        let headers = [("x-mock-disconnect-after", "1000")];
        let (received, failed) = read_stream(&mock, "/v1/chat/completions", &chat, &headers).await;
        assert!(failed);
        assert_eq!(received, full.body);

        // The server keeps serving other requests.
        let after = mock.post("/v1/chat/completions", &chat, &[]).await;
        assert_eq!(after.body, full.body);
    })
    .await;
}

#[tokio::test]
async fn disconnect_is_ignored_by_plain_responses() {
    with_mock(MockConfig::default(), |mock| async move {
        let headers = [("x-mock-disconnect-after", "0")];
        let answer = mock
            .post(
                "/v1/chat/completions",
                &chat_body("m", "s", "u", false),
                &headers,
            )
            .await;
        assert_eq!(answer.status, 200);
        assert!(answer.json()["usage"].is_object());
    })
    .await;
}

#[tokio::test]
async fn reply_words_lengthens_a_stream_to_about_a_third_as_many_events() {
    with_mock(MockConfig::default(), |mock| async move {
        let mut chat = chat_body("m", "s", "hello", true);
        chat["stream_options"] = json!({"include_usage": true});
        let headers = [("x-mock-reply-words", "600")];
        let answer = mock.post("/v1/chat/completions", &chat, &headers).await;
        let events = answer.events();
        let deltas = events
            .iter()
            .filter(|e| e.data != "[DONE]")
            .filter(|e| e.json()["choices"][0]["delta"]["content"].as_str() > Some(""))
            .count();
        assert_eq!(deltas, 200);
        let usage = events
            .iter()
            .filter(|e| e.data != "[DONE]")
            .find_map(|e| e.json()["usage"]["completion_tokens"].as_u64());
        assert_eq!(usage, Some(600));

        let plain = mock
            .post("/v1/messages", &anthropic_body(false), &headers)
            .await;
        assert_eq!(plain.json()["usage"]["output_tokens"], 600);

        let too_long = [("x-mock-reply-words", "100001")];
        let answer = mock.post("/v1/chat/completions", &chat, &too_long).await;
        assert_eq!(answer.status, 400);
        assert!(
            answer.body.contains("x-mock-reply-words"),
            "{}",
            answer.body
        );
    })
    .await;
}
