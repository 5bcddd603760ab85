//! Rate limits: `Helicone-RateLimit-Policy` and configured policies.

use super::{header, json};
use crate::harness::{TestApp, chat, helicone_id};

fn limited(app: &TestApp, policy: &str, user: &str) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-RateLimit-Policy", policy)
        .header("Helicone-User-Id", user)
        .json(&chat("gpt-4o-mini", false, "count me"))
}

#[tokio::test]
async fn rate_limit_refuses_past_the_quota_per_segment_and_records_the_refusal() {
    let app = TestApp::spawn().await;
    let policy = "2;w=3600;u=request;s=user";
    for remaining in ["1", "0"] {
        let response = limited(&app, policy, "alice").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "helicone-ratelimit-limit").as_deref(),
            Some("2")
        );
        assert_eq!(
            header(&response, "helicone-ratelimit-remaining").as_deref(),
            Some(remaining)
        );
        assert_eq!(
            header(&response, "helicone-ratelimit-policy").as_deref(),
            Some("2;w=3600;s=user")
        );
        let reset: u64 = header(&response, "helicone-ratelimit-reset")
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&reset));
    }
    let refused = limited(&app, policy, "alice").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        header(&refused, "x-helicone-error").as_deref(),
        Some("rate_limited")
    );
    assert_eq!(
        header(&refused, "helicone-ratelimit-remaining").as_deref(),
        Some("0")
    );
    let id = helicone_id(&refused);
    let body = json(refused).await;
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let other = limited(&app, policy, "bob").send().await.unwrap();
    assert_eq!(other.status(), 200, "another user has its own quota");
    app.wait_written(4).await;
    let record = app.call(&id).await;
    assert_eq!(record.status, 429);
    assert!(record.error.unwrap().contains("rate limit"));
    assert_eq!(app.upstream_requests().await.len(), 3);
}

#[tokio::test]
async fn rate_limit_from_the_config_governs_an_organisation() {
    let app = TestApp::spawn_with(|s| {
        s.gateway.rate_limits = vec![canopy_gateway::ratelimit::ConfiguredPolicy {
            org: Some("default".to_owned()),
            key_id: None,
            policy: canopy_gateway::ratelimit::RatePolicy::parse("1;w=3600").unwrap(),
        }];
    })
    .await;
    let call = || {
        app.client
            .post(format!("{}/anthropic/v1/messages", app.url))
            .json(
                &serde_json::json!({"model": "claude-3-5-haiku-latest", "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}]}),
            )
    };
    let ok = call().send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        header(&ok, "helicone-ratelimit-policy").as_deref(),
        Some("1;w=3600")
    );
    let refused = call().send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let body = json(refused).await;
    assert_eq!(body["type"], "error", "Anthropic's error shape");
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn rate_limit_policy_that_cannot_be_read_is_a_400() {
    let app = TestApp::spawn().await;
    for policy in ["ten;w=60", "10;w=30", "10;w=60;u=tokens"] {
        let response = limited(&app, policy, "u").send().await.unwrap();
        assert_eq!(response.status(), 400, "{policy}");
        let body = json(response).await;
        assert_eq!(body["error"]["param"], "Helicone-RateLimit-Policy");
    }
}

#[tokio::test]
async fn a_cents_policy_counts_the_recorded_cost_of_each_call() {
    let app = TestApp::spawn().await;
    // What one call costs, learnt from an ungoverned one.
    let probe = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&chat("gpt-4o-mini", false, "count me"))
        .send()
        .await
        .unwrap();
    let id = helicone_id(&probe);
    probe.bytes().await.unwrap();
    app.wait_written(1).await;
    let cost_nano = app.call(&id).await.cost_nano_usd.unwrap();
    assert!(cost_nano > 0);
    // A quota of one and a half calls, in cents (1 cent = 10^7 nano-USD).
    let quota = cost_nano as f64 * 1.5 / 1e7;
    let policy = format!("{quota:.9};w=3600;u=cents");

    // Each call's cost is added when its record is complete, just after its answer ends.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let response = limited(&app, &policy, "alice").send().await.unwrap();
        let status = response.status().as_u16();
        statuses.push(status);
        if status == 429 {
            assert_eq!(
                header(&response, "x-helicone-error").as_deref(),
                Some("rate_limited")
            );
            break;
        }
        response.bytes().await.unwrap();
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        (3..=4).contains(&statuses.len()),
        "two calls spend a quota of one and a half: {statuses:?}"
    );
}
