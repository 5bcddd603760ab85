//! How ClickHouse spells what engines disagree on.

use canopy_store::sql::{Arg, Dialect, Sql};

/// ClickHouse's dialect: typed `{pN:Type}` query parameters, `Map` properties, `LIKE` /
/// `ILIKE`, `IS DISTINCT FROM` and `greatest`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChDialect;

/// The one dialect value statements borrow.
pub(crate) static DIALECT: ChDialect = ChDialect;

impl Dialect for ChDialect {
    fn placeholder(&self, n: usize, arg: &Arg) -> String {
        let ty = match arg {
            Arg::Null => "Nullable(String)",
            Arg::Text(_) => "String",
            Arg::Int(_) => "Int64",
            Arg::Float(_) => "Float64",
        };
        format!("{{p{n}:{ty}}}")
    }

    fn property(&self, sql: &mut Sql<'_>, alias: &str, key: &str) -> String {
        // A missing key reads as NULL, as in every engine, not as the empty string.
        let key = sql.param(key);
        format!("if(mapContains({alias}.properties, {key}), {alias}.properties[{key}], NULL)")
    }

    fn property_equals(
        &self,
        sql: &mut Sql<'_>,
        alias: &str,
        key: &str,
        value: &str,
    ) -> Option<String> {
        // `has(mapKeys(…))` and `has(mapValues(…))` let the bloom filter indexes skip granules.
        let (key, value) = (sql.param(key), sql.param(value));
        Some(format!(
            "(has(mapKeys({alias}.properties), {key}) AND has(mapValues({alias}.properties), \
             {value}) AND {alias}.properties[{key}] = {value})"
        ))
    }

    fn contains(&self, haystack: &str, needle: &str) -> String {
        format!("positionCaseInsensitiveUTF8({haystack}, {needle}) > 0")
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
        format!("greatest({a}, {b})")
    }
}

/// A new statement in ClickHouse's dialect.
pub(crate) fn sql(text: impl Into<String>) -> Sql<'static> {
    Sql::new(&DIALECT, text)
}
