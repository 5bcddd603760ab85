//! Annotations written after the fact: call properties and scores, session feedback and tags.

use async_trait::async_trait;
use canopy_core::CallId;
use canopy_store::{Annotate, Result, StoreError, now_ms};

use crate::PostgresStore;
use crate::dialect::text;

fn write_err(source: sqlx::Error) -> StoreError {
    StoreError::Write {
        rows: 1,
        source: source.into(),
    }
}

#[async_trait]
impl Annotate for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn set_property(&self, org_id: &str, id: CallId, key: &str, value: &str) -> Result<bool> {
        // `jsonb_build_object` takes the key as a value, so any key works, quotes included.
        let done = sqlx::query(
            "UPDATE calls SET properties = properties || jsonb_build_object($3::text, $4::text) \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id.to_string())
        .bind(text(key))
        .bind(text(value))
        .execute(&self.pool)
        .await
        .map_err(write_err)?;
        Ok(done.rows_affected() > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn set_scores(&self, org_id: &str, id: CallId, scores: &[(String, f64)]) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(write_err)?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM calls WHERE org_id = $1 AND id = $2 LIMIT 1")
                .bind(org_id)
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(write_err)?;
        if exists.is_none() {
            return Ok(false);
        }
        let names: Vec<String> = scores
            .iter()
            .map(|(name, _)| text(name).into_owned())
            .collect();
        let values: Vec<f64> = scores.iter().map(|(_, value)| *value).collect();
        // The last value given for a name wins, as it would one statement at a time.
        sqlx::query(
            "INSERT INTO call_scores (org_id, call_id, name, value, created_at) \
             SELECT DISTINCT ON (name) $1, $2, name, value, $5 \
             FROM UNNEST($3::text[], $4::float8[]) WITH ORDINALITY AS u(name, value, n) \
             ORDER BY name, n DESC \
             ON CONFLICT (org_id, call_id, name) \
             DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
        )
        .bind(org_id)
        .bind(id.to_string())
        .bind(&names)
        .bind(&values)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(write_err)?;
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
            sqlx::query("UPDATE sessions SET feedback = $1 WHERE org_id = $2 AND session_id = $3")
                .bind(rating)
                .bind(org_id)
                .bind(text(session_id))
                .execute(&self.pool)
                .await
                .map_err(write_err)?;
        Ok(done.rows_affected() > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn add_session_tag(&self, org_id: &str, session_id: &str, tag: &str) -> Result<bool> {
        let exists: Option<i32> = sqlx::query_scalar(
            "WITH session AS (SELECT org_id, session_id FROM sessions \
             WHERE org_id = $1 AND session_id = $2), \
             tagged AS (INSERT INTO session_tags (org_id, session_id, tag, created_at) \
             SELECT org_id, session_id, $3, $4 FROM session ON CONFLICT DO NOTHING) \
             SELECT 1 FROM session",
        )
        .bind(org_id)
        .bind(text(session_id))
        .bind(text(tag))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(write_err)?;
        Ok(exists.is_some())
    }
}
