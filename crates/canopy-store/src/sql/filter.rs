//! Translates the filter AST ([`crate::query::filter`]) into SQL for any relational engine,
//! with every value bound: nothing from a request is ever spliced into a statement.
//!
//! Filters run over calls (aliased `c`) or over sessions (aliased `s`). A condition on the other
//! level crosses over with `EXISTS`: a call matches a session-level condition through its
//! session's totals, and a session matches a call-level condition when any of its calls does.
//! The largest subtree that is wholly on the other level goes into one `EXISTS`, so
//! `model = a AND status = 500` over sessions asks for one call that is both.
//!
//! Semantics every engine keeps:
//! - `equals` on text is exact; `provider` compares case-insensitively.
//! - `like` is case-sensitive (`%`, `_`, `\` escapes, as in PostgreSQL); `ilike`, `contains`
//!   and `not-contains` ignore case.
//! - Negative operators are exact complements: `not-equals` and `not-contains` also match rows
//!   where the value is absent (NULL, a missing property or score, a session without that tag).
//! - `"null"` is IS NULL / IS NOT NULL; for a property, the key is absent / present.
//!
//! The tables and columns named here are the schema every relational engine keeps: `calls`,
//! `sessions`, `call_scores (org_id, call_id, name, value)` and
//! `session_tags (org_id, session_id, tag)`.

use std::borrow::Cow;

use canopy_core::completion::stored_label;
use canopy_core::redact::{redact_text, redact_url};
use canopy_core::session::normalize_path;

use crate::query::filter::{Condition, Field, FieldType, Filter, Level, Op, Value};
use crate::sql::{Arg, Sql};

/// The rows a filter is evaluated against: their level and their alias in the statement.
#[derive(Debug, Clone, Copy)]
struct Scope {
    level: Level,
    alias: &'static str,
}

/// The calls a statement selects.
const CALLS: Scope = Scope {
    level: Level::Call,
    alias: "c",
};
/// The sessions a statement selects.
const SESSIONS: Scope = Scope {
    level: Level::Session,
    alias: "s",
};
/// A session's calls, inside `EXISTS`.
const SESSION_CALLS: Scope = Scope {
    level: Level::Call,
    alias: "c2",
};
/// A call's session, inside `EXISTS`.
const CALL_SESSION: Scope = Scope {
    level: Level::Session,
    alias: "s2",
};

/// The score that holds a call's thumbs-up (1) or thumbs-down (0).
pub const FEEDBACK_SCORE: &str = "helicone-score-feedback";

/// Appends `filter` as a boolean SQL expression over calls aliased `c` (the caller constrains
/// the organisation). Session-level conditions ask the call's session.
pub fn push_for_calls(sql: &mut Sql<'_>, filter: &Filter) {
    push_node(sql, filter, CALLS);
}

/// Appends `filter` as a boolean SQL expression over sessions aliased `s`. Call-level
/// conditions match a session when any of its calls matches; its totals stay whole.
pub fn push_for_sessions(sql: &mut Sql<'_>, filter: &Filter) {
    push_node(sql, filter, SESSIONS);
}

/// Which levels a subtree's conditions are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Levels {
    /// No conditions (only `All`).
    Neither,
    /// Every condition is on this level.
    Only(Level),
    /// Both levels.
    Mixed,
}

fn levels(filter: &Filter) -> Levels {
    match filter {
        Filter::All => Levels::Neither,
        Filter::Leaf(c) => Levels::Only(c.field.level()),
        Filter::And(l, r) | Filter::Or(l, r) => match (levels(l), levels(r)) {
            (Levels::Neither, x) | (x, Levels::Neither) => x,
            (Levels::Only(a), Levels::Only(b)) if a == b => Levels::Only(a),
            _ => Levels::Mixed,
        },
    }
}

fn push_node(sql: &mut Sql<'_>, filter: &Filter, scope: Scope) {
    if let Levels::Only(level) = levels(filter)
        && level != scope.level
        && !same_row(filter, scope)
    {
        push_crossing(sql, filter, scope);
        return;
    }
    match filter {
        Filter::All => {
            sql.push("TRUE");
        }
        Filter::And(l, r) | Filter::Or(l, r) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            sql.push("(");
            push_node(sql, l, scope);
            sql.push(joiner);
            push_node(sql, r, scope);
            sql.push(")");
        }
        Filter::Leaf(c) => push_condition(sql, c, scope),
    }
}

/// Whether a lone condition on the other level can be read from the row itself: a call's
/// session id is its session's id, and a session's calls all carry its id.
fn same_row(filter: &Filter, scope: Scope) -> bool {
    let Filter::Leaf(c) = filter else {
        return false;
    };
    match scope.level {
        Level::Call => c.field == Field::SessionSessionId,
        Level::Session => c.field == Field::SessionId,
    }
}

/// `filter`, wholly on the other level, asked of the row's session or of the session's calls.
fn push_crossing(sql: &mut Sql<'_>, filter: &Filter, scope: Scope) {
    let (inner, table) = match scope.level {
        Level::Call => (CALL_SESSION, "sessions"),
        Level::Session => (SESSION_CALLS, "calls"),
    };
    let (o, i) = (scope.alias, inner.alias);
    sql.push(&format!(
        "EXISTS (SELECT 1 FROM {table} {i} WHERE {i}.org_id = {o}.org_id \
         AND {i}.session_id = {o}.session_id AND "
    ));
    push_node(sql, filter, inner);
    sql.push(")");
}

/// What a condition compares: SQL over the scope's alias (built from constants only), or a
/// lookup whose key is bound.
#[derive(Debug)]
enum Expr<'a> {
    /// A column or arithmetic over columns.
    Column(String),
    /// A column compared case-insensitively: the value is lowered too.
    Folded(String),
    /// One property of a call.
    Property { alias: &'static str, key: &'a str },
    /// One score of a call.
    Score { alias: &'static str, name: &'a str },
}

fn push_condition(sql: &mut Sql<'_>, c: &Condition, scope: Scope) {
    let stored = stored_form(c);
    let c = stored.as_ref();
    let a = scope.alias;
    let text = c.field.field_type() == FieldType::Text;
    match (&c.field, scope.level) {
        (Field::SessionTag, _) => push_tags(sql, c, a),
        (Field::SessionSessionId, Level::Call) => {
            // A call without a session has no session to match.
            sql.push(&format!("({a}.session_id IS NOT NULL AND "));
            push_compare(
                sql,
                &Expr::Column(format!("{a}.session_id")),
                c.op,
                &c.value,
                text,
            );
            sql.push(")");
        }
        (Field::SessionId, Level::Session) => {
            let column = Expr::Column(format!("{a}.session_id"));
            push_compare(sql, &column, c.op, &c.value, text);
        }
        (Field::Property(key), _) if c.op == Op::Equals => {
            let value = match &c.value {
                Value::Text(v) => Some(v.clone()),
                Value::Int(n) => Some(n.to_string()),
                Value::Float(f) => Some(f.to_string()),
                Value::Null | Value::Bool(_) => None,
            };
            let fast = value.and_then(|v| sql.dialect().property_equals(sql, a, key, &v));
            match fast {
                Some(condition) => {
                    sql.push(&condition);
                }
                None => push_compare(sql, &Expr::Property { alias: a, key }, c.op, &c.value, true),
            }
        }
        (field, _) => push_compare(sql, &expr(field, a), c.op, &c.value, text),
    }
}

/// `c` as the store keeps what it names: labels, URLs, paths, properties and tags lose their
/// secrets when they are stored ([`canopy_core::completion::validate`]), and so do a property's
/// key and a score's name set through the API. So the key or name does too, and the value when
/// the condition compares for equality, so that a lookup by what the caller sent finds what was
/// kept. Patterns (`like`, `contains`) are compared as given.
fn stored_form(c: &Condition) -> Cow<'_, Condition> {
    let field = match &c.field {
        Field::Property(key) => match redact_text(key) {
            Cow::Owned(key) => Some(Field::Property(key)),
            Cow::Borrowed(_) => None,
        },
        Field::Score(name) => match redact_text(name) {
            Cow::Owned(name) => Some(Field::Score(name)),
            Cow::Borrowed(_) => None,
        },
        _ => None,
    };
    let value = stored_value(c);
    if field.is_none() && value.is_none() {
        return Cow::Borrowed(c);
    }
    Cow::Owned(Condition {
        field: field.unwrap_or_else(|| c.field.clone()),
        op: c.op,
        value: value.map_or_else(|| c.value.clone(), Value::Text),
    })
}

/// The value [`stored_form`] compares with, when it differs from the one given.
fn stored_value(c: &Condition) -> Option<String> {
    let (Op::Equals | Op::NotEquals, Value::Text(text)) = (c.op, &c.value) else {
        return None;
    };
    let stored = match &c.field {
        Field::SessionId
        | Field::SessionSessionId
        | Field::SessionName
        | Field::SessionSessionName
        | Field::UserId
        | Field::PromptId
        | Field::Model => stored_label(text),
        Field::Property(_) | Field::SessionTag => redact_text(text),
        Field::TargetUrl | Field::RequestPath => redact_url(text),
        Field::SessionPath => Cow::Owned(normalize_path(text)),
        _ => return None,
    };
    match stored {
        Cow::Owned(value) if value != *text => Some(value),
        _ => None,
    }
}

/// The SQL for a field over rows aliased `a` (a calls alias for call-level fields, a sessions
/// alias for session-level ones).
fn expr<'f>(field: &'f Field, a: &'static str) -> Expr<'f> {
    let column = |name: &str| Expr::Column(format!("{a}.{name}"));
    let sum = |x: &str, y: &str| Expr::Column(format!("({a}.{x} + {a}.{y})"));
    match field {
        Field::RequestId => column("id"),
        Field::CreatedAt => column("created_at"),
        Field::ResponseCreatedAt => column("response_created_at"),
        Field::Model => Expr::Column(format!("coalesce({a}.response_model, {a}.request_model)")),
        Field::Provider => Expr::Folded(format!("lower({a}.provider)")),
        Field::Status => column("status"),
        Field::Latency => column("latency_ms"),
        Field::TimeToFirstToken => column("time_to_first_token_ms"),
        Field::CostNano | Field::SessionTotalCostNano => column("cost_nano"),
        Field::PromptTokens | Field::SessionPromptTokens => column("prompt_tokens"),
        Field::CompletionTokens | Field::SessionCompletionTokens => column("completion_tokens"),
        Field::TotalTokens | Field::SessionTotalTokens => sum("prompt_tokens", "completion_tokens"),
        Field::CacheReadTokens => column("cache_read_tokens"),
        Field::CacheWriteTokens => sum("cache_write_tokens", "cache_write_1h_tokens"),
        Field::UserId => column("user_id"),
        Field::PromptId => column("prompt_id"),
        Field::TargetUrl => column("target_url"),
        Field::RequestPath => column("request_path"),
        Field::SessionId | Field::SessionSessionId => column("session_id"),
        Field::SessionPath => column("session_path"),
        Field::SessionName => column("session_name"),
        Field::Kind => column("kind"),
        Field::Property(key) => Expr::Property { alias: a, key },
        Field::Score(name) => Expr::Score { alias: a, name },
        Field::Feedback => Expr::Score {
            alias: a,
            name: FEEDBACK_SCORE,
        },
        Field::SessionSessionName => column("name"),
        Field::SessionTotalRequests => column("request_count"),
        Field::SessionCreatedAt => column("first_request_at"),
        Field::SessionLatestRequestAt => column("last_request_at"),
        // Tags are a set, handled by `push_tags`; a lone column would be wrong, so match none.
        Field::SessionTag => Expr::Column("NULL".to_owned()),
    }
}

/// The SQL text of `e`, binding what it looks up.
fn render(sql: &mut Sql<'_>, e: &Expr<'_>) -> String {
    match e {
        Expr::Column(text) | Expr::Folded(text) => text.clone(),
        Expr::Property { alias, key } => sql.dialect().property(sql, alias, key),
        Expr::Score { alias, name } => {
            let name = sql.param(*name);
            format!(
                "(SELECT cs.value FROM call_scores cs WHERE cs.org_id = {alias}.org_id \
                 AND cs.call_id = {alias}.id AND cs.name = {name})"
            )
        }
    }
}

/// Binds `value`, as text when it is compared with text, and returns its placeholder.
fn param(sql: &mut Sql<'_>, value: &Value, text: bool, fold: bool) -> String {
    let arg = match value {
        Value::Text(s) => Arg::Text(s.clone()),
        Value::Int(n) if text => Arg::Text(n.to_string()),
        Value::Float(f) if text => Arg::Text(f.to_string()),
        Value::Int(n) => Arg::Int(*n),
        Value::Float(f) => Arg::Float(*f),
        Value::Bool(b) => Arg::Int(i64::from(*b)),
        // Only reached for operators that ignore NULL values; such a comparison is unknown.
        Value::Null => return "NULL".to_owned(),
    };
    let placeholder = sql.param(arg);
    if fold {
        format!("lower({placeholder})")
    } else {
        placeholder
    }
}

/// `e op value`, with NULL-aware negatives (see the module docs).
fn push_compare(sql: &mut Sql<'_>, e: &Expr<'_>, op: Op, value: &Value, text: bool) {
    let fold = matches!(e, Expr::Folded(_));
    let dialect = sql.dialect();
    let lhs = render(sql, e);
    let condition = match (op, value) {
        (Op::Equals, Value::Null) => format!("{lhs} IS NULL"),
        (Op::NotEquals, Value::Null) => format!("{lhs} IS NOT NULL"),
        (Op::Contains, _) => {
            let needle = param(sql, value, true, false);
            format!("coalesce({}, FALSE)", dialect.contains(&lhs, &needle))
        }
        (Op::NotContains, _) => {
            let needle = param(sql, value, true, false);
            format!("NOT coalesce({}, FALSE)", dialect.contains(&lhs, &needle))
        }
        (Op::Like, Value::Text(pattern)) => {
            let pattern = if fold {
                pattern.to_lowercase()
            } else {
                pattern.clone()
            };
            dialect.like(sql, &lhs, &pattern)
        }
        (Op::ILike, _) => {
            let pattern = param(sql, value, true, fold);
            dialect.ilike(&lhs, &pattern)
        }
        (Op::NotEquals, _) => {
            let rhs = param(sql, value, text, fold);
            dialect.distinct(&lhs, &rhs)
        }
        _ => {
            let rhs = param(sql, value, text, fold);
            let symbol = match op {
                Op::Gt => ">",
                Op::Gte => ">=",
                Op::Lt => "<",
                Op::Lte => "<=",
                _ => "=",
            };
            format!("{lhs} {symbol} {rhs}")
        }
    };
    sql.push(&condition);
}

/// A session's tags: positive operators ask for some tag that matches, negative ones for no
/// tag that matches the positive; `"null"` asks for no tags at all (or some).
fn push_tags(sql: &mut Sql<'_>, c: &Condition, s: &'static str) {
    let (negate, op) = match (c.op, &c.value) {
        (Op::Equals, Value::Null) => (true, None),
        (Op::NotEquals, Value::Null) => (false, None),
        (Op::NotEquals, _) => (true, Some(Op::Equals)),
        (Op::NotContains, _) => (true, Some(Op::Contains)),
        (op, _) => (false, Some(op)),
    };
    if negate {
        sql.push("NOT ");
    }
    sql.push(&format!(
        "EXISTS (SELECT 1 FROM session_tags t WHERE t.org_id = {s}.org_id \
         AND t.session_id = {s}.session_id"
    ));
    if let Some(op) = op {
        sql.push(" AND ");
        push_compare(sql, &Expr::Column("t.tag".to_owned()), op, &c.value, true);
    }
    sql.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Dialect;

    /// A dialect that writes `?N` and spells every hook with its name, to show the shape.
    struct Plain;

    impl Dialect for Plain {
        fn placeholder(&self, n: usize, _arg: &Arg) -> String {
            format!("?{n}")
        }
        fn property(&self, sql: &mut Sql<'_>, alias: &str, key: &str) -> String {
            let key = sql.param(key);
            format!("prop({alias}, {key})")
        }
        fn contains(&self, haystack: &str, needle: &str) -> String {
            format!("contains({haystack}, {needle})")
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

    #[test]
    fn values_and_keys_are_bound_never_spliced() {
        let nasty = "x' OR 1=1 --";
        let text = || Value::Text(nasty.to_owned());
        let filter = Filter::leaf(Field::Property(nasty.into()), Op::Equals, text())
            .and(Filter::leaf(
                Field::Score(nasty.into()),
                Op::Gt,
                Value::Int(1),
            ))
            .and(Filter::leaf(Field::SessionTag, Op::Contains, text()))
            .and(Filter::leaf(Field::Model, Op::Like, text()));
        for push in [push_for_calls, push_for_sessions] {
            let mut sql = Sql::new(&Plain, "");
            push(&mut sql, &filter);
            assert!(!sql.text().contains("OR 1=1"), "{}", sql.text());
            assert_eq!(sql.args().len(), 6, "{sql:?}");
            for n in 1..=6 {
                assert!(sql.text().contains(&format!("?{n}")), "{sql:?}");
            }
        }
    }

    #[test]
    fn a_subtree_on_the_other_level_crosses_once() {
        let filter = Filter::leaf(Field::Model, Op::Equals, Value::Text("a".into()))
            .and(Filter::leaf(Field::Status, Op::Equals, Value::Int(500)));
        let mut sql = Sql::new(&Plain, "");
        push_for_sessions(&mut sql, &filter);
        assert_eq!(sql.text().matches("EXISTS").count(), 1, "{}", sql.text());
        assert_eq!(sql.args(), [Arg::Text("a".into()), Arg::Int(500)]);
    }

    #[test]
    fn equality_looks_for_labels_and_urls_as_they_are_stored() {
        let quoted = "https://u:SECRET@h.example.com";
        let cases = [
            (Field::SessionSessionId, "https://[REDACTED]@h.example.com"),
            (Field::UserId, "https://[REDACTED]@h.example.com"),
            (
                Field::Property("next".into()),
                "https://[REDACTED]@h.example.com",
            ),
            (Field::SessionPath, "/https:/[REDACTED]@h.example.com"),
        ];
        for (field, stored) in cases {
            let mut sql = Sql::new(&Plain, "");
            let filter = Filter::leaf(field.clone(), Op::Equals, Value::Text(quoted.into()));
            push_for_calls(&mut sql, &filter);
            assert!(
                sql.args().contains(&Arg::Text(stored.into())),
                "{field:?}: {sql:?}"
            );
        }
        // A property's key is looked for as it is stored, whatever the comparison.
        let key = "see https://u:SECRET@h";
        let filter = Filter::leaf(
            Field::Property(key.into()),
            Op::Contains,
            Value::Text("x".into()),
        );
        let mut sql = Sql::new(&Plain, "");
        push_for_calls(&mut sql, &filter);
        assert!(
            sql.args()
                .contains(&Arg::Text("see https://[REDACTED]@h".into())),
            "{sql:?}"
        );
        assert!(!format!("{sql:?}").contains("SECRET"), "{sql:?}");
        // A pattern is compared as given: redacting part of one would change what it matches.
        let mut sql = Sql::new(&Plain, "");
        let filter = Filter::leaf(Field::UserId, Op::Contains, Value::Text(quoted.into()));
        push_for_calls(&mut sql, &filter);
        assert_eq!(sql.args(), [Arg::Text(quoted.into())]);
    }

    #[test]
    fn numbers_compared_with_text_are_bound_as_text() {
        let filter = Filter::leaf(Field::UserId, Op::Equals, Value::Int(42));
        let mut sql = Sql::new(&Plain, "");
        push_for_calls(&mut sql, &filter);
        assert_eq!(sql.args(), [Arg::Text("42".into())]);
    }
}
