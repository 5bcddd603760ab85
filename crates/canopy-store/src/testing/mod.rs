//! The store specification every engine passes (feature `testing`).
//!
//! The spec is the whole contract of the store traits ([`Ingest`], [`Query`], [`Annotate`],
//! [`Keys`]), written as one async function per case. Each case takes an [`Engine`] over a fresh,
//! empty store and fails by panicking, like any test. An engine crate runs all of them with one
//! line in a test file:
//!
//! ```ignore
//! async fn fresh() -> (canopy_store::testing::Engine, tempfile::TempDir) { /* … */ }
//!
//! canopy_store::conformance_tests!(fresh);
//! ```
//!
//! The macro expands to one `#[tokio::test]` per case, on a multi-thread runtime, grouped in
//! one module per topic (`calls::get_call_is_scoped_to_its_organisation`, …), and calls the
//! fresh-engine function once per case (twice for [`transfer`], whose cases copy one store
//! into another). Whatever that function returns beside the engine (a temporary directory, a
//! database to drop) is held until the case ends. The calling crate needs `tokio` (features
//! `macros`, `rt-multi-thread`) among its dev-dependencies.
//!
//! Adding a case is one `pub async fn` in the topic's module and one line in
//! [`conformance_tests!`](crate::conformance_tests).
//!
//! Topics: [`calls`] (round trip, reads, sorting, paging, scores), [`sessions`] (totals kept at
//! write time, session queries), [`tree`] (tree, timeline and histograms over what an engine
//! returns), [`annotate`], [`keys`], [`isolation`] (no organisation sees another's data through
//! any method), [`rewrite`] (a replayed batch never counts twice), [`filter`] (the filter
//! language at both levels) and [`transfer`] (copying a whole store, idempotently).
//! [`sample_call`] is the complete record the cases start from; other tests and benchmarks use
//! it too.
#![expect(
    clippy::expect_used,
    reason = "test support: a failed expectation is a failed conformance check"
)]

pub mod annotate;
pub mod calls;
pub mod filter;
pub mod hostile;
pub mod isolation;
pub mod keys;
pub mod retain;
pub mod rewrite;
mod sample;
pub mod sessions;
pub mod suggest;
pub mod transfer;
pub mod tree;

use std::sync::Arc;

use crate::keys::Keys;
use crate::transfer::Transfer;
use crate::{Annotate, Ingest, Query, Retain};

pub use sample::sample_call;

/// One store, seen through each of the traits it implements.
///
/// All four must be views of the same store: what is written through `ingest` is read through
/// `query`, annotated through `annotate`.
#[derive(Clone)]
pub struct Engine {
    /// Writes calls.
    pub ingest: Arc<dyn Ingest>,
    /// Reads calls and sessions.
    pub query: Arc<dyn Query>,
    /// Annotates calls and sessions.
    pub annotate: Arc<dyn Annotate>,
    /// Stores organisations and keys.
    pub keys: Arc<dyn Keys>,
    /// Removes calls past their retention.
    pub retain: Arc<dyn Retain>,
    /// Reads the whole store out and writes one in.
    pub transfer: Arc<dyn Transfer>,
}

impl Engine {
    /// An engine whose views are all one store.
    pub fn new<S>(store: Arc<S>) -> Self
    where
        S: Ingest + Query + Annotate + Keys + Retain + Transfer,
    {
        Self {
            ingest: store.clone(),
            query: store.clone(),
            annotate: store.clone(),
            keys: store.clone(),
            retain: store.clone(),
            transfer: store,
        }
    }

    /// Writes `batch`, failing the case if the store refuses it.
    pub async fn write(&self, batch: &[canopy_core::CallRecord]) {
        self.ingest.write(batch).await.expect("write a batch");
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// Waits until the wall clock ([`crate::now_ms`]) has moved past its current millisecond, so
/// that the next write is stamped strictly later than the last one. Gives up after a second,
/// which a working clock never needs.
pub async fn next_millisecond() {
    let start = crate::now_ms();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while crate::now_ms() <= start && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert!(crate::now_ms() > start, "the clock did not advance");
}

/// Expands to the whole store specification as tests, one `#[tokio::test]` per case.
///
/// `$fresh` is the name of an async function defined in the file that calls the macro, with
/// the signature `async fn() -> (canopy_store::testing::Engine, G)`: it opens a fresh,
/// empty store, and `G` is anything that must live as long as the store (a temporary
/// directory, a server). Each case calls it once.
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:ident) => {
        $crate::conformance_tests!(@topics $fresh;
            calls {
                a_call_reads_back_exactly_as_written,
                get_call_is_scoped_to_its_organisation,
                session_calls_come_in_start_order_then_id,
                session_calls_without_bodies_leave_only_the_text_out,
                count_calls_counts_the_organisations_calls,
                query_calls_sorts_by_every_key_both_ways,
                query_calls_pages_with_limit_and_offset,
                count_matching_calls_counts_what_the_filter_matches,
                call_scores_returns_the_scores_of_the_calls_asked_for,
            }
            sessions {
                session_totals_are_kept_at_write_time,
                the_latest_non_empty_name_wins_whatever_the_write_order,
                query_sessions_lists_newest_first_and_pages,
                query_sessions_sorts_by_every_key,
                path_stats_sum_each_path_over_the_matching_sessions,
                query_sessions_searches_id_and_name_case_insensitively,
                query_sessions_matches_a_name_exactly,
                a_session_overlapping_the_window_is_listed_whole,
                aggregate_sessions_totals_every_matching_session,
                session_names_counts_and_orders_names,
                session_points_gives_one_point_per_session,
                session_tags_come_oldest_first,
            }
            tree {
                session_calls_build_the_tree_with_roll_ups,
                session_calls_build_the_timeline,
                session_points_feed_the_histograms,
            }
            annotate {
                set_property_adds_and_replaces_properties,
                set_scores_adds_and_replaces_scores_and_feedback,
                set_session_feedback_records_the_latest_rating,
                add_session_tag_is_idempotent,
            }
            keys {
                insert_key_creates_the_organisation_once,
                list_keys_lists_newest_first,
                revoke_key_revokes_once_and_knows_unknown_keys,
                active_keys_and_keys_ever_created,
            }
            isolation {
                reads_never_see_another_organisations_data,
                session_queries_never_see_another_organisations_sessions,
                annotations_never_reach_another_organisations_data,
                filters_never_cross_into_another_organisation,
            }
            hostile {
                nul_characters_never_fail_a_write_or_a_read,
            }
            retain {
                purge_removes_old_calls_and_sessions_with_no_calls_left,
                purge_of_nothing_old_removes_nothing,
            }
            rewrite {
                writing_a_batch_twice_changes_nothing,
                an_overlapping_batch_counts_only_its_new_calls,
                a_call_repeated_within_one_batch_counts_once,
                the_same_call_id_in_two_organisations_is_two_calls,
                a_reused_caller_chosen_id_keeps_both_calls,
            }
            suggest {
                suggestions_come_from_the_data_most_used_first,
            }
            filter {
                everything_is_scoped_to_the_organisation,
                text_operators,
                number_cost_and_timestamp_operators,
                null_and_the_negatives_that_include_it,
                properties_including_the_helicone_keys_kept_as_columns,
                scores_and_feedback,
                calls_match_by_their_sessions_totals,
                sessions_match_when_any_call_matches,
                positives_and_negatives_partition_the_calls,
                injection_attempts_match_nothing_and_harm_nothing,
                filtered_calls_sort_and_page,
                filtered_sessions_page_and_keep_whole_totals,
            }
        );
        $crate::conformance_tests!(@pairs $fresh;
            transfer {
                a_copy_holds_everything_the_store_held,
                export_calls_pages_in_start_organisation_id_order,
                imports_are_idempotent,
                a_session_cut_by_retention_is_copied_with_the_calls_it_kept,
            }
        );
    };
    (@pairs $fresh:ident; $($topic:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $topic {
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let (from, _from_guard) = super::$fresh().await;
                        let (to, _to_guard) = super::$fresh().await;
                        $crate::testing::$topic::$case(from, to).await;
                    }
                )*
            }
        )*
    };
    (@topics $fresh:ident; $($topic:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $topic {
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let (engine, _guard) = super::$fresh().await;
                        $crate::testing::$topic::$case(engine).await;
                    }
                )*
            }
        )*
    };
}
