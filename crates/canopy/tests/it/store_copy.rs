//! `canopy store copy` from SQLite to a fresh PostgreSQL or ClickHouse database, run as the
//! binary: the copy holds everything, and a copy interrupted after a few batches resumes from its checkpoint
//! with nothing counted twice.

use std::path::{Path, PathBuf};
use std::process::Command;

use canopy::store::Store;
use canopy_core::record::StoredBody;
use canopy_core::{CallId, CallRecord, Usage};
use canopy_store::transfer::OrgTotals;

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// Calls written per organisation by [`fill`].
const CALLS_PER_ORG: usize = 15;

/// A finished process: success, stdout, stderr.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `canopy store copy ARGS` in `dir` (blocking: nothing else runs meanwhile).
fn copy(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(["store", "copy"])
        .args(args)
        .current_dir(dir)
        .env("CANOPY_LOG", "error")
        .env("NO_COLOR", "1")
        .env_remove("CANOPY_CONFIG")
        .output()
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn call(org: &str, session: Option<&str>, n: usize) -> CallRecord {
    let n = i64::try_from(n).unwrap();
    CallRecord {
        id: CallId::new(),
        org_id: org.to_owned(),
        // Calls of both organisations start in the same milliseconds, in pairs.
        created_at_ms: T0 + n / 2 * 100,
        response_created_at_ms: Some(T0 + n / 2 * 100 + 40),
        latency_ms: Some(40),
        provider: "openai".to_owned(),
        target_url: "http://127.0.0.1:1/v1/chat/completions".to_owned(),
        request_path: "/v1/chat/completions".to_owned(),
        method: "POST".to_owned(),
        status: if n == 3 { 500 } else { 200 },
        request_model: Some("gpt-4o-mini".to_owned()),
        usage: Usage {
            prompt_tokens: 10 + u64::try_from(n).unwrap(),
            completion_tokens: 5,
            ..Usage::default()
        },
        cost_nano_usd: Some(1_000 * (n + 1)),
        session_id: session.map(str::to_owned),
        session_path: session.map(|_| "/agent/step".to_owned()),
        session_name: session.map(|_| "Agent".to_owned()),
        user_id: Some(format!("user-{}", n % 2)),
        request_body: StoredBody {
            text: Some(format!("{{\"messages\":[\"question {n}\"]}}")),
            ..StoredBody::default()
        },
        response_body: StoredBody {
            text: Some(format!("{{\"answer\":{n}}}")),
            ..StoredBody::default()
        },
        ..CallRecord::default()
    }
}

/// Two organisations (one key each, one of them revoked), calls in several sessions of each
/// and some outside any session, scores, feedback and tags. Returns the organisation ids.
async fn fill(url: &str) -> [String; 2] {
    let store = Store::open(url).await.unwrap();
    let acme = store
        .keys
        .insert_key("acme", "hash-acme", "sk-canopy-ac")
        .await
        .unwrap();
    let globex = store
        .keys
        .insert_key("globex", "hash-globex", "sk-canopy-gl")
        .await
        .unwrap();
    assert!(store.keys.revoke_key(&globex.id).await.unwrap());
    let mut calls = Vec::new();
    for org in [&acme.org_id, &globex.org_id] {
        for n in 0..CALLS_PER_ORG {
            let session = format!("session-{}", n % 4);
            calls.push(call(org, (n % 5 != 4).then_some(session.as_str()), n));
        }
    }
    store.ingest.write(&calls).await.unwrap();
    let scores = [
        ("helicone-score-feedback".to_owned(), 1.0),
        ("accuracy".to_owned(), 0.5),
    ];
    assert!(
        store
            .annotate
            .set_scores(&acme.org_id, calls[0].id, &scores)
            .await
            .unwrap()
    );
    assert!(
        store
            .annotate
            .set_session_feedback(&acme.org_id, "session-1", false)
            .await
            .unwrap()
    );
    assert!(
        store
            .annotate
            .add_session_tag(&globex.org_id, "session-2", "escalated")
            .await
            .unwrap()
    );
    store.close().await;
    [acme.org_id, globex.org_id]
}

async fn totals(url: &str) -> Vec<OrgTotals> {
    let store = Store::open(url).await.unwrap();
    let totals = store.transfer.totals().await.unwrap();
    store.close().await;
    totals
}

/// The checkpoint files `canopy store copy` left in `dir`.
fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("canopy-copy-"))
        })
        .collect()
}

fn password(url: &str) -> String {
    url::Url::parse(url).unwrap().password().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_copied_to_postgresql_holds_everything() {
    let db = canopy_testkit::postgres::fresh_database().await;
    a_sqlite_store_copied_holds_everything(db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_copied_to_clickhouse_holds_everything() {
    let db = canopy_testkit::clickhouse::fresh_database().await;
    a_sqlite_store_copied_holds_everything(db.url()).await;
}

/// Copies a filled SQLite store into the empty store at `destination` and compares both.
async fn a_sqlite_store_copied_holds_everything(destination: &str) {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", dir.path().join("canopy.db").display());
    let orgs = fill(&source).await;

    let run = copy(
        dir.path(),
        &["--from", &source, "--to", destination, "--batch", "7"],
    );
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert!(
        !run.stdout.contains("DIFFERS") && run.stdout.contains("acme"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("{CALLS_PER_ORG}/{CALLS_PER_ORG}")),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("Calls: 30/30"), "{}", run.stderr);
    let secret = password(destination);
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));
    assert!(
        checkpoints(dir.path()).is_empty(),
        "a finished copy removes its checkpoint"
    );

    let (from, to) = (
        Store::open(&source).await.unwrap(),
        Store::open(destination).await.unwrap(),
    );
    assert_eq!(
        to.transfer.totals().await.unwrap(),
        from.transfer.totals().await.unwrap()
    );
    assert_eq!(
        to.keys.list_keys().await.unwrap(),
        from.keys.list_keys().await.unwrap()
    );
    assert_eq!(
        to.keys.active_keys().await.unwrap().len(),
        1,
        "the revoked key stays revoked"
    );
    for org in &orgs {
        assert_eq!(
            to.query.count_calls(org).await.unwrap(),
            CALLS_PER_ORG as u64
        );
        for session in ["session-0", "session-1", "session-2", "session-3"] {
            assert_eq!(
                to.query.get_session(org, session).await.unwrap(),
                from.query.get_session(org, session).await.unwrap(),
                "{session} of {org}"
            );
            assert_eq!(
                to.query.session_tags(org, session).await.unwrap(),
                from.query.session_tags(org, session).await.unwrap()
            );
            assert_eq!(
                to.query.session_calls(org, session).await.unwrap(),
                from.query.session_calls(org, session).await.unwrap(),
                "calls with their bodies"
            );
        }
    }
    let scores = from.transfer.export_scores().await.unwrap();
    assert_eq!(scores.len(), 2);
    assert_eq!(to.transfer.export_scores().await.unwrap(), scores);
    let feedback = to
        .query
        .get_session(&orgs[0], "session-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(feedback.feedback, Some(false));
    from.close().await;
    to.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_copy_resumes_from_its_checkpoint_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", dir.path().join("canopy.db").display());
    let orgs = fill(&source).await;
    let db = canopy_testkit::postgres::fresh_database().await;
    let args = ["--from", source.as_str(), "--to", db.url(), "--batch", "4"];

    // Interrupted after two batches of four calls.
    let run = copy(dir.path(), &[&args[..], &["--stop-after", "2"]].concat());
    assert!(!run.ok, "an interrupted copy fails: {}", run.stderr);
    assert!(
        run.stderr.contains("stopped after 2 batches"),
        "{}",
        run.stderr
    );
    let saved = checkpoints(dir.path());
    assert_eq!(saved.len(), 1, "one checkpoint, in the working directory");
    let checkpoint = std::fs::read_to_string(&saved[0]).unwrap();
    assert!(!checkpoint.contains(&password(db.url())), "{checkpoint}");
    let mut checkpoint: serde_json::Value = serde_json::from_str(&checkpoint).unwrap();
    assert_eq!(checkpoint["copied"], 8);
    assert_eq!(checkpoint["destination_was_empty"], true);
    let partial: u64 = totals(db.url()).await.iter().map(|t| t.calls).sum();
    assert_eq!(partial, 8);

    // Run again: it resumes after the eighth call and finishes.
    let run = copy(dir.path(), &args);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("Resuming"), "{}", run.stderr);
    assert!(run.stderr.contains("8 calls were copied"), "{}", run.stderr);
    assert!(run.stderr.contains("Calls: 30/30"), "{}", run.stderr);
    assert!(checkpoints(dir.path()).is_empty());
    let source_totals = totals(&source).await;
    assert_eq!(totals(db.url()).await, source_totals);
    let store = Store::open(db.url()).await.unwrap();
    for org in &orgs {
        assert_eq!(
            store.query.count_calls(org).await.unwrap(),
            CALLS_PER_ORG as u64
        );
    }
    store.close().await;

    // A third copy into the now full destination writes nothing new, and says how it checked.
    let run = copy(dir.path(), &args);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("Resuming"), "{}", run.stderr);
    assert!(run.stderr.contains("at least"), "{}", run.stderr);
    assert_eq!(totals(db.url()).await, source_totals);

    // A call the copy misses (here: recorded in the source behind a checkpoint already past
    // it) fails the check, naming the organisation and the figures.
    let store = Store::open(&source).await.unwrap();
    store
        .ingest
        .write(&[call(&orgs[0], Some("session-0"), 40)])
        .await
        .unwrap();
    store.close().await;
    checkpoint["cursor"]["created_at_ms"] = serde_json::json!(T0 * 10);
    std::fs::write(&saved[0], checkpoint.to_string()).unwrap();
    let run = copy(dir.path(), &args);
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stdout.contains("DIFFERS"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("acme: calls: 16 in the source, 15 in the destination"),
        "{}",
        run.stderr
    );
    assert!(saved[0].exists(), "a failed copy keeps its checkpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_is_refused_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("absent.db").display());
    let target = format!("sqlite://{}", dir.path().join("target.db").display());
    let run = copy(dir.path(), &["--from", &missing, "--to", &target]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("there is no store at"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("absent.db").exists());
    assert!(!dir.path().join("target.db").exists());
}
