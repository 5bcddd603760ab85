//! Suggestions for filter boxes: property keys, a key's values and user ids seen in an
//! organisation's latest calls. Not for filtering itself (`queries.rs`).

use canopy_store::Result;
use canopy_store::query::{SUGGEST_SCAN, SuggestField, Suggestion};
use sqlx::Row;

use crate::PostgresStore;
use crate::dialect::{query, sql};
use crate::read::read_err;

impl PostgresStore {
    pub(crate) async fn suggestions(
        &self,
        org_id: &str,
        field: &SuggestField,
        contains: &str,
        limit: u64,
    ) -> Result<Vec<Suggestion>> {
        let scan = i64::try_from(SUGGEST_SCAN).unwrap_or(i64::MAX);
        let mut q = sql("SELECT ");
        let value = match field {
            SuggestField::PropertyKey | SuggestField::PropertyValue(_) => {
                let value = if matches!(field, SuggestField::PropertyKey) {
                    "j.key"
                } else {
                    "j.value"
                };
                q.push(value)
                    .push(" AS suggestion, count(*)::int8 AS n FROM (SELECT properties FROM calls WHERE org_id = ")
                    .bind(org_id)
                    .push(" ORDER BY created_at DESC LIMIT ")
                    .bind(scan)
                    .push(") c, jsonb_each_text(c.properties) j WHERE j.value IS NOT NULL");
                if let SuggestField::PropertyValue(key) = field {
                    q.push(" AND j.key = ").bind(key.to_ascii_lowercase());
                }
                value
            }
            SuggestField::UserId => {
                q.push("c.user_id AS suggestion, count(*)::int8 AS n FROM (SELECT user_id FROM calls WHERE org_id = ")
                    .bind(org_id)
                    .push(" ORDER BY created_at DESC LIMIT ")
                    .bind(scan)
                    .push(") c WHERE c.user_id IS NOT NULL AND c.user_id <> ''");
                "c.user_id"
            }
        };
        if !contains.is_empty() {
            q.push(" AND strpos(lower(")
                .push(value)
                .push("), lower(")
                .bind(contains)
                .push(")) > 0");
        }
        q.push(" GROUP BY 1 ORDER BY n DESC, suggestion LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = query(&q)
            .fetch_all(&self.pool)
            .await
            .map_err(read_err("suggest"))?;
        Ok(rows
            .iter()
            .map(|row| Suggestion {
                value: row.get("suggestion"),
                calls: u64::try_from(row.get::<i64, _>("n")).unwrap_or(0),
            })
            .collect())
    }
}
