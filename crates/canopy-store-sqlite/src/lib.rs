//! Canopy's embedded store: SQLite in WAL mode.
//!
//! One connection writes (SQLite allows one writer at a time anyway, and a single connection
//! avoids lock waits); a small pool reads. Migrations are embedded in the binary and run at
//! open. Calls and sessions are written in [`write`] and read in [`read`] and [`queries`] (with
//! filters translated in [`filter`]); annotations are in [`annotate`], keys in [`keys`].

mod annotate;
pub mod filter;
mod keys;
mod queries;
mod read;
mod write;

use std::str::FromStr;
use std::time::Duration;

use canopy_store::migrate::{self, Migration};
use canopy_store::{Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// The engine's migrations, oldest first. Never edit a released one; add a new file.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 20261121000000,
    name: "init",
    sql: include_str!("../migrations/20261121000000_init.sql"),
}];

/// An open SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

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
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000")
            .statement_cache_capacity(256);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        Self::migrate(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(Self { writer, readers })
    }

    /// Applies the migrations this database has not seen yet.
    async fn migrate(pool: &SqlitePool) -> Result<()> {
        let fail = |m: &Migration, source: sqlx::Error| StoreError::Migrate {
            version: m.version,
            name: m.name,
            source: source.into(),
        };
        let bootstrap = Migration {
            version: 0,
            name: "schema_migrations",
            sql: "",
        };
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .execute(pool)
        .await
        .map_err(|e| fail(&bootstrap, e))?;
        let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
            .fetch_all(pool)
            .await
            .map_err(|e| fail(&bootstrap, e))?
            .iter()
            .map(|row| row.get::<i64, _>(0))
            .collect();
        for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            let mut tx = pool.begin().await.map_err(|e| fail(m, e))?;
            for statement in migrate::statements(m.sql) {
                // Migration text is embedded in the binary, never user input.
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| fail(m, e))?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, unixepoch())")
                .bind(m.version)
                .bind(m.name)
                .execute(&mut *tx)
                .await
                .map_err(|e| fail(m, e))?;
            tx.commit().await.map_err(|e| fail(m, e))?;
            tracing::info!(version = m.version, name = m.name, "Applied migration.");
        }
        Ok(())
    }

    /// Closes both pools, waiting for in-flight statements.
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}
