//! The write side: one transaction per batch for calls, bodies and session totals.
//!
//! Calls and bodies go in with one binary `COPY` each ([`copy`]), whatever the batch size.
//! A batch that holds a call already stored (a replayed spool, a repeated call, a caller's
//! reused id) goes in with one `INSERT … SELECT FROM UNNEST(arrays) ON CONFLICT DO NOTHING`
//! each instead, and only the calls it inserted count towards their sessions. Rows are inserted in (organisation, id) order and sessions are upserted in
//! (organisation, session) order, so that two gateways writing overlapping batches lock rows in
//! the same order and do not deadlock.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord, Usage};
use canopy_store::sql::sessions::{self, count};
use canopy_store::sql::{CHUNK_SIZES, chunks, json_text};
use canopy_store::{Ingest, Result, StoreError, ids};
use sqlx::{PgConnection, Row};

use crate::PostgresStore;
use crate::copy;
use crate::dialect::{DIALECT, query};
use crate::partition::{self, month_of};

#[async_trait]
impl Ingest for PostgresStore {
    #[tracing::instrument(skip_all, fields(rows = batch.len()))]
    async fn write(&self, batch: &[CallRecord]) -> Result<()> {
        let fail = |source: sqlx::Error| StoreError::Write {
            rows: batch.len(),
            source: source.into(),
        };
        self.ensure_partitions(batch).await.map_err(fail)?;
        match self.write_once(batch, Path::Copy).await {
            Err(e) if copy::is_unique_violation(&e) => {
                // Some call was stored already: write the batch again, skipping what is there.
                self.write_once(batch, Path::Idempotent).await
            }
            written => written,
        }
        .map_err(fail)
    }

    /// Four: a batch's transaction spends much of its time waiting (for the next `COPY`
    /// message, a round trip, the lock on a session the batch before it shares), and with
    /// two in flight the server sat idle about half the time. Four kept it busy and wrote
    /// 1.2–1.6× as many records per second in the same runs; six and eight gained nothing
    /// more and take more of the pool's connections from readers (BENCHMARKS.md).
    fn batches_in_flight(&self) -> usize {
        4
    }
}

/// How a batch's calls and bodies are inserted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Binary `COPY`, when the batch gives no sign of holding a stored call ([`copy`]); a key
    /// already stored fails the transaction with a unique violation.
    Copy,
    /// `INSERT … ON CONFLICT DO NOTHING`, which skips stored calls and counts only new ones.
    Idempotent,
}

impl PostgresStore {
    /// Writes `batch` in one transaction along `path` (or the idempotent path, when the batch
    /// itself shows that `COPY` would fail).
    async fn write_once(&self, batch: &[CallRecord], path: Path) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        let stored = stored_starts(&mut tx, &ids::caller_chosen(batch)).await?;
        let batch = ids::resolve(batch, &stored);
        let batch = without_nul(&batch);
        let mut sorted: Vec<&CallRecord> = batch.iter().collect();
        sorted.sort_by(|a, b| (&a.org_id, a.id).cmp(&(&b.org_id, b.id)));
        let repeated = sorted.windows(2).any(|w| {
            (&w[0].org_id, w[0].id, w[0].created_at_ms)
                == (&w[1].org_id, w[1].id, w[1].created_at_ms)
        });
        let fresh = if path == Path::Copy && stored.is_empty() && !repeated {
            copy::copy_new(&mut tx, &sorted).await?;
            sorted
        } else {
            let mut inserted = insert_calls(&mut tx, &sorted).await?;
            // A call repeated within the batch was inserted once; it counts once.
            let fresh: Vec<&CallRecord> = sorted
                .into_iter()
                .filter(|r| inserted.remove(&(r.org_id.clone(), r.id.to_string(), r.created_at_ms)))
                .collect();
            insert_bodies(&mut tx, &fresh).await?;
            fresh
        };
        let deltas = sessions::session_deltas(fresh.iter().copied());
        for chunk in chunks(&deltas, &CHUNK_SIZES) {
            let upsert = sessions::upsert(&DIALECT, chunk);
            query(&upsert).execute(&mut *tx).await?;
            if let Some(users) = sessions::insert_users(&DIALECT, chunk) {
                query(&users).execute(&mut *tx).await?;
            }
        }
        tx.commit().await
    }
}

impl PostgresStore {
    /// Creates the monthly partitions the batch needs that are not known to exist.
    async fn ensure_partitions(&self, batch: &[CallRecord]) -> sqlx::Result<()> {
        let missing: BTreeSet<i64> = {
            let known = self
                .months
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            batch
                .iter()
                .map(|r| month_of(r.created_at_ms))
                .filter(|m| !known.contains(m))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        partition::ensure(&self.pool, &missing).await?;
        self.months
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(missing);
        Ok(())
    }

    /// Forgets which partitions exist, after retention dropped some.
    pub(crate) fn forget_partitions(&self) {
        self.months
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// The start of every stored call among `keys` (caller-chosen ids of a batch).
async fn stored_starts(
    conn: &mut PgConnection,
    keys: &[(&str, CallId)],
) -> sqlx::Result<HashMap<(String, CallId), i64>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let orgs: Vec<&str> = keys.iter().map(|(org, _)| *org).collect();
    let ids: Vec<String> = keys.iter().map(|(_, id)| id.to_string()).collect();
    let rows = sqlx::query(
        "SELECT c.org_id, c.id, c.created_at FROM calls c \
         JOIN UNNEST($1::text[], $2::text[]) AS k(org_id, id) \
         ON c.org_id = k.org_id AND c.id = k.id",
    )
    .bind(&orgs)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut stored = HashMap::new();
    for row in rows {
        let id: String = row.get(1);
        if let Some(id) = CallId::parse(&id) {
            stored.insert((row.get(0), id), row.get(2));
        }
    }
    Ok(stored)
}

/// A call's eight token counts as stored, in the order of their columns in `calls`
/// (`prompt_tokens` … `audio_output_tokens`), for both write paths.
pub(crate) fn token_counts(u: &Usage) -> [i64; 8] {
    [
        u.prompt_tokens,
        u.completion_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens,
        u.cache_write_1h_tokens,
        u.reasoning_tokens,
        u.audio_input_tokens,
        u.audio_output_tokens,
    ]
    .map(count)
}

/// The columns of one batch of calls, as arrays for `UNNEST`.
#[derive(Default)]
struct CallColumns<'a> {
    id: Vec<String>,
    org_id: Vec<&'a str>,
    key_id: Vec<Option<&'a str>>,
    created_at: Vec<i64>,
    response_created_at: Vec<Option<i64>>,
    latency_ms: Vec<Option<i64>>,
    ttft_ms: Vec<Option<i64>>,
    provider: Vec<&'a str>,
    target_url: Vec<&'a str>,
    request_path: Vec<&'a str>,
    method: Vec<&'a str>,
    status: Vec<i32>,
    is_stream: Vec<bool>,
    request_model: Vec<Option<&'a str>>,
    response_model: Vec<Option<&'a str>>,
    pricing_model: Vec<Option<&'a str>>,
    tokens: [Vec<i64>; 8],
    usage_source: Vec<&'static str>,
    cost_nano: Vec<Option<i64>>,
    session_id: Vec<Option<&'a str>>,
    session_path: Vec<Option<&'a str>>,
    session_name: Vec<Option<&'a str>>,
    user_id: Vec<Option<&'a str>>,
    prompt_id: Vec<Option<&'a str>>,
    properties: Vec<String>,
    error: Vec<Option<&'a str>>,
    kind: Vec<&'static str>,
}

/// Inserts calls not already stored; returns the (organisation, id, start) of those that were.
async fn insert_calls(
    conn: &mut PgConnection,
    calls: &[&CallRecord],
) -> sqlx::Result<HashSet<(String, String, i64)>> {
    if calls.is_empty() {
        return Ok(HashSet::new());
    }
    let mut c = CallColumns::default();
    for r in calls {
        c.id.push(r.id.to_string());
        c.org_id.push(&r.org_id);
        c.key_id.push(r.key_id.as_deref());
        c.created_at.push(r.created_at_ms);
        c.response_created_at.push(r.response_created_at_ms);
        c.latency_ms.push(r.latency_ms);
        c.ttft_ms.push(r.time_to_first_token_ms);
        c.provider.push(&r.provider);
        c.target_url.push(&r.target_url);
        c.request_path.push(&r.request_path);
        c.method.push(&r.method);
        c.status.push(r.status);
        c.is_stream.push(r.is_stream);
        c.request_model.push(r.request_model.as_deref());
        c.response_model.push(r.response_model.as_deref());
        c.pricing_model.push(r.pricing_model.as_deref());
        for (column, n) in c.tokens.iter_mut().zip(token_counts(&r.usage)) {
            column.push(n);
        }
        c.usage_source.push(r.usage_source.as_str());
        c.cost_nano.push(r.cost_nano_usd);
        c.session_id.push(r.session_id.as_deref());
        c.session_path.push(r.session_path.as_deref());
        c.session_name.push(r.session_name.as_deref());
        c.user_id.push(r.user_id.as_deref());
        c.prompt_id.push(r.prompt_id.as_deref());
        c.properties.push(json_text(&r.properties));
        c.error.push(r.error.as_deref());
        c.kind.push(r.kind.as_str());
    }
    let [t0, t1, t2, t3, t4, t5, t6, t7] = &c.tokens;
    let rows = sqlx::query(
        "INSERT INTO calls (id, org_id, key_id, created_at, response_created_at, latency_ms, \
         time_to_first_token_ms, provider, target_url, request_path, method, status, is_stream, \
         request_model, response_model, pricing_model, prompt_tokens, completion_tokens, \
         cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, \
         audio_input_tokens, audio_output_tokens, usage_source, cost_nano, session_id, \
         session_path, session_name, user_id, prompt_id, properties, error, kind) \
         SELECT id, org_id, key_id, created_at, response_created_at, latency_ms, ttft, provider, \
         target_url, request_path, method, status, is_stream, request_model, response_model, \
         pricing_model, t0, t1, t2, t3, t4, t5, t6, t7, usage_source, cost_nano, session_id, \
         session_path, session_name, user_id, prompt_id, properties::jsonb, error, kind \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], \
         $7::int8[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int4[], $13::bool[], \
         $14::text[], $15::text[], $16::text[], $17::int8[], $18::int8[], $19::int8[], \
         $20::int8[], $21::int8[], $22::int8[], $23::int8[], $24::int8[], $25::text[], \
         $26::int8[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[], \
         $32::text[], $33::text[], $34::text[]) \
         AS u(id, org_id, key_id, created_at, response_created_at, latency_ms, ttft, provider, \
         target_url, request_path, method, status, is_stream, request_model, response_model, \
         pricing_model, t0, t1, t2, t3, t4, t5, t6, t7, usage_source, cost_nano, session_id, \
         session_path, session_name, user_id, prompt_id, properties, error, kind) \
         ON CONFLICT (org_id, id, created_at) DO NOTHING RETURNING org_id, id, created_at",
    )
    .bind(&c.id)
    .bind(&c.org_id)
    .bind(&c.key_id)
    .bind(&c.created_at)
    .bind(&c.response_created_at)
    .bind(&c.latency_ms)
    .bind(&c.ttft_ms)
    .bind(&c.provider)
    .bind(&c.target_url)
    .bind(&c.request_path)
    .bind(&c.method)
    .bind(&c.status)
    .bind(&c.is_stream)
    .bind(&c.request_model)
    .bind(&c.response_model)
    .bind(&c.pricing_model)
    .bind(t0)
    .bind(t1)
    .bind(t2)
    .bind(t3)
    .bind(t4)
    .bind(t5)
    .bind(t6)
    .bind(t7)
    .bind(&c.usage_source)
    .bind(&c.cost_nano)
    .bind(&c.session_id)
    .bind(&c.session_path)
    .bind(&c.session_name)
    .bind(&c.user_id)
    .bind(&c.prompt_id)
    .bind(&c.properties)
    .bind(&c.error)
    .bind(&c.kind)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

async fn insert_bodies(conn: &mut PgConnection, calls: &[&CallRecord]) -> sqlx::Result<()> {
    if calls.is_empty() {
        return Ok(());
    }
    let org_id: Vec<&str> = calls.iter().map(|r| r.org_id.as_str()).collect();
    let id: Vec<String> = calls.iter().map(|r| r.id.to_string()).collect();
    let created_at: Vec<i64> = calls.iter().map(|r| r.created_at_ms).collect();
    let request: Vec<Option<&str>> = calls
        .iter()
        .map(|r| r.request_body.text.as_deref())
        .collect();
    let request_truncated: Vec<bool> = calls.iter().map(|r| r.request_body.truncated).collect();
    let request_omitted: Vec<bool> = calls.iter().map(|r| r.request_body.omitted).collect();
    let response: Vec<Option<&str>> = calls
        .iter()
        .map(|r| r.response_body.text.as_deref())
        .collect();
    let response_truncated: Vec<bool> = calls.iter().map(|r| r.response_body.truncated).collect();
    let response_omitted: Vec<bool> = calls.iter().map(|r| r.response_body.omitted).collect();
    let headers: Vec<String> = calls
        .iter()
        .map(|r| json_text(&r.request_headers))
        .collect();
    sqlx::query(
        "INSERT INTO call_bodies (org_id, id, created_at, request_body, request_truncated, \
         request_omitted, response_body, response_truncated, response_omitted, request_headers) \
         SELECT org_id, id, created_at, request_body, request_truncated, request_omitted, \
         response_body, response_truncated, response_omitted, request_headers::jsonb \
         FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::bool[], $6::bool[], \
         $7::text[], $8::bool[], $9::bool[], $10::text[]) \
         AS u(org_id, id, created_at, request_body, request_truncated, request_omitted, \
         response_body, response_truncated, response_omitted, request_headers) \
         ON CONFLICT (org_id, id, created_at) DO NOTHING",
    )
    .bind(&org_id)
    .bind(&id)
    .bind(&created_at)
    .bind(&request)
    .bind(&request_truncated)
    .bind(&request_omitted)
    .bind(&response)
    .bind(&response_truncated)
    .bind(&response_omitted)
    .bind(&headers)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The batch with every NUL character replaced by U+FFFD: PostgreSQL's `text` and `jsonb`
/// cannot hold NUL, and a hostile body must not make a whole batch unwritable.
fn without_nul(batch: &[CallRecord]) -> Cow<'_, [CallRecord]> {
    if !batch.iter().any(has_nul) {
        return Cow::Borrowed(batch);
    }
    Cow::Owned(
        batch
            .iter()
            .map(|r| {
                if !has_nul(r) {
                    return r.clone();
                }
                // Every string of the record, map keys included, is a string of its JSON value.
                serde_json::to_value(r)
                    .ok()
                    .map(replace_nul)
                    .and_then(|value| serde_json::from_value(value).ok())
                    .unwrap_or_else(|| r.clone())
            })
            .collect(),
    )
}

fn replace_nul(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let clean = |s: String| s.replace('\0', "\u{FFFD}");
    match value {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(replace_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (clean(k), replace_nul(v)))
                .collect(),
        ),
        other => other,
    }
}

fn has_nul(r: &CallRecord) -> bool {
    let text = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains('\0'));
    let map = |m: &std::collections::BTreeMap<String, String>| {
        m.iter().any(|(k, v)| k.contains('\0') || v.contains('\0'))
    };
    [
        &r.provider,
        &r.target_url,
        &r.request_path,
        &r.method,
        &r.org_id,
    ]
    .iter()
    .any(|s| s.contains('\0'))
        || [
            &r.key_id,
            &r.request_model,
            &r.response_model,
            &r.pricing_model,
            &r.session_id,
            &r.session_path,
            &r.session_name,
            &r.user_id,
            &r.prompt_id,
            &r.error,
            &r.request_body.text,
            &r.response_body.text,
        ]
        .into_iter()
        .any(text)
        || map(&r.properties)
        || map(&r.request_headers)
}
