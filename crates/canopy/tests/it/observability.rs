//! How Canopy reports on itself: `/metrics` (prefixed names, bounded labels, counters from 0,
//! gauges, the key when keys are required), `/readyz`, request ids, and the API's answer when
//! the store fails.

use std::path::Path;
use std::time::Duration;

use canopy::config::MetricsAuth;
use serde_json::{Value, json};

use crate::harness::{TestApp, chat, spawn_mock, store_url};
use crate::scale_out::{Gateway, client};

async fn metrics(app: &TestApp, key: Option<&str>) -> reqwest::Response {
    scrape(&app.client, &app.url, key).await
}

async fn scrape(client: &reqwest::Client, url: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = client.get(format!("{url}/metrics"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

/// A gateway in a process of its own, on the test's engine. The metrics recorder is a
/// process's, so counters read from it start at zero whatever else this test process counted.
async fn metered_gateway(dir: &Path, mock: &str) -> Gateway {
    Gateway::start_configured(dir, "metered", &store_url(dir), mock, "", &[]).await
}

/// Sends a chat call for `model` to `route` and reads its whole answer.
async fn call(
    client: &reqwest::Client,
    url: &str,
    route: &str,
    model: &str,
    stream: bool,
) -> reqwest::StatusCode {
    let answer = client
        .post(format!("{url}{route}/v1/chat/completions"))
        .json(&chat(model, stream, "hi"))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    answer.bytes().await.unwrap();
    status
}

/// Reads `/metrics` until `line` appears, for at most ten seconds.
async fn metrics_with(client: &reqwest::Client, url: &str, line: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(client, url, None).await.text().await.unwrap();
        if text.lines().any(|l| l == line) || tokio::time::Instant::now() > deadline {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
            return text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn metrics_are_prefixed_start_at_zero_and_never_take_labels_from_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _stop) = spawn_mock().await;
    let gateway = metered_gateway(dir.path(), &mock).await;
    let (client, url) = (client(), gateway.url.as_str());
    let text = scrape(&client, url, None).await.text().await.unwrap();
    for line in [
        "canopy_ingest_written_total 0",
        "canopy_ingest_dropped_total{reason=\"store_failed\"} 0",
        "canopy_gateway_errors_total{kind=\"upstream_unreachable\"} 0",
        "canopy_ingest_queue_depth 0",
        "canopy_ingest_spool_depth 0",
        "canopy_gateway_in_flight_calls 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    let version = format!(
        "canopy_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.lines().any(|l| l == version), "{text}");
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("canopy_"), "unprefixed series `{line}`");
    }

    // A route no provider serves, and a model with control characters.
    let refused = call(&client, url, "/made-up-provider-1234", "gpt-4o-mini", false).await;
    assert_eq!(refused, 404);
    let served = call(&client, url, "", "evil\u{7}model\nname", false).await;
    assert!(served.is_success(), "{served}");

    let text = metrics_with(
        &client,
        url,
        "canopy_gateway_requests_total{provider=\"other\",status_class=\"4xx\"} 1",
    )
    .await;
    let text = if text.contains("canopy_gateway_unpriced_calls_total{provider=\"openai\"} 1") {
        text
    } else {
        metrics_with(
            &client,
            url,
            "canopy_gateway_unpriced_calls_total{provider=\"openai\"} 1",
        )
        .await
    };
    assert!(!text.contains("made-up-provider"), "{text}");
    assert!(!text.contains("evil"), "{text}");
}

#[tokio::test]
async fn every_call_is_counted_in_the_series_it_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _stop) = spawn_mock().await;
    let gateway = metered_gateway(dir.path(), &mock).await;
    let (client, url) = (client(), gateway.url.as_str());
    for stream in [false, false, true] {
        let status = call(&client, url, "", "gpt-4o-mini", stream).await;
        assert!(status.is_success(), "{status}");
    }
    for line in [
        "canopy_gateway_requests_total{provider=\"openai\",status_class=\"2xx\"} 3",
        "canopy_ingest_enqueued_total 3",
        "canopy_gateway_in_flight_calls 0",
        "canopy_upstream_duration_seconds_count 3",
        "canopy_upstream_ttft_seconds_count 1",
    ] {
        metrics_with(&client, url, line).await;
    }
}

#[tokio::test]
async fn metrics_need_a_key_once_keys_exist_unless_configured_open() {
    let app = TestApp::spawn().await;
    let key = app.create_key("acme").await;
    let refused = metrics(&app, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(metrics(&app, Some("sk-canopy-wrong")).await.status(), 401);
    let allowed = metrics(&app, Some(&key)).await;
    assert_eq!(allowed.status(), 200);
    assert!(allowed.text().await.unwrap().contains("canopy_build_info"));

    let open = TestApp::spawn_with(|s| s.metrics_auth = MetricsAuth::Open).await;
    open.create_key("acme").await;
    assert_eq!(metrics(&open, None).await.status(), 200);
}

#[tokio::test]
async fn readyz_checks_the_store_and_reports_the_spool_while_healthz_stays_liveness() {
    let app = TestApp::spawn().await;
    let ready = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], "ok");
    assert_eq!(body["spool_depth"], 0);

    app.store.close().await;
    let unready = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unready.status(), 503);
    let body: serde_json::Value = unready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["store"], "unreachable");
    assert!(body["spool_depth"].is_u64(), "{body}");
    let health = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_store_failure_answers_a_generic_500_without_driver_text() {
    let app = TestApp::spawn().await;
    app.store.close().await;
    let response = app
        .client
        .post(format!("{}/api/v1/session/query", app.url))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"data": null, "error": "internal error"})
    );
}

#[tokio::test]
async fn canopys_own_routes_answer_a_request_id_and_proxied_answers_pass_through() {
    let app = TestApp::spawn().await;
    let fresh = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(canopy_core::CallId::parse(&id).is_some(), "{id}");

    let chosen = app
        .client
        .post(format!("{}/api/v1/request/count/query", app.url))
        .header("x-request-id", "trace-me-42")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.headers()["x-request-id"], "trace-me-42");

    let proxied = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&chat("gpt-4o-mini", false, "hi"))
        .send()
        .await
        .unwrap();
    assert!(proxied.status().is_success());
    assert!(proxied.headers().get("x-request-id").is_none());
}

/// The next JSON line `gateway` logs containing `needle`: parsed, and as written.
async fn logged_entry(gateway: &mut Gateway, needle: &str) -> (Value, String) {
    let line = gateway.logged(needle, Duration::from_secs(30)).await;
    (serde_json::from_str(&line).unwrap(), line)
}

/// A proxied call logs in its own request span, as Canopy's own routes do: its response head
/// (at DEBUG), the 5xx its handler answers, and a warning written once the response body has
/// been read, after the handler returned.
#[tokio::test]
async fn a_proxied_calls_log_lines_carry_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _stop) = spawn_mock().await;
    let store = format!("sqlite://{}", dir.path().join("logs.db").display());
    let misread = format!("[providers.misread]\nbase_url = \"{mock}\"\nformat = \"openai\"\n");
    let env = [
        ("CANOPY_LOG", Path::new("info,canopy_gateway::proxy=debug")),
        ("CANOPY_LOG_FORMAT", Path::new("json")),
    ];
    let mut gateway =
        Gateway::start_configured(dir.path(), "logs", &store, &mock, &misread, &env).await;
    let client = client();

    let failed = client
        .post(format!("{}/v1/chat/completions", gateway.url))
        .header("x-request-id", "trace-me-7")
        .header("x-mock-status", "503")
        .json(&chat("gpt-4o-mini", false, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 503);
    failed.bytes().await.unwrap();
    let (entry, line) = logged_entry(&mut gateway, "Answered the response head").await;
    assert_eq!(entry["level"], "DEBUG", "{line}");
    assert_eq!(entry["fields"]["status"], 503, "{line}");
    assert!(entry["fields"]["latency_ms"].as_f64().is_some(), "{line}");
    assert_eq!(entry["span"]["request_id"], "trace-me-7", "{line}");
    let (entry, line) = logged_entry(&mut gateway, "Answered a server error").await;
    assert_eq!(entry["level"], "WARN", "{line}");
    assert_eq!(entry["fields"]["status"], 503, "{line}");
    assert_eq!(entry["span"]["name"], "request", "{line}");
    assert_eq!(entry["span"]["route"], "proxy", "{line}");
    assert_eq!(entry["span"]["method"], "POST", "{line}");
    assert_eq!(entry["span"]["request_id"], "trace-me-7", "{line}");

    let answered = client
        .post(format!("{}/misread/v1/messages", gateway.url))
        .json(
            &json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "stream": true,
            "messages": [{"role": "user", "content": "Which format am I?"}]}),
        )
        .send()
        .await
        .unwrap();
    assert!(answered.status().is_success());
    answered.bytes().await.unwrap();
    let (entry, line) = logged_entry(&mut gateway, "configured format").await;
    assert_eq!(entry["span"]["route"], "proxy", "{line}");
    let id = entry["span"]["request_id"].as_str().unwrap_or_default();
    assert!(
        canopy_core::CallId::parse(id).is_some(),
        "a fresh id: {line}"
    );
}
