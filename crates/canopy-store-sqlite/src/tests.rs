//! Upgrading a database written by an earlier schema.

use canopy_core::CallId;
use canopy_store::{Query, Retain, migrate};
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{Row, SqlitePool};

use crate::{MIGRATIONS, Migrations, SqliteStore};

/// A call and its bodies as the schema before `bodies_by_call_seq` stored them.
async fn insert_old_call(pool: &SqlitePool, org: &str, id: CallId, body: &str) {
    sqlx::query(
        "INSERT INTO calls (id, org_id, created_at, provider, target_url, request_path, method, \
         status, is_stream, prompt_tokens, completion_tokens, cache_read_tokens, \
         cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, audio_input_tokens, \
         audio_output_tokens, usage_source, session_id, session_path, properties) \
         VALUES (?, ?, 1700000000000, 'openai', 'https://api.openai.com/v1/chat/completions', \
         '/v1/chat/completions', 'POST', 200, 0, 3, 4, 0, 0, 0, 0, 0, 0, 'provider', 's', '/', \
         '{}')",
    )
    .bind(id.to_string())
    .bind(org)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO call_bodies (org_id, id, request_body, request_truncated, request_omitted, \
         response_body, response_truncated, response_omitted, request_headers) \
         VALUES (?, ?, ?, 0, 0, 'answer', 0, 0, '{}')",
    )
    .bind(org)
    .bind(id.to_string())
    .bind(body)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn upgrading_keeps_each_calls_bodies_and_retention_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("canopy.db").display());
    let before = &MIGRATIONS[..2];
    assert_eq!(before.last().unwrap().name, "org_scoped_ids");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true),
        )
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    migrate::run(&mut Migrations(&mut conn), before)
        .await
        .unwrap();
    drop(conn);
    // One id in two organisations is two calls, each with bodies of its own.
    let id = CallId::new();
    insert_old_call(&pool, "org-a", id, "question from a").await;
    insert_old_call(&pool, "org-b", id, "question from b").await;
    pool.close().await;

    let store = SqliteStore::connect(&url).await.unwrap();
    for (org, body) in [("org-a", "question from a"), ("org-b", "question from b")] {
        let call = store.get_call(org, id).await.unwrap().unwrap();
        assert_eq!(call.org_id, org);
        assert_eq!(call.request_body.text.as_deref(), Some(body));
        assert_eq!(call.response_body.text.as_deref(), Some("answer"));
    }
    let purged = store.purge(1_800_000_000_000).await.unwrap();
    assert_eq!(purged.calls, 2);
    let bodies = sqlx::query("SELECT count(*) FROM call_bodies")
        .fetch_one(&store.readers)
        .await
        .unwrap();
    assert_eq!(bodies.get::<i64, _>(0), 0, "no body outlives its call");
    store.close().await;
}
