//! Helicone's filter language: the JSON tree the query API accepts, parsed into a typed AST
//! that every engine translates into its own query language.
//!
//! A node is `"all"` or `{}` (everything), a branch `{"left": N, "operator": "and"|"or",
//! "right": N}`, or a leaf `{"<table>": {"<column>": {"<op>": value}}}`. Several tables in one
//! leaf, several columns in one table and several operators on one column are all ANDed; an
//! empty object at any of those levels is an empty conjunction and matches everything.
//!
//! Parsing checks everything an engine would otherwise have to: the table, the column, whether
//! the operator applies to the column's type, and the value, which arrives converted to the
//! unit the store keeps (Unix milliseconds for timestamps, nano-USD for costs). Property keys
//! that Canopy also keeps as columns (`Helicone-Session-Id` and friends) become those columns,
//! so engines can use their indexes. The string `"null"` with `equals` / `not-equals` is
//! [`Value::Null`]: IS NULL / IS NOT NULL.
//!
//! No SQL belongs here; engines own the translation and its semantics for text matching.

use serde_json::{Map, Value as Json, json};

#[cfg(test)]
mod tests;
mod timestamp;

pub use timestamp::parse_timestamp_ms;

/// The deepest nesting of branches that [`parse`] accepts.
pub const MAX_DEPTH: usize = 64;
/// The most conditions one filter may hold.
pub const MAX_CONDITIONS: usize = 512;

/// A parsed filter tree.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Filter {
    /// Matches everything.
    #[default]
    All,
    /// Both sides match.
    And(Box<Filter>, Box<Filter>),
    /// Either side matches.
    Or(Box<Filter>, Box<Filter>),
    /// One condition on one field.
    Leaf(Condition),
}

/// One condition: `field op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What is compared.
    pub field: Field,
    /// How it is compared.
    pub op: Op,
    /// What it is compared with, already in the store's unit.
    pub value: Value,
}

/// Which row a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A column of one call.
    Call,
    /// A total of one session.
    Session,
}

/// The type of a field, which decides its operators and how its values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text: every operator but the ordering ones.
    Text,
    /// A number: equality and ordering.
    Number,
    /// A point in time, compared as Unix milliseconds.
    Timestamp,
    /// A cost, given in USD and compared as nano-USD.
    Usd,
    /// True or false: equality only.
    Bool,
}

/// A filterable field. Call-level fields are columns of a call; session-level ones (the
/// `Session*` variants but `SessionId`, `SessionPath` and `SessionName`) are a session's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The call's id.
    RequestId,
    /// When the request started.
    CreatedAt,
    /// When the response ended.
    ResponseCreatedAt,
    /// The model the response named, else the one the request named.
    Model,
    /// The route's provider name, compared case-insensitively.
    Provider,
    /// HTTP status (`-1` when the upstream was never reached).
    Status,
    /// Latency, ms.
    Latency,
    /// Time to first token, ms.
    TimeToFirstToken,
    /// Cost, nano-USD (NULL when the call could not be priced).
    CostNano,
    /// Input tokens.
    PromptTokens,
    /// Output tokens.
    CompletionTokens,
    /// Input plus output tokens.
    TotalTokens,
    /// Input tokens read from the prompt cache.
    CacheReadTokens,
    /// Input tokens written to the prompt cache, whatever their lifetime.
    CacheWriteTokens,
    /// The end user's id.
    UserId,
    /// The prompt's id.
    PromptId,
    /// The upstream URL.
    TargetUrl,
    /// The request's path on the gateway.
    RequestPath,
    /// The call's session id.
    SessionId,
    /// The call's path within its session.
    SessionPath,
    /// The session name the call carried.
    SessionName,
    /// `llm`, `tool`, `vector_db` or `data`.
    Kind,
    /// One custom property, by its stored (case-sensitive) key.
    Property(String),
    /// One named score.
    Score(String),
    /// The `helicone-score-feedback` score, as a boolean.
    Feedback,
    /// The session's id.
    SessionSessionId,
    /// The session's latest name.
    SessionSessionName,
    /// The session's total cost, nano-USD.
    SessionTotalCostNano,
    /// The session's input plus output tokens.
    SessionTotalTokens,
    /// The session's input tokens.
    SessionPromptTokens,
    /// The session's output tokens.
    SessionCompletionTokens,
    /// The session's number of calls.
    SessionTotalRequests,
    /// The start of the session's first call.
    SessionCreatedAt,
    /// The start of the session's latest call.
    SessionLatestRequestAt,
    /// Any of the session's tags.
    SessionTag,
}

impl Field {
    /// Whether the field is a column of a call or a total of a session: session-level fields
    /// are exactly the columns of Helicone's session view.
    pub fn level(&self) -> Level {
        if SESSION_COLUMNS.iter().any(|(_, field)| field == self) {
            Level::Session
        } else {
            Level::Call
        }
    }

    /// The field's type.
    pub fn field_type(&self) -> FieldType {
        match self {
            Self::CreatedAt
            | Self::ResponseCreatedAt
            | Self::SessionCreatedAt
            | Self::SessionLatestRequestAt => FieldType::Timestamp,
            Self::Status
            | Self::Latency
            | Self::TimeToFirstToken
            | Self::PromptTokens
            | Self::CompletionTokens
            | Self::TotalTokens
            | Self::CacheReadTokens
            | Self::CacheWriteTokens
            | Self::Score(_)
            | Self::SessionTotalTokens
            | Self::SessionPromptTokens
            | Self::SessionCompletionTokens
            | Self::SessionTotalRequests => FieldType::Number,
            Self::CostNano | Self::SessionTotalCostNano => FieldType::Usd,
            Self::Feedback => FieldType::Bool,
            _ => FieldType::Text,
        }
    }
}

/// A comparison operator; [`Op::as_str`] gives its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal; with [`Value::Null`], IS NULL.
    Equals,
    /// Not equal; with [`Value::Null`], IS NOT NULL.
    NotEquals,
    /// `like`: a pattern with `%` and `_`, case-sensitive.
    Like,
    /// `ilike`: a pattern with `%` and `_`, case-insensitive.
    ILike,
    /// `contains`: a case-insensitive substring.
    Contains,
    /// `not-contains`: not a case-insensitive substring.
    NotContains,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
}

impl Op {
    /// Every operator, in wire order.
    pub const ALL: [Op; 10] = [
        Op::Equals,
        Op::NotEquals,
        Op::Like,
        Op::ILike,
        Op::Contains,
        Op::NotContains,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
    ];

    /// The operator's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::NotEquals => "not-equals",
            Self::Like => "like",
            Self::ILike => "ilike",
            Self::Contains => "contains",
            Self::NotContains => "not-contains",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
        }
    }

    /// The operator with this wire name.
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether the operator applies to fields of type `ty`.
    pub fn applies_to(self, ty: FieldType) -> bool {
        match ty {
            FieldType::Text => !matches!(self, Self::Gt | Self::Gte | Self::Lt | Self::Lte),
            FieldType::Number | FieldType::Timestamp | FieldType::Usd => matches!(
                self,
                Self::Equals | Self::NotEquals | Self::Gt | Self::Gte | Self::Lt | Self::Lte
            ),
            FieldType::Bool => matches!(self, Self::Equals | Self::NotEquals),
        }
    }
}

/// A condition's value, in the store's unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `"null"`: with `equals`, IS NULL; with `not-equals`, IS NOT NULL.
    Null,
    /// Text.
    Text(String),
    /// An integer: counts, Unix milliseconds, nano-USD.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// True or false.
    Bool(bool),
}

/// Why a filter was rejected. Each message names what was wrong, for a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The leaf names a table this API does not know.
    #[error("unknown filter table `{table}`")]
    UnknownTable { table: String },
    /// The table has no such column.
    #[error("unknown column `{column}` in filter table `{table}`")]
    UnknownColumn { table: String, column: String },
    /// The operator is not one of Helicone's.
    #[error("unknown filter operator `{op}` on column `{column}`")]
    UnknownOperator { column: String, op: String },
    /// The operator exists but does not apply to the column's type.
    #[error("operator `{op}` does not apply to the {ty} column `{column}`")]
    OperatorMismatch {
        column: String,
        op: &'static str,
        ty: &'static str,
    },
    /// The value does not fit the column.
    #[error("column `{column}` with operator `{op}` expects {expected}, found {found}")]
    WrongValue {
        column: String,
        op: &'static str,
        expected: &'static str,
        found: String,
    },
    /// Something other than a node, a table object or an operator object.
    #[error("malformed filter at {at}: expected {expected}, found {found}")]
    Malformed {
        at: String,
        expected: &'static str,
        found: String,
    },
    /// Branches nest deeper than [`MAX_DEPTH`].
    #[error("filter nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// More than [`MAX_CONDITIONS`] conditions.
    #[error("filter has more than {MAX_CONDITIONS} conditions")]
    TooManyConditions,
}

impl Filter {
    /// Both `self` and `other`; [`Filter::All`] on either side drops out.
    pub fn and(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::All, f) | (f, Filter::All) => f,
            (a, b) => Filter::And(Box::new(a), Box::new(b)),
        }
    }

    /// A single condition.
    pub fn leaf(field: Field, op: Op, value: Value) -> Filter {
        Filter::Leaf(Condition { field, op, value })
    }

    /// The filter in Helicone's canonical wire form, which [`parse`] reads back unchanged.
    pub fn to_json(&self) -> Json {
        to_json(self)
    }
}

/// Parses Helicone's filter tree.
pub fn parse(json: &Json) -> Result<Filter, FilterError> {
    let mut parser = Parser { conditions: 0 };
    parser.node(json, 0, "the root")
}

/// A JSON object.
type Object = Map<String, Json>;
/// What parsing one node gives.
type Parsed = Result<Filter, FilterError>;

/// The state of one parse: how many conditions so far.
struct Parser {
    conditions: usize,
}

impl Parser {
    fn node(&mut self, json: &Json, depth: usize, at: &str) -> Parsed {
        if depth > MAX_DEPTH {
            return Err(FilterError::TooDeep);
        }
        match json {
            Json::String(s) if s == "all" => Ok(Filter::All),
            Json::Object(map) if BRANCH_KEYS.iter().any(|k| map.contains_key(*k)) => {
                self.branch(map, depth, at)
            }
            Json::Object(map) => self.leaf(map),
            other => Err(malformed(at, "\"all\", a branch or a leaf object", other)),
        }
    }

    fn branch(&mut self, map: &Object, depth: usize, at: &str) -> Parsed {
        const EXPECTED: &str = "a branch with exactly `left`, `operator` and `right`";
        let (Some(left), Some(operator), Some(right), 3) = (
            map.get("left"),
            map.get("operator"),
            map.get("right"),
            map.len(),
        ) else {
            return Err(malformed(at, EXPECTED, &Json::Object(map.clone())));
        };
        let or = match operator.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("and") => false,
            Some("or") => true,
            _ => {
                let at = format!("{at} `operator`");
                return Err(malformed(&at, "\"and\" or \"or\"", operator));
            }
        };
        let left = self.node(left, depth + 1, &format!("{at} `left`"))?;
        let right = self.node(right, depth + 1, &format!("{at} `right`"))?;
        Ok(match (or, left, right) {
            (false, l, r) => l.and(r),
            (true, Filter::All, _) | (true, _, Filter::All) => Filter::All,
            (true, l, r) => Filter::Or(Box::new(l), Box::new(r)),
        })
    }

    fn leaf(&mut self, map: &Object) -> Parsed {
        let mut parts = Vec::new();
        for (table, body) in map {
            let columns = object(body, &format!("table `{table}`"), "an object of columns")?;
            if table == "properties" {
                parts.push(self.map_column(MapColumn::Properties, table, columns)?);
                continue;
            }
            let known = Table::from_name(table).ok_or_else(|| FilterError::UnknownTable {
                table: table.clone(),
            })?;
            for (column, ops) in columns {
                let label = format!("{table}.{column}");
                let ops = object(ops, &format!("column `{label}`"), "an object of operators")?;
                if let Some(kind) = known.map_column(column) {
                    parts.push(self.map_column(kind, &label, ops)?);
                } else if let Some(field) = known.column(column) {
                    parts.push(self.operators(field, &label, ops)?);
                } else {
                    return Err(FilterError::UnknownColumn {
                        table: table.clone(),
                        column: column.clone(),
                    });
                }
            }
        }
        Ok(all_of(parts))
    }

    /// A column whose keys name further columns: properties or scores.
    fn map_column(&mut self, kind: MapColumn, label: &str, entries: &Object) -> Parsed {
        let mut parts = Vec::with_capacity(entries.len());
        for (key, ops) in entries {
            let label = format!("{label}.{key}");
            let ops = object(ops, &format!("column `{label}`"), "an object of operators")?;
            parts.push(self.operators(kind.field(key), &label, ops)?);
        }
        Ok(all_of(parts))
    }

    fn operators(&mut self, field: Field, label: &str, ops: &Object) -> Parsed {
        let mut parts = Vec::with_capacity(ops.len());
        for (name, raw) in ops {
            let op = Op::from_wire(name).ok_or_else(|| FilterError::UnknownOperator {
                column: label.to_owned(),
                op: name.clone(),
            })?;
            let ty = field.field_type();
            if !op.applies_to(ty) {
                return Err(FilterError::OperatorMismatch {
                    column: label.to_owned(),
                    op: op.as_str(),
                    ty: type_name(ty),
                });
            }
            self.conditions += 1;
            if self.conditions > MAX_CONDITIONS {
                return Err(FilterError::TooManyConditions);
            }
            let value = value(ty, op, raw).map_err(|expected| FilterError::WrongValue {
                column: label.to_owned(),
                op: op.as_str(),
                expected,
                found: describe(raw),
            })?;
            parts.push(Filter::leaf(field.clone(), op, value));
        }
        Ok(all_of(parts))
    }
}

/// The keys that make an object a branch rather than a leaf.
const BRANCH_KEYS: [&str; 3] = ["left", "operator", "right"];

/// The conjunction of `parts`, balanced so that its depth grows with the logarithm of its size.
fn all_of(mut parts: Vec<Filter>) -> Filter {
    match parts.len() {
        0 => Filter::All,
        1 => parts.pop().unwrap_or_default(),
        n => {
            let right = parts.split_off(n / 2);
            all_of(parts).and(all_of(right))
        }
    }
}

fn object<'a>(json: &'a Json, at: &str, expected: &'static str) -> Result<&'a Object, FilterError> {
    json.as_object()
        .ok_or_else(|| malformed(at, expected, json))
}

fn malformed(at: &str, expected: &'static str, found: &Json) -> FilterError {
    FilterError::Malformed {
        at: at.to_owned(),
        expected,
        found: describe(found),
    }
}

/// A JSON value for an error message, cut to 60 characters.
fn describe(json: &Json) -> String {
    let text = json.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("`{}…`", &text[..cut]),
        None => format!("`{text}`"),
    }
}

const RMT: &str = "request_response_rmt";
const SESSIONS: &str = "sessions_request_response_rmt";

/// The columns of Helicone's request view, each with its field (its canonical wire name).
const RMT_COLUMNS: [(&str, Field); 23] = [
    ("request_id", Field::RequestId),
    ("request_created_at", Field::CreatedAt),
    ("response_created_at", Field::ResponseCreatedAt),
    ("model", Field::Model),
    ("provider", Field::Provider),
    ("status", Field::Status),
    ("latency", Field::Latency),
    ("time_to_first_token", Field::TimeToFirstToken),
    ("cost", Field::CostNano),
    ("prompt_tokens", Field::PromptTokens),
    ("completion_tokens", Field::CompletionTokens),
    ("total_tokens", Field::TotalTokens),
    ("prompt_cache_read_tokens", Field::CacheReadTokens),
    ("prompt_cache_write_tokens", Field::CacheWriteTokens),
    ("user_id", Field::UserId),
    ("prompt_id", Field::PromptId),
    ("target_url", Field::TargetUrl),
    ("request_path", Field::RequestPath),
    ("session_id", Field::SessionId),
    ("session_path", Field::SessionPath),
    ("session_name", Field::SessionName),
    ("kind", Field::Kind),
    ("helicone-score-feedback", Field::Feedback),
];

/// The columns of Helicone's session view, each with its field.
const SESSION_COLUMNS: [(&str, Field); 10] = [
    ("session_session_id", Field::SessionSessionId),
    ("session_session_name", Field::SessionSessionName),
    ("session_total_cost", Field::SessionTotalCostNano),
    ("session_total_tokens", Field::SessionTotalTokens),
    ("session_prompt_tokens", Field::SessionPromptTokens),
    ("session_completion_tokens", Field::SessionCompletionTokens),
    ("session_total_requests", Field::SessionTotalRequests),
    ("session_created_at", Field::SessionCreatedAt),
    (
        "session_latest_request_created_at",
        Field::SessionLatestRequestAt,
    ),
    ("session_tag", Field::SessionTag),
];

/// The tables a leaf may name besides the top-level `properties`: Helicone's ClickHouse views
/// of calls and sessions, and the legacy Postgres `request`, `response` and `feedback` tables.
#[derive(Debug, Clone, Copy)]
enum Table {
    Rmt,
    Sessions,
    Request,
    Response,
    Feedback,
}

/// A column whose keys are themselves columns.
#[derive(Debug, Clone, Copy)]
enum MapColumn {
    Properties,
    Scores,
}

impl Table {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            RMT => Self::Rmt,
            SESSIONS => Self::Sessions,
            "request" => Self::Request,
            "response" => Self::Response,
            "feedback" => Self::Feedback,
            _ => return None,
        })
    }

    fn column(self, name: &str) -> Option<Field> {
        let legacy = match (self, name) {
            (Self::Rmt | Self::Sessions, _) => None,
            (Self::Request, "created_at") => Some(Field::CreatedAt),
            (Self::Request, "user_id") => Some(Field::UserId),
            (Self::Request, "model") => Some(Field::Model),
            (Self::Request, "path") => Some(Field::RequestPath),
            (Self::Request, "prompt_id") => Some(Field::PromptId),
            (Self::Request, "id") => Some(Field::RequestId),
            (Self::Response, "status") => Some(Field::Status),
            (Self::Response, "body_model") => Some(Field::Model),
            (Self::Feedback, "rating") => Some(Field::Feedback),
            _ => return None,
        };
        let columns = match self {
            Self::Rmt => RMT_COLUMNS.as_slice(),
            Self::Sessions => SESSION_COLUMNS.as_slice(),
            _ => return legacy,
        };
        let found = columns.iter().find(|(column, _)| *column == name);
        found.map(|(_, field)| field.clone())
    }

    fn map_column(self, name: &str) -> Option<MapColumn> {
        match (self, name) {
            (Self::Rmt | Self::Request, "properties") => Some(MapColumn::Properties),
            (Self::Rmt, "scores") => Some(MapColumn::Scores),
            _ => None,
        }
    }
}

impl MapColumn {
    /// The field one key names. Property keys that Canopy keeps as columns become the column.
    /// Other property keys are matched without regard to case: they arrive as header names,
    /// which are stored lower-case, so `Environment` names the property `environment`.
    fn field(self, key: &str) -> Field {
        const AS_COLUMNS: [(&str, Field); 5] = [
            ("Helicone-Session-Id", Field::SessionId),
            ("Helicone-Session-Path", Field::SessionPath),
            ("Helicone-Session-Name", Field::SessionName),
            ("Helicone-Prompt-Id", Field::PromptId),
            ("Helicone-User-Id", Field::UserId),
        ];
        match self {
            Self::Scores => Field::Score(key.to_owned()),
            Self::Properties => AS_COLUMNS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .map_or_else(
                    || Field::Property(key.to_ascii_lowercase()),
                    |(_, f)| f.clone(),
                ),
        }
    }
}

fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Text => "text",
        FieldType::Number => "number",
        FieldType::Timestamp => "timestamp",
        FieldType::Usd => "cost",
        FieldType::Bool => "boolean",
    }
}

/// Reads a value for a field of type `ty`, or says what was expected.
fn value(ty: FieldType, op: Op, raw: &Json) -> Result<Value, &'static str> {
    let null = raw.is_null() || raw.as_str() == Some("null");
    if null && matches!(op, Op::Equals | Op::NotEquals) {
        return Ok(Value::Null);
    }
    match (ty, raw) {
        (FieldType::Text, Json::String(s)) => Ok(Value::Text(s.clone())),
        (FieldType::Text, Json::Number(n)) => Ok(Value::Text(n.to_string())),
        (FieldType::Text, _) => Err("a string"),
        (FieldType::Number, _) => number(raw).ok_or("a number"),
        (FieldType::Usd, _) => number(raw)
            .and_then(|v| {
                let usd = match v {
                    Value::Int(n) => n as f64,
                    Value::Float(f) => f,
                    _ => return None,
                };
                to_i64((usd * 1e9).round())
            })
            .map(Value::Int)
            .ok_or("a number of US dollars"),
        (FieldType::Timestamp, Json::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().and_then(|f| to_i64(f.round())))
            .map(Value::Int)
            .ok_or("an ISO-8601 timestamp or Unix milliseconds"),
        (FieldType::Timestamp, Json::String(s)) => (s.trim().parse().ok())
            .or_else(|| parse_timestamp_ms(s.trim()))
            .map(Value::Int)
            .ok_or("an ISO-8601 timestamp or Unix milliseconds"),
        (FieldType::Timestamp, _) => Err("an ISO-8601 timestamp or Unix milliseconds"),
        (FieldType::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (FieldType::Bool, Json::String(s)) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (FieldType::Bool, _) => Err("true or false"),
    }
}

/// A JSON number, or a string holding one.
fn number(raw: &Json) -> Option<Value> {
    let finite = |f: f64| f.is_finite().then_some(Value::Float(f));
    match raw {
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_f64().and_then(finite)),
        Json::String(s) => {
            let s = s.trim();
            (s.parse().ok().map(Value::Int)).or_else(|| s.parse().ok().and_then(finite))
        }
        _ => None,
    }
}

/// A whole `f64` as `i64`, when it is finite and in range.
fn to_i64(f: f64) -> Option<i64> {
    (f.is_finite() && f.abs() < 9.2e18).then_some(f as i64)
}

/// The canonical wire form of a filter.
fn to_json(filter: &Filter) -> Json {
    match filter {
        Filter::All => json!("all"),
        Filter::And(l, r) => json!({"left": to_json(l), "operator": "and", "right": to_json(r)}),
        Filter::Or(l, r) => json!({"left": to_json(l), "operator": "or", "right": to_json(r)}),
        Filter::Leaf(c) => {
            let value = match (&c.value, c.field.field_type()) {
                (Value::Null, _) => json!("null"),
                (Value::Text(s), _) => json!(s),
                (Value::Int(n), FieldType::Usd) => json!(*n as f64 / 1e9),
                (Value::Int(n), _) => json!(n),
                (Value::Float(f), _) => json!(f),
                (Value::Bool(b), _) => json!(b),
            };
            let mut ops = Map::new();
            ops.insert(c.op.as_str().to_owned(), value);
            let (column, inner) = match &c.field {
                Field::Property(key) => ("properties", json!({ key.clone(): ops })),
                Field::Score(key) => ("scores", json!({ key.clone(): ops })),
                field => {
                    let (table, columns) = match field.level() {
                        Level::Call => (RMT, RMT_COLUMNS.as_slice()),
                        Level::Session => (SESSIONS, SESSION_COLUMNS.as_slice()),
                    };
                    // Every other field has an entry; a missing one would fail to parse back.
                    let named = columns.iter().find(|(_, f)| f == field);
                    let column = named.map_or("?", |(column, _)| column);
                    return json!({ table: { column: ops } });
                }
            };
            json!({ RMT: { column: inner } })
        }
    }
}
