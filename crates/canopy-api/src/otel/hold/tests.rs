use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::*;

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
    let llm = ready.iter().find(|r| r.span.name == "llm").unwrap();
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
    let llm = ready.iter().find(|r| r.span.name == "llm").unwrap();
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
    let deepest = ready.iter().find(|r| r.span.span_id == [40; 8]).unwrap();
    assert_eq!(
        deepest.place.path.as_deref().unwrap().matches('/').count(),
        39
    );
}
