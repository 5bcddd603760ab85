//! Metric names of the ingest path. Every name the writer emits is defined here, once.

/// Records handed to the writer's queue.
pub const INGEST_ENQUEUED_TOTAL: &str = "ingest_enqueued_total";
/// Records written to the store.
pub const INGEST_WRITTEN_TOTAL: &str = "ingest_written_total";
/// Records written to the on-disk spool instead of the queue or the store.
pub const INGEST_SPOOLED_TOTAL: &str = "ingest_spooled_total";
/// Records lost: neither the store nor the spool took them.
pub const INGEST_DROPPED_TOTAL: &str = "ingest_dropped_total";
/// Records read back from the spool and written to the store.
pub const INGEST_REPLAYED_TOTAL: &str = "ingest_replayed_total";
/// Time one batch took to write, seconds.
pub const INGEST_FLUSH_SECONDS: &str = "ingest_flush_seconds";
/// Label on spooled and dropped counts: why the record left the fast path.
pub const LABEL_REASON: &str = "reason";

/// Registers descriptions so `/metrics` explains each series.
pub fn describe() {
    metrics::describe_counter!(INGEST_ENQUEUED_TOTAL, "Call records queued for the store.");
    metrics::describe_counter!(INGEST_WRITTEN_TOTAL, "Call records written to the store.");
    metrics::describe_counter!(
        INGEST_SPOOLED_TOTAL,
        "Call records written to the disk spool."
    );
    metrics::describe_counter!(INGEST_DROPPED_TOTAL, "Call records lost.");
    metrics::describe_counter!(
        INGEST_REPLAYED_TOTAL,
        "Call records replayed from the spool."
    );
    metrics::describe_histogram!(
        INGEST_FLUSH_SECONDS,
        metrics::Unit::Seconds,
        "Time to write one batch."
    );
}
