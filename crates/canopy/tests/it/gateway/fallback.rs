//! `Helicone-Fallbacks`: targets tried in order, only upstreams Canopy is configured with.

use serde_json::json;

use super::{control_headers_upstream, header, json};
use crate::harness::{TestApp, chat, helicone_id};

async fn app() -> TestApp {
    TestApp::spawn_with(|s| {
        // An allowed origin where nothing listens: a connection failure.
        s.gateway.gateway_allowlist = vec!["http://127.0.0.1:1".to_owned()];
    })
    .await
}

#[tokio::test]
async fn fallback_moves_on_codes_and_connection_failures_and_names_what_answered() {
    let app = app().await;
    let list = json!([
        {"target-url": app.mock_url, "headers": {"x-mock-status": "503", "authorization": "Bearer sk-first"},
         "onCodes": [429, {"from": 500, "to": 599}]},
        {"target-url": "http://127.0.0.1:1", "onCodes": []},
        {"target-url": app.mock_url, "onCodes": [], "bodyKeyOverride": {"model": "gpt-4o"}},
    ]);
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Authorization", "Bearer sk-test")
        .header("Helicone-Fallbacks", list.to_string())
        .json(&chat("gpt-4o-mini", false, "fall back"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "helicone-fallback-index").as_deref(),
        Some("2")
    );
    let id = helicone_id(&response);
    assert_eq!(
        json(response).await["model"],
        "gpt-4o",
        "the override reached the upstream"
    );
    app.wait_written(1).await;
    let record = app.call(&id).await;
    assert_eq!(record.properties["canopy-fallback-index"], "2");
    assert_eq!(record.properties["canopy-attempt-statuses"], "503,-1,200");
    let failed = &record.properties["canopy-fallback-failed"];
    assert!(
        failed.contains("#0 503") && failed.contains("#1 -1 http://127.0.0.1:1"),
        "{failed}"
    );
    assert!(record.target_url.starts_with(&app.mock_url));
    let stored = &record.request_headers["helicone-fallbacks"];
    assert!(
        !stored.contains("sk-first"),
        "fallback credentials are never stored: {stored}"
    );
    let upstream = app.upstream_requests().await;
    assert_eq!(upstream.len(), 2);
    assert_eq!(upstream[0]["headers"]["authorization"], "Bearer sk-first");
    assert_eq!(upstream[1]["body"]["model"], "gpt-4o");
    assert!(control_headers_upstream(&app).await.is_empty());
}

#[tokio::test]
async fn fallback_keeps_an_answer_whose_code_is_not_listed() {
    let app = app().await;
    let list = json!([
        {"target-url": app.mock_url, "headers": {"x-mock-status": "400"}, "onCodes": [500]},
        {"target-url": app.mock_url, "onCodes": []},
    ]);
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Fallbacks", list.to_string())
        .json(&chat("gpt-4o-mini", false, "stay"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        header(&response, "helicone-fallback-index").as_deref(),
        Some("0")
    );
}

#[tokio::test]
async fn fallback_to_an_unconfigured_url_or_a_malformed_list_is_a_400() {
    let app = app().await;
    let mut last_id = None;
    for list in [
        json!([{"target-url": "https://attacker.example", "onCodes": [500]}]).to_string(),
        "not json".to_owned(),
        json!([{"target-url": app.mock_url, "onCodes": ["x"]}]).to_string(),
        // Refused lists are stored too, with their credentials redacted.
        serde_json::Value::Array(vec![
            json!({"target-url": app.mock_url, "headers": {"authorization": "Bearer sk-refused"}});
            11
        ])
        .to_string(),
    ] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Fallbacks", list)
            .json(&chat("gpt-4o-mini", false, "nope"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        last_id = Some(helicone_id(&response));
        let body = json(response).await;
        assert_eq!(body["error"]["param"], "Helicone-Fallbacks");
        assert_eq!(body["error"]["code"], "invalid_header");
    }
    app.wait_written(4).await;
    assert!(
        app.upstream_requests().await.is_empty(),
        "nothing was sent anywhere"
    );
    let record = app.call(&last_id.unwrap()).await;
    let stored = &record.request_headers["helicone-fallbacks"];
    assert!(
        stored.contains("[REDACTED]") && !stored.contains("sk-refused"),
        "a refused list's credentials are never stored: {stored}"
    );
}
