//! The shape of a forward-only migration; each engine owns its list and runs it.

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

/// Splits a migration into statements, dropping empty ones and `--` comment lines.
///
/// Statements must not contain `;` inside literals; migrations are written to keep it so.
pub fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    sql.split(';').filter_map(|statement| {
        let text: Vec<&str> = statement
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect();
        let text = text.join("\n");
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_skips_comments() {
        let sql = "-- a table\nCREATE TABLE a (x INT);\n\n-- an index\nCREATE INDEX i ON a (x);\n";
        let parts: Vec<String> = statements(sql).collect();
        assert_eq!(parts, ["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]);
    }
}
