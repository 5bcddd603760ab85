//! The idempotent imports of `canopy store copy` ([`crate::transfer::Transfer`]), as
//! statements every relational engine runs: multi-row inserts with `ON CONFLICT`.

use crate::sql::{Dialect, Sql};
use crate::transfer::{OrgRow, ScoreRow, SessionMarks, StoredKey};

/// Rows per statement, well under every engine's limit on bound values.
const ROWS_PER_INSERT: usize = 500;

/// Statements that add organisations, keeping their ids. One present by id is left as it is;
/// the same name under another id is a different organisation, and the insert fails (the name
/// is unique) rather than merge the two.
pub fn import_orgs<'d>(dialect: &'d dyn Dialect, orgs: &[OrgRow]) -> Vec<Sql<'d>> {
    rows(dialect, "orgs (id, name, created_at)", orgs, |sql, o| {
        sql.bind(o.id.as_str())
            .push(", ")
            .bind(o.name.as_str())
            .push(", ")
            .bind(o.created_at_ms);
    })
    .into_iter()
    .map(|mut sql| {
        sql.push(" ON CONFLICT (id) DO NOTHING");
        sql
    })
    .collect()
}

/// Statements that add keys, keeping their ids and hashes; one present by id takes the
/// imported revocation.
pub fn import_keys<'d>(dialect: &'d dyn Dialect, keys: &[StoredKey]) -> Vec<Sql<'d>> {
    let columns = "api_keys (id, org_id, key_hash, key_prefix, created_at, revoked_at)";
    rows(dialect, columns, keys, |sql, k| {
        sql.bind(k.id.as_str())
            .push(", ")
            .bind(k.org_id.as_str())
            .push(", ")
            .bind(k.hash.as_str())
            .push(", ")
            .bind(k.prefix.as_str())
            .push(", ")
            .bind(k.created_at_ms)
            .push(", ");
        match k.revoked_at_ms {
            Some(at) => sql.bind(at),
            // A typed NULL: the column is an integer.
            None => sql.push("CAST(NULL AS BIGINT)"),
        };
    })
    .into_iter()
    .map(|mut sql| {
        sql.push(" ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at");
        sql
    })
    .collect()
}

/// Statements that set scores, replacing a score of the same call and name.
pub fn import_scores<'d>(dialect: &'d dyn Dialect, scores: &[ScoreRow]) -> Vec<Sql<'d>> {
    let columns = "call_scores (org_id, call_id, name, value, created_at)";
    rows(dialect, columns, scores, |sql, s| {
        sql.bind(s.org_id.as_str())
            .push(", ")
            .bind(s.call_id.to_string())
            .push(", ")
            .bind(s.name.as_str())
            .push(", ")
            .bind(s.value)
            .push(", ")
            .bind(s.created_at_ms);
    })
    .into_iter()
    .map(|mut sql| {
        sql.push(
            " ON CONFLICT (org_id, call_id, name) DO UPDATE SET value = excluded.value, \
             created_at = excluded.created_at",
        );
        sql
    })
    .collect()
}

/// Statements that add the sessions' tags, keeping when each was added; a tag of a session
/// that is not present is skipped. (Feedback is a boolean, which engines store differently:
/// each engine sets it itself.)
pub fn import_tags<'d>(dialect: &'d dyn Dialect, marks: &[SessionMarks]) -> Vec<Sql<'d>> {
    marks
        .iter()
        .flat_map(|m| m.tags.iter().map(move |(tag, at)| (m, tag, *at)))
        .map(|(m, tag, at)| {
            let mut sql = Sql::new(
                dialect,
                "INSERT INTO session_tags (org_id, session_id, tag, created_at) SELECT org_id, \
                 session_id, ",
            );
            sql.bind(tag.as_str())
                .push(", ")
                .bind(at)
                .push(" FROM sessions WHERE org_id = ")
                .bind(m.org_id.as_str())
                .push(" AND session_id = ")
                .bind(m.session_id.as_str())
                .push(" ON CONFLICT DO NOTHING");
            sql
        })
        .collect()
}

/// `INSERT INTO <into> VALUES (…), (…)` statements over `items`, [`ROWS_PER_INSERT`] rows each,
/// each row's values written by `row`.
fn rows<'d, T>(
    dialect: &'d dyn Dialect,
    into: &str,
    items: &[T],
    row: impl Fn(&mut Sql<'d>, &T),
) -> Vec<Sql<'d>> {
    items
        .chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            let mut sql = Sql::new(dialect, format!("INSERT INTO {into} VALUES "));
            for (i, item) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                row(&mut sql, item);
                sql.push(")");
            }
            sql
        })
        .collect()
}
