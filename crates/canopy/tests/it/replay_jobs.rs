//! Replay as a job: started at once, followed, cancelled; the original's overlap kept; the
//! comparison rebuilt from the store; jobs isolated and limited per organisation.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, helicone_id, settings};

/// The longest any test here waits for a job to reach a state.
const JOB_WAIT: Duration = Duration::from_secs(60);

/// `method /api{path}` with `key` (when given); the status and the JSON answer.
async fn api(
    app: &TestApp,
    key: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.api(key, method, path, body).await
}

/// One chat call at `path` of `session`; `latency_ms` makes the mock answer that late.
async fn chat(
    app: &TestApp,
    key: Option<&str>,
    session: &str,
    path: &str,
    latency_ms: Option<u64>,
) -> String {
    let mut request = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Session-Id", session)
        .header("Helicone-Session-Path", path)
        .header("Helicone-Session-Name", "Jobs")
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": path}]}));
    if let Some(key) = key {
        request = request.header("Helicone-Auth", format!("Bearer {key}"));
    }
    if let Some(ms) = latency_ms {
        request = request.header("x-mock-latency-ms", ms.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = helicone_id(&response);
    let _ = response.bytes().await.unwrap();
    id
}

/// `n` calls of `session`, one after another.
async fn sequential(app: &TestApp, key: Option<&str>, session: &str, n: usize) {
    for i in 0..n {
        chat(app, key, session, &format!("/step/{i}"), None).await;
    }
}

async fn start(app: &TestApp, key: Option<&str>, session: &str, body: Value) -> (u16, Value) {
    api(
        app,
        key,
        Method::POST,
        &format!("/v1/session/{session}/replay/jobs"),
        Some(body),
    )
    .await
}

/// Polls job `id` until `done` holds of it (at most [`JOB_WAIT`]); returns the job.
async fn wait_job(
    app: &TestApp,
    key: Option<&str>,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + JOB_WAIT;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        let (status, body) = api(
            app,
            key,
            Method::GET,
            &format!("/v1/replay/jobs/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if done(&body["data"]) {
            return body["data"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {JOB_WAIT:?}: {body}"
        );
        tick.tick().await;
    }
}

fn ended(job: &Value) -> bool {
    job["state"] != "running"
}

/// The replayed request ids of a comparison, by step (null where not replayed).
fn replayed_ids(comparison: &Value) -> Vec<Value> {
    comparison["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["replay"]["request_id"].clone())
        .collect()
}

#[tokio::test]
async fn a_job_answers_at_once_reaches_its_total_and_its_comparison_outlives_it() {
    let app = TestApp::spawn().await;
    sequential(&app, None, "orig", 3).await;
    let tool = app
        .client
        .post(format!("{}/api/custom/v1/log", app.url))
        .header("Helicone-Session-Id", "orig")
        .header("Helicone-Session-Path", "/lookup")
        .json(&json!({"providerRequest": {"url": "tool", "json": {"_type": "tool", "toolName": "lookup"}}, "providerResponse": {"json": {}, "status": 200}}))
        .send()
        .await
        .unwrap();
    assert_eq!(tool.status(), 200);
    app.wait_written(4).await;

    let (status, body) = start(&app, None, "orig", json!({"model": "gpt-4o"})).await;
    assert_eq!(status, 202, "{body}");
    let job = &body["data"];
    let id = job["job_id"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 36 && id.as_bytes()[14] == b'4',
        "a random (version 4) UUID: {id}"
    );
    assert_eq!(job["progress"]["steps"], 4);
    assert_eq!(job["progress"]["total"], 3, "the tool step is not sent");

    let done = wait_job(&app, None, &id, "the job ends", ended).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["progress"]["sent"], 3);
    assert_eq!(done["progress"]["finished"], 3);
    assert!(done["finished_at"].is_string());
    let comparison = done["comparison"].clone();
    assert_eq!(
        comparison["counts"],
        json!({"steps": 4, "model_calls": 3, "replayed": 3, "not_replayed": 0, "not_rerun": 1})
    );
    assert_eq!(comparison["changes"]["model"], "gpt-4o");
    assert_eq!(comparison["totals"]["replay"]["calls"], 3);
    assert!(comparison["totals"]["replay"]["wall_ms"].as_i64().unwrap() > 0);

    // One step per card of the original session's page.
    let (_, original) = api(&app, None, Method::GET, "/v1/session/orig", None).await;
    assert_eq!(original["data"]["timeline"].as_array().unwrap().len(), 4);

    // The original lists its replays through the filter language.
    let replay_id = comparison["replay_session_id"].as_str().unwrap().to_owned();
    let (status, listed) = api(
        &app,
        None,
        Method::POST,
        "/v1/session/query",
        Some(json!({
            "filter": {"request_response_rmt": {"properties": {"replay_of": {"equals": "orig"}}}}
        })),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let listed: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [replay_id.as_str()]);
    let (status, _) = api(&app, None, Method::GET, "/v1/session/orig/comparison", None).await;
    assert_eq!(status, 404, "the original is not a replay");

    // After a restart the job is gone from memory; the comparison is rebuilt from the store.
    let (mock_url, mock_stop, dir) = app.into_parts().await;
    let again = settings(dir.path(), &mock_url);
    let app = TestApp::start(again, mock_url, mock_stop, dir).await;
    let (status, _) = api(
        &app,
        None,
        Method::GET,
        &format!("/v1/replay/jobs/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, rebuilt) = api(
        &app,
        None,
        Method::GET,
        &format!("/v1/session/{replay_id}/comparison"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rebuilt}");
    let rebuilt = &rebuilt["data"];
    assert_eq!(rebuilt["original_session_id"], "orig");
    assert_eq!(rebuilt["counts"], comparison["counts"]);
    assert_eq!(rebuilt["changes"], comparison["changes"]);
    assert_eq!(rebuilt["totals"], comparison["totals"]);
    assert_eq!(replayed_ids(rebuilt), replayed_ids(&comparison));
    assert_eq!(rebuilt["steps"][3]["kind"], "tool");
    assert!(rebuilt["steps"][3]["replay"].is_null());
}

#[tokio::test]
async fn cancelling_a_job_sends_no_further_call_and_reports_what_was_done() {
    let app = TestApp::spawn().await;
    sequential(&app, None, "slow", 5).await;
    app.wait_written(5).await;
    // Every replayed call takes the mock 500 ms.
    let (status, body) = start(
        &app,
        None,
        "slow",
        json!({"headers": {"x-mock-latency-ms": "500"}}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["data"]["job_id"].as_str().unwrap().to_owned();
    wait_job(&app, None, &id, "a first call is sent", |j| {
        j["progress"]["sent"].as_u64().unwrap() >= 1
    })
    .await;
    let (status, cancelled) = api(
        &app,
        None,
        Method::POST,
        &format!("/v1/replay/jobs/{id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["data"]["cancel_requested"], true);

    let job = wait_job(&app, None, &id, "the job ends", ended).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    let sent = job["progress"]["sent"].as_u64().unwrap();
    assert!(sent < 5, "cancelling stopped the sending: {job}");
    assert_eq!(
        job["progress"]["finished"], sent,
        "the call in flight finished"
    );
    let comparison = &job["comparison"];
    assert_eq!(comparison["counts"]["replayed"], sent, "{comparison}");
    assert_eq!(comparison["counts"]["not_replayed"], 5 - sent);
    let last = &comparison["steps"][4];
    assert!(last["replay"].is_null());
    assert!(
        last["note"].as_str().unwrap().contains("cancelled"),
        "{last}"
    );
    // Only what was sent reached the provider and was recorded.
    assert_eq!(app.upstream_requests().await.len() as u64, 5 + sent);
    let replay_id = comparison["replay_session_id"].as_str().unwrap();
    assert_eq!(app.session(replay_id).await.request_count, sent);
}

#[tokio::test]
async fn calls_that_overlapped_overlap_in_the_replay() {
    let app = TestApp::spawn().await;
    // Two calls at once, then one after both: /merge depends on /left and /right.
    tokio::join!(
        chat(&app, None, "fan", "/left", Some(300)),
        chat(&app, None, "fan", "/right", Some(300)),
    );
    chat(&app, None, "fan", "/merge", None).await;
    app.wait_written(3).await;

    let (status, body) = start(&app, None, "fan", json!({})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["data"]["job_id"].as_str().unwrap().to_owned();
    let job = wait_job(&app, None, &id, "the job ends", ended).await;
    assert_eq!(job["state"], "done", "{job}");
    let totals = &job["comparison"]["totals"];
    for side in ["original", "replay"] {
        let (wall, sum) = (
            totals[side]["wall_ms"].as_i64().unwrap(),
            totals[side]["latency_ms"].as_i64().unwrap(),
        );
        assert!(wall < sum, "{side}: wall {wall} ms, sum {sum} ms");
    }

    let replay_id = job["replay_session_id"].as_str().unwrap();
    let calls = app
        .store
        .query
        .session_calls("default", replay_id)
        .await
        .unwrap();
    let span = |path: &str| {
        let c = calls
            .iter()
            .find(|c| c.session_path.as_deref() == Some(path))
            .unwrap();
        (c.created_at_ms, c.created_at_ms + c.latency_ms.unwrap())
    };
    let (left, right, merge) = (span("/left"), span("/right"), span("/merge"));
    assert!(
        left.0.max(right.0) < left.1.min(right.1),
        "/left {left:?} and /right {right:?} overlap"
    );
    // Times are whole milliseconds, taken apart: allow one for rounding.
    assert!(
        merge.0 + 1 >= left.1.max(right.1),
        "/merge {merge:?} waited for /left {left:?} and /right {right:?}"
    );
}

#[tokio::test]
async fn jobs_are_isolated_and_limited_per_organisation() {
    let app = TestApp::spawn().await;
    let a = app.create_key("org-a").await;
    let b = app.create_key("org-b").await;
    sequential(&app, Some(&a), "a-session", 3).await;
    sequential(&app, Some(&b), "b-session", 1).await;
    app.wait_written(4).await;
    let slow = json!({"headers": {"x-mock-latency-ms": "1000"}});

    let (status, first) = start(&app, Some(&a), "a-session", slow.clone()).await;
    assert_eq!(status, 202, "{first}");
    let first = first["data"]["job_id"].as_str().unwrap().to_owned();

    // B sees nothing of A's job, cannot cancel it, nor replay A's session.
    for (method, path) in [
        (Method::GET, format!("/v1/replay/jobs/{first}")),
        (Method::POST, format!("/v1/replay/jobs/{first}/cancel")),
    ] {
        let (status, body) = api(&app, Some(&b), method, &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = start(&app, Some(&b), "a-session", json!({})).await;
    assert_eq!(status, 404);
    let (status, job) = api(
        &app,
        Some(&a),
        Method::GET,
        &format!("/v1/replay/jobs/{first}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(job["data"]["cancel_requested"], false, "{job}");

    // Two jobs at once per organisation; the third, by either route, waits its turn.
    let (status, second) = start(&app, Some(&a), "a-session", slow.clone()).await;
    assert_eq!(status, 202, "{second}");
    let second = second["data"]["job_id"].as_str().unwrap().to_owned();
    let (status, refused) = start(&app, Some(&a), "a-session", slow.clone()).await;
    assert_eq!(status, 429, "{refused}");
    let (status, _) = api(
        &app,
        Some(&a),
        Method::POST,
        "/v1/session/a-session/replay",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 429);
    // Another organisation has its own share.
    let (status, other) = start(&app, Some(&b), "b-session", json!({})).await;
    assert_eq!(status, 202, "{other}");

    // A cancelled job gives its slot back once it has ended.
    for id in [&first, &second] {
        let (status, _) = api(
            &app,
            Some(&a),
            Method::POST,
            &format!("/v1/replay/jobs/{id}/cancel"),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    for id in [&first, &second] {
        let job = wait_job(&app, Some(&a), id, "the job ends", ended).await;
        assert_eq!(job["state"], "cancelled", "{job}");
    }
    let (status, third) = start(&app, Some(&a), "a-session", json!({})).await;
    assert_eq!(status, 202, "{third}");
    let third = third["data"]["job_id"].as_str().unwrap().to_owned();
    let job = wait_job(&app, Some(&a), &third, "the job ends", ended).await;
    assert_eq!(job["state"], "done", "{job}");

    // A's replay and its comparison are A's alone.
    let replay_id = job["replay_session_id"].as_str().unwrap();
    let comparison = format!("/v1/session/{replay_id}/comparison");
    let (status, _) = api(&app, Some(&a), Method::GET, &comparison, None).await;
    assert_eq!(status, 200);
    let (status, _) = api(&app, Some(&b), Method::GET, &comparison, None).await;
    assert_eq!(status, 404);
}
