//! Two gateways on one Redis share cached answers and rate-limit quotas.

use std::time::Duration;

use canopy_testkit::redis::RedisServer;

use super::header;
use crate::harness::{TestApp, chat, settings, spawn_mock};

/// Two gateways on one mock provider and one Redis, each with its own store.
async fn two_gateways(redis: &RedisServer) -> (TestApp, TestApp) {
    let (mock_url, mock_stop) = spawn_mock().await;
    let mut apps = Vec::new();
    let mut stop = Some(mock_stop);
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path(), &mock_url);
        s.gateway.redis_url = Some(redis.url());
        let stop = stop
            .take()
            .unwrap_or_else(|| tokio::sync::oneshot::channel().0);
        apps.push(TestApp::start(s, mock_url.clone(), stop, dir).await);
    }
    let b = apps.pop().unwrap();
    (apps.pop().unwrap(), b)
}

/// Waits (bounded) until Redis holds a cached answer.
async fn wait_for_cached_answer(redis: &RedisServer) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for _ in 0..500 {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("canopy:cache:*:0")
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no answer reached Redis within 5 s");
}

#[tokio::test]
async fn shared_cache_answers_on_another_gateway() {
    let redis = RedisServer::start().await;
    let (a, b) = two_gateways(&redis).await;
    let body = chat("gpt-4o-mini", true, "shared answer");
    let call = |app: &TestApp| {
        app.client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Cache-Enabled", "true")
            .json(&body)
    };
    let first = call(&a).send().await.unwrap();
    assert_eq!(header(&first, "helicone-cache").as_deref(), Some("MISS"));
    let bytes = first.bytes().await.unwrap();
    wait_for_cached_answer(&redis).await;
    let second = call(&b).send().await.unwrap();
    assert_eq!(header(&second, "helicone-cache").as_deref(), Some("HIT"));
    assert_eq!(second.bytes().await.unwrap(), bytes);
}

#[tokio::test]
async fn shared_rate_limit_holds_across_gateways() {
    let redis = RedisServer::start().await;
    let (a, b) = two_gateways(&redis).await;
    let call = |app: &TestApp| {
        app.client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-RateLimit-Policy", "3;w=86400")
            .json(&chat("gpt-4o-mini", false, "quota"))
    };
    let mut statuses = Vec::new();
    for app in [&a, &b, &a, &b] {
        statuses.push(call(app).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_memory_without_failing_a_call() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(|s| {
        s.gateway.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    })
    .await;
    let call = |headers: &[(&str, &str)]| {
        let mut request = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .json(&chat("gpt-4o-mini", false, "no redis"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };
    let cache = [("Helicone-Cache-Enabled", "true")];
    let first = call(&cache).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "helicone-cache").as_deref(), Some("MISS"));
    first.bytes().await.unwrap();
    let second = call(&cache).send().await.unwrap();
    assert_eq!(header(&second, "helicone-cache").as_deref(), Some("HIT"));

    let limit = [("Helicone-RateLimit-Policy", "1;w=60")];
    assert_eq!(call(&limit).send().await.unwrap().status(), 200);
    assert_eq!(call(&limit).send().await.unwrap().status(), 429);

    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let errors = metrics
        .lines()
        .filter(|l| l.starts_with("canopy_gateway_shared_state_errors_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    assert!(errors > 0.0, "the fallback is counted: {metrics}");
}
