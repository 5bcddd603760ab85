//! Metric names of the ingest path. Every name the writer emits is defined here, once.

/// Records handed to the writer's queue.
pub const INGEST_ENQUEUED_TOTAL: &str = "canopy_ingest_enqueued_total";
/// Records written to the store.
pub const INGEST_WRITTEN_TOTAL: &str = "canopy_ingest_written_total";
/// Records written to the on-disk spool instead of the queue or the store.
pub const INGEST_SPOOLED_TOTAL: &str = "canopy_ingest_spooled_total";
/// Records lost: neither the store nor the spool took them.
pub const INGEST_DROPPED_TOTAL: &str = "canopy_ingest_dropped_total";
/// Records read back from the spool and written to the store.
pub const INGEST_REPLAYED_TOTAL: &str = "canopy_ingest_replayed_total";
/// Time one batch took to write, seconds.
pub const INGEST_FLUSH_SECONDS: &str = "canopy_ingest_flush_seconds";
/// Records waiting in the writer's queue; set when metrics are read.
pub const INGEST_QUEUE_DEPTH: &str = "canopy_ingest_queue_depth";
/// Records waiting in the on-disk spool; set when metrics are read.
pub const INGEST_SPOOL_DEPTH: &str = "canopy_ingest_spool_depth";
/// Label on spooled and dropped counts: why the record left the fast path.
pub const LABEL_REASON: &str = "reason";

/// Why records are spooled: the queue was full, closed (shutting down), the store failed, or
/// the gateway spools every record before its response completes (`durable`).
const SPOOL_REASONS: &[&str] = &["queue_full", "closed", "store_failed", "durable"];
/// Why records are dropped: a spool append failed (for a spooling reason), or a spooled
/// record could not be read back.
const DROP_REASONS: &[&str] = &["queue_full", "closed", "store_failed", "spool_corrupt"];

/// Registers descriptions so `/metrics` explains each series, and starts every counter at 0.
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
    metrics::describe_gauge!(
        INGEST_QUEUE_DEPTH,
        "Call records waiting in the writer's queue."
    );
    metrics::describe_gauge!(
        INGEST_SPOOL_DEPTH,
        "Call records waiting in the disk spool for the store."
    );
    for name in [
        INGEST_ENQUEUED_TOTAL,
        INGEST_WRITTEN_TOTAL,
        INGEST_REPLAYED_TOTAL,
    ] {
        metrics::counter!(name).increment(0);
    }
    for reason in SPOOL_REASONS {
        metrics::counter!(INGEST_SPOOLED_TOTAL, LABEL_REASON => *reason).increment(0);
    }
    for reason in DROP_REASONS {
        metrics::counter!(INGEST_DROPPED_TOTAL, LABEL_REASON => *reason).increment(0);
    }
    metrics::gauge!(INGEST_QUEUE_DEPTH).set(0.0);
    metrics::gauge!(INGEST_SPOOL_DEPTH).set(0.0);
}
