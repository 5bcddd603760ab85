//! `POST /v1/chat/completions`, plain and streamed.

use canopy_mock::MockConfig;
use serde_json::{Value, json};

use crate::helpers::{Mock, chat_body, with_mock, words};

const SYSTEM: &str = "You are terse.";
const USER: &str = "What is the capital of France?";

async fn plain(mock: &Mock, body: &Value) -> Value {
    let answer = mock.post("/v1/chat/completions", body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    answer.json()
}

#[tokio::test]
async fn plain_completion_has_the_openai_shape_and_full_usage() {
    with_mock(MockConfig::default(), |mock| async move {
        let reply = plain(
            &mock,
            &chat_body("gpt-4o-mini-2024-07-18", SYSTEM, USER, false),
        )
        .await;
        let id = reply["id"].as_str().unwrap();
        assert!(
            id.starts_with("chatcmpl-mock-") && id.len() == 14 + 16,
            "{id}"
        );
        assert_eq!(reply["object"], "chat.completion");
        assert_eq!(reply["created"], 1_700_000_000);
        assert_eq!(reply["model"], "gpt-4o-mini-2024-07-18");
        let choice = &reply["choices"][0];
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["finish_reason"], "stop");
        let content = choice["message"]["content"].as_str().unwrap();
        assert!(
            content.starts_with("gpt-4o-mini-2024-07-18 reply "),
            "{content}"
        );
        assert!(content.ends_with(&format!(": {USER}")), "{content}");
        let prompt = words(SYSTEM) + 4 + words(USER) + 4;
        let completion = words(content);
        assert_eq!(
            reply["usage"],
            json!({
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0
                }
            })
        );
    })
    .await;
}

#[tokio::test]
async fn content_given_as_parts_is_read_like_a_string() {
    with_mock(MockConfig::default(), |mock| async move {
        let parts = json!({"model": "m", "messages": [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": [{"type": "text", "text": USER}]},
        ]});
        let string = plain(&mock, &chat_body("m", SYSTEM, USER, false)).await;
        let parts = plain(&mock, &parts).await;
        assert_eq!(parts["usage"], string["usage"]);
        let text = parts["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(text.ends_with(USER), "{text}");
    })
    .await;
}

#[tokio::test]
async fn identical_requests_get_identical_bytes() {
    with_mock(MockConfig::default(), |mock| async move {
        for stream in [false, true] {
            let body = chat_body("gpt-4o", SYSTEM, USER, stream);
            let first = mock.post("/v1/chat/completions", &body, &[]).await;
            let second = mock.post("/v1/chat/completions", &body, &[]).await;
            assert_eq!(first.body, second.body);
        }
    })
    .await;
}

#[tokio::test]
async fn the_model_and_the_system_prompt_change_the_reply() {
    with_mock(MockConfig::default(), |mock| async move {
        let text = |reply: Value| reply["choices"][0]["message"]["content"].clone();
        let base = text(plain(&mock, &chat_body("gpt-4o", SYSTEM, USER, false)).await);
        let model = text(plain(&mock, &chat_body("gpt-4.1", SYSTEM, USER, false)).await);
        let system = text(plain(&mock, &chat_body("gpt-4o", "Be verbose.", USER, false)).await);
        assert_ne!(base, model);
        assert_ne!(base, system);
        assert_ne!(model, system);
    })
    .await;
}

#[tokio::test]
async fn stream_without_include_usage_follows_openai_and_has_no_usage() {
    with_mock(MockConfig::default(), |mock| async move {
        let expected = plain(&mock, &chat_body("gpt-4o", SYSTEM, USER, false)).await;
        let answer = mock
            .post(
                "/v1/chat/completions",
                &chat_body("gpt-4o", SYSTEM, USER, true),
                &[],
            )
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, "text/event-stream; charset=utf-8");
        assert!(!answer.body.contains("usage"), "{}", answer.body);
        let events = answer.events();
        let (done, chunks) = events.split_last().unwrap();
        assert_eq!(done.data, "[DONE]");
        assert!(events.iter().all(|event| event.name.is_none()));
        let chunks: Vec<Value> = chunks.iter().map(|event| event.json()).collect();
        assert!(chunks.len() >= 5, "{chunks:?}");
        // The id digests the body, which differs from the plain request's by `stream`.
        assert!(
            chunks[0]["id"]
                .as_str()
                .unwrap()
                .starts_with("chatcmpl-mock-")
        );
        for chunk in &chunks {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["id"], chunks[0]["id"]);
            assert_eq!(chunk["created"], 1_700_000_000);
            assert_eq!(chunk["model"], "gpt-4o");
        }
        let delta = |index: usize| &chunks[index]["choices"][0]["delta"];
        assert_eq!(*delta(0), json!({"role": "assistant", "content": ""}));
        let last = chunks.len() - 1;
        assert_eq!(*delta(last), json!({}));
        assert_eq!(chunks[last]["choices"][0]["finish_reason"], "stop");
        let text: String = (1..last)
            .map(|index| {
                assert_eq!(chunks[index]["choices"][0]["finish_reason"], Value::Null);
                delta(index)["content"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            text,
            expected["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn stream_with_include_usage_ends_with_one_usage_chunk() {
    with_mock(MockConfig::default(), |mock| async move {
        let expected = plain(&mock, &chat_body("gpt-4o", SYSTEM, USER, false)).await;
        let mut body = chat_body("gpt-4o", SYSTEM, USER, true);
        body["stream_options"] = json!({"include_usage": true});
        let answer = mock.post("/v1/chat/completions", &body, &[]).await;
        let events = answer.events();
        let (done, chunks) = events.split_last().unwrap();
        assert_eq!(done.data, "[DONE]");
        let (usage_chunk, others) = chunks.split_last().unwrap();
        for event in others {
            assert!(event.data.ends_with(r#","usage":null}"#), "{}", event.data);
            assert_eq!(event.json()["choices"].as_array().unwrap().len(), 1);
        }
        let usage_chunk = usage_chunk.json();
        assert_eq!(usage_chunk["choices"], json!([]));
        assert_eq!(usage_chunk["object"], "chat.completion.chunk");
        assert_eq!(usage_chunk["usage"], expected["usage"]);
        assert_eq!(answer.body.matches(r#""prompt_tokens""#).count(), 1);
    })
    .await;
}

#[tokio::test]
async fn include_usage_false_is_the_same_as_leaving_it_out() {
    with_mock(MockConfig::default(), |mock| async move {
        let mut body = chat_body("gpt-4o", SYSTEM, USER, true);
        body["stream_options"] = json!({"include_usage": false});
        let answer = mock.post("/v1/chat/completions", &body, &[]).await;
        assert!(!answer.body.contains("usage"), "{}", answer.body);
    })
    .await;
}
