//! The write side: a batch's new calls and bodies, each in one insert.
//!
//! A batch is written in three steps:
//! 1. the caller-chosen ids it carries are looked up, and a reused one gets a fresh id
//!    (`canopy_store::ids`);
//! 2. the calls the store already holds are found and left out, as is a call repeated
//!    within the batch, so that a replayed spool writes nothing twice;
//! 3. the bodies, then the calls are inserted. The insert of calls also adds their sessions'
//!    totals, through the materialized view `session_totals_mv`: both land together or not at
//!    all, so no failure between two statements can leave a session counting calls it does not
//!    hold, or missing calls it does.
//!
//! Each insert carries a deduplication token made from the calls it holds, so an insert that
//! is retried after its answer was lost is dropped by ClickHouse instead of counted again.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord};
use canopy_store::sql::sessions::count;
use canopy_store::{Ingest, Result, ids};
use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use crate::dialect::sql;
use crate::{ClickHouseStore, write_err};

/// The columns of `call_log` a [`CallRow`] fills, in its field order.
pub(crate) const CALL_LOG_COLUMNS: &str = "org_id, id, key_id, created_at, \
    response_created_at, latency_ms, time_to_first_token_ms, provider, target_url, \
    request_path, method, status, is_stream, request_model, response_model, pricing_model, \
    prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, \
    cache_write_1h_tokens, reasoning_tokens, audio_input_tokens, audio_output_tokens, \
    usage_source, cost_nano, session_id, session_path, session_name, user_id, prompt_id, \
    properties, error, kind, is_error, is_unpriced, version, edited";

/// One row of `call_log`, as written and as read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CallRow {
    pub org_id: String,
    pub id: String,
    pub key_id: Option<String>,
    pub created_at: i64,
    pub response_created_at: Option<i64>,
    pub latency_ms: Option<i64>,
    pub time_to_first_token_ms: Option<i64>,
    pub provider: String,
    pub target_url: String,
    pub request_path: String,
    pub method: String,
    pub status: i32,
    pub is_stream: bool,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub pricing_model: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    pub audio_input_tokens: i64,
    pub audio_output_tokens: i64,
    pub usage_source: String,
    pub cost_nano: Option<i64>,
    pub session_id: Option<String>,
    pub session_path: Option<String>,
    pub session_name: Option<String>,
    pub user_id: Option<String>,
    pub prompt_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub error: Option<String>,
    pub kind: String,
    pub is_error: bool,
    pub is_unpriced: bool,
    pub version: u64,
    pub edited: bool,
}

impl CallRow {
    fn new(r: &CallRecord) -> Self {
        let u = &r.usage;
        Self {
            org_id: r.org_id.clone(),
            id: r.id.to_string(),
            key_id: r.key_id.clone(),
            created_at: r.created_at_ms,
            response_created_at: r.response_created_at_ms,
            latency_ms: r.latency_ms,
            time_to_first_token_ms: r.time_to_first_token_ms,
            provider: r.provider.clone(),
            target_url: r.target_url.clone(),
            request_path: r.request_path.clone(),
            method: r.method.clone(),
            status: r.status,
            is_stream: r.is_stream,
            request_model: r.request_model.clone(),
            response_model: r.response_model.clone(),
            pricing_model: r.pricing_model.clone(),
            prompt_tokens: count(u.prompt_tokens),
            completion_tokens: count(u.completion_tokens),
            cache_read_tokens: count(u.cache_read_tokens),
            cache_write_tokens: count(u.cache_write_tokens),
            cache_write_1h_tokens: count(u.cache_write_1h_tokens),
            reasoning_tokens: count(u.reasoning_tokens),
            audio_input_tokens: count(u.audio_input_tokens),
            audio_output_tokens: count(u.audio_output_tokens),
            usage_source: r.usage_source.as_str().to_owned(),
            cost_nano: r.cost_nano_usd,
            session_id: r.session_id.clone(),
            session_path: r.session_path.clone(),
            session_name: r.session_name.clone(),
            user_id: r.user_id.clone(),
            prompt_id: r.prompt_id.clone(),
            properties: r.properties.clone(),
            error: r.error.clone(),
            kind: r.kind.as_str().to_owned(),
            is_error: r.is_error(),
            is_unpriced: r.is_unpriced_model_call(),
            version: 0,
            edited: false,
        }
    }
}

/// The columns of `call_bodies` a [`BodyRow`] fills.
const BODY_COLUMNS: &str = "org_id, id, created_at, request_body, request_truncated, \
    request_omitted, response_body, response_truncated, response_omitted, request_headers";

#[derive(Serialize)]
struct BodyRow<'a> {
    org_id: &'a str,
    id: String,
    created_at: i64,
    request_body: Option<&'a str>,
    request_truncated: bool,
    request_omitted: bool,
    response_body: Option<&'a str>,
    response_truncated: bool,
    response_omitted: bool,
    request_headers: &'a BTreeMap<String, String>,
}

/// (organisation, id, start): what identifies a stored call.
type CallKey = (String, String, i64);

#[async_trait]
impl Ingest for ClickHouseStore {
    #[tracing::instrument(skip_all, fields(rows = batch.len()))]
    async fn write(&self, batch: &[CallRecord]) -> Result<()> {
        let fail = write_err(batch.len());
        let chosen = ids::caller_chosen(batch);
        let stored = self.stored_starts(&chosen).await.map_err(&fail)?;
        let batch = ids::resolve(batch, &stored);
        let present = self.present(&batch).await.map_err(&fail)?;
        let mut seen: HashSet<CallKey> = HashSet::new();
        let fresh: Vec<&CallRecord> = batch
            .iter()
            .filter(|r| {
                let key = (r.org_id.clone(), r.id.to_string(), r.created_at_ms);
                !present.contains(&key) && seen.insert(key)
            })
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let token = token(&fresh);
        let mut bodies = Vec::with_capacity(fresh.len() * 512);
        let mut calls = Vec::with_capacity(fresh.len() * 512);
        for r in &fresh {
            let body = BodyRow {
                org_id: &r.org_id,
                id: r.id.to_string(),
                created_at: r.created_at_ms,
                request_body: r.request_body.text.as_deref(),
                request_truncated: r.request_body.truncated,
                request_omitted: r.request_body.omitted,
                response_body: r.response_body.text.as_deref(),
                response_truncated: r.response_body.truncated,
                response_omitted: r.response_body.omitted,
                request_headers: &r.request_headers,
            };
            json_line(&mut bodies, &body);
            json_line(&mut calls, &CallRow::new(r));
        }
        let client = &self.client;
        client
            .insert(
                "call_bodies",
                BODY_COLUMNS,
                bodies,
                Some(&format!("b-{token}")),
            )
            .await
            .map_err(&fail)?;
        client
            .insert(
                "call_log",
                CALL_LOG_COLUMNS,
                calls,
                Some(&format!("c-{token}")),
            )
            .await
            .map_err(&fail)?;
        Ok(())
    }
}

impl ClickHouseStore {
    /// The start of every stored call among `keys` (caller-chosen ids of a batch).
    async fn stored_starts(
        &self,
        keys: &[(&str, CallId)],
    ) -> std::result::Result<HashMap<(String, CallId), i64>, crate::client::ChError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = sql("SELECT org_id, id, created_at FROM call_log WHERE ");
        push_ids_by_org(&mut q, keys.iter().map(|(org, id)| (*org, id.to_string())));
        let rows: Vec<StoredKey> = self.client.rows(&q).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some(((r.org_id, CallId::parse(&r.id)?), r.created_at)))
            .collect())
    }

    /// Which calls of `batch` the store already holds.
    async fn present(
        &self,
        batch: &[CallRecord],
    ) -> std::result::Result<HashSet<CallKey>, crate::client::ChError> {
        let (Some(first), Some(last)) = (
            batch.iter().map(|r| r.created_at_ms).min(),
            batch.iter().map(|r| r.created_at_ms).max(),
        ) else {
            return Ok(HashSet::new());
        };
        // The time bounds let ClickHouse read only the batch's months and key range.
        let mut q = sql("SELECT org_id, id, created_at FROM call_log WHERE created_at >= ");
        q.bind(first)
            .push(" AND created_at <= ")
            .bind(last)
            .push(" AND ");
        push_ids_by_org(
            &mut q,
            batch.iter().map(|r| (r.org_id.as_str(), r.id.to_string())),
        );
        let rows: Vec<StoredKey> = self.client.rows(&q).await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.org_id, r.id, r.created_at))
            .collect())
    }
}

#[derive(Deserialize)]
struct StoredKey {
    org_id: String,
    id: String,
    created_at: i64,
}

/// `(org_id = o1 AND id IN (…)) OR (org_id = o2 AND id IN (…))`, every value bound.
fn push_ids_by_org<'a>(
    q: &mut canopy_store::sql::Sql<'_>,
    keys: impl Iterator<Item = (&'a str, String)>,
) {
    let mut by_org: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (org, id) in keys {
        by_org.entry(org).or_default().push(id);
    }
    q.push("(");
    for (n, (org, ids)) in by_org.into_iter().enumerate() {
        if n > 0 {
            q.push(" OR ");
        }
        q.push("(org_id = ").bind(org).push(" AND id IN (");
        for (i, id) in ids.into_iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(id);
        }
        q.push("))");
    }
    q.push(")");
}

/// A deduplication token for an insert of `calls`: a hash of the calls it holds, so the same
/// calls give the same token and any other set another.
fn token(calls: &[&CallRecord]) -> String {
    let mut input = Vec::with_capacity(calls.len() * 64);
    for r in calls {
        input.extend_from_slice(r.org_id.as_bytes());
        input.push(0);
        input.extend_from_slice(r.id.to_string().as_bytes());
        input.extend_from_slice(&r.created_at_ms.to_be_bytes());
    }
    digest(&SHA256, &input)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Appends `row` as one JSON line.
pub(crate) fn json_line(out: &mut Vec<u8>, row: &impl Serialize) {
    // Serialising plain rows of strings, numbers and string maps into memory cannot fail.
    if serde_json::to_writer(&mut *out, row).is_ok() {
        out.push(b'\n');
    }
}
