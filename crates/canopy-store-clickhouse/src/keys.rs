//! Organisations and their keys (hashes only).

use async_trait::async_trait;
use canopy_core::CallId;
use canopy_store::keys::{ActiveKey, KeyRow, Keys};
use canopy_store::{Result, StoreError, now_ms};
use serde::{Deserialize, Serialize};

use crate::client::ChError;
use crate::dialect::sql;
use crate::write::json_line;
use crate::{ClickHouseStore, next_version};

fn err(source: ChError) -> StoreError {
    StoreError::Write {
        rows: 1,
        source: source.into(),
    }
}

/// The columns of `api_key_log` a [`KeyLogRow`] fills.
pub(crate) const KEY_COLUMNS: &str =
    "id, org_id, key_hash, key_prefix, created_at, revoked_at, version";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyLogRow {
    pub id: String,
    pub org_id: String,
    pub key_hash: String,
    pub key_prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub version: u64,
}

#[derive(Deserialize)]
struct OrgId {
    id: String,
}

#[async_trait]
impl Keys for ClickHouseStore {
    async fn insert_key(&self, org_name: &str, hash: &str, prefix: &str) -> Result<KeyRow> {
        let now = now_ms();
        let org_id = match self.org_named(org_name).await.map_err(err)? {
            Some(id) => id,
            None => {
                #[derive(Serialize)]
                struct Org<'a> {
                    id: String,
                    name: &'a str,
                    created_at: i64,
                }
                let mut line = Vec::new();
                let org = Org {
                    id: CallId::new().to_string(),
                    name: org_name,
                    created_at: now,
                };
                json_line(&mut line, &org);
                self.client
                    .insert("orgs", "id, name, created_at", line, None)
                    .await
                    .map_err(err)?;
                // Another gateway may have created it at the same moment: the earliest wins.
                self.org_named(org_name)
                    .await
                    .map_err(err)?
                    .unwrap_or(org.id)
            }
        };
        let row = KeyLogRow {
            id: CallId::new().to_string(),
            org_id,
            key_hash: hash.to_owned(),
            key_prefix: prefix.to_owned(),
            created_at: now,
            revoked_at: None,
            version: next_version(),
        };
        self.insert_keys(std::slice::from_ref(&row))
            .await
            .map_err(err)?;
        Ok(KeyRow {
            id: row.id,
            org_id: row.org_id,
            org_name: org_name.to_owned(),
            prefix: row.key_prefix,
            created_at_ms: now,
            revoked_at_ms: None,
        })
    }

    async fn list_keys(&self) -> Result<Vec<KeyRow>> {
        #[derive(Deserialize)]
        struct Listed {
            id: String,
            org_id: String,
            org_name: String,
            key_prefix: String,
            created_at: i64,
            revoked_at: Option<i64>,
        }
        let rows: Vec<Listed> = self
            .client
            .rows(&sql(
                "SELECT k.id AS id, k.org_id AS org_id, o.name AS org_name, \
                 k.key_prefix AS key_prefix, k.created_at AS created_at, \
                 k.revoked_at AS revoked_at FROM api_keys k \
                 INNER JOIN org_names o ON o.id = k.org_id \
                 ORDER BY k.created_at DESC, k.id",
            ))
            .await
            .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|r| KeyRow {
                id: r.id,
                org_id: r.org_id,
                org_name: r.org_name,
                prefix: r.key_prefix,
                created_at_ms: r.created_at,
                revoked_at_ms: r.revoked_at,
            })
            .collect())
    }

    async fn revoke_key(&self, id: &str) -> Result<bool> {
        let mut q = sql(format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = "));
        q.bind(id);
        let rows: Vec<KeyLogRow> = self.client.rows(&q).await.map_err(err)?;
        let Some(mut row) = rows.into_iter().next() else {
            return Ok(false);
        };
        if row.revoked_at.is_none() {
            row.revoked_at = Some(now_ms());
            row.version = next_version().max(row.version + 1);
            self.insert_keys(&[row]).await.map_err(err)?;
        }
        Ok(true)
    }

    async fn active_keys(&self) -> Result<Vec<ActiveKey>> {
        #[derive(Deserialize)]
        struct Active {
            key_hash: String,
            id: String,
            org_id: String,
        }
        let rows: Vec<Active> = self
            .client
            .rows(&sql(
                "SELECT key_hash, id, org_id FROM api_keys WHERE revoked_at IS NULL",
            ))
            .await
            .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|r| ActiveKey {
                hash: r.key_hash,
                key_id: r.id,
                org_id: r.org_id,
            })
            .collect())
    }

    async fn keys_ever_created(&self) -> Result<u64> {
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let row: Count = self
            .client
            .row(&sql("SELECT count() AS n FROM api_keys"))
            .await
            .map_err(err)?;
        Ok(row.n)
    }
}

impl ClickHouseStore {
    /// The id of the organisation named `name`.
    pub(crate) async fn org_named(
        &self,
        name: &str,
    ) -> std::result::Result<Option<String>, ChError> {
        let mut q = sql("SELECT id FROM org_names WHERE name = ");
        q.bind(name);
        let rows: Vec<OrgId> = self.client.rows(&q).await?;
        Ok(rows.into_iter().next().map(|r| r.id))
    }

    pub(crate) async fn insert_keys(&self, rows: &[KeyLogRow]) -> std::result::Result<(), ChError> {
        let mut lines = Vec::new();
        for row in rows {
            json_line(&mut lines, row);
        }
        self.client
            .insert("api_key_log", KEY_COLUMNS, lines, None)
            .await
    }
}
