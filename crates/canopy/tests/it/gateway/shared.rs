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
