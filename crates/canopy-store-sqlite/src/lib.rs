//! Canopy's embedded store: SQLite in WAL mode.
//!
//! Calls and their sessions are written by a thread that owns its own connection, and a second
//! thread copies SQLite's log into the database file ([`write`]);
//! other writes (annotations in [`annotate`], keys in [`keys`], retention, imports) go through
//! one sqlx connection and take the write lock when they begin, so the two wait for each other
//! rather than fail. A small pool reads ([`read`], [`queries`]). Migrations are embedded in the
//! binary and run at open, before calls are written. Statements shared with other engines
//! (filters, session upserts) come from `canopy_store::sql`, spelled in SQLite's [`dialect`].

mod annotate;
mod dialect;
mod keys;
mod queries;
mod read;
mod retain;
mod suggest;
#[cfg(test)]
mod tests;
mod transfer;
mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use canopy_store::migrate::{self, Migration, Migrator};
use canopy_store::{Result, Source, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, Sqlite, SqlitePool};

/// The engine's migrations, oldest first. Never edit a released one; add a new file.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 20261121000000,
        name: "init",
        sql: include_str!("../migrations/20261121000000_init.sql"),
    },
    Migration {
        version: 20261201000000,
        name: "org_scoped_ids",
        sql: include_str!("../migrations/20261201000000_org_scoped_ids.sql"),
    },
    Migration {
        version: 20261202000000,
        name: "bodies_by_call_seq",
        sql: include_str!("../migrations/20261202000000_bodies_by_call_seq.sql"),
    },
];

/// An open SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    ingest: Arc<write::Writer>,
}

/// The page size of a database this store creates: SQLite's default. A proxied call dirties a
/// few index pages per commit, and each costs its whole page in the log and again at the
/// checkpoint, so pages of 16 KiB cost the proxy 5–7 % more CPU per call (BENCHMARKS.md, "4 KiB
/// pages again"). A database created with another size keeps it.
pub const PAGE_SIZE: u32 = 4 * 1024;

/// How long an idle reader connection is kept.
const READER_IDLE: Duration = Duration::from_secs(60);

impl SqliteStore {
    /// Opens (creating) the database at `url` (`sqlite://path/to.db`) and migrates it.
    pub async fn connect(url: &str) -> Result<Self> {
        let connect_err = |source: sqlx::Error| StoreError::Connect {
            url: url.to_owned(),
            source: source.into(),
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_err)?
            .create_if_missing(true)
            .page_size(PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000")
            .statement_cache_capacity(256);
        // This connection is a local file's: it is not pinged before each use (a round trip to
        // its thread); a write that fails reports it anyway.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        Self::migrate(&writer).await?;
        let ingest =
            write::Writer::start(options.get_filename()).map_err(|source| StoreError::Connect {
                url: url.to_owned(),
                source,
            })?;
        // Each connection's page cache grows to 32 MB with use. The calls' writer keeps its own,
        // the work of every insert; the other writer's grows only with rare writes; a reader
        // that has been idle for a minute is closed, and its cache freed, so memory after a
        // burst of dashboard queries goes back down.
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .idle_timeout(READER_IDLE)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(Self {
            writer,
            readers,
            ingest: Arc::new(ingest),
        })
    }

    /// Applies the migrations this database has not seen yet.
    async fn migrate(pool: &SqlitePool) -> Result<()> {
        let mut conn = pool.acquire().await.map_err(|source| StoreError::Migrate {
            version: 0,
            name: "schema_migrations",
            source: source.into(),
        })?;
        migrate::run(&mut Migrations(&mut conn), MIGRATIONS).await?;
        Ok(())
    }

    /// Closes the calls' writer and both pools, waiting for the batches and statements in flight.
    pub async fn close(&self) {
        self.ingest.close().await;
        self.writer.close().await;
        self.readers.close().await;
    }
}

/// The migration runner's view of one connection.
struct Migrations<'c>(&'c mut PoolConnection<Sqlite>);

#[async_trait]
impl Migrator for Migrations<'_> {
    async fn applied(&mut self) -> std::result::Result<Vec<i64>, Source> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .execute(&mut **self.0)
        .await?;
        let rows = sqlx::query("SELECT version FROM schema_migrations")
            .fetch_all(&mut **self.0)
            .await?;
        Ok(rows.iter().map(|row| row.get::<i64, _>(0)).collect())
    }

    async fn apply(
        &mut self,
        migration: &Migration,
        statements: &[String],
    ) -> std::result::Result<(), Source> {
        let mut tx = self.0.begin().await?;
        for statement in statements {
            // Migration text is embedded in the binary, never user input.
            sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, unixepoch())",
        )
        .bind(migration.version)
        .bind(migration.name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl canopy_store::StoreEngine for SqliteStore {
    async fn close(&self) {
        SqliteStore::close(self).await;
    }
}
