//! The response cache: hits, misses, buckets, streams, isolation, and what is recorded.

use super::{control_headers_upstream, header, json};
use crate::harness::{TestApp, chat, helicone_id};

fn cached(app: &TestApp) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Authorization", "Bearer sk-test")
        .header("Helicone-Cache-Enabled", "true")
        .header("Helicone-Session-Id", "cache-session")
}

#[tokio::test]
async fn cache_answers_a_repeated_call_and_records_the_hit_as_free() {
    let app = TestApp::spawn().await;
    let body = chat("gpt-4o-mini", false, "cache me");
    let first = cached(&app).json(&body).send().await.unwrap();
    assert_eq!(header(&first, "helicone-cache").as_deref(), Some("MISS"));
    let first_id = helicone_id(&first);
    let first_bytes = first.bytes().await.unwrap();
    app.wait_written(1).await;
    let second = cached(&app).json(&body).send().await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(header(&second, "helicone-cache").as_deref(), Some("HIT"));
    assert_eq!(
        header(&second, "helicone-cache-bucket-idx").as_deref(),
        Some("0")
    );
    let original = app.call(&first_id).await;
    assert_eq!(
        header(&second, "helicone-cache-latency"),
        original.latency_ms.map(|l| l.to_string())
    );
    let hit_id = helicone_id(&second);
    assert_ne!(hit_id, first_id);
    assert_eq!(second.bytes().await.unwrap(), first_bytes, "the same bytes");
    app.wait_written(2).await;
    assert_eq!(
        app.upstream_requests().await.len(),
        1,
        "the hit never went upstream"
    );
    assert!(control_headers_upstream(&app).await.is_empty());

    let hit = app.call(&hit_id).await;
    assert_eq!(hit.properties["helicone-cache"], "hit");
    assert_eq!(original.properties["helicone-cache"], "miss");
    assert_eq!(hit.cost_nano_usd, Some(0));
    let saved = original.cost_nano_usd.unwrap();
    assert!(saved > 0);
    assert_eq!(
        hit.properties["canopy-cache-saved-nano-usd"],
        saved.to_string()
    );
    assert_eq!(hit.properties["canopy-cache-source-id"], first_id);
    let session = app.session("cache-session").await;
    assert_eq!(session.request_count, 2, "the hit is a call of its session");
    assert_eq!(
        session.cost_nano_usd, saved,
        "the hit adds nothing to the cost"
    );

    let detail: serde_json::Value = app
        .client
        .get(format!("{}/api/v1/session/cache-session", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = &detail["data"]["session"];
    assert_eq!(s["cache_hits"], 1);
    assert!((s["cost_saved"].as_f64().unwrap() - saved as f64 / 1e9).abs() < 1e-12);
}

#[tokio::test]
async fn cache_replays_a_stream_as_the_same_events() {
    let app = TestApp::spawn().await;
    let body = chat("gpt-4o-mini", true, "stream me");
    let first = cached(&app).json(&body).send().await.unwrap();
    assert_eq!(header(&first, "helicone-cache").as_deref(), Some("MISS"));
    let first_bytes = first.bytes().await.unwrap();
    app.wait_written(1).await;
    let second = cached(&app).json(&body).send().await.unwrap();
    assert_eq!(header(&second, "helicone-cache").as_deref(), Some("HIT"));
    assert!(
        header(&second, "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let second_bytes = second.bytes().await.unwrap();
    assert_eq!(second_bytes, first_bytes);
    let text = String::from_utf8(second_bytes.to_vec()).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(
        !text.contains("\"usage\""),
        "the client never asked for usage: {text}"
    );
}

#[tokio::test]
async fn cache_bucket_keeps_distinct_answers_and_serves_them_in_turn() {
    let app = TestApp::spawn().await;
    let body = chat("gpt-4o-mini", false, "bucket");
    let mut stored = Vec::new();
    for seed in ["1", "2"] {
        let response = cached(&app)
            .header("Helicone-Cache-Bucket-Max-Size", "2")
            .header("x-mock-reply-seed", seed)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&response, "helicone-cache").as_deref(), Some("MISS"));
        stored.push(json(response).await);
        app.wait_written(stored.len() as u64).await;
    }
    assert_ne!(stored[0], stored[1]);
    for expected in [0, 1, 0] {
        let response = cached(&app)
            .header("Helicone-Cache-Bucket-Max-Size", "2")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&response, "helicone-cache").as_deref(), Some("HIT"));
        let idx = header(&response, "helicone-cache-bucket-idx").unwrap();
        assert_eq!(idx, expected.to_string());
        assert_eq!(json(response).await, stored[expected]);
    }
}

#[tokio::test]
async fn cache_never_answers_another_organisation_nor_keeps_errors() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.create_key("org-a").await, app.create_key("org-b").await);
    let body = chat("gpt-4o-mini", false, "tenant data");
    let call = |key: &str| {
        cached(&app)
            .header("Helicone-Auth", format!("Bearer {key}"))
            .json(&body)
    };
    let first = call(&a).send().await.unwrap();
    assert_eq!(header(&first, "helicone-cache").as_deref(), Some("MISS"));
    app.wait_written(1).await;
    let other = call(&b).send().await.unwrap();
    assert_eq!(header(&other, "helicone-cache").as_deref(), Some("MISS"));
    app.wait_written(2).await;
    let again = call(&a).send().await.unwrap();
    assert_eq!(header(&again, "helicone-cache").as_deref(), Some("HIT"));

    let failing = |app: &TestApp| {
        cached(app)
            .header("Helicone-Auth", format!("Bearer {a}"))
            .header("x-mock-status", "500")
            .json(&chat("gpt-4o-mini", false, "errors"))
    };
    for _ in 0..2 {
        let response = failing(&app).send().await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(header(&response, "helicone-cache").as_deref(), Some("MISS"));
    }
}

#[tokio::test]
async fn cache_key_follows_the_seed_and_ignored_keys() {
    let app = TestApp::spawn().await;
    let with_user = |user: &str| {
        let mut body = chat("gpt-4o-mini", false, "keys");
        body["user"] = user.into();
        body
    };
    let call = |seed: &str, user: &str| {
        cached(&app)
            .header("Helicone-Cache-Seed", seed)
            .header("Helicone-Cache-Ignore-Keys", "\"user\"")
            .json(&with_user(user))
    };
    let first = call("s1", "u1").send().await.unwrap();
    assert_eq!(header(&first, "helicone-cache").as_deref(), Some("MISS"));
    app.wait_written(1).await;
    let ignored = call("s1", "u2").send().await.unwrap();
    assert_eq!(header(&ignored, "helicone-cache").as_deref(), Some("HIT"));
    let other_seed = call("s2", "u1").send().await.unwrap();
    assert_eq!(
        header(&other_seed, "helicone-cache").as_deref(),
        Some("MISS")
    );
}

#[tokio::test]
async fn cache_headers_with_bad_values_are_a_400() {
    let app = TestApp::spawn().await;
    for (name, value, param) in [
        (
            "Helicone-Cache-Bucket-Max-Size",
            "21",
            "Helicone-Cache-Bucket-Max-Size",
        ),
        ("Cache-Control", "max-age=99999999999", "Cache-Control"),
    ] {
        let response = cached(&app)
            .header(name, value)
            .json(&chat("gpt-4o-mini", false, "bad"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body = json(response).await;
        assert_eq!(body["error"]["param"], param);
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    app.wait_written(2).await;
    assert!(app.upstream_requests().await.is_empty());
}
