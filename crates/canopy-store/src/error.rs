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
