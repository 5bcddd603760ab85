//! SQL that every relational engine shares, written once.
//!
//! An engine builds statements with [`Sql`]: text plus the values bound to it, never a value
//! spliced into the text. Where engines spell a thing differently (placeholders, JSON lookups,
//! pattern matching, NULL-safe comparison), the [`Dialect`] hook says how; everything else —
//! which rows a filter means, how levels cross, which column a field is — lives in [`filter`]
//! and is the same for every engine.
//!
//! Placeholders are numbered (`?1`, `$1`, `{p1:String}`), so a dialect may build an expression
//! that binds values before the text that will hold it is written.
//!
//! No driver belongs here: engines turn [`Sql::args`] into their driver's arguments.

pub mod filter;
pub mod sessions;
pub mod suggest;
pub mod transfer;

use std::fmt;

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A NULL where text is expected.
    Null,
    /// Text.
    Text(String),
    /// A 64-bit integer: counts, Unix milliseconds, nano-USD, booleans as 0/1.
    Int(i64),
    /// A float: scores and fractional comparisons.
    Float(f64),
}

impl From<&str> for Arg {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Arg {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<f64> for Arg {
    fn from(f: f64) -> Self {
        Self::Float(f)
    }
}

/// How one engine spells what SQL engines disagree on. Each method returns SQL text built
/// from the given expressions (already SQL) and placeholders it binds through `sql`.
pub trait Dialect: Send + Sync {
    /// The placeholder of the `n`-th bound value, counting from 1.
    fn placeholder(&self, n: usize, arg: &Arg) -> String;

    /// The text value of the custom property `key` of the call aliased `alias`, or NULL when
    /// the call has no such property.
    fn property(&self, sql: &mut Sql<'_>, alias: &str, key: &str) -> String;

    /// A condition that holds exactly when the property `key` equals `value`, if the engine
    /// has a faster form than comparing [`Dialect::property`] (an indexed containment test).
    fn property_equals(
        &self,
        _sql: &mut Sql<'_>,
        _alias: &str,
        _key: &str,
        _value: &str,
    ) -> Option<String> {
        None
    }

    /// Whether `haystack` contains `needle`, ignoring case; NULL when `haystack` is NULL.
    fn contains(&self, haystack: &str, needle: &str) -> String;

    /// Whether `expr` matches the LIKE `pattern` (`%`, `_`, `\` escapes), case-sensitively.
    fn like(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str) -> String;

    /// Whether `expr` matches the LIKE pattern held by the placeholder `pattern`, ignoring case.
    fn ilike(&self, expr: &str, pattern: &str) -> String;

    /// Whether `a` differs from `b`, a NULL on one side counting as different.
    fn distinct(&self, a: &str, b: &str) -> String;

    /// The larger of two expressions (`max(a, b)` in SQLite, `GREATEST(a, b)` elsewhere).
    fn greatest(&self, a: &str, b: &str) -> String;
}

/// A statement being built: its text and the values bound to it, in placeholder order.
pub struct Sql<'d> {
    text: String,
    args: Vec<Arg>,
    dialect: &'d dyn Dialect,
}

impl fmt::Debug for Sql<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sql")
            .field("text", &self.text)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl<'d> Sql<'d> {
    /// A statement starting with `text`.
    pub fn new(dialect: &'d dyn Dialect, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            args: Vec::new(),
            dialect,
        }
    }

    /// The dialect the statement is written in.
    pub fn dialect(&self) -> &'d dyn Dialect {
        self.dialect
    }

    /// Appends SQL text. Only constants and text built from constants belong here.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Binds `arg` and appends its placeholder.
    pub fn bind(&mut self, arg: impl Into<Arg>) -> &mut Self {
        let placeholder = self.param(arg);
        self.text.push_str(&placeholder);
        self
    }

    /// Binds `arg` and returns its placeholder, for an expression written later.
    pub fn param(&mut self, arg: impl Into<Arg>) -> String {
        let arg = arg.into();
        let placeholder = self.dialect.placeholder(self.args.len() + 1, &arg);
        self.args.push(arg);
        placeholder
    }

    /// The statement's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The bound values, in placeholder order.
    pub fn args(&self) -> &[Arg] {
        &self.args
    }
}

/// Rows per multi-row `INSERT`, largest first. A batch is cut greedily into these sizes so that
/// only a few distinct statements exist and each stays prepared in the connection's cache.
pub const CHUNK_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// Cuts `items` into chunks whose lengths come from `sizes` (largest first, ending with 1).
pub fn chunks<'a, T>(mut items: &'a [T], sizes: &'a [usize]) -> impl Iterator<Item = &'a [T]> {
    std::iter::from_fn(move || {
        let size = sizes.iter().copied().find(|&n| n <= items.len())?;
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

/// A string map (properties, request headers) as the JSON object text SQL engines store.
pub fn json_text(map: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}

/// A LIKE pattern (`%`, `_`, and `\` escaping the next character) as the GLOB pattern that
/// matches the same strings, case-sensitively: SQLite's `LIKE` ignores ASCII case, its `GLOB`
/// does not.
pub fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        let literal = match ch {
            '%' => {
                glob.push('*');
                continue;
            }
            '_' => {
                glob.push('?');
                continue;
            }
            // A trailing backslash stands for itself.
            '\\' => chars.next().unwrap_or('\\'),
            other => other,
        };
        if matches!(literal, '*' | '?' | '[') {
            glob.push('[');
            glob.push(literal);
            glob.push(']');
        } else {
            glob.push(literal);
        }
    }
    glob
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_cut_largest_first() {
        let items: Vec<u32> = (0..341).collect();
        let sizes: Vec<usize> = chunks(&items, &CHUNK_SIZES).map(<[u32]>::len).collect();
        assert_eq!(sizes, [256, 64, 16, 4, 1]);
        let total: usize = chunks(&items[..7], &CHUNK_SIZES).map(<[u32]>::len).sum();
        assert_eq!(total, 7);
        assert_eq!(chunks::<u32>(&[], &CHUNK_SIZES).count(), 0);
    }

    #[test]
    fn like_patterns_become_equivalent_globs() {
        assert_eq!(like_to_glob("gpt-4%"), "gpt-4*");
        assert_eq!(like_to_glob("a_c"), "a?c");
        assert_eq!(like_to_glob(r"100\%"), "100%");
        assert_eq!(like_to_glob(r"a\_b"), "a_b");
        assert_eq!(like_to_glob("*?[x]"), "[*][?][[]x]");
        assert_eq!(like_to_glob(r"end\"), r"end\");
    }
}
