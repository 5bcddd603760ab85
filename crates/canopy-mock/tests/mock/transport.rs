//! HTTP/2 prior knowledge, the 404 fallback and graceful shutdown.

use canopy_mock::MockConfig;
use reqwest::Version;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::helpers::{Mock, chat_body, client, events, read, with_mock};
use crate::knobs::read_stream;

#[tokio::test]
async fn http2_prior_knowledge_serves_plain_streamed_and_aborted_answers() {
    with_mock(MockConfig::default(), |mock| async move {
        let http1 = mock
            .post("/v1/chat/completions", &chat_body("m", "s", "u", true), &[])
            .await;
        let mock = Mock {
            client: client(true),
            ..mock
        };
        let response = mock
            .client
            .post(mock.url("/v1/chat/completions"))
            .json(&chat_body("m", "s", "u", true))
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(read(response).await.body, http1.body);

        let plain = mock
            .post("/v1/messages", &json!({"model": "c", "messages": []}), &[])
            .await;
        assert_eq!(plain.status, 200);

        let headers = [("x-mock-disconnect-after", "1")];
        let body = chat_body("m", "s", "u", true);
        let (received, failed) = read_stream(&mock, "/v1/chat/completions", &body, &headers).await;
        assert!(failed);
        assert_eq!(events(&received), http1.events()[..1]);
    })
    .await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_openais_404() {
    with_mock(MockConfig::default(), |mock| async move {
        let answer = mock.post("/v1/nope", &json!({}), &[]).await;
        assert_eq!(answer.status, 404);
        let error = answer.json();
        assert_eq!(error["error"]["message"], "Invalid URL (POST /v1/nope)");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        let prefixed = mock
            .post("/openai/v1/chat/completions", &json!({}), &[])
            .await;
        assert_eq!(prefixed.status, 404);
        let wrong_method = mock.get("/v1/chat/completions", &[]).await;
        assert_eq!(wrong_method.status, 404);
        assert_eq!(
            wrong_method.json()["error"]["message"],
            "Invalid URL (GET /v1/chat/completions)"
        );
    })
    .await;
}

#[tokio::test]
async fn serve_returns_once_shutdown_resolves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = canopy_mock::serve(listener, MockConfig::default(), async {
        let _ = stopped.await;
    });
    stop.send(()).unwrap();
    server.await.unwrap();
}
