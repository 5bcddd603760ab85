//! The API's wire shapes, under Helicone's field names, and their conversions from the store's
//! types. The CLI prints the same shapes with `--json`, so they live here once.

pub mod request;
pub mod session;

/// Nano-USD as the API's USD number.
pub fn usd(nano: i64) -> f64 {
    nano as f64 / 1e9
}

/// `sum / n`, or 0 when `n` is 0.
pub fn mean(sum: f64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// A stored body as JSON: the parsed value if it is JSON, else the text, else null.
pub fn body_value(text: Option<&str>) -> serde_json::Value {
    match text {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text)
            .unwrap_or_else(|_| serde_json::Value::String(text.to_owned())),
    }
}
