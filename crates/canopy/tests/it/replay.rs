//! Replay: a session's LLM calls re-sent, changed, through the gateway, and compared.

use serde_json::{Value, json};

use crate::harness::{TestApp, helicone_id};

/// A three-turn conversation: each turn carries the earlier answers in its history, as the
/// replay cookbook's debate agent does. The second turn is streamed. Returns the call ids.
async fn conversation(app: &TestApp, session: &str) -> Vec<String> {
    let mut messages = vec![json!({"role": "system", "content": "You are a debate assistant."})];
    let mut ids = Vec::new();
    for (turn, (path, stream)) in [
        ("/debate/open", false),
        ("/debate/rebut", true),
        ("/debate/close", false),
    ]
    .into_iter()
    .enumerate()
    {
        messages.push(json!({"role": "user", "content": format!("argument {turn}")}));
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Session-Id", session)
            .header("Helicone-Session-Path", path)
            .header("Helicone-Session-Name", "AI Debate")
            .json(&json!({"model": "gpt-4o-mini", "stream": stream, "messages": messages}))
            .send()
            .await
            .unwrap();
        ids.push(helicone_id(&response));
        let text = response.text().await.unwrap();
        let answer = if stream {
            text.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .filter_map(|c| {
                    c["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect::<String>()
        } else {
            serde_json::from_str::<Value>(&text).unwrap()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        messages.push(json!({"role": "assistant", "content": answer}));
    }
    ids
}

async fn replay(app: &TestApp, session: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/session/{session}/replay", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_replay_with_another_model_and_prompt_re_simulates_the_conversation() {
    let app = TestApp::spawn().await;
    conversation(&app, "debate").await;
    app.wait_written(3).await;
    let (status, body) = replay(
        &app,
        "debate",
        json!({"model": "gpt-4o", "system_prompt": {"mode": "append", "text": "Be persuasive."}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let result = &body["data"];
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    for step in steps {
        let (original, replay) = (&step["original"], &step["replay"]);
        assert_eq!(original["model"], "gpt-4o-mini");
        assert_eq!(replay["model"], "gpt-4o");
        assert_eq!(replay["status"], 200);
        assert_ne!(
            original["output"], replay["output"],
            "a changed model and prompt change the answer"
        );
        assert!(
            replay["output"]
                .as_str()
                .unwrap()
                .starts_with("gpt-4o reply")
        );
        assert!(
            replay["cost"].as_f64().unwrap() > original["cost"].as_f64().unwrap(),
            "gpt-4o costs more"
        );
    }
    // Turns 2 and 3 carried earlier answers; the replay sent the replayed answers instead.
    assert_eq!(steps[0]["propagated_messages"], 0);
    assert_eq!(steps[1]["propagated_messages"], 1);
    assert_eq!(steps[2]["propagated_messages"], 2);
    assert!(
        result["totals"]["replay"]["cost"].as_f64().unwrap()
            > result["totals"]["original"]["cost"].as_f64().unwrap()
    );
    assert_eq!(result["totals"]["replay"]["calls"], 3);
    assert_eq!(
        result["counts"],
        json!({"steps": 3, "model_calls": 3, "replayed": 3, "not_replayed": 0, "not_rerun": 0})
    );

    // The replay is a session of its own, recorded like any call.
    let replay_id = result["replay_session_id"].as_str().unwrap();
    let session = app.session(replay_id).await;
    assert_eq!(session.name.as_deref(), Some("Replay of AI Debate"));
    assert_eq!(session.request_count, 3);
    let calls = app
        .store
        .query
        .session_calls("default", replay_id)
        .await
        .unwrap();
    let paths: Vec<_> = calls
        .iter()
        .map(|c| c.session_path.clone().unwrap())
        .collect();
    assert_eq!(paths, ["/debate/open", "/debate/rebut", "/debate/close"]);
    assert!(
        calls
            .iter()
            .all(|c| c.properties.get("replay_of").map(String::as_str) == Some("debate"))
    );
    assert!(
        calls[1].is_stream,
        "a streamed original is replayed as a stream"
    );
    let sent: Value = serde_json::from_str(calls[2].request_body.text.as_deref().unwrap()).unwrap();
    assert_eq!(
        sent["messages"][0]["content"],
        "You are a debate assistant.\n\nBe persuasive."
    );
    assert_eq!(
        sent["messages"][2]["content"], steps[0]["replay"]["output"],
        "history carries the replayed answer"
    );
}

#[tokio::test]
async fn changes_can_be_limited_to_one_path_and_propagation_turned_off() {
    let app = TestApp::spawn().await;
    conversation(&app, "scoped").await;
    app.wait_written(3).await;
    let (status, body) = replay(&app, "scoped", json!({"model": "gpt-4o", "path": "/debate/close", "propagate": false, "patch": {"temperature": 0}})).await;
    assert_eq!(status, 200, "{body}");
    let steps = body["data"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["replay"]["model"], "gpt-4o-mini");
    assert_eq!(
        steps[0]["replay"]["output"], steps[0]["original"]["output"],
        "an unchanged call answers the same"
    );
    assert_eq!(steps[2]["replay"]["model"], "gpt-4o");
    assert!(steps.iter().all(|s| s["propagated_messages"] == 0));
    let replay_id = body["data"]["replay_session_id"].as_str().unwrap();
    let calls = app
        .store
        .query
        .session_calls("default", replay_id)
        .await
        .unwrap();
    let last: Value = serde_json::from_str(calls[2].request_body.text.as_deref().unwrap()).unwrap();
    assert_eq!(last["temperature"], 0);
    let first: Value =
        serde_json::from_str(calls[0].request_body.text.as_deref().unwrap()).unwrap();
    assert!(first.get("temperature").is_none());
}

#[tokio::test]
async fn tool_steps_and_omitted_bodies_are_named_and_the_rest_still_replays() {
    let app = TestApp::spawn().await;
    let anthropic = app
        .client
        .post(format!("{}/anthropic/v1/messages", app.url))
        .header("Helicone-Session-Id", "mixed")
        .header("Helicone-Session-Path", "/classify")
        .json(&json!({"model": "claude-haiku-4-5", "max_tokens": 50, "system": "Classify.", "messages": [{"role": "user", "content": "refund"}]}))
        .send()
        .await
        .unwrap();
    let _ = anthropic.bytes().await.unwrap();
    let omitted = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Session-Id", "mixed")
        .header("Helicone-Session-Path", "/secret")
        .header("Helicone-Omit-Request", "true")
        .json(
            &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "private"}]}),
        )
        .send()
        .await
        .unwrap();
    let _ = omitted.bytes().await.unwrap();
    let logged = app
        .client
        .post(format!("{}/api/custom/v1/log", app.url))
        .header("Helicone-Session-Id", "mixed")
        .header("Helicone-Session-Path", "/lookup")
        .json(&json!({"providerRequest": {"url": "tool", "json": {"_type": "tool", "toolName": "lookup"}}, "providerResponse": {"json": {}, "status": 200}}))
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), 200);
    app.wait_written(3).await;

    let (status, body) = replay(
        &app,
        "mixed",
        json!({"system_prompt": {"mode": "replace", "text": "Answer in French."}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let steps = body["data"]["steps"].as_array().unwrap();
    let by_path = |p: &str| steps.iter().find(|s| s["path"] == p).unwrap();
    let classify = by_path("/classify");
    assert_eq!(classify["replay"]["status"], 200);
    assert_ne!(
        classify["replay"]["output"], classify["original"]["output"],
        "the Anthropic system prompt changed"
    );
    let secret = by_path("/secret");
    assert!(secret["replay"].is_null());
    assert!(
        secret["note"].as_str().unwrap().contains("omitted"),
        "{secret}"
    );
    let lookup = by_path("/lookup");
    assert!(lookup["replay"].is_null());
    assert!(
        lookup["note"].as_str().unwrap().contains("tool"),
        "{lookup}"
    );
    let replay_id = body["data"]["replay_session_id"].as_str().unwrap();
    let calls = app
        .store
        .query
        .session_calls("default", replay_id)
        .await
        .unwrap();
    assert_eq!(calls.len(), 1);
    let sent: Value = serde_json::from_str(calls[0].request_body.text.as_deref().unwrap()).unwrap();
    assert_eq!(sent["system"], "Answer in French.");
}

#[tokio::test]
async fn replaying_an_unknown_session_is_a_404_and_bad_changes_are_400s() {
    let app = TestApp::spawn().await;
    let (status, body) = replay(&app, "nope", json!({})).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("nope"));
    conversation(&app, "bad").await;
    app.wait_written(3).await;
    let (status, body) = replay(
        &app,
        "bad",
        json!({"system_prompt": {"mode": "prepend", "text": "x"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("system_prompt.mode")
    );
    let (status, _) = replay(&app, "bad", json!({"patch": [1, 2]})).await;
    assert_eq!(status, 400);
}

// The CLI runs as a child process that the server in this runtime must answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_the_comparison() {
    let app = TestApp::spawn().await;
    conversation(&app, "cli-replay").await;
    app.wait_written(3).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args([
            "replay",
            "cli-replay",
            "--model",
            "gpt-4o",
            "--system-append",
            "Shorter.",
            "--url",
            &app.url,
        ])
        .env("CANOPY_LOG", "error")
        .env_remove("CANOPY_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Replay of AI Debate"), "{text}");
    assert!(
        text.contains("/debate/rebut") && text.contains("gpt-4o reply"),
        "{text}"
    );
    assert!(
        text.contains("total original") && text.contains("total replay"),
        "{text}"
    );
}

/// What a second mock provider, standing in for a host nobody should reach, received.
async fn received(client: &reqwest::Client, mock_url: &str) -> Vec<Value> {
    client
        .get(format!("{mock_url}/mock/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn log_llm_step(app: &TestApp, session: &str, path: &str, url: &str) {
    let response = app
        .client
        .post(format!("{}/api/custom/v1/log", app.url))
        .header("Helicone-Session-Id", session)
        .header("Helicone-Session-Path", path)
        .json(&json!({
            "providerRequest": {"url": url, "json": {"model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hi"}]}},
            "providerResponse": {"status": 200, "json": {"model": "gpt-4o-mini",
                "choices": [{"message": {"role": "assistant", "content": "hello"}}]}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn a_replay_goes_only_to_this_canopys_provider_routes() {
    let app = TestApp::spawn().await;
    let (elsewhere, _stop) = crate::harness::spawn_mock().await;
    let host = elsewhere.trim_start_matches("http://");
    log_llm_step(
        &app,
        "aimed",
        "/userinfo",
        &format!("@{host}/v1/chat/completions"),
    )
    .await;
    log_llm_step(&app, "aimed", "/own-api", "/api/v1/session/aimed/replay").await;
    log_llm_step(&app, "aimed", "/climb", "/v1/%2e%2e/api/v1/request/query").await;
    log_llm_step(
        &app,
        "aimed",
        "/full-url",
        &format!("{elsewhere}/v1/chat/completions"),
    )
    .await;
    app.wait_written(4).await;
    let full = app
        .store
        .query
        .session_calls("default", "aimed")
        .await
        .unwrap();
    let full = full
        .iter()
        .find(|c| c.session_path.as_deref() == Some("/full-url"))
        .unwrap();
    assert_eq!(
        full.request_path, "/v1/chat/completions",
        "a logged URL is stored as its path"
    );

    let (status, body) = replay(
        &app,
        "aimed",
        json!({"headers": {"authorization": "Bearer sk-provider-secret"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        received(&app.client, &elsewhere).await,
        Vec::<Value>::new(),
        "nothing reached another host"
    );
    let steps = body["data"]["steps"].as_array().unwrap();
    let by_path = |p: &str| steps.iter().find(|s| s["path"] == p).unwrap();
    for (path, named) in [
        ("/userinfo", format!("@{host}/v1/chat/completions")),
        ("/own-api", "`/api` is not one".to_owned()),
        ("/climb", "`..`".to_owned()),
    ] {
        let step = by_path(path);
        assert!(step["replay"].is_null(), "{step}");
        let note = step["note"].as_str().unwrap();
        assert!(
            note.starts_with("not replayed") && note.contains(&named),
            "{path}: {note}"
        );
    }
    let full = by_path("/full-url");
    assert_eq!(full["replay"]["status"], 200, "{full}");
    let upstream = app.upstream_requests().await;
    assert_eq!(
        upstream.len(),
        1,
        "only the call logged with a full URL replayed, through Canopy's /v1"
    );
}

#[tokio::test]
async fn a_replay_does_not_follow_a_redirect_to_another_host() {
    let app = TestApp::spawn().await;
    let (elsewhere, _stop) = crate::harness::spawn_mock().await;
    let location = format!("{elsewhere}/v1/chat/completions");
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirector_url = format!("http://{}", redirector.local_addr().unwrap());
    let router = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    tokio::spawn(async move { axum::serve(redirector, router).await });
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .post(format!("{}/gateway/v1/chat/completions", app.url))
        .header("Helicone-Target-Url", &redirector_url)
        .header("Helicone-Session-Id", "redirected")
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
    app.wait_written(1).await;

    let (status, body) = replay(
        &app,
        "redirected",
        json!({"headers": {"x-api-key": "sk-provider-secret"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["steps"][0]["replay"]["status"], 307, "{body}");
    assert_eq!(
        received(&app.client, &elsewhere).await,
        Vec::<Value>::new(),
        "the provider key did not follow the redirect"
    );
}
