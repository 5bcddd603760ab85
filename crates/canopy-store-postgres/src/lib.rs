//! Canopy's shared store: PostgreSQL, for several gateways on one database.
//!
//! Every gateway holds a small connection pool. Migrations are embedded and run at open under
//! an advisory lock, so gateways starting at once migrate exactly once. Calls and their bodies
//! are partitioned by month ([`partition`]); a batch of calls, their bodies and their sessions'
//! totals are written in one transaction ([`write`]), idempotent by (organisation, id), and the
//! totals add up in SQL, so a session's figures stay exact when its calls reach different
//! gateways at once. Reads are in [`read`] and [`queries`], annotations in [`annotate`], keys in
//! [`keys`]. Statements shared with other engines (filters, session upserts) come from
//! `canopy_store::sql`, spelled in PostgreSQL's [`dialect`].

mod annotate;
mod copy;
mod dialect;
mod keys;
mod partition;
mod queries;
mod read;
mod retain;
mod suggest;
mod transfer;
mod write;

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use canopy_store::migrate::{self, Migration, Migrator};
use canopy_store::{Result, Source, StoreError, redact_url};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres, Row};

/// The engine's migrations, oldest first. Never edit a released one; add a new file.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 20261201000000,
        name: "init",
        sql: include_str!("../migrations/20261201000000_init.sql"),
    },
    Migration {
        version: 20261202000000,
        name: "ids_in_byte_order",
        sql: include_str!("../migrations/20261202000000_ids_in_byte_order.sql"),
    },
];

/// The advisory lock gateways take while they migrate (an arbitrary constant of Canopy's).
const MIGRATION_LOCK: i64 = 0x63616e6f_70790001;

/// An open PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Months whose partitions are known to exist, as partition suffixes.
    months: std::sync::Arc<Mutex<std::collections::HashSet<i64>>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and migrates the database.
    ///
    /// The database must exist; an unreachable server, a refused login or a missing database
    /// is an error that names the URL with its password masked.
    pub async fn connect(url: &str) -> Result<Self> {
        let connect_err = |source: sqlx::Error| StoreError::Connect {
            url: redact_url(url),
            source: source.into(),
        };
        let options = PgConnectOptions::from_str(url)
            .map_err(connect_err)?
            .application_name("canopy");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        let store = Self {
            pool,
            months: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations this database has not seen yet, holding the migration lock.
    async fn migrate(&self) -> Result<()> {
        let fail = |source: sqlx::Error| StoreError::Migrate {
            version: 0,
            name: "schema_migrations",
            source: source.into(),
        };
        let mut conn = self.pool.acquire().await.map_err(fail)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
        let result = migrate::run(&mut Migrations(&mut conn), MIGRATIONS).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
        result?;
        unlocked.map_err(fail)?;
        Ok(())
    }

    /// The schema versions recorded as applied, in order.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&self.pool)
            .await
            .map_err(|source| StoreError::Read {
                what: "schema_migrations",
                source: source.into(),
            })
    }

    /// Refreshes the planner's statistics of every table. Autovacuum does this in the
    /// background as data grows; a benchmark calls it after a bulk load, before it times
    /// queries.
    pub async fn analyze(&self) -> Result<()> {
        sqlx::query("ANALYZE")
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::Write {
                rows: 0,
                source: source.into(),
            })?;
        Ok(())
    }

    /// Closes the pool, waiting for in-flight statements.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The migration runner's view of one connection.
struct Migrations<'c>(&'c mut PoolConnection<Postgres>);

#[async_trait]
impl Migrator for Migrations<'_> {
    async fn applied(&mut self) -> std::result::Result<Vec<i64>, Source> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
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
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(migration.name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl canopy_store::StoreEngine for PostgresStore {
    async fn close(&self) {
        PostgresStore::close(self).await;
    }
}
