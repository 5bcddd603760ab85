//! The other OpenAI routes: legacy completions, the Responses API, embeddings and models.

use canopy_mock::MockConfig;
use serde_json::{Value, json};

use crate::helpers::{with_mock, words};

#[tokio::test]
async fn legacy_completions_plain_and_streamed() {
    with_mock(MockConfig::default(), |mock| async move {
        let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test"});
        let plain = mock.post("/v1/completions", &body, &[]).await.json();
        assert_eq!(plain["object"], "text_completion");
        assert!(plain["id"].as_str().unwrap().starts_with("cmpl-mock-"));
        let text = plain["choices"][0]["text"].as_str().unwrap();
        assert!(text.ends_with("Say this is a test"), "{text}");
        assert_eq!(plain["choices"][0]["finish_reason"], "stop");
        assert_eq!(plain["usage"]["prompt_tokens"], 5);
        assert_eq!(plain["usage"]["completion_tokens"], words(text));

        let mut body = body;
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let events = mock.post("/v1/completions", &body, &[]).await.events();
        let (done, chunks) = events.split_last().unwrap();
        assert_eq!(done.data, "[DONE]");
        let chunks: Vec<Value> = chunks.iter().map(|event| event.json()).collect();
        let (usage, chunks) = chunks.split_last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"], plain["usage"]);
        let streamed: String = chunks
            .iter()
            .map(|chunk| {
                assert_eq!(chunk["object"], "text_completion");
                assert_eq!(chunk["usage"], Value::Null);
                chunk["choices"][0]["text"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(streamed, text);
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "stop"
        );
    })
    .await;
}

#[tokio::test]
async fn responses_plain_has_output_text_and_usage() {
    with_mock(MockConfig::default(), |mock| async move {
        let body =
            json!({"model": "gpt-4.1", "instructions": "Be kind.", "input": "Tell me a joke"});
        let headers = [
            ("x-mock-cached-tokens", "4"),
            ("x-mock-reasoning-tokens", "6"),
        ];
        let response = mock.post("/v1/responses", &body, &headers).await.json();
        assert!(response["id"].as_str().unwrap().starts_with("resp_mock_"));
        assert_eq!(response["object"], "response");
        assert_eq!(response["status"], "completed");
        assert_eq!(response["model"], "gpt-4.1");
        assert_eq!(response["instructions"], "Be kind.");
        let item = &response["output"][0];
        assert_eq!(item["type"], "message");
        assert_eq!(item["role"], "assistant");
        assert_eq!(item["content"][0]["type"], "output_text");
        let text = item["content"][0]["text"].as_str().unwrap();
        assert!(text.ends_with("Tell me a joke"), "{text}");
        let input = words("Be kind.") + 4 + words("Tell me a joke") + 4 + 4;
        let output = words(text) + 6;
        assert_eq!(
            response["usage"],
            json!({
                "input_tokens": input,
                "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": output,
                "output_tokens_details": {"reasoning_tokens": 6},
                "total_tokens": input + output,
            })
        );
    })
    .await;
}

#[tokio::test]
async fn responses_stream_has_the_real_event_sequence() {
    with_mock(MockConfig::default(), |mock| async move {
        let input =
            json!([{"role": "user", "content": [{"type": "input_text", "text": "Hi there you"}]}]);
        let plain = json!({"model": "gpt-4.1", "input": input});
        let plain = mock.post("/v1/responses", &plain, &[]).await.json();
        let body = json!({"model": "gpt-4.1", "input": input, "stream": true});
        let events = mock.post("/v1/responses", &body, &[]).await.events();
        let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
        let deltas = names.len() - 8;
        let mut expected = vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ];
        expected.extend(std::iter::repeat_n("response.output_text.delta", deltas));
        expected.extend([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]);
        assert_eq!(names, expected);
        for (index, event) in events.iter().enumerate() {
            let data = event.json();
            assert_eq!(data["type"], event.name.as_deref().unwrap());
            assert_eq!(data["sequence_number"], index);
        }
        let created = events[0].json();
        assert_eq!(created["response"]["status"], "in_progress");
        assert_eq!(created["response"]["usage"], Value::Null);
        let text: String = events[4..4 + deltas]
            .iter()
            .map(|event| event.json()["delta"].as_str().unwrap().to_owned())
            .collect();
        let plain_text = &plain["output"][0]["content"][0]["text"];
        assert_eq!(text, plain_text.as_str().unwrap());
        assert_eq!(events[4 + deltas].json()["text"], *plain_text);
        // Ids digest the body, which differs from the plain request's by `stream`.
        let without_ids = |mut response: Value| {
            response["id"].take();
            response["output"][0]["id"].take();
            response
        };
        let completed = events.last().unwrap().json()["response"].clone();
        assert_eq!(without_ids(completed), without_ids(plain));
    })
    .await;
}

#[tokio::test]
async fn embeddings_are_deterministic_unit_vectors_per_input() {
    with_mock(MockConfig::default(), |mock| async move {
        let body = json!({"model": "text-embedding-3-small", "input": ["hello world", "bye"]});
        let answer = mock.post("/v1/embeddings", &body, &[]).await;
        let list = answer.json();
        assert_eq!(list["object"], "list");
        assert_eq!(list["model"], "text-embedding-3-small");
        assert_eq!(
            list["usage"],
            json!({"prompt_tokens": 3, "total_tokens": 3})
        );
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        for (index, item) in data.iter().enumerate() {
            assert_eq!(item["object"], "embedding");
            assert_eq!(item["index"], index);
            let vector: Vec<f64> = serde_json::from_value(item["embedding"].clone()).unwrap();
            assert_eq!(vector.len(), 8);
            let length: f64 = vector.iter().map(|x| x * x).sum();
            assert!((length - 1.0).abs() < 1e-4, "{length}");
        }
        assert_ne!(data[0]["embedding"], data[1]["embedding"]);

        let single = json!({"model": "text-embedding-3-small", "input": "hello world"});
        let single = mock.post("/v1/embeddings", &single, &[]).await.json();
        assert_eq!(single["data"][0]["embedding"], data[0]["embedding"]);
        let again = mock.post("/v1/embeddings", &body, &[]).await;
        assert_eq!(again.body, answer.body);
    })
    .await;
}

#[tokio::test]
async fn embeddings_honour_dimensions_and_base64() {
    with_mock(MockConfig::default(), |mock| async move {
        let body =
            json!({"model": "e", "input": "x", "dimensions": 3, "encoding_format": "base64"});
        let list = mock.post("/v1/embeddings", &body, &[]).await.json();
        let encoded = list["data"][0]["embedding"].as_str().unwrap();
        // 3 little-endian f32s are 12 bytes, 16 base64 characters.
        assert_eq!(encoded.len(), 16, "{encoded}");
        let floats = json!({"model": "e", "input": "x", "dimensions": 3});
        let floats = mock.post("/v1/embeddings", &floats, &[]).await.json();
        assert_eq!(floats["data"][0]["embedding"].as_array().unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn models_are_listed_in_each_providers_shape() {
    with_mock(MockConfig::default(), |mock| async move {
        let openai = mock.get("/v1/models", &[]).await.json();
        assert_eq!(openai["object"], "list");
        assert_eq!(openai["data"][0]["object"], "model");
        let anthropic = mock
            .get("/v1/models", &[("anthropic-version", "2023-06-01")])
            .await;
        let anthropic = anthropic.json();
        assert_eq!(anthropic["data"][0]["type"], "model");
        assert_eq!(anthropic["has_more"], false);
    })
    .await;
}
