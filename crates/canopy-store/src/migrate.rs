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

/// Splits a migration into statements: `--` comment lines are dropped first (so a `;` in a
/// comment is harmless), then the text is cut at `;`.
///
/// Statements must not contain `;` inside literals; migrations are written to keep it so.
pub fn statements(sql: &str) -> Vec<String> {
    let code: Vec<&str> = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect();
    code.join("\n")
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
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
}
