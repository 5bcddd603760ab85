//! Keys and organisations: every read and write is scoped to the caller's organisation.

use serde_json::{Value, json};

use crate::harness::{TestApp, chat, helicone_id};

async fn call(app: &TestApp, key: Option<&str>, session: &str, user: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth("sk-provider")
        .header("Helicone-Session-Id", session)
        .header("Helicone-User-Id", user)
        .json(&chat("gpt-4o-mini", false, user));
    if let Some(key) = key {
        request = request.header("Helicone-Auth", format!("Bearer {key}"));
    }
    request.send().await.unwrap()
}

async fn api(
    app: &TestApp,
    key: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.api(key, method, path, body).await
}

#[tokio::test]
async fn one_organisation_never_sees_anothers_calls_or_sessions() {
    let app = TestApp::spawn().await;
    let key_a = app.create_key("acme").await;
    let key_b = app.create_key("globex").await;

    // Once a key exists, a call without one is refused in the provider's shape and not recorded.
    let response = call(&app, None, "shared", "nobody").await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Helicone-Auth")
    );
    assert_eq!(
        call(&app, Some("sk-canopy-forged"), "shared", "nobody")
            .await
            .status(),
        401
    );

    // Both organisations use the same session id.
    let a = call(&app, Some(&key_a), "shared", "alice").await;
    let a_id = helicone_id(&a);
    let _ = a.bytes().await.unwrap();
    let b = call(&app, Some(&key_b), "shared", "bob").await;
    let b_id = helicone_id(&b);
    let _ = b.bytes().await.unwrap();
    let (status, _) = api(&app, Some(&key_b), reqwest::Method::POST, "/custom/v1/log", Some(json!({
        "providerRequest": {"url": "tool", "json": {"_type": "tool", "toolName": "t"}, "meta": {"Helicone-Session-Id": "shared"}},
        "providerResponse": {"json": {}, "status": 200}
    }))).await;
    assert_eq!(status, 200);
    app.wait_written(3).await;

    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    for (key, mine, theirs, user, requests) in [
        (&key_a, &a_id, &b_id, "alice", 1),
        (&key_b, &b_id, &a_id, "bob", 2),
    ] {
        let key = Some(key.as_str());
        let (_, body) = api(
            &app,
            key,
            post.clone(),
            "/v1/request/query",
            Some(json!({"filter": "all"})),
        )
        .await;
        let ids: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["request_id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&mine.as_str()) && !ids.contains(&theirs.as_str()),
            "{ids:?}"
        );
        let (_, body) = api(
            &app,
            key,
            post.clone(),
            "/v1/request/count/query",
            Some(json!({"filter": "all"})),
        )
        .await;
        assert_eq!(body["data"], requests);
        assert_eq!(
            api(&app, key, get.clone(), &format!("/v1/request/{mine}"), None)
                .await
                .0,
            200
        );
        assert_eq!(
            api(
                &app,
                key,
                get.clone(),
                &format!("/v1/request/{theirs}"),
                None
            )
            .await
            .0,
            404
        );
        assert_eq!(
            api(
                &app,
                key,
                post.clone(),
                &format!("/v1/request/{theirs}/feedback"),
                Some(json!({"rating": true}))
            )
            .await
            .0,
            404
        );
        let (_, body) = api(
            &app,
            key,
            post.clone(),
            "/v1/session/query",
            Some(json!({"filter": "all"})),
        )
        .await;
        assert_eq!(body["data"].as_array().unwrap().len(), 1);
        assert_eq!(body["data"][0]["total_requests"], requests);
        assert_eq!(body["data"][0]["user_ids"], json!([user]));
        let (_, body) = api(&app, key, get.clone(), "/v1/session/shared", None).await;
        assert_eq!(body["data"]["session"]["total_requests"], requests);
        let (_, body) = api(
            &app,
            key,
            get.clone(),
            &format!("/v1/analytics/sessions?entity_type=user&entity_id={user}"),
            None,
        )
        .await;
        assert_eq!(body["data"].as_array().unwrap().len(), 1);
        let other = if user == "alice" { "bob" } else { "alice" };
        let (_, body) = api(
            &app,
            key,
            get.clone(),
            &format!("/v1/analytics/sessions?entity_type=user&entity_id={other}"),
            None,
        )
        .await;
        assert!(body["data"].as_array().unwrap().is_empty());
    }

    // The API needs a key too; the OpenAPI document does not.
    let (status, body) = api(
        &app,
        None,
        post.clone(),
        "/v1/request/query",
        Some(json!({"filter": "all"})),
    )
    .await;
    assert_eq!((status, body["data"].clone()), (401, Value::Null));
    assert_eq!(
        api(
            &app,
            Some("sk-canopy-forged"),
            get.clone(),
            "/v1/session/shared",
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(
        api(&app, None, get.clone(), "/openapi.json", None).await.0,
        200
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    let app = TestApp::spawn().await;
    let key = app.create_key("acme").await;
    assert_eq!(call(&app, Some(&key), "s", "u").await.status(), 200);
    let id = app.store.keys.list_keys().await.unwrap()[0].id.clone();
    assert!(app.store.keys.revoke_key(&id).await.unwrap());
    app.keys.refresh().await.unwrap();
    assert_eq!(call(&app, Some(&key), "s", "u").await.status(), 401);
    let (status, _) = api(
        &app,
        Some(&key),
        reqwest::Method::POST,
        "/v1/session/query",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 401);
    // Revoking the last key does not open Canopy again.
    assert_eq!(call(&app, None, "s", "u").await.status(), 401);
}

#[tokio::test]
async fn canopy_refuses_to_run_open_on_a_public_address() {
    let (mock_url, _mock) = crate::harness::spawn_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::harness::settings(dir.path(), &mock_url);
    // The check reads the configured address; the socket itself stays on loopback.
    settings.listen = "0.0.0.0:8787".parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = canopy::serve::run(settings.clone(), listener, std::future::pending(), |_| {})
        .await
        .err()
        .unwrap();
    let text = format!("{error:#}");
    assert!(
        text.contains("refusing to run without keys") && text.contains("--insecure-no-auth"),
        "{text}"
    );

    settings.insecure_no_auth = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(canopy::serve::run(
        settings,
        listener,
        async {
            let _ = stopped.await;
        },
        move |_| {
            let _ = ready_tx.send(());
        },
    ));
    ready_rx.await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
