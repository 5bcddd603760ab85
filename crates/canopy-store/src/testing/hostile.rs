//! Text a caller chose can hold anything: a NUL in a session id, a search, a tag or a property
//! never fails a write or a read, and reads find what was written.

use super::Engine;
use super::sample::{sample_call, session_query};
use crate::query::filter::parse;

const ORG: &str = "org-hostile";

/// NUL characters in every caller-chosen text: written, found again, searched, annotated.
pub async fn nul_characters_never_fail_a_write_or_a_read(e: Engine) {
    let session = "s\0nul";
    let mut call = sample_call(ORG, Some(session), 1_700_000_000_000);
    call.user_id = Some("u\0".to_owned());
    call.properties.insert("k\0".to_owned(), "v\0".to_owned());
    call.request_body.text = Some("{\"a\":\"\0\"}".to_owned());
    e.ingest
        .write(std::slice::from_ref(&call))
        .await
        .expect("a record with NUL is written");

    let q = &e.query;
    assert!(q.get_call(ORG, call.id).await.expect("get_call").is_some());
    let found = q.get_session(ORG, session).await.expect("get_session");
    assert_eq!(found.expect("found by its id").request_count, 1);
    assert_eq!(q.session_calls(ORG, session).await.expect("calls").len(), 1);
    let mut search = session_query();
    search.search = Some("\0".to_owned());
    let listed = q.query_sessions(ORG, &search).await.expect("search");
    assert_eq!(
        listed.len(),
        1,
        "a search for NUL finds the session that holds one"
    );
    q.aggregate_sessions(ORG, &search).await.expect("aggregate");
    let filter = parse(&serde_json::json!({
        "request_response_rmt": {"properties": {"k\u{0}": {"equals": "v\u{0}"}}}
    }))
    .expect("a filter");
    q.count_matching_calls(ORG, &filter).await.expect("count");

    let a = &e.annotate;
    assert!(a.add_session_tag(ORG, session, "t\0").await.expect("tag"));
    assert!(
        a.set_session_feedback(ORG, session, true)
            .await
            .expect("feedback")
    );
    assert!(
        a.set_property(ORG, call.id, "p\0", "\0")
            .await
            .expect("property")
    );
    assert_eq!(q.session_tags(ORG, session).await.expect("tags").len(), 1);
}
