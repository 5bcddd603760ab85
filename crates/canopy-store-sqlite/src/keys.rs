//! Organisations and their keys (hashes only).

use async_trait::async_trait;
use canopy_core::CallId;
use canopy_store::keys::{ActiveKey, KeyRow, Keys};
use canopy_store::now_ms;
use canopy_store::{Result, StoreError};
use sqlx::Row;

use crate::SqliteStore;

fn err(source: sqlx::Error) -> StoreError {
    StoreError::Write {
        rows: 1,
        source: source.into(),
    }
}

#[async_trait]
impl Keys for SqliteStore {
    async fn insert_key(&self, org_name: &str, hash: &str, prefix: &str) -> Result<KeyRow> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(err)?;
        let now = now_ms();
        sqlx::query("INSERT OR IGNORE INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
            .bind(CallId::new().to_string())
            .bind(org_name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let org_id: String = sqlx::query_scalar("SELECT id FROM orgs WHERE name = ?")
            .bind(org_name)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        let id = CallId::new().to_string();
        sqlx::query("INSERT INTO api_keys (id, org_id, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?, ?)")
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
        .fetch_all(&self.readers)
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
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&self.writer)
                .await
                .map_err(err)?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM api_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.readers)
            .await
            .map_err(err)?;
        Ok(exists.is_some())
    }

    async fn active_keys(&self) -> Result<Vec<ActiveKey>> {
        let rows =
            sqlx::query("SELECT key_hash, id, org_id FROM api_keys WHERE revoked_at IS NULL")
                .fetch_all(&self.readers)
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
            .fetch_one(&self.readers)
            .await
            .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
