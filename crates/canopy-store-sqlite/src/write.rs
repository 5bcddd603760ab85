//! The write side: one transaction per batch for calls, bodies and session totals.

use std::collections::HashMap;
use std::collections::HashSet;

use async_trait::async_trait;
use canopy_core::CallRecord;
use canopy_store::{Ingest, Result, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::SqliteStore;

/// Rows per multi-row `INSERT`. A batch is cut greedily into these sizes so that only a few
/// distinct statements exist and each stays prepared in the connection's cache.
const CHUNK_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

#[async_trait]
impl Ingest for SqliteStore {
    #[tracing::instrument(skip_all, fields(rows = batch.len()))]
    async fn write(&self, batch: &[CallRecord]) -> Result<()> {
        let fail = |source: sqlx::Error| StoreError::Write {
            rows: batch.len(),
            source: source.into(),
        };
        let mut tx = self.writer.begin().await.map_err(fail)?;
        let mut inserted = HashSet::with_capacity(batch.len());
        for chunk in chunks(batch) {
            insert_calls(&mut tx, chunk, &mut inserted)
                .await
                .map_err(fail)?;
        }
        let fresh: Vec<&CallRecord> = batch
            .iter()
            .filter(|r| inserted.contains(&r.id.to_string()))
            .collect();
        for chunk in chunks(&fresh) {
            insert_bodies(&mut tx, chunk).await.map_err(fail)?;
        }
        for delta in session_deltas(&fresh).into_values() {
            upsert_session(&mut tx, &delta).await.map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }
}

/// Cuts `items` into chunks whose lengths come from [`CHUNK_SIZES`], largest first.
fn chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES.into_iter().find(|&n| n <= items.len())?;
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

/// Inserts calls not already stored and collects the ids that were new.
async fn insert_calls(
    conn: &mut SqliteConnection,
    chunk: &[CallRecord],
    inserted: &mut HashSet<String>,
) -> sqlx::Result<()> {
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO calls (id, org_id, key_id, created_at, response_created_at, latency_ms, \
         time_to_first_token_ms, provider, target_url, request_path, method, status, is_stream, \
         request_model, response_model, pricing_model, prompt_tokens, completion_tokens, \
         cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, \
         audio_input_tokens, audio_output_tokens, usage_source, cost_nano, session_id, \
         session_path, session_name, user_id, prompt_id, properties, error, kind) ",
    );
    q.push_values(chunk, |mut row, r| {
        let u = &r.usage;
        row.push_bind(r.id.to_string())
            .push_bind(&r.org_id)
            .push_bind(&r.key_id)
            .push_bind(r.created_at_ms)
            .push_bind(r.response_created_at_ms)
            .push_bind(r.latency_ms)
            .push_bind(r.time_to_first_token_ms)
            .push_bind(&r.provider)
            .push_bind(&r.target_url)
            .push_bind(&r.request_path)
            .push_bind(&r.method)
            .push_bind(r.status)
            .push_bind(r.is_stream)
            .push_bind(&r.request_model)
            .push_bind(&r.response_model)
            .push_bind(&r.pricing_model)
            .push_bind(to_i64(u.prompt_tokens))
            .push_bind(to_i64(u.completion_tokens))
            .push_bind(to_i64(u.cache_read_tokens))
            .push_bind(to_i64(u.cache_write_tokens))
            .push_bind(to_i64(u.cache_write_1h_tokens))
            .push_bind(to_i64(u.reasoning_tokens))
            .push_bind(to_i64(u.audio_input_tokens))
            .push_bind(to_i64(u.audio_output_tokens))
            .push_bind(r.usage_source.as_str())
            .push_bind(r.cost_nano_usd)
            .push_bind(&r.session_id)
            .push_bind(&r.session_path)
            .push_bind(&r.session_name)
            .push_bind(&r.user_id)
            .push_bind(&r.prompt_id)
            .push_bind(json_text(&r.properties))
            .push_bind(&r.error)
            .push_bind(r.kind.as_str());
    });
    q.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
    let ids: Vec<(String,)> = q.build_query_as().fetch_all(conn).await?;
    inserted.extend(ids.into_iter().map(|(id,)| id));
    Ok(())
}

async fn insert_bodies(conn: &mut SqliteConnection, chunk: &[&CallRecord]) -> sqlx::Result<()> {
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO call_bodies (id, request_body, request_truncated, request_omitted, \
         response_body, response_truncated, response_omitted, request_headers) ",
    );
    q.push_values(chunk, |mut row, r| {
        row.push_bind(r.id.to_string())
            .push_bind(&r.request_body.text)
            .push_bind(r.request_body.truncated)
            .push_bind(r.request_body.omitted)
            .push_bind(&r.response_body.text)
            .push_bind(r.response_body.truncated)
            .push_bind(r.response_body.omitted)
            .push_bind(json_text(&r.request_headers));
    });
    q.push(" ON CONFLICT (id) DO NOTHING");
    q.build().execute(conn).await?;
    Ok(())
}

/// What one batch adds to one session.
#[derive(Debug, Default)]
struct SessionDelta<'a> {
    org_id: &'a str,
    session_id: &'a str,
    name: Option<&'a str>,
    name_at: i64,
    first_request_at: i64,
    last_request_at: i64,
    last_response_at: i64,
    request_count: i64,
    error_count: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_nano: i64,
    unpriced_count: i64,
    latency_sum_ms: i64,
    user_ids: Vec<&'a str>,
}

fn session_deltas<'a>(calls: &[&'a CallRecord]) -> HashMap<(&'a str, &'a str), SessionDelta<'a>> {
    let mut deltas: HashMap<(&str, &str), SessionDelta<'a>> = HashMap::new();
    for &r in calls {
        let Some(session_id) = r.session_id.as_deref() else {
            continue;
        };
        let d = deltas
            .entry((&r.org_id, session_id))
            .or_insert_with(|| SessionDelta {
                org_id: &r.org_id,
                session_id,
                first_request_at: i64::MAX,
                last_request_at: i64::MIN,
                last_response_at: i64::MIN,
                ..SessionDelta::default()
            });
        if let Some(name) = r.session_name.as_deref().filter(|n| !n.is_empty())
            && (d.name.is_none() || r.created_at_ms >= d.name_at)
        {
            d.name = Some(name);
            d.name_at = r.created_at_ms;
        }
        let ended = r.response_created_at_ms.unwrap_or(r.created_at_ms);
        d.first_request_at = d.first_request_at.min(r.created_at_ms);
        d.last_request_at = d.last_request_at.max(r.created_at_ms);
        d.last_response_at = d.last_response_at.max(ended);
        d.request_count += 1;
        d.error_count += i64::from(r.is_error());
        d.prompt_tokens += to_i64(r.usage.prompt_tokens);
        d.completion_tokens += to_i64(r.usage.completion_tokens);
        match r.cost_nano_usd {
            Some(cost) => d.cost_nano += cost,
            // Unpriced means a model call whose model has no price; a tool step or a call
            // that names no model has no price to miss.
            None if r.is_unpriced_model_call() => d.unpriced_count += 1,
            None => {}
        }
        d.latency_sum_ms += r.latency_ms.unwrap_or(0);
        if let Some(user) = r.user_id.as_deref().filter(|u| !u.is_empty())
            && !d.user_ids.contains(&user)
        {
            d.user_ids.push(user);
        }
    }
    deltas
}

async fn upsert_session(conn: &mut SqliteConnection, d: &SessionDelta<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (org_id, session_id, name, name_at, first_request_at, \
         last_request_at, last_response_at, request_count, error_count, prompt_tokens, \
         completion_tokens, cost_nano, unpriced_count, latency_sum_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (org_id, session_id) DO UPDATE SET \
         name = CASE WHEN excluded.name IS NOT NULL AND (sessions.name IS NULL OR excluded.name_at >= sessions.name_at) \
                THEN excluded.name ELSE sessions.name END, \
         name_at = CASE WHEN excluded.name IS NOT NULL AND (sessions.name IS NULL OR excluded.name_at >= sessions.name_at) \
                THEN excluded.name_at ELSE sessions.name_at END, \
         first_request_at = min(sessions.first_request_at, excluded.first_request_at), \
         last_request_at = max(sessions.last_request_at, excluded.last_request_at), \
         last_response_at = max(sessions.last_response_at, excluded.last_response_at), \
         request_count = sessions.request_count + excluded.request_count, \
         error_count = sessions.error_count + excluded.error_count, \
         prompt_tokens = sessions.prompt_tokens + excluded.prompt_tokens, \
         completion_tokens = sessions.completion_tokens + excluded.completion_tokens, \
         cost_nano = sessions.cost_nano + excluded.cost_nano, \
         unpriced_count = sessions.unpriced_count + excluded.unpriced_count, \
         latency_sum_ms = sessions.latency_sum_ms + excluded.latency_sum_ms",
    )
    .bind(d.org_id)
    .bind(d.session_id)
    .bind(d.name)
    .bind(d.name.map(|_| d.name_at))
    .bind(d.first_request_at)
    .bind(d.last_request_at)
    .bind(d.last_response_at)
    .bind(d.request_count)
    .bind(d.error_count)
    .bind(d.prompt_tokens)
    .bind(d.completion_tokens)
    .bind(d.cost_nano)
    .bind(d.unpriced_count)
    .bind(d.latency_sum_ms)
    .execute(&mut *conn)
    .await?;
    for user in &d.user_ids {
        sqlx::query(
            "INSERT OR IGNORE INTO session_users (org_id, session_id, user_id) VALUES (?, ?, ?)",
        )
        .bind(d.org_id)
        .bind(d.session_id)
        .bind(user)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Token counts are far below `i64::MAX`; saturate rather than wrap if one ever is not.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn json_text(map: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}
