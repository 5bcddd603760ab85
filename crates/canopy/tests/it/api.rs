//! The Helicone-compatible API through a real socket: what Helicone scripts send, unchanged.

use serde_json::{Value, json};

use crate::harness::{TestApp, chat, helicone_id, vector_search_log};

/// Makes three calls in one session and one outside it; returns the session's call ids.
async fn seed(app: &TestApp, session: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (path, name, user) in [
        ("/triage", "Support", "alice"),
        ("/triage/classify", "Support", "bob"),
        ("/triage", "", "alice"),
    ] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Session-Id", session)
            .header("Helicone-Session-Path", path)
            .header("Helicone-Session-Name", name)
            .header("Helicone-User-Id", user)
            .header("Helicone-Prompt-Id", "assistant-response")
            .json(&chat("gpt-4o-mini", false, path))
            .send()
            .await
            .unwrap();
        ids.push(helicone_id(&response));
        let _ = response.bytes().await.unwrap();
    }
    let other = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&chat("gpt-4o", false, "alone"))
        .send()
        .await
        .unwrap();
    let _ = other.bytes().await.unwrap();
    app.wait_written(4).await;
    ids
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api{path}", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}/api{path}", app.url))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_replay_cookbooks_query_runs_unchanged() {
    let app = TestApp::spawn().await;
    let ids = seed(&app, "debate-1").await;
    // Helicone's "Replaying LLM Sessions" cookbook, byte for byte.
    let (status, body) = post(
        &app,
        "/v1/request/query",
        json!({
            "limit": 100, "offset": 0,
            "sort_by": {"key": "request_created_at", "direction": "asc"},
            "filter": {"properties": {"Helicone-Session-Id": {"equals": "debate-1"}}}
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"], Value::Null);
    let rows = body["data"].as_array().unwrap();
    let got: Vec<&str> = rows
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids, "the session's calls, oldest first");
    let row = &rows[0];
    assert_eq!(row["request_body"]["messages"][1]["content"], "/triage");
    assert_eq!(row["prompt_id"], "assistant-response");
    assert_eq!(row["properties"]["Helicone-Session-Id"], "debate-1");
    assert_eq!(row["properties"]["Helicone-Session-Path"], "/triage");
    assert_eq!(
        row["request_path"],
        format!("{}/v1/chat/completions", app.url)
    );
    assert_eq!(row["provider"], "OPENAI");
    assert_eq!(row["response_status"], 200);
    assert!(row["cost"].as_f64().unwrap() > 0.0);
    assert_eq!(
        row["total_tokens"],
        row["prompt_tokens"].as_u64().unwrap() + row["completion_tokens"].as_u64().unwrap()
    );
    assert!(row["response_body"]["choices"].is_array());

    // The same through the tree form and the ClickHouse alias, newest first.
    let (_, body) = post(&app, "/v1/request/query-clickhouse", json!({
        "filter": {"left": {"request_response_rmt": {"properties": {"Helicone-Session-Id": {"equals": "debate-1"}}}},
                   "operator": "and", "right": {"request_response_rmt": {"user_id": {"equals": "alice"}}}},
        "sort": {"created_at": "desc"}
    }))
    .await;
    let got: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[0].as_str()]);

    let (_, body) = post(&app, "/v1/request/count/query", json!({"filter": "all"})).await;
    assert_eq!(body["data"], 4);
}

#[tokio::test]
async fn bad_queries_are_400s_that_name_the_problem() {
    let app = TestApp::spawn().await;
    for (filter, needle) in [
        (
            json!({"nosuch_table": {"x": {"equals": 1}}}),
            "nosuch_table",
        ),
        (
            json!({"request_response_rmt": {"nosuch_column": {"equals": 1}}}),
            "nosuch_column",
        ),
        (
            json!({"request_response_rmt": {"model": {"resembles": "x"}}}),
            "resembles",
        ),
    ] {
        let (status, body) = post(&app, "/v1/request/query", json!({"filter": filter})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["data"], Value::Null);
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    let (status, body) = post(
        &app,
        "/v1/request/query",
        json!({"filter": "all", "limit": 5000}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("limit"));
    let response = app
        .client
        .post(format!("{}/api/v1/request/query", app.url))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, body) = get(&app, "/v1/request/0190b7a0-6c8e-7cc0-8d5e-1c2b3a4d5e6f").await;
    assert_eq!((status, body["data"].clone()), (404, Value::Null));
    let (status, _) = get(&app, "/v1/nothing/here").await;
    assert_eq!(status, 404);
    // A value shaped like SQL is only ever a value.
    let (status, body) = post(
        &app,
        "/v1/request/query",
        json!({"filter": {"request_response_rmt": {"model": {"equals": "x' OR 1=1 --"}}}}),
    )
    .await;
    assert_eq!(
        (status, body["data"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[tokio::test]
async fn requests_can_be_fetched_and_annotated() {
    let app = TestApp::spawn().await;
    let ids = seed(&app, "annotated").await;
    let id = &ids[0];
    let (status, _) = post(
        &app,
        &format!("/v1/request/{id}/feedback"),
        json!({"rating": true}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &app,
        &format!("/v1/request/{id}/score"),
        json!({"scores": {"accuracy": 87, "passed": false}}),
    )
    .await;
    assert_eq!(status, 200);
    for (key, value) in [("reviewed", "yes"), ("odd \"key\\", "still fine")] {
        let body = json!({"key": key, "value": value});
        let response = app
            .client
            .put(format!("{}/api/v1/request/{id}/property", app.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let (status, body) = get(&app, &format!("/v1/request/{id}")).await;
    assert_eq!(status, 200);
    let row = &body["data"];
    assert_eq!(row["feedback_rating"], true);
    assert_eq!(row["scores"]["accuracy"], 87.0);
    assert_eq!(row["scores"]["passed"], 0.0);
    assert_eq!(row["properties"]["reviewed"], "yes");
    assert_eq!(row["properties"]["odd \"key\\"], "still fine");
    let (status, body) = post(
        &app,
        &format!("/v1/request/{id}/score"),
        json!({"scores": {"bad": "high"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("scores.bad"));
    // A score name of 256 four-byte characters is kept; one more is a 400 naming the limit.
    let longest = "😀".repeat(256);
    let (status, _) = post(
        &app,
        &format!("/v1/request/{id}/score"),
        json!({"scores": {longest.clone(): 1}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post(
        &app,
        &format!("/v1/request/{id}/score"),
        json!({"scores": {format!("{longest}x"): 1}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("256"), "{body}");
    let (_, body) = get(&app, &format!("/v1/request/{id}")).await;
    assert_eq!(body["data"]["scores"][&longest], 1.0);
    let (status, _) = post(
        &app,
        "/v1/request/0190b7a0-6c8e-7cc0-8d5e-1c2b3a4d5e6f/feedback",
        json!({"rating": true}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn filter_boxes_are_offered_keys_values_and_users_from_the_data() {
    let app = TestApp::spawn().await;
    seed(&app, "s-suggest").await;
    let (status, body) = get(&app, "/v1/suggest?field=user_id").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([{"value": "alice", "calls": 2}, {"value": "bob", "calls": 1}])
    );
    let (_, body) = get(&app, "/v1/suggest?field=user_id&contains=BO").await;
    assert_eq!(body["data"], json!([{"value": "bob", "calls": 1}]));
    let (status, _) = get(&app, "/v1/suggest?field=property_key&limit=5").await;
    assert_eq!(status, 200);
    for bad in [
        "/v1/suggest?field=property_value",
        "/v1/suggest?field=models",
        "/v1/suggest?field=user_id&limit=0",
        "/v1/suggest?field=user_id&limit=101",
    ] {
        let (status, body) = get(&app, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_names_paths_are_measured_over_its_sessions() {
    let app = TestApp::spawn().await;
    seed(&app, "s-paths").await;
    let (status, body) = post(
        &app,
        "/v1/session/paths/query",
        json!({"nameEquals": "Support"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["data"].as_array().unwrap();
    let paths: Vec<(&str, u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap(),
                r["sessions"].as_u64().unwrap(),
                r["calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(paths, [("/triage", 1, 2), ("/triage/classify", 1, 1)]);
    assert_eq!(rows[0]["calls_per_session"], 2.0);
    let (_, body) = post(
        &app,
        "/v1/session/paths/query",
        json!({"nameEquals": "Nobody"}),
    )
    .await;
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn sessions_are_sorted_by_a_figure_either_way() {
    let app = TestApp::spawn().await;
    seed(&app, "s-three").await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Session-Id", "s-one")
        .json(&chat("gpt-4o-mini", false, "one"))
        .send()
        .await
        .unwrap();
    let _ = response.bytes().await.unwrap();
    app.wait_written(5).await;
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["session_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let sorted = |key: &str, direction: &str| json!({"filter": "all", "sortBy": {"key": key, "direction": direction}});
    let (status, body) = post(&app, "/v1/session/query", sorted("total_requests", "desc")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), ["s-three", "s-one"]);
    let (_, body) = post(&app, "/v1/session/query", sorted("total_requests", "asc")).await;
    assert_eq!(ids(&body), ["s-one", "s-three"]);
    let (_, body) = post(&app, "/v1/session/query", sorted("created_at", "asc")).await;
    assert_eq!(ids(&body), ["s-three", "s-one"], "the oldest first");
    let (_, body) = post(&app, "/v1/session/query", json!({"filter": "all"})).await;
    assert_eq!(
        ids(&body),
        ["s-one", "s-three"],
        "the newest first by default"
    );
    for key in ["total_cost", "duration_ms", "error_count", "avg_latency"] {
        let (status, body) = post(&app, "/v1/session/query", sorted(key, "desc")).await;
        assert_eq!(status, 200, "{key}: {body}");
        assert_eq!(ids(&body).len(), 2, "{key}");
    }
    let (status, body) = post(&app, "/v1/session/query", sorted("turns", "desc")).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("total_cost"),
        "{body}"
    );
    let (status, _) = post(&app, "/v1/session/query", sorted("total_cost", "up")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn sessions_are_listed_whole_counted_named_and_measured() {
    let app = TestApp::spawn().await;
    let ids = seed(&app, "s-list").await;
    let first = app.call(&ids[0]).await;
    let session = app.session("s-list").await;

    // A window that only overlaps the session's first call still lists the whole session.
    let window =
        json!({"startTimeUnixMs": first.created_at_ms - 1, "endTimeUnixMs": first.created_at_ms});
    let (status, body) = post(
        &app,
        "/v1/session/query",
        json!({"search": "", "timeFilter": window, "timezoneDifference": 0, "filter": "all"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["session_id"], "s-list");
    assert_eq!(row["session_name"], "Support");
    assert_eq!(row["total_requests"], 3);
    assert_eq!(row["total_tokens"], session.total_tokens());
    assert!(
        (row["total_cost"].as_f64().unwrap() - session.cost_nano_usd as f64 / 1e9).abs() < 1e-12
    );
    assert_eq!(row["user_ids"], json!(["alice", "bob"]));

    let (_, body) = post(
        &app,
        "/v1/session/query",
        json!({"search": "LIST", "timeFilter": {}, "filter": "all"}),
    )
    .await;
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        1,
        "search is case-insensitive"
    );
    let (_, body) = post(
        &app,
        "/v1/session/query",
        json!({"nameEquals": "Other", "filter": "all"}),
    )
    .await;
    assert!(body["data"].as_array().unwrap().is_empty());
    let (_, body) = post(&app, "/v1/session/query", json!({"filter": {"sessions_request_response_rmt": {"session_total_requests": {"gte": 3}}}})).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let (_, body) = post(
        &app,
        "/v1/session/query",
        json!({"filter": {"request_response_rmt": {"user_id": {"equals": "bob"}}}}),
    )
    .await;
    assert_eq!(
        body["data"][0]["total_requests"], 3,
        "a call-level filter matches the session, whose totals stay whole"
    );

    let (_, body) = post(&app, "/v1/session/count", json!({"filter": "all"})).await;
    assert_eq!(body["data"]["count"], 1);
    assert_eq!(body["data"]["avg_requests"], 3.0);

    let (_, body) = post(
        &app,
        "/v1/session/name/query",
        json!({"nameContains": "supp", "timezoneDifference": 0}),
    )
    .await;
    assert_eq!(body["data"][0]["name"], "Support");
    assert_eq!(body["data"][0]["session_count"], 1);

    let (status, body) = post(&app, "/v1/session/metrics/query", json!({"nameContains": "Support", "timezoneDifference": 0, "pSize": "p99", "useInterquartile": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["session_count"][0]["value"], 1);
    assert_eq!(body["data"]["average"]["session_count"][0]["average"], 3.0);
    let (status, _) = post(
        &app,
        "/v1/session/metrics/query",
        json!({"nameContains": "", "timezoneDifference": 0, "pSize": "p42"}),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn one_session_comes_with_its_tree_timeline_and_annotations() {
    let app = TestApp::spawn().await;
    let ids = seed(&app, "s-tree").await;
    let (status, body) = get(&app, "/v1/session/s-tree").await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["session"]["session_id"], "s-tree");
    assert_eq!(data["session"]["total_requests"], 3);
    let tree = &data["tree"];
    assert_eq!(tree["path"], "/");
    assert_eq!(tree["rollup"]["requests"], 3);
    let triage = &tree["children"][0];
    assert_eq!(
        (triage["path"].as_str(), triage["name"].as_str()),
        (Some("/triage"), Some("triage"))
    );
    assert_eq!(
        triage["request_ids"],
        json!([ids[0], ids[2]]),
        "same-path calls are sibling leaves in start order"
    );
    assert_eq!(triage["children"][0]["path"], "/triage/classify");
    assert_eq!(triage["rollup"]["requests"], 3);
    assert_eq!(data["timeline"].as_array().unwrap().len(), 3);
    assert_eq!(data["timeline"][0]["offset_ms"], 0);
    let requests: Vec<&str> = data["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(requests, ids);

    assert_eq!(
        post(
            &app,
            "/v1/session/s-tree/feedback",
            json!({"rating": false})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(&app, "/v1/session/s-tree/tag", json!({"tag": "regression"}))
            .await
            .0,
        200
    );
    let (_, body) = get(&app, "/v1/session/s-tree/tag").await;
    assert_eq!(body["data"], "regression");
    // 256 four-byte characters are a tag; one more is a 400 that names the limit.
    let longest = "😀".repeat(256);
    assert_eq!(
        post(&app, "/v1/session/s-tree/tag", json!({"tag": longest}))
            .await
            .0,
        200
    );
    let (status, body) = post(
        &app,
        "/v1/session/s-tree/tag",
        json!({"tag": format!("{longest}x")}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("256"), "{body}");
    let (_, body) = get(&app, "/v1/session/s-tree").await;
    assert_eq!(body["data"]["session"]["feedback"], false);
    let tags = body["data"]["session"]["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert!(tags.contains(&json!(longest)) && tags.contains(&json!("regression")));
    assert_eq!(get(&app, "/v1/session/nope").await.0, 404);
    assert_eq!(
        post(&app, "/v1/session/nope/tag", json!({"tag": "x"}))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn analytics_lists_an_entitys_sessions() {
    let app = TestApp::spawn().await;
    seed(&app, "s-entity").await;
    let (status, body) = get(
        &app,
        "/v1/analytics/sessions?entity_type=user&entity_id=bob&start_date=2000-01-01",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["session_id"], "s-entity");
    assert_eq!(rows[0]["turn_count"], 3);
    assert!(rows[0]["total_cost"].as_f64().unwrap() > 0.0);
    let (_, body) = get(
        &app,
        "/v1/analytics/sessions?entity_type=user&entity_id=nobody",
    )
    .await;
    assert!(body["data"].as_array().unwrap().is_empty());
    let (status, _) = get(
        &app,
        "/v1/analytics/sessions?entity_type=user&entity_id=bob&start_date=soon",
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn custom_logs_join_their_sessions_from_headers_and_meta() {
    let app = TestApp::spawn().await;
    seed(&app, "s-custom").await;
    // Helicone's own examples put the session in `meta` under these keys.
    let (status, body) = post(&app, "/custom/v1/log", json!({
        "providerRequest": {"url": "custom-model-nopath", "json": {"_type": "tool", "toolName": "lookup_order", "input": {"id": 7}},
                            "meta": {"session_id": "s-custom", "session_path": "/triage/lookup", "session_name": "Support"}},
        "providerResponse": {"json": {"order": "shipped"}, "status": 200, "headers": {}},
        "timing": {"startTime": {"seconds": 1700000000, "milliseconds": 0}, "endTime": {"seconds": 1700000000, "milliseconds": 250}}
    }))
    .await;
    assert_eq!(status, 200, "{body}");
    let tool_id = body["data"]["request_id"].as_str().unwrap().to_owned();
    // The same through the trace alias, with the session in HTTP headers and meta header keys.
    let response = app
        .client
        .post(format!("{}/api/v1/trace/custom/log", app.url))
        .header("Helicone-Session-Id", "s-custom")
        .json(&vector_search_log(
            "vector",
            json!({"Helicone-Session-Path": "/triage/retrieve"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.wait_written(6).await;

    let tool = app.call(&tool_id).await;
    assert_eq!(tool.kind, canopy_core::CallKind::Tool);
    assert_eq!(tool.session_path.as_deref(), Some("/triage/lookup"));
    assert_eq!(tool.latency_ms, Some(250));
    assert_eq!(tool.request_model.as_deref(), Some("lookup_order"));
    let session = app.session("s-custom").await;
    assert_eq!(session.request_count, 5);
    let (_, body) = get(&app, "/v1/session/s-custom").await;
    let kinds: Vec<&str> = body["data"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"tool") && kinds.contains(&"vector_db"),
        "{kinds:?}"
    );

    for (body, field) in [
        (json!({"providerResponse": {}}), "providerRequest"),
        (
            json!({"providerRequest": {"json": {"_type": "spreadsheet"}}}),
            "providerRequest.json._type",
        ),
        (
            json!({"providerRequest": {"json": {}}, "timing": {"startTime": true}}),
            "timing.startTime",
        ),
        (
            json!({"providerRequest": {"json": []}}),
            "providerRequest.json",
        ),
        // Far-off times would make an engine file the call in a month of year 292 million.
        (
            json!({"providerRequest": {"json": {}}, "timing": {"startTime": -9e15}}),
            "timing.startTime",
        ),
        (
            json!({"providerRequest": {"json": {}}, "timing": {"startTime": 1700000000,
                "endTime": 9.2e18}}),
            "timing.endTime",
        ),
    ] {
        let (status, answer) = post(&app, "/custom/v1/log", body).await;
        assert_eq!(status, 400);
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn().await;
    let (status, doc) = get(&app, "/openapi.json").await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/api/v1/request/query",
        "/api/v1/request/count/query",
        "/api/v1/request/{id}",
        "/api/v1/request/{id}/feedback",
        "/api/v1/request/{id}/property",
        "/api/v1/request/{id}/score",
        "/api/v1/session/query",
        "/api/v1/session/count",
        "/api/v1/session/name/query",
        "/api/v1/session/metrics/query",
        "/api/v1/session/{id}",
        "/api/v1/session/{id}/feedback",
        "/api/v1/session/{id}/tag",
        "/api/v1/analytics/sessions",
        "/api/custom/v1/log",
    ] {
        assert!(paths.contains_key(route), "{route} is documented");
    }
    assert!(doc["components"]["schemas"]["RequestRow"]["properties"]["request_id"].is_object());
}

#[tokio::test]
async fn api_and_dashboard_answers_are_compressed_and_proxied_answers_are_not() {
    use std::io::Read as _;
    let app = TestApp::spawn().await;
    let session = "compressed";
    seed(&app, session).await;
    let gzip = |path: &str| {
        app.client
            .get(format!("{}{path}", app.url))
            .header("Accept-Encoding", "gzip")
            .send()
    };
    let plain = app
        .client
        .get(format!("{}/api/v1/session/{session}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.headers().get("content-encoding"),
        None,
        "none asked, none given"
    );
    let plain: Value = plain.json().await.unwrap();

    let packed = gzip(&format!("/api/v1/session/{session}")).await.unwrap();
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    let packed = packed.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_string(&mut text)
        .unwrap();
    let unpacked: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(unpacked, plain);
    assert!(
        packed.len() < text.len(),
        "{} of {}",
        packed.len(),
        text.len()
    );

    let page = gzip("/").await.unwrap();
    assert_eq!(page.headers()["content-encoding"], "gzip");

    let proxied = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Accept-Encoding", "gzip")
        .json(&chat("gpt-4o-mini", false, "untouched"))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.headers().get("content-encoding"), None);
    let body: Value = proxied.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
}

#[tokio::test]
async fn a_session_leaves_bodies_out_unless_asked() {
    let app = TestApp::spawn().await;
    let ids = seed(&app, "light").await;
    let (status, light) = get(&app, "/v1/session/light").await;
    assert_eq!(status, 200);
    let (_, full) = get(&app, "/v1/session/light?include_bodies=true").await;
    let light = &light["data"];
    let full = &full["data"];
    assert_eq!(light["session"], full["session"]);
    assert_eq!(light["tree"], full["tree"]);
    assert_eq!(light["requests"].as_array().unwrap().len(), ids.len());
    for (l, f) in light["requests"]
        .as_array()
        .unwrap()
        .iter()
        .zip(full["requests"].as_array().unwrap())
    {
        assert_eq!(l["request_id"], f["request_id"]);
        assert_eq!(l["request_body"], Value::Null);
        assert_eq!(l["response_body"], Value::Null);
        assert!(f["request_body"]["messages"].is_array(), "{f}");
        assert_eq!(l["cost"], f["cost"]);
        assert_eq!(l["prompt_tokens"], f["prompt_tokens"]);
    }
    // One call's bodies, as the dashboard fetches them when a call is opened.
    let (status, one) = get(&app, &format!("/v1/request/{}", ids[0])).await;
    assert_eq!(status, 200);
    assert!(one["data"]["request_body"]["messages"].is_array(), "{one}");
}
