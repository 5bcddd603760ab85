//! Metric names of the proxy path. Every name the gateway emits is defined here, once.
//!
//! Label values never come straight from a request: a provider label is a route Canopy serves
//! (a built-in or configured provider, or `gateway`), anything else is [`OTHER`]; error kinds
//! and status classes are fixed sets. So the number of series stays bounded whatever callers
//! send.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};

use crate::Providers;
use crate::error::ErrorKind;
use crate::provider::GATEWAY_ROUTE;

/// Proxied calls, by provider and status class.
pub const GATEWAY_REQUESTS_TOTAL: &str = "canopy_gateway_requests_total";
/// Proxied calls in flight: accepted and not yet answered to the last byte.
pub const GATEWAY_IN_FLIGHT_CALLS: &str = "canopy_gateway_in_flight_calls";
/// Time from sending upstream to the response head, seconds.
pub const UPSTREAM_DURATION_SECONDS: &str = "canopy_upstream_duration_seconds";
/// Time from the request to the first body byte of a streamed response, seconds.
pub const UPSTREAM_TTFT_SECONDS: &str = "canopy_upstream_ttft_seconds";
/// Calls whose model is not in the price catalog (their cost is recorded as null).
pub const GATEWAY_UNPRICED_CALLS_TOTAL: &str = "canopy_gateway_unpriced_calls_total";
/// Errors Canopy answered itself, by kind.
pub const GATEWAY_ERRORS_TOTAL: &str = "canopy_gateway_errors_total";
/// Responses whose shape contradicted their provider's configured format, by expected and
/// actual format; they were read in the format they had.
pub const GATEWAY_FORMAT_MISMATCH_TOTAL: &str = "canopy_gateway_format_mismatch_total";
/// Request bodies streamed upstream uncaptured because the body memory budget was spent.
pub const GATEWAY_UNBUFFERED_BODIES_TOTAL: &str = "canopy_gateway_unbuffered_bodies_total";

/// Calls answered from the response cache.
pub const GATEWAY_CACHE_HITS_TOTAL: &str = "canopy_gateway_cache_hits_total";
/// Calls with the cache on that it could not answer.
pub const GATEWAY_CACHE_MISSES_TOTAL: &str = "canopy_gateway_cache_misses_total";
/// Upstream attempts repeated by `Helicone-Retry-Enabled`.
pub const GATEWAY_RETRIES_TOTAL: &str = "canopy_gateway_retries_total";
/// Moves from one `Helicone-Fallbacks` target to the next.
pub const GATEWAY_FALLBACKS_TOTAL: &str = "canopy_gateway_fallbacks_total";
/// Calls refused by a rate-limit policy.
pub const GATEWAY_RATE_LIMITED_TOTAL: &str = "canopy_gateway_rate_limited_total";
/// Redis operations that failed and fell back to the gateway's memory, by operation.
pub const GATEWAY_SHARED_STATE_ERRORS_TOTAL: &str = "canopy_gateway_shared_state_errors_total";

/// Label: the Redis operation that failed (`connect`, `cache_read`, `cache_write`,
/// `rate_limit`).
pub const LABEL_OPERATION: &str = "operation";
/// Label: the provider's route name, or [`OTHER`].
pub const LABEL_PROVIDER: &str = "provider";
/// Label: `1xx`..`5xx`, or `failed` for Canopy's own negative statuses.
pub const LABEL_STATUS_CLASS: &str = "status_class";
/// Label: an error kind's code.
pub const LABEL_KIND: &str = "kind";
/// Label: the wire format a provider is configured with.
pub const LABEL_EXPECTED: &str = "expected";
/// Label: the wire format a response turned out to have.
pub const LABEL_ACTUAL: &str = "actual";
/// The label value every unknown provider folds into.
pub const OTHER: &str = "other";

/// Every error kind, so each kind's counter exists (at 0) before its first error.
const ERROR_KINDS: &[ErrorKind] = &[
    ErrorKind::InvalidHeader,
    ErrorKind::InvalidBody,
    ErrorKind::Unauthorized,
    ErrorKind::UnknownRoute,
    ErrorKind::TargetNotAllowed,
    ErrorKind::PayloadTooLarge,
    ErrorKind::RateLimited,
    ErrorKind::UpstreamUnreachable,
    ErrorKind::UpstreamTimeout,
];

/// Registers descriptions so `/metrics` explains each series, and starts the counters whose
/// labels are known in advance at 0.
pub fn describe() {
    metrics::describe_counter!(
        GATEWAY_REQUESTS_TOTAL,
        "Calls proxied, by provider and status class."
    );
    metrics::describe_gauge!(
        GATEWAY_IN_FLIGHT_CALLS,
        "Proxied calls accepted and not yet answered to the last byte."
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
        "Calls whose model has no price, by provider."
    );
    metrics::describe_counter!(
        GATEWAY_ERRORS_TOTAL,
        "Errors Canopy answered itself, by kind."
    );
    metrics::describe_counter!(
        GATEWAY_FORMAT_MISMATCH_TOTAL,
        "Responses whose shape contradicted the provider's configured format."
    );
    metrics::describe_counter!(
        GATEWAY_UNBUFFERED_BODIES_TOTAL,
        "Request bodies streamed uncaptured because the body memory budget was spent."
    );
    metrics::describe_counter!(GATEWAY_CACHE_HITS_TOTAL, "Calls answered from the cache.");
    metrics::describe_counter!(
        GATEWAY_CACHE_MISSES_TOTAL,
        "Calls with the cache on that it could not answer."
    );
    metrics::describe_counter!(
        GATEWAY_RETRIES_TOTAL,
        "Upstream attempts repeated by retries."
    );
    metrics::describe_counter!(
        GATEWAY_FALLBACKS_TOTAL,
        "Moves from one fallback target to the next."
    );
    metrics::describe_counter!(
        GATEWAY_RATE_LIMITED_TOTAL,
        "Calls refused by a rate-limit policy."
    );
    metrics::describe_counter!(
        GATEWAY_SHARED_STATE_ERRORS_TOTAL,
        "Redis operations that failed; the gateway used its own memory instead."
    );
    for name in [
        GATEWAY_CACHE_HITS_TOTAL,
        GATEWAY_CACHE_MISSES_TOTAL,
        GATEWAY_RETRIES_TOTAL,
        GATEWAY_FALLBACKS_TOTAL,
        GATEWAY_RATE_LIMITED_TOTAL,
    ] {
        metrics::counter!(name).increment(0);
    }
    metrics::gauge!(GATEWAY_IN_FLIGHT_CALLS).set(0.0);
    for kind in ERROR_KINDS {
        metrics::counter!(GATEWAY_ERRORS_TOTAL, LABEL_KIND => kind.code()).increment(0);
    }
}

/// The status classes a call is counted under, in the order [`status_class_index`] gives.
const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "failed"];

/// Where a recorded status's class sits in [`STATUS_CLASSES`].
fn status_class_index(status: i32) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 5,
    }
}

/// One provider label's request counters, found in the recorder once and then shared by the
/// label's calls: a call adds 1 through a handle instead of building a labelled key, hashing
/// it and looking it up. A counter is registered at its first call, as the macro would, so
/// `/metrics` shows the same series either way.
#[derive(Debug)]
pub(crate) struct ProviderMeters {
    label: String,
    /// `canopy_gateway_requests_total{provider = label}`, by status class.
    requests: [OnceLock<Counter>; STATUS_CLASSES.len()],
}

impl ProviderMeters {
    /// The counters of provider label `label`.
    pub(crate) fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            requests: Default::default(),
        }
    }

    /// The `provider` label.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Counts one call that ended with `status`.
    pub(crate) fn count_request(&self, status: i32) {
        let class = status_class_index(status);
        self.requests[class]
            .get_or_init(|| {
                metrics::counter!(
                    GATEWAY_REQUESTS_TOTAL,
                    LABEL_PROVIDER => self.label.clone(),
                    LABEL_STATUS_CLASS => STATUS_CLASSES[class],
                )
            })
            .increment(1);
    }
}

/// The provider labels of the routes Canopy serves, each with its counters; a call on any
/// other route is counted under [`OTHER`] by its recorder.
#[derive(Debug)]
pub(crate) struct ProviderLabels {
    served: HashMap<String, Arc<ProviderMeters>>,
}

impl ProviderLabels {
    /// A label for every provider in `providers` and for the `gateway` route.
    pub(crate) fn new(providers: &Providers) -> Self {
        let served = providers
            .names()
            .chain([GATEWAY_ROUTE])
            .map(|name| (name.to_owned(), Arc::new(ProviderMeters::new(name))))
            .collect();
        Self { served }
    }

    /// The label of a call recorded under route `name`, when Canopy serves that route.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<ProviderMeters>> {
        self.served.get(name)
    }
}

/// The label-free series a call updates, found in the recorder once. The histograms are
/// registered at their first sample, as the macros would.
#[derive(Debug)]
pub(crate) struct CallMeters {
    /// `canopy_gateway_in_flight_calls`, which [`describe`] starts at 0.
    pub(crate) in_flight: Gauge,
    upstream_duration: OnceLock<Histogram>,
    upstream_ttft: OnceLock<Histogram>,
}

impl CallMeters {
    /// The series in the process's recorder; install it first, or these count nowhere.
    pub(crate) fn new() -> Self {
        Self {
            in_flight: metrics::gauge!(GATEWAY_IN_FLIGHT_CALLS),
            upstream_duration: OnceLock::new(),
            upstream_ttft: OnceLock::new(),
        }
    }

    /// Records the time from sending a call upstream to its response head.
    pub(crate) fn upstream_duration(&self, elapsed: Duration) {
        self.upstream_duration
            .get_or_init(|| metrics::histogram!(UPSTREAM_DURATION_SECONDS))
            .record(elapsed);
    }

    /// Records a streamed response's time to its first byte.
    pub(crate) fn upstream_ttft(&self, elapsed: Duration) {
        self.upstream_ttft
            .get_or_init(|| metrics::histogram!(UPSTREAM_TTFT_SECONDS))
            .record(elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_canopy_does_not_serve_has_no_label_of_its_own() -> Result<(), String> {
        let labels = ProviderLabels::new(&Providers::new(Vec::new(), "openai")?);
        let label = |name| labels.get(name).map(|meters| meters.label());
        assert_eq!(label("anthropic"), Some("anthropic"));
        assert_eq!(label(GATEWAY_ROUTE), Some("gateway"));
        assert_eq!(label("made-up-\u{7}route"), None);
        assert_eq!(label(""), None);
        Ok(())
    }

    #[test]
    fn each_status_falls_in_one_class() {
        let classes: Vec<&str> = [100, 200, 299, 302, 404, 503, 600, 0, -1]
            .into_iter()
            .map(|status| STATUS_CLASSES[status_class_index(status)])
            .collect();
        assert_eq!(
            classes,
            [
                "1xx", "2xx", "2xx", "3xx", "4xx", "5xx", "failed", "failed", "failed"
            ]
        );
    }
}
