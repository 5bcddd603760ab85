//! How SQLite spells what engines disagree on, and binding shared statements to the driver.

use canopy_store::sql::{Arg, Dialect, Sql, like_to_glob};
use sqlx::Sqlite;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;

/// SQLite's dialect: `?N` placeholders, JSON text properties, `GLOB` for case-sensitive
/// patterns and `IS NOT` as the NULL-safe inequality.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqliteDialect;

/// The one dialect value statements borrow.
pub(crate) static DIALECT: SqliteDialect = SqliteDialect;

impl Dialect for SqliteDialect {
    fn placeholder(&self, n: usize, _arg: &Arg) -> String {
        format!("?{n}")
    }

    fn property(&self, sql: &mut Sql<'_>, alias: &str, key: &str) -> String {
        if json_path_safe(key) {
            let path = sql.param(format!("$.\"{key}\""));
            format!("json_extract({alias}.properties, {path})")
        } else {
            // A key that JSON escapes cannot be written as a JSON path; look it up instead.
            let key = sql.param(key);
            format!("(SELECT j.value FROM json_each({alias}.properties) j WHERE j.key = {key})")
        }
    }

    fn contains(&self, haystack: &str, needle: &str) -> String {
        format!("instr(lower({haystack}), lower({needle})) > 0")
    }

    fn like(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str) -> String {
        let glob = sql.param(like_to_glob(pattern));
        format!("{expr} GLOB {glob}")
    }

    fn ilike(&self, expr: &str, pattern: &str) -> String {
        // SQLite's LIKE folds ASCII letters only.
        format!("{expr} LIKE {pattern} ESCAPE '\\'")
    }

    fn distinct(&self, a: &str, b: &str) -> String {
        format!("{a} IS NOT {b}")
    }

    fn greatest(&self, a: &str, b: &str) -> String {
        format!("max({a}, {b})")
    }
}

/// Whether `key` appears verbatim in stored JSON and so can be named in a quoted JSON path.
fn json_path_safe(key: &str) -> bool {
    !key.is_empty()
        && !key
            .chars()
            .any(|ch| ch == '"' || ch == '\\' || ch.is_control())
}

/// A statement over `sql`'s text with its values bound, ready to run.
pub(crate) fn query<'q>(sql: &'q Sql<'_>) -> Query<'q, Sqlite, SqliteArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.text()));
    for arg in sql.args() {
        q = match arg {
            Arg::Null => q.bind(None::<&str>),
            Arg::Text(text) => q.bind(text.as_str()),
            Arg::Int(n) => q.bind(*n),
            Arg::Float(f) => q.bind(*f),
        };
    }
    q
}

/// A new statement in SQLite's dialect.
pub(crate) fn sql(text: impl Into<String>) -> Sql<'static> {
    Sql::new(&DIALECT, text)
}
