//! Completing a call record: the one set of rules every ingest path applies before a record is
//! handed to the writer.
//!
//! The proxy's capture guard, the custom and manual log routes and the spool's replay all end
//! here, so a call is counted, priced, bounded and redacted the same way wherever it came from:
//! - [`complete`] chooses the usage (reported, else estimated, else none), prices it, and then
//!   calls [`validate`];
//! - [`validate`] clamps token counts, cost and durations to documented bounds (so no sum in
//!   the store can overflow) and redacts secrets in every URL stored with it: its own, and those
//!   quoted in an error text, a header or a property.
//!
//! Nothing here counts metrics or logs: [`Completed`] tells the caller what to count.

use crate::extract::{ResponseFacts, WireFormat};
use crate::pricing::PriceCatalog;
use crate::record::{CallKind, CallRecord, STATUS_CLIENT_CANCELLED, UsageSource};
use crate::redact::{redact_text, redact_url};
use crate::usage::Usage;

/// The largest token count kept for any one count of one call (10^12). Larger reports are
/// saturated to it: a session would need about nine million such calls before a sum of
/// tokens could reach `i64::MAX`.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;

/// The largest cost kept for one call, in nano-USD (10^15, one million USD). Larger costs are
/// saturated to it, so about nine thousand such calls fit in a session total.
pub const MAX_COST_NANO_USD: i64 = 1_000_000_000_000_000;

/// The longest duration kept for one call (latency, time to first token): one year, in ms.
pub const MAX_DURATION_MS: i64 = 366 * 24 * 3600 * 1000;
/// The latest time a record may carry: the end of year 9999 (UTC), in Unix ms. Times are kept
/// between the epoch and this, so every engine can place a record by its calendar month.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// The most bytes kept of a record's ids and labels that stores index (session, name, user,
/// prompt, models, provider). PostgreSQL refuses a B-tree entry over ~2,700 bytes, and one such
/// value would fail the whole batch it is written with; headers allow 4 KiB, and custom logs,
/// OTLP spans and imports any length.
pub const MAX_LABEL_BYTES: usize = 1024;

/// What [`complete`] found that the caller should count or log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completed {
    /// The model the call named that the catalog has no price for.
    pub unpriced_model: Option<String>,
    /// The response's shape belonged to this format rather than the expected one; usage was
    /// read in the format it actually had.
    pub format_mismatch: Option<WireFormat>,
    /// A priced model whose usage is unknown: its cost is recorded as null, not 0.
    pub usage_unknown: bool,
}

/// Completes `record` from what its response said, and bounds and redacts it.
///
/// `record.status`, `record.error` and the bodies are already set by the caller.
/// `reached_upstream` says whether the provider received the request (and so may have done
/// billable work). `estimate` counts tokens from the generated text when no usage was reported;
/// it returns `None` where no tokenizer is at hand. `pricing_provider` is the provider name
/// prices are looked up under.
///
/// Usage is, in order: what the provider reported (for a stream cut short, the usage seen so
/// far); else, for a call the provider worked on (a success, a body broken mid-way, a client
/// that left), the estimate; else nothing. A priced model is costed from that usage; with no
/// usage, a failed call costs 0 (providers do not bill refused calls) and a call the provider
/// worked on costs null, never 0, and says so in [`Completed::usage_unknown`].
pub fn complete(
    record: &mut CallRecord,
    facts: ResponseFacts,
    reached_upstream: bool,
    estimate: impl FnOnce(&str) -> Option<Usage>,
    prices: &PriceCatalog,
    pricing_provider: &str,
) -> Completed {
    let mut completed = Completed {
        format_mismatch: facts.format_mismatch,
        ..Completed::default()
    };
    if facts.model.is_some() {
        record.response_model = facts.model;
    }
    let worked = provider_worked(record, reached_upstream);
    match facts.usage {
        Some(usage) => {
            record.usage = usage;
            record.usage_source = UsageSource::Reported;
        }
        None if worked => match estimate(&facts.output_text) {
            Some(usage) => {
                record.usage = usage;
                record.usage_source = UsageSource::Estimated;
            }
            None => record.usage_source = UsageSource::None,
        },
        None => record.usage_source = UsageSource::None,
    }
    clamp_usage(&mut record.usage);
    if record.kind == CallKind::Llm {
        let model = record
            .response_model
            .as_deref()
            .or(record.request_model.as_deref());
        match model.map(|m| (m, prices.lookup(pricing_provider, m))) {
            Some((_, Some(found))) => {
                record.pricing_model = Some(found.model.to_owned());
                if record.usage_source == UsageSource::None && worked {
                    record.cost_nano_usd = None;
                    completed.usage_unknown = true;
                } else {
                    record.cost_nano_usd = Some(found.price.cost_nano_usd(&record.usage));
                }
            }
            Some((model, None)) => {
                record.cost_nano_usd = None;
                completed.unpriced_model = Some(model.to_owned());
            }
            None => {}
        }
    }
    validate(record);
    completed
}

/// Whether [`complete`] will ask its `estimate` for a count: the provider reported no usage
/// for a call it worked on. `record.status` must already be the call's final status.
pub fn needs_estimate(record: &CallRecord, facts: &ResponseFacts, reached_upstream: bool) -> bool {
    facts.usage.is_none() && provider_worked(record, reached_upstream)
}

/// The provider received the call and may have done billable work: a success, or a client
/// that left while it worked.
fn provider_worked(record: &CallRecord, reached_upstream: bool) -> bool {
    reached_upstream
        && ((200..300).contains(&record.status) || record.status == STATUS_CLIENT_CANCELLED)
}

/// Bounds every figure of a record and redacts its URLs, and those quoted in its error text,
/// stored headers, properties and labels (session id, path and name, user id, models). The
/// labels group calls into sessions and users; their redaction is a function of the text, so
/// calls that sent the same label still share it, and lookups by a label as sent go through
/// [`stored_label`]. Idempotent; applied by [`complete`] and to every record read back from the
/// spool.
pub fn validate(record: &mut CallRecord) {
    clamp_usage(&mut record.usage);
    if let Some(cost) = record.cost_nano_usd.as_mut() {
        *cost = (*cost).clamp(0, MAX_COST_NANO_USD);
    }
    for duration in [
        record.latency_ms.as_mut(),
        record.time_to_first_token_ms.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        *duration = (*duration).clamp(0, MAX_DURATION_MS);
    }
    record.created_at_ms = record.created_at_ms.clamp(0, MAX_TIME_MS);
    if let Some(end) = record.response_created_at_ms.as_mut() {
        *end = (*end).clamp(0, MAX_TIME_MS);
    }
    for label in [
        record.session_id.as_mut(),
        record.session_name.as_mut(),
        record.user_id.as_mut(),
        record.prompt_id.as_mut(),
        record.request_model.as_mut(),
        record.response_model.as_mut(),
        record.pricing_model.as_mut(),
        Some(&mut record.provider),
    ]
    .into_iter()
    .flatten()
    {
        redact_in_place(label, stored_label);
    }
    if let Some(path) = record.session_path.as_mut() {
        redact_in_place(path, redact_text);
    }
    redact_in_place(&mut record.target_url, redact_url);
    redact_in_place(&mut record.request_path, redact_url);
    if let Some(error) = record.error.as_mut() {
        redact_in_place(error, redact_text);
    }
    for value in record
        .request_headers
        .values_mut()
        .chain(record.properties.values_mut())
    {
        redact_in_place(value, redact_text);
    }
    // A custom log or a span may name a property anything, a URL included.
    if record
        .properties
        .keys()
        .any(|key| matches!(redact_text(key), std::borrow::Cow::Owned(_)))
    {
        record.properties = std::mem::take(&mut record.properties)
            .into_iter()
            .map(|(mut key, value)| {
                redact_in_place(&mut key, redact_text);
                (key, value)
            })
            .collect();
    }
}

/// A label (a session id, a user id) as [`validate`] stores it, and so what a lookup by the
/// label as the caller sent it must search for: redacted, then cut to [`MAX_LABEL_BYTES`] (in
/// that order, as a cut through a URL's password would leave text that no longer reads as one).
pub fn stored_label(label: &str) -> std::borrow::Cow<'_, str> {
    let mut redacted = redact_text(label);
    if redacted.len() > MAX_LABEL_BYTES {
        cut_label(redacted.to_mut());
    }
    redacted
}

/// [`stored_label`] for an owned label, which is kept when nothing changes.
pub fn into_stored_label(label: String) -> String {
    match stored_label(&label) {
        std::borrow::Cow::Borrowed(_) => label,
        std::borrow::Cow::Owned(stored) => stored,
    }
}

/// Cuts `label` to [`MAX_LABEL_BYTES`] at a character boundary.
fn cut_label(label: &mut String) {
    if label.len() > MAX_LABEL_BYTES {
        let mut end = MAX_LABEL_BYTES;
        while !label.is_char_boundary(end) {
            end -= 1;
        }
        label.truncate(end);
    }
}

fn redact_in_place(text: &mut String, redact: fn(&str) -> std::borrow::Cow<'_, str>) {
    if let std::borrow::Cow::Owned(redacted) = redact(text) {
        *text = redacted;
    }
}

/// Saturates every count at [`MAX_TOKENS`], keeping the detail counts within their totals.
fn clamp_usage(usage: &mut Usage) {
    let Usage {
        prompt_tokens,
        completion_tokens,
        cache_read_tokens,
        cache_write_tokens,
        cache_write_1h_tokens,
        reasoning_tokens,
        audio_input_tokens,
        audio_output_tokens,
    } = usage;
    for count in [
        prompt_tokens,
        completion_tokens,
        cache_read_tokens,
        cache_write_tokens,
        cache_write_1h_tokens,
        reasoning_tokens,
        audio_input_tokens,
        audio_output_tokens,
    ] {
        *count = (*count).min(MAX_TOKENS);
    }
}

#[cfg(test)]
mod tests;
