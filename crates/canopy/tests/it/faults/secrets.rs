//! Secrets a caller sends never reach the spool, the store's files, the API or the log:
//! provider credentials in headers (`Authorization`, `x-api-key`, `api-key`), also on calls
//! that fail, and URLs with userinfo or a key in their query, wherever one is quoted (the
//! target URL, the path, a header, a property, a label, an error). What was sent still finds
//! what was kept.

use std::time::Duration;

use canopy_core::extract::WireFormat;
use canopy_gateway::Provider;
use reqwest::Method;
use serde_json::{Value, json};

use super::session_calls;
use crate::harness::{
    LogBuffer, TestApp, chat, files_under, helicone_id, holds, vector_search_log,
};

async fn api_post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    app.api(None, Method::POST, path, Some(body)).await
}

async fn api_get(app: &TestApp, path: &str) -> (u16, Value) {
    app.api(None, Method::GET, path, None).await
}

/// Canopy recording durably, with its records kept in the spool until shutdown so that the
/// spool can be searched too, and a provider `dead` whose address refuses connections.
async fn spooling_app_with_a_dead_provider() -> TestApp {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    super::spawn_with(|s| {
        s.gateway.durable = true;
        s.writer.replay_interval = Duration::from_secs(3600);
        s.providers.push(Provider {
            name: "dead".into(),
            base_url: url::Url::parse(&dead).unwrap(),
            format: WireFormat::Openai,
            http2_prior_knowledge: false,
        });
    })
    .await
}

const SECRETS: [&str; 4] = [
    "sk-SECRET-BEARER",
    "SECRET-XAPIKEY",
    "SECRET-AZUREKEY",
    "sk-SECRET-FAILED",
];

#[tokio::test]
async fn header_credentials_reach_neither_spool_store_api_nor_log() {
    // The test runs on one thread, so the capture sees the server's logs too.
    let (log, _logging) = LogBuffer::capture();

    let app = spooling_app_with_a_dead_provider().await;
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
    let log = log.text();
    assert!(log.contains("Answered a call with a Canopy error"), "{log}");
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[tokio::test]
async fn secrets_in_urls_reach_neither_the_store_nor_the_spool_nor_the_log() {
    // The test runs on one thread, so the capture sees the server's logs too.
    let (log, _logging) = LogBuffer::capture();

    let mut app = spooling_app_with_a_dead_provider().await;
    let mock = app.mock_url.trim_start_matches("http://").to_owned();
    let body = chat("gpt-4o-mini", false, "hello");
    let calls = [
        (
            format!(
                "{}/openai/v1/chat/completions?key=SECRET-ONE&alt=json",
                app.url
            ),
            None,
        ),
        (
            format!("{}/gateway/v1/chat/completions", app.url),
            Some(format!("http://alice:SECRET-TWO@{mock}")),
        ),
        (
            format!("{}/dead/v1/chat/completions?api_key=SECRET-THREE", app.url),
            None,
        ),
        // Userinfo without `scheme://`: refused, or read as `http://` by the URL parser.
        (
            format!("{}/gateway/v1/chat/completions", app.url),
            Some(format!("alice:SECRET-FOUR@{mock}")),
        ),
        (
            format!("{}/gateway/v1/chat/completions", app.url),
            Some(format!("http:alice:SECRET-FIVE@{mock}")),
        ),
        (
            format!("{}/gateway/v1/chat/completions", app.url),
            Some(format!("ftp://alice:SECRET-SIX@{mock}")),
        ),
        (
            format!("{}/gateway/v1/chat/completions", app.url),
            Some(format!("http:\\\\alice:SECRET-SEVEN@{mock}")),
        ),
        // A URL quoted in a query value, as typed and percent-encoded.
        (
            format!(
                "{}/openai/v1/chat/completions?next=http://alice:SECRET-NINE@example.com/",
                app.url
            ),
            None,
        ),
        (
            format!(
                "{}/openai/v1/chat/completions?next=http%3A%2F%2Falice%3ASECRET-TEN%40example.com",
                app.url
            ),
            None,
        ),
        // An address quoted without a scheme, as database addresses often are.
        (
            format!(
                "{}/openai/v1/chat/completions?dsn=alice:SECRET-SIXTEEN@db.example.com:5432/app",
                app.url
            ),
            None,
        ),
    ];
    let mut ids = Vec::new();
    for (url, target) in calls {
        // Labels are the caller's text too: session id, path and name, user id.
        let mut request = app
            .client
            .post(url)
            .json(&body)
            .header(
                "Helicone-Property-Callback",
                "https://hook:SECRET-ELEVEN@hooks.example.com/done",
            )
            .header(
                "Helicone-Session-Id",
                "ci https://c:SECRET-TWELVE@ci.example.com",
            )
            .header(
                "Helicone-Session-Path",
                "/get/https://b:SECRET-THIRTEEN@h/x",
            )
            .header("Helicone-Session-Name", "https://n:SECRET-FOURTEEN@h")
            .header("Helicone-User-Id", "https://u:SECRET-FIFTEEN@h");
        if let Some(target) = target {
            request = request.header("Helicone-Target-Url", target);
        }
        let response = request.send().await.unwrap();
        ids.push(helicone_id(&response));
        let _ = response.bytes().await.unwrap();
    }
    // A custom log's URL is the caller's own text, kept as its target and its path.
    let response = app
        .client
        .post(format!("{}/api/custom/v1/log", app.url))
        .json(&vector_search_log(
            "alice:SECRET-EIGHT@vector/search",
            // A property's name is the caller's text too (names are lower-cased).
            json!({"Helicone-Property-Via https://kim:secret-seventeen@h": "x"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let secrets = [
        "SECRET-ONE",
        "SECRET-TWO",
        "SECRET-THREE",
        "SECRET-FOUR",
        "SECRET-FIVE",
        "SECRET-SIX",
        "SECRET-SEVEN",
        "SECRET-EIGHT",
        "SECRET-NINE",
        "SECRET-TEN",
        "SECRET-ELEVEN",
        "SECRET-TWELVE",
        "SECRET-THIRTEEN",
        "SECRET-FOURTEEN",
        "SECRET-FIFTEEN",
        "SECRET-SIXTEEN",
        "secret-seventeen",
    ];
    let spool_dir = app.dir.path().to_owned();
    let spooled = files_under(&spool_dir);
    assert!(
        spooled.iter().any(|(_, bytes)| holds(bytes, &ids[0])),
        "the records are in the spool"
    );
    for (path, bytes) in &spooled {
        for secret in secrets {
            assert!(!holds(bytes, secret), "{secret} in {}", path.display());
        }
    }
    let report = app.shutdown().await;
    assert_eq!(report.writer.written, 11);
    for (path, bytes) in files_under(app.dir.path()) {
        for secret in secrets {
            assert!(!holds(&bytes, secret), "{secret} in {}", path.display());
        }
    }
    let log = log.text();
    assert!(log.contains("Answered a call with a Canopy error"), "{log}");
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[tokio::test]
async fn the_records_api_shows_redacted_urls() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!(
            "{}/openai/v1/chat/completions?key=SECRET-API",
            app.url
        ))
        .header(
            "Helicone-Property-Callback",
            "https://hook:SECRET-HEADER@hooks.example.com/done",
        )
        .json(&chat("gpt-4o-mini", false, "hello"))
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    let _ = response.bytes().await.unwrap();
    app.wait_written(1).await;
    let response = app
        .client
        .put(format!("{}/api/v1/request/{id}/property", app.url))
        .json(&json!({"key": "next", "value": "see https://bob:SECRET-SET@h/x?token=t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A property's key and a score's name are the caller's text too.
    let key = "from https://kim:SECRET-KEY@h";
    let response = app
        .client
        .put(format!("{}/api/v1/request/{id}/property", app.url))
        .json(&json!({"key": key, "value": "kept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let score = "by https://kim:SECRET-SCORE@h";
    let (status, _) = api_post(
        &app,
        &format!("/v1/request/{id}/score"),
        json!({"scores": {score: 4}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = api_get(&app, &format!("/v1/request/{id}")).await;
    assert_eq!(status, 200);
    let text = body.to_string();
    assert!(!text.contains("SECRET-"), "{text}");
    assert!(app.call(&id).await.target_url.contains("key=[REDACTED]"));
    let properties = &body["data"]["properties"];
    assert_eq!(
        properties["callback"],
        "https://[REDACTED]@hooks.example.com/done"
    );
    assert_eq!(
        properties["next"],
        "see https://[REDACTED]@h/x?token=[REDACTED]"
    );
    assert_eq!(properties["from https://[REDACTED]@h"], "kept");
    assert_eq!(body["data"]["scores"]["by https://[REDACTED]@h"], 4.0);
    // Filters on the key and the name as sent find the call.
    for filter in [
        json!({"properties": {key: {"equals": "kept"}}}),
        json!({"scores": {score: {"gte": 4}}}),
    ] {
        let (status, found) = api_post(
            &app,
            "/v1/request/query",
            json!({"filter": {"request_response_rmt": filter}}),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        let found: Vec<&str> = found["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|call| call["request_id"].as_str().unwrap())
            .collect();
        assert_eq!(found, [id.as_str()], "{filter}");
    }
}

#[tokio::test]
async fn labels_lose_their_secrets_and_are_still_found_by_what_was_sent() {
    let app = TestApp::spawn().await;
    let session = "run https://ci:SECRET-ID@ci.example.com/42";
    let user = "https://u:SECRET-USER@id.example.com";
    for path in ["/fetch/https://bot:SECRET-PATH@h.example.com/x", "/fetch"] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Session-Id", session)
            .header("Helicone-Session-Path", path)
            .header(
                "Helicone-Session-Name",
                "Crawl https://u:SECRET-NAME@site.example.com",
            )
            .header("Helicone-User-Id", user)
            .json(&chat("gpt-4o-mini", false, "hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await.unwrap();
    }
    app.wait_written(2).await;
    let encoded: String = url::form_urlencoded::byte_serialize(session.as_bytes()).collect();
    let encoded = encoded.replace('+', "%20");

    // The session, looked up by the id its calls sent: one session of two calls, with no
    // secret in it anywhere.
    let (status, body) = api_get(&app, &format!("/v1/session/{encoded}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["requests"].as_array().unwrap().len(), 2);
    let stored_id = body["data"]["session"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stored_id, "run https://[REDACTED]@ci.example.com/42");
    // The dashboard links to the id it was given, which finds the same session.
    let stored: String = url::form_urlencoded::byte_serialize(stored_id.as_bytes()).collect();
    let (status, body) =
        api_get(&app, &format!("/v1/session/{}", stored.replace('+', "%20"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["requests"].as_array().unwrap().len(), 2);
    let (status, _) = api_post(
        &app,
        &format!("/v1/session/{encoded}/tag"),
        json!({"tag": "see https://t:SECRET-TAG@t.example.com"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = api_post(
        &app,
        &format!("/v1/session/{encoded}/feedback"),
        json!({"rating": true}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = api_get(&app, &format!("/v1/session/{encoded}")).await;
    let text = body.to_string();
    assert!(!text.contains("SECRET-"), "{text}");
    assert_eq!(
        body["data"]["session"]["tags"],
        json!(["see https://[REDACTED]@t.example.com"])
    );

    // Filters and lookups by the values as sent find what was kept.
    let (_, body) = api_post(
        &app,
        "/v1/session/query",
        json!({"filter": {"sessions_request_response_rmt": {"session_session_id": {"equals": session}}}}),
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    let (_, body) = api_post(
        &app,
        "/v1/session/query",
        json!({"nameEquals": "Crawl https://u:SECRET-NAME@site.example.com", "filter": "all"}),
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    let (_, body) = api_post(
        &app,
        "/v1/request/query",
        json!({"filter": {"request_response_rmt": {"user_id": {"equals": user}}}}),
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 2, "{body}");
    let (_, body) = api_post(
        &app,
        "/v1/request/query",
        json!({"filter": {"properties": {"Helicone-Session-Path": {"equals": "/fetch/https://bot:SECRET-PATH@h.example.com/x"}}}}),
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let (_, body) = api_get(
        &app,
        &format!("/v1/analytics/sessions?entity_type=user&entity_id={user}"),
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    let text = body.to_string();
    assert!(!text.contains("SECRET-"), "{text}");
    let (_, body) = api_post(&app, "/v1/request/query", json!({"filter": "all"})).await;
    let text = body.to_string();
    assert!(!text.contains("SECRET-"), "{text}");
}
