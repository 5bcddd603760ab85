//! Translates the filter AST ([`canopy_store::query::filter`]) into SQLite SQL with every value
//! bound as a parameter: nothing from a request is ever spliced into the statement.
//!
//! Filters run over calls (aliased `c`) or over sessions (aliased `s`). A condition on the other
//! level crosses over with `EXISTS`: a call matches a session-level condition through its
//! session's totals, and a session matches a call-level condition when any of its calls does.
//! The largest subtree that is wholly on the other level goes into one `EXISTS`, so
//! `model = a AND status = 500` over sessions asks for one call that is both.
//!
//! Semantics, where SQLite leaves a choice:
//! - `equals` on text is exact; `provider` compares case-insensitively.
//! - `like` is case-sensitive: its pattern (`%`, `_`, `\` escapes, as in PostgreSQL) becomes an
//!   equivalent `GLOB` pattern. `ilike` is `LIKE … ESCAPE '\'`, which SQLite folds for ASCII
//!   letters only; so do `contains` / `not-contains` (`instr(lower(..), lower(..))`).
//! - Negative operators are exact complements: `not-equals` and `not-contains` also match rows
//!   where the value is absent (NULL, a missing property or score, a session without that tag).
//! - `"null"` is IS NULL / IS NOT NULL; for a property, the key is absent / present.
//!
//! The module is public (hidden from docs) only so integration tests can reach
//! [`matching_call_ids`] and [`matching_session_ids`]; queries built on it live in `queries`.
#![doc(hidden)]

use canopy_store::query::filter::{Condition, Field, Filter, Level, Op, Value};
use canopy_store::{Result, StoreError};
use sqlx::{QueryBuilder, Sqlite};

use crate::SqliteStore;

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

/// Appends `filter` as a boolean SQL expression over calls aliased `c` (the caller constrains
/// the organisation). Session-level conditions ask the call's session.
pub(crate) fn push_for_calls(qb: &mut QueryBuilder<Sqlite>, filter: &Filter) {
    push_node(qb, filter, CALLS);
}

/// Appends `filter` as a boolean SQL expression over sessions aliased `s`. Call-level
/// conditions match a session when any of its calls matches; its totals stay whole.
pub(crate) fn push_for_sessions(qb: &mut QueryBuilder<Sqlite>, filter: &Filter) {
    push_node(qb, filter, SESSIONS);
}

/// The ids of the organisation's calls that match `filter`, oldest first.
#[doc(hidden)]
pub async fn matching_call_ids(
    store: &SqliteStore,
    org: &str,
    filter: &Filter,
) -> Result<Vec<String>> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT c.id FROM calls c WHERE c.org_id = ");
    qb.push_bind(org.to_owned()).push(" AND (");
    push_for_calls(&mut qb, filter);
    qb.push(") ORDER BY c.created_at, c.id");
    let ids = qb.build_query_scalar().fetch_all(&store.readers).await;
    ids.map_err(|source| StoreError::Read {
        what: "matching_call_ids",
        source: source.into(),
    })
}

/// The ids of the organisation's sessions that match `filter`, oldest first.
#[doc(hidden)]
pub async fn matching_session_ids(
    store: &SqliteStore,
    org: &str,
    filter: &Filter,
) -> Result<Vec<String>> {
    let mut qb =
        QueryBuilder::<Sqlite>::new("SELECT s.session_id FROM sessions s WHERE s.org_id = ");
    qb.push_bind(org.to_owned()).push(" AND (");
    push_for_sessions(&mut qb, filter);
    qb.push(") ORDER BY s.first_request_at, s.session_id");
    let ids = qb.build_query_scalar().fetch_all(&store.readers).await;
    ids.map_err(|source| StoreError::Read {
        what: "matching_session_ids",
        source: source.into(),
    })
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

fn push_node(qb: &mut QueryBuilder<Sqlite>, filter: &Filter, scope: Scope) {
    if let Levels::Only(level) = levels(filter)
        && level != scope.level
        && !same_row(filter, scope)
    {
        push_crossing(qb, filter, scope);
        return;
    }
    match filter {
        Filter::All => {
            qb.push("1");
        }
        Filter::And(l, r) | Filter::Or(l, r) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            qb.push("(");
            push_node(qb, l, scope);
            qb.push(joiner);
            push_node(qb, r, scope);
            qb.push(")");
        }
        Filter::Leaf(c) => push_condition(qb, c, scope),
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
fn push_crossing(qb: &mut QueryBuilder<Sqlite>, filter: &Filter, scope: Scope) {
    let (inner, table) = match scope.level {
        Level::Call => (CALL_SESSION, "sessions"),
        Level::Session => (SESSION_CALLS, "calls"),
    };
    let (o, i) = (scope.alias, inner.alias);
    qb.push(format!(
        "EXISTS (SELECT 1 FROM {table} {i} WHERE {i}.org_id = {o}.org_id \
         AND {i}.session_id = {o}.session_id AND "
    ));
    push_node(qb, filter, inner);
    qb.push(")");
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

fn push_condition(qb: &mut QueryBuilder<Sqlite>, c: &Condition, scope: Scope) {
    let a = scope.alias;
    match (&c.field, scope.level) {
        (Field::SessionTag, _) => push_tags(qb, c, a),
        (Field::SessionSessionId, Level::Call) => {
            // A call without a session has no session to match.
            qb.push(format!("({a}.session_id IS NOT NULL AND "));
            push_compare(qb, &Expr::Column(format!("{a}.session_id")), c.op, &c.value);
            qb.push(")");
        }
        (Field::SessionId, Level::Session) => {
            push_compare(qb, &Expr::Column(format!("{a}.session_id")), c.op, &c.value);
        }
        (field, _) => push_compare(qb, &expr(field, a), c.op, &c.value),
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

/// The score that holds a call's thumbs-up (1) or thumbs-down (0).
const FEEDBACK_SCORE: &str = "helicone-score-feedback";

fn push_expr(qb: &mut QueryBuilder<Sqlite>, e: &Expr<'_>) {
    match e {
        Expr::Column(sql) | Expr::Folded(sql) => {
            qb.push(sql);
        }
        Expr::Property { alias, key } if json_path_safe(key) => {
            qb.push(format!("json_extract({alias}.properties, "));
            qb.push_bind(format!("$.\"{key}\"")).push(")");
        }
        Expr::Property { alias, key } => {
            // A key that JSON escapes cannot be written as a JSON path; look it up instead.
            qb.push(format!(
                "(SELECT j.value FROM json_each({alias}.properties) j WHERE j.key = "
            ));
            qb.push_bind(key.to_string()).push(")");
        }
        Expr::Score { alias, name } => {
            qb.push(format!(
                "(SELECT cs.value FROM call_scores cs WHERE cs.org_id = {alias}.org_id \
                 AND cs.call_id = {alias}.id AND cs.name = "
            ));
            qb.push_bind(name.to_string()).push(")");
        }
    }
}

/// Whether `key` appears verbatim in stored JSON and so can be named in a quoted JSON path.
fn json_path_safe(key: &str) -> bool {
    !key.is_empty()
        && !key
            .chars()
            .any(|ch| ch == '"' || ch == '\\' || ch.is_control())
}

fn push_value(qb: &mut QueryBuilder<Sqlite>, value: &Value, fold: bool) {
    if fold {
        qb.push("lower(");
    }
    match value {
        Value::Null => qb.push_bind(None::<i64>),
        Value::Text(s) => qb.push_bind(s.clone()),
        Value::Int(n) => qb.push_bind(*n),
        Value::Float(f) => qb.push_bind(*f),
        Value::Bool(b) => qb.push_bind(i64::from(*b)),
    };
    if fold {
        qb.push(")");
    }
}

/// `e op value`, with NULL-aware negatives (see the module docs).
fn push_compare(qb: &mut QueryBuilder<Sqlite>, e: &Expr<'_>, op: Op, value: &Value) {
    let fold = matches!(e, Expr::Folded(_));
    match (op, value) {
        (Op::Equals, Value::Null) => {
            push_expr(qb, e);
            qb.push(" IS NULL");
        }
        (Op::NotEquals, Value::Null) => {
            push_expr(qb, e);
            qb.push(" IS NOT NULL");
        }
        (Op::Contains | Op::NotContains, _) => {
            let negate = op == Op::NotContains;
            qb.push(if negate {
                "coalesce(instr(lower("
            } else {
                "instr(lower("
            });
            push_expr(qb, e);
            qb.push("), lower(");
            push_value(qb, value, false);
            qb.push(if negate { ")), 0) = 0" } else { ")) > 0" });
        }
        (Op::Like, Value::Text(pattern)) => {
            push_expr(qb, e);
            qb.push(" GLOB ");
            push_value(qb, &Value::Text(like_to_glob(pattern)), fold);
        }
        (Op::ILike, _) => {
            push_expr(qb, e);
            qb.push(" LIKE ");
            push_value(qb, value, fold);
            qb.push(" ESCAPE '\\'");
        }
        _ => {
            push_expr(qb, e);
            qb.push(match op {
                Op::NotEquals => " IS NOT ",
                Op::Gt => " > ",
                Op::Gte => " >= ",
                Op::Lt => " < ",
                Op::Lte => " <= ",
                Op::Like => " GLOB ",
                _ => " = ",
            });
            push_value(qb, value, fold);
        }
    }
}

/// A session's tags: positive operators ask for some tag that matches, negative ones for no
/// tag that matches the positive; `"null"` asks for no tags at all (or some).
fn push_tags(qb: &mut QueryBuilder<Sqlite>, c: &Condition, s: &'static str) {
    let (negate, op) = match (c.op, &c.value) {
        (Op::Equals, Value::Null) => (true, None),
        (Op::NotEquals, Value::Null) => (false, None),
        (Op::NotEquals, _) => (true, Some(Op::Equals)),
        (Op::NotContains, _) => (true, Some(Op::Contains)),
        (op, _) => (false, Some(op)),
    };
    if negate {
        qb.push("NOT ");
    }
    qb.push(format!(
        "EXISTS (SELECT 1 FROM session_tags t WHERE t.org_id = {s}.org_id \
         AND t.session_id = {s}.session_id"
    ));
    if let Some(op) = op {
        qb.push(" AND ");
        push_compare(qb, &Expr::Column("t.tag".to_owned()), op, &c.value);
    }
    qb.push(")");
}

/// A LIKE pattern (`%`, `_`, and `\` escaping the next character) as the GLOB pattern that
/// matches the same strings, case-sensitively.
fn like_to_glob(pattern: &str) -> String {
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
    use canopy_store::query::filter::{Field, Filter, Op, Value};
    use sqlx::{QueryBuilder, Sqlite};

    use super::{like_to_glob, push_for_calls, push_for_sessions};

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
            let mut qb = QueryBuilder::<Sqlite>::new("");
            push(&mut qb, &filter);
            let sql = qb.into_string();
            assert!(!sql.contains("OR 1=1"), "{sql}");
            assert_eq!(sql.matches('?').count(), 6, "{sql}");
        }
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
