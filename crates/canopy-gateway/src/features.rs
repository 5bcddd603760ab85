//! The gateway features a call asks for by header, as Helicone defines them (DESIGN.md §2):
//! retries, fallbacks, the response cache and a rate-limit policy.
//!
//! Only reading and checking happen here; [`crate::attempts`], [`crate::cache`] and
//! [`crate::ratelimit`] act on what was read. A value that cannot be used is a
//! [`HeaderError`] naming the header and what is wrong, answered with a 400 in the provider's
//! shape. Every one of these headers starts with `helicone-` (or `canopy-`), so none of them
//! reaches the upstream.

use std::time::Duration;

use canopy_core::headers::{HeaderError, canopy_suffix};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::ratelimit::RatePolicy;

/// The most fallback targets one call may list.
pub const MAX_FALLBACKS: usize = 10;
/// The most answers one cache key keeps (`Helicone-Cache-Bucket-Max-Size`).
pub const MAX_BUCKET_SIZE: u32 = 20;
/// How long a cached answer lives unless `Cache-Control` says otherwise: 7 days.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(7 * 86_400);
/// The longest a cached answer may live: 365 days.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(365 * 86_400);
/// The most retries one call may ask for.
pub const MAX_RETRIES: u32 = 20;
/// The longest wait between two attempts a call may ask for: ten minutes.
pub const MAX_RETRY_TIMEOUT_MS: u64 = 600_000;

/// What a call's feature headers ask for.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Retry on 429, 5xx and connection failures (`Helicone-Retry-Enabled: true`).
    pub retry: Option<RetryPolicy>,
    /// Targets tried in order instead of the route's upstream (`Helicone-Fallbacks`).
    pub fallbacks: Vec<Fallback>,
    /// The response cache.
    pub cache: CacheOptions,
    /// `Helicone-RateLimit-Policy`.
    pub rate_limit: Option<RatePolicy>,
}

/// How a call is retried: exponential backoff from `min` by `factor`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`helicone-retry-num`, default 5).
    pub retries: u32,
    /// Growth of the wait per retry (`helicone-retry-factor`, default 2).
    pub factor: f64,
    /// The first wait (`helicone-retry-min-timeout`, default 1,000 ms).
    pub min: Duration,
    /// The longest wait (`helicone-retry-max-timeout`, default 10,000 ms).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 5,
            factor: 2.0,
            min: Duration::from_millis(1000),
            max: Duration::from_millis(10_000),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first): `min · factor^(retry−1)`,
    /// at most `max`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let ms = self.min.as_secs_f64() * 1000.0 * self.factor.powi(exponent);
        let max_ms = self.max.as_secs_f64() * 1000.0;
        let ms = if ms.is_finite() {
            ms.min(max_ms)
        } else {
            max_ms
        };
        Duration::from_micros((ms * 1000.0) as u64)
    }
}

/// One entry of `Helicone-Fallbacks`.
#[derive(Debug, Clone)]
pub struct Fallback {
    /// The origin (and base path) the call goes to; the client's path follows it.
    pub target_url: url::Url,
    /// Headers set on the request to this target, replacing the client's of the same name.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Statuses (inclusive ranges) on which the next target is tried.
    pub on_codes: Vec<(u16, u16)>,
    /// Top-level body keys replaced for this target.
    pub body_override: Option<Map<String, Value>>,
}

impl Fallback {
    /// Whether an answer with `status` moves on to the next target.
    pub fn falls_through(&self, status: u16) -> bool {
        self.on_codes
            .iter()
            .any(|(from, to)| (*from..=*to).contains(&status))
    }
}

/// What the cache may do for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// Answer from the cache when it holds a full bucket.
    pub read: bool,
    /// Keep a successful answer.
    pub save: bool,
    /// How long a kept answer lives.
    pub ttl: Duration,
    /// Distinct answers kept per key, served in turn once all are kept.
    pub bucket_size: u32,
    /// A namespace for the key.
    pub seed: Option<String>,
    /// Top-level body keys left out of the key.
    pub ignore_keys: Vec<String>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            read: false,
            save: false,
            ttl: DEFAULT_CACHE_TTL,
            bucket_size: 1,
            seed: None,
            ignore_keys: Vec::new(),
        }
    }
}

impl CacheOptions {
    /// Whether the cache takes part in the call at all.
    pub fn enabled(&self) -> bool {
        self.read || self.save
    }
}

/// Reads every feature header of a request.
pub fn read(headers: &HeaderMap) -> Result<Features, HeaderError> {
    let mut features = Features::default();
    if !names_any(headers) {
        return Ok(features);
    }
    if let Some(v) = value(headers, &RETRY_ENABLED)?
        && is_true(v)
    {
        features.retry = Some(retry_policy(headers)?);
    }
    if let Some(v) = value(headers, &FALLBACKS)? {
        features.fallbacks = fallbacks(v)?;
    }
    features.cache = cache_options(headers)?;
    if let Some(v) = value(headers, &RATE_LIMIT_POLICY)? {
        features.rate_limit = Some(RatePolicy::parse(v).map_err(|message| HeaderError {
            header: HEADER_RATE_LIMIT_POLICY,
            message: format!("Helicone-RateLimit-Policy {message}"),
        })?);
    }
    Ok(features)
}

/// Whether any header is a feature header. Most calls send none, and one pass over their
/// names costs less than looking up each feature header under both of its names.
fn names_any(headers: &HeaderMap) -> bool {
    headers.keys().any(|name| {
        canopy_suffix(name.as_str()).is_some_and(|suffix| {
            suffix.starts_with("retry-")
                || suffix.starts_with("cache-")
                || suffix == "fallbacks"
                || suffix == "ratelimit-policy"
        })
    })
}

/// The fallback list's header.
pub const HEADER_FALLBACKS: &str = "Helicone-Fallbacks";
/// The rate-limit policy's header.
pub const HEADER_RATE_LIMIT_POLICY: &str = "Helicone-RateLimit-Policy";

fn retry_policy(headers: &HeaderMap) -> Result<RetryPolicy, HeaderError> {
    let mut policy = RetryPolicy::default();
    if let Some(v) = value(headers, &RETRY_NUM)? {
        policy.retries = whole(v, "helicone-retry-num", u64::from(MAX_RETRIES))? as u32;
    }
    if let Some(v) = value(headers, &RETRY_FACTOR)? {
        policy.factor = v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && (1.0..=10.0).contains(f))
            .ok_or_else(|| HeaderError {
                header: "helicone-retry-factor",
                message: format!("helicone-retry-factor must be a number from 1 to 10, got `{v}`"),
            })?;
    }
    let min = value(headers, &RETRY_MIN_TIMEOUT)?
        .map(|v| whole(v, "helicone-retry-min-timeout", MAX_RETRY_TIMEOUT_MS))
        .transpose()?;
    let max = value(headers, &RETRY_MAX_TIMEOUT)?
        .map(|v| whole(v, "helicone-retry-max-timeout", MAX_RETRY_TIMEOUT_MS))
        .transpose()?;
    if let Some(min) = min {
        policy.min = Duration::from_millis(min);
    }
    match max {
        Some(max) => policy.max = Duration::from_millis(max),
        None => policy.max = policy.max.max(policy.min),
    }
    if policy.max < policy.min {
        return Err(HeaderError {
            header: "helicone-retry-max-timeout",
            message: format!(
                "helicone-retry-max-timeout ({} ms) is below helicone-retry-min-timeout ({} ms)",
                policy.max.as_millis(),
                policy.min.as_millis()
            ),
        });
    }
    Ok(policy)
}

fn whole(v: &str, header: &'static str, max: u64) -> Result<u64, HeaderError> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| HeaderError {
            header,
            message: format!(
                "{header} must be a whole number from 0 to {max}, got `{}`",
                clip(v)
            ),
        })
}

fn fallbacks(v: &str) -> Result<Vec<Fallback>, HeaderError> {
    let bad = |message: String| HeaderError {
        header: HEADER_FALLBACKS,
        message: format!("Helicone-Fallbacks {message}"),
    };
    let list: Vec<Value> = serde_json::from_str(v)
        .map_err(|e| bad(format!("must be a JSON array of fallback objects: {e}")))?;
    if list.is_empty() || list.len() > MAX_FALLBACKS {
        return Err(bad(format!(
            "must list from 1 to {MAX_FALLBACKS} targets, got {}",
            list.len()
        )));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, entry)| fallback(entry).map_err(|m| bad(format!("entry {i}: {m}"))))
        .collect()
}

fn fallback(entry: Value) -> Result<Fallback, String> {
    let Value::Object(mut entry) = entry else {
        return Err("must be an object".to_owned());
    };
    let target = entry
        .get("target-url")
        .and_then(Value::as_str)
        .ok_or("needs a `target-url` string")?;
    let target_url = url::Url::parse(target)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            format!(
                "`target-url` must be an http(s) URL, got `{}`",
                clip(target)
            )
        })?;
    let mut headers = Vec::new();
    match entry.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{}` is not a header name", clip(name)))?;
                let value = value
                    .as_str()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                    .ok_or_else(|| format!("header `{name}` needs a string value"))?;
                headers.push((name, value));
            }
        }
        Some(_) => return Err("`headers` must be an object of strings".to_owned()),
    }
    let codes = entry
        .get("onCodes")
        .and_then(Value::as_array)
        .ok_or("needs `onCodes`, an array of statuses or {\"from\", \"to\"} ranges")?;
    let mut on_codes = Vec::new();
    for code in codes {
        let status = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (100..=599).contains(n))
        };
        let range = match code {
            Value::Number(_) => status(Some(code)).map(|n| (n, n)),
            Value::Object(o) => status(o.get("from"))
                .zip(status(o.get("to")))
                .filter(|(from, to)| from <= to),
            _ => None,
        };
        on_codes.push(range.ok_or_else(|| {
            format!("`onCodes` holds `{code}`: use a status (100-599) or {{\"from\", \"to\"}}")
        })?);
    }
    let body_override = match entry.remove("bodyKeyOverride") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err("`bodyKeyOverride` must be an object".to_owned()),
    };
    Ok(Fallback {
        target_url,
        headers,
        on_codes,
        body_override,
    })
}

/// The fallback list as stored with the call: the `headers` of each entry may hold
/// credentials, so their values are redacted.
pub fn stored_fallbacks(v: &str) -> String {
    let Ok(Value::Array(mut list)) = serde_json::from_str::<Value>(v) else {
        return crate::headers::REDACTED.to_owned();
    };
    let redacted = || Value::String(crate::headers::REDACTED.to_owned());
    for entry in &mut list {
        match entry.get_mut("headers") {
            Some(Value::Object(headers)) => headers.values_mut().for_each(|v| *v = redacted()),
            // Not a map of headers, so refused; its content may still be a credential.
            Some(other) => *other = redacted(),
            None => {}
        }
    }
    Value::Array(list).to_string()
}

fn cache_options(headers: &HeaderMap) -> Result<CacheOptions, HeaderError> {
    let mut options = CacheOptions::default();
    let flag = |header: &Header| value(headers, header).map(|v| v.is_some_and(is_true));
    let enabled = flag(&CACHE_ENABLED)?;
    options.read = enabled || flag(&CACHE_READ)?;
    options.save = enabled || flag(&CACHE_SAVE)?;
    if !options.enabled() {
        return Ok(options);
    }
    let control = match value(headers, &CACHE_CONTROL)? {
        Some(v) => Some((v, "Helicone-Cache-Control")),
        None => headers
            .get(http::header::CACHE_CONTROL)
            .map(|v| {
                v.to_str().map_err(|_| HeaderError {
                    header: "Cache-Control",
                    message: "Cache-Control is not valid UTF-8".to_owned(),
                })
            })
            .transpose()?
            .map(|v| (v, "Cache-Control")),
    };
    if let Some((control, header)) = control {
        options.ttl = max_age(control).map_err(|message| HeaderError {
            header,
            message: format!("{header} {message}"),
        })?;
    }
    if let Some(v) = value(headers, &CACHE_BUCKET_MAX_SIZE)? {
        options.bucket_size = v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_BUCKET_SIZE).contains(n))
            .ok_or_else(|| HeaderError {
                header: "Helicone-Cache-Bucket-Max-Size",
                message: format!(
                    "Helicone-Cache-Bucket-Max-Size must be a whole number from 1 to \
                     {MAX_BUCKET_SIZE}, got `{}`",
                    clip(v)
                ),
            })?;
    }
    if let Some(v) = value(headers, &CACHE_SEED)? {
        if v.len() > 256 {
            return Err(HeaderError {
                header: "Helicone-Cache-Seed",
                message: format!("Helicone-Cache-Seed is {} bytes; the limit is 256", v.len()),
            });
        }
        options.seed = Some(v.to_owned()).filter(|s| !s.is_empty());
    }
    if let Some(v) = value(headers, &CACHE_IGNORE_KEYS)? {
        options.ignore_keys = v
            .split(',')
            .map(|k| k.trim().trim_matches('"').trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
    }
    Ok(options)
}

/// The lifetime a `Cache-Control` value asks for: `s-maxage` over `max-age`, else the default.
fn max_age(control: &str) -> Result<Duration, String> {
    let mut max_age = None;
    let mut s_maxage = None;
    for directive in control.split(',') {
        let directive = directive.trim();
        let Some((name, secs)) = directive.split_once('=') else {
            continue;
        };
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "max-age" => &mut max_age,
            "s-maxage" => &mut s_maxage,
            _ => continue,
        };
        let secs = secs.trim().trim_matches('"');
        let secs: u64 = secs.parse().map_err(|_| {
            format!(
                "has `{}`: the age must be a whole number of seconds",
                clip(directive)
            )
        })?;
        *slot = Some(secs);
    }
    let Some(secs) = s_maxage.or(max_age) else {
        return Ok(DEFAULT_CACHE_TTL);
    };
    if secs == 0 || secs > MAX_CACHE_TTL.as_secs() {
        return Err(format!(
            "asks for {secs} s; a cached answer lives from 1 s to {} s (365 days)",
            MAX_CACHE_TTL.as_secs()
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// A feature header: `helicone-<suffix>`, or its `canopy-<suffix>` twin.
struct Header {
    helicone: HeaderName,
    canopy: HeaderName,
    /// How errors name it.
    canonical: &'static str,
}

/// Declares each [`Header`], read as `helicone-<suffix>` or `canopy-<suffix>`, with the name
/// errors give it. Every call looks for these, so their names are built once: a lookup by a
/// `HeaderName` needs neither an allocation nor a parse of the name.
macro_rules! feature_headers {
    ($($name:ident: $suffix:literal, $canonical:expr;)*) => {$(
        static $name: Header = Header {
            helicone: HeaderName::from_static(concat!("helicone-", $suffix)),
            canopy: HeaderName::from_static(concat!("canopy-", $suffix)),
            canonical: $canonical,
        };
    )*
        /// Every feature header.
        #[cfg(test)]
        static ALL_HEADERS: &[&Header] = &[$(&$name),*];
    };
}

feature_headers! {
    RETRY_ENABLED: "retry-enabled", "Helicone-Retry-Enabled";
    RETRY_NUM: "retry-num", "helicone-retry-num";
    RETRY_FACTOR: "retry-factor", "helicone-retry-factor";
    RETRY_MIN_TIMEOUT: "retry-min-timeout", "helicone-retry-min-timeout";
    RETRY_MAX_TIMEOUT: "retry-max-timeout", "helicone-retry-max-timeout";
    FALLBACKS: "fallbacks", HEADER_FALLBACKS;
    RATE_LIMIT_POLICY: "ratelimit-policy", HEADER_RATE_LIMIT_POLICY;
    CACHE_ENABLED: "cache-enabled", "Helicone-Cache-Enabled";
    CACHE_READ: "cache-read", "Helicone-Cache-Read";
    CACHE_SAVE: "cache-save", "Helicone-Cache-Save";
    CACHE_CONTROL: "cache-control", "Helicone-Cache-Control";
    CACHE_BUCKET_MAX_SIZE: "cache-bucket-max-size", "Helicone-Cache-Bucket-Max-Size";
    CACHE_SEED: "cache-seed", "Helicone-Cache-Seed";
    CACHE_IGNORE_KEYS: "cache-ignore-keys", "Helicone-Cache-Ignore-Keys";
}

/// A feature header's value, under either name, trimmed.
fn value<'a>(headers: &'a HeaderMap, header: &Header) -> Result<Option<&'a str>, HeaderError> {
    let canonical = header.canonical;
    headers
        .get(&header.helicone)
        .or_else(|| headers.get(&header.canopy))
        .map(|v| {
            v.to_str().map(str::trim).map_err(|_| HeaderError {
                header: canonical,
                message: format!("{canonical} is not valid UTF-8"),
            })
        })
        .transpose()
}

fn is_true(value: &str) -> bool {
    value.eq_ignore_ascii_case("true") || value == "1"
}

fn clip(value: &str) -> String {
    let mut out: String = value.chars().take(64).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
