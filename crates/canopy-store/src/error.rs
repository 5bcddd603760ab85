//! The one error type of the storage boundary.

use std::path::PathBuf;

/// A boxed driver error; engines convert their own errors into it.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong below the storage traits.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL names an engine this build does not have, or is malformed.
    #[error("unsupported store URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// The store could not be opened or reached.
    #[error("cannot open store `{url}`: {source}")]
    Connect { url: String, source: Source },
    /// A migration failed; the store is left at the last version that applied.
    #[error("migration {version} ({name}) failed: {source}")]
    Migrate {
        version: i64,
        name: &'static str,
        source: Source,
    },
    /// A batch could not be written.
    #[error("writing {rows} calls failed: {source}")]
    Write { rows: usize, source: Source },
    /// A read failed.
    #[error("{what} failed: {source}")]
    Read { what: &'static str, source: Source },
    /// A stored row could not be decoded.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// The on-disk spool could not be used.
    #[error("spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The storage boundary's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A store URL fit to print: the password in its user info, and any query parameter that
/// looks like a secret, masked as `***`.
pub fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => before_query.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if secret_key(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "pass", "secret", "token", "key"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact_url("postgres://canopy:s3cret@127.0.0.1:5432/db"),
            "postgres://canopy:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db?sslmode=disable&password=x"),
            "postgres://u:***@h/db?sslmode=disable&password=***"
        );
        assert_eq!(redact_url("sqlite://canopy.db"), "sqlite://canopy.db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
