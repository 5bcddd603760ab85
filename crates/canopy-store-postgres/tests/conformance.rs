//! The store specification against PostgreSQL, plus what only this engine promises.
#![expect(
    clippy::unwrap_used,
    reason = "test support: a store that will not open fails the test"
)]

use std::sync::Arc;

use canopy_store::testing::Engine;
use canopy_store_postgres::PostgresStore;
use canopy_testkit::postgres::{PgDatabase, fresh_database};

async fn fresh() -> (Engine, PgDatabase) {
    let db = fresh_database().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    (Engine::new(Arc::new(store)), db)
}

canopy_store::conformance_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_starting_together_migrate_exactly_once() {
    let db = fresh_database().await;
    let opened = open_together(db.url()).await;
    assert_eq!(opened, 4, "every gateway opens the store");
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let versions = store.applied_migrations().await.unwrap();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration recorded once");
    assert!(!versions.is_empty());
}

/// Opens four stores on `url` at the same moment, as four gateways starting; returns how many
/// opened.
async fn open_together(url: &str) -> usize {
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.to_owned();
        opens.spawn(async move { PostgresStore::connect(&url).await });
    }
    let mut opened = 0;
    while let Some(open) = opens.join_next().await {
        opened += usize::from(open.unwrap().is_ok());
    }
    opened
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_any_text_is_stored_as_a_replacement_character() {
    let (engine, _db) = fresh().await;
    let mut call = canopy_store::testing::sample_call("org", Some("s\0"), 1_700_000_000_000);
    call.request_body.text = Some("a\0b".to_owned());
    call.properties.insert("k\0".to_owned(), "v\0".to_owned());
    engine
        .ingest
        .write(std::slice::from_ref(&call))
        .await
        .unwrap();
    let back = engine
        .query
        .get_call("org", call.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.request_body.text.as_deref(), Some("a\u{FFFD}b"));
    assert_eq!(back.session_id.as_deref(), Some("s\u{FFFD}"));
    assert_eq!(
        back.properties.get("k\u{FFFD}").map(String::as_str),
        Some("v\u{FFFD}")
    );
}

/// Text with everything a text `COPY` or an escaping bug would mangle, in every text field the
/// write path sends: it reads back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_round_trips_exactly() {
    let (engine, _db) = fresh().await;
    let hostile = [
        "tab\there",
        "line\nbreak\r\nand\rreturn",
        "back\\slash \\\\ \\N \\. \\t \\x00 \\",
        "\\N",
        "\\.",
        "'single' \"double\" `back` ; -- /* */",
        "ünïcödé ключ 鍵 🦀 \u{202e}rtl\u{202c} \u{feff}\u{7f}\u{1}",
        "",
        " ",
    ];
    // Long text goes where no index holds it (an index entry is limited to a page).
    let long = "a\t\\\n🦀".repeat(200_000);
    let mut calls = Vec::new();
    for (i, text) in hostile.iter().copied().chain([long.as_str()]).enumerate() {
        let short = if text.len() > 100 { "long" } else { text };
        let session = format!("s{short}");
        let start = 1_700_000_000_000 + i64::try_from(i).unwrap();
        let mut call = canopy_store::testing::sample_call("org", Some(&session), start);
        call.key_id = Some(format!("k{short}"));
        call.target_url = format!("http://h/{text}");
        call.request_path = format!("/p{text}");
        call.request_model = Some(text.to_owned());
        call.response_model = Some(format!("m{text}"));
        call.pricing_model = Some(format!("p{text}"));
        call.session_path = Some(format!("/{text}"));
        call.session_name = Some(format!("n{short}"));
        call.user_id = Some(format!("u{short}"));
        call.prompt_id = Some(format!("q{text}"));
        call.error = Some(text.to_owned());
        call.request_body.text = Some(text.to_owned());
        call.response_body.text = Some(format!("{text}{text}"));
        call.response_body.omitted = false;
        call.properties
            .insert(format!("key{short}"), text.to_owned());
        call.request_headers
            .insert(format!("x-{short}"), format!("v{text}"));
        calls.push(call);
    }
    engine.ingest.write(&calls).await.unwrap();
    for call in &calls {
        let back = engine.query.get_call("org", call.id).await.unwrap();
        assert_eq!(back.as_ref(), Some(call), "read back exactly as written");
        let session = call.session_id.as_deref().unwrap();
        let totals = engine.query.get_session("org", session).await.unwrap();
        assert_eq!(totals.map(|s| s.request_count), Some(1));
    }
}

/// A batch that repeats stored calls is written again by the idempotent path after its
/// `COPY` fails; the transaction rolled back leaves nothing behind, the connections stay
/// usable, and every call counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_replayed_after_a_partial_write_counts_once() {
    let (engine, _db) = fresh().await;
    let calls: Vec<_> = (0..30)
        .map(|i| canopy_store::testing::sample_call("org", Some("s"), 1_700_000_000_000 + i))
        .collect();
    engine.ingest.write(&calls[..10]).await.unwrap();
    // Stored calls at the end of the batch: the `COPY` has inserted the new ones first.
    let mut replay = calls[10..20].to_vec();
    replay.extend_from_slice(&calls[..10]);
    engine.ingest.write(&replay).await.unwrap();
    for _ in 0..8 {
        // More writes than the pool has connections, each on a connection that may have
        // carried the failed `COPY`.
        engine.ingest.write(&calls[..20]).await.unwrap();
    }
    engine.ingest.write(&calls[20..]).await.unwrap();
    let session = engine.query.get_session("org", "s").await.unwrap().unwrap();
    assert_eq!(session.request_count, 30);
    assert_eq!(session.prompt_tokens, 30 * 100);
    assert_eq!(
        engine.query.session_calls("org", "s").await.unwrap().len(),
        30
    );
}

/// Two gateways writing the same new batch at once: one `COPY` wins, the other waits for it,
/// fails, and writes nothing new; the session counts each call once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batch_from_two_gateways_at_once_counts_once() {
    let db = fresh_database().await;
    let calls: Vec<_> = (0..200)
        .map(|i| canopy_store::testing::sample_call("org", Some("s"), 1_700_000_000_000 + i))
        .collect();
    let mut writes = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let store = PostgresStore::connect(db.url()).await.unwrap();
        let calls = calls.clone();
        writes.spawn(async move { canopy_store::Ingest::write(&store, &calls).await });
    }
    while let Some(written) = writes.join_next().await {
        written.unwrap().unwrap();
    }
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let engine = Engine::new(Arc::new(store));
    let session = engine.query.get_session("org", "s").await.unwrap().unwrap();
    assert_eq!(session.request_count, 200);
}
