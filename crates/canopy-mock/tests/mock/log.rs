//! The request log: `GET /mock/requests` and `DELETE /mock/requests`.

use canopy_mock::MockConfig;
use serde_json::{Value, json};

use crate::helpers::{Mock, chat_body, with_mock};

fn recording() -> MockConfig {
    MockConfig {
        record_requests: true,
        ..MockConfig::default()
    }
}

async fn log(mock: &Mock) -> Vec<Value> {
    let answer = mock.get("/mock/requests", &[]).await;
    assert_eq!(answer.status, 200);
    serde_json::from_value(answer.json()).unwrap()
}

#[tokio::test]
async fn without_recording_the_log_stays_empty() {
    with_mock(MockConfig::default(), |mock| async move {
        mock.post(
            "/v1/chat/completions",
            &chat_body("m", "s", "u", false),
            &[],
        )
        .await;
        assert_eq!(log(&mock).await, Vec::<Value>::new());
    })
    .await;
}

#[tokio::test]
async fn records_method_path_headers_and_body() {
    with_mock(recording(), |mock| async move {
        let body = chat_body("gpt-4o", "s", "u", true);
        let headers = [("Authorization", "Bearer sk-test"), ("X-Custom", "a")];
        mock.post("/v1/chat/completions?trace=1", &body, &headers)
            .await;
        mock.post_raw("/v1/messages", "plain text".into(), &[])
            .await;
        mock.get("/v1/models", &[]).await;
        mock.get("/v1/unknown", &[]).await;

        let entries = log(&mock).await;
        assert_eq!(entries.len(), 4, "{entries:?}");
        let chat = &entries[0];
        assert_eq!(chat["method"], "POST");
        assert_eq!(chat["path"], "/v1/chat/completions?trace=1");
        assert_eq!(chat["headers"]["authorization"], "Bearer sk-test");
        assert_eq!(chat["headers"]["x-custom"], "a");
        assert_eq!(chat["headers"]["content-type"], "application/json");
        assert_eq!(chat["body"], body);
        assert_eq!(entries[1]["body"], "plain text");
        assert_eq!(entries[2]["method"], "GET");
        assert_eq!(entries[2]["body"], Value::Null);
        assert_eq!(entries[3]["path"], "/v1/unknown");

        // The recorded request was still answered normally.
        let again = mock.post("/v1/chat/completions", &body, &[]).await;
        assert_eq!(again.status, 200);
    })
    .await;
}

#[tokio::test]
async fn delete_clears_the_log() {
    with_mock(recording(), |mock| async move {
        mock.get("/v1/models", &[]).await;
        let cleared = mock
            .client
            .delete(mock.url("/mock/requests"))
            .send()
            .await
            .unwrap();
        assert_eq!(cleared.status(), 204);
        assert_eq!(log(&mock).await, Vec::<Value>::new());
    })
    .await;
}

#[tokio::test]
async fn keeps_the_last_hundred_requests_most_recent_last() {
    with_mock(recording(), |mock| async move {
        for index in 0..105 {
            mock.post("/v1/embeddings", &json!({"input": "x", "n": index}), &[])
                .await;
        }
        let entries = log(&mock).await;
        assert_eq!(entries.len(), 100);
        assert_eq!(entries[0]["body"]["n"], 5);
        assert_eq!(entries[99]["body"]["n"], 104);
    })
    .await;
}
