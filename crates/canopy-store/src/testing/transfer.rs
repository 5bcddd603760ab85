//! Moving a whole store into another ([`crate::transfer::Transfer`]): every case takes two
//! fresh stores of the same engine, fills the first, and copies it into the second the way
//! `canopy store copy` does — organisations and keys, calls page by page through
//! [`crate::Ingest::write`], then scores and session marks.

use canopy_core::{CallId, CallRecord};

use super::Engine;
use super::sample::sample_call;
use crate::transfer::{CallCursor, OrgTotals};

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// What [`fill`] wrote, to check a copy against.
struct Filled {
    orgs: [String; 2],
    calls: Vec<CallRecord>,
    revoked_key: String,
}

/// Fills `e` with two organisations (each made with a key; one key revoked), calls in several
/// sessions of both, with bodies, plus calls outside any session, scores, feedback and tags.
async fn fill(e: &Engine) -> Filled {
    let a = e
        .keys
        .insert_key("acme", "hash-a", "sk-canopy-aa")
        .await
        .expect("insert a key");
    let b = e
        .keys
        .insert_key("globex", "hash-b", "sk-canopy-bb")
        .await
        .expect("insert a key");
    e.keys
        .insert_key("globex", "hash-c", "sk-canopy-cc")
        .await
        .expect("insert a key");
    assert!(e.keys.revoke_key(&b.id).await.expect("revoke"));
    let mut calls = Vec::new();
    for (o, org) in [&a.org_id, &b.org_id].into_iter().enumerate() {
        for i in 0..7_i64 {
            let session = format!("s{}", i % 3);
            let mut call = sample_call(org, (i != 6).then_some(session.as_str()), T0 + i * 10);
            call.cost_nano_usd = Some(1_000 * (i + 1) + i64::try_from(o).unwrap_or(0));
            call.request_body.text = Some(format!("{{\"n\":{i},\"org\":\"{org}\"}}"));
            call.response_body.text = Some(format!("answer {i}"));
            call.response_body.omitted = false;
            call.user_id = Some(format!("user-{}", i % 2));
            calls.push(call);
        }
    }
    e.write(&calls).await;
    let scores = [
        ("helicone-score-feedback".to_owned(), 1.0),
        ("accuracy".to_owned(), 0.75),
    ];
    assert!(
        e.annotate
            .set_scores(&a.org_id, calls[0].id, &scores)
            .await
            .expect("set scores")
    );
    assert!(
        e.annotate
            .set_scores(&b.org_id, calls[8].id, &scores[1..])
            .await
            .expect("set scores")
    );
    assert!(
        e.annotate
            .set_session_feedback(&a.org_id, "s0", true)
            .await
            .expect("feedback")
    );
    assert!(
        e.annotate
            .set_session_feedback(&b.org_id, "s1", false)
            .await
            .expect("feedback")
    );
    for tag in ["triage", "escalated"] {
        assert!(
            e.annotate
                .add_session_tag(&a.org_id, "s2", tag)
                .await
                .expect("tag")
        );
    }
    Filled {
        orgs: [a.org_id, b.org_id],
        calls,
        revoked_key: b.id,
    }
}

/// Copies everything in `from` into `to`, calls `batch` at a time; returns the batch sizes.
async fn copy(from: &Engine, to: &Engine, batch: u32) -> Vec<usize> {
    let (f, t) = (&from.transfer, &to.transfer);
    t.import_orgs(&f.export_orgs().await.expect("export orgs"))
        .await
        .expect("import orgs");
    t.import_keys(&f.export_keys().await.expect("export keys"))
        .await
        .expect("import keys");
    let mut cursor: Option<CallCursor> = None;
    let mut sizes = Vec::new();
    loop {
        let page = f
            .export_calls(cursor.as_ref(), batch)
            .await
            .expect("export calls");
        let Some(last) = page.last() else { break };
        cursor = Some(CallCursor::after(last));
        to.write(&page).await;
        sizes.push(page.len());
    }
    t.import_scores(&f.export_scores().await.expect("export scores"))
        .await
        .expect("import scores");
    t.import_session_marks(&f.export_session_marks().await.expect("export marks"))
        .await
        .expect("import marks");
    sizes
}

/// Every call of `e` in export order, read in one page.
async fn all_calls(e: &Engine) -> Vec<CallRecord> {
    e.transfer
        .export_calls(None, 10_000)
        .await
        .expect("export calls")
}

/// Asserts that `to` holds what `from` holds, seen through every export and every read a user
/// makes of sessions.
async fn assert_same(from: &Engine, to: &Engine, orgs: &[String]) {
    let (f, t) = (&from.transfer, &to.transfer);
    assert_eq!(
        t.export_orgs().await.expect("orgs"),
        f.export_orgs().await.expect("orgs")
    );
    assert_eq!(
        t.export_keys().await.expect("keys"),
        f.export_keys().await.expect("keys")
    );
    assert_eq!(
        all_calls(to).await,
        all_calls(from).await,
        "calls with their bodies"
    );
    assert_eq!(
        t.export_scores().await.expect("scores"),
        f.export_scores().await.expect("scores")
    );
    assert_eq!(
        t.export_session_marks().await.expect("marks"),
        f.export_session_marks().await.expect("marks")
    );
    assert_eq!(
        t.totals().await.expect("totals"),
        f.totals().await.expect("totals")
    );
    assert_eq!(
        to.keys.active_keys().await.expect("active keys").len(),
        from.keys.active_keys().await.expect("active keys").len()
    );
    for org in orgs {
        for session in ["s0", "s1", "s2"] {
            assert_eq!(
                to.query.get_session(org, session).await.expect("session"),
                from.query.get_session(org, session).await.expect("session"),
                "session {session} of {org}"
            );
            assert_eq!(
                to.query.session_tags(org, session).await.expect("tags"),
                from.query.session_tags(org, session).await.expect("tags")
            );
        }
    }
}

/// A copy holds everything: organisations, keys (revoked ones too), calls with their bodies,
/// sessions with their totals, feedback and tags, scores; the totals on both sides agree.
pub async fn a_copy_holds_everything_the_store_held(from: Engine, to: Engine) {
    let filled = fill(&from).await;
    copy(&from, &to, 5).await;
    assert_same(&from, &to, &filled.orgs).await;
    let keys = to.transfer.export_keys().await.expect("keys");
    assert_eq!(keys.len(), 3);
    let revoked = keys
        .iter()
        .find(|k| k.id == filled.revoked_key)
        .expect("the revoked key is copied");
    assert!(revoked.revoked_at_ms.is_some());
    let totals = to.transfer.totals().await.expect("totals");
    let acme = totals
        .iter()
        .find(|t| t.org_id == filled.orgs[0])
        .expect("acme's totals");
    let expected: i64 = filled.calls[..6]
        .iter()
        .filter_map(|c| c.cost_nano_usd)
        .sum();
    assert_eq!(
        (
            acme.calls,
            acme.sessions,
            acme.session_requests,
            acme.session_cost_nano,
            acme.calls_in_sessions,
            acme.calls_in_sessions_cost_nano
        ),
        (7, 3, 6, expected, 6, expected),
        "seven calls, six of them in three sessions"
    );
    let call = to
        .query
        .get_call(&filled.orgs[1], filled.calls[9].id)
        .await
        .expect("get_call")
        .expect("the call is copied");
    assert_eq!(call.request_body.text, filled.calls[9].request_body.text);
    let feedback = to
        .query
        .get_session(&filled.orgs[0], "s0")
        .await
        .expect("session")
        .and_then(|s| s.feedback);
    assert_eq!(feedback, Some(true));
}

/// `export_calls` pages through every organisation in (start, organisation, id) order: calls
/// that start in the same millisecond, in two organisations, and one id used in both, are each
/// read once across page boundaries.
pub async fn export_calls_pages_in_start_organisation_id_order(from: Engine, to: Engine) {
    let shared = CallId::new();
    let mut calls = Vec::new();
    for (org, start) in [
        ("org-b", T0),
        ("org-a", T0),
        ("org-a", T0 + 1),
        ("org-b", T0 + 1),
    ] {
        for _ in 0..3 {
            calls.push(sample_call(org, Some("s"), start));
        }
        if start == T0 {
            let mut same = sample_call(org, Some("s"), start);
            same.id = shared;
            calls.push(same);
        }
    }
    from.write(&calls).await;
    let mut expected: Vec<(i64, String, CallId)> = calls
        .iter()
        .map(|c| (c.created_at_ms, c.org_id.clone(), c.id))
        .collect();
    expected.sort();
    for limit in [1, 2, 3, 5, 100] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = from
                .transfer
                .export_calls(cursor.as_ref(), limit)
                .await
                .expect("export calls");
            assert!(
                page.len() <= usize::try_from(limit).unwrap_or(usize::MAX),
                "a page holds at most `limit` calls"
            );
            let Some(last) = page.last() else { break };
            cursor = Some(CallCursor::after(last));
            seen.extend(
                page.iter()
                    .map(|c| (c.created_at_ms, c.org_id.clone(), c.id)),
            );
        }
        assert_eq!(seen, expected, "pages of {limit}");
    }
    let sizes = copy(&from, &to, 4).await;
    assert_eq!(sizes, [4, 4, 4, 2]);
    assert_eq!(all_calls(&to).await, all_calls(&from).await);
    for org in ["org-a", "org-b"] {
        assert_eq!(to.query.count_calls(org).await.expect("count"), 7);
    }
}

/// Every import may run again, after an interruption or on purpose: a second copy changes no
/// figure and duplicates nothing, and a key revoked in between is revoked in the copy too.
pub async fn imports_are_idempotent(from: Engine, to: Engine) {
    let filled = fill(&from).await;
    copy(&from, &to, 4).await;
    let first: Vec<OrgTotals> = to.transfer.totals().await.expect("totals");
    let other = from
        .transfer
        .export_keys()
        .await
        .expect("keys")
        .into_iter()
        .find(|k| k.revoked_at_ms.is_none() && k.org_id == filled.orgs[0])
        .expect("an active key");
    assert!(from.keys.revoke_key(&other.id).await.expect("revoke"));
    copy(&from, &to, 3).await;
    assert_eq!(to.transfer.totals().await.expect("totals"), first);
    assert_same(&from, &to, &filled.orgs).await;
    assert_eq!(to.keys.active_keys().await.expect("active").len(), 1);
    assert_eq!(to.keys.keys_ever_created().await.expect("keys"), 3);
    // Copying into a store that holds it all already (here, back into the source) adds nothing.
    let before = from.transfer.totals().await.expect("totals");
    copy(&to, &from, 2).await;
    assert_eq!(from.transfer.totals().await.expect("totals"), before);
    assert_eq!(all_calls(&from).await.len(), filled.calls.len());
}

/// A session that retention cut short keeps its recorded totals in the source, but a copy
/// rebuilds sessions from the calls it copies: its sessions add up to the source's
/// `calls_in_sessions`, which [`crate::transfer::Transfer::totals`] counts from the calls.
pub async fn a_session_cut_by_retention_is_copied_with_the_calls_it_kept(from: Engine, to: Engine) {
    let filled = fill(&from).await;
    // Removes the first three calls of each organisation: one call of each session.
    from.retain.purge(T0 + 25).await.expect("purge");
    copy(&from, &to, 5).await;
    let acme = &filled.orgs[0];
    let of = |totals: Vec<OrgTotals>| {
        totals
            .into_iter()
            .find(|t| &t.org_id == acme)
            .expect("acme's totals")
    };
    let source = of(from.transfer.totals().await.expect("totals"));
    let copied = of(to.transfer.totals().await.expect("totals"));
    let kept: i64 = filled.calls[3..6]
        .iter()
        .filter_map(|c| c.cost_nano_usd)
        .sum();
    assert_eq!(
        (source.calls, source.sessions, source.session_requests),
        (4, 3, 6),
        "the source's sessions keep their totals"
    );
    assert_eq!(
        (source.calls_in_sessions, source.calls_in_sessions_cost_nano),
        (3, kept)
    );
    assert_eq!(
        (
            copied.calls,
            copied.sessions,
            copied.session_requests,
            copied.session_cost_nano
        ),
        (4, 3, 3, kept),
        "the copy's sessions add up the calls copied"
    );
    assert_eq!(
        (copied.calls_in_sessions, copied.calls_in_sessions_cost_nano),
        (3, kept)
    );
}
