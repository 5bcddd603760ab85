//! Suggestions for filter boxes: property keys, a key's values and user ids seen in an
//! organisation's latest calls. Not for filtering itself (`queries.rs`).

use canopy_store::Result;
use canopy_store::query::{SUGGEST_SCAN, SuggestField, Suggestion};
use serde::Deserialize;

use crate::dialect::sql;
use crate::{ClickHouseStore, read_err};

#[derive(Deserialize)]
struct SuggestionRow {
    suggestion: String,
    n: u64,
}

impl ClickHouseStore {
    pub(crate) async fn suggestions(
        &self,
        org_id: &str,
        field: &SuggestField,
        contains: &str,
        limit: u64,
    ) -> Result<Vec<Suggestion>> {
        let mut q = sql("SELECT ");
        let value = match field {
            SuggestField::PropertyKey => {
                q.push("toString(k) AS suggestion, count() AS n FROM (SELECT properties FROM calls WHERE org_id = ")
                    .bind(org_id)
                    .push(&format!(" ORDER BY created_at DESC LIMIT {SUGGEST_SCAN})"))
                    .push(" ARRAY JOIN mapKeys(properties) AS k WHERE 1 = 1");
                "toString(k)"
            }
            SuggestField::PropertyValue(key) => {
                let key = key.to_ascii_lowercase();
                q.push(
                    "v AS suggestion, count() AS n FROM (SELECT properties FROM calls WHERE org_id = ",
                )
                .bind(org_id)
                .push(&format!(" ORDER BY created_at DESC LIMIT {SUGGEST_SCAN})"))
                .push(" ARRAY JOIN [properties[")
                .bind(key.as_str())
                .push("]] AS v WHERE mapContains(properties, ")
                .bind(key.as_str())
                .push(")");
                "v"
            }
            SuggestField::UserId => {
                q.push("assumeNotNull(user_id) AS suggestion, count() AS n FROM (SELECT user_id FROM calls WHERE org_id = ")
                    .bind(org_id)
                    .push(&format!(" ORDER BY created_at DESC LIMIT {SUGGEST_SCAN})"))
                    .push(" WHERE user_id IS NOT NULL AND user_id != ''");
                "assumeNotNull(user_id)"
            }
        };
        if !contains.is_empty() {
            q.push(" AND positionCaseInsensitiveUTF8(")
                .push(value)
                .push(", ")
                .bind(contains)
                .push(") > 0");
        }
        q.push(&format!(
            " GROUP BY suggestion ORDER BY n DESC, suggestion LIMIT {limit}"
        ));
        let rows: Vec<SuggestionRow> = self.client.rows(&q).await.map_err(read_err("suggest"))?;
        Ok(rows
            .into_iter()
            .map(|r| Suggestion {
                value: r.suggestion,
                calls: r.n,
            })
            .collect())
    }
}
