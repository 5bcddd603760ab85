//! Organisations and keys: only hashes are stored, an organisation is created once by name,
//! keys are listed newest first, and revoking is final.

use super::{Engine, next_millisecond};
use crate::keys::{ActiveKey, KeyRow};

async fn insert(e: &Engine, org: &str, hash: &str) -> KeyRow {
    let prefix = format!("sk-canopy-{}", &hash[..6]);
    let row = e
        .keys
        .insert_key(org, hash, &prefix)
        .await
        .expect("insert_key");
    assert_eq!(row.org_name, org);
    assert_eq!(row.prefix, prefix);
    assert_eq!(row.revoked_at_ms, None);
    row
}

/// The first key of a name creates its organisation; a second key of that name joins it,
/// and another name is another organisation.
pub async fn insert_key_creates_the_organisation_once(e: Engine) {
    let before = crate::now_ms();
    let first = insert(&e, "acme", "aaaaaa01").await;
    let second = insert(&e, "acme", "aaaaaa02").await;
    let other = insert(&e, "globex", "bbbbbb01").await;
    assert_eq!(first.org_id, second.org_id, "one organisation per name");
    assert_ne!(first.org_id, other.org_id);
    assert!(!first.org_id.is_empty());
    assert_ne!(first.id, second.id);
    assert!(first.created_at_ms >= before && first.created_at_ms <= crate::now_ms());
    let listed = e.keys.list_keys().await.expect("list_keys");
    for row in [&first, &second, &other] {
        assert!(listed.contains(row), "listed as returned: {row:?}");
    }
}

/// Keys are listed newest first, with their organisation and prefix.
pub async fn list_keys_lists_newest_first(e: Engine) {
    assert!(e.keys.list_keys().await.expect("list_keys").is_empty());
    let mut made = Vec::new();
    for (org, hash) in [
        ("acme", "cccccc01"),
        ("globex", "cccccc02"),
        ("acme", "cccccc03"),
    ] {
        made.push(insert(&e, org, hash).await);
        next_millisecond().await;
    }
    made.reverse();
    assert_eq!(e.keys.list_keys().await.expect("list_keys"), made);
}

/// Revoking a key is `true`, again `true` (it stays revoked, with its first revocation time),
/// and `false` for a key that never existed.
pub async fn revoke_key_revokes_once_and_knows_unknown_keys(e: Engine) {
    let key = insert(&e, "acme", "dddddd01").await;
    let kept = insert(&e, "acme", "dddddd02").await;
    let before = crate::now_ms();
    assert!(e.keys.revoke_key(&key.id).await.expect("revoke_key"));
    let revoked_at = |rows: &[KeyRow]| {
        let row = rows.iter().find(|r| r.id == key.id).expect("still listed");
        row.revoked_at_ms
    };
    let rows = e.keys.list_keys().await.expect("list_keys");
    let at = revoked_at(&rows).expect("revoked");
    assert!(at >= before && at <= crate::now_ms());
    next_millisecond().await;
    assert!(e.keys.revoke_key(&key.id).await.expect("revoke again"));
    let rows = e.keys.list_keys().await.expect("list_keys");
    assert_eq!(revoked_at(&rows), Some(at), "the first revocation stands");
    let kept_row = rows.iter().find(|r| r.id == kept.id).expect("listed");
    assert_eq!(kept_row.revoked_at_ms, None);
    let unknown = e.keys.revoke_key("no-such-key").await.expect("revoke_key");
    assert!(!unknown);
}

/// Active keys are the ones not revoked, by hash; every key ever created is counted, revoked
/// ones included.
pub async fn active_keys_and_keys_ever_created(e: Engine) {
    assert_eq!(e.keys.keys_ever_created().await.expect("count"), 0);
    assert!(e.keys.active_keys().await.expect("active").is_empty());
    let a = insert(&e, "acme", "eeeeee01").await;
    let b = insert(&e, "globex", "eeeeee02").await;
    let c = insert(&e, "acme", "eeeeee03").await;
    assert!(e.keys.revoke_key(&b.id).await.expect("revoke_key"));
    let mut active = e.keys.active_keys().await.expect("active_keys");
    active.sort_by(|x, y| x.hash.cmp(&y.hash));
    let expected: Vec<ActiveKey> = [(&a, "eeeeee01"), (&c, "eeeeee03")]
        .into_iter()
        .map(|(row, hash)| ActiveKey {
            hash: hash.to_owned(),
            key_id: row.id.clone(),
            org_id: row.org_id.clone(),
        })
        .collect();
    assert_eq!(active, expected);
    assert_eq!(e.keys.keys_ever_created().await.expect("count"), 3);
    assert!(e.keys.revoke_key(&a.id).await.expect("revoke_key"));
    assert!(e.keys.revoke_key(&c.id).await.expect("revoke_key"));
    assert!(e.keys.active_keys().await.expect("active").is_empty());
    assert_eq!(
        e.keys.keys_ever_created().await.expect("count"),
        3,
        "revoked keys count"
    );
}
