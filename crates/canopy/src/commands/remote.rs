//! Talking to a running Canopy (`--api`, `--url`): the address as users write it, timeouts,
//! and errors that say what to do next.
//!
//! Every command that calls a running Canopy goes through here, so `http://host:8787`,
//! `host:8787` and `http://host:8787/api/` mean the same server, a server that is not there is
//! reported as such within [`CONNECT_TIMEOUT`], and a refused key names `--key` and `CANOPY_KEY`.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// How long to wait for a connection to a running Canopy.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read (a session list, one session) may take in all.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Canopy's origin from what a user typed: `http://` is added when no scheme is
/// given, and a trailing `/` or `/api` is dropped (the commands add `/api/...` themselves).
pub fn base_url(given: &str) -> anyhow::Result<String> {
    let mut text = given.trim().trim_end_matches('/');
    if let Some(stripped) = text.strip_suffix("/api") {
        text = stripped.trim_end_matches('/');
    }
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let url = url::Url::parse(&with_scheme)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .with_context(|| {
            format!("`{given}` is not the address of a Canopy, like http://127.0.0.1:8787")
        })?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An HTTP client for a running Canopy: it gives up connecting after [`CONNECT_TIMEOUT`] and
/// waits at most `total` for a whole answer.
pub fn client(total: Duration) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(total)
        .build()
        .context("cannot build an HTTP client")
}

/// Sends `request` to the Canopy at `base` and unwraps the API's `{data, error}` envelope,
/// turning each way it can fail into a sentence that says what to do. `key_given` says
/// whether a Canopy key was sent, for the answer to a 401.
pub async fn send(
    request: reqwest::RequestBuilder,
    base: &str,
    key_given: bool,
    total: Duration,
) -> anyhow::Result<Value> {
    let response = request
        .send()
        .await
        .map_err(|e| unreachable(&e, base, total))?;
    let status = response.status();
    let url = response.url().clone();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        if key_given {
            bail!(
                "Canopy at {base} refused the key (401): pass a valid key with --key or set \
                 CANOPY_KEY"
            );
        }
        bail!("Canopy at {base} needs a key (401): pass --key or set CANOPY_KEY");
    }
    let envelope: Value = response.json().await.map_err(|e| match e.is_timeout() {
        true => unreachable(&e, base, total),
        false => {
            anyhow::anyhow!("{url} answered {status} without Canopy's JSON: is {base} a Canopy?")
        }
    })?;
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            envelope["error"].as_str().unwrap_or("no message")
        );
    }
    Ok(envelope["data"].clone())
}

/// The error for a request that got no answer.
fn unreachable(error: &reqwest::Error, base: &str, total: Duration) -> anyhow::Error {
    if error.is_connect() {
        let cause = innermost(error);
        return anyhow::anyhow!(
            "cannot reach Canopy at {base} ({cause}): is `canopy serve` running?"
        );
    }
    if error.is_timeout() {
        return anyhow::anyhow!(
            "Canopy at {base} did not answer within {} s: is `canopy serve` running there?",
            total.as_secs()
        );
    }
    anyhow::anyhow!("cannot reach Canopy at {base}: {}", innermost(error))
}

/// The last cause in an error's chain ("Connection refused (os error 111)"), which says more
/// than reqwest's own "error sending request".
fn innermost(error: &reqwest::Error) -> String {
    let mut last = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_as_users_write_them() {
        for given in [
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787/",
            "http://127.0.0.1:8787/api",
            "http://127.0.0.1:8787/api/",
            "127.0.0.1:8787",
            " 127.0.0.1:8787/api ",
        ] {
            assert_eq!(base_url(given).unwrap(), "http://127.0.0.1:8787", "{given}");
        }
        assert_eq!(
            base_url("https://canopy.example/team/api").unwrap(),
            "https://canopy.example/team"
        );
        assert_eq!(base_url("localhost:8787").unwrap(), "http://localhost:8787");
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("").is_err());
    }
}
