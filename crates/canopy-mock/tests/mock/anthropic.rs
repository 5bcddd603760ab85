//! `POST /v1/messages`, plain and streamed.

use canopy_mock::MockConfig;
use serde_json::{Value, json};

use crate::helpers::{with_mock, words};

const SYSTEM: &str = "You answer in one word.";
const USER: &str = "Name a colour of the sky.";

fn body(system: Value, stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 100,
        "system": system,
        "messages": [{"role": "user", "content": USER}],
        "stream": stream,
    })
}

#[tokio::test]
async fn plain_message_has_the_anthropic_shape() {
    with_mock(MockConfig::default(), |mock| async move {
        let answer = mock
            .post("/v1/messages", &body(json!(SYSTEM), false), &[])
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let message = answer.json();
        let id = message["id"].as_str().unwrap();
        assert!(id.starts_with("msg_mock_") && id.len() == 9 + 16, "{id}");
        assert_eq!(message["type"], "message");
        assert_eq!(message["role"], "assistant");
        assert_eq!(message["model"], "claude-sonnet-4-5-20250929");
        assert_eq!(message["stop_reason"], "end_turn");
        assert_eq!(message["stop_sequence"], Value::Null);
        let text = message["content"][0]["text"].as_str().unwrap();
        assert_eq!(message["content"][0]["type"], "text");
        assert!(text.ends_with(USER), "{text}");
        assert_eq!(
            message["usage"],
            json!({
                "input_tokens": words(SYSTEM) + 4 + words(USER) + 4,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": words(text),
            })
        );
    })
    .await;
}

#[tokio::test]
async fn system_blocks_count_like_a_system_string_and_change_the_reply() {
    with_mock(MockConfig::default(), |mock| async move {
        let string = mock
            .post("/v1/messages", &body(json!(SYSTEM), false), &[])
            .await;
        let blocks =
            json!([{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]);
        let blocks = mock.post("/v1/messages", &body(blocks, false), &[]).await;
        let other = mock
            .post("/v1/messages", &body(json!("Be chatty."), false), &[])
            .await;
        let (string, blocks, other) = (string.json(), blocks.json(), other.json());
        assert_eq!(string["usage"], blocks["usage"]);
        assert_ne!(string["content"], other["content"]);
    })
    .await;
}

#[tokio::test]
async fn cache_tokens_are_reported_apart_from_input_tokens() {
    with_mock(MockConfig::default(), |mock| async move {
        let plain = mock
            .post("/v1/messages", &body(json!(SYSTEM), false), &[])
            .await;
        let headers = [
            ("x-mock-cached-tokens", "1000"),
            ("x-mock-cache-write-tokens", "200"),
            ("x-mock-reasoning-tokens", "30"),
        ];
        let cached = mock
            .post("/v1/messages", &body(json!(SYSTEM), false), &headers)
            .await;
        let (plain, cached) = (plain.json(), cached.json());
        assert_eq!(
            cached["usage"]["input_tokens"],
            plain["usage"]["input_tokens"]
        );
        assert_eq!(cached["usage"]["cache_read_input_tokens"], 1000);
        assert_eq!(cached["usage"]["cache_creation_input_tokens"], 200);
        let output = plain["usage"]["output_tokens"].as_u64().unwrap();
        assert_eq!(cached["usage"]["output_tokens"], output + 30);
    })
    .await;
}

#[tokio::test]
async fn stream_has_the_anthropic_event_order_and_usage() {
    with_mock(MockConfig::default(), |mock| async move {
        let headers = [
            ("x-mock-cached-tokens", "7"),
            ("x-mock-cache-write-tokens", "3"),
        ];
        let plain = mock
            .post("/v1/messages", &body(json!(SYSTEM), false), &headers)
            .await;
        let plain = plain.json();
        let answer = mock
            .post("/v1/messages", &body(json!(SYSTEM), true), &headers)
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, "text/event-stream; charset=utf-8");
        let events = answer.events();
        let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
        let deltas = names.len() - 6;
        assert!(deltas >= 3, "{names:?}");
        let mut expected = vec!["message_start", "content_block_start", "ping"];
        expected.extend(std::iter::repeat_n("content_block_delta", deltas));
        expected.extend(["content_block_stop", "message_delta", "message_stop"]);
        assert_eq!(names, expected);
        for event in &events {
            assert_eq!(event.json()["type"], event.name.as_deref().unwrap());
        }
        let start = events[0].json();
        assert!(
            start["message"]["id"]
                .as_str()
                .unwrap()
                .starts_with("msg_mock_")
        );
        assert_eq!(start["message"]["content"], json!([]));
        assert_eq!(start["message"]["stop_reason"], Value::Null);
        let mut start_usage = plain["usage"].clone();
        start_usage["output_tokens"] = json!(1);
        assert_eq!(start["message"]["usage"], start_usage);
        assert_eq!(
            events[1].json()["content_block"],
            json!({"type": "text", "text": ""})
        );
        let text: String = events[3..3 + deltas]
            .iter()
            .map(|event| {
                let delta = event.json()["delta"].clone();
                assert_eq!(delta["type"], "text_delta");
                delta["text"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(text, plain["content"][0]["text"].as_str().unwrap());
        let message_delta = events[events.len() - 2].json();
        assert_eq!(
            message_delta,
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": plain["usage"]["output_tokens"]},
            })
        );
    })
    .await;
}
