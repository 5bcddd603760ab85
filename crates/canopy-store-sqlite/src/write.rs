//! The write side: one transaction per batch for calls, bodies and session totals.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord};
use canopy_store::sql::sessions::{self, count};
use canopy_store::sql::{CHUNK_SIZES, chunks};
use canopy_store::{Ingest, Result, StoreError, ids};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::SqliteStore;
use crate::dialect::{DIALECT, query};

#[async_trait]
impl Ingest for SqliteStore {
    #[tracing::instrument(skip_all, fields(rows = batch.len()))]
    async fn write(&self, batch: &[CallRecord]) -> Result<()> {
        let fail = |source: sqlx::Error| StoreError::Write {
            rows: batch.len(),
            source: source.into(),
        };
        let mut tx = self.writer.begin().await.map_err(fail)?;
        let stored = stored_starts(&mut tx, &ids::caller_chosen(batch))
            .await
            .map_err(fail)?;
        let batch = ids::resolve(batch, &stored);
        let mut inserted = HashSet::with_capacity(batch.len());
        for chunk in chunks(&batch, &CHUNK_SIZES) {
            insert_calls(&mut tx, chunk, &mut inserted)
                .await
                .map_err(fail)?;
        }
        // A call repeated within the batch was inserted once; it counts once.
        let fresh: Vec<&CallRecord> = batch
            .iter()
            .filter(|r| inserted.remove(&(r.org_id.clone(), r.id.text())))
            .collect();
        for chunk in chunks(&fresh, &CHUNK_SIZES) {
            insert_bodies(&mut tx, chunk).await.map_err(fail)?;
        }
        let deltas = sessions::session_deltas(fresh.iter().copied());
        for chunk in chunks(&deltas, &CHUNK_SIZES) {
            let upsert = sessions::upsert(&DIALECT, chunk);
            query(&upsert).execute(&mut *tx).await.map_err(fail)?;
            if let Some(users) = sessions::insert_users(&DIALECT, chunk) {
                query(&users).execute(&mut *tx).await.map_err(fail)?;
            }
        }
        tx.commit().await.map_err(fail)
    }
}

/// The start of every stored call among `keys` (caller-chosen ids of a batch).
async fn stored_starts(
    conn: &mut SqliteConnection,
    keys: &[(&str, CallId)],
) -> sqlx::Result<HashMap<(String, CallId), i64>> {
    let mut stored = HashMap::new();
    for chunk in keys.chunks(256) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT org_id, id, created_at FROM calls WHERE (org_id, id) IN (VALUES ",
        );
        let mut list = q.separated(", ");
        for (org, id) in chunk {
            list.push("(")
                .push_bind_unseparated(*org)
                .push_unseparated(", ")
                .push_bind_unseparated(id.text())
                .push_unseparated(")");
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let id: String = row.get(1);
            if let Some(id) = CallId::parse(&id) {
                stored.insert((row.get(0), id), row.get(2));
            }
        }
    }
    Ok(stored)
}

/// Inserts calls not already stored and collects the (organisation, id) of those that were new.
async fn insert_calls(
    conn: &mut SqliteConnection,
    chunk: &[CallRecord],
    inserted: &mut HashSet<(String, String)>,
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
        row.push_bind(r.id.text())
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
            .push_bind(count(u.prompt_tokens))
            .push_bind(count(u.completion_tokens))
            .push_bind(count(u.cache_read_tokens))
            .push_bind(count(u.cache_write_tokens))
            .push_bind(count(u.cache_write_1h_tokens))
            .push_bind(count(u.reasoning_tokens))
            .push_bind(count(u.audio_input_tokens))
            .push_bind(count(u.audio_output_tokens))
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
    q.push(" ON CONFLICT (org_id, id) DO NOTHING RETURNING org_id, id");
    let keys: Vec<(String, String)> = q.build_query_as().fetch_all(conn).await?;
    inserted.extend(keys);
    Ok(())
}

async fn insert_bodies(conn: &mut SqliteConnection, chunk: &[&CallRecord]) -> sqlx::Result<()> {
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO call_bodies (org_id, id, request_body, request_truncated, request_omitted, \
         response_body, response_truncated, response_omitted, request_headers) ",
    );
    q.push_values(chunk, |mut row, r| {
        row.push_bind(&r.org_id)
            .push_bind(r.id.text())
            .push_bind(&r.request_body.text)
            .push_bind(r.request_body.truncated)
            .push_bind(r.request_body.omitted)
            .push_bind(&r.response_body.text)
            .push_bind(r.response_body.truncated)
            .push_bind(r.response_body.omitted)
            .push_bind(json_text(&r.request_headers));
    });
    q.push(" ON CONFLICT (org_id, id) DO NOTHING");
    q.build().execute(conn).await?;
    Ok(())
}

fn json_text(map: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}
