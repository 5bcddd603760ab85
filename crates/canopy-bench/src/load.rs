//! What the load drivers (`streams`, `ttft`, `lag`) share: the loopback check, the HTTP
//! client, the chat bodies, the open-file limit, and how a failed call is named in a report.
//!
//! What must not go here: timing or reporting; each driver measures and prints its own.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bytes::Bytes;
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The header that carries a Canopy key. The gateway and the API both read it; on proxy routes
/// `Authorization` belongs to the provider.
pub const HEADER_CANOPY_AUTH: &str = "Helicone-Auth";
/// The response header with the id under which the gateway records the call.
pub const HEADER_CALL_ID: &str = "helicone-id";
/// How a call that failed for want of file descriptors is named in a report.
pub const OUT_OF_FILES: &str = "out of file descriptors (EMFILE)";
/// The model every benchmark call names; the mock answers any model.
const MODEL: &str = "gpt-4o-mini";
/// A 22-word question. The mock echoes its first 60 characters three words per chunk, which
/// makes a stream of 11 events: the role, 7 content chunks, the stop, the usage and `[DONE]`.
const QUESTION: &str =
    "Tell me how a cat and a dog can be good friends on a farm in the hills of the old west";

/// Checks that `value` is an `http://` URL on loopback and returns it without a trailing slash,
/// ready for `{base}/v1/...`. The load drivers refuse anything else.
pub fn loopback_base(flag: &str, value: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(value)
        .with_context(|| format!("{flag} must be a URL like http://127.0.0.1:8787"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        url.scheme() == "http" && loopback,
        "{flag} must be an http:// URL on loopback (127.0.0.1), not `{value}`"
    );
    Ok(value.trim_end_matches('/').to_owned())
}

/// A client for many concurrent loopback calls: HTTP/1.1 only, one connection per call in
/// flight (reqwest's pool has no cap on connections, and keeps every idle one), no proxy.
pub fn client() -> anyhow::Result<reqwest::Client> {
    // reqwest is built without a default TLS provider; none is used on http://, but building
    // the client needs one installed. Installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the HTTP client")
}

/// The body of a streamed chat completion that asks for usage in the last chunk.
pub fn stream_body() -> Bytes {
    Bytes::from(
        serde_json::json!({
            "model": MODEL,
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": QUESTION}],
        })
        .to_string(),
    )
}

/// The body of a plain (not streamed) chat completion.
pub fn plain_body() -> Bytes {
    Bytes::from(
        serde_json::json!({
            "model": MODEL,
            "max_tokens": 32,
            "messages": [{"role": "user", "content": QUESTION}],
        })
        .to_string(),
    )
}

/// Raises this process's soft open-file limit to `wanted` when it is lower, as far as the hard
/// limit allows, and returns the limit now in force (`u64::MAX` when unlimited).
pub fn raise_open_files(wanted: u64) -> u64 {
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return u64::MAX;
    };
    if current >= wanted {
        return current;
    }
    let raised = limit.maximum.map_or(wanted, |max| wanted.min(max));
    let new = Rlimit {
        current: Some(raised),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, new) {
        Ok(()) => raised,
        Err(_) => current,
    }
}

/// Whether `error` was caused by running out of file descriptors (EMFILE or ENFILE).
pub fn out_of_files(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(code) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            && (code == Errno::MFILE.raw_os_error() || code == Errno::NFILE.raw_os_error())
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A short, low-cardinality name for a failed call, for the report's failure tally.
pub fn failure(error: &reqwest::Error) -> String {
    if out_of_files(error) {
        return OUT_OF_FILES.to_owned();
    }
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut root: &dyn std::error::Error = error;
    while let Some(next) = root.source() {
        root = next;
    }
    format!("{kind}: {root}")
}

/// Failures counted by name.
pub type Tally = BTreeMap<String, usize>;

/// `"none"`, or each failure with its count, most frequent first.
pub fn tally_line(tally: &Tally) -> String {
    if tally.is_empty() {
        return "none".to_owned();
    }
    let mut counts: Vec<_> = tally.iter().collect();
    counts.sort_by(|a, b| b.1.cmp(a.1));
    counts
        .iter()
        .map(|(what, n)| format!("{n} × {what}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A tag that keeps this run's session ids apart from earlier runs': the start time in hex ms.
pub fn run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}")
}

/// One line of progress on stderr; the report itself goes to stdout.
pub fn progress(line: &str) -> anyhow::Result<()> {
    writeln!(std::io::stderr().lock(), "{line}")?;
    Ok(())
}
