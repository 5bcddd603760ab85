//! Organisations and their keys (hashes only).

use async_trait::async_trait;
use canopy_core::CallId;
use canopy_store::keys::{ActiveKey, KeyRow, Keys};
use canopy_store::{Result, StoreError, now_ms};
use sqlx::Row;

use crate::PostgresStore;
use crate::dialect::text;

fn err(source: sqlx::Error) -> StoreError {
    StoreError::Write {
        rows: 1,
        source: source.into(),
    }
}

#[async_trait]
impl Keys for PostgresStore {
    async fn insert_key(&self, org_name: &str, hash: &str, prefix: &str) -> Result<KeyRow> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let now = now_ms();
        // Two gateways creating the first key of one organisation at once share it.
        sqlx::query(
            "INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(CallId::new().to_string())
        .bind(text(org_name))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let org_id: String = sqlx::query_scalar("SELECT id FROM orgs WHERE name = $1")
            .bind(text(org_name))
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        let id = CallId::new().to_string();
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, key_hash, key_prefix, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&org_id)
        .bind(hash)
        .bind(prefix)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(KeyRow {
            id,
            org_id,
            org_name: org_name.to_owned(),
            prefix: prefix.to_owned(),
            created_at_ms: now,
            revoked_at_ms: None,
        })
    }

    async fn list_keys(&self) -> Result<Vec<KeyRow>> {
        let rows = sqlx::query(
            "SELECT k.id, k.org_id, o.name, k.key_prefix, k.created_at, k.revoked_at \
             FROM api_keys k JOIN orgs o ON o.id = k.org_id ORDER BY k.created_at DESC, k.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| KeyRow {
                id: r.get(0),
                org_id: r.get(1),
                org_name: r.get(2),
                prefix: r.get(3),
                created_at_ms: r.get(4),
                revoked_at_ms: r.get(5),
            })
            .collect())
    }

    async fn revoke_key(&self, id: &str) -> Result<bool> {
        let found: Option<i32> = sqlx::query_scalar(
            "WITH revoked AS (UPDATE api_keys SET revoked_at = $1 \
             WHERE id = $2 AND revoked_at IS NULL) SELECT 1 FROM api_keys WHERE id = $2",
        )
        .bind(now_ms())
        .bind(text(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(found.is_some())
    }

    async fn active_keys(&self) -> Result<Vec<ActiveKey>> {
        let rows =
            sqlx::query("SELECT key_hash, id, org_id FROM api_keys WHERE revoked_at IS NULL")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| ActiveKey {
                hash: r.get(0),
                key_id: r.get(1),
                org_id: r.get(2),
            })
            .collect())
    }

    async fn keys_ever_created(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
