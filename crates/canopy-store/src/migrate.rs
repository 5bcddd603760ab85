//! Forward-only migrations: the shape of one, and the runner every engine uses.
//!
//! Each engine owns its list of [`Migration`]s (embedded SQL files) and implements
//! [`Migrator`] over one connection; [`run`] decides what to apply. An engine that runs
//! several gateways on one database serialises [`run`] behind a lock of its own (PostgreSQL:
//! an advisory lock), so that gateways starting at once migrate exactly once.

use async_trait::async_trait;

use crate::error::{Result, Source, StoreError};

/// One schema step. Versions only grow; a released migration is never edited.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Ordering key: a timestamp like `20261121000000`.
    pub version: i64,
    /// A short name for messages.
    pub name: &'static str,
    /// The statements, separated by `;`.
    pub sql: &'static str,
}

/// What the runner needs of an engine's connection.
#[async_trait]
pub trait Migrator: Send {
    /// The versions already applied, creating the table that records them if it is missing.
    async fn applied(&mut self) -> std::result::Result<Vec<i64>, Source>;

    /// Runs `statements` and records `migration` as applied, all in one transaction.
    async fn apply(
        &mut self,
        migration: &Migration,
        statements: &[String],
    ) -> std::result::Result<(), Source>;
}

/// Applies, in order, every migration of `migrations` that `target` has not seen, and returns
/// how many it applied.
///
/// A store that has a version this build does not know was migrated by a newer Canopy; it is
/// refused rather than run with a schema this build does not understand.
pub async fn run(target: &mut dyn Migrator, migrations: &[Migration]) -> Result<usize> {
    let bookkeeping = |source: Source| StoreError::Migrate {
        version: 0,
        name: "schema_migrations",
        source,
    };
    let applied = target.applied().await.map_err(bookkeeping)?;
    if let Some(&unknown) = applied
        .iter()
        .find(|v| !migrations.iter().any(|m| m.version == **v))
    {
        return Err(bookkeeping(
            format!(
                "the store has schema version {unknown}, which this build of Canopy does not \
                 know; it was migrated by a newer Canopy"
            )
            .into(),
        ));
    }
    let mut count = 0;
    let mut pending: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    pending.sort_by_key(|m| m.version);
    for m in pending {
        target
            .apply(m, &statements(m.sql))
            .await
            .map_err(|source| StoreError::Migrate {
                version: m.version,
                name: m.name,
                source,
            })?;
        tracing::info!(version = m.version, name = m.name, "Applied migration.");
        count += 1;
    }
    Ok(count)
}

/// Splits a migration into statements: `--` comment lines are dropped first (so a `;` in a
/// comment is harmless), then the text is cut at `;`. A block between `-- begin block` and
/// `-- end block` lines is kept whole, for statements (functions, `DO` blocks) that hold `;`.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut code = String::new();
    let mut block: Option<String> = None;
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed == "-- begin block" {
            block = Some(String::new());
            continue;
        }
        if trimmed == "-- end block" {
            if let Some(text) = block.take() {
                split_into(&code, &mut out);
                code.clear();
                let text = text.trim().trim_end_matches(';').trim().to_owned();
                if !text.is_empty() {
                    out.push(text);
                }
            }
            continue;
        }
        if let Some(text) = block.as_mut() {
            text.push_str(line);
            text.push('\n');
        } else if !trimmed.starts_with("--") {
            code.push_str(line);
            code.push('\n');
        }
    }
    split_into(&code, &mut out);
    out
}

fn split_into(code: &str, out: &mut Vec<String>) {
    out.extend(
        code.split(';')
            .map(str::trim)
            .filter(|statement| !statement.is_empty())
            .map(str::to_owned),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_skips_comments() {
        let sql = "-- a table\nCREATE TABLE a (x INT);\n\n-- an index\nCREATE INDEX i ON a (x);\n";
        assert_eq!(
            statements(sql),
            ["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]
        );
        let with_semicolon = "-- one; two\nCREATE TABLE b (y INT);";
        assert_eq!(statements(with_semicolon), ["CREATE TABLE b (y INT)"]);
    }

    #[test]
    fn a_block_is_kept_whole() {
        let sql = "CREATE TABLE a (x INT);\n-- begin block\nDO $$ BEGIN PERFORM 1; END $$;\n\
                   -- end block\nCREATE TABLE b (y INT);";
        assert_eq!(
            statements(sql),
            [
                "CREATE TABLE a (x INT)",
                "DO $$ BEGIN PERFORM 1; END $$",
                "CREATE TABLE b (y INT)"
            ]
        );
    }

    /// An in-memory migrator that records what it was asked to do.
    #[derive(Default)]
    struct Memory {
        applied: Vec<i64>,
    }

    #[async_trait]
    impl Migrator for Memory {
        async fn applied(&mut self) -> std::result::Result<Vec<i64>, Source> {
            Ok(self.applied.clone())
        }
        async fn apply(
            &mut self,
            migration: &Migration,
            _statements: &[String],
        ) -> std::result::Result<(), Source> {
            self.applied.push(migration.version);
            Ok(())
        }
    }

    const LIST: [Migration; 2] = [
        Migration {
            version: 2,
            name: "two",
            sql: "SELECT 2",
        },
        Migration {
            version: 1,
            name: "one",
            sql: "SELECT 1",
        },
    ];

    #[tokio::test]
    async fn applies_what_is_missing_in_order_and_only_once() {
        let mut memory = Memory::default();
        assert_eq!(run(&mut memory, &LIST).await.unwrap(), 2);
        assert_eq!(memory.applied, [1, 2]);
        assert_eq!(run(&mut memory, &LIST).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_store_from_a_newer_build_is_refused() {
        let mut memory = Memory {
            applied: vec![1, 2, 3],
        };
        let err = run(&mut memory, &LIST).await.unwrap_err();
        assert!(err.to_string().contains("version 3"), "{err}");
    }
}
