//! Provider credentials in headers (`Authorization`, `x-api-key`, `api-key`), also on calls
//! that fail, never reach the spool, the store's files, the API or the log. Secrets in URLs
//! are checked the same way in `records.rs`.

use std::time::Duration;

use canopy_core::extract::WireFormat;
use canopy_gateway::Provider;
use serde_json::json;

use super::session_calls;
use crate::harness::{LogBuffer, TestApp, chat, files_under, helicone_id, holds};

const SECRETS: [&str; 4] = [
    "sk-SECRET-BEARER",
    "SECRET-XAPIKEY",
    "SECRET-AZUREKEY",
    "sk-SECRET-FAILED",
];

#[tokio::test]
async fn header_credentials_reach_neither_spool_store_api_nor_log() {
    // The test runs on one thread, so a thread-local subscriber sees the server's logs too.
    let log = LogBuffer::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = super::spawn_with(|s| {
        // Records stay in the spool until shutdown, so the spool can be searched.
        s.gateway.durable = true;
        s.writer.replay_interval = Duration::from_secs(3600);
        s.providers.push(Provider {
            name: "dead".into(),
            base_url: url::Url::parse(&dead).unwrap(),
            format: WireFormat::Openai,
            http2_prior_knowledge: false,
        });
    })
    .await;
    let anthropic = json!({"model": "claude-haiku-4-5", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]});
    let calls = [
        (
            "/v1/chat/completions",
            "authorization",
            "Bearer sk-SECRET-BEARER",
            None,
        ),
        (
            "/anthropic/v1/messages",
            "x-api-key",
            "SECRET-XAPIKEY",
            Some(anthropic),
        ),
        ("/v1/chat/completions", "api-key", "SECRET-AZUREKEY", None),
        (
            "/dead/v1/chat/completions",
            "authorization",
            "Bearer sk-SECRET-FAILED",
            None,
        ),
        (
            "/v1/chat/completions",
            "authorization",
            "Bearer sk-SECRET-FAILED",
            None,
        ),
    ];
    let mut ids = Vec::new();
    for (i, (path, header, value, body)) in calls.into_iter().enumerate() {
        let mut request = app
            .client
            .post(format!("{}{path}", app.url))
            .header(header, value)
            .header("Helicone-Session-Id", "secrets")
            .json(&body.unwrap_or_else(|| chat("gpt-4o-mini", false, "hello")));
        if i == 4 {
            request = request.header("x-mock-status", "500");
        }
        let response = request.send().await.unwrap();
        ids.push(helicone_id(&response));
        let _ = response.bytes().await.unwrap();
    }
    let spooled = files_under(app.dir.path());
    assert!(
        ids.iter()
            .all(|id| spooled.iter().any(|(_, b)| holds(b, id))),
        "every record is in the spool"
    );
    for (path, bytes) in &spooled {
        for secret in SECRETS {
            assert!(!holds(bytes, secret), "{secret} in {}", path.display());
        }
    }

    // Durable records reach the store at shutdown; the restart reads them back.
    let (mock_url, mock_stop, dir) = app.into_parts().await;
    for (path, bytes) in files_under(dir.path()) {
        for secret in SECRETS {
            assert!(!holds(&bytes, secret), "{secret} in {}", path.display());
        }
    }
    let settings = super::settings_in(dir.path(), &mock_url);
    let app = TestApp::start(settings, mock_url, mock_stop, dir).await;
    assert_eq!(session_calls(&app, "secrets").await.len(), 5);
    let mut answers = Vec::new();
    for id in &ids {
        let response = app
            .client
            .get(format!("{}/api/v1/request/{id}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        answers.push(response.text().await.unwrap());
    }
    let listed = app
        .client
        .post(format!("{}/api/v1/request/query", app.url))
        .json(&json!({"filter": "all", "limit": 100}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    answers.push(listed);
    let session = app
        .client
        .get(format!("{}/api/v1/session/secrets", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(session.contains(&ids[0]), "{session}");
    answers.push(session);
    for answer in &answers {
        for secret in SECRETS {
            assert!(!answer.contains(secret), "{secret} in the API: {answer}");
        }
    }
    for id in &ids {
        let call = app.call(id).await;
        assert!(!format!("{call:?}").contains("SECRET"), "{call:?}");
    }
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("Answered a call with a Canopy error"), "{log}");
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}
