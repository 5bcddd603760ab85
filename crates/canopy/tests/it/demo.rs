//! `canopy demo`, run as a newcomer would: with its own Canopy and store, and against a Canopy
//! that is already running (`--url`). Both check what the demo prints and what it recorded.

use std::process::Command;
use std::time::{Duration, Instant};

use canopy::store::Store;
use canopy_core::CallKind;

use crate::harness::TestApp;

/// Runs `canopy demo` with `args`; returns whether it succeeded, its stdout and stderr, and how
/// long it took.
fn demo(args: &[&str]) -> (bool, String, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .arg("demo")
        .args(args)
        .env("CANOPY_LOG", "error")
        .env("NO_COLOR", "1")
        .env_remove("CANOPY_CONFIG")
        .env_remove("CANOPY_KEY")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// The session ids of the last line, `demo sessions: <id> <id>`.
fn session_ids(out: &str) -> Vec<String> {
    let last = out.lines().last().unwrap_or_default();
    let ids = last.strip_prefix("demo sessions: ");
    assert!(ids.is_some(), "the last line names the sessions: {out}");
    ids.unwrap().split_whitespace().map(str::to_owned).collect()
}

/// Checks the printed trees and URLs of a run whose sessions are `ids`.
fn check_output(out: &str, ids: &[String], base: Option<&str>) {
    assert_eq!(ids.len(), 2, "{out}");
    for path in ["triage", "classify", "lookup", "draft", "send"] {
        assert!(out.contains(path), "{path} is in a tree: {out}");
    }
    assert!(out.contains(" 500 "), "the failing call's status: {out}");
    assert!(out.contains("[tool] lookup_order"), "{out}");
    for id in ids {
        assert!(
            out.contains(&format!("session   {id}")),
            "{id}'s tree: {out}"
        );
        assert!(
            out.contains(&format!("/api/v1/session/{id}")),
            "{id}'s URL: {out}"
        );
        assert!(
            out.contains(&format!("/ui/sessions/{id}")),
            "{id}'s dashboard page: {out}"
        );
        assert!(out.contains(&format!("canopy sessions show {id}")), "{out}");
    }
    if let Some(base) = base {
        assert!(out.contains(&format!("dashboard  {base}/")), "{out}");
    }
    assert!(!out.contains('\u{1b}'), "no colour when not on a terminal");
}

/// Checks what the demo recorded, in the open organisation of `store`.
async fn check_store(store: &Store, ids: &[String]) {
    let one = store
        .query
        .get_session("default", &ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.request_count, 6);
    assert_eq!(one.error_count, 1);
    assert_eq!(one.name.as_deref(), Some("Support Ticket"));
    let calls = store.query.session_calls("default", &ids[0]).await.unwrap();
    assert_eq!(calls.len(), 6);
    let path_count = |path: &str| {
        calls
            .iter()
            .filter(|c| c.session_path.as_deref() == Some(path))
            .count()
    };
    for path in [
        "/triage",
        "/triage/classify",
        "/triage/lookup",
        "/respond/send",
    ] {
        assert_eq!(path_count(path), 1, "{path}");
    }
    assert_eq!(path_count("/respond/draft"), 2, "the repeated path");
    let tools: Vec<_> = calls.iter().filter(|c| c.kind == CallKind::Tool).collect();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].session_path.as_deref(), Some("/triage/lookup"));
    assert_eq!(calls.iter().filter(|c| c.status == 500).count(), 1);
    assert_eq!(calls.iter().filter(|c| c.is_stream).count(), 1);
    for call in calls
        .iter()
        .filter(|c| c.kind == CallKind::Llm && c.status == 200)
    {
        assert!(
            call.cost_nano_usd.is_some_and(|cost| cost > 0),
            "{:?} is priced",
            call.request_model
        );
    }
    let classify = calls
        .iter()
        .find(|c| c.session_path.as_deref() == Some("/triage/classify"))
        .unwrap();
    assert!(classify.usage.cache_read_tokens > 0, "{:?}", classify.usage);
    assert_eq!(
        calls[0].properties.get("ticket").map(String::as_str),
        Some("4521")
    );

    let two = store
        .query
        .get_session("default", &ids[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(two.request_count, 2);
    assert_eq!(two.error_count, 0);
    assert_ne!(one.user_ids, two.user_ids, "another customer");
}

#[tokio::test]
async fn demo_starts_its_own_canopy_and_records_two_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let (ok, out, err, took) = demo(&["--store", &url]);
    assert!(ok, "{err}\n{out}");
    assert!(took < Duration::from_secs(15), "the demo took {took:?}");
    let ids = session_ids(&out);
    check_output(&out, &ids, None);
    assert!(out.contains(&format!("--store {url}")), "{out}");
    assert_ne!(ids[0], ids[1]);

    let store = Store::open(&url).await.unwrap();
    check_store(&store, &ids).await;
    store.close().await;

    let (ok, again, err, _) = demo(&["--store", &url]);
    assert!(ok, "{err}");
    let second = session_ids(&again);
    assert!(
        !second.contains(&ids[0]) && !second.contains(&ids[1]),
        "a second run makes new sessions"
    );
}

// The demo runs as a child process while the server answers it from this runtime, so the
// runtime needs a thread of its own to keep serving while the test waits on the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_drives_a_running_canopy_with_url() {
    let app = TestApp::spawn().await;
    let (ok, out, err, took) = demo(&["--url", &app.url]);
    assert!(ok, "{err}\n{out}");
    assert!(took < Duration::from_secs(15), "the demo took {took:?}");
    let ids = session_ids(&out);
    check_output(&out, &ids, Some(&app.url));
    assert!(out.contains(&format!("--api {}", app.url)), "{out}");
    app.wait_written(8).await;
    assert_eq!(app.session(&ids[0]).await.request_count, 6);
    check_store(&app.store, &ids).await;
}

// The demo runs as a child process that the server in this runtime must answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_session_replays_with_another_model_and_prompt() {
    let app = TestApp::spawn().await;
    let (ok, out, err, _) = demo(&["--url", &app.url]);
    assert!(ok, "{err}");
    let ticket = session_ids(&out)[0].clone();
    app.wait_written(8).await;

    let body = serde_json::json!({"model": "gpt-4o", "system_prompt": {"mode": "append", "text": "Answer as a senior agent."}});
    let response = app
        .client
        .post(format!("{}/api/v1/session/{ticket}/replay", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let result: serde_json::Value = response.json().await.unwrap();
    let steps = result["data"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);

    let replayed: Vec<&serde_json::Value> =
        steps.iter().filter(|s| !s["replay"].is_null()).collect();
    assert_eq!(
        replayed.len(),
        5,
        "every LLM call is replayed; the tool step is not"
    );
    for step in &replayed {
        assert_eq!(step["replay"]["model"], "gpt-4o");
        if step["original"]["status"] == 200 {
            assert_ne!(
                step["replay"]["output"], step["original"]["output"],
                "{step}"
            );
            assert_ne!(step["replay"]["cost"], step["original"]["cost"], "{step}");
        }
    }
    let tool = steps.iter().find(|s| s["kind"] == "tool").unwrap();
    assert!(tool["note"].as_str().unwrap().contains("not replayed"));
    // The second draft revised the first: its history now carries the replayed first draft.
    let drafts: Vec<&serde_json::Value> = steps
        .iter()
        .filter(|s| s["path"] == "/respond/draft")
        .collect();
    assert_eq!(drafts.len(), 2);
    assert!(
        drafts[1]["propagated_messages"].as_u64().unwrap() >= 1,
        "{}",
        drafts[1]
    );
    let totals = &result["data"]["totals"];
    assert_ne!(totals["replay"]["cost"], totals["original"]["cost"]);

    let replay_id = result["data"]["replay_session_id"].as_str().unwrap();
    let calls = app
        .store
        .query
        .session_calls("default", replay_id)
        .await
        .unwrap();
    let second_draft = calls
        .iter()
        .filter(|c| c.session_path.as_deref() == Some("/respond/draft"))
        .nth(1)
        .unwrap();
    let sent: serde_json::Value =
        serde_json::from_str(second_draft.request_body.text.as_deref().unwrap()).unwrap();
    let history = sent["messages"].to_string();
    let first_replayed = drafts[0]["replay"]["output"].as_str().unwrap();
    assert!(
        history.contains(first_replayed),
        "the replayed first draft is in the second draft's history"
    );
    assert!(history.contains("Answer as a senior agent."));
}
