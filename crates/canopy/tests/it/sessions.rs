//! Sessions: totals kept at write time, and nothing lost across a restart.

use crate::harness::{TestApp, chat, helicone_id};

#[tokio::test]
async fn a_session_totals_every_call_and_keeps_the_latest_name() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for (path, name, stream) in [
        ("/triage", "Support", false),
        ("/triage/classify", "", true),
        ("/triage/respond", "Support v2", false),
    ] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Session-Id", "agent-run-1")
            .header("Helicone-Session-Path", path)
            .header("Helicone-Session-Name", name)
            .header("Helicone-User-Id", "alice")
            .json(&chat("gpt-4o-mini", stream, path))
            .send()
            .await
            .unwrap();
        ids.push(helicone_id(&response));
        let _ = response.bytes().await.unwrap();
    }
    app.wait_written(3).await;
    let mut prompt = 0;
    let mut completion = 0;
    let mut cost = 0;
    for id in &ids {
        let call = app.call(id).await;
        prompt += call.usage.prompt_tokens;
        completion += call.usage.completion_tokens;
        cost += call.cost_nano_usd.unwrap();
    }
    let session = app.session("agent-run-1").await;
    assert_eq!(session.request_count, 3);
    assert_eq!(session.name.as_deref(), Some("Support v2"));
    assert_eq!(
        (session.prompt_tokens, session.completion_tokens),
        (prompt, completion)
    );
    assert_eq!(session.cost_nano_usd, cost);
    assert_eq!(session.user_ids, ["alice"]);
    assert_eq!(session.error_count, 0);
    let calls = app
        .store
        .query
        .session_calls("default", "agent-run-1")
        .await
        .unwrap();
    let paths: Vec<_> = calls
        .iter()
        .map(|c| c.session_path.clone().unwrap())
        .collect();
    assert_eq!(paths, ["/triage", "/triage/classify", "/triage/respond"]);
}

#[tokio::test]
async fn a_restart_loses_nothing() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Session-Id", "durable")
            .json(&chat("gpt-4o-mini", i % 2 == 0, &format!("message {i}")))
            .send()
            .await
            .unwrap();
        ids.push(helicone_id(&response));
        let _ = response.bytes().await.unwrap();
    }
    // Shut down at once: whatever is still queued must be drained, not dropped.
    let settings_dir_app = app;
    let (mock_url, mock_stop, dir) = settings_dir_app.into_parts().await;
    let settings = crate::harness::settings(dir.path(), &mock_url);
    let app = TestApp::start(settings, mock_url, mock_stop, dir).await;
    for id in &ids {
        assert_eq!(app.call(id).await.session_id.as_deref(), Some("durable"));
    }
    assert_eq!(app.session("durable").await.request_count, 20);
}
