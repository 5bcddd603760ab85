//! Retention: whole months of calls and bodies go as partitions, the rest of the month that
//! straddles the cutoff with a lightweight `DELETE`; then the scores of the removed calls, and
//! the sessions whose calls are all gone with their tags.

use async_trait::async_trait;
use canopy_store::{Purged, Result, Retain, StoreError};
use serde::Deserialize;

use crate::ClickHouseStore;
use crate::client::ChError;
use crate::dialect::sql;

fn err(source: ChError) -> StoreError {
    StoreError::Write {
        rows: 0,
        source: source.into(),
    }
}

#[derive(Deserialize)]
struct Count {
    n: u64,
}

#[async_trait]
impl Retain for ClickHouseStore {
    #[tracing::instrument(skip_all)]
    async fn purge(&self, before_ms: i64) -> Result<Purged> {
        let count = |text: &str| {
            let mut q = sql(text);
            q.bind(before_ms);
            q
        };
        let calls: Count = self
            .client
            .row(&count("SELECT count() AS n FROM calls WHERE created_at < "))
            .await
            .map_err(err)?;
        let sessions: Count = self
            .client
            .row(&count(
                "SELECT count() AS n FROM sessions WHERE last_request_at < ",
            ))
            .await
            .map_err(err)?;
        if calls.n == 0 && sessions.n == 0 {
            return Ok(Purged::default());
        }
        let on_cluster = self.on_cluster();
        // Scores first, while their calls can still be found.
        self.delete(
            "call_score_log",
            "(org_id, call_id) IN (SELECT org_id, id FROM call_log WHERE created_at < ",
            before_ms,
            ")",
        )
        .await?;
        for table in ["call_log", "call_bodies"] {
            let local = self.local(table);
            // Months wholly before the cutoff's month go whole.
            let mut parts = sql(
                "SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() \
                 AND table = ",
            );
            parts
                .bind(local.as_str())
                .push(" AND active AND toUInt32OrZero(partition_id) < toYYYYMM(fromUnixTimestamp64Milli(")
                .bind(before_ms)
                .push(", 'UTC'))");
            #[derive(Deserialize)]
            struct Part {
                partition_id: String,
            }
            let months: Vec<Part> = self.client.rows(&parts).await.map_err(err)?;
            for month in months {
                // A partition id of a toYYYYMM key is digits only.
                if month.partition_id.chars().all(|c| c.is_ascii_digit()) {
                    let drop = format!(
                        "ALTER TABLE {local}{on_cluster} DROP PARTITION ID '{}'",
                        month.partition_id
                    );
                    self.client.execute(&sql(drop)).await.map_err(err)?;
                }
            }
            self.delete(table, "created_at < ", before_ms, "").await?;
        }
        let gone_sessions = "(org_id, session_id) IN (SELECT org_id, session_id FROM sessions \
                             WHERE last_request_at < ";
        self.delete("session_tag_log", gone_sessions, before_ms, ")")
            .await?;
        self.delete("session_totals", gone_sessions, before_ms, ")")
            .await?;
        Ok(Purged {
            calls: calls.n,
            sessions: sessions.n,
        })
    }

    async fn expire_after(&self, keep: Option<std::time::Duration>) -> Result<()> {
        self.set_ttl(keep).await
    }
}

impl ClickHouseStore {
    /// `DELETE FROM <table> WHERE <head><before_ms><tail>` on the table each node holds.
    async fn delete(&self, table: &str, head: &str, before_ms: i64, tail: &str) -> Result<()> {
        let mut q = sql(format!(
            "DELETE FROM {}{} WHERE {head}",
            self.local(table),
            self.on_cluster()
        ));
        q.bind(before_ms).push(tail);
        self.client.execute(&q).await.map_err(err)
    }
}

/// The data tables that expire rows with `retention_days`.
const EXPIRING: [&str; 2] = ["call_log", "call_bodies"];

/// The TTL expression of a data table that keeps rows `days` days.
fn ttl(days: u64) -> String {
    format!("created + toIntervalDay({days})")
}

impl ClickHouseStore {
    /// The TTL expression of each table that expires rows (calls, then bodies), empty where
    /// there is none.
    pub async fn table_ttls(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Table {
            engine_full: String,
        }
        let mut ttls = Vec::new();
        for table in EXPIRING {
            let mut q = sql(
                "SELECT engine_full FROM system.tables WHERE database = currentDatabase() \
                 AND name = ",
            );
            q.bind(self.local(table).as_str());
            let engine = self.client.rows::<Table>(&q).await.map_err(err)?;
            let engine = engine.first().map_or("", |t| t.engine_full.as_str());
            let ttl = engine
                .split_once(" TTL ")
                .map(|(_, rest)| rest.split(" SETTINGS ").next().unwrap_or(rest).trim())
                .unwrap_or_default();
            ttls.push(ttl.to_owned());
        }
        Ok(ttls)
    }

    /// Sets (or removes) the TTL of the calls and bodies tables where it differs from the one
    /// asked for. Existing parts are not rewritten for it: the hourly purge removes what is
    /// already old, and merges apply the TTL from then on.
    pub(crate) async fn set_ttl(&self, keep: Option<std::time::Duration>) -> Result<()> {
        let want = keep
            .map(|k| ttl(k.as_secs().div_ceil(86_400).max(1)))
            .unwrap_or_default();
        let have = self.table_ttls().await?;
        for (table, have) in EXPIRING.into_iter().zip(have) {
            if have == want {
                continue;
            }
            let local = self.local(table);
            let on_cluster = self.on_cluster();
            let statement = if want.is_empty() {
                format!("ALTER TABLE {local}{on_cluster} REMOVE TTL")
            } else {
                format!(
                    "ALTER TABLE {local}{on_cluster} MODIFY TTL {want} \
                     SETTINGS materialize_ttl_after_modify = 0"
                )
            };
            self.client.execute(&sql(statement)).await.map_err(err)?;
        }
        Ok(())
    }
}
