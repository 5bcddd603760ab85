//! Tests of the filter parser: every table, column family, operator family, legacy form and
//! error message, and a property test that the canonical JSON parses back to the same filter.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn ok(json: Json) -> Filter {
    match parse(&json) {
        Ok(filter) => filter,
        Err(e) => panic!("{json} should parse: {e}"),
    }
}

fn err(json: Json) -> String {
    match parse(&json) {
        Ok(filter) => panic!("{json} should fail, parsed as {filter:?}"),
        Err(e) => e.to_string(),
    }
}

fn leaf(field: Field, op: Op, value: Value) -> Filter {
    Filter::leaf(field, op, value)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Every named column of the two current tables, with its table.
fn columns() -> Vec<(&'static str, &'static str, Field)> {
    let rmt = RMT_COLUMNS.iter().map(|(c, f)| (RMT, *c, f.clone()));
    let sessions = SESSION_COLUMNS
        .iter()
        .map(|(c, f)| (SESSIONS, *c, f.clone()));
    rmt.chain(sessions).collect()
}

#[test]
fn all_and_empty_objects_match_everything() {
    assert_eq!(ok(json!("all")), Filter::All);
    assert_eq!(ok(json!({})), Filter::All);
    assert_eq!(ok(json!({"request_response_rmt": {}})), Filter::All);
    assert_eq!(
        ok(json!({"request_response_rmt": {"model": {}}})),
        Filter::All
    );
}

#[test]
fn branches_combine_and_drop_all() {
    let model = json!({"request_response_rmt": {"model": {"equals": "a"}}});
    let status = json!({"request_response_rmt": {"status": {"equals": 200}}});
    let m = leaf(Field::Model, Op::Equals, text("a"));
    let s = leaf(Field::Status, Op::Equals, Value::Int(200));
    let and = ok(json!({"left": model, "operator": "and", "right": status}));
    assert_eq!(and, Filter::And(Box::new(m.clone()), Box::new(s.clone())));
    let or = ok(json!({"left": model, "operator": "OR", "right": status}));
    assert_eq!(or, Filter::Or(Box::new(m.clone()), Box::new(s)));
    assert_eq!(
        ok(json!({"left": model, "operator": "and", "right": "all"})),
        m
    );
    assert_eq!(
        ok(json!({"left": model, "operator": "or", "right": {}})),
        Filter::All
    );
    assert_eq!(Filter::All.and(Filter::All), Filter::All);
}

#[test]
fn every_named_column_parses_to_its_field() {
    for (table, column, field) in &columns() {
        let value = match field.field_type() {
            FieldType::Text => json!("x"),
            FieldType::Bool => json!(true),
            FieldType::Number | FieldType::Usd | FieldType::Timestamp => json!(1),
        };
        let filter = ok(json!({ *table: { *column: { "equals": value } } }));
        let Filter::Leaf(c) = filter else {
            panic!("{table}.{column} is not a leaf")
        };
        assert_eq!(&c.field, field, "{table}.{column}");
        let level = if *table == SESSIONS {
            Level::Session
        } else {
            Level::Call
        };
        assert_eq!(c.field.level(), level, "{table}.{column}");
    }
}

#[test]
fn text_columns_take_text_operators_only() {
    for op in [
        "equals",
        "not-equals",
        "like",
        "ilike",
        "contains",
        "not-contains",
    ] {
        let f = ok(json!({"request_response_rmt": {"user_id": {op: "u%"}}}));
        let op = Op::from_wire(op).unwrap();
        assert_eq!(f, leaf(Field::UserId, op, text("u%")));
    }
    assert_eq!(
        err(json!({"request_response_rmt": {"model": {"gt": "a"}}})),
        "operator `gt` does not apply to the text column `request_response_rmt.model`"
    );
    // A number given for a text column is read as its text.
    assert_eq!(
        ok(json!({"request_response_rmt": {"prompt_id": {"equals": 7}}})),
        leaf(Field::PromptId, Op::Equals, text("7"))
    );
}

#[test]
fn number_columns_take_comparisons_and_numeric_strings() {
    for op in ["equals", "not-equals", "gt", "gte", "lt", "lte"] {
        let f = ok(json!({"request_response_rmt": {"latency": {op: 250}}}));
        assert_eq!(
            f,
            leaf(Field::Latency, Op::from_wire(op).unwrap(), Value::Int(250))
        );
    }
    assert_eq!(
        ok(json!({"request_response_rmt": {"status": {"equals": "200"}}})),
        leaf(Field::Status, Op::Equals, Value::Int(200))
    );
    assert_eq!(
        ok(json!({"request_response_rmt": {"total_tokens": {"gte": 12.5}}})),
        leaf(Field::TotalTokens, Op::Gte, Value::Float(12.5))
    );
    assert_eq!(
        err(json!({"request_response_rmt": {"status": {"like": "2%"}}})),
        "operator `like` does not apply to the number column `request_response_rmt.status`"
    );
    assert_eq!(
        err(json!({"request_response_rmt": {"status": {"equals": "ok"}}})),
        "column `request_response_rmt.status` with operator `equals` expects a number, \
         found `\"ok\"`"
    );
}

#[test]
fn costs_are_usd_converted_to_nano() {
    assert_eq!(
        ok(json!({"request_response_rmt": {"cost": {"gt": 0.5}}})),
        leaf(Field::CostNano, Op::Gt, Value::Int(500_000_000))
    );
    assert_eq!(
        ok(json!({"sessions_request_response_rmt": {"session_total_cost": {"lte": "0.000001"}}})),
        leaf(Field::SessionTotalCostNano, Op::Lte, Value::Int(1_000))
    );
    assert_eq!(
        ok(json!({"request_response_rmt": {"cost": {"equals": 2}}})),
        leaf(Field::CostNano, Op::Equals, Value::Int(2_000_000_000))
    );
    assert!(err(json!({"request_response_rmt": {"cost": {"gt": 1e300}}})).contains("US dollars"));
}

#[test]
fn timestamps_accept_iso_strings_and_unix_ms() {
    let at = |v: Json| ok(json!({"request_response_rmt": {"request_created_at": {"gte": v}}}));
    let ms = |n: i64| leaf(Field::CreatedAt, Op::Gte, Value::Int(n));
    assert_eq!(at(json!("2025-01-01T00:00:00Z")), ms(1_735_689_600_000));
    assert_eq!(at(json!("2025-01-01 00:00:00")), ms(1_735_689_600_000));
    assert_eq!(at(json!("2025-01-01T00:00:00.123Z")), ms(1_735_689_600_123));
    assert_eq!(
        at(json!("2025-01-01T01:00:00+01:00")),
        ms(1_735_689_600_000)
    );
    assert_eq!(at(json!(1_735_689_600_000_i64)), ms(1_735_689_600_000));
    assert_eq!(at(json!("1735689600000")), ms(1_735_689_600_000));
    assert_eq!(
        err(json!({"request_response_rmt": {"request_created_at": {"gt": "yesterday"}}})),
        "column `request_response_rmt.request_created_at` with operator `gt` expects \
         an ISO-8601 timestamp or Unix milliseconds, found `\"yesterday\"`"
    );
    assert_eq!(
        err(json!({"request_response_rmt": {"request_created_at": {"contains": "2025"}}})),
        "operator `contains` does not apply to the timestamp column \
         `request_response_rmt.request_created_at`"
    );
}

#[test]
fn timestamp_parser_handles_the_iso_forms() {
    let p = parse_timestamp_ms;
    assert_eq!(p("1970-01-01"), Some(0));
    assert_eq!(p("1970-01-01T00:00"), Some(0));
    assert_eq!(p("2000-02-29T12:34:56.7Z"), Some(951_827_696_700));
    assert_eq!(p("2000-02-29t12:34:56,789123z"), Some(951_827_696_789));
    assert_eq!(p("1970-01-01T00:00:00-0130"), Some(5_400_000));
    assert_eq!(p("1970-01-01T00:00:00+02"), Some(-7_200_000));
    assert_eq!(p("1969-12-31T23:59:59.999Z"), Some(-1));
    for bad in [
        "",
        "2025",
        "2025-13-01",
        "2025-02-29",
        "2025-01-01T24:00",
        "2025-01-01T00:00:60",
        "2025-01-01T00:00:00.",
        "2025-01-01T00:00:00+25:00",
        "2025-01-01T00:00:00 UTC",
        "2025-01-01X00:00",
    ] {
        assert_eq!(p(bad), None, "{bad}");
    }
}

#[test]
fn null_means_is_null_for_equality_only() {
    assert_eq!(
        ok(json!({"request_response_rmt": {"user_id": {"equals": "null"}}})),
        leaf(Field::UserId, Op::Equals, Value::Null)
    );
    assert_eq!(
        ok(json!({"request_response_rmt": {"latency": {"not-equals": null}}})),
        leaf(Field::Latency, Op::NotEquals, Value::Null)
    );
    assert_eq!(
        ok(json!({"request_response_rmt": {"model": {"contains": "null"}}})),
        leaf(Field::Model, Op::Contains, text("null"))
    );
    assert!(err(json!({"request_response_rmt": {"latency": {"gt": "null"}}})).contains("a number"));
}

#[test]
fn properties_and_scores_are_map_columns() {
    assert_eq!(
        ok(json!({"request_response_rmt": {"properties": {"tier": {"equals": "gold"}}}})),
        leaf(Field::Property("tier".into()), Op::Equals, text("gold"))
    );
    assert_eq!(
        ok(json!({"properties": {"Tier": {"contains": "go"}}})),
        leaf(Field::Property("tier".into()), Op::Contains, text("go")),
        "property keys are stored lower-case, so a key in any case names them"
    );
    assert_eq!(
        ok(json!({"request_response_rmt": {"scores": {"accuracy": {"gte": 0.8}}}})),
        leaf(Field::Score("accuracy".into()), Op::Gte, Value::Float(0.8))
    );
    assert_eq!(
        err(json!({"request_response_rmt": {"scores": {"accuracy": {"ilike": "x"}}}})),
        "operator `ilike` does not apply to the number column \
         `request_response_rmt.scores.accuracy`"
    );
}

#[test]
fn helicone_property_keys_become_columns() {
    let cases = [
        ("Helicone-Session-Id", Field::SessionId),
        ("helicone-session-path", Field::SessionPath),
        ("Helicone-Session-Name", Field::SessionName),
        ("Helicone-Prompt-Id", Field::PromptId),
        ("Helicone-User-Id", Field::UserId),
    ];
    for (key, field) in cases {
        assert_eq!(
            ok(json!({"properties": {key: {"equals": "v"}}})),
            leaf(field.clone(), Op::Equals, text("v"))
        );
        assert_eq!(
            ok(json!({"request_response_rmt": {"properties": {key: {"equals": "v"}}}})),
            leaf(field, Op::Equals, text("v"))
        );
    }
}

#[test]
fn legacy_tables_map_to_the_same_fields() {
    let cases = [
        (
            json!({"request": {"created_at": {"gte": 5}}}),
            Field::CreatedAt,
        ),
        (
            json!({"request": {"user_id": {"equals": 5}}}),
            Field::UserId,
        ),
        (json!({"request": {"model": {"equals": 5}}}), Field::Model),
        (
            json!({"request": {"path": {"equals": 5}}}),
            Field::RequestPath,
        ),
        (
            json!({"request": {"prompt_id": {"equals": 5}}}),
            Field::PromptId,
        ),
        (json!({"request": {"id": {"equals": 5}}}), Field::RequestId),
        (
            json!({"response": {"status": {"equals": 5}}}),
            Field::Status,
        ),
        (
            json!({"response": {"body_model": {"equals": 5}}}),
            Field::Model,
        ),
    ];
    for (json, field) in cases {
        let Filter::Leaf(c) = ok(json.clone()) else {
            panic!("{json}")
        };
        assert_eq!(c.field, field, "{json}");
    }
    assert_eq!(
        ok(json!({"request": {"properties": {"tier": {"equals": "gold"}}}})),
        leaf(Field::Property("tier".into()), Op::Equals, text("gold"))
    );
}

#[test]
fn feedback_is_a_boolean() {
    for (value, expected) in [(json!(true), true), (json!("false"), false)] {
        assert_eq!(
            ok(json!({"feedback": {"rating": {"equals": value}}})),
            leaf(Field::Feedback, Op::Equals, Value::Bool(expected))
        );
    }
    assert_eq!(
        ok(json!({"request_response_rmt": {"helicone-score-feedback": {"equals": "true"}}})),
        leaf(Field::Feedback, Op::Equals, Value::Bool(true))
    );
    assert_eq!(
        err(json!({"feedback": {"rating": {"equals": "yes"}}})),
        "column `feedback.rating` with operator `equals` expects true or false, found `\"yes\"`"
    );
    assert_eq!(
        err(json!({"feedback": {"rating": {"gt": true}}})),
        "operator `gt` does not apply to the boolean column `feedback.rating`"
    );
}

#[test]
fn session_table_columns_are_session_level() {
    let f = ok(json!({"sessions_request_response_rmt": {"session_tag": {"equals": "vip"}}}));
    assert_eq!(f, leaf(Field::SessionTag, Op::Equals, text("vip")));
    let f = ok(json!({"sessions_request_response_rmt": {
        "session_latest_request_created_at": {"lt": "2025-01-01"}}}));
    assert_eq!(
        f,
        leaf(
            Field::SessionLatestRequestAt,
            Op::Lt,
            Value::Int(1_735_689_600_000)
        )
    );
    assert_eq!(Field::SessionId.level(), Level::Call);
    assert_eq!(Field::SessionSessionId.level(), Level::Session);
}

#[test]
fn several_tables_columns_and_operators_are_anded() {
    let f = ok(json!({
        "request_response_rmt": {"latency": {"gte": 1, "lt": 9}, "model": {"equals": "m"}},
        "properties": {"a": {"equals": "b"}},
    }));
    let mut leaves = Vec::new();
    fn collect(f: &Filter, out: &mut Vec<Condition>) {
        match f {
            Filter::And(l, r) => {
                collect(l, out);
                collect(r, out);
            }
            Filter::Leaf(c) => out.push(c.clone()),
            other => panic!("unexpected {other:?}"),
        }
    }
    collect(&f, &mut leaves);
    let fields: Vec<Field> = leaves.into_iter().map(|c| c.field).collect();
    assert_eq!(fields.len(), 4);
    for field in [Field::Latency, Field::Model, Field::Property("a".into())] {
        assert!(fields.contains(&field), "{field:?} in {fields:?}");
    }
}

#[test]
fn errors_name_the_problem() {
    assert_eq!(
        err(json!({"foo": {"x": {"equals": 1}}})),
        "unknown filter table `foo`"
    );
    assert_eq!(
        err(json!({"request_response_rmt": {"colour": {"equals": 1}}})),
        "unknown column `colour` in filter table `request_response_rmt`"
    );
    assert_eq!(
        err(json!({"request_response_rmt": {"model": {"startswith": "a"}}})),
        "unknown filter operator `startswith` on column `request_response_rmt.model`"
    );
    assert_eq!(
        err(json!(42)),
        "malformed filter at the root: expected \"all\", a branch or a leaf object, found `42`"
    );
    assert_eq!(
        err(json!({"left": "all", "operator": "xor", "right": "all"})),
        "malformed filter at the root `operator`: expected \"and\" or \"or\", found `\"xor\"`"
    );
    assert_eq!(
        err(json!({"left": "all", "operator": "and"})),
        "malformed filter at the root: expected a branch with exactly `left`, `operator` and \
         `right`, found `{\"left\":\"all\",\"operator\":\"and\"}`"
    );
    assert_eq!(
        err(json!({"left": "all", "operator": "and", "right": [1]})),
        "malformed filter at the root `right`: expected \"all\", a branch or a leaf object, \
         found `[1]`"
    );
    assert_eq!(
        err(json!({"request_response_rmt": []})),
        "malformed filter at table `request_response_rmt`: expected an object of columns, \
         found `[]`"
    );
    assert_eq!(
        err(json!({"request_response_rmt": {"model": "gpt"}})),
        "malformed filter at column `request_response_rmt.model`: expected an object of \
         operators, found `\"gpt\"`"
    );
    assert_eq!(
        err(json!({"request_response_rmt": {"model": {"equals": ["a"]}}})),
        "column `request_response_rmt.model` with operator `equals` expects a string, found `[\"a\"]`"
    );
    let long = "x".repeat(100);
    assert!(err(json!(long)).ends_with(&format!("found `\"{}…`", "x".repeat(59))));
}

#[test]
fn depth_and_size_are_limited() {
    let nest = |levels: usize| {
        let mut node = json!({"request_response_rmt": {"status": {"equals": 200}}});
        for _ in 0..levels {
            node = json!({"left": node, "operator": "and", "right": "all"});
        }
        node
    };
    assert!(parse(&nest(MAX_DEPTH)).is_ok());
    assert_eq!(
        err(nest(MAX_DEPTH + 1)),
        format!("filter nests deeper than {MAX_DEPTH} levels")
    );
    let many: Map<String, Json> = (0..=MAX_CONDITIONS)
        .map(|i| (format!("k{i}"), json!({"equals": "v"})))
        .collect();
    assert_eq!(
        err(json!({"properties": many})),
        format!("filter has more than {MAX_CONDITIONS} conditions")
    );
}

#[test]
fn leaf_conjunctions_stay_shallow() {
    fn depth(f: &Filter) -> usize {
        match f {
            Filter::And(l, r) | Filter::Or(l, r) => 1 + depth(l).max(depth(r)),
            _ => 0,
        }
    }
    let many: Map<String, Json> = (0..MAX_CONDITIONS)
        .map(|i| (format!("k{i}"), json!({"equals": "v"})))
        .collect();
    assert!(depth(&ok(json!({"properties": many}))) <= 10);
}

/// Any value a field of type `ty` accepts with `op`.
fn value_for(ty: FieldType) -> BoxedStrategy<Json> {
    match ty {
        FieldType::Text => {
            prop_oneof![any::<String>().prop_map(Json::from), Just(json!("null"))].boxed()
        }
        FieldType::Number => prop_oneof![
            any::<i64>().prop_map(Json::from),
            (-1e12f64..1e12).prop_map(Json::from),
            any::<u32>().prop_map(|n| json!(n.to_string())),
        ]
        .boxed(),
        FieldType::Usd => prop_oneof![
            (0f64..1e6).prop_map(Json::from),
            (0i64..1_000_000).prop_map(Json::from),
        ]
        .boxed(),
        FieldType::Timestamp => prop_oneof![
            (0i64..4_000_000_000_000).prop_map(Json::from),
            Just(json!("2025-06-01T12:00:00.250+02:00")),
        ]
        .boxed(),
        FieldType::Bool => {
            prop_oneof![any::<bool>().prop_map(Json::from), Just(json!("true"))].boxed()
        }
    }
}

fn leaf_json() -> impl Strategy<Value = Json> {
    let ops_for =
        |ty: FieldType| -> Vec<Op> { Op::ALL.into_iter().filter(|op| op.applies_to(ty)).collect() };
    let named = proptest::sample::select(columns()).prop_flat_map(move |(table, column, field)| {
        let ty = field.field_type();
        (proptest::sample::select(ops_for(ty)), value_for(ty))
            .prop_map(move |(op, v)| json!({ table: { column: { op.as_str(): v } } }))
    });
    let key = prop_oneof![
        "[A-Za-z\"\\\\ -]{0,12}",
        Just("Helicone-Session-Id".to_owned())
    ];
    let text_ops = proptest::sample::select(ops_for(FieldType::Text));
    let property = (key, text_ops, value_for(FieldType::Text))
        .prop_map(|(key, op, v)| json!({"properties": { key: { op.as_str(): v } }}));
    let score = ("[a-z-]{1,8}", value_for(FieldType::Number))
        .prop_map(|(key, v)| json!({"request_response_rmt": {"scores": { key: { "gte": v } }}}));
    prop_oneof![named, property, score, Just(json!("all"))]
}

fn filter_json() -> impl Strategy<Value = Json> {
    leaf_json().prop_recursive(6, 48, 2, |inner| {
        (inner.clone(), prop_oneof![Just("and"), Just("or")], inner)
            .prop_map(|(l, op, r)| json!({"left": l, "operator": op, "right": r}))
    })
}

proptest! {
    #[test]
    fn canonical_json_parses_back_to_the_same_filter(json in filter_json()) {
        let filter = parse(&json).unwrap();
        let canonical = filter.to_json();
        prop_assert_eq!(parse(&canonical).unwrap(), filter, "{}", canonical);
    }
}
