//! Suggestions for filter boxes: property keys, a key's values and user ids seen in an
//! organisation's latest calls. Not for filtering itself (`queries.rs`).

use canopy_store::Result;
use canopy_store::query::{SuggestField, Suggestion};
use canopy_store::sql::suggest::{PropertyRows, suggestions};
use sqlx::Row;

use crate::PostgresStore;
use crate::dialect::{DIALECT, query};
use crate::read::read_err;

/// Each text property of the call aliased `c`, as a row of `j`.
const PROPERTIES: PropertyRows = PropertyRows {
    from: "jsonb_each_text(c.properties) j",
    text_only: "j.value IS NOT NULL",
};

impl PostgresStore {
    pub(crate) async fn suggestions(
        &self,
        org_id: &str,
        field: &SuggestField,
        contains: &str,
        limit: u64,
    ) -> Result<Vec<Suggestion>> {
        let q = suggestions(&DIALECT, PROPERTIES, org_id, field, contains, limit);
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
