//! Annotations written after the fact: call properties and scores, session feedback and tags.
//!
//! These go through the writer connection directly (they are rare, small, and the caller waits
//! for the answer), not through the batching writer that records calls.

use canopy_store::now_ms;
use std::collections::BTreeMap;

use async_trait::async_trait;
use canopy_core::CallId;
use canopy_store::{Annotate, Result, StoreError};

use crate::SqliteStore;

fn write_err(source: sqlx::Error) -> StoreError {
    StoreError::Write {
        rows: 1,
        source: source.into(),
    }
}

#[async_trait]
impl Annotate for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn set_property(&self, org_id: &str, id: CallId, key: &str, value: &str) -> Result<bool> {
        // Read, change and write the map in one transaction: any key works, quotes included,
        // which a JSON path in SQL could not promise.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(write_err)?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT properties FROM calls WHERE org_id = ? AND id = ?")
                .bind(org_id)
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(write_err)?;
        let Some(stored) = stored else {
            return Ok(false);
        };
        let mut properties: BTreeMap<String, String> =
            serde_json::from_str(&stored).map_err(|e| StoreError::Corrupt {
                what: "call properties",
                reason: e.to_string(),
            })?;
        properties.insert(key.to_owned(), value.to_owned());
        let text = serde_json::to_string(&properties).map_err(|e| StoreError::Corrupt {
            what: "call properties",
            reason: e.to_string(),
        })?;
        sqlx::query("UPDATE calls SET properties = ? WHERE org_id = ? AND id = ?")
            .bind(text)
            .bind(org_id)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(write_err)?;
        tx.commit().await.map_err(write_err)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn set_scores(&self, org_id: &str, id: CallId, scores: &[(String, f64)]) -> Result<bool> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(write_err)?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM calls WHERE org_id = ? AND id = ?")
                .bind(org_id)
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(write_err)?;
        if exists.is_none() {
            return Ok(false);
        }
        for (name, value) in scores {
            sqlx::query(
                "INSERT INTO call_scores (org_id, call_id, name, value, created_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (org_id, call_id, name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            )
            .bind(org_id)
            .bind(id.to_string())
            .bind(name)
            .bind(value)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(write_err)?;
        }
        tx.commit().await.map_err(write_err)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn set_session_feedback(
        &self,
        org_id: &str,
        session_id: &str,
        rating: bool,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE sessions SET feedback = ? WHERE org_id = ? AND session_id = ?")
                .bind(i64::from(rating))
                .bind(org_id)
                .bind(session_id)
                .execute(&self.writer)
                .await
                .map_err(write_err)?;
        Ok(done.rows_affected() > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn add_session_tag(&self, org_id: &str, session_id: &str, tag: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO session_tags (org_id, session_id, tag, created_at) \
             SELECT org_id, session_id, ?, ? FROM sessions WHERE org_id = ? AND session_id = ?",
        )
        .bind(tag)
        .bind(now_ms())
        .bind(org_id)
        .bind(session_id)
        .execute(&self.writer)
        .await
        .map_err(write_err)?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        // Already tagged so, or no such session.
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM sessions WHERE org_id = ? AND session_id = ?")
                .bind(org_id)
                .bind(session_id)
                .fetch_optional(&self.readers)
                .await
                .map_err(write_err)?;
        Ok(exists.is_some())
    }
}
