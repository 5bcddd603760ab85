//! How PostgreSQL spells what engines disagree on, and binding shared statements to the driver.

use std::borrow::Cow;

use canopy_store::sql::{Arg, Dialect, Sql};
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

/// PostgreSQL's dialect: `$N` placeholders, `jsonb` properties (equality through the GIN
/// index's containment operator), `LIKE` / `ILIKE` and `IS DISTINCT FROM`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgDialect;

/// The one dialect value statements borrow.
pub(crate) static DIALECT: PgDialect = PgDialect;

impl Dialect for PgDialect {
    fn placeholder(&self, n: usize, arg: &Arg) -> String {
        // Typed, so that two statements whose text differs only in a value's type are two
        // statements: the driver caches prepared statements by text, with their types.
        let ty = match arg {
            Arg::Null | Arg::Text(_) => "text",
            Arg::Int(_) => "int8",
            Arg::Float(_) => "float8",
        };
        format!("(${n}::{ty})")
    }

    fn property(&self, sql: &mut Sql<'_>, alias: &str, key: &str) -> String {
        let key = sql.param(key);
        format!("({alias}.properties ->> {key})")
    }

    fn property_equals(
        &self,
        sql: &mut Sql<'_>,
        alias: &str,
        key: &str,
        value: &str,
    ) -> Option<String> {
        let (key, value) = (sql.param(key), sql.param(value));
        Some(format!(
            "{alias}.properties @> jsonb_build_object({key}, {value})"
        ))
    }

    fn contains(&self, haystack: &str, needle: &str) -> String {
        format!("strpos(lower({haystack}), lower({needle})) > 0")
    }

    fn like(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str) -> String {
        let pattern = sql.param(pattern);
        format!("{expr} LIKE {pattern}")
    }

    fn ilike(&self, expr: &str, pattern: &str) -> String {
        format!("{expr} ILIKE {pattern}")
    }

    fn distinct(&self, a: &str, b: &str) -> String {
        format!("{a} IS DISTINCT FROM {b}")
    }

    fn greatest(&self, a: &str, b: &str) -> String {
        format!("GREATEST({a}, {b})")
    }
}

/// `value` as PostgreSQL text can hold it: NUL, which it cannot, becomes U+FFFD, as it does in
/// everything written. Every text value a caller chose goes through this before it is bound,
/// so that a NUL in a search, an id or a tag matches what was stored instead of failing.
pub(crate) fn text(value: &str) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// A statement over `sql`'s text with its values bound, ready to run.
pub(crate) fn query<'q>(sql: &'q Sql<'_>) -> Query<'q, Postgres, PgArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.text()));
    for arg in sql.args() {
        q = match arg {
            Arg::Null => q.bind(None::<&str>),
            Arg::Text(value) => q.bind(text(value)),
            Arg::Int(n) => q.bind(*n),
            Arg::Float(f) => q.bind(*f),
        };
    }
    q
}

/// A new statement in PostgreSQL's dialect.
pub(crate) fn sql(text: impl Into<String>) -> Sql<'static> {
    Sql::new(&DIALECT, text)
}
