//! Call ids are unique within an organisation, and a reused id loses nothing.
//!
//! Writing is idempotent by (organisation, id): a record already stored with the same id and
//! the same start is the same call (a batch retried, a spool replayed) and is skipped. A record
//! whose id the caller chose (`Helicone-Request-Id`, a logged call's id) may instead name a
//! *different* call already stored in its organisation — the caller reused the id. That call is
//! kept too, under a fresh id derived from (organisation, id, start), with the id it asked for
//! in the property [`REUSED_ID_PROPERTY`]. The fresh id is derived, not random, so writing the
//! same record again derives the same id and is skipped as well.
//!
//! Ids Canopy mints are UUIDv7 with random bits and cannot collide; only caller-chosen ids are
//! looked up, so the common write path pays nothing for this. Organisations never see each
//! other's ids: the same id in two organisations is two unrelated calls.

use std::borrow::Cow;
use std::collections::HashMap;

use canopy_core::{CallId, CallRecord};
use ring::digest::{SHA256, digest};
use uuid::Builder;

/// The property that holds the id a call asked for when that id was already taken.
pub const REUSED_ID_PROPERTY: &str = "canopy-reused-request-id";

/// The (organisation, id) of each record whose id the caller chose: the only ids that can
/// already be taken.
pub fn caller_chosen(batch: &[CallRecord]) -> Vec<(&str, CallId)> {
    batch
        .iter()
        .filter(|r| r.id_from_caller)
        .map(|r| (r.org_id.as_str(), r.id))
        .collect()
}

/// The batch to write, given the start of every stored call whose (organisation, id) a
/// caller-chosen record of the batch names. Records that reuse a taken id get a fresh one;
/// everything else is returned as it is (and borrowed when nothing changes).
pub fn resolve<'a>(
    batch: &'a [CallRecord],
    stored: &HashMap<(String, CallId), i64>,
) -> Cow<'a, [CallRecord]> {
    // Ids taken so far: those stored, then those earlier records of this batch claim.
    let mut taken: HashMap<(&str, CallId), i64> = stored
        .iter()
        .map(|((org, id), start)| ((org.as_str(), *id), *start))
        .collect();
    let mut out: Option<Vec<CallRecord>> = None;
    for (i, r) in batch.iter().enumerate() {
        if !r.id_from_caller {
            continue;
        }
        let key = (r.org_id.as_str(), r.id);
        match taken.get(&key) {
            Some(&start) if start != r.created_at_ms => {
                let records = out.get_or_insert_with(|| batch.to_vec());
                let record = &mut records[i];
                record
                    .properties
                    .insert(REUSED_ID_PROPERTY.to_owned(), r.id.to_string());
                record.id = reissued(&r.org_id, r.id, r.created_at_ms);
                record.id_from_caller = false;
            }
            Some(_) => {}
            None => {
                taken.insert(key, r.created_at_ms);
            }
        }
    }
    out.map_or(Cow::Borrowed(batch), Cow::Owned)
}

/// The fresh id of a call that asked for `id`, taken: a UUIDv7 at the call's start whose other
/// bits come from a hash of (organisation, id, start), so it sorts by time and is the same
/// every time the record is written.
pub fn reissued(org_id: &str, id: CallId, created_at_ms: i64) -> CallId {
    let mut input = Vec::with_capacity(org_id.len() + 40);
    input.extend_from_slice(org_id.as_bytes());
    input.push(0);
    input.extend_from_slice(id.0.as_bytes());
    input.extend_from_slice(&created_at_ms.to_be_bytes());
    let hash = digest(&SHA256, &input);
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&hash.as_ref()[..10]);
    let millis = u64::try_from(created_at_ms).unwrap_or(0);
    CallId(Builder::from_unix_timestamp_millis(millis, &bits).into_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(org: &str, id: CallId, at: i64, from_caller: bool) -> CallRecord {
        CallRecord {
            id,
            id_from_caller: from_caller,
            org_id: org.into(),
            created_at_ms: at,
            ..CallRecord::default()
        }
    }

    #[test]
    fn a_replayed_record_is_left_to_be_skipped() {
        let id = CallId::new();
        let batch = [record("a", id, 10, true)];
        let stored = HashMap::from([(("a".to_owned(), id), 10)]);
        assert!(matches!(resolve(&batch, &stored), Cow::Borrowed(_)));
    }

    #[test]
    fn a_reused_id_gets_a_fresh_stable_id_and_keeps_the_asked_one() {
        let id = CallId::new();
        let batch = [record("a", id, 20, true)];
        let stored = HashMap::from([(("a".to_owned(), id), 10)]);
        let out = resolve(&batch, &stored);
        assert_ne!(out[0].id, id);
        assert_eq!(out[0].properties[REUSED_ID_PROPERTY], id.to_string());
        assert_eq!(
            out[0].id,
            resolve(&batch, &stored)[0].id,
            "derived, not random"
        );
        assert_eq!(out[0].id.0.get_version_num(), 7);
    }

    #[test]
    fn the_same_id_twice_in_one_batch_keeps_both_calls() {
        let id = CallId::new();
        let batch = [record("a", id, 10, true), record("a", id, 20, true)];
        let out = resolve(&batch, &HashMap::new());
        assert_eq!(out[0].id, id);
        assert_ne!(out[1].id, id);
    }

    #[test]
    fn organisations_do_not_share_ids() {
        let id = CallId::new();
        let batch = [record("b", id, 20, true)];
        let stored = HashMap::from([(("a".to_owned(), id), 10)]);
        assert!(matches!(resolve(&batch, &stored), Cow::Borrowed(_)));
        assert_ne!(reissued("a", id, 1), reissued("b", id, 1));
    }
}
