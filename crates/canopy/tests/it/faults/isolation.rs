//! Organisation isolation on every API route: organisation B names organisation A's request
//! and session ids on each route, sees nothing, and changes nothing in A's data.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, chat, helicone_id};

async fn api(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.api(Some(key), method, path, body).await
}

fn custom_log(session: &str) -> Value {
    json!({
        "providerRequest": {"url": "tool", "json": {"_type": "tool", "toolName": "lookup"},
            "meta": {"session_id": session, "session_path": "/b/wrote", "session_name": "Alpha Flow"}},
        "providerResponse": {"json": {}, "status": 200},
    })
}

#[tokio::test]
async fn organisation_b_can_neither_read_nor_change_organisation_a_on_any_route() {
    let app = super::spawn().await;
    let key_a = app.create_key("a").await;
    let key_b = app.create_key("b").await;
    let mut a_ids = Vec::new();
    for path in ["/plan", "/plan/act"] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Auth", format!("Bearer {key_a}"))
            .header("Helicone-Session-Id", "alpha-session")
            .header("Helicone-Session-Path", path)
            .header("Helicone-Session-Name", "Alpha Flow")
            .header("Helicone-User-Id", "alice")
            .header("Helicone-Property-Team", "alpha")
            .json(&chat("gpt-4o-mini", false, path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        a_ids.push(helicone_id(&response));
        let _ = response.bytes().await.unwrap();
    }
    app.wait_written(2).await;
    let a_id = &a_ids[0];
    let (status, _) = api(
        &app,
        &key_a,
        Method::POST,
        "/v1/session/alpha-session/tag",
        Some(json!({"tag": "a-only"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, a_before) = api(&app, &key_a, Method::GET, "/v1/session/alpha-session", None).await;
    let (_, a_call_before) = api(
        &app,
        &key_a,
        Method::GET,
        &format!("/v1/request/{a_id}"),
        None,
    )
    .await;
    let upstream_before = app.upstream_requests().await.len();

    let by_id = json!({"filter": {"request_response_rmt": {"request_id": {"equals": a_id}}}});
    let by_session =
        json!({"filter": {"properties": {"Helicone-Session-Id": {"equals": "alpha-session"}}}});
    let by_team =
        json!({"filter": {"request_response_rmt": {"properties": {"Team": {"equals": "alpha"}}}}});
    let session_filter = json!({"filter": {"sessions_request_response_rmt": {"session_session_id": {"equals": "alpha-session"}}}});
    let everything = json!({"filter": "all", "search": "alpha", "timeFilter": {"startTimeUnixMs": 0, "endTimeUnixMs": 4102444800000_i64}});

    // Reads: each answers empty or 404 for B.
    for path in ["/v1/request/query", "/v1/request/query-clickhouse"] {
        for body in [&by_id, &by_session, &by_team, &json!({"filter": "all"})] {
            let (status, answer) = api(&app, &key_b, Method::POST, path, Some(body.clone())).await;
            assert_eq!(
                (status, answer["data"].clone()),
                (200, json!([])),
                "{path} {body}"
            );
        }
    }
    for body in [&by_id, &by_session, &json!({"filter": "all"})] {
        let (status, answer) = api(
            &app,
            &key_b,
            Method::POST,
            "/v1/request/count/query",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, answer["data"].clone()),
            (200, json!(0)),
            "count {body}"
        );
    }
    for body in [&session_filter, &everything] {
        let (status, answer) = api(
            &app,
            &key_b,
            Method::POST,
            "/v1/session/query",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, answer["data"].clone()),
            (200, json!([])),
            "session query {body}"
        );
        let (status, answer) = api(
            &app,
            &key_b,
            Method::POST,
            "/v1/session/count",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["data"]["count"], 0, "session count {body}: {answer}");
    }
    let (status, answer) = api(
        &app,
        &key_b,
        Method::POST,
        "/v1/session/name/query",
        Some(json!({"nameContains": "Alpha", "timezoneDifference": 0})),
    )
    .await;
    assert_eq!((status, answer["data"].clone()), (200, json!([])), "names");
    let (status, answer) = api(&app, &key_b, Method::POST, "/v1/session/metrics/query", Some(json!({"nameContains": "Alpha", "timezoneDifference": 0, "pSize": "p99", "useInterquartile": false}))).await;
    assert_eq!(status, 200, "{answer}");
    let counted: u64 = answer["data"]["session_count"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["value"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 0, "metrics count none of A's sessions: {answer}");
    let (status, answer) = api(
        &app,
        &key_b,
        Method::GET,
        "/v1/analytics/sessions?entity_type=user&entity_id=alice",
        None,
    )
    .await;
    assert_eq!(
        (status, answer["data"].clone()),
        (200, json!([])),
        "analytics by user"
    );
    let (status, answer) = api(
        &app,
        &key_b,
        Method::GET,
        "/v1/analytics/sessions?entity_type=Team&entity_id=alpha",
        None,
    )
    .await;
    assert_eq!(
        (status, answer["data"].clone()),
        (200, json!([])),
        "analytics by property"
    );
    for id in &a_ids {
        let (status, _) = api(
            &app,
            &key_b,
            Method::GET,
            &format!("/v1/request/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 404, "request {id}");
    }
    let (status, _) = api(&app, &key_b, Method::GET, "/v1/session/alpha-session", None).await;
    assert_eq!(status, 404);
    let (status, answer) = api(
        &app,
        &key_b,
        Method::GET,
        "/v1/session/alpha-session/tag",
        None,
    )
    .await;
    assert!(
        status == 404 || answer["data"].is_null(),
        "{status} {answer}"
    );
    assert!(!answer.to_string().contains("a-only"), "{answer}");

    // Writes: each is a 404 for B.
    for (method, path, body) in [
        (
            Method::POST,
            format!("/v1/request/{a_id}/feedback"),
            json!({"rating": false}),
        ),
        (
            Method::PUT,
            format!("/v1/request/{a_id}/property"),
            json!({"key": "b-wrote", "value": "yes"}),
        ),
        (
            Method::POST,
            format!("/v1/request/{a_id}/score"),
            json!({"scores": {"b-wrote": 1}}),
        ),
        (
            Method::POST,
            "/v1/session/alpha-session/feedback".to_owned(),
            json!({"rating": false}),
        ),
        (
            Method::POST,
            "/v1/session/alpha-session/tag".to_owned(),
            json!({"tag": "b-wrote"}),
        ),
        (
            Method::POST,
            "/v1/session/alpha-session/replay".to_owned(),
            json!({}),
        ),
    ] {
        let (status, answer) = api(&app, &key_b, method, &path, Some(body)).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    assert_eq!(
        app.upstream_requests().await.len(),
        upstream_before,
        "B's replay of A's session sent nothing"
    );
    // B's logs naming A's session land in B's own session of that id.
    for path in ["/custom/v1/log", "/v1/trace/custom/log"] {
        let (status, answer) = api(
            &app,
            &key_b,
            Method::POST,
            path,
            Some(custom_log("alpha-session")),
        )
        .await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let (status, answer) = api(&app, &key_b, Method::POST, "/oai/v1/log", Some(json!({
        "providerRequest": {"url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o-mini", "messages": []}, "meta": {"session_id": "alpha-session"}},
        "providerResponse": {"json": {}, "status": 200},
    }))).await;
    assert_eq!(status, 200, "{answer}");
    app.wait_written(5).await;

    // A's data is as it was.
    let (_, a_after) = api(&app, &key_a, Method::GET, "/v1/session/alpha-session", None).await;
    assert_eq!(a_after, a_before, "A's session is unchanged");
    assert_eq!(a_after["data"]["session"]["total_requests"], 2);
    let (_, a_call_after) = api(
        &app,
        &key_a,
        Method::GET,
        &format!("/v1/request/{a_id}"),
        None,
    )
    .await;
    assert_eq!(a_call_after, a_call_before, "A's call is unchanged");
    let (_, tag) = api(
        &app,
        &key_a,
        Method::GET,
        "/v1/session/alpha-session/tag",
        None,
    )
    .await;
    assert_eq!(tag["data"], "a-only");
    let (_, b_session) = api(&app, &key_b, Method::GET, "/v1/session/alpha-session", None).await;
    assert_eq!(
        b_session["data"]["session"]["total_requests"], 3,
        "B's own session of that id"
    );
}
