use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::*;
use canopy_core::CallRecord;

fn span(id: u8, parent: Option<u8>, name: &str, session: Option<&str>) -> SpanIn {
    let mut attrs = Map::new();
    if let Some(s) = session {
        attrs.insert("session.id".into(), Value::String(s.into()));
    }
    SpanIn {
        trace_id: [7; 16],
        span_id: [id; 8],
        parent: parent.map(|p| [p; 8]),
        name: name.into(),
        start_ns: 0,
        end_ns: 0,
        error: None,
        attrs,
        events: Vec::new(),
        bytes: 100,
    }
}

#[test]
fn children_wait_for_their_root_and_take_its_session_and_path() {
    let holder = Holder::new(Limits::default());
    let now = Instant::now();
    let ready = holder.add("o", vec![span(3, Some(2), "llm", None)], now);
    assert!(ready.is_empty());
    let ready = holder.add("o", vec![span(2, Some(1), "plan", None)], now);
    assert!(ready.is_empty());
    assert_eq!(holder.held(), 2);
    let ready = holder.add("o", vec![span(1, None, "agent", Some("s"))], now);
    assert_eq!(ready.len(), 3);
    assert_eq!(holder.held(), 0);
    let llm = ready
        .iter()
        .find(|r| r.span().unwrap().name == "llm")
        .unwrap();
    assert_eq!(llm.place.session_id.as_deref(), Some("s"));
    assert_eq!(llm.place.path.as_deref(), Some("/agent/plan"));
    // Another organisation's span with the same ids is not placed by this trace.
    assert!(
        holder
            .add("p", vec![span(4, Some(1), "x", None)], now)
            .is_empty()
    );
}

#[test]
fn a_path_attribute_replaces_the_names_above_it() {
    let holder = Holder::new(Limits::default());
    let mut mid = span(2, Some(1), "plan", None);
    mid.attrs
        .insert("helicone-session-path".into(), json!("/triage"));
    let ready = holder.add(
        "o",
        vec![
            span(3, Some(2), "llm", None),
            mid,
            span(1, None, "agent", Some("s")),
        ],
        Instant::now(),
    );
    let llm = ready
        .iter()
        .find(|r| r.span().unwrap().name == "llm")
        .unwrap();
    assert_eq!(llm.place.path.as_deref(), Some("/triage"));
}

#[test]
fn spans_are_placed_with_what_is_known_when_time_or_room_runs_out() {
    let holder = Holder::new(Limits {
        hold: Duration::from_secs(10),
        max_spans: 2,
        ..Limits::default()
    });
    let now = Instant::now();
    assert!(
        holder
            .add("o", vec![span(3, Some(2), "a", Some("s"))], now)
            .is_empty()
    );
    assert!(holder.sweep(now + Duration::from_secs(5)).is_empty());
    let ready = holder.sweep(now + Duration::from_secs(10));
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].place.session_id.as_deref(), Some("s"));
    // Over `max_spans`, the oldest trace is placed early.
    let mut other = span(5, Some(9), "b", None);
    other.trace_id = [8; 16];
    holder.add("o", vec![other], now);
    let ready = holder.add(
        "o",
        vec![span(6, Some(9), "c", None), span(7, Some(9), "d", None)],
        now,
    );
    assert!(!ready.is_empty());
    assert!(holder.held() <= 2);
    assert_eq!(holder.drain().len() + ready.len(), 3);
}

#[test]
fn held_spans_are_looked_at_again_only_when_what_they_wait_for_arrives() {
    let holder = Holder::new(Limits::default());
    let now = Instant::now();
    // A deep chain sent from the bottom up, one span per request: each waits for its parent.
    for id in (2..=40).rev() {
        assert!(
            holder
                .add("o", vec![span(id, Some(id - 1), "step", None)], now)
                .is_empty()
        );
    }
    let ready = holder.add("o", vec![span(1, None, "root", Some("deep"))], now);
    assert_eq!(ready.len(), 40);
    assert!(
        ready
            .iter()
            .all(|r| r.place.session_id.as_deref() == Some("deep"))
    );
    let deepest = ready
        .iter()
        .find(|r| r.span().unwrap().span_id == [40; 8])
        .unwrap();
    assert_eq!(
        deepest.place.path.as_deref().unwrap().matches('/').count(),
        39
    );
}

fn call(org: &str, trace: [u8; 16], span: u8, parent: u8) -> CallRecord {
    let mut record = CallRecord {
        org_id: org.into(),
        ..CallRecord::default()
    };
    let hex = canopy_core::trace::hex;
    let props = &mut record.properties;
    props.insert(TRACE_ID_PROPERTY.into(), hex(&trace));
    props.insert(SPAN_ID_PROPERTY.into(), hex(&[span; 8]));
    props.insert(PARENT_SPAN_ID_PROPERTY.into(), hex(&[parent; 8]));
    record
}

fn calls(ready: Vec<Ready>) -> Vec<(CallRecord, Placement)> {
    ready
        .into_iter()
        .filter_map(|r| match r.item {
            Item::Call(record) => Some((*record, r.place)),
            Item::Span(_) => None,
        })
        .collect()
}

#[test]
fn a_call_of_an_organisation_that_sends_no_spans_passes_at_once() {
    let holder = Holder::new(Limits::default());
    let (now, forced) = holder.place_call(call("o", [7; 16], 50, 2), true, Instant::now());
    assert!(forced.is_empty());
    let record = now.expect("not held");
    assert_eq!(record.session_id, None);
    assert_eq!(holder.held(), 0);
}

#[test]
fn a_call_waits_for_the_span_that_names_its_session_and_comes_out_once() {
    let holder = Holder::new(Limits::default());
    let now = Instant::now();
    // The organisation traces: an earlier trace of its was sent.
    let mut other = span(9, None, "earlier", None);
    other.trace_id = [1; 16];
    holder.add("o", vec![other], now);
    // The call is made under span 2 (not sent yet), which is under the root (not sent yet).
    let (placed, _) = holder.place_call(call("o", [7; 16], 50, 2), true, now);
    assert!(placed.is_none());
    assert_eq!(holder.held(), 1);
    // Another organisation's root with the same trace id places nothing of this one.
    assert!(
        calls(holder.add(
            "p",
            vec![
                span(2, Some(1), "plan", None),
                span(1, None, "agent", Some("theirs"))
            ],
            now
        ))
        .is_empty()
    );
    assert!(calls(holder.add("o", vec![span(2, Some(1), "plan", None)], now)).is_empty());
    let ready = calls(holder.add("o", vec![span(1, None, "agent", Some("s"))], now));
    assert_eq!(ready.len(), 1);
    let (mut record, place) = ready.into_iter().next().unwrap();
    apply(&mut record, &place);
    assert_eq!(record.session_id.as_deref(), Some("s"));
    assert_eq!(record.session_path.as_deref(), Some("/agent/plan"));
    assert_eq!(
        record
            .properties
            .get("Helicone-Session-Id")
            .map(String::as_str),
        Some("s")
    );
    assert_eq!(holder.held(), 0);
    assert!(calls(holder.drain()).is_empty());
}

#[test]
fn a_call_after_its_trace_takes_the_session_at_once_and_keeps_its_own() {
    let holder = Holder::new(Limits::default());
    let now = Instant::now();
    holder.add(
        "o",
        vec![
            span(2, Some(1), "plan", None),
            span(1, None, "agent", Some("s")),
        ],
        now,
    );
    let (placed, _) = holder.place_call(call("o", [7; 16], 50, 2), true, now);
    let placed = placed.expect("placed at once");
    assert_eq!(placed.session_id.as_deref(), Some("s"));
    assert_eq!(placed.session_path.as_deref(), Some("/agent/plan"));
    // A call with its own session keeps it.
    let mut own = call("o", [7; 16], 51, 2);
    own.session_id = Some("mine".into());
    let (placed, _) = holder.place_call(own, true, now);
    assert_eq!(placed.unwrap().session_id.as_deref(), Some("mine"));
    // In durable mode nothing is held: a call whose parent is unknown passes as it is.
    let (placed, _) = holder.place_call(call("o", [7; 16], 52, 3), false, now);
    assert_eq!(placed.unwrap().session_id, None);
}

#[test]
fn a_held_call_whose_trace_never_comes_is_recorded_without_a_session() {
    let holder = Holder::new(Limits {
        hold: Duration::from_secs(10),
        ..Limits::default()
    });
    let now = Instant::now();
    holder.add("o", vec![span(9, None, "earlier", None)], now);
    let mut record = call("o", [8; 16], 50, 2);
    record.request_body.text = Some("x".repeat(1000));
    assert!(holder.place_call(record, true, now).0.is_none());
    assert!(holder.sweep(now + Duration::from_secs(5)).is_empty());
    let ready = calls(holder.sweep(now + Duration::from_secs(10)));
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].1.session_id, None);
    // Long after the organisation's last spans, its calls are not held.
    let later = now + Duration::from_secs(3600);
    holder.sweep(later);
    assert!(
        holder
            .place_call(call("o", [8; 16], 51, 2), true, later)
            .0
            .is_some()
    );
}

#[test]
fn a_held_call_counts_against_the_bounds_and_is_forced_out_once() {
    let holder = Holder::new(Limits {
        max_spans: 1,
        ..Limits::default()
    });
    let now = Instant::now();
    holder.add("o", vec![span(9, None, "earlier", None)], now);
    assert!(
        holder
            .place_call(call("o", [8; 16], 50, 2), true, now)
            .0
            .is_none()
    );
    assert_eq!(holder.held(), 1);
    // A second held item is over the bound: the oldest trace (the call's) is placed early.
    let later = now + Duration::from_secs(1);
    let (held, forced) = holder.place_call(call("o", [9; 16], 51, 3), true, later);
    assert!(held.is_none());
    let forced = calls(forced);
    assert_eq!(forced.len(), 1);
    assert_eq!(
        forced[0].0.properties[SPAN_ID_PROPERTY],
        canopy_core::trace::hex(&[50; 8])
    );
    assert_eq!(holder.held(), 1);
    let drained = calls(holder.drain());
    assert_eq!(drained.len(), 1);
    assert_eq!(
        drained[0].0.properties[SPAN_ID_PROPERTY],
        canopy_core::trace::hex(&[51; 8])
    );
    assert_eq!(holder.held(), 0);
}
