//! Metric names of the proxy path. Every name the gateway emits is defined here, once.

/// Proxied calls, by provider, route kind and status class.
pub const GATEWAY_REQUESTS_TOTAL: &str = "gateway_requests_total";
/// Time from sending upstream to the response head, seconds.
pub const UPSTREAM_DURATION_SECONDS: &str = "upstream_duration_seconds";
/// Time from the request to the first body byte of a streamed response, seconds.
pub const UPSTREAM_TTFT_SECONDS: &str = "upstream_ttft_seconds";
/// Calls whose model is not in the price catalog (their cost is recorded as null).
pub const GATEWAY_UNPRICED_CALLS_TOTAL: &str = "gateway_unpriced_calls_total";
/// Errors Canopy answered itself, by kind.
pub const GATEWAY_ERRORS_TOTAL: &str = "gateway_errors_total";

/// Label: the provider's route name.
pub const LABEL_PROVIDER: &str = "provider";
/// Label: `1xx`..`5xx`, or `failed` for Canopy's own negative statuses.
pub const LABEL_STATUS_CLASS: &str = "status_class";
/// Label: the model as requested, for unpriced calls.
pub const LABEL_MODEL: &str = "model";
/// Label: an error kind's code.
pub const LABEL_KIND: &str = "kind";

/// Registers descriptions so `/metrics` explains each series.
pub fn describe() {
    metrics::describe_counter!(
        GATEWAY_REQUESTS_TOTAL,
        "Calls proxied, by provider and status class."
    );
    metrics::describe_histogram!(
        UPSTREAM_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time from sending a call upstream to its response head."
    );
    metrics::describe_histogram!(
        UPSTREAM_TTFT_SECONDS,
        metrics::Unit::Seconds,
        "Time to the first byte of a streamed response."
    );
    metrics::describe_counter!(
        GATEWAY_UNPRICED_CALLS_TOTAL,
        "Calls whose model has no price."
    );
    metrics::describe_counter!(
        GATEWAY_ERRORS_TOTAL,
        "Errors Canopy answered itself, by kind."
    );
}

/// The status class label of a recorded status.
pub fn status_class(status: i32) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "failed",
    }
}
