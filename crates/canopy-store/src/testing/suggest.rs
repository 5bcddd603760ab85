//! Suggestions for filter boxes (`suggest`): property keys, one key's values and user ids seen
//! in an organisation's latest calls, the most used first.

use std::collections::BTreeMap;

use super::Engine;
use super::sample::sample_call;
use crate::query::{SuggestField, Suggestion};

const ORG: &str = "org-suggest";
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

fn values(found: &[Suggestion]) -> Vec<(&str, u64)> {
    found.iter().map(|s| (s.value.as_str(), s.calls)).collect()
}

/// Keys, values and users come with the number of calls carrying them, the most used first,
/// then by value; `contains` narrows them regardless of case; a value's key is matched in any
/// case; another organisation's calls are never suggested.
pub async fn suggestions_come_from_the_data_most_used_first(e: Engine) {
    let props = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    type Pairs = &'static [(&'static str, &'static str)];
    let rows: [(Pairs, Option<&str>); 5] = [
        (
            &[("environment", "staging"), ("tier", "gold")],
            Some("alice"),
        ),
        (&[("environment", "staging")], Some("bob")),
        (
            &[("environment", "production"), ("team", "Billing")],
            Some("alice"),
        ),
        (&[("tier", "silver")], None),
        (&[], Some("")),
    ];
    let mut calls = Vec::new();
    for (i, (pairs, user)) in rows.iter().enumerate() {
        let mut call = sample_call(ORG, None, T0 + i as i64);
        call.properties = props(pairs);
        call.user_id = user.map(str::to_owned);
        calls.push(call);
    }
    let mut elsewhere = sample_call("org-suggest-other", None, T0);
    elsewhere.properties = props(&[("secret", "x"), ("environment", "other")]);
    elsewhere.user_id = Some("mallory".to_owned());
    calls.push(elsewhere);
    e.write(&calls).await;

    let suggest = |field: SuggestField, contains: &'static str, limit: u64| {
        let e = &e;
        async move {
            e.query
                .suggest(ORG, &field, contains, limit)
                .await
                .expect("suggest")
        }
    };
    assert_eq!(
        values(&suggest(SuggestField::PropertyKey, "", 10).await),
        [("environment", 3), ("tier", 2), ("team", 1)]
    );
    assert_eq!(
        values(&suggest(SuggestField::PropertyKey, "TI", 10).await),
        [("tier", 1 + 1)]
    );
    assert_eq!(
        values(&suggest(SuggestField::PropertyValue("Environment".into()), "", 10).await),
        [("staging", 2), ("production", 1)]
    );
    assert_eq!(
        values(&suggest(SuggestField::PropertyValue("team".into()), "bill", 10).await),
        [("Billing", 1)]
    );
    assert_eq!(
        values(&suggest(SuggestField::UserId, "", 10).await),
        [("alice", 2), ("bob", 1)]
    );
    assert_eq!(
        values(&suggest(SuggestField::PropertyKey, "", 1).await),
        [("environment", 3)]
    );
    assert!(
        suggest(SuggestField::PropertyKey, "secret", 10)
            .await
            .is_empty()
    );
    assert!(
        suggest(SuggestField::PropertyValue("nothing".into()), "", 10)
            .await
            .is_empty()
    );
}
