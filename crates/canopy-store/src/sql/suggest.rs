//! The statement behind `Query::suggest` for engines that can list a call's properties as rows
//! (SQLite's `json_each`, PostgreSQL's `jsonb_each_text`): property keys, a key's values or user
//! ids, among an organisation's latest [`SUGGEST_SCAN`] calls, most used first.

use crate::query::{SUGGEST_SCAN, SuggestField};
use crate::sql::{Dialect, Sql};

/// How an engine lists the text properties of the call aliased `c`: a table expression aliased
/// `j` with columns `key` and `value` (`from`), and the condition that keeps text values only
/// (`text_only`).
#[derive(Debug, Clone, Copy)]
pub struct PropertyRows {
    /// The table expression, e.g. `json_each(c.properties) j`.
    pub from: &'static str,
    /// The condition on `j`, e.g. `j.type = 'text'`.
    pub text_only: &'static str,
}

/// The statement: columns `suggestion` (text) and `n` (a 64-bit count), at most `limit` rows,
/// the most used first, each value matching `contains` (ignoring case) when it is not empty.
pub fn suggestions<'d>(
    dialect: &'d dyn Dialect,
    properties: PropertyRows,
    org_id: &str,
    field: &SuggestField,
    contains: &str,
    limit: u64,
) -> Sql<'d> {
    let scan = i64::try_from(SUGGEST_SCAN).unwrap_or(i64::MAX);
    let mut q = Sql::new(dialect, "SELECT ");
    let value = match field {
        SuggestField::PropertyKey | SuggestField::PropertyValue(_) => {
            let value = if matches!(field, SuggestField::PropertyKey) {
                "j.key"
            } else {
                "j.value"
            };
            q.push(value)
                .push(" AS suggestion, count(*) AS n FROM (SELECT properties FROM calls WHERE org_id = ")
                .bind(org_id)
                .push(" ORDER BY created_at DESC LIMIT ")
                .bind(scan)
                .push(") c, ")
                .push(properties.from)
                .push(" WHERE ")
                .push(properties.text_only);
            if let SuggestField::PropertyValue(key) = field {
                q.push(" AND j.key = ").bind(key.to_ascii_lowercase());
            }
            value
        }
        SuggestField::UserId => {
            q.push("c.user_id AS suggestion, count(*) AS n FROM (SELECT user_id FROM calls WHERE org_id = ")
                .bind(org_id)
                .push(" ORDER BY created_at DESC LIMIT ")
                .bind(scan)
                .push(") c WHERE c.user_id IS NOT NULL AND c.user_id <> ''");
            "c.user_id"
        }
    };
    if !contains.is_empty() {
        let needle = q.param(contains);
        q.push(" AND ").push(&dialect.contains(value, &needle));
    }
    q.push(" GROUP BY 1 ORDER BY n DESC, suggestion LIMIT ")
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
    q
}
