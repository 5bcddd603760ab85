//! Canopy's store for the call log at volume: ClickHouse, over its HTTP interface.
//!
//! The schema (`migrations/`) follows how LLM call logs are kept in ClickHouse: calls in a
//! `ReplacingMergeTree` partitioned by month and ordered by (organisation, start, id), bodies in
//! a table of their own, skip indexes for sessions, users and properties, `LowCardinality` for
//! the few-valued columns. Nothing is updated in place: a property edit, a score, a revocation
//! or a rating is a new row version, and reads see the latest through views (`FINAL`).
//!
//! Session totals are kept at write time in an `AggregatingMergeTree` ([`write`]): each batch
//! adds one row of deltas per session, computed from the calls the store did not hold yet, so
//! a replayed batch adds nothing; each insert also carries a deduplication token, so an insert
//! retried after a lost answer is dropped by ClickHouse itself.
//!
//! With `?cluster=<name>` in the URL, the migrations create replicated tables and
//! `Distributed` tables in front of them, `ON CLUSTER`; statements that remove rows go to the
//! local tables on every node.
//!
//! Reads are in [`read`] and [`queries`], annotations in [`annotate`], keys in [`keys`],
//! retention in [`retain`], `canopy store copy` in [`transfer`]. Statements shared with the
//! other engines (filters) come from `canopy_store::sql`, spelled in ClickHouse's [`dialect`].

mod annotate;
mod client;
mod dialect;
mod keys;
mod queries;
mod read;
mod retain;
mod suggest;
mod transfer;
mod write;

use async_trait::async_trait;
use canopy_store::migrate::{self, Migration, Migrator};
use canopy_store::{Result, Source, StoreError, redact_url};
use serde::Deserialize;

use crate::client::{ChError, Client, Target};
use crate::dialect::sql;

/// The engine's migrations, oldest first. Never edit a released one; add a new file.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 20261201000000,
    name: "init",
    sql: include_str!("../migrations/20261201000000_init.sql"),
}];

/// An open ClickHouse store.
#[derive(Debug, Clone)]
pub struct ClickHouseStore {
    client: Client,
}

impl ClickHouseStore {
    /// Connects to `url` (`clickhouse://user:password@host:8123/db`, options `secure=true` and
    /// `cluster=<name>`) and migrates the database.
    ///
    /// The database must exist; an unreachable server or a refused login is an error that
    /// names the URL with its password masked, and ClickHouse's error code when it sent one.
    pub async fn connect(url: &str) -> Result<Self> {
        let target = Target::parse(url).map_err(|reason| StoreError::BadUrl {
            url: redact_url(url),
            reason,
        })?;
        let connect_err = |source: ChError| StoreError::Connect {
            url: redact_url(url),
            source: source.into(),
        };
        let client = Client::new(target).map_err(connect_err)?;
        client.ping().await.map_err(connect_err)?;
        let store = Self { client };
        migrate::run(&mut Migrations(&store.client), MIGRATIONS).await?;
        Ok(store)
    }

    /// The schema versions recorded as applied, in order.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        applied(&self.client)
            .await
            .map_err(|source| StoreError::Read {
                what: "schema_migrations",
                source: source.into(),
            })
    }

    /// The table each node holds for `table`: `table_local` on a cluster, else `table`.
    pub(crate) fn local(&self, table: &str) -> String {
        match self.client.target().cluster {
            Some(_) => format!("{table}_local"),
            None => table.to_owned(),
        }
    }

    /// ` ON CLUSTER "<name>"` on a cluster, else nothing.
    pub(crate) fn on_cluster(&self) -> String {
        on_cluster(self.client.target().cluster.as_deref())
    }

    /// Waits for the requests in flight, then refuses every later one.
    pub async fn close(&self) {
        self.client.close().await;
    }
}

fn on_cluster(cluster: Option<&str>) -> String {
    cluster.map_or_else(String::new, |name| format!(" ON CLUSTER \"{name}\""))
}

/// A migration statement with its markers filled in for `cluster`, or `None` when the
/// statement is for clusters only and there is none (see the migration's header).
pub(crate) fn render(statement: &str, cluster: Option<&str>) -> Option<String> {
    let (statement, cluster_only) = match statement.strip_prefix("{cluster_only}") {
        Some(rest) => (rest.trim_start(), true),
        None => (statement, false),
    };
    if cluster_only && cluster.is_none() {
        return None;
    }
    let (local, replicated, name) = match cluster {
        Some(name) => ("_local", "Replicated", format!("'{name}'")),
        None => ("", "", String::new()),
    };
    Some(
        statement
            .replace("{on_cluster}", &on_cluster(cluster))
            .replace("{local}", local)
            .replace("{replicated}", replicated)
            .replace("{cluster}", &name),
    )
}

async fn applied(client: &Client) -> std::result::Result<Vec<i64>, ChError> {
    #[derive(Deserialize)]
    struct Version {
        version: i64,
    }
    let rows: Vec<Version> = client
        .rows(&sql(
            "SELECT DISTINCT version FROM schema_migrations ORDER BY version",
        ))
        .await?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// The migration runner's view of the server. ClickHouse has no transactions and no
/// advisory locks: every statement is idempotent instead, and a version recorded twice by two
/// gateways starting at once reads once.
struct Migrations<'c>(&'c Client);

#[async_trait]
impl Migrator for Migrations<'_> {
    async fn applied(&mut self) -> std::result::Result<Vec<i64>, Source> {
        let cluster = self.0.target().cluster.clone();
        let engine = match cluster {
            Some(_) => "ReplicatedReplacingMergeTree",
            None => "ReplacingMergeTree",
        };
        let create = format!(
            "CREATE TABLE IF NOT EXISTS schema_migrations{} (version Int64, name String, \
             applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = {engine} ORDER BY version",
            on_cluster(cluster.as_deref())
        );
        self.0.execute(&sql(create)).await?;
        Ok(applied(self.0).await?)
    }

    async fn apply(
        &mut self,
        migration: &Migration,
        statements: &[String],
    ) -> std::result::Result<(), Source> {
        let cluster = self.0.target().cluster.clone();
        for statement in statements {
            if let Some(statement) = render(statement, cluster.as_deref()) {
                // Migration text is embedded in the binary, never user input.
                self.0.execute(&sql(statement)).await?;
            }
        }
        let mut record = sql("INSERT INTO schema_migrations (version, name) VALUES (");
        record
            .bind(migration.version)
            .push(", ")
            .bind(migration.name)
            .push(")");
        self.0.execute(&record).await?;
        Ok(())
    }
}

#[async_trait]
impl canopy_store::StoreEngine for ClickHouseStore {
    async fn close(&self) {
        ClickHouseStore::close(self).await;
    }
}

/// A read error for `what`.
pub(crate) fn read_err(what: &'static str) -> impl Fn(ChError) -> StoreError {
    move |source| StoreError::Read {
        what,
        source: source.into(),
    }
}

/// A write error for `rows` rows.
pub(crate) fn write_err(rows: usize) -> impl Fn(ChError) -> StoreError {
    move |source| StoreError::Write {
        rows,
        source: source.into(),
    }
}

/// A version for a row written now: microseconds since the epoch, and always above the last
/// one this process handed out, so that two edits within one microsecond still order.
pub(crate) fn next_version() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_render_for_one_node_and_for_a_cluster() {
        let statements = migrate::statements(MIGRATIONS[0].sql);
        let single: Vec<String> = statements.iter().filter_map(|s| render(s, None)).collect();
        assert!(single.iter().all(|s| !s.contains('{')));
        assert!(single.iter().all(|s| !s.contains("ON CLUSTER")));
        assert!(single.iter().all(|s| !s.contains("Distributed")));
        assert!(
            single
                .iter()
                .any(|s| s.contains("ENGINE = ReplacingMergeTree(version)"))
        );

        let clustered: Vec<String> = statements
            .iter()
            .filter_map(|s| render(s, Some("main")))
            .collect();
        assert!(
            clustered.len() > single.len(),
            "Distributed tables are added"
        );
        assert!(clustered.iter().all(|s| s.contains(" ON CLUSTER \"main\"")));
        assert!(
            clustered.iter().any(
                |s| s.contains("CREATE TABLE IF NOT EXISTS call_log_local ON CLUSTER \"main\"")
            )
        );
        assert!(
            clustered
                .iter()
                .any(|s| s.contains("ReplicatedReplacingMergeTree(version)"))
        );
        assert!(clustered.iter().any(|s| s.contains(
            "ENGINE = Distributed('main', currentDatabase(), call_log_local, \
             cityHash64(org_id, ifNull(session_id, id)))"
        )));
    }
}
